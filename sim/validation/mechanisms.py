"""Single-mechanism claims and the checks at other district sizes, as tables for docs/validation.md.

The same measurements the tests assert (``tests/validation/test_mechanisms.py`` and
``test_stylized_facts_hold_at_other_district_sizes``), written as stamped blocks so that a change of the
model marks them stale instead of leaving old numbers in the prose:

- ``python -m sim.validation.mechanisms replicates=20 seed=0 docs=true``: block ``mechanism-checks``
  (a dense against a sparse collegial network; the month of Lake County's withdrawal and what patience
  does to it);
- ``python -m sim.validation.mechanisms sizes replicates=20 seed=0 docs=true``: block ``sizes-table``
  (every stylized-fact check that fails in the districts of :data:`SIZES`);
- ``python -m sim.validation.mechanisms key_person replicates=20 seed=0 docs=true``: block
  ``key-person-timing`` (what the key person's departure costs Henry County, by the month she leaves);
- ``python -m sim.validation.mechanisms adhoc replicates=20 seed=0 docs=true``: block ``adhoc-sharing``
  (SF2's baseline checks with ad hoc sharing, ``knowledge.reach_none``, at quantiles of its posterior).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from sim.config import REPO_ROOT
from sim.validation.facts import (
    DEPARTURE,
    HENRY_STEPS,
    LAKE_STEPS,
    SF_CHECKS,
    SF_REPLICATES,
    Check,
    Runs,
    all_checks,
    school_count,
    sf_runs,
    withdrawal_steps,
)
from sim.validation.replicates import YEAR5, Interval, mean_ci, paired_ci

#: Collegial networks compared in the baseline (colleagues per teacher, ``network.degree``).
SPARSE, DENSE = 3, 12
#: Patience given to Lake County's office in the comparison (months, ``backaway.grace_steps``).
PATIENT = 25
#: Districts of other sizes (schools x teachers per school) on which every check is re-run: within 10-200
#: schools of 15-60 teachers, the two ends in schools and a district of few big schools.
SIZES = {"small": ("district.schools=10", "district.teachers_per_school=15"),
         "large": ("district.schools=200", "district.teachers_per_school=15"),
         "big schools": ("district.schools=20", "district.teachers_per_school=60")}


def size_label(name: str) -> str:
    """A district of :data:`SIZES` as people read it: ``small (10 x 15)`` (schools x teachers per school)."""
    return f"{name} ({' x '.join(o.split('=')[1] for o in SIZES[name])})"


def density_check(runs: Runs) -> Check:
    """Colleagues matter: year-5 share of teachers using PL, a dense minus a sparse collegial network (paired by
    seed), must exceed 3 points with an interval that excludes zero."""
    sparse = runs("baseline", (f"network.degree={SPARSE}",))
    dense = runs("baseline", (f"network.degree={DENSE}",))
    return Check("network", f"baseline, year 5: share of teachers using PL, a dense collegial network ({DENSE} "
                            f"colleagues) - a sparse one ({SPARSE})",
                 paired_ci(dense.at(YEAR5, "teacher_adoption"), sparse.at(YEAR5, "teacher_adoption")), "lo", ">", 0.03)


def density_effect(replicates: int = SF_REPLICATES, seed: int = 0) -> Interval:
    """Year-5 share of teachers using PL, dense minus sparse collegial network, paired by seed."""
    return density_check(sf_runs(replicates, seed)).value


def withdrawal_months(replicates: int = SF_REPLICATES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, the month Lake County's office withdraws with the preset's patience and with
    :data:`PATIENT` months of it (-1: it never does within the run)."""
    runs = sf_runs(replicates, seed)
    return (withdrawal_steps(runs("lake_backing_away")),
            withdrawal_steps(runs("lake_backing_away", (f"backaway.grace_steps={PATIENT}",))))


def patience_delay(preset: np.ndarray, patient: np.ndarray) -> Interval:
    """How much later the patient office withdraws, paired by seed (never = the run's last month + 1)."""
    return paired_ci(np.where(patient > 0, patient, LAKE_STEPS + 1), preset)


def _months(steps: np.ndarray) -> str:
    values, counts = np.unique(steps, return_counts=True)
    return ", ".join(("never" if v < 0 else f"month {v}") + f" ({c})" for v, c in zip(values, counts))


def mechanisms_markdown(replicates: int = SF_REPLICATES, seed: int = 0) -> str:
    """The ``mechanism-checks`` block."""
    density = density_effect(replicates, seed)
    preset, patient = withdrawal_months(replicates, seed)
    delay = patience_delay(preset, patient)
    density_row = (f"| a dense collegial network ({DENSE} colleagues) against a sparse one ({SPARSE}): points of "
                   f"teachers using PL at year 5 | {100 * density.mean:.1f} [{100 * density.lo:.1f}, "
                   f"{100 * density.hi:.1f}] | lower bound > 3 | {'yes' if density.lo > 0.03 else 'NO'} |")
    varies = (preset > 0).all() and len(set(preset)) > 1
    preset_row = (f"| Lake County's month of withdrawal, the preset's patience | {_months(preset)} "
                  f"| varies with the seed | {'yes' if varies else 'NO'} |")
    patient_row = (f"| the same with {PATIENT} months of patience (`backaway.grace_steps={PATIENT}`) "
                   f"| {_months(patient)} | | |")
    delay_row = (f"| months later with more patience (never = month {LAKE_STEPS + 1}) | {delay.mean:.1f} "
                 f"[{delay.lo:.1f}, {delay.hi:.1f}] | lower bound > 5 | {'yes' if delay.lo > 5 else 'NO'} |")
    return "\n".join(["| claim | measured (mean [95% interval], or months (seeds)) | needs | holds |",
                      "|---|---|---|---|", density_row, preset_row, patient_row, delay_row])


#: Months at which the key person leaves in the timing table (``knowledge.key_person_departure_step``); the
#: preset's is :data:`sim.validation.facts.DEPARTURE`.
DEPARTURES = (15, 25, DEPARTURE, 45, 55)
KEY_PERSON = "henry_all_in+key_person_km"


def key_person_losses(months: Sequence[int] = DEPARTURES, replicates: int = SF_REPLICATES, seed: int = 0
                      ) -> dict[int, dict[str, np.ndarray]]:
    """Per departure month, per replicate: the share of schools using an imported model the month before she
    leaves, and what her departure costs at month :data:`HENRY_STEPS` against her staying (imports as a share
    of schools, school-wide share, users' depth), paired by seed. The same runs as SF8."""
    runs = sf_runs(replicates, seed)
    ext = (f"steps={HENRY_STEPS}",)
    stays = runs(KEY_PERSON, (*ext, "knowledge.key_person_departure_step=-1"))
    n = school_count(stays)
    out = {}
    for month in months:
        left = runs(KEY_PERSON, (*ext, f"knowledge.key_person_departure_step={month}"))
        cost = {name: stays.at(HENRY_STEPS, metric) - left.at(HENRY_STEPS, metric)
                for name, metric in (("imports", "replications"), ("schoolwide", "schoolwide_share"),
                                     ("depth", "mean_depth"))}
        out[month] = {"before": left.at(month - 1, "replications") / n, **cost, "imports": cost["imports"] / n}
    return out


def key_person_markdown(replicates: int = SF_REPLICATES, seed: int = 0) -> str:
    """The ``key-person-timing`` block."""

    def cell(x: np.ndarray, pct: bool = True) -> str:
        ci = mean_ci(x)
        f = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:.3f}")
        return f"{f(ci.mean)} [{f(ci.lo)}, {f(ci.hi)}]"

    lines = ["| she leaves in month | schools using an imported model the month before (%) | cost at month "
             f"{HENRY_STEPS}: schools using an imported model (points) | school-wide schools (points) | "
             "users' depth (0-1) |", "|---|---|---|---|---|"]
    for month, v in key_person_losses(DEPARTURES, replicates, seed).items():
        mark = " (the preset)" if month == DEPARTURE else ""
        lines.append(f"| {month}{mark} | {cell(v['before'])} | {cell(v['imports'])} | {cell(v['schoolwide'])} | "
                     f"{cell(v['depth'], pct=False)} |")
    return "\n".join(lines)


#: The posterior sample of the cases calibration (its ``knowledge.reach_none`` column) and the quantiles read.
POSTERIOR = REPO_ROOT / "experiments" / "data" / "posterior_cases.csv"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def adhoc_sharing_checks(replicates: int = SF_REPLICATES, seed: int = 0,
                         quantiles: Sequence[float] = QUANTILES) -> list[tuple[float, float, list[Check]]]:
    """SF2's checks with ``knowledge.reach_none`` at each quantile of its (weighted) posterior:
    (quantile, value, checks). No calibration pattern observes sharing between schools, so its posterior is
    about as wide as its prior; this shows how far SF2 rests on where in it the default falls."""
    import pandas as pd
    from pyabc.weighted_statistics import weighted_quantile  # the one calibrate's posterior summary uses

    post = pd.read_csv(POSTERIOR)
    out = []
    for q in quantiles:
        value = float(weighted_quantile(post["knowledge.reach_none"].to_numpy(), post["weight"].to_numpy(), alpha=q))
        runs = sf_runs(replicates, seed, overrides=(f"knowledge.reach_none={value:.4f}",))
        out.append((q, value, SF_CHECKS[1](runs)))
    return out


def adhoc_markdown(replicates: int = SF_REPLICATES, seed: int = 0) -> str:
    """The ``adhoc-sharing`` block: SF2's replication check (the one ad hoc sharing acts on) per quantile."""
    rows = adhoc_sharing_checks(replicates, seed)
    replication = [c for c in rows[0][2] if c.claim.startswith("baseline, year 5")][0]
    lines = [f"| `knowledge.reach_none` (posterior quantile) | {replication.claim}: mean [95% interval] | needs "
             "| holds |", "|---|---|---|---|"]
    for q, value, checks in rows:
        c = [c for c in checks if c.claim == replication.claim][0]
        holds = "yes" if c.passes() else "NO"
        lines.append(f"| {value:.3f} ({100 * q:.0f}%) | {c.value} | {c.criterion()} | {holds} |")
    return "\n".join(lines)


def size_failures(size: str, replicates: int = SF_REPLICATES, seed: int = 0) -> list[Check]:
    """Every stylized-fact check that fails in the district of :data:`SIZES` named ``size``."""
    return [c for c in all_checks(replicates, seed, SIZES[size]) if not c.passes()]


def sizes_markdown(replicates: int = SF_REPLICATES, seed: int = 0, sizes: Sequence[str] = tuple(SIZES)) -> str:
    """The ``sizes-table`` block: per size, the failing checks (none listed: every check holds)."""
    lines = ["| district | fact | check | mean [95% interval] | needs |", "|---|---|---|---|---|"]
    for size in sizes:
        failing = size_failures(size, replicates, seed)
        for c in failing:
            lines.append(f"| {size_label(size)} | {c.fact} | {c.claim} | {c.value} | {c.criterion()} |")
        if not failing:
            lines.append(f"| {size_label(size)} | all | every check holds | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.mechanisms [sizes | key_person | adhoc] [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["adhoc"]:
        return table_tool("python -m sim.validation.mechanisms adhoc", __doc__ or "", argv[1:], "adhoc-sharing",
                          lambda n, seed: adhoc_markdown(n, seed), SF_REPLICATES, 2)
    if argv[:1] == ["key_person"]:
        return table_tool("python -m sim.validation.mechanisms key_person", __doc__ or "", argv[1:],
                          "key-person-timing", lambda n, seed: key_person_markdown(n, seed), SF_REPLICATES, 2)
    if argv[:1] == ["sizes"]:
        return table_tool("python -m sim.validation.mechanisms sizes", __doc__ or "", argv[1:], "sizes-table",
                          lambda n, seed: sizes_markdown(n, seed), SF_REPLICATES, 2)
    return table_tool("python -m sim.validation.mechanisms", __doc__ or "", argv, "mechanism-checks",
                      lambda n, seed: mechanisms_markdown(n, seed), SF_REPLICATES, 2)


if __name__ == "__main__":
    raise SystemExit(main())
