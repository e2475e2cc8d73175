"""Plain-language summaries that the tools print at the end: baseline first, presets by effect.

Shares are printed as percentages and counts as counts (:func:`sim.runs.plots.format_value`),
at the end of school years 2 and 5 (or the last step of a shorter run), with the 90% interval
over replicates in brackets.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from sim.district.calendar import MONTHS_PER_YEAR
from sim.runs.plots import COUNTS, LABELS, format_difference, format_value, preset_label, scale

#: What each headline metric says, as a phrase around its value (counts: singular and plural).
PHRASES = {
    "teacher_adoption": "{v} of teachers use it",
    "deep_adoption": "{v} with depth",
    "schoolwide_share": "{v} of schools school-wide",
    "pilot_stall_share": "{v} stalled in pilot classrooms",
    "replicated_models": ("{v} school model replicated", "{v} school models replicated"),
    "codified_models": ("{v} school model codified", "{v} school models codified"),
    "replications": ("{v} school took up a model", "{v} schools took up a model"),
    "mean_exhaustion": "exhaustion {v}",
    "equity_gap": "equity gap {v}",
}
HEADLINE = ("teacher_adoption", "deep_adoption", "schoolwide_share", "pilot_stall_share", "replicated_models")
SUMMARY_YEARS = (2, 5)


def summary_steps(steps: Sequence[int], years: Sequence[int] = SUMMARY_YEARS) -> list[int]:
    """The steps that end school years ``years`` within a run, or its last step if none does."""
    last = max(steps)
    chosen = [y * MONTHS_PER_YEAR for y in years if y * MONTHS_PER_YEAR <= last]
    return chosen or [last]


def _when(step: int) -> str:
    year = step / MONTHS_PER_YEAR
    return f"year {year:g}" if step % MONTHS_PER_YEAR == 0 else f"month {step}"


def _value(metric: str, row: pd.Series, interval: bool) -> str:
    v = format_value(metric, row["mean"])
    phrase = PHRASES.get(metric, metric + " {v}")
    if isinstance(phrase, tuple):
        phrase = phrase[0] if v == "1" else phrase[1]
    text = phrase.format(v=v)
    lo, hi = format_value(metric, row["q05"]), format_value(metric, row["q95"])
    if interval and lo != hi:
        text += f" ({lo}-{hi})"
    return text


def paired_differences(rows: pd.DataFrame, metrics: Sequence[str], steps: Sequence[int], by: str = "scenario",
                       reference: str = "baseline", pair: Sequence[str] = ("replicate",)) -> pd.DataFrame:
    """Each group minus ``reference`` in the same replicate (same seed, same posterior draw), per step and metric.

    Scenarios of a comparison share their replicates' seeds (and draws), so the difference within a
    replicate removes the variation the scenarios have in common: its interval answers "how much does
    this policy change the outcome", which two overlapping bands cannot.

    Returns
    -------
    DataFrame
        Columns ``by``, ``step``, ``metric``, ``mean``, ``q05``, ``q95`` (of the paired differences),
        ``share_above`` (share of replicates in which the group is above the reference) and ``replicates``;
        empty when ``reference`` is not among the groups.
    """
    keys = [*pair, "step"]
    at = rows[rows["step"].isin(steps)]
    ref = at[at[by] == reference].set_index(keys)
    out = []
    for group, g in at[at[by] != reference].groupby(by, sort=False):
        joined = g.set_index(keys)[list(metrics)].join(ref[list(metrics)], rsuffix="_ref", how="inner")
        for step, j in joined.groupby(level="step"):
            for metric in metrics:
                d = j[metric] - j[f"{metric}_ref"]
                out.append({by: group, "step": int(step), "metric": metric, "mean": d.mean(), "q05": d.quantile(0.05),
                            "q95": d.quantile(0.95), "share_above": float((d > 0).mean()), "replicates": len(d)})
    return pd.DataFrame(out, columns=[by, "step", "metric", "mean", "q05", "q95", "share_above", "replicates"])


def _difference(metric: str, row: pd.Series) -> str:
    """A paired difference in plain units: '+16 points vs baseline; 90% of paired runs +5 to +30'."""
    mean = format_difference(metric, row["mean"])
    unit = "" if metric in COUNTS else (" point" if mean in ("+1", "-1") else " points")
    return (f"{mean}{unit} vs baseline; 90% of paired runs {format_difference(metric, row['q05'])} to "
            f"{format_difference(metric, row['q95'])}")


def plain_summary(summary: pd.DataFrame, metrics: Sequence[str] = HEADLINE, by: str = "scenario",
                  label=preset_label, differences: pd.DataFrame | None = None) -> str:
    """A few lines per scenario: baseline first, then the others ordered by their effect.

    Parameters
    ----------
    summary : DataFrame
        Columns ``by``, ``step``, ``metric``, ``mean``, ``q05``, ``q95`` and
        ``replicates`` (one row per group, step and metric).
    metrics : sequence of str
        The metrics to report, the first one ordering the scenarios (by its
        value at the last reported step, furthest above the baseline first).
    """
    metrics = [m for m in metrics if m in set(summary["metric"])]
    if not metrics or summary.empty:
        return ""
    steps = summary_steps(sorted(set(summary["step"])))
    rows = summary[summary["step"].isin(steps) & summary["metric"].isin(metrics)]
    key = rows[(rows["step"] == steps[-1]) & (rows["metric"] == metrics[0])].set_index(by)["mean"]
    groups = list(dict.fromkeys(rows[by]))
    first = [g for g in groups if str(g) == "baseline"]
    rest = sorted((g for g in groups if g not in first), key=lambda g: -key.get(g, 0.0))
    base = key.get(first[0]) if first else None
    n = int(rows["replicates"].min()) if "replicates" in rows else 0
    lines = [f"Summary ({n} replicates per scenario; 90% interval in brackets). Baseline first, then the others "
             f"by {LABELS.get(metrics[0], metrics[0]).lower()} at "
             f"{_when(steps[-1])}:"]
    for g in first + rest:
        head = label(g)
        paired = (differences[(differences[by] == g) & (differences["step"] == steps[-1])
                              & (differences["metric"] == metrics[0])] if differences is not None else None)
        if paired is not None and len(paired):
            head += f"  ({_difference(metrics[0], paired.iloc[0])})"
        elif base is not None and g not in first:
            diff = (key.get(g, 0.0) - base) * scale(metrics[0])
            unit = " points" if scale(metrics[0]) != 1 else ""
            head += f"  ({diff:+.0f}{unit} vs baseline)"
        lines.append(head)
        for step in steps:
            at = rows[(rows[by] == g) & (rows["step"] == step)].set_index("metric")
            parts = [_value(m, at.loc[m], interval=True) for m in metrics if m in at.index]
            lines.append(f"  {_when(step)}: " + "; ".join(parts))
    return "\n".join(lines)
