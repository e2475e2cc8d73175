"""Process 1, the central office: rollout of schools, special programmes, the key person,
the review of results and backing away, and the conditions it sets each month."""

from __future__ import annotations

import numpy as np

from sim.district.calendar import monthly
from sim.district.metrics import imported
from sim.district.processes.common import _most_ready, readiness
from sim.district.state import District


def select_schools(m: District) -> None:
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


def forget_repository(m: District, imported_only: bool, loss: float = 1.0) -> None:
    """Empty the district repository; schools lose imported models (or any model w.p. ``loss``)."""
    reg, s = m.registry, m.schools_state
    reg.in_repository[:] = [False] * len(reg.in_repository)
    lose = imported(m) if imported_only else (s.model >= 0) & (m.rng.random(m.n_schools) < loss)
    s.model[lose] = -1
    s.model_depth[lose] = 0.0
    s.model_surface[lose] = 0.0


def review(m: District) -> None:
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


def set_conditions(m: District) -> None:
    """Per-school flexibility and pressure from the levers (zones: full flexibility, no pressure)."""
    o, s = m.office, m.schools_state
    flex = o.flexibility * (1.0 - o.waiver_friction if o.flexibility_mode == "negotiated" else 1.0)
    s.flexibility[:] = np.where(s.zone, 1.0, flex)
    s.pressure[:] = np.where(s.zone, 0.0, o.test_pressure)


def central_office_step(m: District) -> None:
    """Process 1: set conditions, review progress, roll out schools."""
    review(m)
    key_person(m)
    select_schools(m)
    special_programs(m)
    set_conditions(m)
