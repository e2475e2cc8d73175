"""The Parquet dataset of a sweep (``<out>/runs/``), written batch by batch.

Each completed batch becomes one Parquet file, written under a temporary
name and renamed into place, so a file is either complete or absent: a sweep
killed at any moment (even with SIGKILL) leaves only whole runs behind, and
the next invocation skips exactly those. A lock file keeps two sweeps from
writing the same folder at once.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sim.config import ConfigError

RUNS_DIR = "runs"
LOCK_FILE = ".sweep.lock"
TMP_PREFIX = ".tmp-"


class RunStore:
    """Read and append the runs of one sweep output folder."""

    def __init__(self, out: Path | str) -> None:
        self.out = Path(out)
        self.dir = self.out / RUNS_DIR

    def parts(self) -> list[Path]:
        """Completed part files, sorted by name."""
        return sorted(self.dir.glob("part-*.parquet")) if self.dir.is_dir() else []

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the folder (released by the OS even if the process is killed)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.out / LOCK_FILE, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(f"Another sim-sweep is writing to {self.out}; wait for it to finish or "
                                  "choose another out=DIR.") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def clean(self) -> int:
        """Remove temporary files left by a killed writer; return how many."""
        leftovers = list(self.dir.glob(f"{TMP_PREFIX}*")) if self.dir.is_dir() else []
        for p in leftovers:
            p.unlink(missing_ok=True)
        return len(leftovers)

    def write(self, table: pa.Table, session: int) -> Path:
        """Write one batch atomically as a new part file."""
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"part-s{session:03d}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = self.dir / f"{TMP_PREFIX}{name}"
        pq.write_table(table, tmp)
        os.replace(tmp, self.dir / name)
        return self.dir / name

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """All rows (or the given columns) as a DataFrame; empty when nothing was written."""
        parts = self.parts()
        if not parts:
            return pd.DataFrame(columns=list(columns or []))
        return ds.dataset([str(p) for p in parts], format="parquet").to_table(columns=columns).to_pandas()

    def finished(self) -> pd.DataFrame:
        """One row per recorded run: ``run_id`` and ``failed`` (whether it raised)."""
        rows = self.read(["run_id", "error"])
        if rows.empty:
            return pd.DataFrame({"run_id": pd.Series(dtype=str), "failed": pd.Series(dtype=bool)})
        return (rows.assign(failed=rows["error"].notna()).groupby("run_id", sort=False)["failed"].any()
                .reset_index())

    def drop_runs(self, run_ids: set[str]) -> int:
        """Rewrite the part files that hold any of ``run_ids`` without them; return rows removed."""
        removed = 0
        for part in self.parts():
            table = pq.read_table(part)
            keep = pc.invert(pc.is_in(table["run_id"], pa.array(sorted(run_ids))))
            n_keep = pc.sum(keep.cast(pa.int64())).as_py() or 0
            if n_keep == table.num_rows:
                continue
            removed += table.num_rows - n_keep
            if n_keep == 0:
                part.unlink()
                continue
            tmp = part.with_name(f"{TMP_PREFIX}{part.name}")
            pq.write_table(table.filter(keep), tmp)
            os.replace(tmp, part)
        return removed
