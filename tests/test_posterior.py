"""Parameter uncertainty: posterior samples drawn per replicate (sim.runs.posterior, sim-run run.posterior)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.runs.runner import comparison_specs
from sim.config import ConfigError, load_config
from sim.runs.posterior import load_posterior
from sim.runs.runner import run_many
from tests.conftest import run_module

SMALL = ["district.schools=6", "district.teachers_per_school=12", "steps=20"]


def write(tmp_path, text: str, name: str = "posterior.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, words", [
    ("policy.goal_clarity\n0.5\n", ["no 'weight' column"]),
    ("weight\n1\n", ["no parameter column"]),
    ("policy.goal_clarty,weight\n0.5,1\n", ["policy.goal_clarty", "Did you mean 'policy.goal_clarity'"]),
    ("policy.goal_clarity,weight\n0.5,1\n1.5,1\n", ["row 3", "policy.goal_clarity", "[0, 1]"]),
    ("policy.goal_clarity,weight\n0.5,-1\n", ["row 2", "weight", ">= 0"]),
    ("policy.goal_clarity,weight\nhigh,1\n", ["row 2", "'high'", "not a finite number"]),
    ("policy.goal_clarity,weight\n0.5,0\n", ["sum to zero"]),
    ("seed,weight\n3,1\n", ["'seed' cannot be drawn"]),
    ("policy.goal_clarity,weight\n", ["no rows"]),
])
def test_bad_posterior_files_are_refused_naming_row_and_column(tmp_path, text, words):
    with pytest.raises(ConfigError) as info:
        load_posterior(write(tmp_path, text))
    for w in words:
        assert w in str(info.value)


def test_draws_follow_the_weights_and_are_reproducible(tmp_path):
    post = load_posterior(write(tmp_path, "policy.goal_clarity,weight\n0.1,1\n0.5,3\n0.9,0\n"))
    draws = np.array([post.draw_index(7, r) for r in range(4000)])
    assert (draws == 2).sum() == 0  # zero weight: never drawn
    share = (draws == 1).mean()
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 4000)  # binomial, 4 standard errors
    assert [post.draw_index(7, r) for r in range(50)] == list(draws[:50])
    assert [post.draw_index(8, r) for r in range(50)] != list(draws[:50])
    assert post.row(0) == (("policy.goal_clarity", 0.1),)
    assert post.effective_size == pytest.approx(1 / (0.25 ** 2 + 0.75 ** 2))


def test_integer_parameters_are_drawn_as_integers(tmp_path):
    post = load_posterior(write(tmp_path, "teacher.min_prototype_steps,weight\n2.0,1\n"))
    (name, value), = post.row(0)
    assert name == "teacher.min_prototype_steps" and value == 2 and isinstance(value, int)


def comparison_specs_of(cfg, labels, overrides, posterior):
    """The runs sim-run makes of ``cfg``'s comparison."""
    return comparison_specs(labels, int(cfg.run.replicates), int(cfg.seed), overrides, posterior)


def _final_adoption(posterior, base_seed: int, replicates: int = 24) -> pd.Series:
    cfg = load_config("baseline", [*SMALL, f"run.replicates={replicates}", f"seed={base_seed}"])
    specs, _ = comparison_specs_of(cfg, ["baseline"], SMALL, posterior)
    ts = pd.concat(run_many(specs, workers=1, progress=False))
    return ts[ts["step"] == 20]["teacher_adoption"]


def _width(final: pd.Series) -> float:
    return float(final.quantile(0.95) - final.quantile(0.05))


@pytest.mark.parametrize("base_seed", [0, 1, 2])
def test_a_wide_posterior_widens_the_intervals(tmp_path, base_seed):
    """Explore rate 0 (nobody starts) or 1 in equal shares: the 90% interval of adoption must reach from the
    draws of 0 (no adoption) to where runs with explore rate 1 land, wider than seed variation alone."""
    default = load_config("baseline").teacher.explore_rate
    wide = load_posterior(write(tmp_path, "teacher.explore_rate,weight\n0.0,1\n1.0,1\n"))
    narrow = load_posterior(write(tmp_path, f"teacher.explore_rate,weight\n{default},1\n", "narrow.csv"))
    ones = load_posterior(write(tmp_path, "teacher.explore_rate,weight\n1.0,1\n", "ones.csv"))
    seeds_only = _final_adoption(None, base_seed)
    # a point mass changes nothing
    assert _width(_final_adoption(narrow, base_seed)) == pytest.approx(_width(seeds_only))
    spread = _final_adoption(wide, base_seed)
    assert spread.quantile(0.05) == 0 < seeds_only.quantile(0.05)  # the draws of 0: nobody adopts
    assert spread.quantile(0.95) >= _final_adoption(ones, base_seed).median()  # the draws of 1
    assert _width(spread) > _width(seeds_only)


def test_same_draw_for_a_replicate_in_every_scenario(tmp_path):
    post = load_posterior(write(tmp_path, "peers.influence,weight\n0.1,1\n0.2,1\n0.3,1\n"))
    cfg = load_config("baseline", [*SMALL, "run.replicates=6"])
    specs, draws = comparison_specs_of(cfg, ["baseline", "henry_all_in"], SMALL, post)
    by = {(s.scenario, s.replicate): s.values for s in specs}
    assert all(by[("baseline", r)] == by[("henry_all_in", r)] == post.row(draws[r]) for r in range(6))


def test_a_parameter_is_drawn_or_set_never_both(tmp_path):
    """A draw would silently undo a command-line override or the lever a preset pulls: both are refused."""
    lever = load_posterior(write(tmp_path, "policy.goal_clarity,weight\n0.1,1\n0.9,1\n"))
    cfg = load_config("baseline", [*SMALL, "run.replicates=2"])
    with pytest.raises(ConfigError, match="policy.goal_clarity is drawn from the posterior and also fixed in the "
                                          "scenario preset 'clear_problems'"):
        comparison_specs_of(cfg, ["clear_problems"], SMALL, lever)
    post = load_posterior(write(tmp_path, "peers.influence,weight\n0.1,1\n", "p.csv"))
    with pytest.raises(ConfigError, match=r"also fixed in overrides \('peers.influence=0.3'\)"):
        comparison_specs_of(cfg, ["baseline"], (*SMALL, "peers.influence=0.3"), post)


def test_sim_run_with_a_posterior_records_it_and_says_so(tmp_path):
    post = write(tmp_path, "peers.influence,weight\n0.2,1\n0.3,1\n")
    args = ["district.schools=4", "district.teachers_per_school=8", "steps=20", "run.replicates=3",
            "run.workers=1", "run.progress=false", "run.scenarios=[baseline]", f"run.posterior={post}",
            "run.name=p", f"run.out={tmp_path}"]
    proc = run_module("sim", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "parameter uncertainty" in proc.stdout and "posterior.csv" in proc.stdout
    prov = yaml.safe_load((tmp_path / "p" / "provenance.yaml").read_text())
    assert prov["posterior"]["rows"] == 2 and set(prov["posterior"]["rows_drawn"]) == {0, 1, 2}
    bad = run_module("sim", *args[:-2], f"run.posterior={tmp_path / 'missing.csv'}", "run.name=q",
                     f"run.out={tmp_path}", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "missing.csv" in bad.stderr
    assert not (tmp_path / "q").exists()
    clash = run_module("sim", *args[:-2], "peers.influence=0.1", "run.name=r", f"run.out={tmp_path}", cwd=tmp_path)
    assert clash.returncode == 2 and "Traceback" not in clash.stderr
    assert "peers.influence is drawn from the posterior and also fixed in overrides" in clash.stderr
    assert not (tmp_path / "r").exists()


def test_sweep_runs_draw_what_the_design_does_not_set(tmp_path):
    from sim.runs.experiment import make_design, make_plan, parse_experiment

    post = write(tmp_path, "peers.influence,teacher.explore_rate,weight\n0.1,0.3,1\n0.35,0.6,1\n")
    base = {"experiment": "t", "scenarios": ["baseline"], "overrides": SMALL[:2], "steps": 20,
            "parameters": {"peers.influence": {"values": [0.2, 0.25]}}, "replicates": 8}
    exp = parse_experiment({**base, "posterior": str(post)})
    plan = make_plan(exp, make_design(exp))
    assert len(plan) == 16
    for run in plan:
        values = dict(run.spec.values)
        assert values["peers.influence"] in (0.2, 0.25)  # the design wins over the posterior
        assert values["teacher.explore_rate"] in (0.3, 0.6)
    assert len({dict(r.spec.values)["teacher.explore_rate"] for r in plan}) == 2
    plain = make_plan(parse_experiment(base), make_design(parse_experiment(base)))
    assert {r.run_id for r in plain}.isdisjoint(r.run_id for r in plan)  # draws are part of a run's identity
    assert [r.spec.values for r in make_plan(exp, make_design(exp))] == [r.spec.values for r in plan]
    with pytest.raises(ConfigError, match="also fixed in overrides"):
        parse_experiment({**base, "posterior": str(post), "overrides": [*SMALL[:2], "teacher.explore_rate=0.2"]})
