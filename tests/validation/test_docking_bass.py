"""Docking with the Bass diffusion model (docs/validation.md, "Bass docking")."""

from __future__ import annotations

import numpy as np
import pytest

from sim.validation.docking import BASS_CASES, BASS_TOLERANCE, bass_cdf, bass_docking, bass_recursion


def test_bass_recursion_approaches_the_analytic_curve_as_the_step_shrinks():
    t = np.arange(151) * 0.1
    coarse = np.abs(bass_recursion(0.03, 0.38, 150, 0.1) - bass_cdf(t, 0.03, 0.38)).max()
    fine = np.abs(bass_recursion(0.03, 0.38, 1500, 0.01)[::10] - bass_cdf(t, 0.03, 0.38)).max()
    assert fine < coarse / 5 and coarse < 0.015


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
    # Against the discrete-time recursion the model implements, only finite-population noise is left
    # (about 0.01 for the mean of 20 runs of 500 teachers).
    assert curve["recursion_error"].abs().max() <= 0.02
    # The curve is a real S-curve, not a trivially small one: it passes its midpoint.
    assert curve["simulated"].iloc[-1] > 0.9
