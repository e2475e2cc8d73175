"""Stylized facts SF1-SF8 of the model brief (docs/validation.md, "Stylized facts").

Each test runs the default district (50 schools x 40 teachers, one step = a
school month, 5 school years) over 20 common replicate seeds. The measures and
their tolerances are the :class:`sim.validation.Check` lists of
``sim.validation.sf*_checks`` (one place, also rendered in docs/validation.md):
each states a mean over replicates with its 95% t interval (paired by seed for
differences) and the bound the interval must clear.
"""

from __future__ import annotations

import pytest

from sim.validation.facts import (
    sf1_checks,
    sf2_checks,
    sf3_checks,
    sf4_checks,
    sf5_checks,
    sf6_checks,
    sf7_checks,
    sf8_checks,
)
from sim.validation.mechanisms import SIZES, size_failures


def _assert_all(checks):
    failed = [str(c) for c in checks if not c.passes()]
    assert not failed, "\n".join(failed)
    assert checks


def test_sf1_pl_stalls_in_a_handful_of_pilot_classrooms(replicated):
    """After two years most schools have PL in some but under a quarter of classrooms; none school-wide."""
    _assert_all(sf1_checks(replicated))


@pytest.mark.xfail(strict=True, reason="known gap (docs/validation.md, 'What does not hold'): with the calibrated ad "
                   "hoc sharing 6.9% [5.2%, 8.6%] of baseline schools use another school's model at year 5 (bound "
                   "4%), and codified models per school at year 2 reach 0.092 [0.073, 0.111] against a bound of 0.05")
def test_sf2_replicated_models_are_rare(replicated):
    """Few baseline schools codify a model and almost none use another school's; a knowledge plan changes that."""
    _assert_all(sf2_checks(replicated))


def test_sf3_surface_change_outpaces_depth(replicated):
    """Users' surface quality is over 1.5 x their depth; clear goals shift effort to depth."""
    _assert_all(sf3_checks(replicated))


@pytest.mark.xfail(strict=True, reason="known gap (docs/validation.md, 'What does not hold'): with the calibrated "
                   "quitting, teachers give up sooner and recover their energy, so the exhaustion of those who tried "
                   "is 0.179 [0.176, 0.182] at year 2 (bound 0.2)")
def test_sf4_unguided_effort_exhausts_teachers_and_leaves_margins_out(replicated):
    """Exhaustion of teachers who tried grows (less with coaching); margins get under half; the gap widens."""
    _assert_all(sf4_checks(replicated))


def test_sf5_enthusiastic_teachers_try(replicated):
    """Over 30% of teachers try PL within two years; enthusiasm stays high."""
    _assert_all(sf5_checks(replicated))


def test_sf6_all_in_beats_baseline_and_later_waves_adopt_faster(replicated):
    """henry_all_in: more school-wide use and replication than baseline; later cohorts reach school-wide faster."""
    _assert_all(sf6_checks(replicated))


def test_sf7_backing_away_collapses_adoption_and_loses_learning(replicated):
    """lake_backing_away: use in initiative schools more than halves after withdrawal; practice knowledge decays."""
    _assert_all(sf7_checks(replicated))


@pytest.mark.xfail(strict=True, reason="known gap (docs/validation.md, 'What does not hold'): planning schools "
                   "import models while the key person is there, so her departure at month 35 comes after most "
                   "imports; at month 80 she costs 0.121 [0.091, 0.151] of the schools an imported model (bound 0.1) "
                   "and 0.034 [0.005, 0.063] school-wide use (bound 0.02)")
def test_sf8_key_person_knowledge_management_is_fragile(replicated):
    """henry_all_in+key_person_km: the departure costs imported models, depth and school-wide use."""
    _assert_all(sf8_checks(replicated))


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known gap (docs/validation.md, 'Other district sizes'): SF2's baseline "
                   "replication, SF4's exhaustion level and SF7's ratio fail in all three; the 10-school district also "
                   "fails SF1 and SF8 (cohorts of one or two schools), the district of big schools SF3 narrowly, "
                   "SF2's codification and SF8")
@pytest.mark.slow
@pytest.mark.parametrize("size", sorted(SIZES))
def test_stylized_facts_hold_at_other_district_sizes(size):
    """SF1-SF8 with the presets unchanged (cohorts are shares of the district) in a small district, a large one and
    one of few big schools."""
    failing = size_failures(size, 20)
    assert not failing, "\n".join(map(str, failing))
