"""Exit statuses of the command-line tools, and Ctrl-C as a clean exit.

Every tool exits 0 when done, 1 when a run failed (what finished is kept), 2 on
bad input (one paragraph naming the field, no traceback) and 130 on Ctrl-C
(what finished is kept). Tools that can be interrupted call
:func:`catch_ctrl_c` first.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "Interrupted", "catch_ctrl_c"]

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
