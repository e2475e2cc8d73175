"""What carries the checks the posterior leaves open: parameters (partial rank correlation) or seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.runs.posterior import load_posterior
from sim.validation.attribution import check_drivers, prcc, variance_split
from sim.validation.facts import Check
from sim.validation.mechanisms import POSTERIOR
from sim.validation.predictive import draw_overrides
from sim.validation.replicates import mean_ci


def test_prcc_credits_the_parameter_that_does_the_work_not_one_correlated_with_it():
    """y depends on x0 only; x1 is correlated with x0 in the sample, x2 is independent. Spearman's rho
    credits x1 too; the partial rank correlation does not (over several seeds)."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x0 = rng.random(200)
        x = np.column_stack([x0, x0 + 0.3 * rng.random(200), rng.random(200)])
        y = np.exp(3 * x0) + 0.5 * rng.normal(size=200)  # monotone, not linear
        r, p = prcc(x, y)
        assert r[0] > 0.7 and p[0] < 1e-6
        assert abs(stats.spearmanr(x[:, 1], y)[0]) > 0.7  # the marginal correlation is fooled ...
        assert abs(r[1]) < 0.3 and abs(r[2]) < 0.3  # ... the partial one is not
    assert np.isnan(prcc(x, np.ones(200))[0]).all()  # a measure that does not vary has no driver
    assert np.isnan(prcc(x[:3], y[:3])[0]).all()  # too few runs for the parameters


def test_check_drivers_names_the_parameter_behind_an_open_check():
    """An open check (few draws meet it) whose per-draw values follow one parameter is attributed to it; a
    check that most draws meet is left out; a check whose values skip replicates is not matched."""
    rng = np.random.default_rng(1)
    rows = pd.DataFrame({"a.x": rng.random(60), "a.y": rng.random(60), "a.z": rng.random(60)})
    carried = mean_ci(rows["a.y"].to_numpy() + 0.05 * rng.normal(size=60))
    checks = [Check("SF9", "open, carried by a.y", carried, "lo", ">", 0.5),
              Check("SF9", "met by every draw", mean_ci(rng.random(60) + 1), "lo", ">", 0.5),
              Check("SF9", "values of some replicates only", mean_ci(rng.random(40)), "lo", ">", 0.5)]
    d = check_drivers(checks, rows)
    assert list(dict.fromkeys(d["claim"])) == ["open, carried by a.y", "values of some replicates only"]
    first = d[d["claim"] == "open, carried by a.y"]
    assert list(first["parameter"]) == ["a.y"] and first["prcc"].iloc[0] > 0.9
    assert not d[d["claim"] == "values of some replicates only"]["matched"].any()


def test_variance_split_separates_the_draws_spread_from_the_seeds():
    """Values that depend only on the draw are all between draws; pure noise is (nearly) none; a mix lies
    in between and matches the variance components it was made with (over several seeds)."""
    rng = np.random.default_rng(0)
    assert variance_split(np.repeat(rng.random(30), 4), 4)[0] == 1.0
    assert np.isnan(variance_split(np.ones(40), 4)[0])
    for seed in range(5):
        rng = np.random.default_rng(seed)
        noise = rng.normal(size=400)
        share, p = variance_split(noise, 5)
        assert share < 0.1 and p > 0.001
        mixed = np.repeat(rng.normal(scale=1.0, size=200), 5) + rng.normal(scale=1.0, size=1000)  # half and half
        share, p = variance_split(mixed, 5)
        assert 0.35 < share < 0.65 and p < 1e-6


def test_noise_checks_run_each_draw_with_several_seeds(monkeypatch):
    """Replicate r runs draw r // seeds, so a draw's seeds share its parameters and nothing else."""
    from sim.validation import attribution

    asked = {}

    def fake(draws, seed, replicate_draws):
        asked.update(draws=draws, seed=seed, per=replicate_draws)
        return []

    monkeypatch.setattr(attribution, "posterior_checks", fake)
    attribution.noise_checks(4, 2, 3)
    base = draw_overrides(load_posterior(POSTERIOR), 4, 2)
    assert asked["draws"] == 12 and asked["seed"] == 2
    assert asked["per"] == [base[0]] * 3 + [base[1]] * 3 + [base[2]] * 3 + [base[3]] * 3
