"""Why no Lake County pilot becomes school-wide: the most-used pilot school by May 2017, as the preset
runs it and with the mechanisms that hold it back switched off one at a time.

The record has one of Lake County's five pilots grow from 8 classrooms to the whole school before the
programme ended (July 2017). The held-out check of that pattern fails (docs/validation.md, "The real
cases"); this table shows how far the pilots get, and what it would take, so the failure can be read
as a finding about the model rather than a number. A school is school-wide when at least
``metrics.schoolwide_threshold`` of its teachers use the practice.

Run ``python -m sim.calibration.pilots [replicates=N] [seed=N] [docs=true]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sim.calibration.cases import Cases, Target, load_cases, scenario_bases
from sim.config import REPO_ROOT
from sim.district.metrics import school_use_share
from sim.inputs import build_model

CASES = REPO_ROOT / "experiments" / "data" / "cases.yaml"
#: The held-out pattern; its scenario and date (May 2017, step 29 on Lake County's axis: step 0 = August
#: 2014) are read from the cases file, so the table runs what the check runs.
TARGET = "lake_pilot_whole_school"

#: (what changes, overrides): the preset first, then each mechanism switched off, then together.
VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the preset", ()),
    ("pilots experiment at the full rate from August 2014 (no waiting for implementation)",
     ("rollout.inactive_factor=1",)),
    ("no test-score pressure (none at the start, none from the implementation dip)",
     ("policy.test_pressure=0", "policy.pressure_dip=0")),
    ("both of the above", ("rollout.inactive_factor=1", "policy.test_pressure=0", "policy.pressure_dip=0")),
    ("both, with principals who want a school-wide approach (stance 1)",
     ("rollout.inactive_factor=1", "policy.test_pressure=0", "policy.pressure_dip=0",
      "principal.stance_mean=1", "principal.stance_sd=0")),
    ("both, with Henry County's coaching (half a staff member per school)",
     ("rollout.inactive_factor=1", "policy.test_pressure=0", "policy.pressure_dip=0",
      "policy.coaching_fte=0.5", "budget.fte_per_school=0.5")),
    ("the nearest the model comes to a principal converting the school: school-wide principals whose "
     "school model pulls the faculty in at the top of its range, in the preset",
     ("principal.stance_mean=1", "principal.stance_sd=0", "principal.model_pull=1")),
    ("the same, with both of the first two switched off",
     ("rollout.inactive_factor=1", "policy.test_pressure=0", "policy.pressure_dip=0",
      "principal.stance_mean=1", "principal.stance_sd=0", "principal.model_pull=1")),
)


@dataclass(frozen=True)
class PilotRow:
    """Per variant, over replicates: the most-used pilot's share of teachers using the practice at the date."""

    variant: str
    overrides: tuple[str, ...]
    median: float
    highest: float
    schoolwide_runs: int
    replicates: int


def _target(cases: Cases) -> Target:
    return next(t for t in cases.targets if t.id == TARGET)


def target_step() -> int:
    """The step of the held-out pattern's date in its scenario (from the cases file)."""
    return int(_target(load_cases(CASES)).step)


def _base(overrides: Sequence[str]) -> dict:
    """The resolved configuration of the pattern's scenario, as the cases check builds it, with ``overrides``."""
    cases = load_cases(CASES)
    name = _target(cases).scenario
    only = replace(cases, scenarios={name: cases.scenarios[name]})
    return scenario_bases(only, fixed=dict(o.split("=", 1) for o in overrides))[name]


def best_pilot_shares(overrides: Sequence[str], replicates: int, seed: int, step: int) -> np.ndarray:
    """Per replicate (seeds ``seed`` .. ``seed + replicates - 1``), the highest use share any of the first
    cohort's schools reached up to ``step`` (as the held-out pattern counts a pilot school-wide at some step)."""
    base = _base(overrides)
    out = np.zeros(replicates)
    for r in range(replicates):
        model = build_model(base, seed=seed + r, validate_config=False)
        for _ in range(step):
            model.step()
            pilots = school_use_share(model)[model.schools_state.cohort == 0]
            out[r] = max(out[r], pilots.max(initial=0.0))
    return out


def pilot_rows(replicates: int = 20, seed: int = 0) -> list[PilotRow]:
    """One row per variant of :data:`VARIANTS`."""
    step = target_step()
    threshold = float(_base(())["metrics"]["schoolwide_threshold"])
    rows = []
    for name, over in VARIANTS:
        best = best_pilot_shares(over, replicates, seed, step)
        rows.append(PilotRow(name, over, float(np.median(best)), float(best.max()),
                             int(np.count_nonzero(best >= threshold)), replicates))
    return rows


def pilots_markdown(rows: Sequence[PilotRow]) -> str:
    """The table for docs/validation.md."""
    header = ("| what changes | overrides | most-used pilot up to May 2017: median share of its teachers using PL "
              "| highest | runs with a school-wide pilot |")
    lines = [header, "|---|---|---|---|---|"]
    for r in rows:
        over = " ".join(f"`{o}`" for o in r.overrides) or "(none)"
        lines.append(f"| {r.variant} | {over} | {r.median:.0%} | {r.highest:.0%} "
                     f"| {r.schoolwide_runs} of {r.replicates} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.calibration.pilots [replicates=N] [seed=N] [docs=true]``: the Lake County pilots table."""
    from sim.docblocks import table_tool

    return table_tool("python -m sim.calibration.pilots", __doc__ or "", argv, "lake-pilots",
                      lambda n, seed: pilots_markdown(pilot_rows(n, seed)), 20, 1)


if __name__ == "__main__":
    raise SystemExit(main())
