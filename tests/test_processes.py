"""Each submodel of the brief's "Processes each step", tested on its own."""

from __future__ import annotations

import numpy as np
import pytest

from sim.district import processes as P
from sim.district.state import Stage
from tests.conftest import small_model

SEEDS = range(8)


# 1. Central office ------------------------------------------------------------------

def test_waves_select_cohorts_of_the_configured_size_at_cohort_steps():
    m = small_model("district.schools=10", "rollout.mode=waves", "rollout.cohorts=[0.2,0.3]",
                    "rollout.cohort_interval=10", "rollout.planning_steps=4")
    s = m.schools_state
    assert s.selected.sum() == 2 and set(s.cohort[s.selected]) == {0}
    assert (s.implement_step[s.selected] == 4).all()
    ready = P.readiness(m)
    assert ready[s.selected].min() >= ready[~s.selected].max()  # most ready first
    m.run(10)
    assert s.selected.sum() == 5 and (s.cohort == 1).sum() == 3
    assert (s.implement_step[s.cohort == 1] == 14).all()
    m.run(10)
    assert s.selected.sum() == 5  # no third cohort configured


@pytest.mark.parametrize("schools", [10, 50, 200])
def test_cohort_shares_scale_with_the_district(schools):
    m = small_model(f"district.schools={schools}", "district.teachers_per_school=2", "rollout.mode=waves",
                    "rollout.cohorts=[0.12,0.18]", "rollout.start_step=3", "rollout.cohort_interval=10")
    assert P.cohort_sizes(m) == [max(1, round(0.12 * schools)), max(1, round(0.18 * schools))]
    assert not m.schools_state.selected.any()  # the first cohort is selected at start_step
    m.run(3)
    assert m.schools_state.selected.sum() == P.cohort_sizes(m)[0]


def test_all_and_volunteer_rollout():
    assert small_model("rollout.mode=all").schools_state.selected.all()
    m = small_model("rollout.mode=volunteers", "rollout.volunteer_threshold=0.5")
    assert (m.schools_state.selected == (P.readiness(m) >= 0.5)).all()
    assert not small_model("rollout.mode=volunteers", "rollout.volunteer_threshold=1.0").schools_state.selected.any()


def test_set_conditions_negotiated_flexibility_lacks_friction_until_the_waiver_is_granted():
    m = small_model("policy.flexibility=0.8", "policy.waiver_friction=0.25", "policy.test_pressure=0",
                    "policy.pressure_dip=0")
    m.office.flexibility_mode = "negotiated"
    m.schools_state.waiver[:] = False
    m.schools_state.waiver[0] = True
    P.set_conditions(m)
    assert np.allclose(m.schools_state.flexibility[1:], 0.6) and m.schools_state.flexibility[0] == pytest.approx(0.8)
    m.office.flexibility_mode = "institutionalized"
    P.set_conditions(m)
    assert np.allclose(m.schools_state.flexibility, 0.8)


def test_waivers_take_time_and_may_be_denied():
    m = small_model("district.schools=200", "district.teachers_per_school=2", "policy.waiver_months=4",
                    "policy.waiver_grant=0.5")
    s = m.schools_state
    s.waiver[:] = False
    P.waivers(m)
    # each month a request is decided w.p. 1/4 and granted w.p. 1/2: about 12.5% of schools
    assert 0.05 < s.waiver.mean() < 0.2
    for _ in range(40):
        P.waivers(m)
    assert s.waiver.mean() > 0.9  # denied schools ask again
    never = small_model("policy.waiver_grant=0")
    never.schools_state.waiver[:] = False
    for _ in range(20):
        P.waivers(never)
    assert not never.schools_state.waiver.any()


def test_implementation_dip_raises_pressure():
    m = small_model("policy.test_pressure=0.2", "policy.pressure_dip=1.0", "teacher.turnover=0")
    ts = m.teachers_state
    ts.stage[:12] = Stage.PROTOTYPING  # school 0: everyone in first, mechanical use with shallow practice
    ts.depth[:12] = 0.5
    P.implementation_dip(m)
    P.set_conditions(m)
    s = m.schools_state
    assert s.dip[0] == pytest.approx(0.5) and np.allclose(s.dip[1:], 0.0)
    assert s.pressure[0] == pytest.approx(0.7) and np.allclose(s.pressure[1:], 0.2)


def test_resistant_ci_adds_pressure_and_engaged_ci_adds_support():
    m = small_model("policy.test_pressure=0.2", "policy.pressure_dip=0", "policy.ci_engagement=-1",
                    "policy.ci_effect=0.15", "principal.support_weight=0", "peers.help=0")
    P.set_conditions(m)
    assert np.allclose(m.schools_state.pressure, 0.35)
    e = small_model("policy.ci_engagement=1", "policy.ci_effect=0.15", "principal.support_weight=0", "peers.help=0")
    P.allocate_support(e)
    assert np.allclose(e.teachers_state.support, np.clip(e.teachers_state.support_base + 0.15, 0, 1))


def test_budget_spreads_coaching_over_the_implementing_schools():
    m = small_model("district.schools=10", "policy.coaching_fte=0.5", "budget.fte_per_school=0.1")
    P.budget(m)
    assert np.allclose(m.schools_state.coaching, 0.1)  # 1 FTE over 10 schools
    v = small_model("district.schools=10", "policy.coaching_fte=0.5", "budget.fte_per_school=0.1",
                    "rollout.mode=waves", "rollout.cohorts=[0.2]")
    P.budget(v)
    c = v.schools_state.coaching
    assert np.allclose(c[v.schools_state.selected], 0.5) and np.allclose(c[~v.schools_state.selected], 0.0)


def test_autonomy_zone_gets_full_flexibility_no_pressure_and_more_autonomy():
    base = small_model(seed=3)
    m = small_model("autonomy_zone.schools=2", "autonomy_zone.autonomy_boost=0.2", seed=3)
    s = m.schools_state
    assert s.zone.sum() == 2
    assert np.allclose(s.flexibility[s.zone], 1.0) and np.allclose(s.pressure[s.zone], 0.0)
    zone_t = s.zone[m.teachers_state.school]
    assert (m.teachers_state.autonomy[zone_t] >= base.teachers_state.autonomy[zone_t]).all()
    assert np.allclose(m.teachers_state.autonomy[~zone_t], base.teachers_state.autonomy[~zone_t])


def test_design_competition_winners_get_support_and_school_wide_stance():
    m = small_model("design_competition.enabled=true", "design_competition.step=2",
                    "design_competition.winners=2", "design_competition.support=0.3",
                    "design_competition.duration=5", "rollout.mode=waves", "rollout.cohorts=[0]",
                    "principal.turnover=0")
    m.run(2)
    s = m.schools_state
    won = s.award_until > 0
    assert won.sum() == 2 and np.allclose(s.stance[won], 1.0) and s.selected[won].all()
    assert np.all(s.extra_support[won] >= 0.3 - 1e-12)
    m.run(6)
    assert np.all(s.extra_support[won] < 0.3)  # award over


def _give_models(m, origin_schools):
    """Codify a model in each origin school and import model 0 into every other school."""
    reg, s = m.registry, m.schools_state
    for k, school in enumerate(origin_schools):
        reg.origin.append(school)
        reg.depth.append(0.6)
        reg.surface.append(0.5)
        reg.step.append(0)
        reg.in_repository.append(True)
        s.model[school] = k
    others = np.setdiff1d(np.arange(m.n_schools), origin_schools)
    s.model[others] = 0


def test_key_person_departure_empties_the_repository_and_the_help_to_adapt_imports():
    m = small_model("knowledge.mode=key_person", "knowledge.key_person_departure_step=3", "principal.turnover=0",
                    "knowledge.reach_key_person=0.6", "knowledge.reach_none=0.0")
    _give_models(m, [0, 1])
    assert np.allclose(P.adaptation_help(m), [1, 1, 0.6, 0.6, 0.6, 0.6])
    m.run(2)
    assert m.office.key_person_present
    m.step()  # step 3: the key person leaves
    assert not m.office.key_person_present and m.office.key_person_left_step == 3
    assert not any(m.registry.in_repository)
    assert (m.schools_state.model[2:] == 0).all()  # nothing is deleted: schools keep the models they had
    assert np.allclose(P.adaptation_help(m), [1, 1, 0, 0, 0, 0])  # but lose the help to adapt imported ones


def test_backaway_withdraws_coaching_flexibility_and_priority_and_raises_pressure():
    m = small_model("backaway.enabled=true", "policy.coaching_fte=1.0", "policy.test_pressure=0.2",
                    "backaway.test_pressure_after=0.9", "principal.turnover=0")
    _give_models(m, [0])
    m.schools_state.waiver[:] = True
    P.back_away(m)
    o = m.office
    assert o.backed_away and o.coaching_fte == 0 and o.pl_priority == 0 and o.test_pressure == 0.9
    assert o.flexibility_mode == "negotiated" and not m.schools_state.waiver.any()
    assert not any(m.registry.in_repository)
    assert (m.schools_state.model >= 0).all()  # models are not deleted by the decision
    m.step()
    assert np.allclose(m.schools_state.coaching, 0) and (m.schools_state.pressure >= 0.9).all()
    assert m.latest["backed_away"] == 1


def test_patience_runs_out_at_unsatisfied_reviews():
    # every school implements from step 1; reviews at steps 6, 11, ...; each unsatisfied one uses 5 months
    m = small_model("backaway.enabled=true", "backaway.min_adoption=0.99", "backaway.grace_steps=10",
                    "backaway.review_every=5", "backaway.leader_change_rate=0")
    m.run(10)
    assert not m.office.backed_away and m.office.patience == 5
    m.run(1)
    assert m.office.backed_away and m.office.backaway_step == 11
    patient = small_model("backaway.enabled=true", "backaway.min_adoption=0.0", "backaway.dip_tolerance=1")
    patient.run(20)
    assert not patient.office.backed_away and patient.office.patience == patient.p.backaway.grace_steps


def test_more_patience_delays_withdrawal_and_a_new_leader_cuts_it():
    steps = {}
    for grace in (5, 15):
        m = small_model("backaway.enabled=true", "backaway.min_adoption=0.99", f"backaway.grace_steps={grace}",
                        "backaway.review_every=5", "steps=40")
        m.run()
        steps[grace] = m.office.backaway_step
    assert 0 < steps[5] < steps[15]
    m = small_model("backaway.enabled=true", "backaway.leader_change_rate=1.0", "backaway.leader_patience_cut=0.5",
                    "backaway.grace_steps=16")
    P.leadership_change(m)  # monthly equivalent of 1 a year: about 0.07
    for _ in range(200):
        P.leadership_change(m)
    assert m.office.leader_changes > 0 and m.office.patience == pytest.approx(16 * 0.5 ** m.office.leader_changes)



def test_a_new_leader_reviews_on_arrival_only_with_leader_reviews():
    # reviews every 50 months: none is scheduled in the first 20 steps, so only an arrival can trigger one
    def first_review_of_arrival(flag: str):
        m = small_model("backaway.enabled=true", "backaway.min_adoption=0.99", "backaway.grace_steps=50",
                        "backaway.review_every=50", "backaway.leader_change_rate=1.0",
                        "backaway.leader_patience_cut=0.9", f"backaway.leader_reviews={flag}")
        for _ in range(20):
            m.step()
            if m.office.leader_changes:
                return m
        raise AssertionError("no leader arrived in 20 months at a rate of 1 a year")
    m = first_review_of_arrival("true")
    assert m.office.last_review["step"] == m.steps  # reviewed in the month she arrived
    assert m.office.backed_away  # 50 months of patience cut to 5, one unsatisfied review uses 50
    quiet = first_review_of_arrival("false")
    assert not quiet.office.last_review and not quiet.office.backed_away

# 2. Principals ----------------------------------------------------------------------

def test_principal_turnover_replaces_principals_and_may_lose_models():
    m = small_model("principal.turnover=1.0", "knowledge.turnover_loss_other=1.0")
    _give_models(m, [0])
    before = m.schools_state.leadership.copy()
    m.steps = 1
    P.principal_turnover(m)
    assert (m.schools_state.principal_hired == 1).all()
    assert not np.allclose(before, m.schools_state.leadership)
    assert (m.schools_state.model == -1).all()
    m2 = small_model("principal.turnover=0.0")
    lead = m2.schools_state.leadership.copy()
    P.principal_turnover(m2)
    assert np.array_equal(lead, m2.schools_state.leadership)


def test_coaching_raises_support_only_in_implementing_schools():
    m = small_model("rollout.mode=waves", "rollout.cohorts=[0.5]", "policy.coaching_fte=0.5",
                    "policy.coaching_effect=0.8", "principal.support_weight=0", "peers.help=0")
    P.budget(m)
    P.allocate_support(m)
    ts, s = m.teachers_state, m.schools_state
    active_t = s.active(m.steps)[ts.school]
    assert np.allclose(ts.support[active_t], np.clip(ts.support_base[active_t] + 0.4, 0, 1))
    assert np.allclose(ts.support[~active_t], ts.support_base[~active_t])


def _qualifying_teacher(m, school=0, depth=0.8):
    i = school * m.p.district.teachers_per_school + 1
    m.teachers_state.stage[i] = Stage.ROUTINE
    m.teachers_state.depth[i] = depth
    m.teachers_state.surface[i] = 0.3
    return i


@pytest.mark.parametrize("seed", SEEDS)
def test_principal_without_change_management_never_codifies(seed):
    m = small_model("principal.codify_rate=1.0", "policy.leader_support=1.0", seed=seed)
    m.schools_state.change_mgmt[:] = 0.0
    for school in range(m.n_schools):
        _qualifying_teacher(m, school)
    for _ in range(20):
        P.codify(m)
    assert (m.schools_state.model == -1).all() and not m.registry.origin


def test_codify_takes_the_best_qualifying_experiment():
    m = small_model("principal.codify_rate=1.0", "principal.codify_min_depth=0.3")
    s = m.schools_state
    s.change_mgmt[:] = 1.0
    s.stance[:] = 1.0
    _qualifying_teacher(m, 0, depth=0.5)
    i = _qualifying_teacher(m, 0, depth=0.5) + 1
    m.teachers_state.stage[i] = Stage.REFINING
    m.teachers_state.depth[i] = 0.9
    _qualifying_teacher(m, 1, depth=0.2)  # below the bar
    P.codify(m)
    assert s.model[0] == 0 and m.registry.depth[0] == pytest.approx(0.9) and m.registry.origin == [0]
    assert (s.model[1:] == -1).all()


def test_codification_rate_grows_with_school_wide_stance():
    counts = {}
    for stance in (0.0, 1.0):
        n = 0
        for seed in SEEDS:
            m = small_model("principal.codify_rate=0.3", "principal.stance_floor=0.2", seed=seed)
            m.schools_state.change_mgmt[:] = 1.0
            m.schools_state.stance[:] = stance
            for school in range(m.n_schools):
                _qualifying_teacher(m, school)
            P.codify(m)
            n += (m.schools_state.model >= 0).sum()
        counts[stance] = n
    # expected 48 * 0.06 = 2.9 vs 48 * 0.3 = 14.4 codifications
    assert counts[1.0] > counts[0.0] + 4


def test_a_decentralized_principal_closes_only_after_the_fact():
    for stance, codified in ((0.0, False), (1.0, True)):
        m = small_model("principal.codify_rate=1.0", "principal.stance_floor=1.0", "principal.close_lag=10")
        s = m.schools_state
        s.change_mgmt[:] = 1.0
        s.stance[:] = stance
        i = _qualifying_teacher(m, 0)
        m.teachers_state.stage_steps[i] = 3  # routine for 3 months only
        P.codify(m)
        assert (s.model[0] >= 0) == codified


def test_replicate_imports_best_model_from_another_school_under_a_plan():
    m = small_model("knowledge.mode=plan", "knowledge.replicate_rate=1.0", "knowledge.reach_plan=1.0",
                    "principal.model_transfer=0.5")
    m.schools_state.change_mgmt[:] = 1.0
    m.schools_state.stance[:] = 1.0
    for school, depth in ((0, 0.4), (1, 0.8)):
        m.registry.origin.append(school)
        m.registry.depth.append(depth)
        m.registry.surface.append(0.2)
        m.registry.step.append(0)
        m.registry.in_repository.append(True)
        m.schools_state.model[school] = len(m.registry.origin) - 1
    P.replicate(m)
    s = m.schools_state
    assert (s.model[2:] == 1).all()  # the deeper model
    assert np.allclose(s.model_depth[2:], 0.4)  # transfer * 0.8
    m.record()
    assert m.latest["replications"] == m.n_schools - 2 and m.latest["replicated_models"] == 1


def test_replication_needs_a_principal_who_wants_a_school_wide_approach():
    """At full reach and change management a school-wide principal always imports; a decentralized one imports
    with probability stance_floor (0.3 here): over 5 seeds x 99 such schools the share is within 0.3 +- 0.07
    (about 3.4 sd of a share of 495 draws)."""
    imported = []
    for seed in range(5):
        m = small_model("district.schools=200", "district.teachers_per_school=5", "knowledge.mode=plan",
                        "knowledge.replicate_rate=1.0", "knowledge.reach_plan=1.0", "principal.stance_floor=0.3",
                        seed=seed)
        s = m.schools_state
        s.change_mgmt[:] = 1.0
        _give_models(m, [0])
        s.model[1:] = -1
        s.stance[1:101] = 1.0
        s.stance[101:] = 0.0
        P.replicate(m)
        assert (s.model[1:101] == 0).all()
        imported.append(s.model[101:] == 0)
    share = np.mean(imported)
    assert 0.23 < share < 0.37, share


def test_planning_schools_design_from_an_existing_model_and_unselected_schools_do_not():
    """A school in its planning period may import (it designs the model it will implement); a school outside
    the initiative may not, and nor may a planning school where knowledge does not travel."""
    for reach, planning_imports in ((1.0, True), (0.0, False)):
        m = small_model("district.schools=6", "knowledge.mode=plan", f"knowledge.reach_plan={reach}",
                        "knowledge.replicate_rate=1.0", "rollout.mode=waves", "rollout.cohorts=[0.34,0.34]",
                        "rollout.planning_steps=20", "rollout.cohort_interval=10")
        s = m.schools_state
        s.change_mgmt[:] = 1.0
        s.stance[:] = 1.0
        _give_models(m, [0])
        s.model[1:] = -1
        m.steps = 5
        planning, outside = s.planning(m.steps)[1:], ~s.selected[1:]  # school 0 holds the model
        assert planning.any() and outside.any() and not s.active(m.steps).any()
        P.replicate(m)
        assert (s.model[1:][planning] == 0).all() == planning_imports
        assert (s.model[1:][outside] == -1).all()


def test_no_replication_without_reach():
    m = small_model("knowledge.mode=none", "knowledge.reach_none=0.0", "knowledge.replicate_rate=1.0")
    _give_models(m, [0])
    m.schools_state.model[1:] = -1
    P.replicate(m)
    assert (m.schools_state.model[1:] == -1).all()


# 3. Teachers ------------------------------------------------------------------------

def test_teacher_turnover_conserves_counts_and_resets_leavers():
    m = small_model("teacher.turnover=1.0")
    ts = m.teachers_state
    ts.stage[:] = Stage.ROUTINE
    ts.depth[:] = 0.7
    m.steps = 5
    P.teacher_turnover(m)
    assert len(m.teachers) == m.n_teachers == ts.stage.size
    assert (ts.stage == Stage.NON_USE).all() and (ts.depth == 0).all() and (ts.hired == 5).all()
    assert np.array_equal(ts.school, np.repeat(np.arange(m.n_schools), m.p.district.teachers_per_school))


def test_peer_exposure_simple_share_and_complex_threshold():
    m = small_model("network.generator=complete", "district.teachers_per_school=5")
    using = np.zeros(m.n_teachers, bool)
    using[[0, 1]] = True  # two users in school 0
    share = P.peer_exposure(m, using)
    assert share[2] == pytest.approx(0.5) and share[0] == pytest.approx(0.25) and share[5] == 0
    mc = small_model("network.generator=complete", "district.teachers_per_school=5",
                     "peers.contagion=complex", "peers.threshold=2")
    exposure = P.peer_exposure(mc, using)
    assert exposure[2] == 1.0 and exposure[0] == 0.0  # teacher 0 sees only one user
    mt = small_model("network.generator=complete", "district.teachers_per_school=5", "peers.contagion=threshold")
    mt.teachers_state.threshold[:] = 0.3
    mt.teachers_state.threshold[3] = 0.6
    exposure = P.peer_exposure(mt, using)
    assert exposure[2] == 1.0 and exposure[0] == 0.0 and exposure[3] == 0.0  # own thresholds: 0.5 vs 0.3 and 0.6


def test_teachers_draw_their_own_thresholds():
    m = small_model("peers.threshold_mean=0.25", "peers.threshold_sd=0.1", "district.schools=50")
    th = m.teachers_state.threshold
    assert abs(th.mean() - 0.25) < 0.02 and abs(th.std() - 0.1) < 0.02


def test_colleagues_help_grows_with_using_colleagues():
    m = small_model("network.generator=complete", "peers.help=0.3", "peers.help_reach=0.25")
    ts = m.teachers_state
    ts.stage[:] = Stage.NON_USE
    ts.stage[:4] = Stage.ROUTINE  # four users in school 0
    help_ = P.colleague_help(m)
    assert help_[5] == pytest.approx(0.3 * (1 - np.exp(-0.25 * 4)))
    assert help_[4] > help_[0] and np.allclose(help_[12:], 0.0)


def test_teachers_who_lose_support_or_see_colleagues_quit_give_up_more():
    def abandon_share(**kw):
        m = small_model("district.schools=30", "network.generator=complete", "teacher.abandon_base=0",
                        "teacher.abandon_exhaustion=0", "teacher.abandon_poor_signal=0", "teacher.abandon_pressure=0",
                        "teacher.abandon_support_loss=0.5", "teacher.abandon_colleagues=0.4")
        ts = m.teachers_state
        ts.stage[:] = Stage.PROTOTYPING
        m.schools_state.flexibility[:] = kw.get("flex", 0.5)
        ts.support_ref[:] = 0.8  # used to support 0.3 and flexibility 0.5
        ts.support[:] = kw.get("support", 0.3)
        if kw.get("quit"):
            ts.stage[::2] = Stage.ABANDONED
        P.decide(m)
        return (m.teachers_state.stage == Stage.ABANDONED).mean()
    assert abandon_share() == 0.0
    assert abandon_share(support=0.0) > 0.08  # support fell by 0.3: hazard 0.15
    assert abandon_share(flex=0.0) > 0.15  # waiver revoked, flexibility fell by 0.5: hazard 0.25
    assert abandon_share(quit=True) > 0.5 + 0.1  # half quit already; about 0.4 * 0.5 of the rest follow


def test_open_principals_raise_experimentation():
    shares = []
    for openness in (0.0, 1.0):
        m = small_model("district.schools=20", "principal.open_boost=1.0", "peers.influence=0")
        m.schools_state.openness[:] = openness
        P.start_experiments(m)
        shares.append((m.teachers_state.stage == Stage.EXPLORING).mean())
    assert shares[1] > shares[0] * 1.5


def test_start_experiments_follows_the_hazard():
    rate_cfg = ("teacher.explore_rate=0.2", "teacher.enthusiasm_mean=1", "teacher.enthusiasm_sd=0",
                "teacher.autonomy_mean=1", "teacher.autonomy_sd=0", "policy.flexibility=1",
                "policy.flexibility_mode=institutionalized", "policy.test_pressure=0", "peers.influence=0",
                "principal.open_boost=0", "district.schools=20", "district.teachers_per_school=50")
    m = small_model(*rate_cfg)
    P.start_experiments(m)
    share = (m.teachers_state.stage == Stage.EXPLORING).mean()
    expected = 1 - np.exp(-0.2)
    assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / 1000)
    none = small_model("teacher.explore_rate=0", "peers.influence=0.5")
    P.start_experiments(none)
    assert (none.teachers_state.stage == Stage.NON_USE).all()  # nobody to imitate, no spontaneity


def test_test_pressure_damps_experimentation():
    shares = []
    for pressure in (0.0, 1.0):
        m = small_model("district.schools=20", "policy.pressure_damp=0.8", f"policy.test_pressure={pressure}",
                        "teacher.explore_rate=0.5")
        P.start_experiments(m)
        shares.append((m.teachers_state.stage == Stage.EXPLORING).mean())
    assert shares[0] > shares[1] * 1.5


def test_commit_needs_support_and_starts_from_the_school_model():
    m = small_model("teacher.commit_rate=1.0", "teacher.commit_support_weight=1.0", "principal.model_transfer=0.5")
    ts = m.teachers_state
    ts.stage[:] = Stage.EXPLORING
    ts.support[:] = 0.0
    ts.support[:12] = 1.0  # school 0 fully supported
    m.schools_state.model[0] = 0
    m.schools_state.model_depth[0] = 0.8
    P.commit(m)
    assert (ts.stage[:12] == Stage.PROTOTYPING).all()
    assert np.allclose(ts.depth[:12], 0.4)
    assert not (ts.stage[12:] == Stage.PROTOTYPING).any()


@pytest.mark.parametrize("clarity, support, deeper", [(0.0, 0.0, False), (1.0, 1.0, True)])
def test_effort_drifts_to_what_the_judgement_rewards(clarity, support, deeper):
    m = small_model("teacher.focus_init=0.5", "teacher.focus_adapt=0.3", "principal.open_dilution=0")
    m.office.goal_clarity = clarity
    ts = m.teachers_state
    ts.stage[:] = Stage.PROTOTYPING
    ts.support[:] = support
    for _ in range(10):
        P.prototype(m)
    assert ((ts.focus > 0.5) == deeper).all()
    assert (ts.depth > ts.surface).all() == deeper
    assert (ts.surface > ts.depth).all() == (not deeper)


def test_without_drift_effort_stays_split():
    m = small_model("teacher.focus_init=0.5", "teacher.focus_adapt=0")
    ts = m.teachers_state
    ts.stage[:] = Stage.PROTOTYPING
    for _ in range(5):
        P.prototype(m)
    assert np.allclose(ts.depth, ts.surface) and np.allclose(ts.focus, 0.5)


def test_a_principal_too_open_leaves_rigor_to_chance():
    m = small_model("principal.open_dilution=0.5")
    s = m.schools_state
    s.openness[:] = 1.0
    s.stance[:] = 0.0
    s.stance[0] = 1.0  # school 0 closes as well as opens
    w = P.judged_weight(m).reshape(m.n_schools, -1)
    s.openness[:] = 0.0
    w0 = P.judged_weight(m).reshape(m.n_schools, -1)
    assert np.allclose(w[1:], 0.5 * w0[1:]) and np.allclose(w[0], w0[0])


def test_effort_without_support_drains_energy():
    m = small_model("teacher.energy_recovery=0")
    ts = m.teachers_state
    ts.stage[:] = Stage.PROTOTYPING
    ts.support[: m.n_teachers // 2] = 0.0
    ts.support[m.n_teachers // 2:] = 1.0
    P.spend_energy(m)
    assert (ts.energy[: m.n_teachers // 2] < 1).all() and np.allclose(ts.energy[m.n_teachers // 2:], 1)
    idle = small_model()
    P.spend_energy(idle)
    assert np.allclose(idle.teachers_state.energy, 1.0)


def test_evaluation_judges_by_engagement_without_support():
    m = small_model("teacher.eval_noise=0", "teacher.goal_weight=0", "principal.open_dilution=0")
    ts = m.teachers_state
    ts.surface[:] = 0.9
    ts.depth[:] = 0.1
    ts.support[:] = 0.0
    P.evaluate(m)
    assert np.allclose(ts.signal, 0.9)
    ts.support[:] = 1.0
    P.evaluate(m)
    assert np.allclose(ts.signal, 0.1)


def test_exhausted_teachers_abandon_more_and_lose_enthusiasm():
    rates = []
    for energy in (1.0, 0.0):
        m = small_model("district.schools=20", "teacher.abandon_exhaustion=0.5", "teacher.eval_noise=0")
        ts = m.teachers_state
        ts.stage[:] = Stage.PROTOTYPING
        ts.energy[:] = energy
        ts.signal[:] = 1.0
        before = ts.enthusiasm.copy()
        P.decide(m)
        gone = ts.stage == Stage.ABANDONED
        assert (ts.enthusiasm[gone] < before[gone]).all()
        rates.append(gone.mean())
    assert rates[1] > rates[0] + 0.3


def test_good_prototypes_become_routine_after_the_minimum_time():
    m = small_model("teacher.routinize_rate=1.0", "teacher.min_prototype_steps=3", "teacher.abandon_base=0",
                    "teacher.abandon_exhaustion=0", "teacher.abandon_pressure=0", "teacher.abandon_poor_signal=0",
                    "teacher.keep_threshold=0.5")
    ts = m.teachers_state
    ts.stage[:] = Stage.PROTOTYPING
    ts.signal[:] = 0.8
    ts.stage_steps[:] = 2
    P.decide(m)
    assert (ts.stage == Stage.PROTOTYPING).all()
    ts.stage_steps[:] = 3
    ts.signal[: m.n_teachers // 2] = 0.1  # poor judged outcome: keep iterating
    P.decide(m)
    assert (ts.stage[m.n_teachers // 2:] == Stage.ROUTINE).all()
    assert (ts.stage[: m.n_teachers // 2] == Stage.PROTOTYPING).all()


def test_planning_builds_capacity_only_in_planning_schools():
    m = small_model("rollout.mode=waves", "rollout.cohorts=[0.3]", "rollout.planning_steps=10",
                    "rollout.planning_capacity_gain=0.05", "teacher.capacity_mean=0.3", "teacher.capacity_sd=0")
    planning = m.schools_state.selected[m.teachers_state.school]
    m.steps = 1
    P.plan(m)
    assert np.allclose(m.teachers_state.capacity[planning], 0.35)
    assert np.allclose(m.teachers_state.capacity[~planning], 0.3)


# 4. Knowledge -----------------------------------------------------------------------

def test_peer_learning_moves_users_toward_better_neighbours_only():
    m = small_model("network.generator=complete", "peers.learning=0.5")
    ts = m.teachers_state
    ts.stage[:12] = Stage.PROTOTYPING
    ts.depth[:12] = np.linspace(0, 0.9, 12)
    before = ts.depth.copy()
    P.peer_learning(m)
    assert (ts.depth[:12] >= before[:12] - 1e-12).all()
    assert ts.depth[0] > before[0] and ts.depth[11] == pytest.approx(before[11])
    assert np.array_equal(ts.depth[12:], before[12:])  # non-users and other schools untouched


def test_model_adaptation_pulls_users_toward_the_school_model():
    m = small_model("principal.model_adapt_rate=0.5")
    ts, s = m.teachers_state, m.schools_state
    ts.stage[:] = Stage.ROUTINE
    m.registry.origin.append(0)
    s.model[0] = 0
    s.model_depth[0] = 0.8
    P.model_adaptation(m)
    assert np.allclose(ts.depth[:12], 0.4) and np.allclose(ts.depth[12:], 0.0)


def test_imported_models_deepen_only_with_help():
    for mode, deeper in (("plan", True), ("none", False)):
        m = small_model(f"knowledge.mode={mode}", "knowledge.reach_none=0.0", "principal.model_adapt_rate=0.5")
        _give_models(m, [0])  # model 0 (depth 0.6) codified in school 0, imported by the others
        s = m.schools_state
        s.model_depth[1:] = 0.3
        P.deepen_models(m)
        assert (s.model_depth[1:] > 0.3).all() == deeper
        assert s.model_depth[0] == 0.0  # its own model is not an import: untouched
