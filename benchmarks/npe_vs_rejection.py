"""How close NPE posteriors come to the exact rejection-ABC posterior of the same calibration problem.

Rejection ABC with distance 0 samples the posterior given "every calibration target inside its
published range" exactly (up to its own sampling error); neural posterior estimation approximates
that posterior from fewer simulations. This compares each NPE posterior sample with the rejection
sample, on the same free parameters and targets:

- per parameter, the medians and the 5% and 95% quantiles, and the difference of medians in units
  of the rejection median's standard error (bootstrap over the rejection sample);
- overall, the classifier two-sample test of sbi (``sbi.utils.metrics.c2st``, a random forest with
  5-fold cross-validation): 0.5 when a classifier cannot tell the samples apart, 1 when it always can.
  As a reference for what sampling noise alone gives, two halves of the rejection sample are compared
  the same way.

Needs ``sbi`` (``pip install -e ".[npe]"``). Run from the repository root::

    python benchmarks/npe_vs_rejection.py --rejection experiments/data/posterior_cases.csv \\
        --npe none=results/calibrate_cases/posterior_sample.csv \\
        --npe logit=results/calibrate_cases_logit/posterior_sample.csv --out benchmarks/npe_vs_rejection.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def _median_se(x: np.ndarray, rng: np.random.Generator, draws: int = 2000) -> float:
    """Bootstrap standard error of the median of ``x``."""
    idx = rng.integers(0, x.size, size=(draws, x.size))
    return float(np.median(x[idx], axis=1).std(ddof=1))


def _c2st(a: pd.DataFrame, b: pd.DataFrame, seed: int) -> float:
    import torch
    from sbi.utils.metrics import c2st

    return float(c2st(torch.as_tensor(a.to_numpy(float)), torch.as_tensor(b.to_numpy(float)), seed=seed))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rejection", required=True, help="rejection-ABC posterior sample (CSV, one column per parameter)")
    ap.add_argument("--npe", action="append", required=True, metavar="LABEL=CSV",
                    help="an NPE posterior sample to compare (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/npe_vs_rejection.csv")
    a = ap.parse_args()

    rej = pd.read_csv(a.rejection)
    params = [c for c in rej.columns if c != "weight"]
    rej = rej[params]
    rng = np.random.default_rng(a.seed)
    se = {p: _median_se(rej[p].to_numpy(), rng) for p in params}
    halves = rej.sample(frac=1.0, random_state=a.seed).reset_index(drop=True)
    n = len(halves) // 2
    noise = _c2st(halves.iloc[:n], halves.iloc[n:2 * n], a.seed)
    rows = [{"sample": "rejection, one half against the other", "parameter": "(all)", "c2st": noise}]
    for p in params:
        q = rej[p].quantile([0.05, 0.5, 0.95]).to_numpy()
        rows.append({"sample": "rejection", "parameter": p, "q05": q[0], "median": q[1], "q95": q[2]})
    for spec in a.npe:
        label, _, path = spec.partition("=")
        npe = pd.read_csv(path)[params]
        rows.append({"sample": f"NPE {label}", "parameter": "(all)", "c2st": _c2st(rej, npe, a.seed)})
        for p in params:
            q = npe[p].quantile([0.05, 0.5, 0.95]).to_numpy()
            rows.append({"sample": f"NPE {label}", "parameter": p, "q05": q[0], "median": q[1], "q95": q[2],
                         "median_shift_in_se": (q[1] - rej[p].median()) / se[p]})
    out = pd.DataFrame(rows)
    out.to_csv(a.out, index=False)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(out.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
