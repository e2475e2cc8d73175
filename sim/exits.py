"""Exit statuses of the command-line tools, and Ctrl-C as a clean exit.

Every tool exits 0 when done, 1 when a run or the machine failed (a full
disk, an unwritable folder: one paragraph, what finished is kept), 2 on bad
input (one paragraph naming the field, no traceback) and 130 on Ctrl-C at any
phase (one line, what finished is kept). The console scripts start through
:func:`launch`, which catches Ctrl-C before the heavy modules are imported;
tools that can be interrupted also call :func:`catch_ctrl_c` first.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "Interrupted", "catch_ctrl_c", "launch",
           "machine_failure", "machine_failures"]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT), raised by the handler that :func:`catch_ctrl_c` installs.

    A subclass on purpose: CPython 3.11 remembers a plain ``KeyboardInterrupt``
    that escapes code run by ``exec`` of a string (scipy.stats builds its
    distributions that way, and pyabc builds them every generation) and, at
    the exit of a ``python -m`` run, kills the process with SIGINT although the
    tool handled it: the exit status is then -2 instead of 130. CPython
    compares the exact type, so a subclass is not remembered, and
    ``except KeyboardInterrupt`` still catches it.
    """


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted


def catch_ctrl_c() -> None:
    """Make Ctrl-C raise :class:`Interrupted` in this process.

    Only from the main thread and only over Python's default handler, so an
    ignored SIGINT (``nohup``, a background job) stays ignored.
    """
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        signal.signal(signal.SIGINT, _raise_interrupted)


def machine_failure(tool: str, exc: OSError, kept: str = "") -> str:
    """One paragraph for a failure of the machine (disk full, folder not writable or missing).

    Names the file and the reason, says what was kept and what to do; no
    traceback. ``kept`` says where finished work is (empty: nothing to keep).
    """
    where = f" {exc.filename}" if exc.filename else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return (f"{tool}: could not read or write{where}: {reason}. This is a problem of the machine (a full disk, "
            "a folder that is not writable or was removed), not of the input. "
            + (f"{kept} " if kept else "") + "Free some space or choose a writable output folder, then run the "
            "same command again.")


@contextmanager
def machine_failures(tool: str, kept: str = "") -> Iterator[None]:
    """Turn an :class:`OSError` escaping the block into one paragraph on stderr and exit status 1.

    Used inside Hydra apps, whose own handler would print a traceback.
    """
    try:
        yield
    except OSError as exc:
        print(machine_failure(tool, exc, kept), file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None


#: Console scripts -> the module whose ``main()`` each runs (see :func:`launch`).
TOOLS = {"sim-run": "sim.cli", "sim-sweep": "sim.runs.sweep", "sim-analyze": "sim.runs.analyze",
         "sim-calibrate": "sim.calibration.calibrate", "sim-validate": "sim.validation.report",
         "sim-app": "sim.app.page"}


def launch(tool: str) -> None:
    """Run the tool ``tool`` (a key of :data:`TOOLS`) with the shared exit statuses at every phase.

    Ctrl-C is caught from the first instant (also while the heavy modules are
    imported, and during analysis and writing): one line on stderr, exit 130.
    An :class:`OSError` (disk full, unwritable folder) gives one paragraph and
    exit 1; a :class:`sim.config.ConfigError` that a tool did not catch
    itself gives its message and exit 2. Never a traceback for these.
    """
    import importlib

    catch_ctrl_c()
    try:
        from sim.config import ConfigError

        try:
            importlib.import_module(TOOLS[tool]).main()
        except ConfigError as exc:
            print(f"{tool}: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT) from None
        except OSError as exc:
            print(machine_failure(tool, exc), file=sys.stderr)
            raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        print(f"{tool}: interrupted (Ctrl-C); results finished before it are kept.", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None


def _entry(tool: str) -> Callable[[], None]:
    def main() -> None:
        launch(tool)

    main.__doc__ = f"Console entry point of ``{tool}`` (see :func:`launch`)."
    return main


sim_run, sim_sweep, sim_analyze, sim_calibrate, sim_validate, sim_app = (_entry(t) for t in TOOLS)
