"""The documented districts under the calibrated defaults, on their time axis, over several seeds and sizes.

Henry County: 6, 15, 23 and 32 schools implementing at the starts of 2015-16,
2016-17, 2017-18 and 2018-19 (steps 20, 30, 40, 50 from August 2013), and the
district never backs away. Lake County (step 0 = August 2014): 5 schools
implementing at the start of 2016-17 (step 20), 13 in March 2017 (step 27),
withdrawal around July 2017 (step 30) decided by the central office's review,
and a pilot school that becomes school-wide before the end. docs/validation.md
("The real cases") reports the same over 20 seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.calibration.cases import metric_value, run_scenario
from sim.config import load_container
from sim.district.calendar import step_of

SEEDS = (0, 1, 2, 3, 4, 5)


def _run(preset: str, seed: int, *overrides: str):
    return run_scenario(load_container(preset, list(overrides)), seed)


@pytest.mark.parametrize("schools, expected", [(50, (6, 15, 23, 32)), (100, (12, 30, 46, 64))])
def test_henry_cohorts_implement_two_years_after_selection_and_it_never_backs_away(schools, expected):
    steps = [step_of(y, 8, 2013) for y in (2015, 2016, 2017, 2018)]
    assert steps == [20, 30, 40, 50]
    for seed in SEEDS[:3]:
        run = _run("henry_all_in", seed, f"district.schools={schools}", "steps=60")
        assert [int(metric_value(run, "schools_implementing", s)) for s in steps] == list(expected)
        assert metric_value(run, "backed_away", 60) == 0


@pytest.mark.parametrize("schools, pilots, by_march", [(50, 5, 13), (100, 10, 26)])
def test_lake_pilots_then_thirteen_schools_by_march_2017(schools, pilots, by_march):
    assert (step_of(2016, 8, 2014), step_of(2017, 3, 2014)) == (20, 27)
    for seed in SEEDS[:3]:
        run = _run("lake_backing_away", seed, f"district.schools={schools}", "steps=30")
        assert metric_value(run, "schools_implementing", 20) == pilots
        assert abs(metric_value(run, "schools_implementing", 27) - by_march) <= 0.1 * by_march


def test_lake_withdraws_by_its_own_review_in_every_seed_and_not_at_a_fixed_month():
    """The review decides: the district withdraws in the third year or soon after, at different months across seeds."""
    when = [metric_value(_run("lake_backing_away", s, "steps=40"), "backaway_step", 0) for s in SEEDS]
    assert all(w <= 40 for w in when)
    assert len(set(when)) > 1


@pytest.mark.parametrize("schools", [50, 100])
def test_lake_withdraws_around_july_2017_in_most_seeds(schools):
    """Its annual review at the end of 2016-17, or a new superintendent's review on arrival, withdraws within three
    months of July 2017 (step 30) in most of 12 seeds, at both district sizes."""
    when = np.array([metric_value(_run("lake_backing_away", s, "steps=40", f"district.schools={schools}"),
                                  "backaway_step", 0) for s in range(12)])
    assert np.mean(np.abs(when - step_of(2017, 7, 2014)) <= 3) > 0.5


@pytest.mark.xfail(strict=True, reason="held-out pattern the calibrated model misses: no Lake County pilot school "
                                       "becomes school-wide before the programme ends (docs/validation.md, "
                                       "'The real cases')")
def test_a_lake_pilot_becomes_schoolwide_in_a_good_share_of_seeds():
    hits = [metric_value(_run("lake_backing_away", s, "steps=40"), "first_cohort_schoolwide", 29) >= 1
            for s in SEEDS]
    assert np.mean(hits) >= 0.3
