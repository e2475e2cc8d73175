"""The lever factorial and its command (docs/validation.md, "Lever effects"), on a tiny district."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from sim.config import REPO_ROOT
from sim.validation.factorial import ALL_FOUR, RECOMMENDATIONS, factorial_labels, lever_table, run_factorial
from sim.validation.report import main

TINY = ("district.schools=4", "district.teachers_per_school=8", "steps=12")


def test_factorial_labels_cover_the_full_design():
    labels = factorial_labels()
    assert len(labels) == 16 and len(set(labels)) == 16
    assert labels[0] == "baseline" and labels[-1] == ALL_FOUR
    for factor in RECOMMENDATIONS:
        assert sum(factor in label.split("+") for label in labels) == 8


def test_lever_table_effects_are_paired_differences_of_the_cells():
    ts = run_factorial(3, workers=1, progress=False, extra=(), overrides=TINY)
    assert ts.attrs["complete"] and ts["scenario"].nunique() == 16
    table = lever_table(ts, metrics=("teacher_adoption",), step=12)
    at = ts[ts["step"] == 12].pivot(index="replicate", columns="scenario", values="teacher_adoption")
    row = table[(table["comparison"] == "vs baseline") & (table["scenario"] == "flexibility")].iloc[0]
    assert row["effect"].mean == pytest.approx((at["flexibility"] - at["baseline"]).mean())
    on = [c for c in at.columns if "adult_learning" in c.split("+")]
    off = [c for c in at.columns if c not in on]
    main = table[(table["comparison"] == "main effect") & (table["scenario"] == "adult_learning")].iloc[0]
    assert main["effect"].mean == pytest.approx((at[on].mean(axis=1) - at[off].mean(axis=1)).mean())
    inter = table[table["comparison"] == "interaction"].iloc[0]["effect"]
    alone = sum(at[f] - at["baseline"] for f in RECOMMENDATIONS)
    assert inter.mean == pytest.approx(np.mean(at[ALL_FOUR] - at["baseline"] - alone))
    assert inter.lo <= inter.mean <= inter.hi


@pytest.mark.parametrize(("args", "expected"), [(["replicates=0"], "positive integer"),
                                                (["workers=-1"], "workers=-1"),
                                                (["replicats=3"], "Did you mean 'replicates'"),
                                                (["--replicates", "3"], "not of the form key=value")])
def test_command_rejects_bad_arguments_with_exit_status_2(args, expected, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err


def test_command_exits_2_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "sim.validation", "replicates=none"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert run.returncode == 2
    assert "replicates='none'" in run.stderr and "Traceback" not in run.stderr
