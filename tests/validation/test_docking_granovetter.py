"""Docking with Granovetter's (1978) threshold model (docs/validation.md, "Granovetter docking").

Configuration: :func:`sim.validation.granovetter_overrides` (100 teachers in one
school, complete network, own thresholds ~ N(0.25, sd) as shares of colleagues,
nothing else driving adoption), 20 replicates.
"""

from __future__ import annotations

import numpy as np

import sim.validation
from sim.validation.docking import granovetter_final


def test_granovetter_overrides_is_public_api():
    ov = sim.validation.granovetter_overrides(0.25, 0.1)
    assert "peers.contagion=threshold" in ov and "peers.threshold_sd=0.1" in ov and "teacher.explore_rate=0" in ov


def test_narrow_thresholds_stop_the_cascade_and_wide_ones_carry_everyone():
    narrow = granovetter_final(0.25, 0.05, 20)
    wide = granovetter_final(0.25, 0.2, 20)
    assert narrow.mean() < 0.05, "few adopt when nobody's threshold is near zero"
    assert wide.mean() > 0.9 and np.mean(wide > 0.9) >= 0.8, "nearly all adopt once instigators exist"


def test_nothing_happens_without_instigators():
    """No threshold at or below zero (sd 0): nobody starts, whatever the mean."""
    assert granovetter_final(0.1, 0.0, 3).max() == 0.0
