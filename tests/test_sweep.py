"""Sweeps: reproducible across executors, resumable after SIGKILL, failures recorded, bad input refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.api import simulate
from sim.config import ConfigError
from sim.runs.experiment import compose_experiment, make_design, make_plan, parse_experiment
from sim.runs.runner import RunSpec, replicate_seed, run_many
from sim.runs.store import RunStore
from sim.runs.sweep import sweep

ROOT = Path(__file__).resolve().parent.parent
TINY = ["district.schools=3", "district.teachers_per_school=5"]
VOLATILE = ["run_seconds", "session", "traceback"]


def write_experiment(directory: Path, name: str, body: dict) -> Path:
    """An experiment file using the sweep schema (tiny district unless the body says otherwise)."""
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"defaults": ["sweep_schema", "_self_"], "scenarios": ["baseline"], "overrides": TINY, "steps": 12,
           "record_every": 4, "progress": False, **body}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


FACTORIAL = {"parameters": {"policy": {"goal_clarity": {"values": [0.1, 0.9]}},
                            "knowledge": {"mode": {"values": ["none", "plan"]}}},
             "replicates": 3}


@pytest.fixture()
def factorial(tmp_path: Path) -> Path:
    return write_experiment(tmp_path / "exp", "factorial", FACTORIAL)


def dataset(out: Path) -> pd.DataFrame:
    rows = RunStore(out).read()
    return rows.drop(columns=VOLATILE).sort_values(["run_id", "step"]).reset_index(drop=True)


def assert_each_run_once(out: Path, plan_ids: set[str], steps_per_run: int) -> None:
    rows = RunStore(out).read()
    assert set(rows["run_id"]) == plan_ids
    assert not rows.duplicated(["run_id", "step"]).any()
    ok = rows[rows["error"].isna()]
    assert (ok.groupby("run_id").size() == steps_per_run).all()


def plan_of(path: Path, overrides=()) -> list:
    exp = parse_experiment(compose_experiment(str(path), overrides))
    return make_plan(exp, make_design(exp))


# --------------------------------------------------------------------------- reproducibility

def test_same_results_with_one_two_workers_and_dask(factorial: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    out = {k: tmp_path / k for k in ("w1", "w2", "dask_address", "dask_file", "dask_local")}
    sweep(str(factorial), [f"out={out['w1']}", "workers=1", "analyze=false"])
    sweep(str(factorial), [f"out={out['w2']}", "workers=2", "batch_size=1", "analyze=false"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        r = sweep(str(factorial), [f"out={out['dask_address']}", "executor=dask",
                                   f"dask.address={cluster.scheduler_address}", "batch_size=2", "analyze=false"])
        assert r.executor.startswith(f"dask ({cluster.scheduler_address})") and r.slots == 2
        # a scheduler file, as `dask scheduler --scheduler-file` writes (its "address" entry is what clients read)
        (tmp_path / "scheduler.json").write_text(json.dumps({"type": "Scheduler",
                                                             "address": cluster.scheduler_address}))
        sweep(str(factorial), [f"out={out['dask_file']}", "executor=dask", f"dask.address={tmp_path}/scheduler.json",
                               "analyze=false"])
    # the executor's own LocalCluster, with threads: configs are composed under a lock
    sweep(str(factorial), [f"out={out['dask_local']}", "executor=dask", "workers=2", "dask.processes=false",
                           "batch_size=1", "analyze=false"])
    ref = dataset(out["w1"])
    assert len(ref) == 4 * 3 * 4 and ref["error"].isna().all()  # 4 points x 3 replicates x steps 0,4,8,12
    for key in ("w2", "dask_address", "dask_file", "dask_local"):
        pd.testing.assert_frame_equal(dataset(out[key]), ref, check_like=True)
    # parameter values set on the composed config give what the same Hydra overrides give
    row = ref[(ref["policy.goal_clarity"] == 0.9) & (ref["knowledge.mode"] == "plan") & (ref["replicate"] == 2)]
    direct = simulate("baseline", seed=int(row["seed"].iloc[0]),
                      overrides=[*TINY, "steps=12", "policy.goal_clarity=0.9", "knowledge.mode=plan"])
    direct = direct[direct["step"].isin([0, 4, 8, 12])].reset_index(drop=True)
    np.testing.assert_allclose(row.sort_values("step")["teacher_adoption"], direct["teacher_adoption"])
    np.testing.assert_allclose(row.sort_values("step")["mean_depth"], direct["mean_depth"])


def test_seeds_keyed_to_run_identity(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, "seeds", FACTORIAL)
    plan = plan_of(path)
    assert len({r.run_id for r in plan}) == len(plan) == 12
    assert len({r.spec.seed for r in plan}) == 12  # independent: keyed to scenario, point and replicate
    # extending the experiment keeps the identity and seed of every existing run
    more = plan_of(path, ["replicates=5", "parameters.policy.goal_clarity.values=[0.1,0.5,0.9]"])
    old = {r.run_id: r.spec.seed for r in plan}
    new = {r.run_id: r.spec.seed for r in more}
    assert len(more) == 30 and all(new[k] == s for k, s in old.items())
    # common random numbers: every point and scenario shares replicate r's seed, as sim-run does
    common = plan_of(path, ["seeds=common", "seed=11"])
    assert {(r.spec.replicate, r.spec.seed) for r in common} == {(k, replicate_seed(11, k)) for k in range(3)}


def test_run_many_delegates_to_the_executors() -> None:
    specs = [RunSpec("baseline", r, replicate_seed(3, r), (*TINY, "steps=6")) for r in range(4)]
    key = ["replicate", "step"]
    one = pd.concat(run_many(specs, workers=1, progress=False)).sort_values(key).reset_index(drop=True)
    two = pd.concat(run_many(specs, workers=2, progress=False, batch_size=1)).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(one, two)
    assert set(one["replicate"]) == {0, 1, 2, 3} and len(one) == 4 * 7


# --------------------------------------------------------------------------- nothing lost

def test_resume_after_sigkill_runs_each_run_exactly_once(tmp_path: Path) -> None:
    path = write_experiment(tmp_path / "exp", "longer", {
        "overrides": ["district.schools=6", "district.teachers_per_school=8"], "steps": 30, "record_every": 10,
        "parameters": {"policy": {"coaching_fte": {"values": [0.0, 0.5, 1.0]}}}, "replicates": 20})
    plan_ids = {r.run_id for r in plan_of(path)}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sim.runs.sweep", f"experiment={path}", f"out={out}", "workers=2", "batch_size=1",
           "analyze=false"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while len(RunStore(out).parts()) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes
    proc.wait()
    partial = RunStore(out).finished()
    assert 0 < len(partial) < len(plan_ids), "the sweep was not killed part-way"
    (out / "runs" / ".tmp-part-s000-deadbeef.parquet").write_bytes(b"half a file")  # as if killed mid-write

    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(partial)} already done, {len(plan_ids) - len(partial)} run now (0 failed)" in done.stdout
    assert_each_run_once(out, plan_ids, steps_per_run=4)
    assert not list((out / "runs").glob(".tmp-*"))
    # a third invocation has nothing left to do
    again = sweep(str(path), [f"out={out}", "analyze=false"])
    assert again.skipped == len(plan_ids) and again.ran == 0
    sessions = yaml.safe_load((out / "experiment.yaml").read_text())["sessions"]
    assert [s["session"] for s in sessions] == [0, 1, 2] and sessions[1]["runs_already_done"] == len(partial)
    assert sessions[0]["git_revision"] and sessions[0]["packages"]["mesa"]


def test_failing_run_is_recorded_and_the_rest_complete(factorial: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sim.district.model import DistrictModel

    original = DistrictModel.step

    def step(self):
        if self.p.policy.goal_clarity == 0.9 and self.p.knowledge.mode == "plan" and self.steps == 5:
            raise FloatingPointError("simulated numerical blow-up")
        return original(self)

    monkeypatch.setattr(DistrictModel, "step", step)  # inherited by the forked workers
    out = tmp_path / "out"
    result = sweep(str(factorial), [f"out={out}", "workers=2", "batch_size=2"])
    plan_ids = {r.run_id for r in plan_of(factorial)}
    assert result.ran == 12 and result.failed_now == 3 and result.failed_total == 3
    assert "FAILED RUNS: 3 of 12" in capsys.readouterr().out
    rows = RunStore(out).read()
    failed = rows[rows["error"].notna()]
    assert len(failed) == 3 and failed["step"].isna().all() and failed["teacher_adoption"].isna().all()
    assert failed["error"].str.startswith("FloatingPointError: simulated numerical blow-up").all()
    assert set(failed["policy.goal_clarity"]) == {0.9} and set(failed["knowledge.mode"]) == {"plan"}
    assert failed["traceback"].str.contains("simulated numerical blow-up").all()
    assert_each_run_once(out, plan_ids, steps_per_run=4)
    assert len(pd.read_csv(out / "failures.csv")) == 3
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["replicates"] == 3).all()  # the failed point has no successful run to summarize
    assert summary["point"].nunique() == 3

    # rerunning without retry_failed keeps the recorded failures; with it, they run again
    monkeypatch.setattr(DistrictModel, "step", original)
    assert sweep(str(factorial), [f"out={out}", "workers=2", "analyze=false"]).ran == 0
    retried = sweep(str(factorial), [f"out={out}", "workers=2", "retry_failed=true"])
    assert retried.ran == 3 and retried.failed_total == 0
    assert_each_run_once(out, plan_ids, steps_per_run=4)
    assert RunStore(out).read()["error"].isna().all() and not (out / "failures.csv").exists()


def test_lost_worker_stops_the_sweep_cleanly_and_the_rerun_completes(factorial: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sim.district.model import DistrictModel

    original, parent = DistrictModel.step, os.getpid()
    doomed = sorted(r.spec.seed for r in plan_of(factorial))[5]

    def step(self):
        if os.getpid() != parent and self.seed == doomed:
            os._exit(1)  # the worker process dies, as if killed or out of memory
        return original(self)

    monkeypatch.setattr(DistrictModel, "step", step)
    out = tmp_path / "out"
    result = sweep(str(factorial), [f"out={out}", "workers=2", "batch_size=1"])
    assert result.aborted.startswith("BrokenProcessPool") and result.ran < 12
    assert "the same command again to resume" in capsys.readouterr().err
    monkeypatch.setattr(DistrictModel, "step", original)
    again = sweep(str(factorial), [f"out={out}", "workers=2", "analyze=false"])
    assert again.skipped == result.ran and again.ran == 12 - result.ran and not again.aborted
    assert_each_run_once(out, {r.run_id for r in plan_of(factorial)}, steps_per_run=4)


# --------------------------------------------------------------------------- bad input

def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.runs.sweep", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


@pytest.mark.parametrize("body, message", [
    ({"parameters": {"policy": {"goal_clarty": {"values": [0.1]}}}},
     "Unknown parameter 'parameters.policy.goal_clarty'. Did you mean 'policy.goal_clarity'?"),
    ({"parameters": {"policy": {"goal_clarity": {"range": [0.8, 0.2]}}}, "design": {"method": "lhs", "samples": 4}},
     "parameters.policy.goal_clarity.range [0.8, 0.2] is empty"),
    ({"replicates": -3}, "Invalid replicates=-3 (runs per scenario and parameter point): allowed is an integer >= 1."),
])
def test_bad_experiment_refused_before_any_run(tmp_path: Path, body: dict, message: str) -> None:
    path = write_experiment(tmp_path / "exp", "bad", body)
    out = tmp_path / "out"
    done = run_cli(f"experiment={path}", f"out={out}")
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.startswith("sim-sweep: ")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()  # nothing ran, nothing was written


def test_unknown_experiment_lists_the_available_ones(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from sim.runs.sweep import main

    monkeypatch.setattr(sys, "argv", ["sim-sweep", "experiment=scenario_comparisn"])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Did you mean 'scenario_comparison'?" in err and "levers_factorial" in err


@pytest.mark.parametrize("body, overrides, message", [
    ({"parameters": {"policy": {"goal_clarity": {"values": []}}}}, [],
     "parameters.policy.goal_clarity.values is empty"),
    ({"parameters": {"policy": {"goal_clarity": {"values": [0.5, 1.5]}}}}, [],
     "Invalid value 1.5 for 'policy.goal_clarity'"),
    ({"parameters": {"policy": {"coaching_fte": {"range": [0, 9]}}}, "design": {"method": "lhs", "samples": 3}}, [],
     "Invalid value 9 for 'policy.coaching_fte'"),
    ({"parameters": {"policy": {"goal_clarity": {"range": [0, 1]}}}}, [], "a factorial design needs 'values"),
    ({"parameters": {"policy": {"goal_clarity": {"range": [0, 1]}}}, "design": {"method": "sobol", "samples": 100}}, [],
     "allowed is a power of 2"),
    ({"parameters": {"knowledge": {"mode": {"range": [0, 1]}}}, "design": {"method": "lhs", "samples": 3}}, [],
     "list them with 'values: [...]'"),
    ({"parameters": {"seed": {"values": [1, 2]}}}, [], "parameters.seed cannot be varied"),
    ({"scenarios": ["baseline", "no_such_preset"]}, [], "Unknown scenario 'no_such_preset'"),
    ({"metrics": ["teacher_adoption", "adoption"]}, [], "Unknown metric 'adoption' in metrics"),
    ({}, ["design.method=grid"], "Invalid design.method='grid': allowed is one of factorial, lhs, sobol, morris."),
    ({}, ["executor=ray"], "Invalid executor='ray': allowed is one of local, dask."),
    ({"replicate": 3}, [], "Key 'replicate' not in 'SweepSchema'"),
    ({}, ["+replicate=3"], "Unknown experiment field 'replicate'. Did you mean 'replicates'?"),
    ({"overrides": ["district.schoolz=3"]}, [], "Unknown parameter 'district.schoolz'"),
    ({"overrides": ["policy.goal_clarity=0.2"], **FACTORIAL}, [], "varied and also fixed in overrides"),
    ({}, ["analysis.steps=[5]"], "Invalid analysis.steps entry 5"),
])
def test_bad_experiment_messages(tmp_path: Path, body: dict, overrides: list, message: str) -> None:
    path = write_experiment(tmp_path, "bad", body)
    with pytest.raises(ConfigError) as err:
        parse_experiment(compose_experiment(str(path), overrides))
    assert message in str(err.value)


def test_file_without_the_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("replicates: 3\n")
    with pytest.raises(ConfigError, match="must start with 'defaults: \\[sweep_schema, _self_\\]'"):
        compose_experiment(str(path))


# --------------------------------------------------------------------------- shipped experiments

def test_shipped_experiments_are_valid() -> None:
    sizes = {}
    for name in ("scenario_comparison", "levers_factorial", "sensitivity_sobol", "discovery_lhs"):
        exp = parse_experiment(compose_experiment(name))
        sizes[name] = (exp.design.method, len(make_plan(exp, make_design(exp))))
    assert sizes["scenario_comparison"][1] % 50 == 0 and sizes["levers_factorial"] == ("factorial", 540)
    assert sizes["sensitivity_sobol"] == ("sobol", 256 * 8 * 2) and sizes["discovery_lhs"] == ("lhs", 1000)


# --------------------------------------------------------------------------- analysis

SENSITIVITY = {"parameters": {"policy": {"goal_clarity": {"range": [0.0, 1.0]}},
                              "survey": {"noise_sd": {"range": [0.0, 3.0]}}},  # no effect on district metrics
               "seeds": "common", "replicates": 2, "record_every": 0,
               "analysis": {"metrics": ["mean_depth", "mean_surface"]}}


@pytest.mark.parametrize("method, samples, columns", [("sobol", 16, ["S1", "S1_conf", "ST", "ST_conf"]),
                                                      ("morris", 6, ["mu", "mu_star", "sigma", "mu_star_conf"])])
def test_sensitivity_indices_find_the_parameter_that_matters(tmp_path: Path, method: str, samples: int,
                                                             columns: list) -> None:
    path = write_experiment(tmp_path / "exp", method, {**SENSITIVITY, "design": {"method": method,
                                                                                 "samples": samples}})
    out = tmp_path / "out"
    sweep(str(path), [f"out={out}", "workers=2"])
    idx = pd.read_csv(out / f"{method}_indices.csv")
    assert set(idx.columns) >= {"scenario", "metric", "parameter", *columns}
    assert len(idx) == 2 * 2 and idx[columns].notna().all().all()
    main, inert = (idx[idx["parameter"] == p].set_index("metric") for p in ("policy.goal_clarity", "survey.noise_sd"))
    # with common random numbers a parameter without effect changes no output at all: its indices are exactly 0,
    # which also checks that outputs are matched to the right design rows
    total = "ST" if method == "sobol" else "mu_star"
    assert (inert[total] == 0).all() and (main.loc["mean_depth", total] > 0)
    assert (out / f"{method}_indices.png").stat().st_size > 0
    design = pd.read_parquet(out / "design.parquet")
    assert len(design) == (samples * 4 if method == "sobol" else samples * 3)


def test_summary_and_plots(factorial: Path, tmp_path: Path) -> None:
    from sim.runs.analyze import analyze, parse_args

    out = tmp_path / "out"
    sweep(str(factorial), [f"out={out}", "workers=1", "analysis.steps=[4,12]"])
    summary = pd.read_csv(out / "summary.csv")
    rows = RunStore(out).read()
    assert set(summary["step"]) == {4, 12} and (summary["replicates"] == 3).all()
    assert len(summary) == 4 * 2 * len(parse_experiment(compose_experiment(str(factorial))).metrics)
    one = summary[(summary["policy.goal_clarity"] == 0.1) & (summary["knowledge.mode"] == "plan")
                  & (summary["step"] == 12) & (summary["metric"] == "teacher_adoption")].iloc[0]
    runs = rows[(rows["policy.goal_clarity"] == 0.1) & (rows["knowledge.mode"] == "plan") & (rows["step"] == 12)]
    assert one["mean"] == pytest.approx(runs["teacher_adoption"].mean())
    assert one["q05"] == pytest.approx(runs["teacher_adoption"].quantile(0.05))
    assert one["q05"] <= one["mean"] <= one["q95"]
    for name in ("scenario_comparison.png", "parameters.png"):
        assert (out / name).stat().st_size > 10_000
    # sim-analyze redoes the analysis from the folder alone
    (out / "summary.csv").unlink()
    done = subprocess.run([sys.executable, "-m", "sim.runs.analyze", f"out={out}"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), summary)
    with pytest.raises(ConfigError, match="is not a sweep output folder"):
        analyze(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="Unknown setting 'outdir'.*Did you mean 'out'"):
        parse_args(["outdir=x"])
    with pytest.raises(ConfigError, match="usage: sim-analyze out=DIR"):
        parse_args([])


def test_prim_finds_the_region_of_success(tmp_path: Path, capsys) -> None:
    from sim.runs.analyze import discover, load, plot_peeling

    path = write_experiment(tmp_path / "exp", "lhs", {
        "parameters": {"policy": {"goal_clarity": {"range": [0.0, 1.0]}},
                       "survey": {"noise_sd": {"range": [0.0, 3.0]}},
                       "knowledge": {"mode": {"values": ["none", "key_person", "plan"]}},
                       "district": {"margin_share_mean": {"range": [0.1, 0.3]}}},
        "overrides": ["district.schools=6", "district.teachers_per_school=10"], "steps": 20,
        "design": {"method": "lhs", "samples": 100, "seed": 3}, "record_every": 0,
        "analysis": {"discovery": {"metric": "mean_depth", "threshold": 0.0, "density": 0.8}}})
    out = tmp_path / "out"
    sweep(str(path), [f"out={out}", "workers=2", "analyze=false"])
    exp, _, rows = load(out)
    # success: the deeper half of runs (threshold from the data, so the test does not hang on calibration)
    exp.analysis.discovery.threshold = float(rows["mean_depth"].median())
    boxes, trajectory = discover(rows, exp)
    first = boxes[boxes["box"] == 1]
    assert 0 < first["coverage"].iloc[0] <= 1 and first["density"].iloc[0] >= 0.8
    assert first["successes_total"].iloc[0] == (rows["mean_depth"] >= exp.analysis.discovery.threshold).sum()
    clarity = first[first["parameter"] == "policy.goal_clarity"]
    assert len(clarity) == 1 and clarity["lower"].iloc[0] > 0.3  # deep practice needs clear goals
    assert {"coverage", "density", "res_dim", "mass", "box", "selected"} <= set(trajectory.columns)
    assert trajectory.groupby("box")["selected"].sum().eq(1).all()
    assert plot_peeling(trajectory, exp, out / "prim_peeling.png").stat().st_size > 10_000
    # two successes: no box of at least 5% of the runs reaches density 80%, and the tool says so
    exp.analysis.discovery.threshold = float(rows["mean_depth"].nlargest(2).min())
    capsys.readouterr()
    boxes, trajectory = discover(rows, exp)
    said = capsys.readouterr().err
    assert boxes.empty and trajectory.empty
    assert "no PRIM box reaches density 80%; 2 of 100 runs succeed" in said and "densest box" in said


def test_differences_to_the_baseline_pair_runs_that_share_a_seed(tmp_path: Path) -> None:
    """With common seeds the analysis writes each scenario minus the baseline, replicate by replicate; with
    independent seeds there is no pair to take, so it writes none."""
    body = {"scenarios": ["baseline", "flexibility"], "replicates": 4, "seeds": "common"}
    out = tmp_path / "common"
    sweep(str(write_experiment(tmp_path / "exp", "pairs", body)), [f"out={out}", "workers=1"])
    diff = pd.read_csv(out / "differences.csv")
    assert set(diff["scenario"]) == {"flexibility"} and (diff["replicates"] == 4).all()
    rows = RunStore(out).read()
    last = rows[rows["step"] == 12].pivot_table(index="replicate", columns="scenario", values="teacher_adoption")
    one = diff[(diff["metric"] == "teacher_adoption") & (diff["step"] == 12)].iloc[0]
    assert one["mean"] == pytest.approx((last["flexibility"] - last["baseline"]).mean())
    assert one["share_above"] == pytest.approx(((last["flexibility"] - last["baseline"]) > 0).mean())
    from sim.runs.analyze import plain_report

    assert "vs baseline; 90% of paired runs" in plain_report(out)  # the printed summary heads with it
    alone = tmp_path / "independent"
    sweep(str(write_experiment(tmp_path / "exp", "alone", {**body, "seeds": "independent"})),
          [f"out={alone}", "workers=1"])
    assert (alone / "summary.csv").exists() and not (alone / "differences.csv").exists()
