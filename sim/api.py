"""Python entry points: run a scenario, take a virtual survey."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import pandas as pd

from sim.config import ConfigError, load_container
from sim.district.survey import survey
from sim.inputs import build_model

LEVELS = ("district", "school", "teacher")
#: Largest seed (seeds are 32-bit, as the replicate seeds numpy.random.SeedSequence derives).
MAX_SEED = 2**32 - 1


def check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    """``value`` as an int if it is a whole number in [lo, hi] (not a float or bool); ConfigError otherwise.

    ``seed=1.5`` would otherwise run seed 1 silently.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo or (
            hi is not None and value > hi):
        allowed = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise ConfigError(f"Invalid {name}={value!r}: allowed is {allowed}.")
    return int(value)


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
    seed = check_int("seed", seed, 0, MAX_SEED)
    every = check_int("every", every, 1)
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
    seed = check_int("seed", seed, 0, MAX_SEED)
    if step is not None:
        check_int("step", step, 0)
    if n_respondents is not None:
        check_int("n_respondents", n_respondents, 1)
    model = build_model(load_container(scenario, overrides), seed=seed, validate_config=False)
    last = model.p.steps if step is None else int(step)
    model.run(last)
    return survey(model, n_respondents)
