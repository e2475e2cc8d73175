"""Validation of the model: replicated runs with intervals, the stylized facts SF1-SF8, docking with
diffusion theory (Bass, Granovetter's thresholds, complex contagion), the lever factorial, the
ablation of the mechanisms behind each fact, the same checks and the presets' effects over the
calibration's posterior (``sim.validation.predictive``), what carries the checks the posterior leaves open
(``sim.validation.attribution``), what teacher surveys would settle (``sim.validation.settle``), and the
report (``sim-validate``).

``sim.validation.bass_overrides`` and ``sim.validation.granovetter_overrides`` are part of the public API.
"""

from sim.validation.docking import bass_overrides, granovetter_overrides

__all__ = ["bass_overrides", "granovetter_overrides"]
