"""Stylized facts SF1-SF8 of the model brief (docs/validation.md, "Stylized facts").

Every test runs the default district (50 schools x 40 teachers, one step = a
school month, 5 school years) over 20 common replicate seeds and states its
tolerance next to the assertion. Intervals are 95% t intervals over
replicates (paired by seed for differences), from :mod:`sim.validation`.
"""

from __future__ import annotations

import numpy as np

from sim.validation import YEAR1, YEAR2, YEAR5, mean_ci, paired_ci, schoolwide_within

SCHOOLS = 50
WITHDRAWAL = 25  # lake_backing_away: backaway.step
BEFORE = WITHDRAWAL - 1


def test_sf1_pl_stalls_in_a_handful_of_pilot_classrooms(replicated):
    """SF1: after two years, in most schools PL has not got beyond a handful of pilot classrooms."""
    b = replicated("baseline")
    stalled = b.at(YEAR2, "pilot_stall_share")  # some, but fewer than 25%, of a school's teachers use PL
    assert mean_ci(stalled).lo > 0.5, "most schools (interval above one half) are stalled in pilot classrooms"
    assert np.mean(stalled > 0.5) >= 0.9, "and that holds in at least 90% of the replicates"
    assert b.at(YEAR2, "schoolwide_share").mean() <= 0.02, "school-wide use is (almost) absent after two years"


def test_sf2_replicated_models_are_rare(replicated):
    """SF2: few schools develop replicable strategies; replicated models are rare."""
    b = replicated("baseline")
    assert b.at(YEAR2, "codified_models").mean() <= 0.05 * SCHOOLS, "at most 5% of schools codify a model in two years"
    assert mean_ci(b.at(YEAR5, "replications")).hi <= 0.04 * SCHOOLS, "under 4% of schools use another's model by year 5"
    # The rarity comes from ad hoc knowledge management, not from a broken mechanism:
    # with a knowledge plan, coaching and clear goals, models do travel.
    k = replicated("clear_problems+adult_learning")
    assert mean_ci(k.at(YEAR5, "replications")).lo > 0.2 * SCHOOLS


def test_sf3_surface_change_outpaces_depth(replicated):
    """SF3: classrooms are "fun, but not intellectually demanding": surface outpaces depth."""
    b = replicated("baseline")
    for step in (YEAR2, YEAR5):
        surface, depth = b.at(step, "mean_surface"), b.at(step, "mean_depth")
        assert np.all(surface >= 1.5 * depth), f"surface at least 1.5 x depth in every replicate (step {step})"
        use, deep = b.at(step, "teacher_adoption"), b.at(step, "deep_adoption")
        assert deep.sum() <= 0.1 * use.sum(), "fewer than 1 in 10 users practise with depth"
    # Clear goals steer effort to depth (S003 "setting clear goals to focus innovation").
    c = replicated("clear_problems")
    ratio_clear = c.at(YEAR5, "mean_depth") / c.at(YEAR5, "mean_surface")
    ratio_base = b.at(YEAR5, "mean_depth") / b.at(YEAR5, "mean_surface")
    assert paired_ci(ratio_clear, ratio_base).lo > 0.3


def test_sf4_unguided_effort_exhausts_teachers_and_leaves_margins_out(replicated):
    """SF4: teachers try many things without guidance and exhaust themselves; students on the margins are left out."""
    b = replicated("baseline")
    exhaustion = {step: b.probe(step, "exhaustion_tried") for step in (YEAR1, YEAR2, YEAR5)}
    assert paired_ci(exhaustion[YEAR2], exhaustion[YEAR1]).lo > 0, "exhaustion of teachers who tried grows"
    assert paired_ci(exhaustion[YEAR5], exhaustion[YEAR2]).lo > 0
    assert mean_ci(exhaustion[YEAR2]).lo > 0.2, "teachers who tried have lost over a fifth of their energy"
    # Guidance (embedded coaching) is what spares them.
    a = replicated("adult_learning")
    assert paired_ci(exhaustion[YEAR2], a.probe(YEAR2, "exhaustion_tried")).lo > 0.05
    # Margins: students on the margins get under half of the richer work typical students get ...
    assert mean_ci(b.probe(YEAR2, "margin_access")).hi < 0.5
    # ... and the gap widens as PL spreads.
    assert paired_ci(b.at(YEAR5, "equity_gap"), b.at(YEAR1, "equity_gap")).lo > 0


def test_sf5_enthusiastic_teachers_try(replicated):
    """SF5: support and enthusiasm among teachers are high: many teachers try."""
    b = replicated("baseline")
    assert mean_ci(b.probe(YEAR2, "tried_share")).lo > 0.3, "over 30% of all teachers have tried PL in two years"
    assert mean_ci(b.probe(YEAR5, "tried_share")).lo > 0.45, "and nearly half by year 5"
    assert mean_ci(b.probe(YEAR2, "enthusiasm")).lo > 0.6, "enthusiasm stays high (0-1 scale)"


def test_sf6_all_in_beats_baseline_and_later_waves_adopt_faster(replicated):
    """SF6: going all in (Henry County) yields markedly more school-wide use and replication; later waves are faster."""
    b, h = replicated("baseline"), replicated("henry_all_in")
    assert paired_ci(h.at(YEAR5, "schoolwide_share"), b.at(YEAR5, "schoolwide_share")).lo > 0.1, \
        "at least 5 more of 50 schools school-wide by year 5"
    assert paired_ci(h.at(YEAR5, "replications"), b.at(YEAR5, "replications")).lo > 5, \
        "at least 5 more schools using a model codified elsewhere"
    # Time from a school's implementation start to school-wide use, by cohort: share of
    # the cohort's schools school-wide within 20 months (cohorts 1-3 are uncensored).
    share = schoolwide_within(h.schools, 20).pivot(index="replicate", columns="cohort", values="share")
    later = share[[c for c in share.columns if c > 0]].mean(axis=1)
    assert paired_ci(later, share[0]).lo > 0.15, "later cohorts reach school-wide faster than the first"


def test_sf7_backing_away_collapses_adoption_and_loses_learning(replicated):
    """SF7: backing away (Lake County) collapses adoption and loses what was learned."""
    lake = replicated("lake_backing_away")
    stay = replicated("lake_backing_away", ("backaway.enabled=false",))
    before, after = lake.probe(BEFORE, "initiative_use"), lake.probe(YEAR5, "initiative_use")
    assert after.mean() < 0.5 * before.mean(), "use in initiative schools falls by more than half after withdrawal"
    assert paired_ci(stay.probe(YEAR5, "initiative_use"), after).lo > 0.1, "and ends far below staying the course"
    stock_before, stock_after = lake.probe(BEFORE, "practice_stock"), lake.probe(YEAR5, "practice_stock")
    assert paired_ci(stock_before, stock_after).lo > 0, "teachers' practice knowledge decays after withdrawal"
    assert stock_after.mean() < 0.5 * stay.probe(YEAR5, "practice_stock").mean()


def test_sf8_key_person_knowledge_management_is_fragile(replicated):
    """SF8: knowledge management that relies on a single individual is fragile: her departure sets the district back."""
    label = "henry_all_in+key_person_km"  # key person leaves at step 25
    left = replicated(label)
    stays = replicated(label, ("knowledge.key_person_departure_step=-1",))
    assert mean_ci(left.at(BEFORE, "replications")).lo > 0, "models were travelling before the departure"
    assert np.all(left.at(WITHDRAWAL, "replications") == 0), "the departure strips every imported model"
    assert paired_ci(stays.at(YEAR5, "replications"), left.at(YEAR5, "replications")).lo > 5
    assert paired_ci(stays.at(YEAR5, "schoolwide_share"), left.at(YEAR5, "schoolwide_share")).lo > 0.02
