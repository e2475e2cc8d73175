"""Claims about single mechanisms in the whole model (docs/validation.md, "Mechanisms")."""

from __future__ import annotations

import numpy as np

from sim.validation.facts import LAKE_STEPS, sf_runs, withdrawal_steps
from sim.validation.replicates import YEAR5, paired_ci, run_replicates


def test_network_density_changes_baseline_adoption():
    """Colleagues' help grows with the number of using colleagues: a dense collegial network (12 colleagues each)
    gives more adoption than a sparse one (3) by over 3 points of teachers, paired over 20 seeds."""
    sparse = run_replicates("baseline", 20, overrides=("network.degree=3",))
    dense = run_replicates("baseline", 20, overrides=("network.degree=12",))
    diff = paired_ci(dense.at(YEAR5, "teacher_adoption"), sparse.at(YEAR5, "teacher_adoption"))
    assert diff.lo > 0.03, str(diff)


def test_lake_withdrawal_is_a_decision_that_varies_and_patience_moves_it():
    """With the preset's patience (10 months) the month varies with the seed (a new superintendent may cut it);
    with 25 months of patience the office withdraws later."""
    preset = withdrawal_steps(sf_runs(20)("lake_backing_away"))
    patient = withdrawal_steps(sf_runs(20)("lake_backing_away", ("backaway.grace_steps=25",)))
    assert (preset > 0).all() and len(set(preset)) > 1, "the month varies with the seed"
    late = np.where(patient > 0, patient, LAKE_STEPS + 1)
    assert paired_ci(late, preset).lo > 5, "more patience, later withdrawal"
