"""Process 3, the teachers: turnover, starting experiments, prototyping, judging results,
and keeping, iterating or abandoning the practice."""

from __future__ import annotations

import numpy as np

from sim.district import kernels
from sim.district.calendar import monthly
from sim.district.networks import neighbour_sums
from sim.district.processes.common import _ABANDONED, _EXPLORING, _NON_USE, _move
from sim.district.state import District


def teacher_turnover(m: District) -> None:
    """Teachers leave with the monthly equivalent of ``teacher.turnover``; a new hire with
    fresh traits takes the classroom (counts are conserved)."""
    leave = (m.rng.random(m.n_teachers) < monthly(m.p.teacher.turnover)).nonzero()[0]
    if leave.size:
        m.init_teachers(leave)


def tie_share(count: np.ndarray, safe_degree: np.ndarray) -> np.ndarray:
    """``count / degree`` per teacher, 0 for a teacher without ties (whose count is then 0);
    ``safe_degree`` is the model's degree with 1 where it is 0.

    The same values as ``np.divide(count, degree, out=zeros, where=degree > 0)``; masked ufuncs
    (``where=``) are several times slower at this size, and this runs every step (twice).
    """
    return count / safe_degree


def peer_exposure(m: District, using: np.ndarray) -> np.ndarray:
    """Peer signal per teacher.

    simple: weighted share of network neighbours using the practice.
    complex: 1 if the weighted number of using neighbours reaches
    ``peers.threshold``, else 0 (Centola & Macy 2007).
    threshold: 1 if the weighted share of using neighbours reaches the
    teacher's own threshold ``threshold_i``, else 0 (Granovetter 1978).
    """
    count = neighbour_sums(m.adjacency, using.astype(float))
    if m.p.peers.contagion == "complex":
        return (count >= m.p.peers.threshold - 1e-9).astype(float)
    share = tie_share(count, m.safe_degree)
    if m.p.peers.contagion == "threshold":
        return (share >= m.teachers_state.threshold - 1e-9).astype(float)
    return share


def opportunity(m: District) -> np.ndarray:
    """Per-school multiplier of experimentation: 1 when implementing, ``inactive_factor`` otherwise."""
    s = m.schools_state
    active = s.active(m.steps) & ~np.bool_(m.office.backed_away)
    return np.where(active, 1.0, m.p.rollout.inactive_factor)


def start_experiments(m: District) -> None:
    """Non-users start exploring; teachers who abandoned may re-enter.

    rate_i = opp_s * flex_s * (1 - pressure_damp * pressure_s) * (1 + open_boost * openness_s)
             * (explore_rate * enthusiasm_i * autonomy_i + influence * peer_i)
             + model_pull * leadership_s * [school has a model] * opp_s
    P(start) = 1 - exp(-rate_i). Abandoned teachers re-enter with probability
    ``reentry_rate * min(1, peer_i + [school has a model])``.
    """
    ts, s, p, o = m.teachers_state, m.schools_state, m.p, m.office
    school, stage = ts.school, ts.stage
    peer = peer_exposure(m, ts.using)
    opp = opportunity(m)
    has_model = (s.model >= 0).astype(float)
    school_rate = (opp * s.flexibility * (1.0 - o.pressure_damp * s.pressure)
                   * (1.0 + p.principal.open_boost * s.openness))
    # rate in place, in the formula's order (same operations and values, fewer temporaries)
    rate = np.multiply(p.teacher.explore_rate, ts.enthusiasm)
    rate *= ts.autonomy
    rate += p.peers.influence * peer
    rate *= school_rate[school]
    rate += (p.principal.model_pull * s.leadership * has_model * opp)[school]
    draw = m.rng.random(m.n_teachers)
    np.negative(rate, out=rate)
    np.expm1(rate, out=rate)
    np.negative(rate, out=rate)  # P(start) = -expm1(-rate)
    start = stage == _NON_USE
    start &= draw < rate
    chance = peer + has_model[school]
    np.minimum(1.0, chance, out=chance)
    chance *= p.teacher.reentry_rate
    reenter = stage == _ABANDONED
    reenter &= draw < chance
    start |= reenter
    _move(ts, start, _EXPLORING)


def commit(m: District) -> None:
    """Exploring teachers start prototyping or drop out.

    P(commit) = commit_rate * (1 - commit_support_weight * (1 - support_i)); a
    teacher in a school with a model starts from ``model_transfer`` times the
    school model's quality (if higher than her own). Otherwise she drops back to
    non-use with probability ``explore_dropout``.
    """
    ts, s, p = m.teachers_state, m.schools_state, m.p.teacher
    if not (ts.stage == _EXPLORING).any():
        return
    draw = m.rng.random(m.n_teachers)
    # one compiled pass over the teachers (the same operations in the same order as the formula)
    kernels.commit_loop(ts.stage, ts.stage_steps, ts.depth, ts.surface, ts.support, ts.school, s.model_depth,
                        s.model_surface, draw, float(p.commit_support_weight), float(p.commit_rate),
                        float(p.explore_dropout), float(m.p.principal.model_transfer))


def effort(m: District) -> np.ndarray:
    """Effort by stage (0 when not using)."""
    p = m.p.teacher
    table = np.array([0.0, 0.0, p.effort_prototyping, p.effort_routine, p.effort_refining, 0.0])
    return table.take(m.teachers_state.stage)


def judged_weight(m: District) -> np.ndarray:
    """How much a teacher's judgement of results looks at learning rather than engagement (0-1).

    w_i = (goal_weight * goal_clarity + (1 - goal_weight) * support_i)
          * (1 - open_dilution * openness_s * (1 - stance_s))
    Clear goals, data and coaching make her look at learning; a principal who
    opens without closing leaves each teacher to define PL, rigor to chance.
    """
    ts, s, p = m.teachers_state, m.schools_state, m.p
    too_open = p.principal.open_dilution * s.openness * (1.0 - s.stance)
    # per teacher in one compiled pass (the same operations in the same order as the formula)
    return kernels.judged_weight_loop(ts.support, ts.school, 1.0 - too_open,
                                      float(p.teacher.goal_weight * m.office.goal_clarity),
                                      float(1 - p.teacher.goal_weight))


def prototype(m: District, e: np.ndarray | None = None, w: np.ndarray | None = None) -> None:
    """Users improve practice; effort drifts toward what their judgement rewards.

    gain_i = learn_rate * effort_i * capacity_i * (learn_base + (1 - learn_base) * support_i)
    focus_i += focus_adapt * (w_i - focus_i) for users (w_i: :func:`judged_weight`)
    surface += gain * (1 - focus) * (1 - surface);  depth += gain * focus * (1 - depth)
    Non-users' quality decays by ``quality_decay`` per month. ``e``, ``w``: :func:`effort` and
    :func:`judged_weight` if the caller computed them already.
    """
    ts, p = m.teachers_state, m.p.teacher
    e = effort(m) if e is None else e
    w = judged_weight(m) if w is None else w
    # one compiled pass over the teachers (the same operations in the same order as the formula)
    kernels.prototype_loop(e, w, ts.focus, ts.surface, ts.depth, ts.capacity, ts.support, float(p.focus_adapt),
                           float(p.learn_rate), float(p.learn_base), float(1 - p.quality_decay))


def spend_energy(m: District, e: np.ndarray | None = None) -> None:
    """Effort without guidance drains energy; some recovers each month.

    energy -= energy_drain * effort * (1 - support) * (1 + margin_share)
    energy += energy_recovery * (1 - energy), clipped to [0, 1]. ``e``: :func:`effort`, if the caller
    computed it already.
    """
    ts, p = m.teachers_state, m.p.teacher
    e = effort(m) if e is None else e
    # one compiled pass over the teachers (the same operations in the same order as the formula)
    kernels.energy_loop(ts.energy, e, ts.support, ts.margin_share, float(p.energy_drain), float(p.energy_recovery))


def evaluate(m: District, w: np.ndarray | None = None) -> None:
    """Users judge their practice with a noisy signal.

    Without clear goals, data and coaching they judge by engagement (surface),
    not learning (depth): signal = w * depth + (1 - w) * surface + N(0, sd),
    w = :func:`judged_weight` (or the ``w`` passed), sd = eval_noise * (1 - support_i / 2).
    """
    ts, p = m.teachers_state, m.p.teacher
    w = judged_weight(m) if w is None else w
    noise = m.rng.standard_normal(m.n_teachers)
    # one compiled pass over the teachers (the same operations in the same order as the formula)
    kernels.evaluate_loop(ts.signal, noise, w, ts.depth, ts.surface, ts.support, float(p.eval_noise))


def quitting_colleagues(m: District) -> np.ndarray:
    """Tie-weighted share of each teacher's colleagues who gave up the practice."""
    count = neighbour_sums(m.adjacency, (m.teachers_state.stage == _ABANDONED).astype(float))
    return tie_share(count, m.safe_degree)


def decide(m: District) -> None:
    """Users keep, iterate, settle, refine or abandon.

    Abandonment hazard: abandon_base + abandon_exhaustion * (1 - energy)^2
    + abandon_poor_signal * [signal < keep_threshold] + abandon_pressure * pressure_s
    + abandon_support_loss * max(0, support_ref_i - support_i - flexibility_s)  (support or flexibility withdrawn)
    + abandon_colleagues * (share of colleagues who gave up),
    times ``abandon_routine_factor`` for routine and refining users. Otherwise
    a prototype kept for ``min_prototype_steps`` with a good signal becomes
    routine w.p. ``routinize_rate``; routine becomes refining w.p.
    ``refine_rate * capacity * support``. Abandoning costs ``disillusion`` of enthusiasm.
    """
    ts, s, p = m.teachers_state, m.schools_state, m.p.teacher
    quitting = quitting_colleagues(m)
    draw = m.rng.random(m.n_teachers)
    draw2 = m.rng.random(m.n_teachers)
    # one compiled pass over the teachers (the same operations in the same order as the formula)
    kernels.decide_loop(ts.stage, ts.stage_steps, ts.enthusiasm, ts.energy, ts.signal, ts.support_ref, ts.support,
                        ts.capacity, ts.school, s.pressure, s.flexibility, quitting, draw, draw2,
                        float(p.keep_threshold), float(p.abandon_exhaustion), float(p.abandon_base),
                        float(p.abandon_poor_signal), float(p.abandon_pressure), float(p.abandon_support_loss),
                        float(p.abandon_colleagues), float(p.abandon_routine_factor), float(p.min_prototype_steps),
                        float(p.routinize_rate), float(p.refine_rate), float(p.disillusion))


def plan(m: District) -> None:
    """Teachers of schools in their planning period build capacity."""
    s, ts = m.schools_state, m.teachers_state
    planning_schools = s.planning(m.steps)
    if planning_schools.any():
        planning = planning_schools[ts.school]
        ts.capacity[planning] = np.minimum(1.0, ts.capacity[planning] + m.p.rollout.planning_capacity_gain)


def teachers_step(m: District) -> None:
    """Process 3: turnover, experiment, commit, prototype, spend energy, evaluate, decide.

    Effort and the judged weight are computed once for prototyping, energy and evaluation: what they
    read (stages, support, the principals' stances) does not change between those three.
    """
    ts = m.teachers_state
    ts.stage_steps += 1
    teacher_turnover(m)
    plan(m)
    start_experiments(m)
    commit(m)
    e, w = effort(m), judged_weight(m)
    prototype(m, e, w)
    spend_energy(m, e)
    evaluate(m, w)
    decide(m)
