"""Process 2, the principals: turnover, support to teachers, codifying school models,
and replicating models from other schools."""

from __future__ import annotations

import numpy as np

from sim.district import kernels
from sim.district.calendar import monthly
from sim.district.networks import neighbour_sums
from sim.district.processes.common import _REFINING, _ROUTINE
from sim.district.state import District


def principal_turnover(m: District) -> None:
    """Principals leave with the monthly equivalent of ``principal.turnover``.

    A successor has fresh traits; the school's model is lost with probability
    ``knowledge.turnover_loss_plan`` under a knowledge-management plan and
    ``turnover_loss_other`` otherwise.
    """
    s, p = m.schools_state, m.p.principal
    leave = m.rng.random(m.n_schools) < monthly(p.turnover)
    n = int(np.count_nonzero(leave))
    if not n:
        return
    s.leadership[leave] = m.trait(p.leadership_mean, p.leadership_sd, n)
    s.change_mgmt[leave] = m.trait(p.change_mgmt_mean, p.change_mgmt_sd, n)
    s.stance[leave] = m.trait(p.stance_mean, p.stance_sd, n)
    s.openness[leave] = m.trait(p.openness_mean, p.openness_sd, n)
    s.principal_hired[leave] = m.steps
    k = m.p.knowledge
    loss = k.turnover_loss_plan if m.office.knowledge_mode == "plan" else k.turnover_loss_other
    lost = leave & (s.model >= 0) & (m.rng.random(m.n_schools) < loss)
    s.model[lost] = -1
    s.model_depth[lost] = 0.0
    s.model_surface[lost] = 0.0


def colleague_help(m: District) -> np.ndarray:
    """Support from colleagues' help: help_i = peers.help * (1 - exp(-help_reach * n_i)),
    n_i the tie-weighted number of colleagues using the practice (more colleagues who can help, more help)."""
    p = m.p.peers
    if p.help <= 0:
        return np.zeros(m.n_teachers)
    using = m.teachers_state.using
    memo = getattr(m, "users_ties", None)  # set by last month's peer learning
    if (memo is not None and memo[0] is m.adjacency and memo[1].shape == using.shape
            and not np.logical_xor(memo[1], using).any()):
        n = memo[2]  # the same users over the same ties: the same sums (scipy's kernel, same order)
    else:
        n = neighbour_sums(m.adjacency, using.astype(float))
    # in place, in the formula's order (same operations and values, fewer temporaries)
    help_ = np.multiply(-p.help_reach, n)
    np.expm1(help_, out=help_)
    np.negative(help_, out=help_)
    help_ *= p.help
    return help_


def allocate_support(m: District) -> None:
    """Each teacher's support: own base + coaching + principal + C&I + design award + colleagues' help.

    extra_s = coaching_s * coaching_effect                    (coaching from the budget, 0 after backing away)
              + support_weight * leadership_s * pl_priority
              + ci_effect * max(0, ci_engagement) * active_s
              + design_competition.support * [award running]
    support_i = clip(support_base_i + extra_school(i) + help_i, 0, 1)
    support_ref_i += support_memory * (support_i + flexibility_s - support_ref_i)
                                         (the support and flexibility she is used to)
    """
    o, s, p, t = m.office, m.schools_state, m.p, m.steps
    active = s.active(t) & ~np.bool_(o.backed_away)
    extra = (s.coaching * o.coaching_effect
             + p.principal.support_weight * s.leadership * o.pl_priority
             + o.ci_effect * max(0.0, o.ci_engagement) * active
             + p.design_competition.support * (t < s.award_until))
    s.extra_support[:] = extra
    ts = m.teachers_state
    # one compiled pass over the teachers (the same operations in the same order as the formula)
    kernels.support_loop(ts.support, ts.support_ref, ts.support_base, colleague_help(m), extra, s.flexibility,
                         ts.school, float(m.p.teacher.support_memory))


def effective_change_mgmt(m: District) -> np.ndarray:
    """Change management with the district's structured support for leaders (multiplicative)."""
    return np.minimum(1.0, m.schools_state.change_mgmt * (1.0 + m.office.leader_support))


def codify(m: District) -> None:
    """Principals codify a successful teacher experiment into a school model.

    Qualifying experiments: routine or refining practice with depth at least
    ``codify_min_depth`` that has been in its stage at least
    ``close_lag * (1 - stance)`` months (a decentralized principal closes only
    after the fact). A school implementing the initiative without a model
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
    if not qualifies.any():  # nobody settled with enough depth: no candidate whatever the lag
        return
    qualifies &= ts.stage_steps >= (p.close_lag * (1.0 - s.stance))[ts.school]
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


def knowledge_reach(m: District) -> float:
    """How far codified models travel between schools under current knowledge management."""
    k, o = m.p.knowledge, m.office
    reach = {"plan": k.reach_plan, "key_person": k.reach_key_person, "none": k.reach_none}[o.knowledge_mode]
    if m.p.cop.enabled:
        reach = 1.0 - (1.0 - reach) * (1.0 - m.p.cop.model_reach)
    return 0.0 if o.backed_away else reach


def replicate(m: District) -> None:
    """Schools without a model import the best model in the district repository.

    Schools implementing the initiative and schools in their planning period may import: a planning
    school designs the model it will implement, and where knowledge travels it can start from one
    that earlier schools codified (second- and third-wave schools "seize the best knowledge and apply
    and adapt it locally"). Probability per month:
    ``replicate_rate * reach * cm_eff * (stance_floor + (1 - stance_floor) * stance)``:
    taking up another school's model is a decision to run a school-wide approach, which a principal who
    lets each teacher define PL rarely makes (the same stance term as :func:`codify`). The imported
    model's quality here is ``model_transfer`` times its quality (adopt and adapt).
    """
    s, reg = m.schools_state, m.registry
    available = np.flatnonzero(reg.in_repository)
    if available.size == 0:
        return
    floor = m.p.principal.stance_floor
    prob = (m.p.knowledge.replicate_rate * knowledge_reach(m) * effective_change_mgmt(m)
            * (floor + (1 - floor) * s.stance))
    designing = s.active(m.steps) | s.planning(m.steps)
    want = np.flatnonzero(designing & (s.model < 0) & (m.rng.random(m.n_schools) < prob))
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


def principals_step(m: District) -> None:
    """Process 2: turnover, support allocation, codification, replication."""
    principal_turnover(m)
    allocate_support(m)
    codify(m)
    replicate(m)
