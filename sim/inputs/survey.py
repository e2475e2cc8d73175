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

import csv
import difflib
import functools
import hashlib
import io
import sys
from collections.abc import Iterable
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
    sha256 : str
        Hash of the file's bytes (recorded with calibrations).
    """

    path: Path
    frame: pd.DataFrame
    items: tuple[str, ...]
    missing_by_item: dict[str, int] = field(default_factory=dict)
    rows_with_missing: int = 0
    sha256: str = ""

    def report(self) -> str:
        """One paragraph: respondents, schools, waves, roles and missing answers."""
        f = self.frame
        roles = ", ".join(f"{n} {r}" for r, n in f["role"].value_counts().items())
        waves = ", ".join(str(w) for w in sorted(f["wave"].unique()))
        missing = ", ".join(f"{k} {v}" for k, v in self.missing_by_item.items() if v) or "none"
        return (f"{self.path}: {len(f)} respondents ({roles}) in {f.groupby(['district', 'school']).ngroups} "
                f"schools of {f['district'].nunique()} district(s), wave(s) {waves}; {len(self.items)} items. "
                f"{self.rows_with_missing} respondents have at least one missing answer (kept; statistics use "
                f"the answers given). Missing answers per item: {missing}.")


def _where(path: Path, row: int | None, line: int | None, column: str | None) -> str:
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        line = before.count(b"\n") + 1
        header = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().split(",")
        field_no = before.rsplit(b"\n", 1)[-1].count(b",")
        column = header[field_no].strip() if line > 1 and field_no < len(header) else None
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
        raise SurveyDataError(f"{path}: line 1 (header) repeats column(s) {', '.join(dupes)}; each column may "
                              "appear once.")
    unknown = [n for n in names if n not in allowed]
    if unknown:
        hints = [f"'{u}' (did you mean '{h[0]}'?)" if (h := difflib.get_close_matches(u, allowed, n=1))
                 else f"'{u}'" for u in unknown]
        raise SurveyDataError(
            f"{path}: line 1 (header), unknown column(s) {', '.join(hints)}. Allowed columns: required "
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


def load_survey(path: str | Path) -> SurveyData:
    """Read and validate a survey CSV (schema: docs/survey.md).

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
        Missing or unreadable file, wrong encoding or delimiter, empty file,
        unknown or missing columns, ragged rows, non-numeric or out-of-range
        answers, bad waves or roles, duplicate respondent ids. The message
        names the file, the row (data rows count from 1; line = line of the
        file) and the column, and lists up to five problems.
    """
    path = Path(path)
    if not path.is_file():
        raise SurveyDataError(f"{path}: no such survey file.")
    raw = path.read_bytes()
    text = _decode(path, raw)
    if not text.strip():
        raise SurveyDataError(f"{path}: the file is empty; expected a header line and one row per respondent "
                              "(see docs/survey.md).")
    reader = csv.reader(io.StringIO(text, newline=""))
    header_row = next(reader)
    if len(header_row) == 1 and (delim := _sniff_delimiter(header_row[0])):
        raise SurveyDataError(f"{path}: line 1 (header) is separated by {delim!r}, not commas; the survey must be a "
                              "comma-separated CSV (see docs/survey.md).")
    names = _header(path, header_row)
    errors: list[str] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    for row in reader:
        if not row:
            continue  # an empty line is no respondent
        r = len(rows) + 1
        if len(row) != len(names):
            errors.append(f"{_where(path, r, reader.line_num, None)}: {len(row)} fields where the header has "
                          f"{len(names)} (a different delimiter or an unquoted comma in a value?).")
            rows.append([""] * len(names))
        else:
            rows.append([c.strip() for c in row])
        lines.append(reader.line_num)
    if not rows:
        raise SurveyDataError(f"{path}: the file has a header but no respondent rows (see docs/survey.md).")
    col = {n: i for i, n in enumerate(names)}
    items = tuple(n for n in names if n in ITEMS)
    data: dict[str, list] = {n: [] for n in names}
    seen: dict[str, int] = {}
    for r, (row, line) in enumerate(zip(rows, lines), start=1):
        if not any(row):
            for n in names:
                data[n].append(None)
            continue

        def bad(column: str, msg: str) -> None:
            errors.append(f"{_where(path, r, line, column)}: {msg}")

        for n in ("respondent_id", "district", "school"):
            if not row[col[n]]:
                bad(n, "empty; every respondent needs a value.")
        rid = row[col["respondent_id"]]
        if rid and rid in seen:
            bad("respondent_id", f"duplicate respondent id {rid!r} (first on row {seen[rid]}); ids must be unique.")
        elif rid:
            seen[rid] = r
        for n in ("respondent_id", "district", "school"):
            data[n].append(row[col[n]])
        wave = _integer(row[col["wave"]])
        if wave is None or not 0 <= wave <= MAX_WAVE:
            bad("wave", f"{row[col['wave']]!r} is not a valid wave; allowed is an integer in [0, {MAX_WAVE}] "
                        "(months since the initiative started).")
        data["wave"].append(wave)
        role = row[col["role"]].lower()
        if role not in ROLES:
            bad("role", f"{row[col['role']]!r} is not a valid role; allowed is one of {', '.join(ROLES)}.")
        data["role"].append(role)
        if "teacher" in col:
            t = row[col["teacher"]]
            tid = _integer(t) if t else None
            if t and (tid is None or tid < 0):
                bad("teacher", f"{t!r} is not a teacher index; allowed is a non-negative integer or an empty cell.")
            data["teacher"].append(tid)
        for item in items:
            cell = row[col[item]]
            if cell.lower() in MISSING_MARKERS:
                data[item].append(None)
                continue
            if not _number(cell):
                bad(item, f"{cell!r} is not numeric; allowed is an integer 1-5 or an empty cell (missing answer).")
                data[item].append(None)
                continue
            value = _integer(cell)
            if value is None or not 1 <= value <= 5:
                bad(item, f"{cell!r} is outside the Likert scale; allowed is an integer 1-5 or an empty cell "
                          "(missing answer).")
                value = None
            data[item].append(value)
    if errors:
        more = f" ... and {len(errors) - _MAX_LISTED} more problem(s)." if len(errors) > _MAX_LISTED else ""
        raise SurveyDataError(f"{len(errors)} problem(s) in the survey (see docs/survey.md): "
                              + " ".join(errors[:_MAX_LISTED]) + more)
    frame = pd.DataFrame({
        "respondent_id": pd.array(data["respondent_id"], dtype="str"),
        "district": pd.array(data["district"], dtype="str"),
        "school": pd.array(data["school"], dtype="str"),
        "wave": np.asarray(data["wave"], dtype=np.int64),
        "role": pd.array(data["role"], dtype="str"),
        **({"teacher": pd.array(data["teacher"], dtype="Int64")} if "teacher" in col else {}),
        **{item: pd.array(data[item], dtype="Int64") for item in items},
    })
    missing_by_item = {item: int(frame[item].isna().sum()) for item in items}
    rows_with_missing = int(frame[list(items)].isna().any(axis=1).sum())
    return SurveyData(path=path, frame=frame, items=items, missing_by_item=missing_by_item,
                      rows_with_missing=rows_with_missing, sha256=hashlib.sha256(raw).hexdigest())


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
    key = frame["district"].astype(str) + "\x1f" + frame["school"].astype(str)
    return pd.factorize(key)[0]


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
    answers = {item: frame[item].to_numpy(dtype=float, na_value=np.nan) for item in spec}
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
        data = load_survey(args[0])
    except SurveyDataError as exc:
        print(f"survey: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    print(data.report())
    table = statistics_table(data.frame[data.frame["role"] == "teacher"], data.items)
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
    path = Path(path)
    if not path.is_file():
        raise SurveyDataError(f"init.survey: no such survey file {path}.")
    data = _cached_survey(str(path.resolve()), path.stat().st_mtime_ns)
    frame = data.frame[data.frame["role"] == "teacher"]
    if frame.empty:
        raise SurveyDataError(f"init.survey: {path} has no respondent with role 'teacher'.")
    frame = frame[frame["wave"] == frame["wave"].min()]
    order = _school_order(frame)
    if len(order) > n_schools:
        raise SurveyDataError(f"init.survey: {path} has {len(order)} schools but the model has district.schools="
                              f"{n_schools}; set district.schools to at least {len(order)}.")
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
