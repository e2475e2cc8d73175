"""Exit statuses and Ctrl-C handling shared by the command-line tools (sim.exits)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from sim.config import REPO_ROOT
from sim.exits import EXIT_INTERRUPTED, Interrupted, catch_ctrl_c
from tests.conftest import default_sigint

# Ctrl-C arrives while code built by exec() of a string runs (scipy.stats and pyabc do this), and the tool
# handles it. On CPython 3.11 a plain KeyboardInterrupt escaping such code made the process die by SIGINT
# (status -2) at exit anyway when run as ``python -m`` (as the tools are); sim-calibrate's Ctrl-C test failed
# so on CI.
HANDLED_IN_EXEC = """
import os, signal, sys, time
from sim.exits import EXIT_INTERRUPTED, catch_ctrl_c
catch_ctrl_c()
try:
    exec("import os, signal, time\\nos.kill(os.getpid(), signal.SIGINT)\\ntime.sleep(30)")
except KeyboardInterrupt:
    sys.exit(EXIT_INTERRUPTED)
"""


def test_ctrl_c_handled_after_exec_of_a_string_exits_130(tmp_path):
    (tmp_path / "handled_in_exec.py").write_text(HANDLED_IN_EXEC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "handled_in_exec"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, preexec_fn=default_sigint)
    assert proc.returncode == EXIT_INTERRUPTED, proc.stderr


def test_catch_ctrl_c_raises_a_keyboard_interrupt_and_keeps_an_ignored_sigint():
    before = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        catch_ctrl_c()
        with pytest.raises(KeyboardInterrupt) as exc:
            signal.raise_signal(signal.SIGINT)
        assert type(exc.value) is Interrupted
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # nohup, background jobs: stays ignored
        catch_ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
