"""ABC against neural posterior estimation (sbi) on the cases calibration: simulations for the same accuracy.

Both methods fit the free parameters of ``experiments/calibrate_cases.yaml`` to
the calibration targets of ``experiments/data/cases.yaml`` (summaries: each
target's deviation in tolerances; observed: all zero). Accuracy of a posterior
is measured the same way for both: ``check`` parameter vectors drawn from it
are simulated, and we report the mean pattern distance (Euclidean norm of the
deviations, the ABC distance) and the share of runs that meet every
calibration target within its tolerance. ABC is read generation by
generation from a finished ``sim-calibrate experiment=calibrate_cases`` run (one generation with
``abc.initial_epsilon: 0`` is rejection ABC);
NPE (sbi's default masked autoregressive flow) is trained on ``budgets`` prior
simulations. Needs ``sbi`` and ``torch`` (not dependencies of the package):

    python benchmarks/compare_abc_npe.py --abc results/calibrate_cases --budgets 500,1000 --check 40 \\
        --out benchmarks/abc_vs_npe.csv

Results are written to ``--out`` (one row per method and budget) and quoted in docs/calibration.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.calibrate import Executor
from sim.calibration.cases import load_cases, make_case_simulator, simulate_targets
from sim.calibration.experiment import load_experiment
from sim.docblocks import model_hash


def accuracy(sim, ex: Executor, params: list[dict[str, float]], seed: int) -> tuple[float, float]:
    """Mean pattern distance and share of runs meeting every calibration target, over ``params``."""
    seeds = np.random.SeedSequence(seed, spawn_key=(50_000,)).generate_state(len(params)).tolist()
    devs = pd.DataFrame(ex.map(simulate_targets, [(sim, p, s) for p, s in zip(params, seeds)])).to_numpy(float)
    return float(np.sqrt((devs ** 2).sum(1)).mean()), float((devs <= 1.0).all(1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--abc", required=True, help="output directory of sim-calibrate experiment=calibrate_cases")
    ap.add_argument("--budgets", default="500,1000", help="NPE training simulations, comma-separated")
    ap.add_argument("--check", type=int, default=40, help="posterior draws simulated to measure accuracy")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/abc_vs_npe.csv")
    ap.add_argument("--train-cache", default=None,
                    help="prior simulations for NPE, reused if present with the same budget (default: "
                         "results/abc_vs_npe_train_<model hash>.csv, so a changed model never reuses them)")
    ap.add_argument("--train-only", action="store_true", help="only simulate (and cache) the NPE training set")
    a = ap.parse_args()

    import pyabc
    import sbi
    import torch
    from sbi.inference import NPE
    from sbi.utils import BoxUniform

    exp = load_experiment("calibrate_cases")
    keys = list(exp.free)
    cases = load_cases(exp.cases)
    sim = make_case_simulator(cases, "calibration", exp.fixed)
    budgets = sorted(int(b) for b in a.budgets.split(","))
    rows = []
    with Executor("processes", a.workers) as ex:
        # prior: the accuracy of no fit at all
        rng = np.random.default_rng(np.random.SeedSequence(exp.seed, spawn_key=(40_000,)))
        prior_draws = pd.DataFrame({k: p.rv().rvs(size=max(budgets) + a.check, random_state=rng)
                                    for k, p in exp.free.items()})
        check = prior_draws.iloc[-a.check:].to_dict("records")
        if not a.train_only:
            d, share = accuracy(sim, ex, check, exp.seed)
            rows.append({"method": "prior", "simulations": 0, "mean_distance": d, "share_all_targets": share,
                         "seconds": 0.0})
            print(rows[-1], flush=True)
        seeds = np.random.SeedSequence(exp.seed, spawn_key=(40_002,)).generate_state(max(budgets)).tolist()
        train = prior_draws.iloc[:max(budgets)]
        cache = Path(a.train_cache or f"results/abc_vs_npe_train_{model_hash()}.csv")
        if cache.exists() and len(pd.read_csv(cache)) == max(budgets):
            xs = pd.read_csv(cache)
            sim_seconds = float("nan")
        else:
            start = time.perf_counter()
            xs = pd.DataFrame(ex.map(simulate_targets, [(sim, p, s) for p, s in zip(train.to_dict("records"), seeds)]))
            sim_seconds = time.perf_counter() - start
            cache.parent.mkdir(parents=True, exist_ok=True)
            xs.to_csv(cache, index=False)
            print(f"{max(budgets)} prior simulations in {sim_seconds:.0f} s", flush=True)
        if a.train_only:
            return
        # ABC-SMC, generation by generation
        h = pyabc.History(f"sqlite:///{Path(a.abc) / 'history.db'}", create=False)
        pops = h.get_all_populations()
        pops = pops[pops["t"] >= 0]
        spent = 0
        pick = np.random.default_rng(np.random.SeedSequence(exp.seed, spawn_key=(40_001,)))
        for t, samples in zip(pops["t"].astype(int), pops["samples"].astype(int)):
            spent += samples
            df, w = h.get_distribution(m=0, t=t)
            idx = pick.choice(len(df), size=a.check, p=np.asarray(w) / np.sum(w))
            params = [{k: float(df[k].iloc[i]) for k in keys} for i in idx]
            d, share = accuracy(sim, ex, params, exp.seed + t + 1)
            label = "rejection ABC" if len(pops) == 1 else f"ABC-SMC generation {t + 1}"
            rows.append({"method": label, "simulations": spent, "mean_distance": d,
                         "share_all_targets": share, "seconds": float("nan")})
            print(rows[-1], flush=True)
        # NPE on prior simulations
        lows = torch.tensor([p.low for p in exp.free.values()], dtype=torch.float32)
        highs = torch.tensor([p.high for p in exp.free.values()], dtype=torch.float32)
        torch.manual_seed(exp.seed)
        for n in budgets:
            start = time.perf_counter()
            theta = torch.tensor(train.iloc[:n].to_numpy(), dtype=torch.float32)
            x = torch.tensor(xs.iloc[:n].to_numpy(), dtype=torch.float32)
            inference = NPE(prior=BoxUniform(lows, highs), show_progress_bars=False)
            inference.append_simulations(theta, x).train(show_train_summary=False)
            posterior = inference.build_posterior()
            x_o = torch.zeros(1, x.shape[1])
            samples = posterior.sample((a.check,), x=x_o, show_progress_bars=False).numpy()
            secs = time.perf_counter() - start
            params = [dict(zip(keys, map(float, r))) for r in samples]
            d, share = accuracy(sim, ex, params, exp.seed + 100 + n)
            rows.append({"method": f"NPE (sbi {sbi.__version__})", "simulations": n, "mean_distance": d,
                         "share_all_targets": share, "seconds": secs})
            print(rows[-1], flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(a.out, index=False)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
