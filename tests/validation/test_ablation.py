"""Each stylized fact needs its mechanism: a check of the fact that holds with the mechanism fails when it is
switched off (docs/validation.md, "Which mechanism produces each fact"). Fewer seeds than the table (8)."""

from __future__ import annotations

import pytest

from sim.validation.ablation import ABLATIONS
from sim.validation.facts import SF_CHECKS, sf_runs

REPLICATES = 8

#: Known gap, documented in docs/validation.md ("Which mechanism produces each fact"): with the calibrated defaults
#: SF2's baseline checks fail with the mechanism on (ad hoc sharing, as fitted, replicates too much), and its
#: contrast check holds without it, so no check breaks when it is switched off.
KNOWN = {2: "SF2's baseline checks fail with the calibrated ad hoc sharing, so none can break without it"}


@pytest.mark.parametrize("ablation", [pytest.param(a, marks=pytest.mark.xfail(reason=KNOWN[a.fact], strict=True))
                                      if a.fact in KNOWN else a for a in ABLATIONS],
                         ids=lambda a: f"SF{a.fact}-{a.off[0]}")
def test_switching_the_mechanism_off_breaks_the_fact(ablation):
    on = SF_CHECKS[ablation.fact - 1](sf_runs(REPLICATES))
    off = SF_CHECKS[ablation.fact - 1](sf_runs(REPLICATES, overrides=ablation.off))
    broken = [b for a, b in zip(on, off) if a.passes() and not b.passes()]
    assert broken, "no check that holds with the mechanism fails without it:\n" + "\n".join(str(c) for c in off)
