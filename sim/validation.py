"""Validation: replicated runs with probes, intervals, docking with diffusion theory, lever factorial.

Used by the validation suite (``tests/validation/``) and by the one command that
regenerates the lever-effect table and the figures of ``docs/validation.md``::

    python -m sim.validation            # or: sim-validate

Pieces:

- :func:`run_replicates` runs a scenario over replicate seeds (from
  :func:`sim.runner.replicate_seed`, so every scenario sees the same seeds) and
  collects the district time series, the final school table and teacher-level
  probes at chosen steps.
- :func:`mean_ci` / :func:`paired_ci`: t intervals over replicates.
- Bass docking (:func:`bass_cdf`, :func:`bass_overrides`, :func:`bass_docking`):
  a configuration in which the model reduces to the Bass (1969) diffusion model.
- Complex contagion (:func:`contagion_overrides`, :func:`contagion_spread`):
  Centola's (2010) clustered-versus-random comparison.
- Lever factorial (:func:`factorial_labels`, :func:`run_factorial`,
  :func:`lever_table`, :func:`main`): the four recommendation presets in a full
  2^4 design.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from sim.agents import Stage
from sim.config import REPO_ROOT, load_config, scenario_presets
from sim.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, catch_ctrl_c
from sim.metrics import inclusion
from sim.model import DistrictModel
from sim.processes import MONTHS_PER_YEAR
from sim.runner import COMBINE, RunSpec, replicate_seed, run_many

#: Steps at the end of school years 1, 2 and 5.
YEAR1, YEAR2, YEAR5 = MONTHS_PER_YEAR, 2 * MONTHS_PER_YEAR, 5 * MONTHS_PER_YEAR
#: The four recommendations of the report (S003), one preset each.
RECOMMENDATIONS = ("clear_problems", "flexibility", "adult_learning", "vanguard_schools")
ALL_FOUR = COMBINE.join(RECOMMENDATIONS)


# -- intervals ------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """Mean over replicates with a two-sided t confidence interval."""

    mean: float
    lo: float
    hi: float
    n: int

    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero."""
        return self.lo > 0 or self.hi < 0

    def __str__(self) -> str:
        return f"{self.mean:.3g} [{self.lo:.3g}, {self.hi:.3g}]"


def mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean and t confidence interval of independent replicate values."""
    x = np.asarray(values, dtype=float)
    n = x.size
    m = float(x.mean())
    if n < 2:
        return Interval(m, m, m, n)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Interval(m, m - half, m + half, n)


def paired_ci(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean difference ``a - b`` over replicates that share seeds (common random numbers), with a t interval."""
    return mean_ci(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), level)


# -- replicated runs with probes ------------------------------------------------------

Probe = Callable[[DistrictModel], dict[str, float]]


def teacher_probe(m: DistrictModel) -> dict[str, float]:
    """Teacher-level quantities the district metrics do not carry (for SF4, SF5, SF7).

    ``tried_share``: teachers who have explored, used or abandoned the practice.
    ``exhaustion_tried``: mean exhaustion (1 - energy) of those teachers.
    ``margin_access``: among users, the share of the richer work that reaches
    students on the margins (mean inclusion; 1 = same as typical students).
    ``enthusiasm``: mean enthusiasm of all teachers.
    ``practice_stock``: mean practice quality (surface + depth) of the
    teachers of schools ever selected for the initiative, users or not: what
    the initiative's teachers know how to do.
    ``initiative_use``: use share among teachers of schools ever selected.
    """
    ts, s = m.teachers_state, m.schools_state
    tried = ts.stage != Stage.NON_USE
    using = ts.using
    selected = s.selected[ts.school]
    return {
        "tried_share": float(tried.mean()),
        "exhaustion_tried": float((1 - ts.energy[tried]).mean()) if tried.any() else 0.0,
        "margin_access": float(inclusion(m)[using].mean()) if using.any() else np.nan,
        "enthusiasm": float(ts.enthusiasm.mean()),
        "practice_stock": float((ts.surface + ts.depth)[selected].mean()) if selected.any() else 0.0,
        "initiative_use": float(using[selected].mean()) if selected.any() else 0.0,
    }


@dataclass
class Replicates:
    """Outputs of :func:`run_replicates`, one row per replicate (and step)."""

    timeseries: pd.DataFrame  # district metrics per replicate and step
    schools: pd.DataFrame  # final school table per replicate
    probes: pd.DataFrame  # probe values per replicate and probe step

    def at(self, step: int, metric: str) -> np.ndarray:
        """A district metric at ``step``, one value per replicate (in replicate order)."""
        ts = self.timeseries
        return ts.loc[ts["step"] == step].sort_values("replicate")[metric].to_numpy()

    def probe(self, step: int, name: str) -> np.ndarray:
        """A probe value at ``step``, one value per replicate."""
        p = self.probes
        return p.loc[p["step"] == step].sort_values("replicate")[name].to_numpy()


def run_replicates(scenario: str | Sequence[str], replicates: int, *, base_seed: int = 0,
                   overrides: Sequence[str] = (), probe_steps: Sequence[int] = (),
                   probe: Probe = teacher_probe,
                   prepare: Callable[[DistrictModel], None] | None = None) -> Replicates:
    """Run ``replicates`` seeds of a scenario in this process and collect what the tests need.

    Parameters
    ----------
    scenario : str or sequence of str
        Preset name(s), or a label joined with ``+``.
    replicates : int
        Number of replicates; replicate ``r`` uses ``replicate_seed(base_seed, r)``.
    overrides : sequence of str
        Hydra overrides applied to every replicate.
    probe_steps : sequence of int
        Steps at which ``probe(model)`` is recorded (after the step).
    prepare : callable, optional
        Called on each new model before it runs (e.g. to seed adopters).
    """
    names = scenario_presets(scenario) if isinstance(scenario, str) else list(scenario)
    cfg = load_config(names, list(overrides))
    frames, schools, probes = [], [], []
    wanted = set(probe_steps)
    for r in range(replicates):
        m = DistrictModel(cfg, seed=replicate_seed(base_seed, r), validate_config=False)
        if prepare is not None:
            prepare(m)
        if 0 in wanted:
            probes.append({"replicate": r, "step": 0, **probe(m)})
        for _ in range(m.p.steps):
            m.step()
            if m.steps in wanted:
                probes.append({"replicate": r, "step": m.steps, **probe(m)})
        frames.append(m.timeseries().assign(replicate=r))
        schools.append(m.school_table().assign(replicate=r))
    return Replicates(pd.concat(frames, ignore_index=True), pd.concat(schools, ignore_index=True),
                      pd.DataFrame(probes) if probes else pd.DataFrame(columns=["replicate", "step"]))


def schoolwide_within(schools: pd.DataFrame, months: int) -> pd.DataFrame:
    """Per replicate and cohort: share of cohort schools school-wide within ``months`` of implementation start.

    Uses the final school table (``cohort``, ``implement_step``,
    ``schoolwide_since``); only schools whose implementation started at least
    ``months`` before the end of the run are counted, so no cohort is censored.
    """
    s = schools[schools["cohort"] >= 0].copy()
    end = int(s["step"].max())
    s = s[s["implement_step"] + months <= end]
    reached = (s["schoolwide_since"] >= 0) & (s["schoolwide_since"] - s["implement_step"] <= months)
    return (s.assign(reached=reached).groupby(["replicate", "cohort"])["reached"].mean()
            .rename("share").reset_index())


# -- stylized facts SF1-SF8 -----------------------------------------------------------

#: Replicates per scenario and probe steps of the stylized-fact checks (24: the
#: month before Lake County's withdrawal and the key person's departure).
SF_REPLICATES = 20
PROBE_STEPS = (YEAR1, YEAR2, 24, YEAR5)
#: Month in which lake_backing_away withdraws and key_person_km's key person leaves.
WITHDRAWAL = 25

Runs = Callable[..., Replicates]


@dataclass(frozen=True)
class Check:
    """One checked claim: ``getattr(value, stat) op bound`` (e.g. the interval's lower bound > 0.5)."""

    fact: str
    claim: str
    value: Interval
    stat: str  # "lo", "hi" or "mean"
    op: str  # ">" or "<"
    bound: float

    def passes(self) -> bool:
        x = getattr(self.value, self.stat)
        return x > self.bound if self.op == ">" else x < self.bound

    def criterion(self) -> str:
        what = {"lo": "lower bound", "hi": "upper bound", "mean": "mean"}[self.stat]
        return f"{what} {self.op} {self.bound:g}"

    def __str__(self) -> str:
        return (f"{self.fact}: {self.claim}: {self.value} (need {self.criterion()}): "
                f"{'holds' if self.passes() else 'FAILS'}")


def sf_runs(replicates: int = SF_REPLICATES, base_seed: int = 0) -> Runs:
    """A cached ``runs(label, overrides=())`` over the default district with the SF probes."""
    cache: dict[tuple[str, tuple[str, ...]], Replicates] = {}

    def runs(label: str, overrides: tuple[str, ...] = ()) -> Replicates:
        key = (label, tuple(overrides))
        if key not in cache:
            cache[key] = run_replicates(label, replicates, base_seed=base_seed, overrides=overrides,
                                        probe_steps=PROBE_STEPS)
        return cache[key]

    return runs


def sf1_checks(runs: Runs) -> list[Check]:
    """SF1: after two years, in most schools PL has not got beyond a handful of pilot classrooms."""
    b = runs("baseline")
    return [Check("SF1", "baseline, year 2: share of schools stalled in pilot classrooms (0 < use < 25%)",
                  mean_ci(b.at(YEAR2, "pilot_stall_share")), "lo", ">", 0.5),
            Check("SF1", "baseline, year 2: share of schools with school-wide use",
                  mean_ci(b.at(YEAR2, "schoolwide_share")), "hi", "<", 0.02)]


def sf2_checks(runs: Runs, schools: int = 50) -> list[Check]:
    """SF2: few schools develop replicable strategies; replicated models are rare."""
    b, k = runs("baseline"), runs("clear_problems+adult_learning")
    return [Check("SF2", "baseline, year 2: codified school models", mean_ci(b.at(YEAR2, "codified_models")),
                  "hi", "<", 0.05 * schools),
            Check("SF2", "baseline, year 5: schools using a model codified elsewhere",
                  mean_ci(b.at(YEAR5, "replications")), "hi", "<", 0.04 * schools),
            Check("SF2", "contrast, clear_problems+adult_learning (knowledge plan), year 5: replications",
                  mean_ci(k.at(YEAR5, "replications")), "lo", ">", 0.2 * schools)]


def sf3_checks(runs: Runs) -> list[Check]:
    """SF3: surface change outpaces depth ("fun, but not intellectually demanding")."""
    b, c = runs("baseline"), runs("clear_problems")
    ratio = {y: b.at(y, "mean_surface") / b.at(y, "mean_depth") for y in (YEAR2, YEAR5)}
    deep = b.at(YEAR5, "deep_adoption") / b.at(YEAR5, "teacher_adoption")
    return [Check("SF3", "baseline, year 2: users' surface / depth quality", mean_ci(ratio[YEAR2]), "lo", ">", 1.5),
            Check("SF3", "baseline, year 5: users' surface / depth quality", mean_ci(ratio[YEAR5]), "lo", ">", 1.5),
            Check("SF3", "baseline, year 5: share of users practising with depth", mean_ci(deep), "hi", "<", 0.1),
            Check("SF3", "clear_problems - baseline, year 5: users' depth / surface (goals steer effort to depth)",
                  paired_ci(c.at(YEAR5, "mean_depth") / c.at(YEAR5, "mean_surface"),
                            b.at(YEAR5, "mean_depth") / b.at(YEAR5, "mean_surface")), "lo", ">", 0.3)]


def sf4_checks(runs: Runs) -> list[Check]:
    """SF4: teachers try many things without guidance and exhaust themselves; the margins are left out."""
    b, a = runs("baseline"), runs("adult_learning")
    ex = {y: b.probe(y, "exhaustion_tried") for y in (YEAR1, YEAR2, YEAR5)}
    return [Check("SF4", "baseline: exhaustion of teachers who tried, year 2 - year 1", paired_ci(ex[YEAR2], ex[YEAR1]),
                  "lo", ">", 0),
            Check("SF4", "baseline: exhaustion of teachers who tried, year 5 - year 2", paired_ci(ex[YEAR5], ex[YEAR2]),
                  "lo", ">", 0),
            Check("SF4", "baseline, year 2: exhaustion (1 - energy) of teachers who tried", mean_ci(ex[YEAR2]),
                  "lo", ">", 0.2),
            Check("SF4", "baseline - adult_learning (coaching), year 2: exhaustion of teachers who tried",
                  paired_ci(ex[YEAR2], a.probe(YEAR2, "exhaustion_tried")), "lo", ">", 0.05),
            Check("SF4", "baseline, year 2: share of the richer work reaching students on the margins (users)",
                  mean_ci(b.probe(YEAR2, "margin_access")), "hi", "<", 0.5),
            Check("SF4", "baseline: equity gap, year 5 - year 1", paired_ci(b.at(YEAR5, "equity_gap"),
                                                                        b.at(YEAR1, "equity_gap")), "lo", ">", 0)]


def sf5_checks(runs: Runs) -> list[Check]:
    """SF5: support and enthusiasm among teachers are high: many teachers try."""
    b = runs("baseline")
    tried = {y: mean_ci(b.probe(y, "tried_share")) for y in (YEAR2, YEAR5)}
    return [Check("SF5", "baseline, year 2: share of teachers who have tried PL", tried[YEAR2], "lo", ">", 0.3),
            Check("SF5", "baseline, year 5: share of teachers who have tried PL", tried[YEAR5], "lo", ">", 0.45),
            Check("SF5", "baseline, year 2: mean enthusiasm (0-1)", mean_ci(b.probe(YEAR2, "enthusiasm")),
                  "lo", ">", 0.6)]


def sf6_checks(runs: Runs, window: int = 20) -> list[Check]:
    """SF6: going all in yields markedly more school-wide use and replication; later waves are faster."""
    b, h = runs("baseline"), runs("henry_all_in")
    share = schoolwide_within(h.schools, window).pivot(index="replicate", columns="cohort", values="share")
    later = share[[c for c in share.columns if c > 0]].mean(axis=1)
    return [Check("SF6", "henry_all_in - baseline, year 5: share of schools school-wide",
                  paired_ci(h.at(YEAR5, "schoolwide_share"), b.at(YEAR5, "schoolwide_share")), "lo", ">", 0.1),
            Check("SF6", "henry_all_in - baseline, year 5: replications (schools)",
                  paired_ci(h.at(YEAR5, "replications"), b.at(YEAR5, "replications")), "lo", ">", 5),
            Check("SF6", f"henry_all_in: share of a cohort's schools school-wide within {window} months of "
                         "implementation, later cohorts - cohort 1", paired_ci(later, share[0]), "lo", ">", 0.15)]


def sf7_checks(runs: Runs) -> list[Check]:
    """SF7: backing away (Lake County) collapses adoption and loses what was learned."""
    lake, stay = runs("lake_backing_away"), runs("lake_backing_away", ("backaway.enabled=false",))
    before, after = lake.probe(WITHDRAWAL - 1, "initiative_use"), lake.probe(YEAR5, "initiative_use")
    stock_before, stock_after = lake.probe(WITHDRAWAL - 1, "practice_stock"), lake.probe(YEAR5, "practice_stock")
    return [Check("SF7", "lake_backing_away: use in initiative schools, year 5 / month before withdrawal",
                  mean_ci(after / before), "hi", "<", 0.5),
            Check("SF7", "staying the course - backing away, year 5: use in initiative schools",
                  paired_ci(stay.probe(YEAR5, "initiative_use"), after), "lo", ">", 0.1),
            Check("SF7", "lake_backing_away: initiative teachers' practice quality, before withdrawal - year 5",
                  paired_ci(stock_before, stock_after), "lo", ">", 0),
            Check("SF7", "backing away / staying the course, year 5: initiative teachers' practice quality",
                  mean_ci(stock_after / stay.probe(YEAR5, "practice_stock")), "hi", "<", 0.5)]


def sf8_checks(runs: Runs) -> list[Check]:
    """SF8: knowledge management relying on a single individual is fragile: her departure sets the district back."""
    label = "henry_all_in+key_person_km"
    left, stays = runs(label), runs(label, ("knowledge.key_person_departure_step=-1",))
    return [Check("SF8", f"{label}: replications the month before the key person leaves",
                  mean_ci(left.at(WITHDRAWAL - 1, "replications")), "lo", ">", 0),
            Check("SF8", f"{label}: replications the month she leaves", mean_ci(left.at(WITHDRAWAL, "replications")),
                  "hi", "<", 0.5),
            Check("SF8", "key person stays - leaves, year 5: replications",
                  paired_ci(stays.at(YEAR5, "replications"), left.at(YEAR5, "replications")), "lo", ">", 5),
            Check("SF8", "key person stays - leaves, year 5: share of schools school-wide",
                  paired_ci(stays.at(YEAR5, "schoolwide_share"), left.at(YEAR5, "schoolwide_share")), "lo", ">", 0.02)]


SF_CHECKS = (sf1_checks, sf2_checks, sf3_checks, sf4_checks, sf5_checks, sf6_checks, sf7_checks, sf8_checks)


def sf_markdown(runs: Runs) -> str:
    """Table of every stylized-fact check: claim, measured mean [95% CI], criterion, whether it holds."""
    lines = ["| fact | measure | mean [95% CI] | criterion | holds |", "|---|---|---|---|---|"]
    for checks in SF_CHECKS:
        for c in checks(runs):
            lines.append(f"| {c.fact} | {c.claim} | {c.value} | {c.criterion()} | {'yes' if c.passes() else 'NO'} |")
    return "\n".join(lines)


# -- docking with the Bass model ------------------------------------------------------

def bass_cdf(t: np.ndarray | float, p: float, q: float) -> np.ndarray:
    """Bass (1969) cumulative adoption F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t})."""
    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1 - e) / (1 + (q / p) * e)


#: Overrides shared by the docking configurations: no abandonment, turnover,
#: pressure, school models or trait heterogeneity; every school active with
#: full, institutional flexibility; an explorer commits at once.
REDUCED_MODEL = (
    "teacher.turnover=0", "teacher.abandon_base=0", "teacher.abandon_exhaustion=0",
    "teacher.abandon_poor_signal=0", "teacher.abandon_pressure=0", "teacher.explore_dropout=0",
    "teacher.enthusiasm_mean=1", "teacher.enthusiasm_sd=0", "teacher.autonomy_mean=1", "teacher.autonomy_sd=0",
    "teacher.commit_rate=1", "teacher.commit_support_weight=0",
    "policy.flexibility=1", "policy.flexibility_mode=institutionalized", "policy.test_pressure=0",
    "principal.codify_rate=0", "rollout.mode=all",
)


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
    replicates), ``analytic`` and ``error`` (simulated - analytic).
    """
    run = run_replicates("baseline", replicates, base_seed=base_seed,
                         overrides=bass_overrides(p, q, teachers=teachers, dt=dt, years=years))
    mean = run.timeseries.groupby("step")["teacher_adoption"].mean()
    t = mean.index.to_numpy() * dt
    analytic = bass_cdf(t, p, q)
    return pd.DataFrame({"step": mean.index, "t": t, "simulated": mean.to_numpy(), "analytic": analytic,
                         "error": mean.to_numpy() - analytic})


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


# -- lever factorial ------------------------------------------------------------------

def factorial_labels(factors: Sequence[str] = RECOMMENDATIONS) -> list[str]:
    """Scenario labels of the full 2^k design over ``factors`` (``baseline`` when none is on).

    Ordered by the number of presets switched on, then in factor order.
    """
    combos = [c for k in range(len(factors) + 1) for c in itertools.combinations(factors, k)]
    return [COMBINE.join(c) if c else "baseline" for c in combos]


def run_factorial(replicates: int = 20, *, base_seed: int = 0, workers: int = 0, progress: bool = True,
                  extra: Sequence[str] = ("henry_all_in",), overrides: Sequence[str] = ()) -> pd.DataFrame:
    """District time series of every factorial cell (plus ``extra`` scenarios) over common seeds.

    ``overrides`` (Hydra override strings) apply to every run, e.g. a smaller district.

    Runs in parallel with :func:`sim.runner.run_many`. On Ctrl-C the runs that
    finished are returned (and the caller saves them); the frame's ``attrs``
    record whether the design is complete.
    """
    labels = [*factorial_labels(), *extra]
    specs = [RunSpec(label, r, replicate_seed(base_seed, r), tuple(overrides))
             for label in labels for r in range(replicates)]
    frames: list[pd.DataFrame] = []
    complete = True
    try:
        for frame in run_many(specs, workers=workers, progress=progress):
            frames.append(frame)
    except KeyboardInterrupt:
        complete = False
    ts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    ts.attrs["complete"] = complete and len(frames) == len(specs)
    return ts


def _cell(ts: pd.DataFrame, label: str, metric: str, step: int) -> pd.Series:
    at = ts[(ts["scenario"] == label) & (ts["step"] == step)]
    return at.set_index("replicate")[metric].sort_index()


def lever_table(ts: pd.DataFrame, metrics: Sequence[str] = ("schoolwide_share", "replications"),
                step: int = YEAR5, level: float = 0.95) -> pd.DataFrame:
    """Effects of the recommendation presets at ``step``, with t intervals over common-seed replicates.

    Rows: ``baseline`` (level only); each preset alone and all four together
    (effect = cell - baseline, paired by seed); the factorial main effect of
    each preset (mean over the 8 cells with it on minus the 8 with it off,
    per seed); and the interaction of all four (all four - baseline - the sum
    of the four alone effects).
    """
    rows = []
    for metric in metrics:
        base = _cell(ts, "baseline", metric, step)
        rows.append({"metric": metric, "comparison": "level", "scenario": "baseline", "level": mean_ci(base, level),
                     "effect": None})
        for label in [*RECOMMENDATIONS, ALL_FOUR]:
            cell = _cell(ts, label, metric, step)
            rows.append({"metric": metric, "comparison": "vs baseline", "scenario": label,
                         "level": mean_ci(cell, level), "effect": paired_ci(cell, base.loc[cell.index], level)})
        labels = factorial_labels()
        cells = pd.DataFrame({label: _cell(ts, label, metric, step) for label in labels}).dropna()
        for factor in RECOMMENDATIONS:
            on = [lab for lab in labels if factor in lab.split(COMBINE)]
            off = [lab for lab in labels if lab not in on]
            rows.append({"metric": metric, "comparison": "main effect", "scenario": factor, "level": None,
                         "effect": paired_ci(cells[on].mean(axis=1), cells[off].mean(axis=1), level)})
        alone = sum(cells[f] - cells["baseline"] for f in RECOMMENDATIONS)
        rows.append({"metric": metric, "comparison": "interaction", "scenario": ALL_FOUR, "level": None,
                     "effect": paired_ci(cells[ALL_FOUR] - cells["baseline"], alone, level)})
    return pd.DataFrame(rows)


def lever_markdown(table: pd.DataFrame, replicates: int) -> str:
    """The lever table as markdown: level and effect per metric, mean [95% CI]."""
    names = {"schoolwide_share": "school-wide share", "replications": "replications (schools)"}
    metrics = list(dict.fromkeys(table["metric"]))
    head = "| comparison | scenario | " + " | ".join(
        f"{names.get(m, m)}: level | {names.get(m, m)}: effect" for m in metrics) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(metrics))]
    for (comparison, scenario), g in table.groupby(["comparison", "scenario"], sort=False):
        cells = []
        for m in metrics:
            r = g[g["metric"] == m].iloc[0]
            cells += [str(r["level"]) if r["level"] is not None else "",
                      (str(r["effect"]) + (" *" if r["effect"].excludes_zero() else ""))
                      if r["effect"] is not None else ""]
        label = scenario.replace(COMBINE, " + ")
        lines.append(f"| {comparison} | {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Mean [95% t interval] over {replicates} common-seed replicates at the end of year 5; "
                 "effects are paired differences; * marks an interval that excludes zero.")
    return "\n".join(lines)


def _effect_label(scenario: str, comparison: str) -> str:
    if comparison == "main effect":
        return f"{scenario} (main effect)"
    return "all four (vs baseline)" if scenario == ALL_FOUR else f"{scenario} (alone)"


def plot_lever_effects(table: pd.DataFrame, path: Path) -> Path:
    """Bar chart of the effects (with 95% intervals) of each preset alone, all four, and main effects."""
    import sim.plots  # noqa: F401  (selects the Agg backend before pyplot)
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(table["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.0 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        rows = table[(table["metric"] == metric) & table["effect"].notna()]
        rows = rows[rows["comparison"].isin(["vs baseline", "main effect"])]
        y = np.arange(len(rows))[::-1]
        eff = rows["effect"].tolist()
        colors = ["tab:blue" if c == "vs baseline" else "tab:orange" for c in rows["comparison"]]
        ax.barh(y, [e.mean for e in eff], color=colors, alpha=0.8,
                xerr=np.array([[e.mean - e.lo for e in eff], [e.hi - e.mean for e in eff]]), capsize=3)
        ax.set_yticks(y, [_effect_label(s, c) for s, c in zip(rows["scenario"], rows["comparison"])], fontsize=8)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"Effect on {metric.replace('_', ' ')} at year 5 (95% CI)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
    lines = ["| p | q | F at 15 years | max abs error | mean abs error | within tolerance |",
             "|---|---|---|---|---|---|"]
    for (p, q), g in bass.groupby(["p", "q"], sort=False):
        err = g["error"].abs()
        lines.append(f"| {p:g} | {q:g} | {g['analytic'].iloc[-1]:.3f} | {err.max():.4f} | {err.mean():.4f} | "
                     f"{'yes' if err.max() <= BASS_TOLERANCE else 'NO'} |")
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
    import sim.plots  # noqa: F401  (selects the Agg backend before pyplot)
    import matplotlib.pyplot as plt

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
    import sim.plots  # noqa: F401  (selects the Agg backend before pyplot)
    import matplotlib.pyplot as plt

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


# -- preset overview ------------------------------------------------------------------

#: Compositions shown next to the presets in docs/scenarios.md.
COMPOSITIONS = ("henry_all_in+key_person_km", "clear_problems+community_of_practice")
PRESET_COLUMNS = ((YEAR2, "teacher_adoption", "use y2"), (YEAR2, "pilot_stall_share", "stalled y2"),
                  (YEAR5, "teacher_adoption", "use y5"), (YEAR5, "deep_adoption", "deep y5"),
                  (YEAR5, "schoolwide_share", "school-wide y5"), (YEAR5, "codified_models", "codified y5"),
                  (YEAR5, "replications", "replications y5"), (YEAR5, "mean_exhaustion", "exhaustion y5"))


def preset_labels() -> list[str]:
    """Every preset in scenarios/scenario/ plus :data:`COMPOSITIONS`, baseline first."""
    from sim.config import available_scenarios

    names = available_scenarios()
    return ["baseline", *[n for n in names if n != "baseline"], *COMPOSITIONS]


def preset_markdown(ts: pd.DataFrame, labels: Sequence[str]) -> str:
    """Table: headline metrics of each preset at years 2 and 5 (means over replicates)."""
    head = "| scenario | " + " | ".join(c[2] for c in PRESET_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (1 + len(PRESET_COLUMNS))]
    for label in labels:
        cells = []
        for step, metric, _ in PRESET_COLUMNS:
            v = ts.loc[(ts["scenario"] == label) & (ts["step"] == step), metric]
            cells.append(f"{v.mean():.1f}" if metric in ("codified_models", "replications") else f"{v.mean():.2f}")
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    n = ts.loc[ts["scenario"] == labels[0], "replicate"].nunique()
    lines += ["", f"Means over {n} common-seed replicates of the default district (50 schools x 40 teachers); "
              "shares are of teachers (use, deep) or schools (stalled, school-wide); codified and replications "
              "are counts of models and schools."]
    return "\n".join(lines)


# -- the one command ------------------------------------------------------------------

DOC = REPO_ROOT / "docs" / "validation.md"
SCENARIOS_DOC = REPO_ROOT / "docs" / "scenarios.md"
FIGURES = REPO_ROOT / "docs" / "figures"


def replace_block(text: str, name: str, body: str) -> str:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``."""
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"the document lacks the markers <!-- BEGIN {name} --> ... <!-- END {name} -->")
    return pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sim.validation",
        description="Regenerate the lever-effect table, the docking tables and the figures of docs/validation.md.")
    parser.add_argument("--replicates", type=_positive_int, default=20,
                        help="replicates per factorial cell and docking case (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the replicate seeds (default 0)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes for the factorial (0: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the factorial and the docking cases; write docs/figures/*.png, the tables and provenance."""
    from sim.plots import curves_with_bands
    from sim.provenance import provenance

    catch_ctrl_c()
    args = parse_args(argv)
    if args.workers < 0:
        print("python -m sim.validation: --workers must be >= 0 (0: all cores)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)
    blocks = {DOC: ("sf-table", "lever-table", "bass-table", "contagion-table"), SCENARIOS_DOC: ("preset-table",)}
    for doc, names in blocks.items():
        text = doc.read_text() if doc.exists() else ""
        missing = [n for n in names if f"<!-- BEGIN {n} -->" not in text or f"<!-- END {n} -->" not in text]
        if missing:
            print(f"python -m sim.validation: {doc} lacks the markers <!-- BEGIN name --> ... <!-- END name --> "
                  f"for: {', '.join(missing)}; nothing was run.", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT)
    meta = provenance(seed=args.seed, replicates=args.replicates,
                      replicate_seeds=[replicate_seed(args.seed, r) for r in range(args.replicates)],
                      factorial=factorial_labels(), presets=preset_labels(),
                      bass_cases=[list(c) for c in BASS_CASES],
                      bass_overrides={f"p={p:g},q={q:g}": bass_overrides(p, q) for p, q in BASS_CASES},
                      contagion_overrides={f"k={d},T={t}": contagion_overrides("watts_strogatz", degree=d, threshold=t)
                                           for d, t in CONTAGION_CASES},
                      config=load_config("baseline"))
    FIGURES.mkdir(parents=True, exist_ok=True)
    raw = REPO_ROOT / "results" / "validation"
    raw.mkdir(parents=True, exist_ok=True)
    presets = preset_labels()
    extra = [label for label in presets if label not in factorial_labels()]
    ts = run_factorial(args.replicates, base_seed=args.seed, workers=args.workers, progress=not args.no_progress,
                       extra=extra)
    ts.to_parquet(raw / "lever_runs.parquet", index=False)
    if not ts.attrs.get("complete", False):
        print(f"Interrupted: the finished runs were saved to {raw / 'lever_runs.parquet'}; docs not updated.",
              file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
    table = lever_table(ts)
    plot_lever_effects(table, FIGURES / "lever_effects.png")
    shown = ["baseline", *RECOMMENDATIONS, ALL_FOUR, "henry_all_in"]
    curves_with_bands(ts[ts["scenario"].isin(shown)].replace({"scenario": {ALL_FOUR: "all four"}}),
                      FIGURES / "lever_curves.png",
                      metrics=("teacher_adoption", "deep_adoption", "schoolwide_share", "replications"),
                      title=f"50 schools x 40 teachers, {args.replicates} replicates (90% bands)")
    bass = bass_results(args.replicates, args.seed)
    bass.to_parquet(raw / "bass_docking.parquet", index=False)
    plot_bass(bass, FIGURES / "bass_docking.png")
    spread = contagion_results(args.replicates, args.seed)
    spread.to_parquet(raw / "complex_contagion.parquet", index=False)
    plot_contagion(spread, FIGURES / "complex_contagion.png")
    (FIGURES / "validation_provenance.yaml").write_text(yaml.safe_dump(_plain(meta), sort_keys=False))
    stamp = (f"\n\n_Generated by `python -m sim.validation --replicates {args.replicates} --seed {args.seed}` "
             f"at git revision `{meta['git_revision']}`; provenance in `docs/figures/validation_provenance.yaml`._\n")
    sf_table = sf_markdown(sf_runs(args.replicates, args.seed))
    text = DOC.read_text()
    text = replace_block(text, "sf-table", sf_table + stamp)
    text = replace_block(text, "lever-table", lever_markdown(table, args.replicates) + stamp)
    text = replace_block(text, "bass-table", bass_markdown(bass) + stamp)
    text = replace_block(text, "contagion-table", contagion_markdown(spread) + stamp)
    DOC.write_text(text)
    SCENARIOS_DOC.write_text(replace_block(SCENARIOS_DOC.read_text(), "preset-table",
                                           preset_markdown(ts, presets) + stamp))
    print(lever_markdown(table, args.replicates))
    print(f"\nWrote {DOC}, {SCENARIOS_DOC}, {FIGURES}/lever_effects.png, lever_curves.png, bass_docking.png, "
          f"complex_contagion.png, validation_provenance.yaml; raw runs in {raw}/")


def _plain(obj):
    """Make OmegaConf containers and numpy scalars YAML-safe."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(obj, DictConfig | ListConfig):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


if __name__ == "__main__":
    main()
