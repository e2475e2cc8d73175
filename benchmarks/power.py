"""Power of the equivalence test in tests/test_equivalence.py.

The test compares 200 end-of-run outcome vectors of the vectorized model with
200 of the per-agent reference (:func:`sim.district.reference.compare`: a two-sample KS
test per outcome, Bonferroni at family level 1%). Two estimates of what it can
detect, both by simulation with the vectorized model:

1. Location shift: two disjoint samples of 200 runs are drawn from a pool of
   vectorized runs, one outcome of one sample is shifted (shares of teachers
   by whole teachers, exhaustion by multiples of its standard deviation), and
   the whole procedure is applied; power is the share of rejections over
   ``--reps`` draws (shift 0 gives the test's size).
2. Rule change: a parameter of the teacher rules is changed by a few percent
   and 200 fresh runs of the changed model are compared with 200 fresh runs
   of the unchanged one, ``--param-reps`` times.

Run from the repository root (several minutes)::

    PYTHONPATH=$PWD python benchmarks/power.py            # writes benchmarks/power_results.json
    PYTHONPATH=$PWD python benchmarks/power.py --quick
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.config import load_container  # noqa: E402
from sim.district.model import DistrictModel  # noqa: E402
from sim.district.reference import CHECK_CONFIGS, OUTCOMES, compare, end_of_run  # noqa: E402
from sim.provenance import provenance  # noqa: E402

N = 200  # runs per implementation in the test
ALPHA = 0.01
DELTAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)  # exhaustion shifts, in SD
CHANGES = (("teacher.explore_rate", (0.10, 0.20, 0.30)), ("teacher.energy_drain", (0.05, 0.10, 0.20)),
           ("peers.influence", (0.25, 0.50, 1.00)))


def shifts(pool: np.ndarray, k: int, teachers: int) -> np.ndarray:
    """Shifts tried for outcome ``k``: whole teachers for shares of teachers, SD multiples otherwise.

    Shares of teachers take values on a grid of ``1 / teachers``; shifting them
    by less than a grid step would move every tie past its counterpart, which a
    KS test flags at once, so those outcomes are shifted by whole teachers.
    """
    values = pool[:, k] * teachers
    if np.allclose(values, np.round(values)):
        return np.arange(6) / teachers
    return np.asarray(DELTAS) * pool[:, k].std()


def shift_power(pool: np.ndarray, reps: int, teachers: int, rng: np.random.Generator) -> dict[str, dict]:
    """Rejection rate of :func:`compare` when one outcome of one sample is shifted (others untouched)."""
    out = {}
    for k, name in enumerate(OUTCOMES):
        grid, rates = shifts(pool, k, teachers), []
        for shift in grid:
            hits = 0
            for _ in range(reps):
                idx = rng.permutation(len(pool))
                a, b = pool[idx[:N]], pool[idx[N:2 * N]].copy()
                b[:, k] += shift
                hits += compare(a, b, ALPHA).differ
            rates.append(hits / reps)
        sd = float(pool[:, k].std())
        out[name] = {"mean": float(pool[:, k].mean()), "sd": sd, "shifts": grid.tolist(),
                     "shifts_sd": (grid / sd).tolist() if sd > 0 else None, "rates": rates,
                     "shift80": smallest_detected(grid.tolist(), rates)}
    return out


def smallest_detected(deltas, rates, power: float = 0.8) -> float | None:
    """First ``delta`` whose rejection rate reaches ``power`` (linear interpolation between grid points)."""
    for i, (d1, r1) in enumerate(zip(deltas, rates)):
        if r1 >= power:
            if i == 0:
                return d1
            d0, r0 = deltas[i - 1], rates[i - 1]
            return d0 + (power - r0) * (d1 - d0) / (r1 - r0)
    return None


def rule_change_power(config: str, reps: int, seed0: int) -> list[dict]:
    """Rejection rate when one teacher-rule parameter is raised by a few percent."""
    overrides = CHECK_CONFIGS[config]
    base_cfg = load_container("baseline", overrides)
    rows = []
    seed = seed0
    for param, rel in CHANGES:
        section, key = param.split(".")
        value = base_cfg[section][key]
        for r in rel:
            changed = (*overrides, f"{param}={value * (1 + r):.6g}")
            hits = 0
            for _ in range(reps):
                a = end_of_run(DistrictModel, overrides, range(seed, seed + N))
                b = end_of_run(DistrictModel, changed, range(seed + N, seed + 2 * N))
                seed += 2 * N
                hits += compare(a, b, ALPHA).differ
            rows.append({"config": config, "parameter": param, "default": value, "relative_change": r,
                         "power": hits / reps, "reps": reps})
            print(f"  {config:8s} {param:22s} +{r:4.0%}: rejected {hits}/{reps}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pool", type=int, default=600, help="vectorized runs per configuration for the shifts")
    ap.add_argument("--reps", type=int, default=400, help="draws per shift")
    ap.add_argument("--param-reps", type=int, default=10, help="repetitions per rule change")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "power_results.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.param_reps = 100, 3
    rng = np.random.default_rng(2024)
    res: dict = {"n_per_sample": N, "alpha_family": ALPHA, "shift": {}, "rule_change": []}
    for config in sorted(CHECK_CONFIGS):
        cfg = load_container("baseline", CHECK_CONFIGS[config])
        teachers = cfg["district"]["schools"] * cfg["district"]["teachers_per_school"]
        pool = end_of_run(DistrictModel, CHECK_CONFIGS[config], range(500_000, 500_000 + args.pool))
        res["shift"][config] = shift_power(pool, args.reps, teachers, rng)
        print(f"\n{config}: rejection rate when one outcome is shifted, {args.reps} draws, n = {N} + {N}")
        for name, r in res["shift"][config].items():
            s80 = r["shift80"]
            at = "none" if s80 is None else f"{s80:.4f} ({s80 / r['sd']:.2f} SD)"
            print(f"  {name:18s} mean {r['mean']:.4f} sd {r['sd']:.4f}; shift -> rate: "
                  + ", ".join(f"{x:.4f}->{p:.2f}" for x, p in zip(r["shifts"], r["rates"])) + f"; 80% at {at}")
    print(f"\nrule changes (config 'simple'), {args.param_reps} repetitions of {N} + {N} fresh runs")
    res["rule_change"] = rule_change_power("simple", args.param_reps, 600_000)
    res["provenance"] = provenance(benchmark="benchmarks/power.py", quick=args.quick, pool=args.pool,
                                   reps=args.reps, param_reps=args.param_reps)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
