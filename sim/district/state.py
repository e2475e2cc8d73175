"""The state of a district: practice stages, the per-teacher and per-school arrays, the registry of
codified models, and :class:`District`, what the processes may read and change.

The bottom of the model package: agents, processes, metrics and the virtual survey
depend on this module, the model assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp


class Stage(IntEnum):
    """Practice stage, after the CBAM Levels of Use (Hall & Hord)."""

    NON_USE = 0  # LoU 0
    EXPLORING = 1  # LoU I-II orientation and preparation
    PROTOTYPING = 2  # LoU III mechanical use
    ROUTINE = 3  # LoU IVA
    REFINING = 4  # LoU IVB
    ABANDONED = 5


try:  # the ufunc that np.clip calls for two bounds, without np.clip's Python wrapper (same values)
    from numpy._core.umath import clip
except ImportError:  # pragma: no cover - numpy without that module layout
    clip = np.clip

USING = (Stage.PROTOTYPING, Stage.ROUTINE, Stage.REFINING)
# Plain ints for array comparisons (comparing numpy arrays with IntEnum members is several times slower).
_PROTOTYPING, _REFINING = int(Stage.PROTOTYPING), int(Stage.REFINING)


@dataclass
class TeacherState:
    """Per-teacher arrays (length = schools x teachers_per_school, school-major order)."""

    school: np.ndarray  # int, school index
    capacity: np.ndarray  # 0-1
    autonomy: np.ndarray  # 0-1
    support_base: np.ndarray  # 0-1, support before coaching and principal
    support: np.ndarray  # 0-1, effective support this month
    enthusiasm: np.ndarray  # 0-1
    energy: np.ndarray  # 0-1 (exhaustion = 1 - energy)
    margin_share: np.ndarray  # share of students on the margins in the class
    stage: np.ndarray  # int8, Stage
    stage_steps: np.ndarray  # months in the current stage
    surface: np.ndarray  # 0-1, surface quality ("iconography")
    depth: np.ndarray  # 0-1, depth quality (rigor)
    signal: np.ndarray  # last judged outcome of the teacher's own practice
    focus: np.ndarray  # 0-1, share of prototyping effort on depth (drifts toward what her judgement rewards)
    support_ref: np.ndarray  # 0-2, the support and flexibility she is used to (moving average of support + flexibility)
    threshold: np.ndarray  # own adoption threshold, share of colleagues (threshold contagion)
    hired: np.ndarray  # step at which the current teacher was hired

    @property
    def using(self) -> np.ndarray:
        """Boolean mask of teachers using the practice (prototyping, routine or refining)."""
        if self.stage.dtype == np.int8:
            # stage - PROTOTYPING read as unsigned is below 3 exactly for the three using stages (one
            # comparison instead of two and an and; the same mask for every int8 value)
            return (self.stage - _PROTOTYPING).view(np.uint8) < _REFINING - _PROTOTYPING + 1
        return (self.stage >= _PROTOTYPING) & (self.stage <= _REFINING)


@dataclass
class SchoolState:
    """Per-school arrays: the principal's traits and the school's innovation status."""

    leadership: np.ndarray  # principal's instructional leadership, 0-1
    change_mgmt: np.ndarray  # principal's change-management capacity, 0-1
    stance: np.ndarray  # 0 decentralized ... 1 school-wide ("closing": codify and spread)
    openness: np.ndarray  # 0-1, how much the principal encourages experiments ("opening")
    principal_hired: np.ndarray  # step the current principal arrived
    selected: np.ndarray  # bool, chosen for the initiative
    cohort: np.ndarray  # cohort index (-1: not selected)
    implement_step: np.ndarray  # step implementation starts (large: never)
    zone: np.ndarray  # bool, in the autonomy zone
    award_until: np.ndarray  # design-competition support lasts until this step
    model: np.ndarray  # id of the school's codified model (-1: none)
    model_depth: np.ndarray  # quality of the school's model as adapted here
    model_surface: np.ndarray
    schoolwide_since: np.ndarray  # first step the school was school-wide (-1: never)
    # Conditions the central office and principal set this month:
    flexibility: np.ndarray
    pressure: np.ndarray
    waiver: np.ndarray  # bool, the school's waiver is granted (negotiated flexibility)
    dip: np.ndarray  # implementation dip: share of teachers in first use, weighted by shallowness
    coaching: np.ndarray  # coaching FTE the school gets from the district budget
    extra_support: np.ndarray  # coaching + principal + award support per teacher

    def active(self, step: int) -> np.ndarray:
        """Schools implementing the initiative at ``step``."""
        return self.selected & (step >= self.implement_step)

    def planning(self, step: int) -> np.ndarray:
        """Schools selected for the initiative and in their planning period at ``step``."""
        return self.selected & (step < self.implement_step)


@dataclass
class ModelRegistry:
    """Codified school models (grows as principals codify)."""

    origin: list[int]
    depth: list[float]
    surface: list[float]
    step: list[int]
    in_repository: list[bool]  # held by the district's knowledge system


def state_fields(cls) -> list[str]:
    """Names of a state dataclass's arrays."""
    return [f.name for f in fields(cls)]


class District(Protocol):
    """What the processes, metrics, agents and the virtual survey use of a model
    (:class:`sim.district.model.DistrictModel` is the implementation)."""

    p: Any  # the resolved parameters (attribute access: p.teacher.capacity_mean)
    rng: np.random.Generator
    steps: int
    n_schools: int
    n_teachers: int
    teachers_state: TeacherState
    schools_state: SchoolState
    registry: ModelRegistry
    office: Any  # sim.district.agents.CentralOffice
    adjacency: sp.csr_array
    degree: np.ndarray
    safe_degree: np.ndarray  # the degree, with 1 for a teacher without ties (the denominator of tie shares)

    def trait(self, mean: float, sd: float, size: int) -> np.ndarray: ...

    def init_teachers(self, idx: np.ndarray) -> None: ...
