"""Validated input data: the teacher-survey CSV loader, its statistics and the per-school trait
distributions a survey implies (passed to the model, which never reads files itself)."""

from sim.inputs.build import build_model

__all__ = ["build_model"]
