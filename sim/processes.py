"""Submodels: the four processes of each step (model brief, "Processes each step").

Each function takes the model and updates its state arrays in place, vectorized
over all teachers or schools. They are called in this order by
:meth:`sim.model.DistrictModel.step` and can be called (and tested) on their own.
Equations are documented in docs/ODD.md ("Submodels").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.agents import Stage
from sim.metrics import imported

if TYPE_CHECKING:
    from sim.model import DistrictModel

MONTHS_PER_YEAR = 10
NEVER = np.iinfo(np.int64).max // 2
# Stage codes as plain ints for array comparisons (numpy compares arrays with IntEnum members slowly).
_NON_USE, _EXPLORING, _PROTOTYPING, _ROUTINE, _REFINING, _ABANDONED = (int(st) for st in Stage)


def monthly(annual: float) -> float:
    """Monthly probability equivalent to an annual probability."""
    return 1.0 - (1.0 - annual) ** (1.0 / MONTHS_PER_YEAR)


def readiness(m: DistrictModel) -> np.ndarray:
    """School readiness: mean of principal leadership, teacher enthusiasm and capacity."""
    t = m.teachers_state
    n_s = m.n_schools
    return (m.schools_state.leadership
            + t.enthusiasm.reshape(n_s, -1).mean(1)
            + t.capacity.reshape(n_s, -1).mean(1)) / 3.0


def _most_ready(m: DistrictModel, candidates: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most ready candidate schools (ties broken at random)."""
    idx = np.flatnonzero(candidates)
    if k <= 0 or idx.size == 0:
        return idx[:0]
    score = readiness(m)[idx] + m.rng.random(idx.size) * 1e-9
    return idx[np.argsort(-score, kind="stable")[:k]]


# 1. Central office ----------------------------------------------------------------

def select_schools(m: DistrictModel) -> None:
    """Rollout: choose which schools join the initiative this step.

    ``all``: every school at step 0. ``volunteers``: schools whose readiness
    reaches ``rollout.volunteer_threshold`` join at step 0 and at each
    ``cohort_interval``. ``waves``: cohort *k* (size ``rollout.cohorts[k]``, the
    most ready schools not yet selected) joins at step ``k * cohort_interval``.
    Implementation starts ``planning_steps`` after selection.
    """
    p, s, t = m.p.rollout, m.schools_state, m.steps
    if m.office.backed_away or t % p.cohort_interval:
        return
    wave = t // p.cohort_interval
    if p.mode == "all":
        chosen = np.flatnonzero(~s.selected) if wave == 0 else np.array([], dtype=int)
    elif p.mode == "volunteers":
        chosen = np.flatnonzero(~s.selected & (readiness(m) >= p.volunteer_threshold))
    else:
        size = p.cohorts[wave] if wave < len(p.cohorts) else 0
        chosen = _most_ready(m, ~s.selected, size)
    s.selected[chosen] = True
    s.cohort[chosen] = wave
    s.implement_step[chosen] = t + p.planning_steps


def special_programs(m: DistrictModel) -> None:
    """Autonomy zone (at step 0) and design competition (at its step).

    Zone schools are the most ready ``autonomy_zone.schools``: selected at once,
    full institutional flexibility, no test pressure, more teacher autonomy.
    Design-competition winners are the most ready schools without a model: they
    are selected, implement at once, adopt a school-wide stance and receive
    extra support for ``duration`` months.
    """
    s, t, p = m.schools_state, m.steps, m.p
    if t == 0 and p.autonomy_zone.schools > 0:
        zone = _most_ready(m, np.ones(m.n_schools, bool), p.autonomy_zone.schools)
        s.zone[zone] = True
        s.selected[zone] = True
        s.implement_step[zone] = np.minimum(s.implement_step[zone], 0)
        s.cohort[zone] = np.where(s.cohort[zone] < 0, 0, s.cohort[zone])
        in_zone = s.zone[m.teachers_state.school]
        ts = m.teachers_state
        ts.autonomy[in_zone] = np.minimum(1.0, ts.autonomy[in_zone] + p.autonomy_zone.autonomy_boost)
    dc = p.design_competition
    if dc.enabled and t == dc.step and not m.office.backed_away:
        won = _most_ready(m, s.model < 0, dc.winners)
        s.selected[won] = True
        s.implement_step[won] = np.minimum(s.implement_step[won], t)
        s.cohort[won] = np.where(s.cohort[won] < 0, t // p.rollout.cohort_interval, s.cohort[won])
        s.stance[won] = 1.0
        s.award_until[won] = t + dc.duration


def key_person(m: DistrictModel) -> None:
    """Key-person knowledge management: when the person leaves, the repository goes.

    The person leaves at ``knowledge.key_person_departure_step`` or with the
    monthly equivalent of ``key_person_leave_rate``. Departure empties the
    district repository and strips every school of a model it had imported;
    the district falls back to ad hoc sharing (``reach_none``).
    """
    o, k = m.office, m.p.knowledge
    if not o.key_person_present:
        return
    if m.steps == k.key_person_departure_step or m.rng.random() < monthly(k.key_person_leave_rate):
        o.key_person_present = False
        o.key_person_left_step = m.steps
        o.knowledge_mode = "none"
        forget_repository(m, imported_only=True)


def forget_repository(m: DistrictModel, imported_only: bool, loss: float = 1.0) -> None:
    """Empty the district repository; schools lose imported models (or any model w.p. ``loss``)."""
    reg, s = m.registry, m.schools_state
    reg.in_repository[:] = [False] * len(reg.in_repository)
    lose = imported(m) if imported_only else (s.model >= 0) & (m.rng.random(m.n_schools) < loss)
    s.model[lose] = -1
    s.model_depth[lose] = 0.0
    s.model_surface[lose] = 0.0


def review(m: DistrictModel) -> None:
    """The central office reviews progress and may back away (Lake County).

    It backs away at ``backaway.step`` or, from ``grace_steps`` on, at a review
    (every ``review_every`` months) where teacher adoption is below
    ``min_adoption``. Backing away withdraws coaching, makes flexibility
    negotiated, drops PL to no priority, raises test pressure, empties the
    repository and loses each school model with probability ``model_loss``.
    """
    b, o, t = m.p.backaway, m.office, m.steps
    if not b.enabled or o.backed_away:
        return
    forced = b.step >= 0 and t == b.step
    impatient = (t >= b.grace_steps and t % b.review_every == 0
                 and m.teachers_state.using.mean() < b.min_adoption)
    if forced or impatient:
        o.backed_away, o.backaway_step = True, t
        o.coaching_fte = 0.0
        o.flexibility_mode = "negotiated"
        o.pl_priority = 0.0
        o.test_pressure = max(o.test_pressure, b.test_pressure_after)
        o.key_person_present = False
        o.knowledge_mode = "none"
        forget_repository(m, imported_only=False, loss=b.model_loss)


def set_conditions(m: DistrictModel) -> None:
    """Per-school flexibility and pressure from the levers (zones: full flexibility, no pressure)."""
    o, s = m.office, m.schools_state
    flex = o.flexibility * (1.0 - o.waiver_friction if o.flexibility_mode == "negotiated" else 1.0)
    s.flexibility[:] = np.where(s.zone, 1.0, flex)
    s.pressure[:] = np.where(s.zone, 0.0, o.test_pressure)


def central_office_step(m: DistrictModel) -> None:
    """Process 1: set conditions, review progress, roll out schools."""
    review(m)
    key_person(m)
    select_schools(m)
    special_programs(m)
    set_conditions(m)


# 2. Principals ----------------------------------------------------------------------

def principal_turnover(m: DistrictModel) -> None:
    """Principals leave with the monthly equivalent of ``principal.turnover``.

    A successor has fresh traits; the school's model is lost with probability
    ``knowledge.turnover_loss_plan`` under a knowledge-management plan and
    ``turnover_loss_other`` otherwise.
    """
    s, p = m.schools_state, m.p.principal
    leave = m.rng.random(m.n_schools) < monthly(p.turnover)
    n = int(leave.sum())
    if not n:
        return
    s.leadership[leave] = m.trait(p.leadership_mean, p.leadership_sd, n)
    s.change_mgmt[leave] = m.trait(p.change_mgmt_mean, p.change_mgmt_sd, n)
    s.stance[leave] = m.trait(p.stance_mean, p.stance_sd, n)
    s.principal_hired[leave] = m.steps
    k = m.p.knowledge
    loss = k.turnover_loss_plan if m.office.knowledge_mode == "plan" else k.turnover_loss_other
    lost = leave & (s.model >= 0) & (m.rng.random(m.n_schools) < loss)
    s.model[lost] = -1
    s.model_depth[lost] = 0.0
    s.model_surface[lost] = 0.0


def allocate_support(m: DistrictModel) -> None:
    """Each teacher's support: own base + coaching + principal + design award.

    extra_s = coaching_fte * coaching_effect * active_s
              + support_weight * leadership_s * pl_priority
              + design_competition.support * [award running]
    support_i = clip(support_base_i + extra_school(i), 0, 1)
    """
    o, s, p, t = m.office, m.schools_state, m.p, m.steps
    active = s.active(t) & ~np.bool_(o.backed_away)
    extra = (o.coaching_fte * o.coaching_effect * active
             + p.principal.support_weight * s.leadership * o.pl_priority
             + p.design_competition.support * (t < s.award_until))
    s.extra_support[:] = extra
    ts = m.teachers_state
    np.clip(ts.support_base + extra[ts.school], 0.0, 1.0, out=ts.support)


def effective_change_mgmt(m: DistrictModel) -> np.ndarray:
    """Change management with the district's structured support for leaders (multiplicative)."""
    return np.minimum(1.0, m.schools_state.change_mgmt * (1.0 + m.office.leader_support))


def codify(m: DistrictModel) -> None:
    """Principals codify a successful teacher experiment into a school model.

    Qualifying experiments: routine or refining practice with depth at least
    ``codify_min_depth``. A school implementing the initiative without a model
    codifies its best one with probability
    ``codify_rate * cm_eff * (stance_floor + (1 - stance_floor) * stance)``,
    so a principal with no change-management capacity never codifies.
    """
    s, p, ts = m.schools_state, m.p.principal, m.teachers_state
    n_s = m.n_schools
    open_schools = s.active(m.steps) & (s.model < 0) & ~np.bool_(m.office.backed_away)
    if not open_schools.any():
        return
    qualifies = (ts.stage >= _ROUTINE) & (ts.stage <= _REFINING) & (ts.depth >= p.codify_min_depth)
    if not qualifies.any():
        return
    best_depth = np.where(qualifies, ts.depth, -1.0).reshape(n_s, -1)
    best = best_depth.argmax(1)
    has_candidate = best_depth[np.arange(n_s), best] >= 0
    prob = p.codify_rate * effective_change_mgmt(m) * (p.stance_floor + (1 - p.stance_floor) * s.stance)
    eligible = open_schools & has_candidate
    success = np.flatnonzero(eligible & (m.rng.random(n_s) < prob))
    n_t = m.p.district.teachers_per_school
    reg = m.registry
    for school in success:
        i = school * n_t + best[school]
        s.model[school] = len(reg.origin)
        s.model_depth[school] = ts.depth[i]
        s.model_surface[school] = ts.surface[i]
        reg.origin.append(int(school))
        reg.depth.append(float(ts.depth[i]))
        reg.surface.append(float(ts.surface[i]))
        reg.step.append(m.steps)
        reg.in_repository.append(True)


def knowledge_reach(m: DistrictModel) -> float:
    """How far codified models travel between schools under current knowledge management."""
    k, o = m.p.knowledge, m.office
    reach = {"plan": k.reach_plan, "key_person": k.reach_key_person, "none": k.reach_none}[o.knowledge_mode]
    if m.p.cop.enabled:
        reach = 1.0 - (1.0 - reach) * (1.0 - m.p.cop.model_reach)
    return 0.0 if o.backed_away else reach


def replicate(m: DistrictModel) -> None:
    """Schools without a model import the best model in the district repository.

    Probability per month: ``replicate_rate * reach * cm_eff``. The imported
    model's quality here is ``model_transfer`` times its quality (adopt and adapt).
    """
    s, reg = m.schools_state, m.registry
    available = np.flatnonzero(reg.in_repository)
    if available.size == 0:
        return
    prob = m.p.knowledge.replicate_rate * knowledge_reach(m) * effective_change_mgmt(m)
    want = np.flatnonzero(s.active(m.steps) & (s.model < 0) & (m.rng.random(m.n_schools) < prob))
    if want.size == 0:
        return
    origin = np.asarray(reg.origin)[available]
    quality = np.asarray(reg.depth)[available]
    transfer = m.p.principal.model_transfer
    for school in want:
        options = available[origin != school]
        if options.size == 0:
            continue
        mid = int(options[np.argmax(quality[origin != school])])
        s.model[school] = mid
        s.model_depth[school] = transfer * reg.depth[mid]
        s.model_surface[school] = transfer * reg.surface[mid]


def principals_step(m: DistrictModel) -> None:
    """Process 2: turnover, support allocation, codification, replication."""
    principal_turnover(m)
    allocate_support(m)
    codify(m)
    replicate(m)


# 3. Teachers ------------------------------------------------------------------------

def teacher_turnover(m: DistrictModel) -> None:
    """Teachers leave with the monthly equivalent of ``teacher.turnover``; a new hire with
    fresh traits takes the classroom (counts are conserved)."""
    leave = m.rng.random(m.n_teachers) < monthly(m.p.teacher.turnover)
    if leave.any():
        m.init_teachers(np.flatnonzero(leave))


def peer_exposure(m: DistrictModel, using: np.ndarray) -> np.ndarray:
    """Peer signal per teacher.

    simple: weighted share of network neighbours using the practice.
    complex: 1 if the weighted number of using neighbours reaches
    ``peers.threshold``, else 0 (Centola & Macy 2007).
    """
    count = m.adjacency @ using.astype(float)
    if m.p.peers.contagion == "complex":
        return (count >= m.p.peers.threshold - 1e-9).astype(float)
    return np.divide(count, m.degree, out=np.zeros_like(count), where=m.degree > 0)


def opportunity(m: DistrictModel) -> np.ndarray:
    """Per-school multiplier of experimentation: 1 when implementing, ``inactive_factor`` otherwise."""
    s = m.schools_state
    active = s.active(m.steps) & ~np.bool_(m.office.backed_away)
    return np.where(active, 1.0, m.p.rollout.inactive_factor)


def start_experiments(m: DistrictModel) -> None:
    """Non-users start exploring; teachers who abandoned may re-enter.

    rate_i = opp_s * flex_s * (1 - pressure_damp * pressure_s)
             * (explore_rate * enthusiasm_i * autonomy_i + influence * peer_i)
             + model_pull * leadership_s * [school has a model] * opp_s
    P(start) = 1 - exp(-rate_i). Abandoned teachers re-enter with probability
    ``reentry_rate * min(1, peer_i + [school has a model])``.
    """
    ts, s, p, o = m.teachers_state, m.schools_state, m.p, m.office
    school = ts.school
    peer = peer_exposure(m, ts.using)
    opp = opportunity(m)
    has_model = (s.model >= 0).astype(float)
    school_rate = opp * s.flexibility * (1.0 - o.pressure_damp * s.pressure)
    rate = (school_rate[school] * (p.teacher.explore_rate * ts.enthusiasm * ts.autonomy + p.peers.influence * peer)
            + (p.principal.model_pull * s.leadership * has_model * opp)[school])
    draw = m.rng.random(m.n_teachers)
    start = (ts.stage == _NON_USE) & (draw < -np.expm1(-rate))
    reenter = (ts.stage == _ABANDONED) & (
        draw < p.teacher.reentry_rate * np.minimum(1.0, peer + has_model[school]))
    _move(ts, start | reenter, _EXPLORING)


def commit(m: DistrictModel) -> None:
    """Exploring teachers start prototyping or drop out.

    P(commit) = commit_rate * (1 - commit_support_weight * (1 - support_i)); a
    teacher in a school with a model starts from ``model_transfer`` times the
    school model's quality (if higher than her own). Otherwise she drops back to
    non-use with probability ``explore_dropout``.
    """
    ts, s, p = m.teachers_state, m.schools_state, m.p.teacher
    exploring = ts.stage == _EXPLORING
    if not exploring.any():
        return
    draw = m.rng.random(m.n_teachers)
    prob = p.commit_rate * (1.0 - p.commit_support_weight * (1.0 - ts.support))
    go = exploring & (draw < prob)
    drop = exploring & ~go & (draw < prob + (1 - prob) * p.explore_dropout)
    transfer = m.p.principal.model_transfer
    if go.any():
        np.maximum(ts.depth, transfer * s.model_depth[ts.school], out=ts.depth, where=go)
        np.maximum(ts.surface, transfer * s.model_surface[ts.school], out=ts.surface, where=go)
    _move(ts, go, _PROTOTYPING)
    _move(ts, drop, _NON_USE)


def effort(m: DistrictModel) -> np.ndarray:
    """Effort by stage (0 when not using)."""
    p = m.p.teacher
    table = np.array([0.0, 0.0, p.effort_prototyping, p.effort_routine, p.effort_refining, 0.0])
    return table.take(m.teachers_state.stage)


def prototype(m: DistrictModel) -> None:
    """Users improve practice; goal clarity decides whether gains go to depth or surface.

    gain_i = learn_rate * effort_i * capacity_i * (learn_base + (1 - learn_base) * support_i)
    phi = depth_share_min + (depth_share_max - depth_share_min) * goal_clarity
    surface += gain * (1 - phi) * (1 - surface);  depth += gain * phi * (1 - depth)
    Non-users' quality decays by ``quality_decay`` per month.
    """
    ts, p = m.teachers_state, m.p.teacher
    e = effort(m)
    gain = p.learn_rate * e * ts.capacity * (p.learn_base + (1 - p.learn_base) * ts.support)
    phi = p.depth_share_min + (p.depth_share_max - p.depth_share_min) * m.office.goal_clarity
    ts.surface += gain * (1 - phi) * (1 - ts.surface)
    ts.depth += gain * phi * (1 - ts.depth)
    idle = e == 0
    np.multiply(ts.surface, 1 - p.quality_decay, out=ts.surface, where=idle)
    np.multiply(ts.depth, 1 - p.quality_decay, out=ts.depth, where=idle)


def spend_energy(m: DistrictModel) -> None:
    """Effort without guidance drains energy; some recovers each month.

    energy -= energy_drain * effort * (1 - support) * (1 + margin_share)
    energy += energy_recovery * (1 - energy), clipped to [0, 1].
    """
    ts, p = m.teachers_state, m.p.teacher
    ts.energy -= p.energy_drain * effort(m) * (1 - ts.support) * (1 + ts.margin_share)
    ts.energy += p.energy_recovery * (1 - ts.energy)
    np.clip(ts.energy, 0.0, 1.0, out=ts.energy)


def evaluate(m: DistrictModel) -> None:
    """Users judge their practice with a noisy signal.

    Without data and coaching (low support) they judge by engagement (surface),
    not learning (depth): signal = w * depth + (1 - w) * surface + N(0, sd),
    w = support_i, sd = eval_noise * (1 - support_i / 2).
    """
    ts, p = m.teachers_state, m.p.teacher
    w = ts.support
    noise = m.rng.standard_normal(m.n_teachers) * p.eval_noise * (1 - 0.5 * w)
    ts.signal[:] = w * ts.depth + (1 - w) * ts.surface + noise


def decide(m: DistrictModel) -> None:
    """Users keep, iterate, settle, refine or abandon.

    Abandonment hazard: (abandon_base + abandon_exhaustion * (1 - energy)^2
    + abandon_poor_signal * [signal < keep_threshold] + abandon_pressure * pressure_s
    + abandon_boost * [district backed away]), times ``abandon_routine_factor`` for
    routine and refining users. Otherwise a prototype kept for
    ``min_prototype_steps`` with a good signal becomes routine w.p.
    ``routinize_rate``; routine becomes refining w.p. ``refine_rate * capacity * support``.
    Abandoning costs ``disillusion`` of enthusiasm.
    """
    ts, s, p = m.teachers_state, m.schools_state, m.p.teacher
    using = ts.using
    poor = ts.signal < p.keep_threshold
    settled = ts.stage >= _ROUTINE
    boost = m.p.backaway.abandon_boost if m.office.backed_away else 0.0
    hazard = (p.abandon_base + p.abandon_exhaustion * (1 - ts.energy) ** 2 + p.abandon_poor_signal * poor
              + p.abandon_pressure * s.pressure[ts.school] + boost)
    hazard = np.where(settled, hazard * p.abandon_routine_factor, hazard)
    draw = m.rng.random(m.n_teachers)
    abandon = using & (draw < hazard)
    draw2 = m.rng.random(m.n_teachers)
    routinize = (~abandon & (ts.stage == _PROTOTYPING) & ~poor
                 & (ts.stage_steps >= p.min_prototype_steps) & (draw2 < p.routinize_rate))
    refine = ~abandon & (ts.stage == _ROUTINE) & (draw2 < p.refine_rate * ts.capacity * ts.support)
    np.multiply(ts.enthusiasm, 1 - p.disillusion, out=ts.enthusiasm, where=abandon)
    _move(ts, abandon, _ABANDONED)
    _move(ts, routinize, _ROUTINE)
    _move(ts, refine, _REFINING)


def plan(m: DistrictModel) -> None:
    """Teachers of schools in their planning period build capacity."""
    s, ts = m.schools_state, m.teachers_state
    planning_schools = s.selected & (m.steps < s.implement_step)
    if planning_schools.any():
        planning = planning_schools[ts.school]
        ts.capacity[planning] = np.minimum(1.0, ts.capacity[planning] + m.p.rollout.planning_capacity_gain)


def teachers_step(m: DistrictModel) -> None:
    """Process 3: turnover, experiment, commit, prototype, spend energy, evaluate, decide."""
    ts = m.teachers_state
    ts.stage_steps += 1
    teacher_turnover(m)
    plan(m)
    start_experiments(m)
    commit(m)
    prototype(m)
    spend_energy(m)
    evaluate(m)
    decide(m)


def _move(ts, mask: np.ndarray, stage: Stage | int) -> None:
    np.putmask(ts.stage, mask, int(stage))
    np.putmask(ts.stage_steps, mask, 0)


# 4. Knowledge -----------------------------------------------------------------------

def peer_learning(m: DistrictModel) -> None:
    """Users move their practice toward the (tie-weighted) mean of better-practising using neighbours.

    q_i += peers.learning * max(0, mean_{j in N(i), j using} q_j - q_i), for q in (surface, depth).
    """
    ts, rate = m.teachers_state, m.p.peers.learning
    using = ts.using
    u = using.astype(float)
    weight = m.adjacency @ u
    has = using & (weight > 0)
    if not has.any():
        return
    for q in (ts.surface, ts.depth):
        mean = np.divide(m.adjacency @ (q * u), weight, out=np.zeros_like(weight), where=has)
        gap = np.maximum(0.0, mean - q)
        np.add(q, rate * gap, out=q, where=has)


def model_adaptation(m: DistrictModel) -> None:
    """Users in a school with a model move toward the model's quality (the faculty adopts and adapts)."""
    ts, s = m.teachers_state, m.schools_state
    rate = m.p.principal.model_adapt_rate
    if not (s.model >= 0).any():
        return
    using = ts.using & (s.model >= 0)[ts.school]
    for q, target in ((ts.depth, s.model_depth), (ts.surface, s.model_surface)):
        gap = target[ts.school[using]] - q[using]
        q[using] += rate * np.maximum(0.0, gap)


def knowledge_step(m: DistrictModel) -> None:
    """Process 4: knowledge moves between colleagues and from school models."""
    peer_learning(m)
    model_adaptation(m)
