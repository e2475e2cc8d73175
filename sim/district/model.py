"""The district model: one central office, schools with a principal and teachers."""

from __future__ import annotations

import types
from collections.abc import Sequence

import mesa
import numpy as np
import pandas as pd
import scipy.sparse as sp
from omegaconf import DictConfig

from sim.config import ConfigError, load_container, to_params, validate
from sim.district import kernels, metrics, processes
from sim.district.agents import CentralOffice, Principal, Teacher, create_indexed
from sim.district.networks import build_adjacency, to_networkx
from sim.district.state import ModelRegistry, SchoolState, TeacherState, clip
from sim.district.survey import traits_from_survey

_COLUMNS = pd.Index(["step", *metrics.METRICS])  # of timeseries() (an Index is immutable: shared by every frame)


class MetricsCollector(mesa.DataCollector):
    """Mesa's DataCollector for the district metrics, without its per-value deep copies.

    The model reporters read this step's metrics (``model.latest``), plain Python numbers that
    nothing mutates, so :meth:`collect` appends them as they are; Mesa's own ``collect`` deep-copies
    every value of every step, a noticeable share of a standard run.
    """

    def collect(self, model: DistrictModel) -> None:
        """Append this step's metrics (``model.latest``) to ``model_vars``."""
        if self.agent_reporters or self.agenttype_reporters or not all(
                isinstance(r, types.LambdaType) for r in self.model_reporters.values()):
            super().collect(model)
            return
        self._collection_steps.append(model.time)
        latest = model.latest
        for var, values in self.model_vars.items():
            values.append(latest[var])


class DistrictModel(mesa.Model):
    """Agent-based model of how classroom experiments spread or stall in a district.

    Parameters
    ----------
    config : DictConfig or dict, optional
        A resolved configuration (see :func:`sim.load_config`). When omitted,
        ``scenario`` and ``overrides`` are composed into one.
    seed : int, optional
        Overrides ``config.seed``. Seeds ``self.rng`` (numpy) and ``self.random``.
    scenario, overrides
        Passed to :func:`sim.load_config` when ``config`` is None.
    validate_config : bool, default True
        Check ``config`` against the parameter specs (callers that validated it already skip this).
    survey_traits : dict, optional
        What a teacher survey measured, per school (:func:`sim.inputs.survey.surveyed_traits`);
        required when ``init.survey`` is set. The model reads no files: see :func:`sim.inputs.build_model`.

    Attributes
    ----------
    teachers : list of Teacher
        Teacher agents, school-major (teacher ``i`` of school ``s`` is ``s * T + i``).
    principals : list of Principal
        One per school, indexed by school.
    office : CentralOffice
        The central office and its policy levers.
    teachers_state, schools_state : TeacherState, SchoolState
        The arrays behind the agents, updated in vectorized form each step.
    adjacency : scipy.sparse.csr_array
        Weighted collegial and cross-school ties.
    """

    def __init__(self, config: DictConfig | dict | None = None, *, seed: int | None = None,
                 scenario: str | Sequence[str] = "baseline", overrides: Sequence[str] = (),
                 validate_config: bool = True,
                 survey_traits: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        if config is None:
            config = load_container(scenario, overrides)
        elif validate_config:
            validate(config)
        self.p = to_params(config)
        seed = int(self.p.seed if seed is None else seed)
        super().__init__(rng=seed)  # seeds self.rng (numpy) and self.random with the same int, as seed= did
        self.seed = seed
        self.p.seed = seed
        d = self.p.district
        self.n_schools = d.schools
        self.n_teachers = d.schools * d.teachers_per_school

        self.office = CentralOffice(self)
        self.schools_state = self._init_schools()
        self.registry = ModelRegistry([], [], [], [], [])
        n = self.n_teachers
        self.teachers_state = TeacherState(
            school=np.repeat(np.arange(self.n_schools), d.teachers_per_school),
            **{name: np.zeros(n) for name in ("capacity", "autonomy", "support_base", "support",
                                              "enthusiasm", "energy", "margin_share", "surface",
                                              "depth", "signal", "focus", "support_ref", "threshold")},
            stage=np.zeros(n, dtype=np.int8), stage_steps=np.zeros(n, dtype=np.int64),
            hired=np.zeros(n, dtype=np.int64))
        self.school_traits = {}  # init.survey: per-school (mean, sd) of teacher traits
        # No ties until the network is drawn (after the teachers): colleagues' help is zero before that.
        self.adjacency, self.degree, self.safe_degree = sp.csr_array((n, n)), np.zeros(n), np.ones(n)
        # (adjacency, users mask, tie-weighted count of using colleagues) from the last peer learning:
        # colleagues' help next month reuses the count when no stage has moved since
        self.users_ties: tuple | None = None
        if self.p.init.survey:
            if survey_traits is None:
                raise ConfigError("init.survey is set but no survey_traits were passed: build the model with "
                                  "sim.inputs.build_model(config, seed) (as sim.simulate and every tool do), "
                                  "which reads the survey, or pass sim.inputs.survey.surveyed_traits(...).")
            self.school_traits = traits_from_survey(self, survey_traits)
        self.init_teachers(np.arange(n))
        self.adjacency = self.build_network()
        self.degree = np.asarray(self.adjacency.sum(axis=1)).ravel()
        # the denominator of tie shares: the degree, 1 for a teacher without ties (whose count is then 0);
        # ties never change after this, and the shares are asked for twice a step
        self.safe_degree = np.where(self.degree > 0, self.degree, 1.0)

        self.principals = create_indexed(Principal, self, self.n_schools)
        self.teachers = create_indexed(self.teacher_class, self, n)

        processes.central_office_step(self)
        processes.allocate_support(self)
        self._history: list[dict[str, float]] = []
        self.datacollector = MetricsCollector(
            model_reporters={name: (lambda m, k=name: m.latest[k]) for name in metrics.METRICS})
        self.record()

    #: Agent class of the teachers (the per-agent reference model, sim.district.reference, uses a subclass).
    teacher_class: type[Teacher] = Teacher

    # -- initialisation ---------------------------------------------------------------

    def build_network(self) -> sp.csr_array:
        """Collegial and cross-school ties, drawn from ``self.rng`` (see :func:`sim.district.networks.build_adjacency`)."""
        return build_adjacency(self.p, self.rng)

    def trait(self, mean: float, sd: float, size: int) -> np.ndarray:
        """Draw a 0-1 trait: normal(mean, sd) clipped to [0, 1]."""
        return clip(self.rng.normal(mean, sd, size), 0.0, 1.0)

    def _init_schools(self) -> SchoolState:
        p, n = self.p.principal, self.n_schools
        return SchoolState(
            leadership=self.trait(p.leadership_mean, p.leadership_sd, n),
            change_mgmt=self.trait(p.change_mgmt_mean, p.change_mgmt_sd, n),
            stance=self.trait(p.stance_mean, p.stance_sd, n),
            openness=self.trait(p.openness_mean, p.openness_sd, n),
            principal_hired=np.zeros(n, dtype=np.int64),
            selected=np.zeros(n, dtype=bool),
            cohort=np.full(n, -1, dtype=np.int64),
            implement_step=np.full(n, processes.NEVER, dtype=np.int64),
            zone=np.zeros(n, dtype=bool),
            award_until=np.full(n, -1, dtype=np.int64),
            model=np.full(n, -1, dtype=np.int64),
            model_depth=np.zeros(n), model_surface=np.zeros(n),
            schoolwide_since=np.full(n, -1, dtype=np.int64),
            flexibility=np.zeros(n), pressure=np.zeros(n), extra_support=np.zeros(n),
            waiver=np.zeros(n, dtype=bool), dip=np.zeros(n), coaching=np.zeros(n))

    def init_teachers(self, idx: np.ndarray) -> None:
        """(Re)hire teachers at positions ``idx`` with fresh traits and no practice."""
        ts, p, k = self.teachers_state, self.p.teacher, idx.size
        # as trait() for the four traits, in one draw (this runs every month for the new hires)
        traits = self.rng.standard_normal((4, k))
        traits *= np.array([[p.capacity_sd], [p.autonomy_sd], [p.support_sd], [p.enthusiasm_sd]])
        traits += np.array([[p.capacity_mean], [p.autonomy_mean], [p.support_mean], [p.enthusiasm_mean]])
        np.minimum(np.maximum(traits, 0.0, out=traits), 1.0, out=traits)
        m = self.p.district.margin_share_mean
        ts.margin_share[idx] = self.rng.beta(4 * m + 1e-9, 4 * (1 - m) + 1e-9, k) if 0 < m < 1 else m
        ts.threshold[idx] = self.rng.normal(self.p.peers.threshold_mean, self.p.peers.threshold_sd, k)
        # the traits drawn, energy 1, no practice (stage NON_USE), focus_init, the support (and
        # flexibility) the predecessor had as reference, hired now: one compiled pass over the new hires
        kernels.hire_loop(idx, traits, ts.capacity, ts.autonomy, ts.support_base, ts.enthusiasm, ts.energy, ts.stage,
                          ts.stage_steps, ts.surface, ts.depth, ts.signal, ts.focus, ts.support_ref, ts.support,
                          self.schools_state.flexibility, ts.school, ts.hired, float(p.focus_init), int(self.steps))
        school = ts.school[idx]
        for name, (mean, sd) in self.school_traits.items():
            getattr(ts, name)[idx] = self.trait(mean[school], sd[school], k)
        zone = self.schools_state.zone[school]
        if zone.any():
            ts.autonomy[idx[zone]] = np.minimum(1.0, ts.autonomy[idx[zone]] + self.p.autonomy_zone.autonomy_boost)

    # -- dynamics ---------------------------------------------------------------------

    def step(self) -> None:
        """One school month: central office, principals, teachers, knowledge; then record."""
        processes.central_office_step(self)
        processes.principals_step(self)
        processes.teachers_step(self)
        processes.knowledge_step(self)
        self.record()

    def record(self) -> None:
        """Compute this step's metrics and mark schools that became school-wide."""
        s = self.schools_state
        using = self.teachers_state.using
        share = metrics.school_use_share(self, using)
        newly = (share >= self.p.metrics.schoolwide_threshold) & (s.schoolwide_since < 0)
        s.schoolwide_since[newly] = self.steps
        self.latest = metrics.district_metrics(self, using, share)
        self._history.append({"step": self.steps, **self.latest})
        self.datacollector.collect(self)

    def run(self, steps: int | None = None) -> pd.DataFrame:
        """Run ``steps`` (default ``config.steps``) more steps; return the district time series."""
        for _ in range(self.p.steps if steps is None else steps):
            self.step()
        return self.timeseries()

    # -- outputs ----------------------------------------------------------------------

    @property
    def history(self) -> Sequence[dict[str, float]]:
        """The district metrics recorded so far, one dict per step (what :meth:`timeseries` tabulates)."""
        return tuple(self._history)

    def timeseries(self) -> pd.DataFrame:
        """District metrics, one row per recorded step (step 0 = initial state)."""
        # numpy columns (int64 or float64, as pandas infers from the values) and a column index made once;
        # DataFrame._from_arrays skips matching dict keys to the columns, which costs more than the data here
        arrays = [np.array([row[k] for row in self._history]) for k in _COLUMNS.values]
        try:
            return pd.DataFrame._from_arrays(arrays, columns=_COLUMNS, index=pd.RangeIndex(len(self._history)),
                                             verify_integrity=False)
        except AttributeError:  # pragma: no cover - a pandas without it: the public constructor, same frame
            return pd.DataFrame(dict(zip(_COLUMNS, arrays)), columns=_COLUMNS)

    def school_table(self) -> pd.DataFrame:
        """Snapshot of every school now (see :func:`sim.district.metrics.school_table`)."""
        return metrics.school_table(self)

    def teacher_table(self) -> pd.DataFrame:
        """Snapshot of every teacher now (see :func:`sim.district.metrics.teacher_table`)."""
        return metrics.teacher_table(self)

    def network(self):
        """The collegial and cross-school network as a networkx graph."""
        return to_networkx(self.adjacency, self.teachers_state.school)
