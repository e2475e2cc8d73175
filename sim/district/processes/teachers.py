"""Process 3, the teachers: turnover, starting experiments, prototyping, judging results,
and keeping, iterating or abandoning the practice."""

from __future__ import annotations

import numpy as np

from sim.district.calendar import monthly
from sim.district.processes.common import (
    _ABANDONED,
    _EXPLORING,
    _NON_USE,
    _PROTOTYPING,
    _ROUTINE,
    _move,
)
from sim.district.networks import neighbour_sums
from sim.district.state import District, clip


def teacher_turnover(m: District) -> None:
    """Teachers leave with the monthly equivalent of ``teacher.turnover``; a new hire with
    fresh traits takes the classroom (counts are conserved)."""
    leave = (m.rng.random(m.n_teachers) < monthly(m.p.teacher.turnover)).nonzero()[0]
    if leave.size:
        m.init_teachers(leave)


def tie_share(count: np.ndarray, degree: np.ndarray) -> np.ndarray:
    """``count / degree`` per teacher, 0 for a teacher without ties (whose count is then 0).

    The same values as ``np.divide(count, degree, out=zeros, where=degree > 0)``; masked ufuncs
    (``where=``) are several times slower at this size, and this runs every step.
    """
    return count / np.where(degree > 0, degree, 1.0)


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
    share = tie_share(count, m.degree)
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
    exploring = ts.stage == _EXPLORING
    if not exploring.any():
        return
    draw = m.rng.random(m.n_teachers)
    # in place, in the formula's order (same operations and values, fewer temporaries)
    prob = np.subtract(1.0, ts.support)
    prob *= p.commit_support_weight
    np.subtract(1.0, prob, out=prob)
    prob *= p.commit_rate
    go = exploring & (draw < prob)
    cut = np.subtract(1, prob)
    cut *= p.explore_dropout
    cut += prob  # prob + (1 - prob) * explore_dropout
    drop = exploring & ~go
    drop &= draw < cut
    transfer = m.p.principal.model_transfer
    idx = go.nonzero()[0]  # the few who commit: their own values only (the same as over all teachers, fewer)
    if idx.size:
        school = ts.school[idx]
        ts.depth[idx] = np.maximum(ts.depth[idx], transfer * s.model_depth[school])
        ts.surface[idx] = np.maximum(ts.surface[idx], transfer * s.model_surface[school])
    _move(ts, go, _PROTOTYPING)
    _move(ts, drop, _NON_USE)


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
    w = p.teacher.goal_weight * m.office.goal_clarity + (1 - p.teacher.goal_weight) * ts.support
    too_open = p.principal.open_dilution * s.openness * (1.0 - s.stance)
    return w * (1.0 - too_open)[ts.school]


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
    using = e > 0
    w = judged_weight(m) if w is None else w
    # in place where the written formula allows it (same operations, same order, fewer temporaries)
    tmp = np.subtract(w, ts.focus)
    tmp *= p.focus_adapt
    tmp += ts.focus
    np.putmask(ts.focus, using, tmp)
    gain = np.multiply(p.learn_rate, e)
    gain *= ts.capacity
    np.multiply(1 - p.learn_base, ts.support, out=tmp)
    tmp += p.learn_base
    gain *= tmp
    focus, surface, depth = ts.focus, ts.surface, ts.depth
    np.subtract(1, focus, out=tmp)
    tmp *= gain
    tmp *= np.subtract(1, surface)
    surface += tmp
    np.multiply(gain, focus, out=tmp)
    tmp *= np.subtract(1, depth)
    depth += tmp
    # non-users' decay as one factor per teacher (1.0 for users: x * 1.0 is x), two products, no masks
    decay = np.where(using, 1.0, 1 - p.quality_decay)
    surface *= decay
    depth *= decay


def spend_energy(m: District, e: np.ndarray | None = None) -> None:
    """Effort without guidance drains energy; some recovers each month.

    energy -= energy_drain * effort * (1 - support) * (1 + margin_share)
    energy += energy_recovery * (1 - energy), clipped to [0, 1]. ``e``: :func:`effort`, if the caller
    computed it already.
    """
    ts, p = m.teachers_state, m.p.teacher
    # in place, in the formula's order (same operations and values, fewer temporaries)
    drain = np.multiply(p.energy_drain, effort(m) if e is None else e)
    tmp = np.subtract(1, ts.support)
    drain *= tmp
    np.add(1, ts.margin_share, out=tmp)
    drain *= tmp
    energy = ts.energy
    energy -= drain
    np.subtract(1, energy, out=tmp)
    tmp *= p.energy_recovery
    energy += tmp
    clip(energy, 0.0, 1.0, out=energy)


def evaluate(m: District, w: np.ndarray | None = None) -> None:
    """Users judge their practice with a noisy signal.

    Without clear goals, data and coaching they judge by engagement (surface),
    not learning (depth): signal = w * depth + (1 - w) * surface + N(0, sd),
    w = :func:`judged_weight` (or the ``w`` passed), sd = eval_noise * (1 - support_i / 2).
    """
    ts, p = m.teachers_state, m.p.teacher
    w = judged_weight(m) if w is None else w
    # in place, in the formula's order (same operations and values, fewer temporaries)
    noise = m.rng.standard_normal(m.n_teachers)
    noise *= p.eval_noise
    sd = np.multiply(0.5, ts.support)
    np.subtract(1, sd, out=sd)
    noise *= sd
    signal = ts.signal
    np.multiply(w, ts.depth, out=signal)
    np.subtract(1, w, out=sd)
    sd *= ts.surface
    signal += sd
    signal += noise


def quitting_colleagues(m: District) -> np.ndarray:
    """Tie-weighted share of each teacher's colleagues who gave up the practice."""
    count = neighbour_sums(m.adjacency, (m.teachers_state.stage == _ABANDONED).astype(float))
    return tie_share(count, m.degree)


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
    stage, school = ts.stage, ts.school
    using = ts.using
    poor = ts.signal < p.keep_threshold
    # The hazard term by term in the order of the formula, accumulated in place: the same operations
    # on the same values as the written-out sum, with fewer temporary arrays (this runs every step).
    hazard = np.subtract(1.0, ts.energy)
    np.square(hazard, out=hazard)  # (1 - energy) ** 2
    hazard *= p.abandon_exhaustion
    hazard += p.abandon_base
    term = np.multiply(float(p.abandon_poor_signal), poor)  # a float array whatever the parameter's type
    hazard += term
    np.multiply(p.abandon_pressure, s.pressure[school], out=term)
    hazard += term
    np.subtract(ts.support_ref, ts.support, out=term)
    term -= s.flexibility[school]
    np.maximum(0.0, term, out=term)
    term *= p.abandon_support_loss
    hazard += term
    term = quitting_colleagues(m)
    term *= p.abandon_colleagues
    hazard += term
    # times abandon_routine_factor for stages from routine on: one product with a factor per stage
    # (1.0 below routine, and x * 1.0 is x)
    f = p.abandon_routine_factor
    hazard *= np.array([1.0, 1.0, 1.0, f, f, f]).take(stage)
    draw = m.rng.random(m.n_teachers)
    abandon = using & (draw < hazard)
    draw2 = m.rng.random(m.n_teachers)
    kept = ~abandon
    routinize = kept & (stage == _PROTOTYPING)
    routinize &= ~poor
    routinize &= ts.stage_steps >= p.min_prototype_steps
    routinize &= draw2 < p.routinize_rate
    refine = kept & (stage == _ROUTINE)
    refine &= draw2 < p.refine_rate * ts.capacity * ts.support
    np.putmask(ts.enthusiasm, abandon, ts.enthusiasm * (1 - p.disillusion))
    # the three moves are disjoint; routinizing and refining both move up one stage (prototyping to
    # routine, routine to refining): one addition and one reset of the months in stage for all three
    advance = routinize | refine
    stage += advance
    np.putmask(stage, abandon, _ABANDONED)
    advance |= abandon
    np.putmask(ts.stage_steps, advance, 0)


def plan(m: District) -> None:
    """Teachers of schools in their planning period build capacity."""
    s, ts = m.schools_state, m.teachers_state
    planning_schools = s.selected & (m.steps < s.implement_step)
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
