"""The global sensitivity study: parameter sets, screening verdicts, Sobol reliability, the whole command."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from sim.config import ConfigError, parameter_specs, preset_parameters
from sim.runs.analyze import reliability
from sim.runs.experiment import compose_experiment, parse_experiment
from sim.runs.sensitivity import FACTS, OUTPUTS, parse_args, screen
from tests.conftest import run_module


def test_behavioural_set_is_every_numeric_behavioural_parameter_but_the_levers():
    exp = parse_experiment(compose_experiment("screening_morris"))
    names = set(exp.names)
    specs = parameter_specs()
    numeric = {p for p, s in specs.items() if s.range is not None and s.choices is None
               and not isinstance(s.default, list | bool)}
    assert not names & preset_parameters()  # policy levers keep their preset values
    assert not {n for n in names if n.startswith(("run.", "metrics.", "survey.", "init."))}
    assert {"seed", "steps", "district.schools", "district.teachers_per_school"}.isdisjoint(names)
    behavioural = {p for p in numeric if p not in preset_parameters()
                   and not p.startswith(("run.", "metrics.", "survey.", "init.", "seed", "steps", "district.schools",
                                         "district.teachers_per_school"))}
    assert len(names) >= 0.8 * len(behavioural)  # the floor: at least 80% screened
    assert {"teacher.explore_rate", "peers.influence", "principal.codify_rate"} <= names
    degree = next(p for p in exp.parameters if p.path == "network.degree")
    assert degree.bounds == (2, 20)  # an explicit entry narrows the documented range


def test_the_recorded_experiment_lists_the_expanded_parameters():
    """A finished sweep is analyzed with the parameters it ran, even if config.yaml changes later."""
    exp = parse_experiment(compose_experiment("screening_morris"))
    assert exp.config["parameter_set"] is None and set(exp.config["parameters"]) == set(exp.names)
    again = parse_experiment(exp.config, steps=exp.steps)
    assert again.names == exp.names


@pytest.mark.parametrize("override, words", [
    ("parameter_set=behavioral", ["Unknown parameter_set 'behavioral'", "Did you mean 'behavioural'"]),
    ("design.method=factorial", ["use design.method lhs, sobol or morris"]),
])
def test_bad_parameter_sets_are_refused(override, words):
    with pytest.raises(ConfigError) as info:
        parse_experiment(compose_experiment("screening_morris", [override]))
    for w in words:
        assert w in str(info.value)


def test_screen_verdicts():
    rows = []
    for output, effects in (("a", {"p": 1.0, "q": 0.2, "r": 0.01}), ("b", {"p": 0.5, "q": 0.08, "r": 0.02})):
        top = max(effects.values())
        rows += [{"output": output, "parameter": k, "mu_star": v, "mu_star_conf": 0, "sigma": 0,
                  "relative": v / top} for k, v in effects.items()]
    s = screen(pd.DataFrame(rows)).set_index("parameter")
    assert s.loc["p", "verdict"] == "kept" and s.loc["q", "verdict"] == "kept" and s.loc["r", "verdict"] == "inert"
    assert s.loc["q", "relative"] == pytest.approx(0.2)
    assert not s["identifiable_from_survey"].any()  # outputs a and b are not survey-visible


def test_sobol_reliability_warns_only_when_intervals_are_wide():
    ok = pd.DataFrame({"samples": 512, "S1": [0.3], "S1_conf": [0.05], "ST": [0.4], "ST_conf": [0.06]})
    bad = pd.DataFrame({"samples": 32, "S1": [0.3], "S1_conf": [0.4], "ST": [1.3], "ST_conf": [0.5]})
    assert reliability(ok) == []
    (warning,) = reliability(bad)
    assert "N=32" in warning and "1.30" in warning


def test_every_fact_has_a_criterion():
    assert all(f.holds is not None and f.criterion for f in FACTS)
    assert len({o.name for o in OUTPUTS}) == len(OUTPUTS)


@pytest.mark.parametrize("arg, words", [("trajectories=1", ["trajectories"]), ("sobol_samples=100", ["power of 2"]),
                                        ("sobol_sample=64", ["Did you mean 'sobol_samples'"])])
def test_bad_settings_are_refused(arg, words):
    with pytest.raises(ConfigError) as info:
        parse_args([arg])
    for w in words:
        assert w in str(info.value)


@pytest.mark.slow
def test_the_whole_study_runs_resumes_and_writes_its_report(tmp_path):
    args = ["trajectories=2", "sobol_samples=16", "schools=3", "teachers=6", f"out={tmp_path}", "workers=2",
            "progress=false"]
    proc = run_module("sim.runs.sensitivity", *args, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    screened = pd.read_csv(tmp_path / "screening.csv")
    assert set(screened["verdict"]) <= {"kept", "weak", "inert"} and len(screened) > 50
    report = (tmp_path / "report.md").read_text()
    assert "Which parameters drive which outputs" in report and "`teacher.explore_rate`" in report
    assert "resumed from" not in report  # a first invocation runs everything
    assert (tmp_path / "figures" / "sensitivity_heatmap.png").stat().st_size > 10_000
    assert "Sobol sample too small" in proc.stderr  # N=16 cannot give usable intervals: the study says so
    prov = yaml.safe_load((tmp_path / "provenance.yaml").read_text())
    assert prov["git_revision"] and prov["sobol_samples"] == 16
    first = pd.read_csv(tmp_path / "sobol_indices.csv")
    again = run_module("sim.runs.sensitivity", *args, cwd=tmp_path, timeout=900)
    assert again.returncode == 0 and "0 run now" in again.stdout  # resumed: nothing recomputed
    # the same runs give the same indices and the same bootstrap intervals (the bootstrap is seeded)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "sobol_indices.csv"), first)
    assert "were resumed from an earlier invocation" in (tmp_path / "report.md").read_text()  # its time says so
    bad = run_module("sim.runs.sensitivity", "colour=red", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
