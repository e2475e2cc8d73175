"""Writing output files safely: whole or absent, no temporary files left, one writer per folder.

Every tool writes its outputs through these helpers, so that a full disk, an
unwritable folder or Ctrl-C while writing never leaves a half-written file
under its final name nor a temporary file behind, and two processes never
write the same output folder at once.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.config import ConfigError

#: Prefix of temporary files (removed on failure; a killed writer's are removed by the next one).
TMP_PREFIX = ".tmp-"


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path next to ``path``: renamed onto ``path`` if the block succeeds, removed otherwise."""
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_writable(folder: Path | str) -> None:
    """Create ``folder`` if needed and check a file can be written in it; raise OSError if not.

    Called before a tool starts its work, so a read-only or missing output
    location is reported at once (exit status 1) rather than after the runs.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=TMP_PREFIX):
        pass


def remove_temporary(folder: Path | str) -> int:
    """Remove the temporary files a killed writer left in ``folder``; return how many."""
    folder = Path(folder)
    leftovers = list(folder.glob(f"{TMP_PREFIX}*")) if folder.is_dir() else []
    for p in leftovers:
        p.unlink(missing_ok=True)
    return len(leftovers)


@contextmanager
def folder_lock(folder: Path | str, lock_name: str, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (released by the OS even if the process is killed).

    Raises ConfigError with the message ``busy`` when another process holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / lock_name, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
