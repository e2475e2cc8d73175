"""Two small extensions of pyabc used by :mod:`sim.calibration.calibrate`.

:class:`SeededMappingSampler`, a reproducible sampler (static scheduling with
one seed per particle task), and :class:`FixedRegressionSumstat`, regression
summaries fitted once on a pilot sample.

pyabc's parallel samplers (multicore, Dask) reseed their workers from OS
entropy, so two runs of the same calibration differ. :class:`SeededMappingSampler`
maps particle tasks over any ordered ``map`` (a process pool, a Dask client,
or the built-in ``map``); task ``k`` of generation ``t`` seeds numpy and
``random`` from ``SeedSequence(seed, spawn_key=(t + 1,))`` and samples until
it accepts one particle. The accepted population therefore depends only on
the seed, not on the executor, the number of workers or the order in which
tasks finish; and a calibration resumed from its database continues exactly
as an uninterrupted one would.
"""

from __future__ import annotations

import functools
import random

import numpy as np
from pyabc.predictor import LinearPredictor
from pyabc.sampler import MappingSampler
from pyabc.sumstat import PredictorSumstat, Sumstat
from pyabc.util import EventIxs, dict2arr


class SeededMappingSampler(MappingSampler):
    """pyabc ``MappingSampler`` with seeded tasks.

    Parameters
    ----------
    map_ : callable
        Ordered map, ``map_(fn, items) -> iterable of results``.
    seed : int
        Base seed of the calibration.
    max_tries : int
        Simulations a task may spend on one particle before giving up (the
        generation then fails and the calibration stops with a message).
    """

    def __init__(self, map_, seed: int, max_tries: int):
        super().__init__(map_=map_)
        self.seed, self.max_tries = int(seed), int(max_tries)

    def __getstate__(self):
        return (*super().__getstate__(), self.max_tries)

    def __setstate__(self, state):
        *base, self.max_tries = state
        super().__setstate__(tuple(base))

    def map_function(self, simulate_one, task_seed):
        """Sample (in a worker) until one particle is accepted or ``max_tries`` is reached."""
        simulate_one = self.unpickle(simulate_one)
        np.random.seed(task_seed)
        random.seed(task_seed)
        sample, tries = self._create_empty_sample(), 0
        while tries < self.max_tries:
            new = simulate_one()
            tries += 1
            sample.append(new)
            if new.accepted:
                break
        return sample, tries

    def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False,  # noqa: ARG002
                                ana_vars=None):  # noqa: ARG002
        seeds = np.random.SeedSequence(self.seed, spawn_key=(int(t) + 1,)).generate_state(n).tolist()
        task = functools.partial(self.map_function, self.pickle(simulate_one))
        sample, total = self._create_empty_sample(), 0
        for part, tries in self.map_(task, seeds):
            sample += part
            total += tries
        self.nr_evaluations_ = total
        if sample.n_accepted < n:
            sample.ok = False
        return sample


class FixedRegressionSumstat(PredictorSumstat):
    """Semi-automatic ABC summaries (Fearnhead & Prangle 2012) fitted once, outside the run.

    A linear regression of the parameters on the survey statistics, fitted on
    a pilot sample from the prior, maps each simulated survey to predicted
    parameter values. Each prediction is divided by its residual standard
    deviation on the pilot, so the distance counts a parameter the statistics
    pin down precisely (say, mean capacity from the capacity item) in units of
    its small uncertainty, and a weakly informed one (its predictions mostly
    noise) hardly at all. The regression is never refitted, so every
    generation, and a resumed calibration, compares simulations in the same
    space; unlike pyabc's ``PredictorSumstat`` it needs no calibration sample
    when a run starts.

    Parameters
    ----------
    stats : ndarray (n_pilot, n_statistics)
        Pilot statistics, columns in the order of the observed statistics dict.
    params : ndarray (n_pilot, n_parameters)
        Pilot parameters, columns in ``parameter_keys`` order.
    parameter_keys : list of str
    """

    def __init__(self, stats: np.ndarray, params: np.ndarray, parameter_keys: list[str]):
        stats, params = np.asarray(stats, float), np.asarray(params, float)
        predictor = LinearPredictor()
        predictor.fit(stats, params)
        super().__init__(predictor, fit_ixs=EventIxs(), fitted=True)
        self.par_trafo.initialize(keys=list(parameter_keys))
        residual = predictor.predict(stats, normalize=False) - params
        #: residual standard deviation of each parameter's prediction (parameter units)
        self.residual_sd = np.maximum(residual.std(axis=0), 1e-12)

    def initialize(self, t, get_sample, x_0, total_sims) -> None:
        Sumstat.initialize(self, t=t, get_sample=get_sample, x_0=x_0, total_sims=total_sims)

    def __call__(self, data):
        predicted = self.predictor.predict(np.atleast_2d(dict2arr(data, self.x_keys)), normalize=False)
        return (predicted.flatten() / self.residual_sd).flatten()
