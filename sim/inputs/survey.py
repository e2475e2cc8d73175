"""Teacher survey data: load and validate a survey CSV, and compute its summary statistics.

The schema is documented in docs/survey.md: one row per respondent with
``respondent_id``, ``district``, ``school``, ``wave`` (months since the
initiative started, i.e. the model step), ``role`` and any of the Likert (1-5)
items of :data:`sim.district.survey.ITEMS`; empty cells are missing answers. Bad files
are refused with a :class:`SurveyDataError` (a :class:`sim.config.ConfigError`)
naming the file, row and column, so command-line tools can exit with status 2.
Nothing is dropped silently: rows with missing answers are kept, counted and
reported by :meth:`SurveyData.report`.

The summary statistics (:func:`statistics_table`) are the moments the
calibration compares between a survey and the model's virtual survey; docs/
calibration.md says which parameter each one informs.

Run ``python -m sim.inputs.survey PATH`` to check a file and print its statistics.
"""

from __future__ import annotations

import collections
import csv
import difflib
import functools
import hashlib
import io
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.config import ConfigError
from sim.district.survey import ITEMS
from sim.exits import EXIT_BAD_INPUT

#: Columns every survey file must have.
REQUIRED = ("respondent_id", "district", "school", "wave", "role")
#: Columns a survey file may have besides the required ones and the items.
OPTIONAL = ("teacher",)
#: Allowed values of ``role``.
ROLES = ("teacher", "coach", "principal", "other")
#: Cell texts read as a missing answer (case-insensitive), besides the empty cell.
MISSING_MARKERS = ("", "na", "n/a", "nan", ".")
#: Largest survey wave (months), as for ``steps`` in scenarios/config.yaml.
MAX_WAVE = 1200
#: Answers at or above this count as "high" (agree / strongly agree).
HIGH = 4
#: Summary statistics, in the order they are reported.
STATISTICS = ("mean", "school_sd", "high_share", "icc", "pocket_share")
_MAX_LISTED = 5


class SurveyDataError(ConfigError):
    """A survey file that does not follow the schema of docs/survey.md."""


@dataclass(frozen=True)
class SurveyData:
    """A validated survey.

    Attributes
    ----------
    path : Path
        The file read.
    frame : pandas.DataFrame
        One row per respondent, in file order. Identifiers are text, ``wave``
        an integer, item answers nullable integers (``<NA>`` = missing answer).
    items : tuple of str
        Item columns present in the file (a subset of :data:`sim.district.survey.ITEMS`).
    missing_by_item : dict
        Number of missing answers per item.
    rows_with_missing : int
        Respondents with at least one missing answer (kept, not dropped).
    blank_lines : tuple of int
        Lines of rows whose fields are all empty (blank spreadsheet rows): skipped, and reported.
    sha256 : str
        Hash of the file's bytes (recorded with calibrations).
    """

    path: Path
    frame: pd.DataFrame
    items: tuple[str, ...]
    missing_by_item: dict[str, int] = field(default_factory=dict)
    rows_with_missing: int = 0
    sha256: str = ""
    blank_lines: tuple[int, ...] = ()  # lines of rows whose fields are all empty (skipped)

    def report(self) -> str:
        """One paragraph: respondents, schools, waves, roles and missing answers."""
        f = self.frame
        return _report(self.path, len(f), dict(f["role"].value_counts()), f.groupby(["district", "school"]).ngroups,
                       f["district"].nunique(), sorted(f["wave"].unique()), self.items, self.missing_by_item,
                       self.rows_with_missing, self.blank_lines)


def _report(path: Path, respondents: int, roles: dict[str, int], schools: int, districts: int, waves: list,
            items: tuple[str, ...], missing_by_item: dict[str, int], rows_with_missing: int,
            blank_lines: Sequence[int]) -> str:
    roles_text = ", ".join(f"{n} {r}" for r, n in sorted(roles.items(), key=lambda kv: (-kv[1], kv[0])))
    missing = ", ".join(f"{k} {v}" for k, v in missing_by_item.items() if v) or "none"
    return (f"{path}: {respondents} respondents ({roles_text}) in {schools} schools of {districts} district(s), "
            f"wave(s) {', '.join(str(int(w)) for w in waves)}; {len(items)} items. {rows_with_missing} respondents "
            f"have at least one missing answer (kept; statistics use the answers given). Missing answers per item: "
            f"{missing}." + (f" {len(blank_lines)} blank row(s) (every field empty) were skipped: line(s) "
                             f"{', '.join(map(str, blank_lines[:_MAX_LISTED]))}"
                             f"{' ...' if len(blank_lines) > _MAX_LISTED else ''}." if blank_lines else ""))


class _Moments:
    """Per wave, school and item: count, sum, sum of squares, high answers (teachers), plus report counts."""

    def __init__(self, items: tuple[str, ...]) -> None:
        self.items = items
        self.respondents = 0
        self.rows_with_missing = 0
        self.roles: dict[str, int] = {}
        self.missing = dict.fromkeys(items, 0)
        self.schools: dict[tuple[str, str], int] = {}
        self.waves: set[int] = set()
        self.teacher_waves: set[int] = set()
        self.parts: list[pd.DataFrame] = []

    def add(self, chunk: pd.DataFrame) -> None:
        self.respondents += len(chunk)
        for role, n in chunk["role"].value_counts().items():
            self.roles[role] = self.roles.get(role, 0) + int(n)
        na = chunk[list(self.items)].isna()
        self.rows_with_missing += int(na.any(axis=1).sum())
        for item in self.items:
            self.missing[item] += int(na[item].sum())
        keys = list(zip(chunk["district"], chunk["school"]))
        codes = np.fromiter((self.schools.setdefault(k, len(self.schools)) for k in keys), np.int64, len(keys))
        self.waves.update(int(w) for w in np.unique(chunk["wave"]))
        teachers = (chunk["role"] == "teacher").to_numpy()
        self.teacher_waves.update(int(w) for w in np.unique(chunk["wave"].to_numpy()[teachers]))
        for item in self.items:
            x = chunk[item].to_numpy(dtype=float, na_value=np.nan)[teachers]
            ok = ~np.isnan(x)
            x = x[ok]
            df = pd.DataFrame({"wave": chunk["wave"].to_numpy()[teachers][ok], "school": codes[teachers][ok],
                               "n": 1.0, "s": x, "ss": x * x, "h": (x >= HIGH).astype(float)})
            part = df.groupby(["wave", "school"], sort=False)[["n", "s", "ss", "h"]].sum().reset_index()
            self.parts.append(part.assign(item=item))
        if len(self.parts) > 20 * len(self.items):  # keep the moments as small as the schools and waves
            self.parts = [pd.concat(self.parts, ignore_index=True).groupby(["item", "wave", "school"], sort=False)
                          .sum().reset_index()]

    def table(self, spec: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
        """The statistics of :func:`statistics_table` from the accumulated moments."""
        spec = statistics_spec(self.items if spec is None else spec)
        acc = pd.concat(self.parts, ignore_index=True).groupby(["item", "wave", "school"], sort=False).sum()
        rows = []
        for wave in sorted(self.teacher_waves):
            for item, wanted in spec.items():
                try:
                    g = acc.xs((item, wave), level=("item", "wave"))
                except KeyError:
                    g = acc.iloc[:0]
                values = _moment_statistics(g["n"].to_numpy(), g["s"].to_numpy(), g["ss"].to_numpy(),
                                            g["h"].to_numpy(), wanted)
                rows += [(wave, item, stat, values[stat], f"{stat}:{item}:w{wave}") for stat in wanted]
        return pd.DataFrame(rows, columns=["wave", "item", "statistic", "value", "name"])


def _moment_statistics(n_j: np.ndarray, s_j: np.ndarray, ss_j: np.ndarray, h_j: np.ndarray,
                       wanted: tuple[str, ...]) -> dict[str, float]:
    """:func:`_item_statistics` from per-school count, sum, sum of squares and high answers."""
    has = n_j > 0
    n_j, s_j, ss_j, h_j = n_j[has], s_j[has], ss_j[has], h_j[has]
    n = n_j.sum()
    if n == 0:
        return dict.fromkeys(wanted, np.nan)
    m_j = s_j / n_j
    mean = s_j.sum() / n
    out: dict[str, float] = {}
    if "mean" in wanted:
        out["mean"] = float(mean)
    if "school_sd" in wanted:
        out["school_sd"] = float(m_j.std())
    if "high_share" in wanted:
        out["high_share"] = float(h_j.sum() / n)
    if "icc" in wanted:
        kk, icc = len(n_j), 0.0
        if kk > 1 and n > kk:
            msw = float(max((ss_j - n_j * m_j ** 2).sum(), 0.0)) / (n - kk)
            msb = float((n_j * (m_j - mean) ** 2).sum()) / (kk - 1)
            n0 = (n - (n_j ** 2).sum() / n) / (kk - 1)
            var_b = max(0.0, (msb - msw) / n0)
            icc = var_b / (var_b + msw) if var_b + msw > 0 else 0.0
        out["icc"] = float(icc)
    if "pocket_share" in wanted:
        out["pocket_share"] = float(((h_j > 0) & (m_j < 3)).mean())
    return out


def _where(path: Path, row: int | None, line: int | None, column: str | None) -> str:
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)


def _show(text: str, limit: int = 24) -> str:
    """A cell quoted in a message only when short and plain; otherwise described (never a file's content)."""
    if len(text) <= limit and text.isprintable():
        return repr(text)
    return f"a {len(text)}-character value"


def _decode(path: Path, raw: bytes, lines_before: int = 0, header: list[str] | None = None,
            first: bool = True) -> str:
    """Decode a block of whole lines; SurveyDataError naming row, line and column if it is not UTF-8."""
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        line = lines_before + before.count(b"\n") + 1
        if header is None:
            header = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().split(",")
        field_no = before.rsplit(b"\n", 1)[-1].count(b",")
        column = header[field_no].strip() if line > 1 and field_no < len(header) else None
        column = column if column in (*REQUIRED, *OPTIONAL, *ITEMS) else None
        raise SurveyDataError(
            f"{_where(path, line - 1 if line > 1 else None, line, column)}: byte 0x{raw[exc.start]:02x} is not "
            f"valid UTF-8 (the file seems to use another encoding, e.g. Windows-1252 or Latin-1). Save the survey "
            f"as UTF-8 CSV; see docs/survey.md.") from None


def _sniff_delimiter(header: str) -> str | None:
    counts = {d: header.count(d) for d in (";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] and "," not in header else None


def _header(path: Path, names: list[str]) -> list[str]:
    names = [n.strip() for n in names]
    allowed = (*REQUIRED, *OPTIONAL, *ITEMS)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SurveyDataError(f"{path}: line 1 (header) repeats column(s) {', '.join(map(_show, dupes))}; each "
                              "column may appear once.")
    unknown = [n for n in names if n not in allowed]
    if unknown:
        shown = {u: _show(u) if _show(u).startswith("'") else f"{_show(u)[:-6]} name in column {names.index(u) + 1}"
                 for u in unknown}
        hints = [f"{shown[u]} (did you mean '{h[0]}'?)" if (h := difflib.get_close_matches(u, allowed, n=1))
                 else shown[u] for u in unknown[:_MAX_LISTED]]
        more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
        raise SurveyDataError(
            f"{path}: line 1 (header), unknown column(s) {', '.join(hints)}{more}. Allowed columns: required "
            f"{', '.join(REQUIRED)}; optional {', '.join(OPTIONAL)}; items {', '.join(ITEMS)} (see docs/survey.md).")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise SurveyDataError(f"{path}: line 1 (header) lacks required column(s) {', '.join(missing)}. Required "
                              f"columns: {', '.join(REQUIRED)} (see docs/survey.md).")
    if not any(n in ITEMS for n in names):
        raise SurveyDataError(f"{path}: line 1 (header) has no survey item column; at least one of "
                              f"{', '.join(ITEMS)} is needed (see docs/survey.md).")
    return names


def _integer(text: str) -> int | None:
    """The integer a cell holds ('3', '3.0'), or None if it is not an integer."""
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if np.isfinite(value) and value == int(value) else None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Largest cell (characters): what Python's csv module accepts by default; longer cells are refused.
MAX_CELL = 128 * 1024
#: Bytes read and validated at a time (whole lines), so memory does not grow with the file's size.
BLOCK_BYTES = 4 << 20
_ROW_CHUNK = 20_000


def _blocks(path: Path, state: dict) -> Iterator[str]:
    """The file's text in blocks of whole lines, checked for UTF-8 and NUL bytes (``state`` counts lines)."""
    with open(path, "rb") as fh:
        rest = b""
        first = True
        while True:
            chunk = fh.read(BLOCK_BYTES)
            data = rest + chunk
            if not chunk:
                block, rest = data, b""
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) < 4 * BLOCK_BYTES:
                    rest = data
                    continue
                block, rest = (data[:cut], data[cut:]) if cut else (data, b"")
            if block:
                text = _decode(path, block, state["lines"], state.get("header"), first)
                if "\x00" in text:
                    at = text.index("\x00")
                    line = state["lines"] + text.count("\n", 0, at) + 1
                    field_no = text[text.rfind("\n", 0, at) + 1:at].count(",")
                    header = state.get("header") or []
                    column = header[field_no] if line > 1 and field_no < len(header) else None
                    raise SurveyDataError(f"{_where(path, line - 1 if line > 1 else None, line, column)}: the file "
                                          "contains a NUL byte (a binary file, or a damaged export); a survey is a "
                                          "UTF-8 text CSV (see docs/survey.md).")
                state["lines"] += text.count("\n")
                first = False
                yield text
            if not chunk:
                return


def _lines(path: Path, state: dict) -> Iterator[str]:
    """Lines of the file as the csv module expects them (newline characters kept); remembers the last ones."""
    for block in _blocks(path, state):
        start = 0
        while start < len(block):  # split at "\n" only (a "\r\n" stays whole), without copying the block
            end = block.find("\n", start)
            end = len(block) if end < 0 else end + 1
            line = block[start:end]
            start = end
            state["recent"].append(line)
            yield line


def _too_long(path: Path, state: dict, row: int, line: int) -> SurveyDataError:
    text = "".join(state["recent"])
    fields = text.split(",")
    header = state.get("header") or []
    at = next((i for i, f in enumerate(fields) if len(f) > MAX_CELL), None)
    column = header[at] if at is not None and at < len(header) else None
    return SurveyDataError(f"{_where(path, row if header else None, line, column)}: a cell is longer than "
                           f"{MAX_CELL // 1024} KiB (the limit for a survey cell; answers are short codes and "
                           "numbers); the file is not a survey export or is damaged (see docs/survey.md).")


class _Columns:
    """Validated rows gathered chunk by chunk into compact typed arrays."""

    def __init__(self, names: list[str], items: tuple[str, ...], keep: bool = True) -> None:
        self.names, self.items, self.keep = names, items, keep
        self.moments = _Moments(items) if not keep else None
        self.text = ("respondent_id", "district", "school", "role")
        self.chunks: dict[str, list] = {n: [] for n in names}
        self.rows: list[list] = []
        self.row_numbers: list[int] = []
        self.row_chunks: list[np.ndarray] = []
        self.hashes: list[np.ndarray] = []

    def add(self, values: list, row: int, line: int) -> None:
        self.rows.append(values)
        self.row_numbers.append((row, line))
        if len(self.rows) >= _ROW_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        cols = list(zip(*self.rows))
        chunk: dict[str, Any] = {}
        for i, n in enumerate(self.names):
            if n in self.text:
                chunk[n] = pd.array(cols[i], dtype="str")
            elif n == "wave":
                chunk[n] = np.asarray(cols[i], dtype=np.int64)
            else:
                chunk[n] = pd.array(cols[i], dtype="Int32" if n == "teacher" else "Int8")
        if self.keep:
            for n, values in chunk.items():
                self.chunks[n].append(values)
        else:
            self.moments.add(pd.DataFrame(chunk))
        ids = cols[self.names.index("respondent_id")]
        self.hashes.append(np.fromiter((hash(x) for x in ids), dtype=np.int64, count=len(ids)))
        if self.keep:  # streaming, rows and lines of duplicates are found again by reading the file
            self.row_chunks.append(np.asarray(self.row_numbers, dtype=np.int64).reshape(-1, 2))
        self.rows, self.row_numbers = [], []

    def frame(self) -> pd.DataFrame:
        self.flush()
        if not self.hashes:
            return pd.DataFrame()
        out = {}
        for n in ("respondent_id", "district", "school", "wave", "role", *OPTIONAL, *self.items):
            if n in self.chunks:
                parts = self.chunks.pop(n)
                out[n] = (np.concatenate(parts) if n == "wave" else pd.concat([pd.Series(p) for p in parts],
                                                                               ignore_index=True))
        return pd.DataFrame(out)

    def duplicates(self, ids: pd.Series | _LazyIds) -> list[tuple[int, int, int, str]]:
        """``(row, line, first row, id)`` of repeated respondent ids (64-bit hashes, then compared exactly)."""
        h = np.concatenate(self.hashes) if self.hashes else np.empty(0, np.int64)
        rows = (np.concatenate(self.row_chunks) if self.row_chunks else np.empty((0, 2), np.int64)) if self.keep \
            else getattr(ids, "rows", None)
        order = np.argsort(h, kind="stable")
        same = h[order][1:] == h[order][:-1]
        if not same.any():
            return []
        candidates = np.unique(order[np.concatenate([[False], same]) | np.concatenate([same, [False]])])
        if rows is None:  # streaming: read the candidates' ids, rows and lines again
            ids = ids(set(candidates.tolist()))
            rows = ids.rows
        seen: dict[str, int] = {}
        out = []
        for i in candidates:  # in file order
            rid = ids.iloc[int(i)]
            if rid in seen:
                out.append((int(rows[i][0]), int(rows[i][1]), seen[rid], rid))
            else:
                seen[rid] = int(rows[i][0])
        return out


def load_survey(path: str | Path) -> SurveyData:
    """Read and validate a survey CSV (schema: docs/survey.md), in bounded memory.

    The file is read and validated in blocks, and the respondents are kept in
    compact columns (item answers as 1-byte integers), so a survey of many
    times 50 MB loads in a few hundred MB (docs/robustness.md).

    Parameters
    ----------
    path : str or Path
        Comma-separated, UTF-8 file with a header line.

    Returns
    -------
    SurveyData

    Raises
    ------
    SurveyDataError
        Missing or unreadable file, wrong encoding or delimiter, NUL bytes,
        a cell over 128 KiB, empty file, unknown or missing columns, ragged
        rows, non-numeric or out-of-range answers, bad waves or roles,
        duplicate respondent ids. The message names the file, the row (data
        rows count from 1; line = line of the file) and the column, lists up
        to five problems, and never quotes more of the file than a short cell.
        Rows whose fields are all empty (what spreadsheets export for blank
        rows) are skipped and reported by :meth:`SurveyData.report`.
    """
    path = Path(path)
    columns, sha, blank_lines = _read(path, keep=True)
    frame = columns.frame()
    _refuse_duplicates(path, columns, frame["respondent_id"] if not frame.empty else None)
    if frame.empty:
        raise SurveyDataError(f"{path}: the file has a header but no respondent rows"
                              + (f" ({len(blank_lines)} blank row(s) only)" if blank_lines else "")
                              + " (see docs/survey.md).")
    items = columns.items
    missing_by_item = {item: int(frame[item].isna().sum()) for item in items}
    rows_with_missing = int(frame[list(items)].isna().any(axis=1).sum())
    return SurveyData(path=path, frame=frame, items=items, missing_by_item=missing_by_item,
                      rows_with_missing=rows_with_missing, sha256=sha, blank_lines=tuple(blank_lines))


def _refuse_duplicates(path: Path, columns: _Columns, ids: pd.Series | None) -> None:
    """SurveyDataError listing repeated respondent ids (``ids``: the id column, or None to read them again)."""
    found = columns.duplicates(ids if ids is not None else _ids_again(path, columns.names.index("respondent_id")))
    if found:
        errors = [f"{_where(path, r, line, 'respondent_id')}: duplicate respondent id {_show(rid)} (first on row "
                  f"{first}); ids must be unique." for r, line, first, rid in found]
        more = f" ... and {len(errors) - _MAX_LISTED} more problem(s)." if len(errors) > _MAX_LISTED else ""
        raise SurveyDataError(f"{len(errors)} problem(s) in the survey (see docs/survey.md): "
                              + " ".join(errors[:_MAX_LISTED]) + more)


@dataclass
class _LazyIds:
    """Respondent ids, data rows and lines of some respondents (by position), read again from the file."""

    iloc: dict[int, str]
    rows: dict[int, tuple[int, int]]


def _ids_again(path: Path, index: int):
    """A function of the wanted positions that reads their ids, rows and lines again (only when ids may repeat)."""

    def read(wanted: set[int]) -> _LazyIds:
        state: dict[str, Any] = {"lines": 0, "recent": collections.deque(maxlen=1)}
        reader = csv.reader(_lines(path, state))
        next(reader)
        ids, rows, i, row_no = {}, {}, 0, 0
        for row in reader:
            if not row:
                continue
            row_no += 1
            if any(c.strip() for c in row):
                if i in wanted:
                    ids[i], rows[i] = row[index].strip(), (row_no, reader.line_num)
                i += 1
        return _LazyIds(ids, {k: np.asarray(v) for k, v in rows.items()})

    return read


def summarise_survey(path: str | Path) -> tuple[str, pd.DataFrame]:
    """Validate a survey and compute its report and the statistics of its teacher answers, streaming.

    The same checks as :func:`load_survey`, but the respondents are not kept:
    per wave, school and item the count, sum, sum of squares and count of
    high answers are accumulated block by block, so memory stays bounded
    (about 8 bytes per respondent for the duplicate-id check) whatever the
    file's size. The statistics equal :func:`statistics_table` of the
    teacher rows (up to floating-point rounding).

    Returns
    -------
    report : str
        As :meth:`SurveyData.report`.
    table : DataFrame
        As :func:`statistics_table`.
    """
    path = Path(path)
    columns, _sha, blank_lines = _read(path, keep=False)
    m = columns.moments
    if not m.respondents:
        raise SurveyDataError(f"{path}: the file has a header but no respondent rows"
                              + (f" ({len(blank_lines)} blank row(s) only)" if blank_lines else "")
                              + " (see docs/survey.md).")
    _refuse_duplicates(path, columns, None)
    report = _report(path, m.respondents, m.roles, len(m.schools), len({d for d, _ in m.schools}), sorted(m.waves),
                     columns.items, m.missing, m.rows_with_missing, blank_lines)
    return report, m.table()


def _read(path: Path, keep: bool) -> tuple[_Columns, str, list[int]]:
    """Validate the file block by block into :class:`_Columns`; return them, the SHA-256 and blank lines."""
    if not path.is_file():
        raise SurveyDataError(f"{path}: no such survey file.")
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                sha.update(chunk)
    except OSError as exc:
        raise SurveyDataError(f"{path}: cannot read the survey file ({exc.strerror}).") from None
    state: dict[str, Any] = {"lines": 0, "recent": collections.deque(maxlen=64)}
    reader = csv.reader(_lines(path, state))
    errors: list[str] = []
    row_no = 0
    try:
        header_row = next(reader, None)
        if header_row is None or not "".join(header_row).strip():
            raise SurveyDataError(f"{path}: the file is empty; expected a header line and one row per respondent "
                                  "(see docs/survey.md).")
        if len(header_row) == 1 and (delim := _sniff_delimiter(header_row[0])):
            raise SurveyDataError(f"{path}: line 1 (header) is separated by {delim!r}, not commas; the survey must "
                                  "be a comma-separated CSV (see docs/survey.md).")
        names = _header(path, header_row)
        state["header"] = names
        col = {n: i for i, n in enumerate(names)}
        items = tuple(n for n in names if n in ITEMS)
        columns = _Columns(names, items, keep)
        blank_lines: list[int] = []
        while True:
            state["recent"].clear()
            row = next(reader, None)
            if row is None:
                break
            if not row:
                continue  # an empty line is no respondent
            row_no += 1
            r, line = row_no, reader.line_num
            if len(row) != len(names):
                errors.append(f"{_where(path, r, line, None)}: {len(row)} fields where the header has "
                              f"{len(names)} (a different delimiter or an unquoted comma in a value?).")
                continue
            row = [c.strip() for c in row]
            if not any(row):
                blank_lines.append(line)  # a blank spreadsheet row: skipped and reported
                continue
            if len(errors) > 1000:
                continue  # enough to report; keep counting rows only

            def bad(column: str, msg: str) -> None:
                errors.append(f"{_where(path, r, line, column)}: {msg}")

            values: list[Any] = []
            for n in names:
                cell = row[col[n]]
                if n in ("respondent_id", "district", "school"):
                    if not cell:
                        bad(n, "empty; every respondent needs a value.")
                    values.append(cell)
                elif n == "wave":
                    wave = _integer(cell)
                    if wave is None or not 0 <= wave <= MAX_WAVE:
                        bad("wave", f"{_show(cell)} is not a valid wave; allowed is an integer in [0, {MAX_WAVE}] "
                                    "(months since the initiative started).")
                        wave = 0
                    values.append(wave)
                elif n == "role":
                    role = cell.lower()
                    if role not in ROLES:
                        bad("role", f"{_show(cell)} is not a valid role; allowed is one of {', '.join(ROLES)}.")
                    values.append(role)
                elif n == "teacher":
                    tid = _integer(cell) if cell else None
                    if cell and (tid is None or not 0 <= tid < 2**31):
                        bad("teacher", f"{_show(cell)} is not a teacher index; allowed is a non-negative integer "
                                       "or an empty cell.")
                        tid = None
                    values.append(tid)
                else:  # an item
                    value = None
                    if cell.lower() not in MISSING_MARKERS:
                        if not _number(cell):
                            bad(n, f"{_show(cell)} is not numeric; allowed is an integer 1-5 or an empty cell "
                                   "(missing answer).")
                        else:
                            value = _integer(cell)
                            if value is None or not 1 <= value <= 5:
                                bad(n, f"{_show(cell)} is outside the Likert scale; allowed is an integer 1-5 or an "
                                       "empty cell (missing answer).")
                                value = None
                    values.append(value)
            if not errors:
                columns.add(values, r, line)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _too_long(path, state, row_no + 1, reader.line_num) from None
        raise SurveyDataError(f"{_where(path, row_no + 1, reader.line_num, None)}: not a readable CSV row "
                              f"({str(exc)[:80]}); see docs/survey.md.") from None
    if errors:
        more = f" ... and {len(errors) - _MAX_LISTED} more problem(s)." if len(errors) > _MAX_LISTED else ""
        raise SurveyDataError(f"{len(errors)} problem(s) in the survey (see docs/survey.md): "
                              + " ".join(errors[:_MAX_LISTED]) + more)
    columns.flush()
    return columns, sha.hexdigest(), blank_lines


# -- summary statistics ------------------------------------------------------------------

def _item_statistics(x: np.ndarray, g: np.ndarray, k: int, wanted: tuple[str, ...]) -> dict[str, float]:
    """Statistics ``wanted`` for one item in one wave.

    ``x``: answers (NaN = missing), ``g``: school code 0..k-1 of each answer.
    Schools without an answer to the item are left out.
    """
    ok = ~np.isnan(x)
    if not ok.all():
        x, g = x[ok], g[ok]
    if x.size == 0:
        return dict.fromkeys(wanted, np.nan)
    n_j = np.bincount(g, minlength=k).astype(float)
    has = n_j > 0
    m_j = np.bincount(g, weights=x, minlength=k)[has] / n_j[has]
    out: dict[str, float] = {}
    if "mean" in wanted:
        out["mean"] = float(x.mean())
    if "school_sd" in wanted:
        out["school_sd"] = float(m_j.std())
    if "high_share" in wanted:
        out["high_share"] = float((x >= HIGH).mean())
    if "icc" in wanted:
        n, n_j, kk = x.size, n_j[has], int(has.sum())
        icc = 0.0
        if kk > 1 and n > kk:
            mean_of = np.zeros(k)
            mean_of[has] = m_j
            msw = float(((x - mean_of[g]) ** 2).sum()) / (n - kk)
            msb = float((n_j * (m_j - x.mean()) ** 2).sum()) / (kk - 1)
            n0 = (n - (n_j ** 2).sum() / n) / (kk - 1)
            var_b = max(0.0, (msb - msw) / n0)
            icc = var_b / (var_b + msw) if var_b + msw > 0 else 0.0
        out["icc"] = float(icc)
    if "pocket_share" in wanted:
        high_j = np.bincount(g, weights=(x >= HIGH).astype(float), minlength=k)[has] > 0
        out["pocket_share"] = float((high_j & (m_j < 3)).mean())
    return out


def school_codes(frame: pd.DataFrame) -> np.ndarray:
    """Integer code per row for its school (schools are keyed by district and school, in order of appearance)."""
    return frame.groupby(["district", "school"], sort=False, dropna=False).ngroup().to_numpy()


def statistics_spec(items: Iterable[str] | dict[str, Iterable[str]],
                    statistics: Iterable[str] = STATISTICS) -> dict[str, tuple[str, ...]]:
    """Normalise a choice of statistics to ``{item: (statistic, ...)}`` and check the names."""
    spec = ({i: tuple(k) for i, k in items.items()} if isinstance(items, dict)
            else {i: tuple(statistics) for i in items})
    bad_items = [i for i in spec if i not in ITEMS]
    bad = sorted({k for ks in spec.values() for k in ks if k not in STATISTICS})
    if bad_items or bad or not spec or not all(spec.values()):
        raise ConfigError("Invalid choice of survey statistics"
                          + (f": unknown item(s) {', '.join(map(str, bad_items))}" if bad_items else "")
                          + (f": unknown statistic(s) {', '.join(map(str, bad))}" if bad else "")
                          + f". Items: {', '.join(ITEMS)}; statistics: {', '.join(STATISTICS)}; each chosen item "
                            "needs at least one statistic.")
    return spec


def statistics_rows(waves: np.ndarray, schools: np.ndarray, answers: dict[str, np.ndarray],
                    spec: dict[str, tuple[str, ...]]):
    """Yield ``(wave, item, statistic, value, name)`` from plain arrays (the fast path used in calibration).

    ``answers`` maps item -> float array of answers (NaN = missing); ``spec``
    maps item -> statistics to compute (see :func:`statistics_spec`).
    ``name`` is ``statistic:item:wWAVE``.
    """
    for wave in np.unique(waves):
        in_wave = waves == wave
        codes, g = np.unique(schools[in_wave], return_inverse=True)
        for item, wanted in spec.items():
            values = _item_statistics(answers[item][in_wave], g, codes.size, wanted)
            for stat in wanted:
                yield int(wave), item, stat, values[stat], f"{stat}:{item}:w{int(wave)}"


def split_name(name: str) -> dict[str, Any]:
    """``"mean:support:w20"`` -> name, statistic, item and wave (the keys of :func:`statistics_rows`)."""
    stat, item, wave = name.split(":")
    return {"name": name, "statistic": stat, "item": item, "wave": int(wave[1:])}


class _FloatColumns(Mapping):
    """Item columns of a frame as float arrays (NaN = missing), converted when asked for."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame, self._last = frame, (None, None)

    def __getitem__(self, item: str) -> np.ndarray:
        if self._last[0] != item:
            self._last = (item, self._frame[item].to_numpy(dtype=float, na_value=np.nan))
        return self._last[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frame.columns)

    def __len__(self) -> int:
        return len(self._frame.columns)


def statistics_table(frame: pd.DataFrame, items: Iterable[str] | dict[str, Iterable[str]] | None = None,
                     statistics: Iterable[str] = STATISTICS) -> pd.DataFrame:
    """Summary statistics of survey answers, per wave and item.

    Parameters
    ----------
    frame : DataFrame
        Survey rows (a :attr:`SurveyData.frame` or :func:`sim.virtual_survey`
        output) with ``district``, ``school``, ``wave`` and item columns.
        Missing answers (NA) are ignored item by item; rows are never dropped.
    items : sequence of str or dict, optional
        Items to summarise (default: every item column present), or a mapping
        item -> statistics (then ``statistics`` is ignored).
    statistics : sequence of str
        Any of :data:`STATISTICS`:

        ``mean``: mean answer. ``school_sd``: standard deviation across schools
        of the school mean answers. ``high_share``: share of answers >= 4.
        ``icc``: share of the answer variance that lies between schools
        (one-way ANOVA estimator of the intraclass correlation, floored at 0).
        ``pocket_share``: share of schools whose mean answer is below 3 but
        where at least one respondent answers >= 4 (a few high-scoring
        classrooms in an otherwise low school: stalling).

    Returns
    -------
    DataFrame
        Columns ``wave``, ``item``, ``statistic``, ``value``, ``name`` (the key
        used in calibration: ``statistic:item:wWAVE``).
    """
    spec = statistics_spec([c for c in frame.columns if c in ITEMS] if items is None else items, statistics)
    answers = _FloatColumns(frame)  # one item at a time: memory does not grow with the number of items
    rows = statistics_rows(frame["wave"].to_numpy(), school_codes(frame), answers, spec)
    return pd.DataFrame(list(rows), columns=["wave", "item", "statistic", "value", "name"])


def summary_statistics(frame: pd.DataFrame, items: Iterable[str] | dict[str, Iterable[str]] | None = None,
                       statistics: Iterable[str] = STATISTICS) -> dict[str, float]:
    """:func:`statistics_table` as ``{name: value}`` (the form pyabc compares)."""
    table = statistics_table(frame, items, statistics)
    return dict(zip(table["name"], table["value"].astype(float)))


def main(argv: list[str] | None = None) -> None:
    """``python -m sim.inputs.survey PATH``: validate a survey, print its report and statistics."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m sim.inputs.survey PATH  (checks a survey CSV against docs/survey.md)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)
    try:
        report, table = summarise_survey(args[0])
    except SurveyDataError as exc:
        print(f"survey: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    print(report)
    wide = table.pivot_table(index=["wave", "item"], columns="statistic", values="value", sort=False)
    print(wide[[s for s in STATISTICS if s in wide.columns]].round(3).to_string())


if __name__ == "__main__":
    main()


# -- initialization from data -------------------------------------------------------------

#: Teacher traits a survey can initialise: state array -> item measuring it.
TRAIT_ITEMS = {"capacity": "capacity", "autonomy": "autonomy", "support_base": "support"}


@functools.lru_cache(maxsize=8)
def _cached_survey(path: str, mtime_ns: int) -> SurveyData:  # noqa: ARG001 (mtime invalidates the cache)
    return load_survey(path)


def _school_order(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Surveyed schools in model order: by district, then school id (numerically when all ids are integers)."""
    keys = frame[["district", "school"]].drop_duplicates()
    numeric = keys["school"].str.fullmatch(r"\d+").all()
    keys = keys.assign(_k=keys["school"].astype(int) if numeric else keys["school"])
    return list(keys.sort_values(["district", "_k"])[["district", "school"]].itertuples(index=False, name=None))


def init_survey_rows(survey: str | Path, n_schools: int) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Teacher rows of the first wave of an ``init.survey`` file and its schools in model order.

    Raises SurveyDataError (exit status 2 in every tool, checked when the
    configuration is composed, before any run) for a bad file, no teacher
    respondents, or more surveyed schools than ``n_schools``.
    """
    path = Path(survey)
    if not path.is_file():
        raise SurveyDataError(f"init.survey: no such survey file {path}.")
    try:
        data = _cached_survey(str(path.resolve()), path.stat().st_mtime_ns)
    except SurveyDataError as exc:
        raise SurveyDataError(f"init.survey: {exc}") from None
    frame = data.frame[data.frame["role"] == "teacher"]
    if frame.empty:
        raise SurveyDataError(f"init.survey: {path} has no respondent with role 'teacher'.")
    frame = frame[frame["wave"] == frame["wave"].min()]
    order = _school_order(frame)
    if len(order) > n_schools:
        raise SurveyDataError(f"init.survey: {path} has {len(order)} schools but the model has district.schools="
                              f"{n_schools}; set district.schools to at least {len(order)}.")
    return frame, order


def check_init_survey(cfg: Any) -> None:
    """Refuse a bad ``init.survey`` of a composed configuration up front (SurveyDataError, exit status 2).

    Tools call this when they validate their input, so a bad survey file is
    reported before any run starts rather than when the first model is built.
    """
    survey = cfg["init"]["survey"] if isinstance(cfg, dict) else cfg.init.survey
    if survey:
        schools = cfg["district"]["schools"] if isinstance(cfg, dict) else cfg.district.schools
        init_survey_rows(survey, int(schools))


def surveyed_traits(path: str | Path, n_schools: int, noise_sd: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-school mean and spread of the teacher traits a survey measures, on the model's 0-1 scale.

    The survey's teacher respondents at its first wave give, school by school,
    the answers to the ``capacity``, ``autonomy`` and ``support`` items.
    Surveyed schools map to model schools 0, 1, ... in order of district and
    school id. Answers invert the Likert scale of the virtual survey
    (docs/survey.md): latent = (answer - 1) / 4, and the spread removes the
    Likert noise, sd = sqrt(max(var(answers) - noise_sd**2, 0)) / 4. What the
    items measure (autonomy times flexibility, support received) is undone by
    the model (:func:`sim.district.survey.traits_from_survey`), which knows the
    conditions it sets.

    Returns
    -------
    dict
        Trait array name (``capacity``, ``autonomy``, ``support_base``) -> (mean per
        school, sd per school), NaN where a school has no answer (sd NaN where it has one).

    Raises
    ------
    SurveyDataError
        Bad file, no teacher respondents, or more surveyed schools than ``n_schools``.
    """
    frame, order = init_survey_rows(path, n_schools)
    out = {trait: (np.full(n_schools, np.nan), np.full(n_schools, np.nan)) for trait in TRAIT_ITEMS}
    by_school = frame.groupby(["district", "school"], sort=False)
    for s, key in enumerate(order):
        rows = by_school.get_group(key)
        for trait, item in TRAIT_ITEMS.items():
            if item not in rows:
                continue
            x = rows[item].dropna().to_numpy(float)
            if x.size == 0:
                continue
            out[trait][0][s] = (x.mean() - 1) / 4
            if x.size > 1:
                out[trait][1][s] = np.sqrt(max(x.var(ddof=1) - noise_sd ** 2, 0.0)) / 4
    return out
