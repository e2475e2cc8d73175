"""Each stylized fact needs its mechanism: switched off, a check of the fact fails (docs/validation.md,
"Which mechanism produces each fact"). Fewer seeds than the table (8), same claims."""

from __future__ import annotations

import pytest

from sim.validation.ablation import ABLATIONS
from sim.validation.facts import SF_CHECKS, sf_runs

REPLICATES = 8


@pytest.mark.parametrize("ablation", ABLATIONS, ids=lambda a: f"SF{a.fact}-{a.off[0]}")
def test_switching_the_mechanism_off_breaks_the_fact(ablation):
    off = SF_CHECKS[ablation.fact - 1](sf_runs(REPLICATES, overrides=ablation.off))
    assert any(not c.passes() for c in off), "every check still holds without the mechanism:\n" + "\n".join(
        str(c) for c in off)
