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


def band_stats(df: pd.DataFrame, metric: str, by: str = "scenario", low: float = 0.05,
               high: float = 0.95) -> pd.DataFrame:
    """Mean and [low, high] quantiles of ``metric`` per ``by`` group and step, over replicates."""
    g = df.groupby([by, "step"])[metric]
    return pd.DataFrame({"mean": g.mean(), "lo": g.quantile(low), "hi": g.quantile(high)}).reset_index()


def curves_with_bands(df: pd.DataFrame, path: Path | str,
                      metrics: Sequence[str] = ("teacher_adoption", "deep_adoption", "schoolwide_share",
                                                "replicated_models"),
                      by: str = "scenario", title: str = "") -> Path:
    """Plot the mean of each metric over steps per group, with a 90% band over replicates."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    groups = list(dict.fromkeys(df[by]))
    colors = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    for ax, metric in zip(axes[0], metrics):
        stats = band_stats(df, metric, by)
        for i, name in enumerate(groups):
            s = stats[stats[by] == name]
            years = s["step"] / MONTHS_PER_YEAR
            ax.plot(years, s["mean"], color=colors(i % colors.N), label=str(name), lw=1.6)
            ax.fill_between(years, s["lo"], s["hi"], color=colors(i % colors.N), alpha=0.18, lw=0)
        ax.set_title(LABELS.get(metric, metric), fontsize=9)
        ax.set_xlabel("school year")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
