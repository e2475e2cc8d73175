"""What carries the stylized-fact checks that the calibration's posterior leaves open: parameters, or seeds.

A check is *open* when fewer than :data:`OPEN_BELOW` of the single runs with parameters drawn from the
posterior meet its bound (block ``sf-posterior`` of docs/validation.md, :mod:`sim.validation.predictive`).
Two questions tell what would settle it:

- **Which parameters carry it?** ``python -m sim.validation.attribution drivers replicates=100 seed=0
  docs=true`` runs the draws of the ``sf-posterior`` block and writes block ``sf-posterior-drivers``: for
  each open check, the parameters whose partial rank correlation (:func:`prcc`) with its per-draw value is
  significant after Bonferroni over the parameters, i.e. which parameters data would have to narrow.
- **Parameters or seeds?** ``python -m sim.validation.attribution noise replicates=40 seed=0 docs=true``
  runs each of 40 draws with :data:`SEEDS_PER_DRAW` seeds and writes block ``sf-posterior-noise``: for each
  open check, the share of its run-to-run spread that lies between draws (:func:`variance_split`), the rest
  being the seed's. A check whose spread is mostly the seed's is open mostly because single runs are noisy:
  its verdict is one about the mean over seeds, which the parameters move less; one whose spread is mostly
  between draws is open because the parameters are unknown, and only data on them would settle it.

Both use :data:`sim.validation.predictive.WORKERS` worker processes.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats

from sim.runs.posterior import load_posterior
from sim.validation.facts import Check
from sim.validation.mechanisms import POSTERIOR
from sim.validation.predictive import DRAWS, draw_overrides, draw_rows, posterior_checks


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
    post = load_posterior(POSTERIOR)
    rows = draw_rows(post, draws, seed)
    d = check_drivers(posterior_checks(draws, seed, post), rows)
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
    corr = pd.DataFrame(post.values, columns=list(post.names)).corr(method="spearman").abs()
    pairs = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    a, b = pairs.idxmax()
    lines += ["", (f"The largest rank correlation between two parameters in the posterior sample: {pairs.max():.2f} "
                   f"(`{a}`, `{b}`).")]
    return "\n".join(lines)


#: Seeds per draw, and draws, of the variance split.
SEEDS_PER_DRAW, NOISE_DRAWS = 5, 40


def variance_split(values: np.ndarray, seeds: int) -> tuple[float, float]:
    """Share of the spread of per-run values that lies between draws, and the F test's p-value.

    ``values`` holds ``seeds`` consecutive runs per draw (run ``r`` belongs to draw ``r // seeds``). The share
    is the one-way random-effects intraclass correlation ICC(1) = (MSB - MSW) / (MSB + (seeds - 1) MSW),
    floored at 0 (MSB, MSW: mean squares between and within draws); the p-value is scipy's one-way ANOVA
    of the draws as groups (does the value depend on the draw at all?). NaN if nothing varies.
    """
    x = np.asarray(values, dtype=float).reshape(-1, seeds)
    msb = seeds * x.mean(axis=1).var(ddof=1)
    msw = x.var(axis=1, ddof=1).mean()
    if msb + msw == 0:
        return float("nan"), float("nan")
    share = max(0.0, (msb - msw) / (msb + (seeds - 1) * msw))
    p = float(stats.f_oneway(*x).pvalue) if msw > 0 else 0.0  # no spread within draws: the draw is all
    return float(share), p


def noise_checks(draws: int = NOISE_DRAWS, seed: int = 0, seeds: int = SEEDS_PER_DRAW) -> list[Check]:
    """Every stylized-fact check and the density check over ``draws`` posterior draws, each run with ``seeds``
    seeds (replicate ``r`` runs draw ``r // seeds`` with its own seed ``replicate_seed(seed, r)``)."""
    per_draw = draw_overrides(load_posterior(POSTERIOR), draws, seed)
    return posterior_checks(draws * seeds, seed, replicate_draws=[per_draw[r // seeds] for r in range(draws * seeds)])


def noise_markdown(draws: int = NOISE_DRAWS, seed: int = 0, seeds: int = SEEDS_PER_DRAW) -> str:
    """The ``sf-posterior-noise`` block: per open check, the share of its spread between draws."""
    head = ("| fact | measure | criterion | runs meeting the bound | share of the spread between draws "
            "(the parameters) | the rest: the seed |")
    lines = [head, "|---|---|---|---|---|---|"]
    n = draws * seeds
    for c in noise_checks(draws, seed, seeds):
        share = c.share_meeting()
        if not share < OPEN_BELOW:
            continue
        if len(c.value.values) != n:
            lines.append(f"| {c.fact} | {c.claim} | {c.criterion()} | {100 * share:.0f}% | not matched to draws "
                         "(some runs have no value) | |")
            continue
        between, p = variance_split(np.asarray(c.value.values), seeds)
        lines.append(f"| {c.fact} | {c.claim} | {c.criterion()} | {100 * share:.0f}% | {100 * between:.0f}% "
                     f"(F test p {p:.2g}) | {100 * (1 - between):.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.attribution drivers|noise [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["drivers"]:
        return table_tool("python -m sim.validation.attribution drivers", __doc__ or "", argv[1:],
                          "sf-posterior-drivers", lambda n, seed: drivers_markdown(n, seed), DRAWS, 25)
    if argv[:1] == ["noise"]:
        return table_tool("python -m sim.validation.attribution noise", __doc__ or "", argv[1:],
                          "sf-posterior-noise", lambda n, seed: noise_markdown(n, seed), NOISE_DRAWS, 3)
    print("usage: python -m sim.validation.attribution drivers|noise [replicates=N] [seed=N] [docs=true]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
