"""Figures: metric curves with uncertainty bands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sim.district.calendar import MONTHS_PER_YEAR  # noqa: E402
from sim.files import atomic_path  # noqa: E402

LABELS = {
    "teacher_adoption": "Teachers using the practice (any quality)",
    "deep_adoption": "Teachers using it with depth",
    "schoolwide_share": "Schools where it is school-wide",
    "pilot_stall_share": "Schools stalled in pilot classrooms",
    "replicated_models": "Models replicated in another school",
    "mean_exhaustion": "Mean teacher exhaustion",
    "equity_gap": "Equity gap (typical vs margins)",
}


#: Metrics that count things (models, schools, replications); the others are shares or 0-1 scales.
COUNTS = ("codified_models", "replicated_models", "replications", "backed_away")
#: y-axis label of each metric: what is counted, and the unit.
UNITS = {
    "teacher_adoption": "% of teachers", "deep_adoption": "% of teachers", "exploring_share": "% of teachers",
    "abandoned_share": "% of teachers", "schoolwide_share": "% of schools", "pilot_stall_share": "% of schools",
    "codified_models": "school models (count)", "replicated_models": "school models (count)",
    "replications": "schools (count)", "backed_away": "districts backed away (0 or 1)",
    "mean_exhaustion": "exhaustion (% of full)", "mean_surface": "surface quality (% of full)",
    "mean_depth": "depth quality (% of full)", "equity_gap": "gap in use (percentage points)",
}
#: The Okabe-Ito palette (Okabe & Ito 2008), distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
LINESTYLES = ("-", "--", ":", "-.")
#: Plain names of the shipped presets (others: the preset name with spaces).
PRESET_NAMES = {
    "baseline": "Baseline (decentralized)", "henry_all_in": "Henry County: all in",
    "lake_backing_away": "Lake County: backing away", "clear_problems": "Clear problems to solve",
    "flexibility": "Flexibility", "adult_learning": "Adult learning", "vanguard_schools": "Vanguard schools",
    "autonomy_zone": "Autonomy zone", "community_of_practice": "Community of practice",
    "design_competition": "Design competition", "key_person_km": "Key-person knowledge",
}


def preset_label(label: str) -> str:
    """Plain-language name of a scenario label (presets joined by '+' become 'A + B')."""
    return " + ".join(PRESET_NAMES.get(p, p.replace("_", " ")) for p in str(label).split("+"))


def scale(metric: str) -> float:
    """Factor from model units to plotted and printed units (shares and 0-1 scales in percent)."""
    return 1.0 if metric in COUNTS else 100.0


def format_value(metric: str, value: float) -> str:
    """A metric in plain units: shares as percentages, counts as counts."""
    if metric in COUNTS:
        return f"{value:.1f}" if abs(value - round(value)) > 0.05 else f"{round(value):d}"
    return f"{value * 100:.0f}%" if metric != "equity_gap" else f"{value * 100:.0f} pts"


def format_difference(metric: str, value: float) -> str:
    """A signed difference in plain units: points of a share (whole), counts to one decimal; never "-0"."""
    if metric in COUNTS:
        return f"{round(value, 1) + 0.0:+.1f}"
    return f"{round(value * scale(metric)):+d}"


def band_stats(df: pd.DataFrame, metric: str, by: str = "scenario", low: float = 0.05,
               high: float = 0.95) -> pd.DataFrame:
    """Mean and [low, high] quantiles of ``metric`` per ``by`` group and step, over replicates."""
    g = df.groupby([by, "step"])[metric]
    return pd.DataFrame({"mean": g.mean(), "lo": g.quantile(low), "hi": g.quantile(high)}).reset_index()


def curves_with_bands(df: pd.DataFrame, path: Path | str,
                      metrics: Sequence[str] = ("teacher_adoption", "deep_adoption", "schoolwide_share",
                                                "replicated_models"),
                      by: str = "scenario", title: str = "") -> Path:
    """Plot the mean of each metric over school years per group, with a 90% band over replicates.

    One panel per metric in a two-column grid, y axes labelled with their
    units (shares in percent), the Okabe-Ito palette (line styles once the
    eight colours are used), plain names, the baseline first, and the legend
    below the panels so it hides no data.
    """
    groups = list(dict.fromkeys(df[by]))
    if "baseline" in groups:
        groups.insert(0, groups.pop(groups.index("baseline")))
    ncols = 1 if len(metrics) == 1 else 2
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.3 * nrows + 0.4 + 0.22 * len(groups) / ncols),
                             squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        stats = band_stats(df, metric, by)
        k = scale(metric)
        for i, name in enumerate(groups):
            s = stats[stats[by] == name]
            years = s["step"] / MONTHS_PER_YEAR
            color, style = OKABE_ITO[i % len(OKABE_ITO)], LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)]
            ax.plot(years, s["mean"] * k, color=color, ls=style, label=preset_label(name) if by == "scenario"
                    else str(name), lw=1.8)
            ax.fill_between(years, s["lo"] * k, s["hi"] * k, color=color, alpha=0.15, lw=0)
        ax.set_title(LABELS.get(metric, metric), fontsize=10)
        ax.set_xlabel("school year")
        ax.set_ylabel(UNITS.get(metric, metric))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2 if len(groups) > 3 else len(groups), fontsize=8,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    legend_rows = -(-len(groups) // (2 if len(groups) > 3 else max(len(groups), 1)))
    fig.tight_layout(rect=(0, min(0.45, 0.035 * legend_rows + 0.02), 1, 1))
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
