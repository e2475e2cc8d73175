"""Complex contagion: clustered networks spread it further than random ones (Centola 2010).

Configuration: :func:`sim.validation.contagion_overrides` (10 schools of 100
teachers, degree k, no spontaneous experimentation, no abandonment), seeded
with one teacher and her colleagues per school, 40 months, 20 replicates.
"""

from __future__ import annotations

import pytest

from sim.validation.docking import CONTAGION_CASES, contagion_spread
from sim.validation.replicates import paired_ci


@pytest.mark.parametrize(("degree", "threshold"), CONTAGION_CASES)
def test_complex_contagion_spreads_further_on_clustered_networks(degree, threshold):
    kw = {"degree": degree, "threshold": threshold, "contagion": "complex"}
    clustered = contagion_spread("watts_strogatz", 20, **kw)
    random = contagion_spread("random_regular", 20, **kw)
    assert paired_ci(clustered, random).lo > 0.15, "clustered lattice ahead by over 15 points of adoption"


def test_simple_contagion_spreads_further_on_random_networks():
    """The contrast that makes the complex result meaningful: simple contagion favours random ties."""
    kw = {"degree": 6, "contagion": "simple"}
    clustered = contagion_spread("watts_strogatz", 20, **kw)
    random = contagion_spread("random_regular", 20, **kw)
    assert paired_ci(random, clustered).lo > 0.15
