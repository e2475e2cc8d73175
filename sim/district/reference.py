"""The naive reference: the same teacher rules written as ordinary per-agent Mesa steps.

:class:`ReferenceDistrictModel` is a :class:`~sim.district.model.DistrictModel` whose
teachers are :class:`ReferenceTeacher` agents that each apply the rules of
``processes.teachers_step`` and ``processes.knowledge_step`` to themselves,
one agent at a time, drawing from Mesa's per-model ``random`` generator. It
also builds its networks the straightforward way (one networkx graph per
school) and creates its teachers one constructor call at a time. Central
office, principals and observation are shared with the optimized model.

It exists to check and to measure the optimized model: the equivalence test
(tests/test_equivalence.py) compares outcome distributions of the two, and
``benchmarks/run.py`` reports how much faster the vectorized update is. The
two consume random numbers differently, so only distributions (never
trajectories) can agree.

Synchronous semantics are kept with Mesa's staged activation
(``AgentSet.do`` per stage): all teachers turn over, then all decide whether
to experiment (peer exposure reads colleagues' use, which that stage does not
change), then each commits, prototypes, spends energy, evaluates and decides;
knowledge moves in ``learn`` (read colleagues) / ``advance`` (write) pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import ks_2samp

from sim.config import load_container
from sim.district import processes
from sim.district.agents import Teacher
from sim.district.model import DistrictModel
from sim.district.networks import build_adjacency_networkx
from sim.district.state import Stage

_NON_USE, _EXPLORING, _PROTOTYPING, _ROUTINE, _REFINING, _ABANDONED = (int(st) for st in Stage)


def _clip01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


class ReferenceTeacher(Teacher):
    """A teacher applying the rules of ``sim.district.processes`` to herself (see the module docstring)."""

    def __init__(self, model: ReferenceDistrictModel, index: int) -> None:
        super().__init__(model, index)  # own constructor: agents are created one by one
        self.neighbors: list[tuple[int, float]] = []
        self._next: tuple[float, float] | None = None
        self._quit = 0.0

    # -- stage 1: turnover ---------------------------------------------------------------

    def turnover(self) -> None:
        """Another month in the stage; leave w.p. the monthly turnover and be replaced by a new hire."""
        ts, i = self.model.teachers_state, self.index
        ts.stage_steps[i] += 1
        if self.random.random() < processes.monthly(self.model.p.teacher.turnover):
            self.rehire()

    def rehire(self) -> None:
        """A new hire takes the classroom: fresh traits, no practice (as ``DistrictModel.init_teachers``)."""
        m, ts, i = self.model, self.model.teachers_state, self.index
        p, rnd = m.p.teacher, self.random
        self.capacity = _clip01(rnd.gauss(p.capacity_mean, p.capacity_sd))
        self.autonomy = _clip01(rnd.gauss(p.autonomy_mean, p.autonomy_sd))
        ts.support_base[i] = _clip01(rnd.gauss(p.support_mean, p.support_sd))
        self.enthusiasm = _clip01(rnd.gauss(p.enthusiasm_mean, p.enthusiasm_sd))
        share = m.p.district.margin_share_mean
        self.margin_share = rnd.betavariate(4 * share + 1e-9, 4 * (1 - share) + 1e-9) if 0 < share < 1 else share
        self.energy = 1.0
        self.stage = Stage.NON_USE
        self.surface = 0.0
        self.depth = 0.0
        ts.signal[i] = 0.0
        ts.focus[i] = p.focus_init
        ts.support_ref[i] = ts.support[i] + m.schools_state.flexibility[self.school]
        ts.threshold[i] = rnd.gauss(m.p.peers.threshold_mean, m.p.peers.threshold_sd)
        ts.hired[i] = m.steps
        if m.schools_state.zone[self.school]:
            self.autonomy = min(1.0, self.autonomy + m.p.autonomy_zone.autonomy_boost)

    # -- stage 2: plan and start experimenting -------------------------------------------

    def peer_exposure(self) -> float:
        """Weighted share of colleagues using the practice (simple), or 0/1 by count (complex) or by own threshold."""
        m = self.model
        stage = m.teachers_state.stage
        count = sum(w for j, w in self.neighbors if _PROTOTYPING <= stage[j] <= _REFINING)
        if m.p.peers.contagion == "complex":
            return 1.0 if count >= m.p.peers.threshold - 1e-9 else 0.0
        degree = m.degree[self.index]
        share = count / degree if degree > 0 else 0.0
        if m.p.peers.contagion == "threshold":
            return 1.0 if share >= m.teachers_state.threshold[self.index] - 1e-9 else 0.0
        return share

    def quitting_colleagues(self) -> float:
        """Weighted share of colleagues who gave up the practice."""
        m = self.model
        stage = m.teachers_state.stage
        count = sum(w for j, w in self.neighbors if stage[j] == _ABANDONED)
        degree = m.degree[self.index]
        return count / degree if degree > 0 else 0.0

    def judged_weight(self) -> float:
        """How much her judgement looks at learning rather than engagement (``processes.judged_weight``)."""
        m, s, sch, p = self.model, self.model.schools_state, self.school, self.model.p
        w = p.teacher.goal_weight * m.office.goal_clarity + (1 - p.teacher.goal_weight) * self.support
        return w * (1.0 - p.principal.open_dilution * s.openness[sch] * (1.0 - s.stance[sch]))

    def explore(self) -> None:
        """Planning builds capacity; a non-user may start exploring, an abandoner may re-enter."""
        m, s, sch, p, o = self.model, self.model.schools_state, self.school, self.model.p, self.model.office
        if s.selected[sch] and m.steps < s.implement_step[sch]:  # SchoolState.planning, for one school
            self.capacity = min(1.0, self.capacity + p.rollout.planning_capacity_gain)
        stage = int(m.teachers_state.stage[self.index])
        if stage not in (_NON_USE, _ABANDONED):
            return
        peer = self.peer_exposure()
        active = s.selected[sch] and m.steps >= s.implement_step[sch] and not o.backed_away
        opp = 1.0 if active else p.rollout.inactive_factor
        has_model = 1.0 if s.model[sch] >= 0 else 0.0
        draw = self.random.random()
        if stage == _NON_USE:
            school_rate = (opp * s.flexibility[sch] * (1.0 - o.pressure_damp * s.pressure[sch])
                           * (1.0 + p.principal.open_boost * s.openness[sch]))
            rate = (school_rate * (p.teacher.explore_rate * self.enthusiasm * self.autonomy + p.peers.influence * peer)
                    + p.principal.model_pull * s.leadership[sch] * has_model * opp)
            go = draw < -math.expm1(-rate)
        else:
            go = draw < p.teacher.reentry_rate * min(1.0, peer + has_model)
        if go:
            self.stage = Stage.EXPLORING

    def observe(self) -> None:
        """See how many colleagues gave up (read by ``decide``; a separate stage keeps updates synchronous)."""
        self._quit = self.quitting_colleagues()

    # -- stage 3: commit, prototype, spend energy, evaluate, decide ----------------------

    def step(self) -> None:
        """The rest of this month's teacher process, for this teacher alone."""
        self.commit()
        self.prototype()
        self.spend_energy()
        self.evaluate()
        self.decide()

    def commit(self) -> None:
        if self.model.teachers_state.stage[self.index] != _EXPLORING:
            return
        m, p = self.model, self.model.p.teacher
        draw = self.random.random()
        prob = p.commit_rate * (1.0 - p.commit_support_weight * (1.0 - self.support))
        if draw < prob:
            transfer, s, sch = m.p.principal.model_transfer, m.schools_state, self.school
            self.depth = max(self.depth, transfer * s.model_depth[sch])
            self.surface = max(self.surface, transfer * s.model_surface[sch])
            self.stage = Stage.PROTOTYPING
        elif draw < prob + (1 - prob) * p.explore_dropout:
            self.stage = Stage.NON_USE

    def effort(self) -> float:
        p = self.model.p.teacher
        return {_PROTOTYPING: p.effort_prototyping, _ROUTINE: p.effort_routine,
                _REFINING: p.effort_refining}.get(int(self.model.teachers_state.stage[self.index]), 0.0)

    def prototype(self) -> None:
        p = self.model.p.teacher
        e = self.effort()
        if e > 0:
            self.focus += p.focus_adapt * (self.judged_weight() - self.focus)
        phi = self.focus
        gain = p.learn_rate * e * self.capacity * (p.learn_base + (1 - p.learn_base) * self.support)
        surface = self.surface + gain * (1 - phi) * (1 - self.surface)
        depth = self.depth + gain * phi * (1 - self.depth)
        if e == 0:
            surface *= 1 - p.quality_decay
            depth *= 1 - p.quality_decay
        self.surface, self.depth = surface, depth

    def spend_energy(self) -> None:
        p = self.model.p.teacher
        energy = self.energy - p.energy_drain * self.effort() * (1 - self.support) * (1 + self.margin_share)
        energy += p.energy_recovery * (1 - energy)
        self.energy = _clip01(energy)

    def evaluate(self) -> None:
        p, w = self.model.p.teacher, self.judged_weight()
        noise = self.random.gauss(0.0, 1.0) * p.eval_noise * (1 - 0.5 * self.support)
        self.model.teachers_state.signal[self.index] = w * self.depth + (1 - w) * self.surface + noise

    def decide(self) -> None:
        m, ts, i = self.model, self.model.teachers_state, self.index
        stage = int(ts.stage[i])
        if not _PROTOTYPING <= stage <= _REFINING:
            return
        p = m.p.teacher
        poor = ts.signal[i] < p.keep_threshold
        hazard = (p.abandon_base + p.abandon_exhaustion * (1 - self.energy) ** 2 + p.abandon_poor_signal * poor
                  + p.abandon_pressure * m.schools_state.pressure[self.school]
                  + p.abandon_support_loss * max(0.0, ts.support_ref[i] - self.support
                                                 - m.schools_state.flexibility[self.school])
                  + p.abandon_colleagues * self._quit)
        if stage >= _ROUTINE:
            hazard *= p.abandon_routine_factor
        draw, draw2 = self.random.random(), self.random.random()
        if draw < hazard:
            self.enthusiasm *= 1 - p.disillusion
            self.stage = Stage.ABANDONED
        elif (stage == _PROTOTYPING and not poor and ts.stage_steps[i] >= p.min_prototype_steps
              and draw2 < p.routinize_rate):
            self.stage = Stage.ROUTINE
        elif stage == _ROUTINE and draw2 < p.refine_rate * self.capacity * self.support:
            self.stage = Stage.REFINING

    # -- knowledge: learn (read colleagues) then advance (write) --------------------------

    def learn(self) -> None:
        """Next surface and depth: copy better-practising using colleagues, then adapt the school model."""
        m, ts = self.model, self.model.teachers_state
        self._next = None
        if not _PROTOTYPING <= ts.stage[self.index] <= _REFINING:
            return
        surface, depth = self.surface, self.depth
        weight = sum_s = sum_d = 0.0
        for j, w in self.neighbors:
            if _PROTOTYPING <= ts.stage[j] <= _REFINING:
                weight += w
                sum_s += w * ts.surface[j]
                sum_d += w * ts.depth[j]
        if weight > 0:
            rate = m.p.peers.learning
            surface += rate * max(0.0, sum_s / weight - surface)
            depth += rate * max(0.0, sum_d / weight - depth)
        s, sch = m.schools_state, self.school
        if s.model[sch] >= 0:
            rate = m.p.principal.model_adapt_rate * m._help[sch]
            depth += rate * max(0.0, s.model_depth[sch] - depth)
            surface += rate * max(0.0, s.model_surface[sch] - surface)
        self._next = (surface, depth)

    def advance(self) -> None:
        if self._next is not None:
            self.surface, self.depth = self._next


class ReferenceDistrictModel(DistrictModel):
    """:class:`~sim.district.model.DistrictModel` with per-agent teacher updates (see the module docstring).

    Takes the same arguments; outcomes agree with the optimized model in
    distribution, not run by run.
    """

    teacher_class = ReferenceTeacher

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        adj = self.adjacency
        for t in self.teachers:
            lo, hi = adj.indptr[t.index], adj.indptr[t.index + 1]
            t.neighbors = list(zip(adj.indices[lo:hi].tolist(), adj.data[lo:hi].tolist()))

    def build_network(self) -> sp.csr_array:
        """One networkx graph per school (:func:`sim.district.networks.build_adjacency_networkx`)."""
        return build_adjacency_networkx(self.p, self.rng)

    def step(self) -> None:
        """Central office and principals as in the optimized model; teachers agent by agent."""
        processes.central_office_step(self)
        processes.principals_step(self)
        reference_teachers_step(self)
        reference_knowledge_step(self)
        self.record()


def reference_teachers_step(m: ReferenceDistrictModel) -> None:
    """Process 3 (``processes.teachers_step``) as per-agent Mesa stages."""
    teachers = m.agents_by_type[ReferenceTeacher]
    teachers.do("turnover")
    teachers.do("explore")
    teachers.do("observe")
    teachers.do("step")


def reference_knowledge_step(m: ReferenceDistrictModel) -> None:
    """Process 4 (``processes.knowledge_step``) as simultaneous per-agent updates."""
    teachers = m.agents_by_type[ReferenceTeacher]
    m._help = processes.adaptation_help(m)  # per school, read by each teacher's ``learn``
    teachers.do("learn")
    teachers.do("advance")
    processes.deepen_models(m)  # a school-level process, shared with the optimized model


# -- comparing the two implementations ------------------------------------------------

#: End-of-run outcomes compared between implementations.
OUTCOMES = ("teacher_adoption", "deep_adoption", "mean_exhaustion", "abandoned_share")

_SMALL = ("district.schools=8", "district.teachers_per_school=15", "steps=30")
#: Small districts on which the implementations are compared (tests/test_equivalence.py,
#: benchmarks/power.py). ``simple``: Watts-Strogatz colleagues, simple contagion, clear goals
#: and coaching so that deep use occurs. ``complex``: Erdos-Renyi colleagues plus
#: communities of practice, complex contagion, waves with planning, an autonomy zone, a
#: design competition, knowledge plan, higher turnover, colleagues' help and a back-away decided by
#: impatient reviews (withdrawal month varies with the seed).
CHECK_CONFIGS: dict[str, tuple[str, ...]] = {
    "simple": (*_SMALL, "policy.goal_clarity=1.0", "policy.coaching_fte=1.0"),
    "complex": (*_SMALL, "peers.contagion=complex", "network.generator=erdos_renyi", "cop.enabled=true",
                "knowledge.mode=plan", "principal.stance_mean=0.8", "principal.change_mgmt_mean=0.7",
                "rollout.mode=waves", "rollout.cohorts=[0.5,0.5]", "rollout.cohort_interval=5",
                "peers.help=0.3",
                "rollout.planning_steps=2", "policy.coaching_fte=1.0",
                "policy.flexibility_mode=institutionalized", "autonomy_zone.schools=1",
                "design_competition.enabled=true", "backaway.enabled=true", "backaway.min_adoption=0.9",
                "backaway.review_every=5", "backaway.grace_steps=15", "backaway.leader_change_rate=0.3",
                "policy.goal_clarity=0.8", "teacher.turnover=0.3"),
}


def end_of_run(cls: type[DistrictModel], overrides: Sequence[str], seeds: Iterable[int],
               scenario: str = "baseline") -> np.ndarray:
    """:data:`OUTCOMES` at the last step of one run of ``cls`` per seed (rows: seeds)."""
    cfg = load_container(scenario, overrides)
    rows = []
    for seed in seeds:
        model = cls(cfg, seed=int(seed), validate_config=False)
        model.run()
        rows.append([model.latest[k] for k in OUTCOMES])
    return np.asarray(rows, dtype=float)


@dataclass(frozen=True)
class Comparison:
    """Two-sample Kolmogorov-Smirnov tests per outcome, Bonferroni-corrected."""

    outcomes: tuple[str, ...]
    statistics: tuple[float, ...]
    pvalues: tuple[float, ...]
    alpha: float

    @property
    def differ(self) -> bool:
        """True if any outcome's p-value is below ``alpha / number of outcomes``."""
        return min(self.pvalues) < self.alpha / len(self.pvalues)

    def __str__(self) -> str:
        return "; ".join(f"{o}: D={d:.3f}, p={p:.3g}" for o, d, p in zip(self.outcomes, self.statistics, self.pvalues))


def compare(a: np.ndarray, b: np.ndarray, alpha: float = 0.01,
            outcomes: Sequence[str] = OUTCOMES) -> Comparison:
    """Test whether the outcome samples ``a`` and ``b`` (rows: runs) come from the same distributions.

    One two-sample KS test per column (asymptotic p-values: outcomes are
    discrete shares with ties, which makes the test conservative); the family
    of tests has level ``alpha`` by Bonferroni.
    """
    tests = [ks_2samp(a[:, k], b[:, k], method="asymp") for k in range(a.shape[1])]
    return Comparison(tuple(outcomes), tuple(float(t.statistic) for t in tests),
                      tuple(float(t.pvalue) for t in tests), alpha)
