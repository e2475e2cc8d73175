"""Validation of the model: replicated runs with intervals, the stylized facts SF1-SF8, docking with
diffusion theory (Bass, complex contagion), the lever factorial, and the report (``sim-validate``).

``sim.validation.bass_overrides`` is part of the public API.
"""

from sim.validation.docking import bass_overrides

__all__ = ["bass_overrides"]
