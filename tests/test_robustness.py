"""Hardening: bad input gets exit 2 and one paragraph, faults lose nothing, Ctrl-C exits 130 at every phase.

Property-based tests (hypothesis) feed arbitrary bytes and near-valid files to
the survey loader, the experiment loader and the command-line parsers; fault
tests damage run-store batches, fill the disk (a write that raises ENOSPC),
press Ctrl-C at each phase of each tool and start two sim-runs with one name.
docs/robustness.md lists the classes tried and what each gets.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config import REPO_ROOT, ConfigError
from sim.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, TOOLS
from sim.runs.store import RunStore
from sim.inputs.survey import SurveyDataError, load_survey, statistics_table, summarise_survey
from sim.runs.sweep import sweep
from tests.conftest import default_sigint
from tests.test_sweep import FACTORIAL, assert_each_run_once, plan_of, write_experiment

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}


# --------------------------------------------------------------------------- helpers

def tool(name: str, *args: str, patch: str = "", cwd: Path | None = None, timeout: float = 300,
         **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run console tool ``name`` as its console script does (:func:`sim.exits.launch`), after ``patch`` code."""
    code = (f"import os, signal, sys\n{patch}\nfrom sim.exits import launch\n"
            f"sys.argv = [{name!r}, *{list(args)!r}]\nlaunch({name!r})\n")
    cmd = [sys.executable, "-c", code]
    if popen:
        return subprocess.Popen(cmd, cwd=cwd or REPO_ROOT, env=ENV, preexec_fn=default_sigint, **popen)
    return subprocess.run(cmd, cwd=cwd or REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=default_sigint)


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def interrupted_once(proc: subprocess.CompletedProcess) -> None:
    """Exit 130, no traceback, exactly one line on stderr saying it was interrupted."""
    assert proc.returncode == EXIT_INTERRUPTED, proc.stderr
    assert "Traceback" not in proc.stderr
    said = [ln for ln in lines(proc.stderr) if "nterrupted" in ln]
    assert len(said) == 1, proc.stderr


def tiny_sweep(tmp_path: Path, **body) -> Path:
    return write_experiment(tmp_path / "exp", "tiny", {**FACTORIAL, **body})


# Ctrl-C while a module the tool needs is being imported (the tool's start-up).
SIGINT_DURING_IMPORT = """
import importlib.abc
class _CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, _CtrlC())
"""

# The third batch written: the temporary file gets a few bytes, then the disk is full (or Ctrl-C arrives).
FAULT_ON_THIRD_WRITE = """
import pyarrow.parquet as _real
import sim.runs.store as _store
class _Parquet:
    calls = 0
    def __getattr__(self, name):
        return getattr(_real, name)
    def write_table(self, table, where, **kw):
        _Parquet.calls += 1
        if _Parquet.calls == 3:
            open(where, "wb").write(b"PAR1 half a batch")
            {fault}
        return _real.write_table(table, where, **kw)
_store.pq = _Parquet()
"""
ENOSPC = "raise OSError(28, 'No space left on device', str(where))"
CTRL_C = "os.kill(os.getpid(), signal.SIGINT)"


# --------------------------------------------------------------------------- damaged run-store batches

def damage(part: Path, how: str) -> None:
    data = part.read_bytes()
    if how == "truncate":
        part.write_bytes(data[: len(data) // 2])
    else:  # flip bits in the middle of the file: Parquet may still read it, with other numbers
        mid = len(data) // 2
        part.write_bytes(data[:mid] + bytes([data[mid] ^ 0xFF, data[mid + 1] ^ 0x55]) + data[mid + 2:])


def test_damaged_batches_are_named_set_aside_and_rerun(tmp_path: Path, capsys) -> None:
    path = tiny_sweep(tmp_path)
    out, ref = tmp_path / "out", tmp_path / "ref"
    args = ["workers=1", "batch_size=1", "analyze=false"]
    sweep(str(path), [f"out={out}", *args])
    sweep(str(path), [f"out={ref}", *args])
    parts = RunStore(out).all_parts()
    assert len(parts) == 12 and len(RunStore(out).manifest()) == 12
    damage(parts[0], "truncate")
    damage(parts[5], "flip")
    store = RunStore(out)
    assert {d.part.name for d in store.verify()} == {parts[0].name, parts[5].name}
    assert len(store.finished()) == 10  # damaged batches are never read: their runs count as not done

    from sim.runs.analyze import analyze  # the analysis names them and leaves them out, without a traceback

    analyze(out)
    assert parts[0].name in capsys.readouterr().err

    check = sweep(str(path), [f"out={out}", *args, "verify=true"])  # on demand: check and set aside, run nothing
    assert sorted(check.damaged) == sorted(f"damaged/{p.name}" for p in (parts[0], parts[5])) and check.ran == 0
    assert (out / "damaged" / parts[0].name).exists() and not parts[0].exists()

    again = sweep(str(path), [f"out={out}", *args])  # resume: the two runs run again, once each
    assert again.skipped == 10 and again.ran == 2 and not RunStore(out).verify()
    assert_each_run_once(out, {r.run_id for r in plan_of(path)}, steps_per_run=4)
    key = ["run_id", "step"]
    volatile = ["run_seconds", "session", "traceback"]
    pd.testing.assert_frame_equal(RunStore(out).read().drop(columns=volatile).sort_values(key).reset_index(drop=True),
                                  RunStore(ref).read().drop(columns=volatile).sort_values(key).reset_index(drop=True))


def test_damage_found_on_resume_without_verify(tmp_path: Path, capsys) -> None:
    path = tiny_sweep(tmp_path, replicates=1)
    out = tmp_path / "out"
    sweep(str(path), [f"out={out}", "workers=1", "batch_size=1", "analyze=false"])
    part = RunStore(out).all_parts()[1]
    damage(part, "flip")
    result = sweep(str(path), [f"out={out}", "workers=1", "batch_size=1", "analyze=false"])
    assert result.damaged == [f"damaged/{part.name}"] and result.ran == 1
    assert part.name in capsys.readouterr().err
    # a batch without a manifest line (a writer killed between rename and manifest) is adopted when readable
    (out / "runs" / "manifest.jsonl").write_text("")
    assert len(RunStore(out).parts()) == 4 and RunStore(out).adopt() == 4


def test_verify_true_exits_1_when_it_finds_damage(tmp_path: Path) -> None:
    path = tiny_sweep(tmp_path, replicates=1)
    out = tmp_path / "out"
    sweep(str(path), [f"out={out}", "workers=1", "batch_size=1", "analyze=false"])
    damage(RunStore(out).all_parts()[0], "truncate")
    proc = tool("sim-sweep", f"experiment={path}", f"out={out}", "verify=true")
    assert proc.returncode == EXIT_FAILED and "Traceback" not in proc.stderr
    assert "damaged batch file(s)" in proc.stderr and "1 damaged, set aside" in proc.stdout
    clean = tool("sim-sweep", f"experiment={path}", f"out={out}", "verify=true")
    assert clean.returncode == 0 and "all match their checksums" in clean.stdout


# --------------------------------------------------------------------------- full disk, unwritable folder

def test_full_disk_keeps_finished_runs_and_removes_temporary_files(tmp_path: Path) -> None:
    path = tiny_sweep(tmp_path)
    out = tmp_path / "out"
    proc = tool("sim-sweep", f"experiment={path}", f"out={out}", "workers=1", "batch_size=1", "progress=false",
                patch=FAULT_ON_THIRD_WRITE.format(fault=ENOSPC))
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr
    assert len([ln for ln in lines(proc.stderr) if "sim-sweep:" in ln]) == 1  # one paragraph
    assert "2 of 12 runs are saved" in proc.stderr
    assert not list(out.rglob(".tmp-*"))
    assert len(RunStore(out).finished()) == 2 and not RunStore(out).verify()
    again = sweep(str(path), [f"out={out}", "workers=1", "analyze=false"])
    assert again.skipped == 2 and again.ran == 10
    assert_each_run_once(out, {r.run_id for r in plan_of(path)}, steps_per_run=4)


def test_full_disk_while_sim_run_writes_gives_one_paragraph(tmp_path: Path) -> None:
    patch = ("import pandas as pd\n_orig = pd.DataFrame.to_parquet\n"
             "def _full(self, where, *a, **k):\n"
             "    open(where, 'wb').write(b'PAR1')\n"
             "    raise OSError(28, 'No space left on device', str(where))\n"
             "pd.DataFrame.to_parquet = _full\n")
    proc = tool("sim-run", "district.schools=3", "district.teachers_per_school=5", "steps=6", "run.replicates=2",
                "run.workers=1", "run.progress=false", "run.scenarios=[baseline]", "run.name=full",
                f"run.out={tmp_path}", patch=patch, cwd=tmp_path)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr
    assert len(lines(proc.stderr)) == 1
    assert not list(tmp_path.rglob(".tmp-*"))


@pytest.mark.parametrize("name", ["sim-run", "sim-sweep", "sim-calibrate"])
def test_unwritable_output_folder_exits_1_with_one_paragraph(name: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "out"
    args = {"sim-run": ["run.replicates=1", f"run.out={out}"],
            "sim-sweep": [f"experiment={tiny_sweep(tmp_path)}", f"out={out}"],
            "sim-calibrate": [f"survey={REPO_ROOT / 'experiments' / 'data' / 'synthetic_baseline.csv'}",
                              "experiment=calibrate_baseline", f"out={out}"]}[name]
    proc = tool(name, *args, cwd=tmp_path)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert "Traceback" not in proc.stderr and len(lines(proc.stderr)) == 1
    assert str(blocker) in proc.stderr and "not of the input" in proc.stderr


# --------------------------------------------------------------------------- Ctrl-C at every phase

@pytest.mark.parametrize("name", sorted(TOOLS))
def test_ctrl_c_during_start_up_exits_130_with_one_line(name: str, tmp_path: Path) -> None:
    proc = tool(name, "--help" if name == "sim-validate" else "x=1", patch=SIGINT_DURING_IMPORT, cwd=tmp_path)
    interrupted_once(proc)
    assert len(lines(proc.stderr)) == 1


def test_ctrl_c_while_a_batch_is_written_keeps_whole_batches(tmp_path: Path) -> None:
    path = tiny_sweep(tmp_path)
    out = tmp_path / "out"
    proc = tool("sim-sweep", f"experiment={path}", f"out={out}", "workers=1", "batch_size=1", "progress=false",
                patch=FAULT_ON_THIRD_WRITE.format(fault=CTRL_C))
    interrupted_once(proc)
    assert not list(out.rglob(".tmp-*")) and len(RunStore(out).finished()) == 2 and not RunStore(out).verify()


def test_ctrl_c_during_the_analysis_exits_130_keeping_the_runs(tmp_path: Path) -> None:
    path = tiny_sweep(tmp_path)
    out = tmp_path / "out"
    patch = ("import sim.runs.analyze as _a\n_orig = _a.summarize\n"
             "def _slow(*a, **k):\n    os.kill(os.getpid(), signal.SIGINT)\n    return _orig(*a, **k)\n"
             "_a.summarize = _slow\n")
    proc = tool("sim-sweep", f"experiment={path}", f"out={out}", "workers=1", "progress=false", patch=patch)
    interrupted_once(proc)
    assert len(RunStore(out).finished()) == 12 and not (out / "summary.csv").exists()
    analyzed = tool("sim-analyze", f"out={out}", patch=patch)  # sim-analyze alone, too
    interrupted_once(analyzed)


def test_ctrl_c_while_sim_run_writes_exits_130_without_temporary_files(tmp_path: Path) -> None:
    patch = ("import pandas as pd\n_orig = pd.DataFrame.to_parquet\n"
             "def _cut(self, where, *a, **k):\n"
             "    open(where, 'wb').write(b'PAR1')\n"
             "    os.kill(os.getpid(), signal.SIGINT)\n"
             "    return _orig(self, where, *a, **k)\n"
             "pd.DataFrame.to_parquet = _cut\n")
    proc = tool("sim-run", "district.schools=3", "district.teachers_per_school=5", "steps=6", "run.replicates=2",
                "run.workers=1", "run.progress=false", "run.scenarios=[baseline]", "run.name=cut",
                f"run.out={tmp_path}", patch=patch, cwd=tmp_path)
    interrupted_once(proc)
    assert not list(tmp_path.rglob(".tmp-*")) and not (tmp_path / "cut" / "timeseries.parquet").exists()


# --------------------------------------------------------------------------- two sim-runs, one name

@pytest.mark.slow
def test_a_second_sim_run_with_the_same_name_is_refused(tmp_path: Path) -> None:
    args = ["district.schools=10", "steps=50", "run.replicates=100000", "run.workers=1", "run.name=same",
            "run.scenarios=[baseline]", f"run.out={tmp_path}"]
    first = tool("sim-run", *args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = bytearray()
    reader = threading.Thread(target=lambda: [seen.extend(c) for c in iter(lambda: first.stderr.read(1), b"")],
                              daemon=True)
    reader.start()
    started = re.compile(rb"\b[1-9]\d*/100000\b")  # runs are going: the folder is locked
    deadline = time.monotonic() + 120
    while not started.search(bytes(seen)) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert first.poll() is None, bytes(seen).decode(errors="replace")
        second = tool("sim-run", *args, cwd=tmp_path)
        assert second.returncode == EXIT_BAD_INPUT, second.stderr
        assert "Another sim-run is writing to" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        status = first.wait(timeout=120)
        reader.join(timeout=10)
    assert status == EXIT_INTERRUPTED
    assert (tmp_path / "same" / "timeseries.parquet").exists()  # the first run's finished runs are kept


# --------------------------------------------------------------------------- inputs refused

def test_malformed_experiment_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    cases = {"tabs": "defaults: [sweep_schema, _self_]\nparameters:\n\tpolicy: 1\n",
             "bracket": "defaults: [sweep_schema, _self_]\nscenarios: [baseline\nreplicates: 2\n"}
    for name, text in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        proc = tool("sim-sweep", f"experiment={path}")
        assert proc.returncode == EXIT_BAD_INPUT and "Traceback" not in proc.stderr
        assert len(lines(proc.stderr)) == 1 and str(path) in proc.stderr
        assert re.search(r"line \d+, column \d+", proc.stderr)
        assert name != "tabs" or "not tabs" in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["run.scenarios=[baseline,baseline]"], ["more than once"]),
    (["run.scenarios=[baseline+]"], ["empty preset name"]),
    (["run.scenarios=[baseline,,flexibility]"], ["run.scenarios"]),
    (["init.survey=/etc/passwd"], ["init.survey", "/etc/passwd", "column 1"]),
    (["init.survey=/no/such/file.csv"], ["no such survey file"]),
])
def test_sim_run_refuses_up_front(args: list[str], words: list[str]) -> None:
    from sim.cli import check_inputs

    with pytest.raises(ConfigError) as info:
        check_inputs(args)
    msg = str(info.value)
    assert "\n" not in msg and "root:" not in msg  # one paragraph; an error about a file never prints its content
    for w in words:
        assert w in msg


def test_sim_run_refuses_before_writing_anything(tmp_path: Path) -> None:
    proc = tool("sim-run", "init.survey=/etc/passwd", f"run.out={tmp_path}", cwd=tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT and "Traceback" not in proc.stderr and len(lines(proc.stderr)) == 1
    assert "root:" not in proc.stderr and not list(tmp_path.iterdir())


def test_non_integer_seeds_are_refused() -> None:
    from sim.api import simulate, virtual_survey

    for bad in (1.5, True, -1, 2**32, "1"):
        with pytest.raises(ConfigError, match="seed"):
            simulate(seed=bad, overrides=["steps=1"])
    with pytest.raises(ConfigError, match="step"):
        virtual_survey(step=2.5, overrides=["steps=3"])
    assert len(simulate(seed=np.int64(3), overrides=["district.schools=2", "steps=2"])) == 3


def test_design_size_is_estimated_and_refused_above_the_limit(tmp_path: Path) -> None:
    from sim.runs.experiment import compose_experiment, parse_experiment

    path = tiny_sweep(tmp_path)
    with pytest.raises(ConfigError, match=r"4,000,000,000 runs .* CPU-hours .* GB of memory .* max_runs"):
        parse_experiment(compose_experiment(str(path), ["replicates=1000000000"]))
    lhs = write_experiment(tmp_path / "exp", "lhs", {"parameters": {"policy": {"goal_clarity": {"range": [0.1, 0.9]}}},
                                                     "design": {"method": "lhs", "samples": 10**12}})
    with pytest.raises(ConfigError, match="1,000,000,000,000 runs .* max_runs"):  # refused before it is drawn
        parse_experiment(compose_experiment(str(lhs)))
    exp = parse_experiment(compose_experiment(str(path), ["replicates=300000", "max_runs=1200000"]))
    assert exp.replicates == 300000  # raised explicitly: accepted (and not built here)


def test_dask_dashboard_listens_on_loopback_only() -> None:
    import urllib.request

    from sim.runs.executors import DaskExecutor

    with DaskExecutor(workers=1, processes=False) as ex:
        sockets = ex._cluster.scheduler.http_server._sockets.values()
        assert {s.getsockname()[0] for s in sockets} == {"127.0.0.1"}
        assert ex.dashboard.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(ex.dashboard, timeout=30) as page:  # bokeh serves the status page
            assert page.status == 200


# --------------------------------------------------------------------------- survey rows

HEADER = "respondent_id,district,school,wave,role,support,rigor"
GOOD = ["r1,d1,s1,20,teacher,4,2", "r2,d1,s1,20,teacher,3,1", "r3,d1,s2,20,teacher,5,3"]


def survey_file(directory: Path, text: str | bytes) -> Path:
    path = directory / "survey.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_blank_spreadsheet_rows_are_skipped_and_reported(tmp_path: Path) -> None:
    path = survey_file(tmp_path, "\n".join([HEADER, GOOD[0], ",,,,,,", GOOD[1], " , ,,,,, ", GOOD[2]]) + "\n")
    data = load_survey(path)
    assert len(data.frame) == 3 and data.blank_lines == (3, 5)
    assert "2 blank row(s) (every field empty) were skipped: line(s) 3, 5" in data.report()
    report, _ = summarise_survey(path)
    assert report == data.report()
    only_blank = survey_file(tmp_path, f"{HEADER}\n,,,,,,\n")
    with pytest.raises(SurveyDataError, match="no respondent rows .1 blank row"):
        load_survey(only_blank)


@pytest.mark.parametrize("bad, words", [
    (GOOD[1].replace("s1", "s\x001"), ["row 2 (line 3)", "column 'school'", "NUL byte"]),
    (GOOD[1].replace("s1", "s" + "x" * (200 * 1024)), ["row 2 (line 3)", "column 'school'", "128 KiB"]),
    (GOOD[1].replace(",3,", "," + "9" * 40 + ","), ["row 2 (line 3)", "column 'support'", "a 40-character value"]),
])
def test_nul_bytes_and_oversize_cells_are_refused_naming_row_and_column(bad: str, words: list[str],
                                                                         tmp_path: Path) -> None:
    path = survey_file(tmp_path, "\n".join([HEADER, GOOD[0], bad, GOOD[2]]) + "\n")
    for load in (load_survey, summarise_survey):
        with pytest.raises(SurveyDataError) as info:
            load(path)
        msg = str(info.value)
        assert str(path) in msg and "\n" not in msg and len(msg) < 2000
        for w in words:
            assert w in msg


def test_streaming_summary_equals_the_loaded_statistics(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = [f"r{i},d{i % 3},s{rng.integers(0, 12)},{rng.choice([0, 12, 24])},"
            f"{rng.choice(['teacher'] * 5 + ['coach'])},{rng.choice(['', '1', '2', '3', '4', '5'])},"
            f"{rng.integers(1, 6)}" for i in range(3000)]
    path = survey_file(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    data = load_survey(path)
    report, table = summarise_survey(path)
    assert report == data.report()
    pd.testing.assert_frame_equal(table, statistics_table(data.frame[data.frame["role"] == "teacher"], data.items),
                                  rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- property-based: survey loader

def _check_survey(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = survey_file(Path(d), raw)
        outcomes = []
        for load in (load_survey, summarise_survey):
            try:
                load(path)
                outcomes.append("ok")
            except SurveyDataError as exc:
                msg = str(exc)
                assert str(path) in msg and "\n" not in msg and len(msg) < 4000
                outcomes.append("refused")
        assert outcomes[0] == outcomes[1]  # the streaming check and the loader agree


@FAST
@given(st.binary(max_size=3000))
def test_survey_loader_on_arbitrary_bytes(raw: bytes) -> None:
    _check_survey(raw)


NASTY_CELLS = ["", " ", "NA", "nan", "inf", "-inf", "1e308", "-0", "3.0", "2.5", "６", "0x3", "\x00", "\t", "\r",
               '"', '"3"', ",", "é", "\u2028", "x" * 300, "5 ", "-1", "1200", "1201", "teacher", "TEACHER", "r1"]


@st.composite
def near_valid_survey(draw) -> bytes:
    rows = [HEADER.split(","), *[r.split(",") for r in GOOD]]
    for _ in range(draw(st.integers(0, 6))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(rows[r]) - 1))
        rows[r][c] = draw(st.sampled_from(NASTY_CELLS) | st.text(max_size=12))
    if draw(st.booleans()):
        rows.insert(draw(st.integers(1, len(rows))), [""] * 7)
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    text = sep.join(",".join(r) for r in rows) + draw(st.sampled_from(["", sep]))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])), errors="replace")


@FAST
@given(near_valid_survey())
def test_survey_loader_on_near_valid_files(raw: bytes) -> None:
    _check_survey(raw)


# --------------------------------------------------------------------------- property-based: experiment loader

def _check_experiment(text: bytes) -> None:
    from sim.runs.experiment import compose_experiment, parse_experiment

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.yaml"
        path.write_bytes(text)
        try:
            parse_experiment(compose_experiment(str(path), ["max_runs=2000"]))
        except ConfigError as exc:
            assert "\n" not in str(exc).strip()  # one paragraph


@SLOW
@given(st.binary(max_size=400))
def test_experiment_loader_on_arbitrary_bytes(text: bytes) -> None:
    _check_experiment(text)


YAML_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
                           | st.text(max_size=10), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
FIELDS = ["scenarios", "overrides", "parameters", "design", "replicates", "seed", "seeds", "steps", "record_every",
          "metrics", "analysis", "workers", "executor", "batch_size", "max_runs", "dask", "nonsense"]


@SLOW
@given(st.dictionaries(st.sampled_from(FIELDS), YAML_VALUES, max_size=3))
def test_experiment_loader_on_near_valid_files(changes: dict) -> None:
    doc = {"defaults": ["sweep_schema", "_self_"], "scenarios": ["baseline"], "steps": 6, "replicates": 1,
           "overrides": ["district.schools=2"], **changes}
    _check_experiment(yaml.safe_dump(doc, allow_unicode=True).encode())


# --------------------------------------------------------------------------- property-based: CLI parsers

PREFIXES = ["experiment=", "out=", "run.", "replicates=", "seed=", "steps=", "survey=", "workers=", "--", "=", "+",
            "~", "hydra.", "scenario=", "verify=", "district.schools=", ""]
ARGS = st.lists(st.tuples(st.sampled_from(PREFIXES), st.text(max_size=12)).map("".join), max_size=4)


def _parsed(fn, args) -> None:
    """``fn(args)`` returns (exit 0) or refuses with ConfigError or SystemExit 0/2 (exit 2); nothing else."""
    try:
        fn(args)
    except ConfigError as exc:
        assert str(exc)
    except SystemExit as exc:
        assert exc.code in (0, EXIT_BAD_INPUT, None)


@FAST
@given(ARGS)
def test_sim_analyze_and_sim_calibrate_parsers(args: list[str]) -> None:
    from sim.runs.analyze import parse_args as analyze_args
    from sim.calibration.calibrate import parse_args as calibrate_args

    _parsed(analyze_args, args)
    _parsed(calibrate_args, args)


@SLOW
@given(ARGS)
def test_sim_run_parser(args: list[str]) -> None:
    from sim.cli import check_inputs

    _parsed(check_inputs, [a for a in args if not a.startswith("-")])


@SLOW
@given(ARGS)
def test_sim_sweep_parser(args: list[str]) -> None:
    from sim.runs.sweep import check_args

    with tempfile.TemporaryDirectory() as d:
        _parsed(check_args, [*args, f"out={d}/o"] if not any(a.startswith("out=") for a in args) else args)


@FAST
@given(st.lists(st.text(max_size=10), max_size=4))
def test_sim_validate_parser(args: list[str]) -> None:
    from sim.validation.report import parse_args

    with open(os.devnull, "w") as null:
        stderr, sys.stderr = sys.stderr, null
        stdout, sys.stdout = sys.stdout, null
        try:
            _parsed(parse_args, args)
        finally:
            sys.stderr, sys.stdout = stderr, stdout


@pytest.mark.parametrize("name, args", [
    ("sim-run", ["=", "run.replicates=abc"]), ("sim-sweep", ["experiment=levers_factorial", "replicates=1.5"]),
    ("sim-analyze", ["out=/nonexistent"]),
    ("sim-calibrate", ["survey=\x01", "experiment=?", "out=o"]), ("sim-validate", ["replicates=zero"]),
    ("sim-app", ["port=99999"]),
])
def test_every_tool_refuses_bad_arguments_with_exit_2(name: str, args: list[str], tmp_path: Path) -> None:
    proc = tool(name, *args, cwd=tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip()


def test_init_survey_is_checked_when_the_configuration_is_composed(tmp_path: Path) -> None:
    bad = survey_file(tmp_path, f"{HEADER}\nr1,d1,s1,20,teacher,9,1\n")
    from sim.cli import check_inputs
    from sim.runs.experiment import compose_experiment, parse_experiment

    with pytest.raises(ConfigError, match="init.survey: .*outside the Likert scale"):
        check_inputs([f"init.survey={bad}"])
    path = write_experiment(tmp_path / "exp", "surveyed", {"overrides": ["district.schools=3", f"init.survey={bad}"]})
    with pytest.raises(ConfigError, match="init.survey: .*outside the Likert scale"):
        parse_experiment(compose_experiment(str(path)))
