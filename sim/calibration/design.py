"""The model's answers to a survey with the observed design (what calibration compares).

:class:`SurveySimulator` runs the district model with given parameter values
and surveys it like the real survey was taken: same waves, same number of
teacher respondents per school, same missing answers; then summarises the
answers with the same statistics as the observed survey.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from sim.calibration.experiment import Experiment, _need
from sim.config import load_config
from sim.district.survey import latents, likert
from sim.inputs import build_model
from sim.inputs.survey import SurveyData, school_codes, statistics_rows


@dataclass(frozen=True)
class SurveyDesign:
    """Who answered what in the observed survey: what every simulated survey reproduces.

    Attributes
    ----------
    waves : ndarray of int
        Wave (model step) of each teacher respondent.
    schools : ndarray of int
        Model school of each respondent (observed schools in order of appearance).
    missing : dict
        Item -> boolean mask of missing answers.
    """

    waves: np.ndarray
    schools: np.ndarray
    missing: dict[str, np.ndarray]

    @classmethod
    def from_survey(cls, data: SurveyData, items: Sequence[str]) -> SurveyDesign:
        frame = teacher_rows(data)
        return cls(waves=frame["wave"].to_numpy(np.int64), schools=school_codes(frame),
                   missing={i: frame[i].isna().to_numpy() for i in items})

    def check(self, n_schools: int, teachers_per_school: int, where: str) -> None:
        """Refuse a model district too small to reproduce the design."""
        n_obs = int(self.schools.max()) + 1
        _need(n_obs <= n_schools, where,
              f"the survey covers {n_obs} schools but the model district has district.schools={n_schools}; "
              f"set district.schools to at least {n_obs} under 'fixed'.")
        most = max(int(np.bincount(self.schools[self.waves == w]).max()) for w in np.unique(self.waves))
        _need(most <= teachers_per_school, where,
              f"a school has {most} respondents in one wave but the model has district.teachers_per_school="
              f"{teachers_per_school}; set it to at least {most} under 'fixed'.")


def teacher_rows(data: SurveyData) -> pd.DataFrame:
    """The survey's teacher respondents (the model surveys teachers; other roles are reported, not used)."""
    return data.frame[data.frame["role"] == "teacher"].reset_index(drop=True)


def set_dotted(cfg: dict, key: str, value: Any) -> None:
    """Set ``cfg['a']['b'] = value`` for ``key = 'a.b'``."""
    *path, last = key.split(".")
    for k in path:
        cfg = cfg[k]
    cfg[last] = value


@dataclass
class SurveySimulator:
    """The model as pyabc sees it: parameters -> summary statistics of a simulated survey.

    Picklable (sent to worker processes or Dask). The simulation seed is drawn
    from numpy's global generator, which the sampler seeds per task, so a
    calibration is reproducible.
    """

    base: dict
    design: SurveyDesign
    statistics: dict[str, tuple[str, ...]]

    def survey(self, params: dict[str, float], seed: int) -> dict[str, np.ndarray]:
        """Run the model with ``params`` and answer the observed design; item -> answers (NaN = missing)."""
        cfg = copy.deepcopy(self.base)
        for key, value in params.items():
            set_dotted(cfg, key, float(value))
        ss = np.random.SeedSequence(int(seed))
        model_seed, survey_seed = ss.generate_state(2)
        model = build_model(cfg, seed=int(model_seed), validate_config=False)
        rng = np.random.default_rng(np.random.SeedSequence(int(survey_seed)))
        d, tps = self.design, model.p.district.teachers_per_school
        answers = {item: np.full(d.waves.size, np.nan) for item in self.statistics}
        for wave in np.unique(d.waves):
            model.run(int(wave) - model.steps)
            lat = latents(model)
            rows = np.flatnonzero(d.waves == wave)
            who = np.empty(rows.size, dtype=np.int64)
            for school in np.unique(d.schools[rows]):
                r = rows[d.schools[rows] == school]
                who[np.searchsorted(rows, r)] = school * tps + rng.choice(tps, size=r.size, replace=False)
            for item in self.statistics:
                answers[item][rows] = likert(lat[item].to_numpy()[who], model.p.survey.noise_sd, rng)
        for item in self.statistics:
            answers[item][d.missing[item]] = np.nan
        return answers

    def statistics_of(self, answers: dict[str, np.ndarray]) -> dict[str, float]:
        return {name: float(v) for *_, v, name in
                statistics_rows(self.design.waves, self.design.schools, answers, self.statistics)}

    def __call__(self, params: dict[str, float]) -> dict[str, float]:
        seed = int(np.random.randint(0, 2**32 - 1, dtype=np.uint64))
        return self.statistics_of(self.survey(dict(params), seed))


def make_simulator(exp: Experiment, data: SurveyData) -> SurveySimulator:
    """The simulator of an experiment for a survey (validates the district against the design)."""
    cfg = load_config(list(exp.scenario), exp.overrides())
    base = OmegaConf.to_container(cfg, resolve=True)
    design = SurveyDesign.from_survey(data, list(exp.statistics))
    design.check(base["district"]["schools"], base["district"]["teachers_per_school"], str(exp.path))
    return SurveySimulator(base=base, design=design, statistics=exp.statistics)


def observed_statistics(exp: Experiment, data: SurveyData) -> dict[str, float]:
    """Summary statistics of the survey's teacher answers for the experiment's items."""
    missing = [i for i in exp.statistics if i not in data.items]
    _need(not missing, str(exp.path), f"the experiment compares item(s) {', '.join(missing)} that the survey "
                                      f"{data.path} does not have; its items are {', '.join(data.items)}.")
    frame = teacher_rows(data)
    _need(len(frame) > 0, str(data.path), "has no respondent with role 'teacher'; the model surveys teachers.")
    answers = {i: frame[i].to_numpy(dtype=float, na_value=np.nan) for i in exp.statistics}
    observed = {name: float(v) for *_, v, name in
                statistics_rows(frame["wave"].to_numpy(), school_codes(frame), answers, exp.statistics)}
    nan = [k for k, v in observed.items() if not np.isfinite(v)]
    _need(not nan, str(data.path), f"statistic(s) {', '.join(nan)} cannot be computed (no teacher answered the "
                                   "item in that wave); remove the item from the experiment's statistics.")
    return observed



def simulate_statistics(args: tuple[SurveySimulator, dict[str, float], int]) -> dict[str, float]:
    """Statistics of one simulated survey; ``args`` = (simulator, parameter values, seed). Picklable task."""
    simulator, params, seed = args
    return simulator.statistics_of(simulator.survey(params, seed))
