"""Mesa agents of the district: teachers, principals and the central office.

Teachers and principals are real ``mesa.Agent`` objects (usable in AgentSet
queries, the visualization and by hand), but their state lives in numpy arrays
held by the model (:class:`TeacherState`, :class:`SchoolState`) so that each
step updates all of them at once. Each agent exposes its slice of those arrays
as read-write properties.
"""

from __future__ import annotations

import gc

import mesa

from sim.district.state import USING, District, Stage


def _array_property(state: str, name: str, cast=float, doc: str = "") -> property:
    def fget(self):
        return cast(getattr(getattr(self.model, state), name)[self.index])

    def fset(self, value):
        getattr(getattr(self.model, state), name)[self.index] = value

    return property(fget, fset, doc=doc)


class Teacher(mesa.Agent):
    """One teacher (classroom). State is a view into ``model.teachers_state``.

    Attributes
    ----------
    index : int
        Position of this teacher in the model's arrays.
    """

    def __init__(self, model: District, index: int) -> None:
        super().__init__(model)
        self.index = index

    school = _array_property("teachers_state", "school", int, "School index.")
    capacity = _array_property("teachers_state", "capacity", doc="Skill with data, open classrooms, rigorous design (0-1).")
    autonomy = _array_property("teachers_state", "autonomy", doc="Latitude to change practice (0-1).")
    support = _array_property("teachers_state", "support", doc="Support received this month (0-1).")
    enthusiasm = _array_property("teachers_state", "enthusiasm", doc="Enthusiasm for PL (0-1).")
    energy = _array_property("teachers_state", "energy", doc="Energy (1 - exhaustion), 0-1.")
    surface = _array_property("teachers_state", "surface", doc="Surface quality of practice (0-1).")
    depth = _array_property("teachers_state", "depth", doc="Depth quality of practice (0-1).")
    margin_share = _array_property("teachers_state", "margin_share", doc="Share of students on the margins.")

    @property
    def stage(self) -> Stage:
        """Practice stage (CBAM-inspired)."""
        return Stage(int(self.model.teachers_state.stage[self.index]))

    @stage.setter
    def stage(self, value: Stage | int) -> None:
        self.model.teachers_state.stage[self.index] = int(value)
        self.model.teachers_state.stage_steps[self.index] = 0

    @property
    def using(self) -> bool:
        """Whether the teacher uses the practice (prototyping, routine or refining)."""
        return self.stage in USING

    @property
    def principal(self) -> Principal:
        return self.model.principals[self.school]

    def __repr__(self) -> str:
        return (f"Teacher(id={self.unique_id}, school={self.school}, stage={self.stage.name}, "
                f"surface={self.surface:.2f}, depth={self.depth:.2f}, energy={self.energy:.2f})")


class Principal(mesa.Agent):
    """A school's principal; also the handle on the school's state."""

    def __init__(self, model: District, index: int) -> None:
        super().__init__(model)
        self.index = index

    leadership = _array_property("schools_state", "leadership", doc="Instructional leadership (0-1).")
    change_mgmt = _array_property("schools_state", "change_mgmt", doc="Change-management capacity (0-1).")
    stance = _array_property("schools_state", "stance", doc="0 = let teachers define PL, 1 = school-wide approach.")
    model_id = _array_property("schools_state", "model", int, "Codified school model id (-1: none).")

    @property
    def school(self) -> int:
        return self.index

    @property
    def teachers(self) -> list[Teacher]:
        t = self.model.p.district.teachers_per_school
        return self.model.teachers[self.index * t:(self.index + 1) * t]

    def __repr__(self) -> str:
        return (f"Principal(school={self.index}, leadership={self.leadership:.2f}, "
                f"change_mgmt={self.change_mgmt:.2f}, stance={self.stance:.2f}, model={self.model_id})")


class CentralOffice(mesa.Agent):
    """The district central office: holds the policy levers and district status.

    Levers are plain attributes initialised from ``policy.*`` in the config, so a
    live app (or a test) can change them mid-run.
    """

    LEVERS = ("goal_clarity", "flexibility", "flexibility_mode", "waiver_friction", "coaching_fte",
              "coaching_effect", "pl_priority", "test_pressure", "pressure_damp", "leader_support")

    def __init__(self, model: District) -> None:
        super().__init__(model)
        policy = model.p.policy
        for lever in self.LEVERS:
            setattr(self, lever, getattr(policy, lever))
        self.knowledge_mode: str = model.p.knowledge.mode
        self.backed_away: bool = False
        self.backaway_step: int = -1
        self.key_person_present: bool = self.knowledge_mode == "key_person"
        self.key_person_left_step: int = -1

    def levers(self) -> dict[str, object]:
        """Current lever settings."""
        return {lever: getattr(self, lever) for lever in self.LEVERS}

    def __repr__(self) -> str:
        return f"CentralOffice(backed_away={self.backed_away}, {self.levers()})"


def create_indexed(cls: type[Teacher] | type[Principal], model: mesa.Model, n: int) -> list:
    """``[cls(model, i) for i in range(n)]``, registered with the model in bulk.

    Gives the same agents as calling the constructor ``n`` times (attributes
    ``model``, ``unique_id``, ``pos`` and ``index``, each agent in
    ``model.agents`` and ``model.agents_by_type[cls]``), about three times
    faster: Mesa's per-agent registration dominates set-up of large districts.
    Relies on the registries of mesa 3.5 (``Model.agent_id_counter``,
    ``Model._agents_by_type``, ``Model._all_agents``); other versions fall
    back to the constructor, and so do subclasses with their own ``__init__``
    and agent classes tracked by Mesa datasets.
    """
    internals = all(hasattr(model, a) for a in ("agent_id_counter", "_agents_by_type", "_all_agents"))
    if not internals or cls.__init__ not in (Teacher.__init__, Principal.__init__) or cls._datasets:
        return [cls(model, i) for i in range(n)]
    collecting = gc.isenabled()
    gc.disable()  # otherwise each batch of new objects triggers collections that rescan all of them
    try:
        agents = [cls.__new__(cls) for _ in range(n)]
        first = model.agent_id_counter
        for i, agent in enumerate(agents):
            agent.__dict__.update(model=model, unique_id=first + i, pos=None, index=i)
        model.agent_id_counter = first + n
        keys = dict.fromkeys(agents)
        model._all_agents._agents.update(keys)
        if cls in model._agents_by_type:
            model._agents_by_type[cls]._agents.update(keys)
        else:
            model._agents_by_type[cls] = type(model._all_agents)(agents, random=model.random)
    finally:
        if collecting:
            gc.enable()
    return agents
