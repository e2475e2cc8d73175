"""ABC against neural posterior estimation (sbi) on the cases calibration: simulations for the same accuracy.

Both methods fit the free parameters of ``experiments/calibrate_cases.yaml`` to
the calibration targets of ``experiments/data/cases.yaml`` (summaries: each
target's deviation in tolerances; observed: all zero). Accuracy of a posterior
is measured the same way for both: ``check`` parameter vectors drawn from it
are simulated, and we report the mean pattern distance (Euclidean norm of the
deviations, the ABC distance) and the share of runs that meet every
calibration target within its tolerance. ABC is read generation by
generation from a finished ``sim-calibrate experiment=calibrate_cases method=abc`` run (the
experiment's ``abc`` section: one generation with ``abc.initial_epsilon: 0`` is rejection ABC);
NPE is the package's own (:mod:`sim.calibration.npe`, the experiment's ``npe`` settings), trained on
the first ``budgets`` prior simulations of the calibration's own sequence (the 4,000 of
``sim-calibrate experiment=calibrate_cases`` are the first 4,000 here). Needs the npe extra
(``pip install -e ".[npe]"``):

    sim-calibrate experiment=calibrate_cases method=abc out=results/calibrate_cases_abc
    python benchmarks/compare_abc_npe.py --abc results/calibrate_cases_abc --budgets 1000,4000,12000 --check 60 \\
        --out benchmarks/abc_vs_npe.csv

Without ``--abc`` only the prior and NPE rows are measured; ``--transforms none,logit`` compares the two
spaces NPE can learn the parameters in (``npe.transform``).

Results are written to ``--out`` (one row per method and budget) and quoted in docs/calibration.md.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.calibrate import Executor, _simulate
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
    ap.add_argument("--abc", default="",
                    help="output directory of sim-calibrate experiment=calibrate_cases method=abc (none: no ABC rows)")
    ap.add_argument("--transforms", default="none",
                    help="npe.transform values to train with, comma-separated (none, logit)")
    ap.add_argument("--budgets", default="1000,4000", help="NPE training simulations, comma-separated")
    ap.add_argument("--check", type=int, default=40, help="posterior draws simulated to measure accuracy")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/abc_vs_npe.csv")
    ap.add_argument("--simulations", default=None,
                    help="folder of the prior simulations for NPE, resumed if present (default: "
                         "results/abc_vs_npe_sims_<model hash>, so a changed model never reuses them)")
    ap.add_argument("--train-only", action="store_true", help="only simulate (and save) the NPE training set")
    a = ap.parse_args()

    import pyabc
    import sbi

    from sim.calibration import npe

    exp = load_experiment("calibrate_cases")
    keys = list(exp.free)
    cases = load_cases(exp.cases)
    sim = make_case_simulator(cases, "calibration", exp.fixed)
    observed = {t.id: 0.0 for t in cases.select("calibration")}
    budgets = sorted(int(b) for b in a.budgets.split(","))
    rows = []
    with Executor("processes", a.workers) as ex:
        # prior: the accuracy of no fit at all
        rng = np.random.default_rng(np.random.SeedSequence(exp.seed, spawn_key=(40_000,)))
        check = pd.DataFrame({k: p.rv().rvs(size=a.check, random_state=rng)
                              for k, p in exp.free.items()}).to_dict("records")
        if not a.train_only:
            d, share = accuracy(sim, ex, check, exp.seed)
            rows.append({"method": "prior", "simulations": 0, "mean_distance": d, "share_all_targets": share,
                         "seconds": 0.0})
            print(rows[-1], flush=True)
        folder = Path(a.simulations or f"results/abc_vs_npe_sims_{model_hash()}")
        start = time.perf_counter()
        big = replace(exp, npe=replace(exp.npe, simulations=max(budgets)))
        theta, xs = npe.simulate_prior(big, _simulate, sim, ex, folder, list(observed))
        print(f"{max(budgets)} prior simulations ready in {time.perf_counter() - start:.0f} s", flush=True)
        if a.train_only:
            return
        # ABC-SMC, generation by generation
        pops = pd.DataFrame({"t": [], "samples": []})
        if a.abc:
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
        # NPE on the first n prior simulations, as sim-calibrate trains it
        for transform in a.transforms.split(","):
            for n in budgets:
                start = time.perf_counter()
                exp_n = replace(exp, npe=replace(exp.npe, simulations=n, draws=a.check, transform=transform))
                fit = npe.train(exp_n, theta.iloc[:n], xs.iloc[:n])
                sample = npe.draw(exp_n, fit, observed)
                secs = time.perf_counter() - start
                params = sample[keys].to_dict("records")
                d, share = accuracy(sim, ex, params, exp.seed + 100 + n)
                label = f"NPE (sbi {sbi.__version__})" + (f", transform {transform}" if transform != "none" else "")
                rows.append({"method": label, "simulations": n, "mean_distance": d,
                             "share_all_targets": share, "seconds": secs})
                print(rows[-1], flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(a.out, index=False)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
