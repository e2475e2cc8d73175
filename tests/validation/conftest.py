"""Shared replicated runs for the validation suite (each scenario is run once per test session)."""

from __future__ import annotations

import functools

import pytest

from sim.validation import YEAR1, YEAR2, YEAR5, Replicates, run_replicates

#: Replicates (seeds) per scenario in every stylized-fact test.
REPLICATES = 20
#: Steps at which teacher-level probes are recorded (24: the month before Lake's withdrawal).
PROBE_STEPS = (YEAR1, YEAR2, 24, YEAR5)


@functools.cache
def _runs(scenario: str, overrides: tuple[str, ...] = ()) -> Replicates:
    return run_replicates(scenario, REPLICATES, overrides=overrides, probe_steps=PROBE_STEPS)


@pytest.fixture(scope="session")
def replicated():
    """``replicated(label, overrides=())`` -> :class:`sim.validation.Replicates` (cached per session).

    Full default district (50 schools x 40 teachers, 5 years), replicate seeds
    ``replicate_seed(0, r)`` for r < REPLICATES, common to every scenario.
    """
    return _runs
