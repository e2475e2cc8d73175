"""District-level outputs computed from the state arrays (definitions in docs/ODD.md, "Observation")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.district import kernels
from sim.district.state import District, Stage, clip

#: Columns of :func:`sim.simulate`, in order (``step`` first).
METRICS = (
    "teacher_adoption", "deep_adoption", "schoolwide_share", "pilot_stall_share",
    "codified_models", "replicated_models", "replications", "mean_exhaustion", "equity_gap",
    "backed_away", "exploring_share", "abandoned_share", "mean_surface", "mean_depth",
    "schools_implementing",
)


def school_use_share(m: District, using: np.ndarray | None = None) -> np.ndarray:
    """Share of each school's teachers using the practice (``using``: the mask of users, if already computed)."""
    using = (m.teachers_state.using if using is None else using).reshape(m.n_schools, -1)
    return np.add.reduce(using, axis=1, dtype=float) / using.shape[1]


def inclusion(m: District) -> np.ndarray:
    """How fully a class's students on the margins take part in the richer work (0-1).

    Inclusion comes from intentional design, not from structures:
    inclusion_i = clip(inclusion_skill * capacity_i * focus_i, 0, 1), focus_i the
    share of her effort on depth. A teacher whose effort drifted to stations and
    choice boards leaves the students who lack the skills for self-directed work out.
    """
    ts = m.teachers_state
    return clip(m.p.teacher.inclusion_skill * ts.capacity * ts.focus, 0.0, 1.0)


def model_origin(m: District) -> np.ndarray:
    """School where each school's model was codified (-1: no model)."""
    return np.asarray(m.registry.origin + [-1], dtype=int)[m.schools_state.model]


def imported(m: District) -> np.ndarray:
    """Schools whose model was codified in another school (replications)."""
    return (m.schools_state.model >= 0) & (model_origin(m) != np.arange(m.n_schools))


def district_metrics(m: District, using: np.ndarray | None = None, share: np.ndarray | None = None
                     ) -> dict[str, float]:
    """All metrics of :data:`METRICS` for the model's current state (``using``, ``share``: the mask of
    users and :func:`school_use_share`, if the caller computed them already).

    Computed every step, so written for speed: the per-teacher counts and the terms of
    the sums over users in one compiled pass (:func:`sim.district.kernels.metrics_terms`),
    added by numpy (not BLAS dot products, which may spin up threads), per-school shares
    from a reshape, model counts by marking registry ids instead of ``np.unique``.
    """
    ts, p = m.teachers_state, m.p.metrics
    n = ts.stage.size
    using = ts.using if using is None else using
    share = school_use_share(m, using) if share is None else share
    s = m.schools_state
    # the counts and the per-teacher terms of the sums in one compiled pass; numpy adds the terms
    n_use, n_deep, n_exploring, n_abandoned, gap, surf, deep = kernels.metrics_terms(
        ts.stage, using, ts.depth, ts.surface, inclusion(m), float(p.depth_threshold))
    codified = replicated = replications = 0
    n_ids = max(len(m.registry.origin), int(s.model.max(initial=-1)) + 1)
    if n_ids:
        has = s.model >= 0
        copies = imported(m)
        mark = np.zeros(n_ids, dtype=bool)
        mark[s.model[has]] = True
        mark[:len(m.registry.in_repository)] |= np.asarray(m.registry.in_repository, dtype=bool)
        codified = int(np.count_nonzero(mark))
        mark[:] = False
        mark[s.model[copies]] = True
        replicated = int(np.count_nonzero(mark))
        replications = int(np.count_nonzero(copies))
    return {
        "teacher_adoption": n_use / n,
        "deep_adoption": n_deep / n,
        "schoolwide_share": np.count_nonzero(share >= p.schoolwide_threshold) / share.size,
        "pilot_stall_share": np.count_nonzero((share > 0) & (share < p.stall_threshold)) / share.size,
        "codified_models": codified,
        "replicated_models": replicated,
        "replications": replications,
        "mean_exhaustion": float(1.0 - np.add.reduce(ts.energy) / n),
        "equity_gap": float(np.add.reduce(gap) / n),
        "backed_away": int(m.office.backed_away),
        "exploring_share": n_exploring / n,
        "abandoned_share": n_abandoned / n,
        "mean_surface": float(np.add.reduce(surf) / n_use) if n_use else 0.0,
        "mean_depth": float(np.add.reduce(deep) / n_use) if n_use else 0.0,
        "schools_implementing": int(np.count_nonzero(s.active(m.steps))),
    }


def school_table(m: District) -> pd.DataFrame:
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


def teacher_table(m: District) -> pd.DataFrame:
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
