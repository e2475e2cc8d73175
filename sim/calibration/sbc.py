"""Simulation-based calibration (rank statistics) of a pattern calibration, locally around its posterior.

``python -m sim.calibration.sbc experiment=calibrate_cases posterior=CSV out=DIR
[reference=500 datasets=100 accept=25 workers=2 seed=0]``.

If an inference method is calibrated, the rank of a true parameter among
posterior draws made from data simulated with it is uniform (Talts et al.
2018). The local prior is the calibration's posterior, smoothed: draws are
resampled by weight from the posterior sample and jittered with a normal
kernel of a fifth of each parameter's posterior spread, clipped to the
experiment's prior bounds. ``reference`` draws from it are simulated once
(a reference table); each of ``datasets`` further draws gives synthetic data
(its targets' deviations), and rejection ABC with the calibration's distance
keeps the ``accept`` nearest reference runs as its posterior sample. The
rank of the true value among them (0..accept) should be uniform: a
chi-square test on five bins per parameter tells. Writes ``DIR/ranks.csv``,
``DIR/sbc.csv`` (one row per parameter) and ``DIR/sbc.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.cases import load_cases, make_case_simulator, read_posterior_sample, simulate_targets
from sim.calibration.experiment import load_experiment
from sim.config import ConfigError
from sim.exits import EXIT_BAD_INPUT, catch_ctrl_c


def local_prior(sample: pd.DataFrame, keys: list[str], bounds: dict[str, tuple[float, float]], n: int,
                rng: np.random.Generator) -> pd.DataFrame:
    """``n`` draws from the smoothed posterior (resample by weight, jitter by a fifth of the spread, clip)."""
    w = sample["weight"].to_numpy(float)
    w = w / w.sum()
    x = sample[keys].to_numpy(float)
    sd = np.sqrt(((x - w @ x) ** 2 * w[:, None]).sum(0))
    draws = x[rng.choice(len(x), size=n, p=w)] + rng.normal(0.0, 1.0, (n, len(keys))) * sd / 5
    lo, hi = np.array([bounds[k][0] for k in keys]), np.array([bounds[k][1] for k in keys])
    return pd.DataFrame(np.clip(draws, lo, hi), columns=keys)


def ranks(ref_theta: np.ndarray, ref_x: np.ndarray, true_theta: np.ndarray, true_x: np.ndarray, accept: int,
          rng: np.random.Generator) -> np.ndarray:
    """Rank (0..accept) of each true parameter among the ``accept`` nearest reference runs (ties broken at random)."""
    out = np.empty_like(true_theta, dtype=int)
    for i in range(len(true_theta)):
        d = np.sqrt(((ref_x - true_x[i]) ** 2).sum(1))
        near = np.lexsort((rng.random(len(d)), d))[:accept]
        out[i] = (ref_theta[near] < true_theta[i]).sum(0)
    return out


def uniformity(r: np.ndarray, accept: int, bins: int = 5) -> np.ndarray:
    """Chi-square p-value of uniform ranks, per column."""
    from scipy.stats import chisquare

    edges = np.linspace(-0.5, accept + 0.5, bins + 1)
    return np.array([chisquare(np.histogram(r[:, j], edges)[0]).pvalue for j in range(r.shape[1])])


def run_sbc(experiment: str, posterior: str, out: str | Path, reference: int = 500, datasets: int = 100,
            accept: int = 25, workers: int = 2, seed: int = 0) -> pd.DataFrame:
    """Simulation-based calibration; returns one row per parameter (chi-square p-value of uniform ranks)."""
    from sim.calibration.calibrate import Executor

    exp = load_experiment(experiment)
    if not exp.cases:
        raise ConfigError(f"experiment={experiment}: SBC here needs a cases experiment (with 'cases:').")
    if not (accept >= 5 and reference >= 2 * accept and datasets >= 10):
        raise ConfigError("need accept >= 5, reference >= 2 * accept and datasets >= 10.")
    keys = list(exp.free)
    sample = read_posterior_sample(posterior, keys)
    sim = make_case_simulator(load_cases(exp.cases), "calibration", exp.fixed)
    ss = np.random.SeedSequence(seed, spawn_key=(60_000,))
    draw_ss, sim_ss, tie_ss = ss.spawn(3)
    rng = np.random.default_rng(draw_ss)
    theta = local_prior(sample, keys, {k: (p.low, p.high) for k, p in exp.free.items()}, reference + datasets, rng)
    seeds = sim_ss.generate_state(len(theta)).tolist()
    start = time.perf_counter()
    with Executor("processes", workers) as ex:
        xs = pd.DataFrame(ex.map(simulate_targets, [(sim, p, s) for p, s in zip(theta.to_dict("records"), seeds)]))
    seconds = time.perf_counter() - start
    t, x = theta.to_numpy(float), xs.to_numpy(float)
    r = ranks(t[:reference], x[:reference], t[reference:], x[reference:], accept, np.random.default_rng(tie_ss))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(r, columns=keys).to_csv(out / "ranks.csv", index=False)
    p = uniformity(r, accept)
    table = pd.DataFrame({"parameter": keys, "chi2_p": p, "uniform_at_1pct": p >= 0.01,
                          "mean_rank_share": r.mean(0) / accept})
    table.attrs.update(simulations=len(theta), seconds=seconds)
    table.to_csv(out / "sbc.csv", index=False)
    _plot(r, keys, accept, out / "sbc.png")
    return table


def _plot(r: np.ndarray, keys: list[str], accept: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.3 * rows), squeeze=False)
    edges = np.linspace(-0.5, accept + 0.5, 6)
    for ax, k, j in zip(axes.flat, keys, range(len(keys))):
        ax.hist(r[:, j], edges, color="#0072B2")
        ax.axhline(len(r) / 5, color="#D55E00", lw=1, ls="--")
        ax.set_title(k, fontsize=8)
        ax.set_xlabel(f"rank of the true value (0-{accept})", fontsize=7)
        ax.set_ylabel("synthetic datasets", fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle("Simulation-based calibration: ranks should be uniform (dashed line)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m sim.calibration.sbc experiment=NAME posterior=CSV out=DIR [key=value ...]``."""
    catch_ctrl_c()
    ints = {"reference": 500, "datasets": 100, "accept": 25, "workers": 2, "seed": 0}
    try:
        args = {}
        for a in sys.argv[1:] if argv is None else argv:
            k, eq, v = a.partition("=")
            if not eq or k not in {"experiment", "posterior", "out", *ints}:
                raise ConfigError(f"argument {a!r}: use key=value with keys experiment, posterior, out, "
                                  f"{', '.join(ints)}.")
            args[k] = v
        for k in ints:
            try:
                args[k] = int(args.get(k, ints[k]))
            except ValueError:
                raise ConfigError(f"argument {k}={args[k]!r} must be an integer.") from None
        missing = [k for k in ("experiment", "posterior", "out") if k not in args]
        if missing:
            raise ConfigError(f"missing argument(s) {', '.join(k + '=' for k in missing)}.")
        table = run_sbc(**args)
    except ConfigError as exc:
        print(f"sbc: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    print(table.to_string(index=False))
    print(f"{table.attrs['simulations']} simulations in {table.attrs['seconds']:.0f} s; wrote {args['out']}/")


if __name__ == "__main__":
    main()
