"""Process 1, the central office: rollout of schools, special programmes, the key person,
the review of results and backing away, and the conditions it sets each month."""

from __future__ import annotations

import numpy as np

from sim.district import kernels
from sim.district.calendar import monthly
from sim.district.processes.common import _most_ready, readiness
from sim.district.state import District, clip


def cohort_sizes(m: District) -> list[int]:
    """Cohort sizes in schools: each share of ``rollout.cohorts`` times the district's schools, rounded,
    at least one school for a positive share (so every preset runs at any district size)."""
    return [max(1, int(round(share * m.n_schools))) if share > 0 else 0 for share in m.p.rollout.cohorts]


def select_schools(m: District) -> None:
    """Rollout: choose which schools join the initiative this step.

    Selection steps are ``start_step + k * cohort_interval``. ``all``: every
    school at the first. ``volunteers``: schools whose readiness reaches
    ``rollout.volunteer_threshold`` join at each selection step. ``waves``:
    cohort *k* (``rollout.cohorts[k]`` as a share of the district's schools,
    the most ready schools not yet selected) joins at selection step *k*.
    Implementation starts ``planning_steps`` after selection.
    """
    p, s, t = m.p.rollout, m.schools_state, m.steps
    if m.office.backed_away or t < p.start_step or (t - p.start_step) % p.cohort_interval:
        return
    wave = (t - p.start_step) // p.cohort_interval
    if p.mode == "all":
        chosen = np.flatnonzero(~s.selected) if wave == 0 else np.array([], dtype=int)
    elif p.mode == "volunteers":
        chosen = np.flatnonzero(~s.selected & (readiness(m) >= p.volunteer_threshold))
    else:
        sizes = cohort_sizes(m)
        chosen = _most_ready(m, ~s.selected, sizes[wave] if wave < len(sizes) else 0)
    s.selected[chosen] = True
    s.cohort[chosen] = wave
    s.implement_step[chosen] = t + p.planning_steps


def special_programs(m: District) -> None:
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


def key_person(m: District) -> None:
    """Key-person knowledge management: when the person leaves, what she held goes with her.

    The person leaves at ``knowledge.key_person_departure_step`` or with the
    monthly equivalent of ``key_person_leave_rate``. The district repository was
    hers: no school can import a model from it any more, and the district falls
    back to ad hoc sharing (``reach_none``), so schools that imported a model lose
    the help to adapt and deepen it (see :func:`sim.district.processes.knowledge.model_adaptation`).
    Nothing else is removed: teachers keep their practice and schools their models.
    """
    o, k = m.office, m.p.knowledge
    if not o.key_person_present:
        return
    if m.steps == k.key_person_departure_step or m.rng.random() < monthly(k.key_person_leave_rate):
        o.key_person_present = False
        o.key_person_left_step = m.steps
        o.knowledge_mode = "none"
        forget_repository(m)


def forget_repository(m: District) -> None:
    """The district repository is no longer kept: no codified model can be imported from it."""
    reg = m.registry
    reg.in_repository[:] = [False] * len(reg.in_repository)


def leadership_change(m: District) -> bool:
    """A new district leader arrives with the monthly equivalent of ``backaway.leader_change_rate``
    and has ``leader_patience_cut`` less of the remaining patience. Returns whether one arrived."""
    b, o = m.p.backaway, m.office
    if b.leader_change_rate > 0 and m.rng.random() < monthly(b.leader_change_rate):
        o.leader_changes += 1
        o.patience *= 1.0 - b.leader_patience_cut
        return True
    return False


def review(m: District) -> None:
    """The central office reviews results and backs away when its patience runs out (Lake County).

    Reviews happen every ``review_every`` months from the first month a school
    implements and, with ``leader_reviews``, when a new leader arrives (a new
    superintendent reviews the programmes she inherits). A review is unsatisfied when use among teachers of implementing
    schools is below ``min_adoption`` or their mean implementation dip (falling
    scores, parents' complaints) is above ``dip_tolerance``; each unsatisfied
    review uses ``review_every`` months of patience (``grace_steps`` at the
    start, cut by leadership changes). At zero patience the office backs away:
    coaching, flexibility (waivers revoked) and priority are withdrawn, test
    pressure rises to ``test_pressure_after``, the repository is no longer kept.
    What follows (teachers giving up, models lost with departing principals)
    is left to the teachers' and principals' processes.
    """
    b, o, t = m.p.backaway, m.office, m.steps
    if not b.enabled or o.backed_away:
        return
    arrived = leadership_change(m)
    s = m.schools_state
    active = s.active(t)
    if not active.any():
        return
    if o.first_review < 0:
        o.first_review = t
    scheduled = (t - o.first_review) % b.review_every == 0 and t != o.first_review
    if not (scheduled or (arrived and b.leader_reviews)):
        return
    ts = m.teachers_state
    in_active = active[ts.school]
    use = float(np.count_nonzero(ts.using & in_active)) / max(1, int(np.count_nonzero(in_active)))
    dip = float(s.dip[active].mean())
    o.last_review = {"step": t, "use": use, "dip": dip}
    if use < b.min_adoption or dip > b.dip_tolerance:
        o.patience -= b.review_every
    if o.patience <= 0:
        back_away(m)


def back_away(m: District) -> None:
    """Withdraw: no coaching, negotiated flexibility with every waiver revoked, no priority, more pressure."""
    o, t = m.office, m.steps
    o.backed_away, o.backaway_step = True, t
    o.coaching_fte = 0.0
    o.flexibility_mode = "negotiated"
    m.schools_state.waiver[:] = False
    o.pl_priority = 0.0
    o.test_pressure = max(o.test_pressure, m.p.backaway.test_pressure_after)
    o.key_person_present = False
    o.knowledge_mode = "none"
    forget_repository(m)


def waivers(m: District) -> None:
    """Negotiated flexibility: each implementing school without a waiver has its request decided with
    probability ``1 / waiver_months`` a month, granted with probability ``waiver_grant`` (a denied school
    asks again). Institutionalized flexibility needs no waiver."""
    o, s = m.office, m.schools_state
    if o.flexibility_mode != "negotiated" or o.backed_away:
        return
    asking = s.active(m.steps) & ~s.waiver
    if not asking.any():
        return
    draw = m.rng.random(m.n_schools)
    decided = draw < 1.0 / o.waiver_months
    granted = asking & decided & (m.rng.random(m.n_schools) < o.waiver_grant)
    s.waiver |= granted


def implementation_dip(m: District) -> None:
    """Per school: dip_s = mean over its teachers of [first, mechanical use] * (1 - depth_i).

    While teachers prototype shallow practice, scores dip and parents complain
    (the feedback that :func:`set_conditions` turns into pressure).
    """
    ts, s = m.teachers_state, m.schools_state
    dip = kernels.dip_terms(ts.stage, ts.depth).reshape(m.n_schools, -1)  # one compiled pass; numpy adds
    # the per-school mean as ndarray.mean computes it (sum, then divide by the count), without its overhead
    np.divide(np.add.reduce(dip, axis=1), dip.shape[1], out=s.dip)


def budget(m: District) -> None:
    """Coaching per implementing school from a finite district budget.

    coaching_s = min(coaching_fte, fte_per_school * n_schools / n_implementing) for implementing
    schools (0 after backing away): the same staff spread over fewer schools gives each more.
    """
    o, s = m.office, m.schools_state
    active = s.active(m.steps) & ~np.bool_(o.backed_away)
    n_active = int(np.count_nonzero(active))
    per = min(o.coaching_fte, m.p.budget.fte_per_school * m.n_schools / n_active) if n_active else 0.0
    s.coaching[:] = np.where(active, per, 0.0)


def set_conditions(m: District) -> None:
    """Per-school flexibility and pressure (zones: full flexibility, no pressure).

    flexibility_s = flexibility * (1 - waiver_friction * [negotiated and no waiver])
    pressure_s = clip(test_pressure + pressure_dip * dip_s + ci_effect * max(0, -ci_engagement), 0, 1)
    """
    o, s = m.office, m.schools_state
    lacking = (o.flexibility_mode == "negotiated") & ~s.waiver
    flex = o.flexibility * (1.0 - o.waiver_friction * lacking)
    s.flexibility[:] = np.where(s.zone, 1.0, flex)
    resist = o.ci_effect * max(0.0, -o.ci_engagement)
    pressure = clip(o.test_pressure + o.pressure_dip * s.dip + resist, 0.0, 1.0)
    s.pressure[:] = np.where(s.zone, 0.0, pressure)


def central_office_step(m: District) -> None:
    """Process 1: review results, key person, roll out schools, waivers, budget, set conditions."""
    implementation_dip(m)
    review(m)
    key_person(m)
    select_schools(m)
    special_programs(m)
    waivers(m)
    budget(m)
    set_conditions(m)
