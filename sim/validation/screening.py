"""The screening search that set parameters before the cases calibration could fit them (kept as the record).

Not a calibration: a Latin-hypercube sample of those parameters within their
documented ranges, each point scored by how many stylized-fact checks
(:data:`sim.validation.facts.SF_CHECKS`) it passes over a few replicates; the
best point (ties: the earlier one) gave their defaults. The cases calibration
(experiments/calibrate_cases.yaml) has since fitted all of them but Lake
County's two review thresholds, which only Lake County's held-out record
informs; those keep the search's values (:mod:`sim.validation.dependence`
shows which checks rest on them). :data:`SPACE` gave the calibration its
priors. Run with::

    python -m sim.validation.screening --points 16 --replicates 4 --seed 0
    python -m sim.validation.screening --points 12 --replicates 8 --seed 1 --local 0.25 --out screening_local.csv

The first command is the global stage, the second a local stage around the
defaults the first chose. Each prints every point with its score and writes
it to ``docs/figures/``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd
from scipy.stats import qmc

from sim.config import REPO_ROOT
from sim.validation.facts import all_checks

#: Searched parameters and the part of their documented range that is sampled.
SPACE: dict[str, tuple[float, float]] = {
    "teacher.focus_adapt": (0.02, 0.3),
    "teacher.goal_weight": (0.2, 0.8),
    "teacher.abandon_support_loss": (0.0, 1.5),
    "teacher.abandon_colleagues": (0.0, 0.4),
    "teacher.inclusion_skill": (0.5, 3.0),
    "peers.help": (0.0, 0.5),
    "peers.help_reach": (0.05, 1.0),
    "principal.open_boost": (0.0, 2.0),
    "principal.close_lag": (0.0, 20.0),
    "policy.pressure_dip": (0.0, 2.0),
    "policy.waiver_months": (1.0, 12.0),
    "policy.waiver_grant": (0.3, 1.0),
    "backaway.min_adoption": (0.1, 0.5),
    "backaway.dip_tolerance": (0.05, 0.4),
}
INTEGER = {"principal.close_lag", "policy.waiver_months"}


def sample(points: int, seed: int = 0, around: dict[str, float] | None = None, width: float = 1.0) -> pd.DataFrame:
    """A scrambled Latin-hypercube sample of :data:`SPACE` (one row per point).

    With ``around`` (a point), the sample covers a box of ``width`` times each range centred on it
    (clipped to the range): the second, local stage of the search.
    """
    unit = qmc.LatinHypercube(d=len(SPACE), seed=seed).random(points)
    lo, hi = np.array(list(SPACE.values())).T
    if around is not None:
        centre = np.array([around[k] for k in SPACE])
        half = width * (hi - lo) / 2
        lo, hi = np.maximum(lo, centre - half), np.minimum(hi, centre + half)
    x = pd.DataFrame(lo + unit * (hi - lo), columns=list(SPACE))
    for name in INTEGER:
        x[name] = x[name].round().astype(int)
    return x


def overrides(row: pd.Series) -> tuple[str, ...]:
    return tuple(f"{k}={int(v) if k in INTEGER else round(float(v), 4)}" for k, v in row.items())


def score(ov: tuple[str, ...], replicates: int, base_seed: int = 0) -> tuple[int, int]:
    """(checks passed, checks) of every stylized-fact check at ``ov``."""
    checks = all_checks(replicates, base_seed, ov)
    return sum(c.passes() for c in checks), len(checks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--replicates", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--local", type=float, default=0.0,
                    help="second stage: sample a box of this width (share of each range) around the current "
                         "defaults (Lake County's review thresholds from its preset)")
    ap.add_argument("--out", default="screening.csv", help="file name under docs/figures/")
    a = ap.parse_args(argv)
    around = None
    if a.local > 0:
        from sim.config import load_config

        cfg = load_config("lake_backing_away")
        around = {k: float(cfg[k.split(".")[0]][k.split(".")[1]]) for k in SPACE}
    x = sample(a.points, a.seed, around, a.local if a.local > 0 else 1.0)
    ovs = [overrides(r) for _, r in x.iterrows()]
    results: list[tuple[int, int]] = [(0, 0)] * len(ovs)
    with ProcessPoolExecutor(a.workers) as pool:
        futures = {pool.submit(score, ov, a.replicates): k for k, ov in enumerate(ovs)}
        for f in as_completed(futures):
            k = futures[f]
            results[k] = f.result()
            print(f"point {k}: {results[k][0]}/{results[k][1]} checks", flush=True)
    x["passed"] = [r[0] for r in results]
    x["checks"] = [r[1] for r in results]
    out = REPO_ROOT / "docs" / "figures" / a.out
    x.to_csv(out, index_label="point")
    print(x.to_string())
    best = int(x["passed"].idxmax())
    print(f"best point {best}: {x.loc[best, 'passed']}/{x.loc[best, 'checks']} checks; written {out}")
    print(" ".join(ovs[best]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
