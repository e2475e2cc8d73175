"""Claims about single mechanisms in the whole model (docs/validation.md, "Mechanisms")."""

from __future__ import annotations

import pytest

from sim.validation.mechanisms import (
    adhoc_sharing_checks,
    density_effect,
    key_person_losses,
    main,
    patience_delay,
    withdrawal_months,
)
from sim.validation.replicates import mean_ci, paired_ci


@pytest.mark.xfail(strict=True, reason="known gap (docs/validation.md, 'Mechanisms'): with the calibrated quitting "
                   "among colleagues (teacher.abandon_colleagues 0.264), a dense network spreads quitting as well as "
                   "help: dense - sparse is 2.2 [-0.1, 4.5] points")
def test_network_density_changes_baseline_adoption():
    """Colleagues' help grows with the number of using colleagues: a dense collegial network (12 colleagues each)
    gives more adoption than a sparse one (3) by over 3 points of teachers, paired over 20 seeds."""
    diff = density_effect(20)
    assert diff.lo > 0.03, str(diff)


def test_lake_withdrawal_is_a_decision_that_varies_and_patience_moves_it():
    """With the preset's patience (10 months) the month varies with the seed (a new superintendent may cut it);
    with 25 months of patience the office withdraws later."""
    preset, patient = withdrawal_months(20)
    assert (preset > 0).all() and len(set(preset)) > 1, "the month varies with the seed"
    assert patience_delay(preset, patient).lo > 5, "more patience, later withdrawal"


def test_the_earlier_the_key_person_leaves_the_more_imports_the_district_loses():
    """Henry County with key-person knowledge management, 20 paired seeds: leaving in month 25 (before most
    imports) costs more imported models by month 80 than leaving in month 45, and both cost some."""
    loss = key_person_losses((25, 45), 20)
    early, late = loss[25]["imports"], loss[45]["imports"]
    assert paired_ci(early, late).lo > 0, str(paired_ci(early, late))
    assert mean_ci(late).lo > 0, str(mean_ci(late))


def test_baseline_replication_rises_with_ad_hoc_sharing_across_its_posterior():
    """SF2's year-5 replication with ``knowledge.reach_none`` at the 5% and the 95% quantile of its posterior
    (20 seeds): the intervals do not overlap, and only the low end meets SF2's bound."""
    (_, _, low), (_, _, high) = adhoc_sharing_checks(20, quantiles=(0.05, 0.95))
    low_rep, high_rep = low[1], high[1]
    assert low_rep.claim.startswith("baseline, year 5") and low_rep.value.hi < high_rep.value.lo
    assert low_rep.passes() and not high_rep.passes()


@pytest.mark.parametrize("argv", [["replicates=1"], ["sizes", "seed=-2"], ["colour=red"], ["sizes", "docs=maybe"],
                                  ["key_person", "replicates=x"], ["adhoc", "seed=y"]])
def test_the_tables_command_exits_2_on_bad_input(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m sim.validation.mechanisms") and "Traceback" not in err
