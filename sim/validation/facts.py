"""The stylized facts SF1-SF8 as checks over replicated runs (docs/validation.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from sim.validation.replicates import (
    YEAR1,
    YEAR2,
    YEAR5,
    Interval,
    Replicates,
    mean_ci,
    paired_ci,
    run_replicates,
    schoolwide_within,
)

# -- stylized facts SF1-SF8 -----------------------------------------------------------

#: Replicates per scenario and probe steps of the stylized-fact checks.
SF_REPLICATES = 20
PROBE_STEPS = (YEAR1, YEAR2, YEAR5)
#: Month in which key_person_km's key person leaves (scenarios/scenario/key_person_km.yaml).
DEPARTURE = 35
#: Lake County runs: long enough to follow every replicate for AFTER months past its (decided) withdrawal.
LAKE_STEPS, AFTER = 80, 20
#: Henry County runs for SF6: the last cohort implements at month 50 and is followed for 30 months.
HENRY_STEPS = 80

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

    def share_meeting(self) -> float:
        """Share of the replicate values on the bound's side (each run judged alone, as a predictive check)."""
        x = np.asarray(self.value.values, dtype=float)
        return float(np.mean(x > self.bound if self.op == ">" else x < self.bound)) if x.size else float("nan")

    def criterion(self) -> str:
        what = {"lo": "lower bound", "hi": "upper bound", "mean": "mean"}[self.stat]
        return f"{what} {self.op} {self.bound:g}"

    def __str__(self) -> str:
        return (f"{self.fact}: {self.claim}: {self.value} (need {self.criterion()}): "
                f"{'holds' if self.passes() else 'FAILS'}")


def sf_runs(replicates: int = SF_REPLICATES, base_seed: int = 0, overrides: tuple[str, ...] = (), *,
            draws: Sequence[Sequence[str]] | None = None, executor: Executor | None = None) -> Runs:
    """A cached ``runs(label, overrides=())`` with the SF probes.

    ``overrides`` apply to every run (a district size, or a mechanism switched
    off for the ablation table); Lake County runs last :data:`LAKE_STEPS` and are
    probed every month. ``draws`` gives each replicate its own overrides (its
    row of a posterior sample, the same in every scenario, so comparisons stay
    paired); ``executor`` runs the replicates in parallel (same results).
    """
    cache: dict[tuple[str, tuple[str, ...]], Replicates] = {}

    def runs(label: str, extra: tuple[str, ...] = ()) -> Replicates:
        key = (label, tuple(extra))
        if key not in cache:
            lake = label.startswith("lake_backing_away")
            ov = (*overrides, *extra, *((f"steps={LAKE_STEPS}",) if lake else ()))
            probes = range(LAKE_STEPS + 1) if lake else PROBE_STEPS
            cache[key] = run_replicates(label, replicates, base_seed=base_seed, overrides=ov, probe_steps=probes,
                                        replicate_overrides=draws, executor=executor)
        return cache[key]

    return runs


def sf1_checks(runs: Runs) -> list[Check]:
    """SF1: after two years, in most schools PL has not got beyond a handful of pilot classrooms."""
    b = runs("baseline")
    return [Check("SF1", "baseline, year 2: share of schools stalled in pilot classrooms (0 < use < 25%)",
                  mean_ci(b.at(YEAR2, "pilot_stall_share")), "lo", ">", 0.5),
            Check("SF1", "baseline, year 2: share of schools with school-wide use",
                  mean_ci(b.at(YEAR2, "schoolwide_share")), "hi", "<", 0.02)]


def school_count(r: Replicates) -> int:
    """Schools in the district of the runs ``r``."""
    return int(r.schools["school"].max()) + 1


def sf2_checks(runs: Runs) -> list[Check]:
    """SF2: few schools develop replicable strategies; replicated models are rare (shares of the district's schools)."""
    b, k = runs("baseline"), runs("clear_problems+adult_learning")
    n = school_count(b)
    return [Check("SF2", "baseline, year 2: codified school models per school", mean_ci(b.at(YEAR2, "codified_models") / n),
                  "hi", "<", 0.05),
            Check("SF2", "baseline, year 5: share of schools using a model codified elsewhere",
                  mean_ci(b.at(YEAR5, "replications") / n), "hi", "<", 0.04),
            Check("SF2", "contrast, clear_problems+adult_learning (knowledge plan), year 5: share of schools "
                         "using a model codified elsewhere",
                  mean_ci(k.at(YEAR5, "replications") / n), "lo", ">", 0.2)]


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
    b, a, d = runs("baseline"), runs("adult_learning"), runs("clear_problems+adult_learning")
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
            Check("SF4", "clear_problems+adult_learning - baseline, year 5: share of the richer work reaching "
                         "students on the margins (intentional design includes them)",
                  paired_ci(d.probe(YEAR5, "margin_access"), b.probe(YEAR5, "margin_access")), "lo", ">", 0.1),
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
    """SF6: going all in yields markedly more school-wide use and replication; later waves are faster.

    Henry County's cohorts implement at months 20, 30, 40 and 50 (two years of
    planning each), so both districts are compared at month :data:`HENRY_STEPS`,
    when the last cohort has implemented for 30 months.
    """
    ext = (f"steps={HENRY_STEPS}",)
    b, h = runs("baseline", ext), runs("henry_all_in", ext)
    n = school_count(b)
    share = schoolwide_within(h.schools, window).pivot(index="replicate", columns="cohort", values="share")
    later = share[[c for c in share.columns if c > 0]].mean(axis=1)
    end = HENRY_STEPS
    return [Check("SF6", f"henry_all_in - baseline, month {end}: share of schools school-wide",
                  paired_ci(h.at(end, "schoolwide_share"), b.at(end, "schoolwide_share")), "lo", ">", 0.1),
            Check("SF6", f"henry_all_in - baseline, month {end}: share of schools using a model codified elsewhere",
                  paired_ci(h.at(end, "replications") / n, b.at(end, "replications") / n), "lo", ">", 0.1),
            Check("SF6", f"henry_all_in: share of a cohort's schools school-wide within {window} months of "
                         "implementation, later cohorts - cohort 1", paired_ci(later, share[0]), "lo", ">", 0.15)]


def withdrawal_steps(r: Replicates) -> np.ndarray:
    """Per replicate, the month the central office backed away (-1: it did not)."""
    ts = r.timeseries.sort_values(["replicate", "step"])
    first = ts[ts["backed_away"] == 1].groupby("replicate")["step"].min()
    return first.reindex(range(ts["replicate"].nunique()), fill_value=-1).to_numpy()


def _at(r: Replicates, reps: np.ndarray, steps: np.ndarray, name: str) -> np.ndarray:
    """Probe ``name`` of replicate ``reps[j]`` at ``steps[j]``."""
    p = r.probes.set_index(["replicate", "step"])[name]
    return np.array([p.loc[(int(k), int(t))] for k, t in zip(reps, steps)])


def sf7_checks(runs: Runs) -> list[Check]:
    """SF7: backing away (Lake County) collapses adoption and loses what was learned.

    The withdrawal month is the central office's decision in each replicate; the
    measures compare the month before it with :data:`AFTER` months later, and
    the same months of the same seeds with backing away disabled.
    """
    lake, stay = runs("lake_backing_away"), runs("lake_backing_away", ("backaway.enabled=false",))
    w = withdrawal_steps(lake)
    withdrew = w > 0
    if withdrew.sum() < 2:
        return [Check("SF7", "lake_backing_away: share of replicates in which the office backs away",
                      mean_ci(withdrew.astype(float)), "mean", ">", 0.8)]
    checks = [Check("SF7", f"lake_backing_away: share of replicates in which the office backs away by month "
                           f"{LAKE_STEPS - AFTER}", mean_ci(((w > 0) & (w <= LAKE_STEPS - AFTER)).astype(float)),
                    "mean", ">", 0.8)]
    k = np.flatnonzero(withdrew & (w <= LAKE_STEPS - AFTER))
    before, after = w[k] - 1, w[k] + AFTER
    use_b, use_a = _at(lake, k, before, "initiative_use"), _at(lake, k, after, "initiative_use")
    stay_a = _at(stay, k, after, "initiative_use")
    stock_a = _at(lake, k, after, "practice_stock")
    stay_stock = _at(stay, k, after, "practice_stock")
    # ratios over the replicates whose denominator is positive (a pilot of one small school may have no user yet)
    used, learned = use_b > 0, stay_stock > 0
    return checks + [
        Check("SF7", f"lake_backing_away: use in initiative schools, {AFTER} months after withdrawal / month before"
                     + ("" if used.all() else f" ({used.sum()} of {used.size} replicates with use before)"),
              mean_ci(use_a[used] / use_b[used]), "hi", "<", 0.5),
        Check("SF7", f"staying the course - backing away, {AFTER} months after withdrawal: use in initiative schools",
              paired_ci(stay_a, use_a), "lo", ">", 0.1),
        Check("SF7", f"backing away / staying the course, {AFTER} months after withdrawal: initiative teachers' "
                     "practice quality" + ("" if learned.all() else f" ({learned.sum()} of {learned.size} replicates "
                                           "with practice when staying)"),
              mean_ci(stock_a[learned] / stay_stock[learned]), "hi", "<", 0.75)]


def sf8_checks(runs: Runs) -> list[Check]:
    """SF8: knowledge management relying on a single individual is fragile: her departure sets the district back.

    Runs last :data:`HENRY_STEPS` months, as for SF6, so that the cohorts that start after her departure
    (months 40 and 50) are followed.
    """
    label = "henry_all_in+key_person_km"
    ext = (f"steps={HENRY_STEPS}",)
    left, stays = runs(label, ext), runs(label, (*ext, "knowledge.key_person_departure_step=-1"))
    n, end = school_count(left), HENRY_STEPS
    return [Check("SF8", f"{label}: share of schools using an imported model the month before the key person leaves",
                  mean_ci(left.at(DEPARTURE - 1, "replications") / n), "lo", ">", 0),
            Check("SF8", f"key person stays - leaves, month {end}: share of schools using an imported model",
                  paired_ci(stays.at(end, "replications") / n, left.at(end, "replications") / n), "lo", ">", 0.1),
            Check("SF8", f"key person stays - leaves, month {end}: users' depth of practice",
                  paired_ci(stays.at(end, "mean_depth"), left.at(end, "mean_depth")), "lo", ">", 0),
            Check("SF8", f"key person stays - leaves, month {end}: share of schools school-wide",
                  paired_ci(stays.at(end, "schoolwide_share"), left.at(end, "schoolwide_share")), "lo", ">", 0.02)]


SF_CHECKS = (sf1_checks, sf2_checks, sf3_checks, sf4_checks, sf5_checks, sf6_checks, sf7_checks, sf8_checks)


def all_checks(replicates: int = SF_REPLICATES, base_seed: int = 0, overrides: tuple[str, ...] = ()) -> list[Check]:
    """Every stylized-fact check, SF1 to SF8, over :func:`sf_runs` with ``overrides``."""
    runs = sf_runs(replicates, base_seed, overrides)
    return [c for group in SF_CHECKS for c in group(runs)]


def sf_markdown(runs: Runs) -> str:
    """Table of every stylized-fact check: claim, measured mean [95% CI], criterion, whether it holds."""
    lines = ["| fact | measure | mean [95% CI] | criterion | holds |", "|---|---|---|---|---|"]
    for checks in SF_CHECKS:
        for c in checks(runs):
            lines.append(f"| {c.fact} | {c.claim} | {c.value} | {c.criterion()} | {'yes' if c.passes() else 'NO'} |")
    return "\n".join(lines)
