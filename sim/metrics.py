"""District-level outputs computed from the state arrays (definitions in docs/ODD.md, "Observation")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.agents import Stage

if TYPE_CHECKING:
    from sim.model import DistrictModel

#: Columns of :func:`sim.simulate`, in order (``step`` first).
METRICS = (
    "teacher_adoption", "deep_adoption", "schoolwide_share", "pilot_stall_share",
    "codified_models", "replicated_models", "replications", "mean_exhaustion", "equity_gap",
    "backed_away", "exploring_share", "abandoned_share", "mean_surface", "mean_depth",
)


def school_use_share(m: DistrictModel) -> np.ndarray:
    """Share of each school's teachers using the practice."""
    return m.teachers_state.using.reshape(m.n_schools, -1).mean(1)


def inclusion(m: DistrictModel) -> np.ndarray:
    """How fully a class's students on the margins take part in the richer work (0-1).

    inclusion_i = clip(inclusion_skill * capacity_i * (1 + support_i) / 2, 0, 1)
    """
    ts = m.teachers_state
    return np.clip(m.p.teacher.inclusion_skill * ts.capacity * (1 + ts.support) / 2, 0.0, 1.0)


def model_origin(m: DistrictModel) -> np.ndarray:
    """School where each school's model was codified (-1: no model)."""
    return np.asarray(m.registry.origin + [-1], dtype=int)[m.schools_state.model]


def imported(m: DistrictModel) -> np.ndarray:
    """Schools whose model was codified in another school (replications)."""
    return (m.schools_state.model >= 0) & (model_origin(m) != np.arange(m.n_schools))


def district_metrics(m: DistrictModel) -> dict[str, float]:
    """All metrics of :data:`METRICS` for the model's current state."""
    ts, p = m.teachers_state, m.p.metrics
    using = ts.using
    share = school_use_share(m)
    s = m.schools_state
    copies = imported(m)
    codified = np.union1d(s.model[s.model >= 0], np.flatnonzero(m.registry.in_repository))
    n_use = using.sum()
    return {
        "teacher_adoption": float(using.mean()),
        "deep_adoption": float((using & (ts.depth >= p.depth_threshold)).mean()),
        "schoolwide_share": float((share >= p.schoolwide_threshold).mean()),
        "pilot_stall_share": float(((share > 0) & (share < p.stall_threshold)).mean()),
        "codified_models": int(codified.size),
        "replicated_models": int(np.unique(s.model[copies]).size),
        "replications": int(copies.sum()),
        "mean_exhaustion": float(1.0 - ts.energy.mean()),
        "equity_gap": float((using * ts.depth * (1 - inclusion(m))).mean()),
        "backed_away": int(m.office.backed_away),
        "exploring_share": float((ts.stage == Stage.EXPLORING).mean()),
        "abandoned_share": float((ts.stage == Stage.ABANDONED).mean()),
        "mean_surface": float(ts.surface[using].mean()) if n_use else 0.0,
        "mean_depth": float(ts.depth[using].mean()) if n_use else 0.0,
    }


def school_table(m: DistrictModel) -> pd.DataFrame:
    """One row per school: principal traits, rollout status, use share, model."""
    s, ts = m.schools_state, m.teachers_state
    n_s = m.n_schools
    share = school_use_share(m)
    return pd.DataFrame({
        "step": m.steps,
        "school": np.arange(n_s),
        "cohort": s.cohort,
        "selected": s.selected,
        "active": s.active(m.steps),
        "implement_step": np.where(s.selected, s.implement_step, -1),
        "zone": s.zone,
        "leadership": s.leadership,
        "change_mgmt": s.change_mgmt,
        "stance": s.stance,
        "use_share": share,
        "deep_share": (ts.using & (ts.depth >= m.p.metrics.depth_threshold)).reshape(n_s, -1).mean(1),
        "schoolwide": share >= m.p.metrics.schoolwide_threshold,
        "schoolwide_since": s.schoolwide_since,
        "model": s.model,
        "model_origin": model_origin(m),
        "mean_exhaustion": 1 - ts.energy.reshape(n_s, -1).mean(1),
    })


def teacher_table(m: DistrictModel) -> pd.DataFrame:
    """One row per teacher with traits, stage and practice quality."""
    ts = m.teachers_state
    return pd.DataFrame({
        "step": m.steps,
        "teacher": np.arange(m.n_teachers),
        "school": ts.school,
        "capacity": ts.capacity,
        "autonomy": ts.autonomy,
        "support": ts.support,
        "enthusiasm": ts.enthusiasm,
        "energy": ts.energy,
        "stage": pd.Categorical.from_codes(ts.stage, [st.name.lower() for st in Stage]),
        "surface": ts.surface,
        "depth": ts.depth,
        "inclusion": inclusion(m),
        "hired": ts.hired,
    })
