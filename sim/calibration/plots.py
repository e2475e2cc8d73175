"""Figures of a calibration: posterior marginals, pairwise densities, posterior predictive check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

if TYPE_CHECKING:
    from sim.calibration.experiment import Experiment


def _prior_density(prior, x: np.ndarray) -> np.ndarray:
    return prior.rv().pdf(x)


def marginals(df: pd.DataFrame, w: np.ndarray, exp: Experiment, path: Path,
              truth: dict[str, float] | None = None) -> Path:
    """One panel per free parameter: posterior KDE (pyabc), prior density, 90% interval, true value."""
    from pyabc.visualization import plot_kde_1d
    from pyabc.weighted_statistics import weighted_quantile

    keys = list(exp.free)
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        prior = exp.free[key]
        plot_kde_1d(df, w, key, xmin=prior.low, xmax=prior.high, ax=ax, numx=120, label="posterior")
        xs = np.linspace(prior.low, prior.high, 120)
        ax.plot(xs, _prior_density(prior, xs), color="0.5", ls="--", lw=1, label="prior")
        x = df[key].to_numpy(float)
        lo, hi = (weighted_quantile(x, w, alpha=q) for q in (0.05, 0.95))
        ax.axvspan(lo, hi, color="C0", alpha=0.12, lw=0, label="90% interval")
        if truth and key in truth:
            ax.axvline(truth[key], color="C3", lw=1.5, label="true value")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("density")
    for ax in axes.ravel()[len(keys):]:
        ax.set_visible(False)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{exp.name}: posterior marginals", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pairs(df: pd.DataFrame, w: np.ndarray, exp: Experiment, path: Path,
          truth: dict[str, float] | None = None) -> Path:
    """Pairwise posterior densities (pyabc's KDE matrix) within the prior bounds."""
    from pyabc.visualization import plot_kde_matrix

    keys = list(exp.free)
    limits = {k: (exp.free[k].low, exp.free[k].high) for k in keys}
    refval = {k: truth[k] for k in keys} if truth and all(k in truth for k in keys) else None
    arr = plot_kde_matrix(df[keys], w, limits=limits, refval=refval, refval_color="C3", height=2.2,
                          colorbar=False)
    fig = np.asarray(arr).ravel()[0].figure
    fig.suptitle(f"{exp.name}: pairwise posterior", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def predictive_check(ppc: pd.DataFrame, path: Path) -> Path:
    """One panel per statistic: observed values against the posterior predictive 90% intervals."""
    stats = list(dict.fromkeys(ppc["statistic"]))
    fig, axes = plt.subplots(len(stats), 1, figsize=(max(6.0, 0.45 * ppc.groupby("statistic").size().max() + 2),
                                                     2.4 * len(stats)), squeeze=False)
    for ax, stat in zip(axes[:, 0], stats):
        d = ppc[ppc["statistic"] == stat].reset_index(drop=True)
        x = np.arange(len(d))
        ax.vlines(x, d["q05"], d["q95"], color="C0", lw=4, alpha=0.5, label="posterior predictive 90%")
        ax.plot(x, d["mean"], "o", color="C0", ms=3)
        colors = np.where(d["inside_90"], "k", "C3")
        ax.scatter(x, d["observed"], marker="x", c=colors, zorder=3, label="observed")
        ax.set_xticks(x, [f"{i}\nw{wv}" for i, wv in zip(d["item"], d["wave"])], fontsize=6)
        ax.set_ylabel(stat, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper right")
    inside = ppc["inside_90"].mean()
    fig.suptitle(f"Posterior predictive check: {inside:.0%} of observed statistics inside their 90% interval "
                 "(red: outside)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def recovery(table: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Recovery study: posterior median and 90% interval against the true value, one panel per parameter."""
    params = list(dict.fromkeys(table["parameter"]))
    cols = min(3, len(params))
    rows = -(-len(params) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.6 * rows), squeeze=False)
    for ax, p in zip(axes.ravel(), params):
        d = table[table["parameter"] == p]
        colors = np.where(d["inside_90"], "C0", "C3")
        ax.vlines(d["true"], d["q05"], d["q95"], colors=colors, lw=2, alpha=0.7)
        ax.scatter(d["true"], d["q50"], c=colors, s=14, zorder=3)
        lo = min(d["true"].min(), d["q05"].min())
        hi = max(d["true"].max(), d["q95"].max())
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--")
        ax.set_title(f"{p}\ncoverage {d['inside_90'].mean():.0%} of {len(d)}", fontsize=9)
        ax.set_xlabel("true value")
        ax.set_ylabel("posterior median, 90% interval")
    for ax in axes.ravel()[len(params):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
