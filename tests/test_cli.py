"""sim-run end to end, and its refusal of bad input (exit 2, one paragraph, no traceback)."""

from __future__ import annotations

import subprocess
from importlib.metadata import version

import pandas as pd
import pytest
import yaml

from sim.district.metrics import METRICS
from tests.conftest import default_sigint, run_module

TINY = ["district.schools=4", "district.teachers_per_school=8", "steps=20", "run.replicates=3", "run.workers=2",
        "run.progress=false"]


def sim_run(*args: str, cwd) -> subprocess.CompletedProcess:
    return run_module("sim", *args, cwd=cwd)


def test_sim_run_end_to_end(tmp_path):
    out = tmp_path / "results"
    proc = sim_run(*TINY, "run.name=smoke", f"run.out={out}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = out / "smoke"
    ts = pd.read_parquet(run / "timeseries.parquet")
    assert {"scenario", "replicate", "seed", "step", *METRICS} <= set(ts.columns)
    assert ts.groupby(["scenario", "replicate"]).size().eq(21).all()
    assert ts["replicate"].nunique() == 3 and ts.groupby("replicate")["seed"].nunique().eq(1).all()
    summary = pd.read_csv(run / "summary.csv")
    assert {"scenario", "year", "metric", "mean", "q05", "q95"} <= set(summary.columns)
    assert set(summary["year"]) == {2} and (summary["q05"] <= summary["mean"] + 1e-12).all()
    assert (run / "adoption_curves.png").stat().st_size > 10_000
    diff = pd.read_csv(run / "differences.csv")  # every other scenario minus the baseline, replicate by replicate
    assert "baseline" not in set(diff["scenario"]) and set(diff["scenario"]) == set(ts["scenario"]) - {"baseline"}
    paired = ts[ts["step"] == 20].pivot(index="replicate", columns="scenario", values="teacher_adoption")
    henry = diff[(diff["scenario"] == "henry_all_in") & (diff["metric"] == "teacher_adoption")].iloc[0]
    assert abs(henry["mean"] - (paired["henry_all_in"] - paired["baseline"]).mean()) < 1e-12
    assert "vs baseline; 90% of paired runs" in proc.stdout
    prov = yaml.safe_load((run / "provenance.yaml").read_text())
    assert prov["seed"] == 0 and prov["packages"]["mesa"] == version("mesa") and prov["git_revision"]
    assert yaml.safe_load((run / "config.yaml").read_text())["district"]["schools"] == 4
    assert "Baseline (decentralized)" in proc.stdout and "of teachers use it" in proc.stdout


def test_results_do_not_depend_on_worker_count(tmp_path):
    frames = []
    for workers in (1, 2):
        args = [a for a in TINY if not a.startswith("run.workers")]
        proc = sim_run(*args, f"run.workers={workers}", f"run.name=w{workers}", f"run.out={tmp_path}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        frames.append(pd.read_parquet(tmp_path / f"w{workers}" / "timeseries.parquet"))
    pd.testing.assert_frame_equal(*frames)


@pytest.mark.parametrize("arg, words", [
    ("run.scenarios=[no_such_policy]", ["no_such_policy", "baseline"]),
    ("district.schools=-3", ["district.schools", "[1, 5000]"]),
    ("district.colour=red", ["district.colour", "district.schools"]),
    ("policy.knowledge=plan", ["policy.knowledge"]),
    ("run.replicates=0", ["run.replicates", "[1, 100000]"]),
    ("scenario=baseline", ["run.scenarios"]),
    ("steps=[", ["steps"]),
])
def test_bad_input_exits_2_with_one_paragraph(arg, words, tmp_path):
    proc = sim_run(arg, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    for w in words:
        assert w in proc.stderr
    assert not (tmp_path / "results").exists()


def test_ctrl_c_keeps_finished_runs(tmp_path):
    import os
    import re
    import signal
    import sys
    import threading
    import time

    from sim.config import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    args = ["district.schools=10", "steps=50", "run.replicates=1000", "run.workers=1", "run.name=cut",
            "run.scenarios=[baseline]", f"run.out={tmp_path}"]
    proc = subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sigint)
    seen = bytearray()
    reader = threading.Thread(target=lambda: [seen.extend(c) for c in iter(lambda: proc.stderr.read(1), b"")],
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    started = re.compile(rb"\b([1-9]\d{0,2})/1000\b")  # the progress bar counts finished runs (per batch)
    while not started.search(bytes(seen)) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    reader.join(timeout=10)
    ts = pd.read_parquet(tmp_path / "cut" / "timeseries.parquet")
    done = ts.groupby("replicate").size()
    assert 1 <= len(done) < 1000 and (done == 51).all()  # only whole runs, each complete
    assert "runs finished and were saved" in seen.decode(errors="replace")


def test_combined_presets_are_accepted_labels(tmp_path):
    proc = sim_run("run.scenarios=[baseline,clear_problems+flexibility]", "district.schools=3",
                   "district.teachers_per_school=6", "steps=10", "run.replicates=2", "run.workers=1",
                   "run.progress=false", "run.name=combo", f"run.out={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ts = pd.read_parquet(tmp_path / "combo" / "timeseries.parquet")
    assert list(dict.fromkeys(ts["scenario"])) == ["baseline", "clear_problems+flexibility"]
    bad = sim_run("run.scenarios=[baseline+nope]", cwd=tmp_path)
    assert bad.returncode == 2 and "nope" in bad.stderr
