"""Each stylized fact needs its mechanism: a check of the fact that holds with the mechanism fails when it is
switched off (docs/validation.md, "Which mechanism produces each fact"). Fewer seeds than the table (8)."""

from __future__ import annotations

import pytest

from sim.validation.ablation import ABLATIONS
from sim.validation.facts import SF_CHECKS, sf_runs

REPLICATES = 8

#: Known gap, documented in docs/validation.md: SF7's collapse comes mainly from the withdrawal itself (schools
#: stop implementing, pressure rises); without the support-loss and quitting-colleagues hazards the same checks
#: hold or fail as with them.
KNOWN = {7: "SF7's collapse does not depend on the support-loss and quitting-colleagues hazards alone"}


@pytest.mark.parametrize("ablation", [pytest.param(a, marks=pytest.mark.xfail(reason=KNOWN[a.fact], strict=True))
                                      if a.fact in KNOWN else a for a in ABLATIONS],
                         ids=lambda a: f"SF{a.fact}-{a.off[0]}")
def test_switching_the_mechanism_off_breaks_the_fact(ablation):
    on = SF_CHECKS[ablation.fact - 1](sf_runs(REPLICATES))
    off = SF_CHECKS[ablation.fact - 1](sf_runs(REPLICATES, overrides=ablation.off))
    broken = [b for a, b in zip(on, off) if a.passes() and not b.passes()]
    assert broken, "no check that holds with the mechanism fails without it:\n" + "\n".join(str(c) for c in off)
