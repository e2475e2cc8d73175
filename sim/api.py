"""Python entry points: run a scenario, take a virtual survey."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from sim.config import load_container
from sim.district.survey import survey
from sim.inputs import build_model

LEVELS = ("district", "school", "teacher")


def simulate(scenario: str | Sequence[str] = "baseline", *, seed: int = 0, overrides: Sequence[str] = (),
             level: str = "district", every: int = 1) -> pd.DataFrame:
    """Run one scenario and return its outputs as a tidy DataFrame.

    Parameters
    ----------
    scenario : str or sequence of str
        Preset name(s) in ``scenarios/scenario/`` (several are applied in order).
    seed : int
        Master seed; the same seed and config give identical frames.
    overrides : sequence of str
        Hydra override strings, e.g. ``["district.schools=10", "steps=24"]``.
    level : {"district", "school", "teacher"}
        ``district`` (default): one row per step with the metrics of
        :data:`sim.district.metrics.METRICS`. ``school`` / ``teacher``: one row per
        school / teacher per recorded step (costlier; collected only on request).
    every : int
        For ``school`` and ``teacher`` levels, record every ``every`` steps (and the last).

    Returns
    -------
    pandas.DataFrame
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    if every < 1:
        raise ValueError(f"every must be a positive integer; got {every!r}")
    model = build_model(load_container(scenario, overrides), seed=seed, validate_config=False)
    if level == "district":
        return model.run()
    table = model.school_table if level == "school" else model.teacher_table
    frames = [table()]
    for _ in range(model.p.steps):
        model.step()
        if model.steps % every == 0 or model.steps == model.p.steps:
            frames.append(table())
    return pd.concat(frames, ignore_index=True)


def virtual_survey(scenario: str | Sequence[str] = "baseline", *, seed: int = 0, overrides: Sequence[str] = (),
                   step: int | None = None, n_respondents: int | None = None) -> pd.DataFrame:
    """Run the model to ``step`` (default: the end) and survey a sample of teachers.

    Returns one row per respondent with ``respondent_id``, ``district``,
    ``school``, ``teacher``, ``wave`` (the step), ``role`` and the Likert (1-5)
    items of :data:`sim.district.survey.ITEMS`.
    """
    model = build_model(load_container(scenario, overrides), seed=seed, validate_config=False)
    last = model.p.steps if step is None else int(step)
    if not 0 <= last:
        raise ValueError(f"step must be >= 0; got {step!r}")
    model.run(last)
    return survey(model, n_respondents)
