"""The Parquet dataset of a sweep (``<out>/runs/``), written batch by batch.

Each completed batch becomes one Parquet file, written under a temporary
name and renamed into place, so a file is either complete or absent: a sweep
killed at any moment (even with SIGKILL) leaves only whole runs behind, and
the next invocation skips exactly those. A lock file keeps two sweeps from
writing the same folder at once.

The manifest ``runs/manifest.jsonl`` records the SHA-256 checksum and size of
every batch file (one JSON line per write; the last line about a file wins).
Only batches that match their checksum are read: a batch damaged later
(truncated, bits flipped) is reported by :meth:`RunStore.verify`, moved to
``<out>/damaged/`` by :meth:`RunStore.set_aside`, and its runs count as not
done, so the next ``sim-sweep`` re-runs them. A batch without a manifest line
(a writer killed between the rename and the manifest line, or a store older
than the manifest) is adopted when Parquet can read it whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sim.files import atomic_path, folder_lock, remove_temporary

RUNS_DIR = "runs"
DAMAGED_DIR = "damaged"
MANIFEST = "manifest.jsonl"
LOCK_FILE = ".sweep.lock"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Damage:
    """A batch file that failed verification, and why."""

    part: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.part.name} ({self.reason})"


class RunStore:
    """Read and append the runs of one sweep output folder."""

    def __init__(self, out: Path | str) -> None:
        self.out = Path(out)
        self.dir = self.out / RUNS_DIR
        self._checked: dict[str, tuple[tuple[int, int], str | None]] = {}  # name -> (stat, reason or None)

    # -- the manifest -------------------------------------------------------------------------

    def manifest(self) -> dict[str, dict]:
        """``{part name: {"sha256", "bytes", "rows"}}``; torn or unreadable lines are ignored."""
        path = self.dir / MANIFEST
        entries: dict[str, dict] = {}
        if not path.is_file():
            return entries
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                    name = entry["part"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill or damaged: its file is then adopted or set aside
                if entry.get("removed"):
                    entries.pop(name, None)
                else:
                    entries[name] = entry
        return entries

    def _note(self, entry: dict) -> None:
        with open(self.dir / MANIFEST, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _record(self, part: Path, rows: int) -> None:
        self._note({"part": part.name, "sha256": file_sha256(part), "bytes": part.stat().st_size, "rows": rows})

    # -- verification -------------------------------------------------------------------------

    def all_parts(self) -> list[Path]:
        """Every batch file in the store, verified or not, sorted by name."""
        return sorted(self.dir.glob("part-*.parquet")) if self.dir.is_dir() else []

    def _problem(self, part: Path, entry: dict | None) -> str | None:
        """Why ``part`` cannot be trusted, or None (cached while the file is unchanged)."""
        st = part.stat()
        key = (st.st_size, st.st_mtime_ns)
        cached = self._checked.get(part.name)
        if cached and cached[0] == key:
            return cached[1]
        reason: str | None = None
        if entry is None:
            try:
                pq.read_table(part)
            except (OSError, pa.ArrowException) as exc:
                reason = f"not in the manifest and unreadable: {str(exc).splitlines()[0][:120]}"
        elif st.st_size != entry.get("bytes"):
            reason = f"{st.st_size} bytes where the manifest records {entry.get('bytes')} (truncated or extended)"
        elif file_sha256(part) != entry.get("sha256"):
            reason = "checksum differs from the manifest (bits changed)"
        self._checked[part.name] = (key, reason)
        return reason

    def verify(self) -> list[Damage]:
        """Batch files that fail their checksum (or, without a manifest line, cannot be read)."""
        manifest = self.manifest()
        return [Damage(p, reason) for p in self.all_parts() if (reason := self._problem(p, manifest.get(p.name)))]

    def parts(self) -> list[Path]:
        """Verified batch files, sorted by name (damaged ones are left out: their runs count as not done)."""
        manifest = self.manifest()
        return [p for p in self.all_parts() if self._problem(p, manifest.get(p.name)) is None]

    def set_aside(self, damaged: Sequence[Damage]) -> list[Path]:
        """Move damaged batches to ``<out>/damaged/`` (kept for inspection); return their new paths."""
        target = self.out / DAMAGED_DIR
        moved = []
        for d in damaged:
            target.mkdir(parents=True, exist_ok=True)
            dest = target / d.part.name
            os.replace(d.part, dest)
            self._note({"part": d.part.name, "removed": True, "reason": d.reason})
            moved.append(dest)
        return moved

    def adopt(self) -> int:
        """Add readable batches that lack a manifest line to the manifest; return how many."""
        manifest = self.manifest()
        adopted = 0
        for p in self.all_parts():
            if p.name not in manifest and self._problem(p, None) is None:
                self._record(p, pq.read_metadata(p).num_rows)
                adopted += 1
        return adopted

    # -- writing ------------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the folder (released by the OS even if the process is killed)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.out, LOCK_FILE, f"Another sim-sweep is writing to {self.out}; wait for it to "
                                              "finish or choose another out=DIR."):
            yield

    def clean(self) -> int:
        """Remove temporary files left by a killed writer; return how many."""
        return remove_temporary(self.dir)

    def write(self, table: pa.Table, session: int) -> Path:
        """Write one batch atomically as a new part file and record its checksum.

        On failure (a full disk) the temporary file is removed and the error raised.
        """
        import uuid

        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"part-s{session:03d}-{uuid.uuid4().hex[:12]}.parquet"
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        self._record(path, table.num_rows)
        return path

    # -- reading ------------------------------------------------------------------------------

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """All rows (or the given columns) of the verified batches as a DataFrame; empty when there are none."""
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
                self._note({"part": part.name, "removed": True, "reason": "retry_failed"})
                continue
            with atomic_path(part) as tmp:
                pq.write_table(table.filter(keep), tmp)
            self._record(part, n_keep)
        return removed
