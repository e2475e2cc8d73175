"""The stylized-fact checks across the calibration's posterior: a posterior-predictive check of SF1-SF8.

The table of facts (docs/validation.md) judges each fact at the calibrated defaults, the posterior medians,
over seeds. Most of the cases calibration's parameters are barely narrowed by its patterns, so a verdict at
one point of a wide posterior says little about the model as the data leave it. Here replicate ``r`` draws
its parameters from the posterior sample (row ``Posterior.draw_index(seed, r)``, as ``sim-run
run.posterior=FILE`` draws them) and runs with its own seed; the row and the seed are the same in every
scenario, so comparisons stay paired. Each check is then read two ways:

- its mean over the draws with a 95% t interval, judged by the check's own criterion (does the fact hold
  on average over the posterior?);
- the share of draws whose single run lies on the bound's side (how much of the posterior produces it;
  one run per draw, so seed noise is included).

The same table has the network-density check (:func:`sim.validation.mechanisms.density_check`). Run with::

    python -m sim.validation.predictive replicates=100 seed=0 docs=true

(``replicates`` is the number of posterior draws) which rewrites the ``sf-posterior`` block of
docs/validation.md, with :data:`WORKERS` worker processes.

``python -m sim.validation.predictive drivers replicates=100 seed=0 docs=true`` runs the same draws and writes
block ``sf-posterior-drivers``: for each check whose verdict the posterior leaves open, the parameters that
carry it across the draws (partial rank correlation, :func:`prcc`), i.e. which parameters data would have
to narrow to settle it.

``python -m sim.validation.predictive levers replicates=100 seed=0 docs=true`` writes the strategists'
table, block ``preset-differences`` of docs/scenarios.md: what each preset changes against the baseline
at year 5, paired by replicate, over posterior draws (the runs ``sim-run run.posterior=FILE`` makes; its
``differences.csv`` has the same numbers); ``levers_sizes`` writes block ``preset-differences-sizes``, the
effects on use and depth in districts of other sizes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.config import REPO_ROOT, available_scenarios, load_config
from sim.runs.executors import _mp_context
from sim.runs.plots import format_difference
from sim.runs.posterior import Posterior, load_posterior
from sim.runs.runner import comparison_specs, run_many
from sim.runs.summary import paired_differences
from sim.validation.facts import SF_CHECKS, Check, Runs, sf_runs
from sim.validation.mechanisms import POSTERIOR, SIZES, density_check, size_label
from sim.validation.replicates import YEAR5

#: Posterior draws by default, and worker processes.
DRAWS, WORKERS = 100, 2


def draw_rows(posterior: Posterior, draws: int, seed: int) -> pd.DataFrame:
    """The parameter values of each draw: row ``posterior.draw_index(seed, r)`` of the sample for replicate
    ``r`` (one row per replicate, one column per parameter)."""
    return pd.DataFrame([dict(posterior.row(posterior.draw_index(seed, r))) for r in range(draws)],
                        columns=list(posterior.names))


def draw_overrides(posterior: Posterior, draws: int, seed: int) -> list[tuple[str, ...]]:
    """The overrides of each draw (:func:`draw_rows` as ``path=value`` strings)."""
    return [tuple(f"{name}={value}" for name, value in row.items())
            for row in draw_rows(posterior, draws, seed).to_dict("records")]


def posterior_checks(draws: int = DRAWS, seed: int = 0, posterior: str | Path | Posterior = POSTERIOR,
                     workers: int = WORKERS, overrides: tuple[str, ...] = (), *,
                     groups: Sequence[Callable[[Runs], list[Check]]] = SF_CHECKS, density: bool = True) -> list[Check]:
    """The stylized-fact checks of ``groups`` (default: all) and the network-density check, with replicates
    drawn from ``posterior`` (a file or a loaded sample; ``overrides``, e.g. a district size, apply to every run)."""
    post = posterior if isinstance(posterior, Posterior) else load_posterior(posterior)
    with ProcessPoolExecutor(workers, mp_context=_mp_context()) as pool:
        runs = sf_runs(draws, seed, overrides, draws=draw_overrides(post, draws, seed), executor=pool)
        return [c for group in groups for c in group(runs)] + ([density_check(runs)] if density else [])


def prcc(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Partial rank correlation coefficient of ``y`` with each column of ``x``, and its two-sided p-value.

    Marino, Hogue, Ray & Kirschner (2008), J. Theor. Biol. 254:178: ranks of ``y`` and of column ``j`` are
    each regressed (least squares) on the ranks of the other columns, and the coefficient is the Pearson
    correlation of the two residuals, so a parameter correlated in the sample with one that does the work
    is not credited with it. The p-value is the t test of that correlation with ``n - 2 - (k - 1)`` degrees
    of freedom (``n`` rows, ``k`` columns).

    Parameters
    ----------
    x : ndarray of shape (n, k)
        Parameter values, one row per run.
    y : ndarray of shape (n,)
        The measure of each run.

    Returns
    -------
    r, p : ndarray of shape (k,)
        NaN where ``y`` or a column does not vary, or ``n <= k + 1``.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n, k = x.shape
    r, p = np.full(k, np.nan), np.full(k, np.nan)
    df = n - 2 - (k - 1)
    if df < 1 or np.ptp(y) == 0:
        return r, p
    rx, ry = stats.rankdata(x, axis=0), stats.rankdata(y)
    for j in range(k):
        if np.ptp(rx[:, j]) == 0:
            continue
        z = np.column_stack([np.ones(n), np.delete(rx, j, axis=1)])
        ex = rx[:, j] - z @ np.linalg.lstsq(z, rx[:, j], rcond=None)[0]
        ey = ry - z @ np.linalg.lstsq(z, ry, rcond=None)[0]
        r[j] = float(np.clip(np.corrcoef(ex, ey)[0, 1], -1.0, 1.0))
        t = r[j] * np.sqrt(df / max(1e-300, 1.0 - r[j] ** 2))
        p[j] = float(2 * stats.t.sf(abs(t), df))
    return r, p


#: A check's verdict is "open" across the posterior when fewer than this share of draws meet its bound.
OPEN_BELOW = 0.9
#: Family-wise level of the partial rank correlations shown (Bonferroni over the parameters).
ALPHA = 0.05


def check_drivers(checks: list[Check], rows: pd.DataFrame, alpha: float = ALPHA,
                  open_below: float = OPEN_BELOW) -> pd.DataFrame:
    """For each check met by fewer than ``open_below`` of the draws, the parameters whose partial rank
    correlation with its per-draw value is significant at ``alpha`` after Bonferroni over the parameters.

    ``rows`` are the draws' parameters (:func:`draw_rows`), replicate ``r`` in row ``r``; a check whose values
    do not cover every replicate (some ratios leave replicates out) cannot be matched to its draws and is
    reported with no parameter and ``matched`` false.
    """
    out = []
    for c in checks:
        share = c.share_meeting()
        if not share < open_below:
            continue
        y = np.asarray(c.value.values, dtype=float)
        base = {"fact": c.fact, "claim": c.claim, "criterion": c.criterion(), "share_meeting": share}
        if y.size != len(rows):
            out.append({**base, "matched": False, "parameter": None, "prcc": np.nan, "p": np.nan})
            continue
        r, p = prcc(rows.to_numpy(dtype=float), y)
        keep = [j for j in np.argsort(-np.abs(np.nan_to_num(r))) if p[j] < alpha / rows.shape[1]]
        out.extend({**base, "matched": True, "parameter": rows.columns[j], "prcc": r[j], "p": p[j]} for j in keep)
        if not keep:
            out.append({**base, "matched": True, "parameter": None, "prcc": np.nan, "p": np.nan})
    return pd.DataFrame(out, columns=["fact", "claim", "criterion", "share_meeting", "matched", "parameter",
                                      "prcc", "p"])


def drivers_markdown(draws: int = DRAWS, seed: int = 0, shown: int = 4) -> str:
    """The ``sf-posterior-drivers`` block: per open check, the parameters that carry it (at most ``shown``)."""
    checks = posterior_checks(draws, seed)
    rows = draw_rows(load_posterior(POSTERIOR), draws, seed)
    d = check_drivers(checks, rows)
    head = ("| fact | measure | criterion | draws meeting the bound | parameters that carry it across the draws "
            "(partial rank correlation) |")
    lines = [head, "|---|---|---|---|---|"]
    for (fact, claim), g in d.groupby(["fact", "claim"], sort=False):
        first = g.iloc[0]
        if not first["matched"]:
            carried = "not matched to draws (some replicates have no value)"
        elif g["parameter"].isna().all():
            carried = f"none significant with {draws} draws"
        else:
            named = [f"`{q.parameter}` {q.prcc:+.2f}" for q in g.head(shown).itertuples()]
            more = len(g) - shown
            carried = ", ".join(named) + (f" (and {more} more)" if more > 0 else "")
        lines.append(f"| {fact} | {claim} | {first['criterion']} | {100 * first['share_meeting']:.0f}% | {carried} |")
    return "\n".join(lines)


def predictive_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``sf-posterior`` block: per check, the mean over posterior draws and the share of draws that meet it."""
    lines = ["| fact | measure | mean over draws [95% CI] | criterion | holds on average | draws meeting the bound |",
             "|---|---|---|---|---|---|"]
    for c in posterior_checks(draws, seed):
        lines.append(f"| {c.fact} | {c.claim} | {c.value} | {c.criterion()} | {'yes' if c.passes() else 'NO'} "
                     f"| {100 * c.share_meeting():.0f}% |")
    return "\n".join(lines)


#: The outcomes of the strategists' table, at the end of year 5, with their column headings.
LEVER_METRICS = {"teacher_adoption": "teachers using PL (points)", "deep_adoption": "with depth (points)",
                 "schoolwide_share": "schools where it is school-wide (points)",
                 "replications": "schools using another school's model (schools)"}


def preset_differences(draws: int = DRAWS, seed: int = 0, workers: int = WORKERS,
                       overrides: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every preset minus the baseline at year 5, replicate by replicate, each replicate a posterior draw
    (``overrides``, e.g. a district size, apply to every run)."""
    labels = ["baseline", *(p for p in available_scenarios() if p != "baseline")]
    specs, _ = comparison_specs(labels, draws, seed, overrides, load_posterior(POSTERIOR))
    ts = pd.concat(run_many(specs, workers=workers, progress=False), ignore_index=True)
    return paired_differences(ts, list(LEVER_METRICS), [YEAR5])


def levers_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``preset-differences`` block: per preset and outcome, the paired difference to the baseline."""
    d = preset_differences(draws, seed).set_index(["scenario", "metric"])

    def cell(row: pd.Series, metric: str) -> str:
        f = lambda x: format_difference(metric, x)
        return f"{f(row['mean'])} [{f(row['q05'])}, {f(row['q95'])}] ({100 * row['share_above']:.0f}%)"

    lines = ["| preset | " + " | ".join(LEVER_METRICS.values()) + " |", "|---" * (len(LEVER_METRICS) + 1) + "|"]
    for preset in dict.fromkeys(d.index.get_level_values("scenario")):
        lines.append(f"| `{preset}` | " + " | ".join(cell(d.loc[(preset, m)], m) for m in LEVER_METRICS) + " |")
    return "\n".join(lines)


def levers_sizes_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``preset-differences-sizes`` block: each preset's effect on use and on use with depth at year 5 in
    the default district and in the districts of :data:`sim.validation.mechanisms.SIZES`."""
    district = load_config("baseline").district
    sizes = {f"default ({district.schools} x {district.teachers_per_school})": (),
             **{size_label(name): ov for name, ov in SIZES.items()}}
    found = {name: preset_differences(draws, seed, overrides=ov).set_index(["scenario", "metric"])
             for name, ov in sizes.items()}

    def cell(d: pd.DataFrame, preset: str) -> str:
        use, deep = d.loc[(preset, "teacher_adoption")], d.loc[(preset, "deep_adoption")]
        return (f"{format_difference('teacher_adoption', use['mean'])} ({100 * use['share_above']:.0f}%) / "
                f"{format_difference('deep_adoption', deep['mean'])} ({100 * deep['share_above']:.0f}%)")

    lines = ["| preset | " + " | ".join(sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for preset in dict.fromkeys(found[next(iter(sizes))].index.get_level_values("scenario")):
        lines.append(f"| `{preset}` | " + " | ".join(cell(d, preset) for d in found.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.predictive [drivers | levers | levers_sizes] [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["drivers"]:
        return table_tool("python -m sim.validation.predictive drivers", __doc__ or "", argv[1:],
                          "sf-posterior-drivers", lambda n, seed: drivers_markdown(n, seed), DRAWS, 25)
    if argv[:1] == ["levers_sizes"]:
        return table_tool("python -m sim.validation.predictive levers_sizes", __doc__ or "", argv[1:],
                          "preset-differences-sizes", lambda n, seed: levers_sizes_markdown(n, seed), DRAWS, 2,
                          path=REPO_ROOT / "docs" / "scenarios.md")
    if argv[:1] == ["levers"]:
        return table_tool("python -m sim.validation.predictive levers", __doc__ or "", argv[1:],
                          "preset-differences", lambda n, seed: levers_markdown(n, seed), DRAWS, 2,
                          path=REPO_ROOT / "docs" / "scenarios.md")
    return table_tool("python -m sim.validation.predictive", __doc__ or "", argv, "sf-posterior",
                      lambda n, seed: predictive_markdown(n, seed), DRAWS, 2)


if __name__ == "__main__":
    raise SystemExit(main())
