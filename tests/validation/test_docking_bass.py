"""Docking with the Bass diffusion model (docs/validation.md, "Bass docking")."""

from __future__ import annotations

import numpy as np
import pytest

from sim.validation.docking import BASS_CASES, BASS_TOLERANCE, bass_cdf, bass_docking


def test_bass_cdf_matches_known_values():
    p, q = 0.03, 0.38
    assert bass_cdf(0.0, p, q) == 0.0
    peak = np.log(q / p) / (p + q)  # the adoption rate peaks at t* = ln(q/p)/(p+q), where F = (q-p)/(2q)
    assert bass_cdf(peak, p, q) == pytest.approx((q - p) / (2 * q), rel=1e-9)


@pytest.mark.parametrize(("p", "q"), BASS_CASES)
def test_bass_docking_mean_curve_matches_analytic(p, q):
    """Mean over 20 replicates of the reduced model is within BASS_TOLERANCE of F(t) at every step of 15 years."""
    curve = bass_docking(p, q, replicates=20)
    assert len(curve) == 151
    assert curve["error"].abs().max() <= BASS_TOLERANCE
    # The curve is a real S-curve, not a trivially small one: it passes its midpoint.
    assert curve["simulated"].iloc[-1] > 0.9
