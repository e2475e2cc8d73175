"""Shared by the processes: the calendar, stage codes, school readiness, stage moves."""

from __future__ import annotations

import numpy as np

from sim.district.state import District, Stage

NEVER = np.iinfo(np.int64).max // 2
# Stage codes as plain ints for array comparisons (numpy compares arrays with IntEnum members slowly).
_NON_USE, _EXPLORING, _PROTOTYPING, _ROUTINE, _REFINING, _ABANDONED = (int(st) for st in Stage)




def readiness(m: District) -> np.ndarray:
    """School readiness: mean of principal leadership, teacher enthusiasm and capacity."""
    t = m.teachers_state
    n_s = m.n_schools
    return (m.schools_state.leadership
            + t.enthusiasm.reshape(n_s, -1).mean(1)
            + t.capacity.reshape(n_s, -1).mean(1)) / 3.0


def _most_ready(m: District, candidates: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most ready candidate schools (ties broken at random)."""
    idx = np.flatnonzero(candidates)
    if k <= 0 or idx.size == 0:
        return idx[:0]
    score = readiness(m)[idx] + m.rng.random(idx.size) * 1e-9
    return idx[np.argsort(-score, kind="stable")[:k]]




def _move(ts, mask: np.ndarray, stage: Stage | int) -> None:
    np.putmask(ts.stage, mask, int(stage))
    np.putmask(ts.stage_steps, mask, 0)
