"""The factorial of the report's four recommendations: runs, lever-effect table and figure."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.runs.runner import COMBINE, RunSpec, replicate_seed, run_many
from sim.validation.replicates import YEAR5, mean_ci, paired_ci

#: The four recommendations of the report (its executive summary), one preset each.
RECOMMENDATIONS = ("clear_problems", "flexibility", "adult_learning", "vanguard_schools")
ALL_FOUR = COMBINE.join(RECOMMENDATIONS)


# -- lever factorial ------------------------------------------------------------------

def factorial_labels(factors: Sequence[str] = RECOMMENDATIONS) -> list[str]:
    """Scenario labels of the full 2^k design over ``factors`` (``baseline`` when none is on).

    Ordered by the number of presets switched on, then in factor order.
    """
    combos = [c for k in range(len(factors) + 1) for c in itertools.combinations(factors, k)]
    return [COMBINE.join(c) if c else "baseline" for c in combos]


def run_factorial(replicates: int = 20, *, base_seed: int = 0, workers: int = 0, progress: bool = True,
                  extra: Sequence[str] = ("henry_all_in",), overrides: Sequence[str] = ()) -> pd.DataFrame:
    """District time series of every factorial cell (plus ``extra`` scenarios) over common seeds.

    ``overrides`` (Hydra override strings) apply to every run, e.g. a smaller district.

    Runs in parallel with :func:`sim.runs.runner.run_many`. On Ctrl-C the runs that
    finished are returned (and the caller saves them); the frame's ``attrs``
    record whether the design is complete.
    """
    labels = [*factorial_labels(), *extra]
    specs = [RunSpec(label, r, replicate_seed(base_seed, r), tuple(overrides))
             for label in labels for r in range(replicates)]
    frames: list[pd.DataFrame] = []
    complete = True
    try:
        for frame in run_many(specs, workers=workers, progress=progress):
            frames.append(frame)
    except KeyboardInterrupt:
        complete = False
    ts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    ts.attrs["complete"] = complete and len(frames) == len(specs)
    return ts


def _cell(ts: pd.DataFrame, label: str, metric: str, step: int) -> pd.Series:
    at = ts[(ts["scenario"] == label) & (ts["step"] == step)]
    return at.set_index("replicate")[metric].sort_index()


def lever_table(ts: pd.DataFrame, metrics: Sequence[str] = ("schoolwide_share", "replications"),
                step: int = YEAR5, level: float = 0.95) -> pd.DataFrame:
    """Effects of the recommendation presets at ``step``, with t intervals over common-seed replicates.

    Rows: ``baseline`` (level only); each preset alone and all four together
    (effect = cell - baseline, paired by seed); the factorial main effect of
    each preset (mean over the 8 cells with it on minus the 8 with it off,
    per seed); and the interaction of all four (all four - baseline - the sum
    of the four alone effects).
    """
    rows = []
    for metric in metrics:
        base = _cell(ts, "baseline", metric, step)
        rows.append({"metric": metric, "comparison": "level", "scenario": "baseline", "level": mean_ci(base, level),
                     "effect": None})
        for label in [*RECOMMENDATIONS, ALL_FOUR]:
            cell = _cell(ts, label, metric, step)
            rows.append({"metric": metric, "comparison": "vs baseline", "scenario": label,
                         "level": mean_ci(cell, level), "effect": paired_ci(cell, base.loc[cell.index], level)})
        labels = factorial_labels()
        cells = pd.DataFrame({label: _cell(ts, label, metric, step) for label in labels}).dropna()
        for factor in RECOMMENDATIONS:
            on = [lab for lab in labels if factor in lab.split(COMBINE)]
            off = [lab for lab in labels if lab not in on]
            rows.append({"metric": metric, "comparison": "main effect", "scenario": factor, "level": None,
                         "effect": paired_ci(cells[on].mean(axis=1), cells[off].mean(axis=1), level)})
        alone = sum(cells[f] - cells["baseline"] for f in RECOMMENDATIONS)
        rows.append({"metric": metric, "comparison": "interaction", "scenario": ALL_FOUR, "level": None,
                     "effect": paired_ci(cells[ALL_FOUR] - cells["baseline"], alone, level)})
    return pd.DataFrame(rows)


def lever_markdown(table: pd.DataFrame, replicates: int) -> str:
    """The lever table as markdown: level and effect per metric, mean [95% CI]."""
    names = {"schoolwide_share": "school-wide share", "replications": "replications (schools)"}
    metrics = list(dict.fromkeys(table["metric"]))
    head = "| comparison | scenario | " + " | ".join(
        f"{names.get(m, m)}: level | {names.get(m, m)}: effect" for m in metrics) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(metrics))]
    for (comparison, scenario), g in table.groupby(["comparison", "scenario"], sort=False):
        cells = []
        for m in metrics:
            r = g[g["metric"] == m].iloc[0]
            cells += [str(r["level"]) if r["level"] is not None else "",
                      (str(r["effect"]) + (" *" if r["effect"].excludes_zero() else ""))
                      if r["effect"] is not None else ""]
        label = scenario.replace(COMBINE, " + ")
        lines.append(f"| {comparison} | {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Mean [95% t interval] over {replicates} common-seed replicates at the end of year 5; "
                 "effects are paired differences; * marks an interval that excludes zero.")
    return "\n".join(lines)


def _effect_label(scenario: str, comparison: str) -> str:
    if comparison == "main effect":
        return f"{scenario} (main effect)"
    return "all four (vs baseline)" if scenario == ALL_FOUR else f"{scenario} (alone)"


def plot_lever_effects(table: pd.DataFrame, path: Path) -> Path:
    """Bar chart of the effects (with 95% intervals) of each preset alone, all four, and main effects."""
    import matplotlib.pyplot as plt

    import sim.runs.plots  # noqa: F401  (selects the Agg backend before pyplot)

    metrics = list(dict.fromkeys(table["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.0 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        rows = table[(table["metric"] == metric) & table["effect"].notna()]
        rows = rows[rows["comparison"].isin(["vs baseline", "main effect"])]
        y = np.arange(len(rows))[::-1]
        eff = rows["effect"].tolist()
        colors = ["tab:blue" if c == "vs baseline" else "tab:orange" for c in rows["comparison"]]
        ax.barh(y, [e.mean for e in eff], color=colors, alpha=0.8,
                xerr=np.array([[e.mean - e.lo for e in eff], [e.hi - e.mean for e in eff]]), capsize=3)
        ax.set_yticks(y, [_effect_label(s, c) for s, c in zip(rows["scenario"], rows["comparison"])], fontsize=8)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"Effect on {metric.replace('_', ' ')} at year 5 (95% CI)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
