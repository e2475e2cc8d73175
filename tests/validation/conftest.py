"""Shared replicated runs for the validation suite (each scenario is run once per test session)."""

from __future__ import annotations

import pytest

from sim.validation.facts import SF_REPLICATES, sf_runs


@pytest.fixture(scope="session")
def replicated():
    """``replicated(label, overrides=())`` -> :class:`sim.validation.Replicates`, cached for the session.

    Default district (50 schools x 40 teachers, 5 school years), ``SF_REPLICATES``
    (20) replicate seeds ``replicate_seed(0, r)`` common to every scenario.
    """
    return sf_runs(SF_REPLICATES)
