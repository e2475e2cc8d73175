"""The real cases as data: the time axis, the cases file and its loader, the pattern calibration, adopt, SBC."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.calibration.adopt import posterior_markdown, set_defaults
from sim.calibration.calibrate import calibrate
from sim.calibration.experiment import load_experiment
from sim.calibration.cases import (
    USES,
    CaseSimulator,
    load_cases,
    make_case_simulator,
    predictive_check,
    scenario_bases,
)
from sim.calibration.sbc import ranks, uniformity
from sim.config import CONFIG_DIR, REPO_ROOT, ConfigError, _parse_meta, preset_parameters
from sim.district.calendar import calendar_label, month_name, school_year, step_of
from tests.conftest import run_module

CASES = REPO_ROOT / "experiments" / "data" / "cases.yaml"


# -- the time axis ---------------------------------------------------------------------------

def test_time_axis_steps_and_labels():
    assert step_of(2017, 3, 2014) == 27          # Lake County: March 2017
    assert step_of(2015, 8, 2013) == 20          # Henry County: cohort 1 implements in August 2015
    assert step_of(2017, 7, 2014) == step_of(2017, 8, 2014) == 30   # summer maps to the next August
    assert step_of(2014, 8, 2014) == 0 and step_of(2015, 5, 2014) == 9
    assert calendar_label(27, 2014) == "2016-17, March"
    assert school_year(0, 2013) == "2013-14" and school_year(69, 1999) == "2005-06"
    assert month_name(10) == "August"
    with pytest.raises(ValueError):
        step_of(2017, 13, 2014)


def test_presets_start_on_their_record():
    c = load_cases(CASES)
    assert c.scenarios["henry"].start_year == 2013 and c.scenarios["lake"].start_year == 2014


# -- the cases file --------------------------------------------------------------------------

def test_shipped_cases_file_has_the_published_items_with_sources():
    c = load_cases(CASES)
    ids = {t.id for t in c.targets}
    for needed in ("henry_schools", "henry_blended_before_grant", "henry_implementing_2015", "henry_implementing_2018",
                   "henry_never_backs_away", "lake_pilots_2016", "lake_thirteen_march_2017", "lake_withdrawal",
                   "lake_pilot_whole_school", "crpe_pilot_stall", "crpe_few_replicable", "crpe_surface_over_depth"):
        assert needed in ids
    by_id = {t.id: t for t in c.targets}
    assert by_id["lake_thirteen_march_2017"].step == 27 and by_id["lake_withdrawal"].step == 30
    assert [by_id[f"henry_implementing_{y}"].step for y in (2015, 2016, 2017, 2018)] == [20, 30, 40, 50]
    # calibration and validation are disjoint, and Lake County is held out entirely
    assert all(t.use == "validation" for t in c.targets if t.scenario == "lake")
    assert {t.scenario for t in c.select("calibration")} == {"initiative"}
    assert by_id["henry_never_backs_away"].use == "setup"  # its preset encodes it (backaway.enabled is false)
    for t in c.targets:
        assert t.source and "shared" not in t.source and ".txt" not in t.source


def _write(tmp_path, raw) -> str:
    p = tmp_path / "cases.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(p)


@pytest.mark.parametrize("change, expected", [
    (lambda r: r["targets"][0].update(metric="adoption"), "target 'crpe_pilot_stall': field 'metric'"),
    (lambda r: r["targets"][0].update(use="fit"), "field 'use' is 'fit'; allowed: calibration, validation, setup"),
    (lambda r: r["targets"][0].update(tolerance=0), "field 'tolerance' must be a positive number"),
    (lambda r: r["targets"][0].update(date="2016-13"), "field 'date' must be a month as YYYY-MM"),
    (lambda r: r["targets"][0].update(date="2019-05"), "must lie in [0, 20]"),
    (lambda r: r["targets"][0].update(value=3), "give exactly one of 'value'"),
    (lambda r: r["targets"][0].pop("source"), "field 'source' must be non-empty text"),
    (lambda r: r["targets"][1].update(id="crpe_pilot_stall"), "repeats an earlier target's id"),
    (lambda r: r["scenarios"]["lake"].update(preset="lake"), "scenario 'lake': field 'preset' is 'lake'"),
    (lambda r: r["scenarios"]["initiative"]["fixed"].update({"district.school": 3}),
     "scenario 'initiative', field 'fixed'"),
])
def test_bad_cases_file_names_file_entry_and_field(tmp_path, change, expected):
    raw = yaml.safe_load(CASES.read_text())
    change(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_cases(path)
    assert expected in str(info.value) and path in str(info.value)


def test_cli_bad_cases_file_exits_2_without_traceback(tmp_path):
    raw = yaml.safe_load(CASES.read_text())
    raw["targets"][2]["range"] = [5, 1]
    cases = _write(tmp_path, raw)
    exp = yaml.safe_load((REPO_ROOT / "experiments" / "calibrate_cases.yaml").read_text())
    exp["cases"] = cases
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    proc = run_module("sim.calibration.calibrate", f"experiment={tmp_path / 'e.yaml'}", f"out={tmp_path / 'o'}",
                      cwd=REPO_ROOT)
    assert proc.returncode == 2, proc.stderr
    assert "target 'crpe_few_replicable'" in proc.stderr and "field 'range'" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- simulated counterparts ------------------------------------------------------------------

def _tiny_cases(tmp_path) -> str:
    """The shipped cases on small districts and short runs (fast)."""
    raw = yaml.safe_load(CASES.read_text())
    for sc in raw["scenarios"].values():
        sc["fixed"] = {**(sc.get("fixed") or {}), "district.teachers_per_school": 8}
    raw["scenarios"]["initiative"]["fixed"]["district.schools"] = 10
    keep = {"crpe_pilot_stall", "crpe_instruction_changed", "crpe_surface_over_depth", "lake_pilots_2016",
            "henry_implementing_2015"}
    raw["targets"] = [t for t in raw["targets"] if t["id"] in keep]
    raw["scenarios"] = {k: v for k, v in raw["scenarios"].items() if k in ("initiative", "lake", "henry")}
    raw["scenarios"]["henry"]["steps"] = 21
    raw["scenarios"]["lake"]["steps"] = 21
    return _write(tmp_path, raw)


def test_simulated_values_are_reproducible_and_deviations_measure_distance_to_targets(tmp_path):
    c = load_cases(_tiny_cases(tmp_path))
    raw = make_case_simulator(c, USES, deviations=False)
    dev = make_case_simulator(c, USES)
    a, b = raw.simulate({}, 5), raw.simulate({}, 5)
    assert a == b
    d = dev.simulate({}, 5)
    for t in c.targets:
        x = a[t.id]
        inside = t.low <= x <= t.high
        assert (d[t.id] == 0) == inside
        if not inside:
            assert math.isclose(d[t.id], min(abs(x - t.low), abs(x - t.high)) / t.tolerance)
    # the cohorts on the record: 6 of 50 schools implement two years after selection
    assert a["henry_implementing_2015"] == 6 and a["lake_pilots_2016"] == 5
    # a free parameter reaches every scenario's configuration
    lo = raw.simulate({"peers.influence": 0.0, "teacher.explore_rate": 0.0}, 5)
    assert lo["crpe_instruction_changed"] < a["crpe_instruction_changed"]


def test_predictive_check_passes_by_share_within_tolerance():
    c = load_cases(CASES)
    t = next(x for x in c.targets if x.id == "crpe_pilot_stall")  # range [0.5, 1], tolerance 0.1, pass_share 0.5
    sims = pd.DataFrame({t.id: [0.45, 0.3, 0.9, 0.2]})
    row = predictive_check(c, sims, [t]).iloc[0]
    assert row["share_within"] == 0.5 and row["passed"]
    row = predictive_check(c, pd.DataFrame({t.id: [0.3, 0.3, 0.9, 0.2]}), [t]).iloc[0]
    assert row["share_within"] == 0.25 and not row["passed"]


def test_tiny_pattern_calibration_runs_and_resumes(tmp_path):
    cases = _tiny_cases(tmp_path)
    exp = {"cases": cases, "free": {"peers.influence": {"prior": "uniform", "low": 0.0, "high": 0.4},
                                    "teacher.explore_rate": {"prior": "uniform"}},
           "abc": {"population": 10, "generations": 2, "quantile": 0.5, "seed": 3},
           "executor": {"kind": "single"}, "predictive": {"draws": 3}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    out = tmp_path / "out"
    first = calibrate(None, str(path), out, generations=1, progress=False)
    assert not first.finished and (out / "posterior_sample.csv").exists()
    res = calibrate(None, str(path), out, progress=False)
    assert res.finished and res.resumed_from == 1 and len(res.generations) == 2
    sample = pd.read_csv(out / "posterior_sample.csv")
    assert list(sample.columns) == ["peers.influence", "teacher.explore_rate", "weight"]
    assert sample["teacher.explore_rate"].between(0, 1).all()  # the documented range is the prior
    ppc = pd.read_csv(out / "cases_ppc.csv")
    assert set(ppc["id"]) == {t.id for t in load_cases(cases).targets}


# -- adopting the posterior --------------------------------------------------------------------

def test_set_defaults_writes_values_and_sources():
    text = (CONFIG_DIR / "config.yaml").read_text()
    new = set_defaults(text, {"knowledge.reach_none": 0.0123456, "peers.influence": 0.2},
                       "calibrated: experiments/calibrate_cases.yaml")
    cfg = yaml.safe_load(new)
    assert cfg["knowledge"]["reach_none"] == 0.0123 and cfg["peers"]["influence"] == 0.2
    lines = new.splitlines()
    i = next(k for k, x in enumerate(lines) if x.startswith("  reach_none:"))
    meta = _parse_meta(lines[i - 1].strip()[1:].strip())
    assert meta["source"].endswith("calibrated: experiments/calibrate_cases.yaml")
    assert "calibrated to" not in meta["source"] and "Calibrated so that" not in lines[i - 2]
    with pytest.raises(ConfigError, match="no default line for peers.nothing"):
        set_defaults(text, {"peers.nothing": 1.0}, "calibrated")


def test_adopting_drops_a_hand_tuning_sentence_whole_even_with_decimals_in_it():
    text = ("teacher:\n  # Rate of something.\n"
            "  # Calibrated so that about 0.02 a month is reached (SF5). Kept sentence.\n"
            "  # unit: per month; range: [0, 1]; source: modelling choice\n  explore_rate: 0.2\n")
    lines = set_defaults(text, {"teacher.explore_rate": 0.12}, "calibrated").splitlines()
    assert lines[1:3] == ["  # Rate of something. Kept sentence.", "  # unit: per month; range: [0, 1]; source: "
                          "modelling choice, calibrated"] and lines[3] == "  explore_rate: 0.12"


def test_a_whole_number_median_keeps_the_parameter_real_valued():
    text = (CONFIG_DIR / "config.yaml").read_text()
    values = {"principal.close_lag": 10.0, "policy.waiver_months": 1234.5}
    cfg = yaml.safe_load(set_defaults(text, values, "calibrated"))
    assert isinstance(cfg["principal"]["close_lag"], float) and cfg["principal"]["close_lag"] == 10.0
    assert isinstance(cfg["policy"]["waiver_months"], float) and cfg["policy"]["waiver_months"] == 1230.0


def test_posterior_table_says_how_much_narrower_than_its_prior_each_parameter_is():
    rng = np.random.default_rng(0)
    exp = load_experiment("calibrate_cases")
    sample = pd.DataFrame({k: rng.uniform(p.low, p.high, 4000) for k, p in exp.free.items()}).assign(weight=1.0)
    sample["principal.codify_min_depth"] = rng.uniform(0.0, 0.06, 4000)  # a tenth of its prior's width
    table = posterior_markdown(sample, "calibrate_cases").splitlines()[2:]
    rows = {line.split(" | ")[0].strip("| `"): line for line in table}
    assert set(rows) == set(exp.free)
    share = {k: float(line.rstrip(" |").split(" | ")[-1]) for k, line in rows.items()}
    assert share["principal.codify_min_depth"] == pytest.approx(0.1, abs=0.01)
    assert all(v == pytest.approx(1.0, abs=0.05) for k, v in share.items() if k != "principal.codify_min_depth")


# -- simulation-based calibration ----------------------------------------------------------------

def test_sbc_ranks_are_uniform_for_a_calibrated_method_and_not_for_an_overconfident_one():
    rng = np.random.default_rng(0)
    n_ref, n_true = 4000, 300
    theta = rng.uniform(0, 1, (n_ref + n_true, 1))
    x = theta + rng.normal(0, 0.1, theta.shape)
    r = ranks(theta[:n_ref], x[:n_ref], theta[n_ref:], x[n_ref:], 40, rng)
    assert uniformity(r, 40)[0] > 0.01
    # an overconfident method: reference data with far less noise than the truth has
    x_ref = theta[:n_ref] + rng.normal(0, 0.01, (n_ref, 1))
    r_bad = ranks(theta[:n_ref], x_ref, theta[n_ref:], x[n_ref:], 40, rng)
    assert uniformity(r_bad, 40)[0] < 0.01


def test_case_simulator_is_picklable(tmp_path):
    import pickle

    c = load_cases(_tiny_cases(tmp_path))
    sim = CaseSimulator(scenario_bases(c), c.select("calibration"))
    again = pickle.loads(pickle.dumps(sim))
    assert again.simulate({}, 1) == copy.deepcopy(sim).simulate({}, 1)


def test_no_preset_sets_a_parameter_the_cases_calibration_fits():
    """The fitted values apply in every scenario and posterior draws fill them in, so a preset that set one
    would have its lever undone (sim-run and sweeps refuse such a draw): the fitted and the levers stay apart."""
    fitted = set(pd.read_csv(REPO_ROOT / "experiments" / "data" / "posterior_cases.csv").columns) - {"weight"}
    assert len(fitted) == 21
    assert not fitted & preset_parameters()
