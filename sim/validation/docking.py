"""Docking with diffusion theory: the Bass (1969) model and complex contagion (Centola 2010)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.district.model import DistrictModel
from sim.district.state import Stage
from sim.validation.replicates import mean_ci, paired_ci, run_replicates

# -- docking with the Bass model ------------------------------------------------------

def bass_cdf(t: np.ndarray | float, p: float, q: float) -> np.ndarray:
    """Bass (1969) cumulative adoption F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t})."""
    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1 - e) / (1 + (q / p) * e)


#: Overrides shared by the docking configurations: no abandonment, turnover,
#: pressure (nor its feedback), school models, principals' opening or trait
#: heterogeneity; every school active with full, institutional flexibility;
#: an explorer commits at once.
REDUCED_MODEL = (
    "teacher.turnover=0", "teacher.abandon_base=0", "teacher.abandon_exhaustion=0",
    "teacher.abandon_poor_signal=0", "teacher.abandon_pressure=0", "teacher.explore_dropout=0",
    "teacher.abandon_support_loss=0", "teacher.abandon_colleagues=0", "policy.pressure_dip=0",
    "principal.open_boost=0", "peers.help=0", "peers.contagion=simple",
    "teacher.enthusiasm_mean=1", "teacher.enthusiasm_sd=0", "teacher.autonomy_mean=1", "teacher.autonomy_sd=0",
    "teacher.commit_rate=1", "teacher.commit_support_weight=0",
    "policy.flexibility=1", "policy.flexibility_mode=institutionalized", "policy.test_pressure=0",
    "principal.codify_rate=0", "rollout.mode=all",
)


def bass_recursion(p: float, q: float, steps: int, dt: float = 0.1) -> np.ndarray:
    """Mean-field recursion of the discrete-time Bass hazard the model implements, F_0 .. F_steps:
    F_{k+1} = F_k + (1 - F_k)(1 - exp(-(p + q F_k) dt))."""
    f = np.zeros(steps + 1)
    for k in range(steps):
        f[k + 1] = f[k] + (1 - f[k]) * -np.expm1(-(p + q * f[k]) * dt)
    return f


def bass_overrides(p: float, q: float, *, teachers: int = 500, dt: float = 0.1, years: float = 15) -> list[str]:
    """Configuration in which the model is a (discrete-time, finite) Bass model.

    One school of ``teachers`` teachers on a complete network (fully mixed),
    the reduced model of :data:`REDUCED_MODEL`, ``explore_rate = p * dt`` and
    ``peers.influence = q * dt``. A non-user then starts in a step with
    probability 1 - exp(-(p + q F) dt), F the share of her colleagues using the
    practice, and uses it for good: the Bass hazard. One Bass time unit is
    ``1 / dt`` steps (``dt = 0.1``: one school year).
    """
    return ["district.schools=1", f"district.teachers_per_school={teachers}", "network.generator=complete",
            *REDUCED_MODEL, f"teacher.explore_rate={p * dt:g}", f"peers.influence={q * dt:g}",
            f"steps={int(round(years / dt))}"]


def bass_docking(p: float, q: float, replicates: int = 20, *, base_seed: int = 0, teachers: int = 500,
                 dt: float = 0.1, years: float = 15) -> pd.DataFrame:
    """Mean simulated adoption curve of the Bass configuration next to the analytic F(t).

    Returns one row per step: ``t`` (Bass time units), ``simulated`` (mean over
    replicates), ``analytic``, ``error`` (simulated - analytic), ``recursion``
    (:func:`bass_recursion`) and ``recursion_error`` (simulated - recursion).
    """
    run = run_replicates("baseline", replicates, base_seed=base_seed,
                         overrides=bass_overrides(p, q, teachers=teachers, dt=dt, years=years))
    mean = run.timeseries.groupby("step")["teacher_adoption"].mean()
    t = mean.index.to_numpy() * dt
    analytic = bass_cdf(t, p, q)
    rec = bass_recursion(p, q, int(mean.index.max()), dt)[mean.index.to_numpy()]
    return pd.DataFrame({"step": mean.index, "t": t, "simulated": mean.to_numpy(), "analytic": analytic,
                         "error": mean.to_numpy() - analytic, "recursion": rec,
                         "recursion_error": mean.to_numpy() - rec})


# -- complex contagion on clustered and random networks -------------------------------

def contagion_overrides(generator: str, *, contagion: str = "complex", degree: int = 6, threshold: int = 3,
                        influence: float = 0.5, schools: int = 10, teachers: int = 100,
                        steps: int = 40) -> list[str]:
    """Centola (2010)-style configuration: spread driven only by colleagues.

    The reduced model of :data:`REDUCED_MODEL` with no spontaneous
    experimentation (``explore_rate = 0``), ``schools`` schools whose collegial
    network is either a clustered ring lattice (``watts_strogatz`` with
    rewiring 0) or a random regular graph of the same degree. Adoption is then
    seeded by :func:`seed_neighbourhoods`.
    """
    return [f"district.schools={schools}", f"district.teachers_per_school={teachers}",
            f"network.generator={generator}", f"network.degree={degree}", "network.rewiring=0",
            *REDUCED_MODEL, "teacher.explore_rate=0", f"peers.influence={influence:g}",
            f"peers.contagion={contagion}", f"peers.threshold={threshold}", f"steps={steps}"]


def seed_neighbourhoods(m: DistrictModel) -> None:
    """In every school, a random teacher and her colleagues start using the practice (Centola's seed)."""
    ts, adj = m.teachers_state, m.adjacency
    n_t = m.p.district.teachers_per_school
    for school in range(m.n_schools):
        i = school * n_t + int(m.rng.integers(n_t))
        neighbours = adj.indices[adj.indptr[i]:adj.indptr[i + 1]]
        ts.stage[np.r_[i, neighbours]] = Stage.PROTOTYPING
        ts.stage_steps[np.r_[i, neighbours]] = 0


def contagion_spread(generator: str, replicates: int = 20, *, base_seed: int = 0, **kwargs) -> np.ndarray:
    """Final share of teachers using the practice, per replicate, after seeding one neighbourhood per school."""
    run = run_replicates("baseline", replicates, base_seed=base_seed,
                         overrides=contagion_overrides(generator, **kwargs), prepare=seed_neighbourhoods)
    last = int(run.timeseries["step"].max())
    return run.at(last, "teacher_adoption")



# -- Granovetter's threshold model ----------------------------------------------------

def granovetter_overrides(mean: float, sd: float, *, teachers: int = 100, steps: int = 100) -> list[str]:
    """Configuration in which the model is Granovetter's (1978) threshold model of collective behaviour.

    One school of ``teachers`` teachers on a complete network; each teacher's
    threshold (the share of colleagues who must use the practice before she
    starts) drawn from N(``mean``, ``sd``); threshold contagion with a pull so
    strong that a teacher whose threshold is reached starts within the month;
    no spontaneous experimentation and the reduced model of
    :data:`REDUCED_MODEL` (nothing else drives adoption, nobody gives up).
    Teachers with a threshold at or below 0 are the instigators.
    """
    return ["district.schools=1", f"district.teachers_per_school={teachers}", "network.generator=complete",
            *REDUCED_MODEL, "teacher.explore_rate=0", "peers.contagion=threshold", "peers.influence=50",
            f"peers.threshold_mean={mean:g}", f"peers.threshold_sd={sd:g}", f"steps={steps}"]


def granovetter_final(mean: float, sd: float, replicates: int = 20, *, base_seed: int = 0) -> np.ndarray:
    """Final share of teachers using the practice, per replicate, in :func:`granovetter_overrides`."""
    run = run_replicates("baseline", replicates, base_seed=base_seed, overrides=granovetter_overrides(mean, sd))
    return run.at(int(run.timeseries["step"].max()), "teacher_adoption")


#: Threshold spreads of the Granovetter docking (mean 0.25, as in Granovetter 1978).
GRANOVETTER_MEAN = 0.25
GRANOVETTER_SDS = (0.05, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2)


def granovetter_results(replicates: int = 20, base_seed: int = 0) -> pd.DataFrame:
    """Final adoption per replicate for every spread of :data:`GRANOVETTER_SDS`."""
    return pd.DataFrame([{"sd": sd, "replicate": r, "adoption": v} for sd in GRANOVETTER_SDS
                         for r, v in enumerate(granovetter_final(GRANOVETTER_MEAN, sd, replicates,
                                                                 base_seed=base_seed))])


def granovetter_markdown(g: pd.DataFrame) -> str:
    """Table: final adoption [95% CI] and the share of replicates where nearly all (> 90%) adopt, per sd."""
    lines = ["| threshold sd | final adoption, mean [95% CI] | replicates with > 90% adopting |", "|---|---|---|"]
    for sd, x in g.groupby("sd"):
        a = x["adoption"].to_numpy()
        lines.append(f"| {sd:g} | {mean_ci(a)} | {np.mean(a > 0.9):.0%} |")
    return "\n".join(lines)


# -- docking tables and figures -------------------------------------------------------

#: (p, q) pairs of the Bass docking: the meta-analytic means (Sultan, Farley &
#: Lehmann 1990), an imitation-heavy and an innovation-heavy case.
BASS_CASES = ((0.03, 0.38), (0.05, 0.5), (0.1, 0.2))
#: Largest allowed |mean simulated - analytic F(t)| over the whole curve.
BASS_TOLERANCE = 0.03
#: Network settings of the complex-contagion comparison: (degree, threshold).
CONTAGION_CASES = ((6, 3), (4, 2))


def bass_results(replicates: int = 20, base_seed: int = 0) -> pd.DataFrame:
    """Docking curves for every (p, q) of :data:`BASS_CASES`, stacked with ``p`` and ``q`` columns."""
    return pd.concat([bass_docking(p, q, replicates, base_seed=base_seed).assign(p=p, q=q)
                      for p, q in BASS_CASES], ignore_index=True)


def contagion_results(replicates: int = 20, base_seed: int = 0) -> pd.DataFrame:
    """Final adoption per replicate on clustered and random networks, complex and simple contagion."""
    rows = []
    for degree, threshold in CONTAGION_CASES:
        for contagion in ("complex", "simple"):
            for generator in ("watts_strogatz", "random_regular"):
                spread = contagion_spread(generator, replicates, base_seed=base_seed, contagion=contagion,
                                          degree=degree, threshold=threshold)
                rows += [{"degree": degree, "threshold": threshold, "contagion": contagion,
                          "network": "clustered" if generator == "watts_strogatz" else "random",
                          "replicate": r, "adoption": v} for r, v in enumerate(spread)]
    return pd.DataFrame(rows)


def bass_markdown(bass: pd.DataFrame) -> str:
    """Table: largest and mean absolute error of the simulated mean curve per (p, q)."""
    lines = ["| p | q | F at 15 years | max abs error | mean abs error | within tolerance | "
             "max abs difference from the discrete-time recursion |",
             "|---|---|---|---|---|---|---|"]
    for (p, q), g in bass.groupby(["p", "q"], sort=False):
        err = g["error"].abs()
        lines.append(f"| {p:g} | {q:g} | {g['analytic'].iloc[-1]:.3f} | {err.max():.4f} | {err.mean():.4f} | "
                     f"{'yes' if err.max() <= BASS_TOLERANCE else 'NO'} | "
                     f"{g['recursion_error'].abs().max():.4f} |")
    return "\n".join(lines)


def contagion_markdown(spread: pd.DataFrame) -> str:
    """Table: mean final adoption [95% CI] on clustered and random networks and their paired difference."""
    lines = ["| degree | threshold | contagion | clustered | random | clustered - random |",
             "|---|---|---|---|---|---|"]
    for (degree, threshold, contagion), g in spread.groupby(["degree", "threshold", "contagion"], sort=False):
        c = g[g["network"] == "clustered"].sort_values("replicate")["adoption"].to_numpy()
        r = g[g["network"] == "random"].sort_values("replicate")["adoption"].to_numpy()
        lines.append(f"| {degree} | {threshold if contagion == 'complex' else '-'} | {contagion} | {mean_ci(c)} | "
                     f"{mean_ci(r)} | {paired_ci(c, r)} |")
    return "\n".join(lines)


def plot_bass(bass: pd.DataFrame, path: Path) -> Path:
    """Simulated mean adoption (points) against the analytic Bass curve (line) per (p, q)."""
    import matplotlib.pyplot as plt

    import sim.runs.plots  # noqa: F401  (selects the Agg backend before pyplot)

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for i, ((p, q), g) in enumerate(bass.groupby(["p", "q"], sort=False)):
        color = plt.get_cmap("tab10")(i)
        ax.plot(g["t"], g["analytic"], color=color, lw=1.5, label=f"Bass F(t), p={p:g}, q={q:g}")
        ax.plot(g["t"][::5], g["simulated"][::5], "o", color=color, ms=3.5, label="model, mean of replicates")
    ax.set_xlabel("time (Bass units = school years)")
    ax.set_ylabel("share of teachers using the practice")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_contagion(spread: pd.DataFrame, path: Path) -> Path:
    """Final adoption on clustered versus random networks (points = replicates, bars = means)."""
    import matplotlib.pyplot as plt

    import sim.runs.plots  # noqa: F401  (selects the Agg backend before pyplot)

    groups = list(spread.groupby(["degree", "threshold", "contagion", "network"], sort=False))
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    for i, ((degree, threshold, contagion, network), g) in enumerate(groups):
        color = "tab:green" if network == "clustered" else "tab:gray"
        ax.bar(i, g["adoption"].mean(), color=color, alpha=0.6)
        ax.plot(np.full(len(g), i) + np.linspace(-0.2, 0.2, len(g)), g["adoption"], ".", color="k", ms=3)
    ax.set_xticks(range(len(groups)), [f"{n}\n{c}" + (f" T={t}" if c == "complex" else "") + f"\nk={d}"
                                       for (d, t, c, n), _ in groups], fontsize=7)
    ax.set_ylabel("share of teachers using the practice at the end")
    ax.set_title("Seeded neighbourhood, no spontaneous experimentation (Centola 2010 design)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
