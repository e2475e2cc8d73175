"""The stylized-fact checks with parameters drawn from the posterior (sim.validation.predictive)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

from sim.config import load_config
from sim.inputs import build_model
from sim.runs.posterior import load_posterior
from sim.runs.runner import replicate_seed
from sim.validation.facts import Check, sf_runs
from sim.validation.predictive import POSTERIOR, draw_overrides, posterior_checks
from sim.validation.replicates import mean_ci, run_replicates

TINY = ("district.schools=4", "district.teachers_per_school=8")


def test_replicates_in_worker_processes_equal_replicates_in_this_one():
    """Parallel blocks change nothing: each replicate has its own seed (and here its own explore rate)."""
    own = [("teacher.explore_rate=0.05",), ("teacher.explore_rate=0.4",), (), ("teacher.explore_rate=0.4",),
           ("teacher.explore_rate=0.05",), (), ("teacher.explore_rate=0.2",)]
    serial = run_replicates("baseline", len(own), base_seed=3, overrides=TINY, probe_steps=(10, 20),
                            replicate_overrides=own)
    with ProcessPoolExecutor(2) as pool:
        parallel = run_replicates("baseline", len(own), base_seed=3, overrides=TINY, probe_steps=(10, 20),
                                  replicate_overrides=own, executor=pool)
    pd.testing.assert_frame_equal(serial.timeseries, parallel.timeseries)
    pd.testing.assert_frame_equal(serial.probes, parallel.probes)
    pd.testing.assert_frame_equal(serial.schools, parallel.schools)


def _alone(overrides: tuple[str, ...], seed: int) -> pd.DataFrame:
    """The time series of one stand-alone run."""
    m = build_model(load_config("baseline", list(overrides)), seed=seed)
    for _ in range(m.p.steps):
        m.step()
    return m.timeseries().reset_index(drop=True)


def test_a_replicate_with_its_own_overrides_is_the_run_those_values_and_its_seed_give():
    """Replicate r with overrides is exactly a stand-alone run of the same values with replicate_seed(seed, r);
    a parameter that an override or the scenario's preset sets cannot also be set per replicate."""
    own = [("teacher.explore_rate=0.45", "peers.influence=0.3"), ("teacher.explore_rate=0.01",)]

    def mine(reps, r: int) -> pd.DataFrame:
        ts = reps.timeseries
        return ts[ts["replicate"] == r].drop(columns="replicate").reset_index(drop=True)

    reps = run_replicates("baseline", 2, base_seed=7, overrides=TINY, replicate_overrides=own)
    for r, extra in enumerate(own):
        pd.testing.assert_frame_equal(mine(reps, r), _alone((*extra, *TINY), replicate_seed(7, r)))
    with pytest.raises(ValueError, match="peers.influence is set per replicate and also fixed in overrides"):  # drawn or fixed, not both
        run_replicates("baseline", 2, overrides=(*TINY, "peers.influence=0.1"), replicate_overrides=own)
    with pytest.raises(ValueError, match="principal.stance_mean is set per replicate and also fixed in the scenario preset 'baseline'"):
        run_replicates("baseline", 1, overrides=TINY, replicate_overrides=[("principal.stance_mean=0.9",)])
    with pytest.raises(ValueError, match="3 replicates"):
        run_replicates("baseline", 3, overrides=TINY, replicate_overrides=own)


def test_draws_are_rows_of_the_posterior_reproducible_and_varied():
    post = load_posterior(POSTERIOR)
    a, b = draw_overrides(post, 30, seed=0), draw_overrides(post, 30, seed=0)
    assert a == b, "the same seed draws the same rows"
    assert draw_overrides(post, 30, seed=1) != a, "another seed draws other rows"
    assert len(set(a)) > 20, "30 draws from 300 equally weighted rows are mostly distinct"
    rows = {tuple(f"{n}={v}" for n, v in post.row(i)) for i in range(len(post.weights))}
    assert set(a) <= rows and all(len(d) == len(post.names) for d in a)


def test_share_meeting_counts_single_runs_on_the_bounds_side():
    c = Check("SF0", "x", mean_ci([0.1, 0.3, 0.6, 0.7]), "lo", ">", 0.5)
    assert c.share_meeting() == 0.5
    assert Check("SF0", "x", mean_ci([0.1, 0.3, 0.6, 0.7]), "hi", "<", 0.65).share_meeting() == 0.75


def test_posterior_checks_give_each_replicate_its_draw_in_every_scenario():
    """Replicate r of every scenario runs with draw r and seed r (so comparisons stay paired), and the table's
    checks are SF1-SF8 and the density check, each over the draws."""
    post = load_posterior(POSTERIOR)
    draws = draw_overrides(post, 3, 0)
    runs = sf_runs(3, 0, TINY, draws=draws)
    for label in ("baseline", "clear_problems"):
        ts = runs(label).timeseries
        for r in range(3):
            m = build_model(load_config(label, [*draws[r], *TINY]), seed=replicate_seed(0, r))
            for _ in range(m.p.steps):
                m.step()
            pd.testing.assert_frame_equal(ts[ts["replicate"] == r].drop(columns="replicate").reset_index(drop=True),
                                          m.timeseries().reset_index(drop=True))
    checks = posterior_checks(2, 0, overrides=TINY, workers=2)
    assert {c.fact for c in checks} == {f"SF{i}" for i in range(1, 9)} | {"network"}
    assert all(len(c.value.values) == c.value.n for c in checks)
    assert np.isfinite([c.share_meeting() for c in checks]).all()


def test_levers_table_reads_in_points_and_schools_without_negative_zero(monkeypatch):
    from sim.validation import predictive

    rows = [{"scenario": "flexibility", "step": 50, "metric": m, "mean": mean, "q05": lo, "q95": hi,
             "share_above": share, "replicates": 100}
            for m, mean, lo, hi, share in (("teacher_adoption", 0.164, 0.031, 0.349, 0.97),
                                           ("deep_adoption", -0.003, -0.02, 0.001, 0.2),
                                           ("schoolwide_share", 0.15, 0.0, 0.41, 0.8),
                                           ("replications", -0.04, -4.5, 2.0, 0.31))]
    monkeypatch.setattr(predictive, "preset_differences", lambda draws, seed: pd.DataFrame(rows))
    table = predictive.levers_markdown(100, 0)
    assert "| `flexibility` | +16 [+3, +35] (97%) | +0 [-2, +0] (20%) | +15 [+0, +41] (80%) | +0.0 [-4.5, +2.0] (31%) |" \
        in table
    assert "-0 " not in table and "-0.0 " not in table


def test_levers_at_other_sizes_runs_each_district_size(monkeypatch):
    """One column per district (the default and the validation's other sizes), each from runs of that size."""
    from sim.validation import predictive

    asked = []

    def fake(draws, seed, overrides=()):
        asked.append(tuple(overrides))
        gain = 0.1 * len(asked)
        return pd.DataFrame([{"scenario": "flexibility", "step": 50, "metric": m, "mean": gain, "q05": 0.0,
                              "q95": 0.2, "share_above": 0.9, "replicates": draws}
                             for m in ("teacher_adoption", "deep_adoption")])

    monkeypatch.setattr(predictive, "preset_differences", fake)
    table = predictive.levers_sizes_markdown(10, 0)
    assert asked == [(), *predictive.SIZES.values()]
    assert "| `flexibility` | +10 (90%) / +10 (90%) | +20 (90%) / +20 (90%) | +30 (90%) / +30 (90%) |" in table
    assert "small (10 x 15)" in table and "default (50 x 40)" in table


def test_only_keeps_the_draws_and_weights_of_the_named_columns():
    from sim.config import ConfigError

    post = load_posterior(POSTERIOR)
    names = ["peers.help", "teacher.goal_weight"]
    part = post.only(names)
    assert part.names == tuple(names)
    np.testing.assert_array_equal(part.values, post.values[:, [post.names.index(n) for n in names]])
    np.testing.assert_array_equal(part.weights, post.weights)
    assert part.draw_index(0, 5) == post.draw_index(0, 5), "the same replicate draws the same row"
    with pytest.raises(ConfigError, match="no column peers.nothing"):
        post.only(["peers.nothing"])


def test_settle_compares_the_same_four_parameters_drawn_from_each_posterior(monkeypatch):
    """The cases posterior is cut to the survey calibration's free parameters (the rest stay at their
    defaults throughout), and it and each survey's posterior run the same SF3 and SF4 checks with the same
    draws and seeds."""
    from sim.calibration.experiment import load_experiment
    from sim.validation import settle
    from sim.validation.facts import sf3_checks, sf4_checks

    asked = []

    def fake(draws, seed, posterior, groups, density):
        asked.append((draws, seed, posterior, tuple(groups), density))
        return [Check("SF4", "x", mean_ci([0.1, 0.3 + 0.1 * len(asked)]), "lo", ">", 0.2)]

    monkeypatch.setattr(settle, "posterior_checks", fake)
    table = settle.settle_markdown(7, 3)
    free = tuple(load_experiment(settle.EXPERIMENT).free)
    assert [a[2].names for a in asked] == [free] * (1 + len(settle.SURVEYS))
    assert [a[2].path for a in asked] == [POSTERIOR, *(path for _, path in settle.SURVEYS.values())]
    assert {(a[0], a[1], a[3], a[4]) for a in asked} == {(7, 3, (sf3_checks, sf4_checks), False)}
    assert "| SF4 | x | lower bound > 0.2 | 50% (mean 0.25) | 50% (mean 0.3) | 50% (mean 0.35) |" in table
    assert all(f"`{name}`" in table for name in free)
    for _, path in settle.SURVEYS.values():
        assert set(load_posterior(path).names) == set(free), "each kept sample is the survey calibration's"
