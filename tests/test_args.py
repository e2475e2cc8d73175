"""One command-line grammar: key=value for model and tool settings, hand-written --help, "did you mean"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sim.args import did_you_mean, parse
from sim.config import REPO_ROOT, ConfigError

TOOLS = {"sim-run": "sim.cli", "sim-sweep": "sim.runs.sweep", "sim-analyze": "sim.runs.analyze",
         "sim-calibrate": "sim.calibration.calibrate", "sim-validate": "sim.validation.report",
         "sim-app": "sim.app.page"}


def test_model_settings_and_tool_settings_share_one_grammar():
    args = parse("sim-x", ["district.schools=30", "workers=2", "policy.goal_clarity=0.8", "dask.address=h:1"],
                 ("workers",), prefixes=("dask.",))
    assert args.model == ["district.schools=30", "policy.goal_clarity=0.8"]
    assert args.tool == {"workers": "2", "dask.address": "h:1"}


@pytest.mark.parametrize(("argv", "hint"), [(["distrct.schools=3"], "district.schools"),
                                             (["wokers=2"], "workers"), (["--workers", "2"], "workers")])
def test_unknown_names_get_did_you_mean(argv, hint):
    with pytest.raises(ConfigError, match=f"Did you mean '{hint}'"):
        parse("sim-x", argv, ("workers", "out"))


def test_tools_without_model_settings_refuse_them():
    with pytest.raises(ConfigError, match="not a setting of sim-x"):
        parse("sim-x", ["district.schools=30"], ("out",), model=False)
    assert did_you_mean("zzzz", ["out"]) == ""


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_tool_prints_a_short_hand_written_help(tool):
    run = subprocess.run([sys.executable, "-m", TOOLS[tool], "--help"], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert 5 <= len(lines) < 60
    assert lines[0].startswith(("Usage: " + tool, "Usage: sim-app", "usage: sim-app")) or tool in run.stdout
    assert "Example" in run.stdout or "example" in run.stdout or tool == "sim-app"
    assert "Hydra" not in run.stdout and "== Config ==" not in run.stdout


def test_sweep_takes_model_settings_and_its_analysis_follows_the_run_length(tmp_path):
    from sim.runs.experiment import compose_experiment, follow_run_length, parse_experiment
    from sim.runs.sweep import check_args

    _, _, rest = check_args(["experiment=scenario_comparison", "district.schools=7", "steps=12",
                             f"out={tmp_path / 'o'}"])
    exp = parse_experiment(compose_experiment("scenario_comparison", rest))
    assert "district.schools=7" in exp.overrides
    assert exp.analysis.steps == [12]  # the experiment asks for 20 and 50; a 12-month run ends at 12
    assert follow_run_length([20, 50], 30) == [20, 30] and follow_run_length([20, 50], 50) == [20, 50]
    assert follow_run_length(None, 30) is None
    with pytest.raises(ConfigError, match="Did you mean 'district.schools'"):
        check_args(["experiment=scenario_comparison", "distrct.schools=7", f"out={tmp_path / 'o'}"])


def test_calibration_takes_model_settings_but_not_for_free_parameters():
    from sim.calibration.experiment import load_experiment, with_model_settings

    exp = load_experiment("calibrate_small")
    changed = with_model_settings(exp, ["district.schools=30", "policy.goal_clarity=0.8"])
    assert changed.fixed["district.schools"] == 30 and changed.fixed["policy.goal_clarity"] == 0.8
    assert "district.schools=30" in changed.overrides() and exp.fixed["district.schools"] != 30
    free = next(iter(exp.free))
    with pytest.raises(ConfigError, match="free parameter"):
        with_model_settings(exp, [f"{free}=0.5"])
    with pytest.raises(ConfigError, match="district.schools"):
        with_model_settings(exp, ["district.schools=-4"])


def test_a_yes_no_setting_is_true_or_false_and_nothing_else():
    from sim.args import parse
    from sim.config import ConfigError

    args = parse("tool", ["docs=true", "run=false", "x=yes"], ("docs", "run", "x", "y"), model=False)
    assert args.flag("docs") is True and args.flag("run") is False
    assert args.flag("y") is False and args.flag("y", default=True) is True  # unset: the default
    with pytest.raises(ConfigError, match=r"argument x='yes' must be true or false"):
        args.flag("x")


@pytest.mark.parametrize("module", ["sim.validation", "sim.runs.sensitivity"])
def test_every_tool_reads_yes_no_settings_the_same_way(module, tmp_path):
    """One parser (sim.args.yes_no) for every tool: any case of true/false is read, anything else exits 2."""
    import subprocess
    import sys

    from sim.args import yes_no

    assert yes_no("docs", "TRUE") is True and yes_no("docs", "False") is False
    run = subprocess.run([sys.executable, "-m", module, "progress=perhaps"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 2
    assert "argument progress='perhaps' must be true or false" in run.stderr and "Traceback" not in run.stderr
