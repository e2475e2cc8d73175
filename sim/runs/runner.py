"""Run many simulations with reproducible seeds, on any executor.

Replicate seeds come from ``numpy.random.SeedSequence``. With
:func:`replicate_seed` they depend only on the base seed and the replicate
number, so every scenario sees the same seeds (common random numbers); with a
``key`` (:func:`run_seed`) they also depend on the identity of the run's
parameter point. Either way a run's numbers do not depend on the number of
workers, the executor or the order in which runs finish.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from sim.config import COMBINE, ConfigError, scenario_presets  # noqa: F401 (re-exported)
from sim.runs.executors import auto_batch_size, batched, make_executor, resolve_workers  # noqa: F401 (re-export)
from sim.runs.posterior import Posterior, fixed_parameters, refuse_fixed

# Hydra's compose API keeps global state: compose one configuration at a time
# when runs execute in threads (e.g. a Dask worker with several threads).
_CONFIG_LOCK = threading.Lock()


@dataclass(frozen=True)
class RunSpec:
    """One simulation.

    Attributes
    ----------
    scenario : str
        Scenario label: presets joined by ``+`` (``"clear_problems+flexibility"``).
    replicate, seed : int
        Replicate number and the seed derived for it.
    overrides : tuple of str
        Hydra overrides applied when composing the configuration.
    values : tuple of (str, value)
        Parameter values set on the composed configuration (dotted paths); a
        sweep's varied parameters, set directly so that each new point does
        not pay for a Hydra compose.
    """

    scenario: str
    replicate: int
    seed: int
    overrides: tuple[str, ...] = ()
    values: tuple[tuple[str, Any], ...] = ()


def replicate_seed(base_seed: int, replicate: int) -> int:
    """Seed of a replicate, derived with ``numpy.random.SeedSequence``."""
    ss = np.random.SeedSequence(int(base_seed), spawn_key=(int(replicate),))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def comparison_specs(labels: Sequence[str], replicates: int, base_seed: int, overrides: Sequence[str] = (),
                     posterior: Posterior | None = None) -> tuple[list[RunSpec], dict[int, int]]:
    """The runs of a scenario comparison, and the posterior row each replicate drew (none without a posterior).

    Replicate ``r`` has the same seed, and the same posterior row, in every scenario, so differences
    between scenarios stay paired. A posterior that draws a parameter the overrides or a preset set is
    refused (:func:`sim.runs.posterior.refuse_fixed`).
    """
    reps = range(int(replicates))
    if posterior is not None:
        refuse_fixed(posterior, fixed_parameters(labels, overrides))
    draws = {r: posterior.draw_index(int(base_seed), r) for r in reps} if posterior else {}
    specs = [RunSpec(label, r, replicate_seed(base_seed, r), tuple(overrides),
                     posterior.row(draws[r]) if posterior else ())
             for label in labels for r in reps]
    return specs, draws


def run_seed(base_seed: int, replicate: int, key: int | None = None) -> int:
    """Seed of a run: :func:`replicate_seed`, or keyed also to a run identity ``key``.

    ``key`` is a non-negative integer (e.g. a hash of the scenario and parameter
    point); ``SeedSequence(base_seed, spawn_key=(key, replicate))`` gives
    statistically independent streams for distinct keys.
    """
    if key is None:
        return replicate_seed(base_seed, replicate)
    ss = np.random.SeedSequence(int(base_seed), spawn_key=(int(key), int(replicate)))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


@functools.lru_cache(maxsize=64)
def _base_config(scenario: str, overrides: tuple[str, ...]) -> dict:
    from sim.config import load_config

    with _CONFIG_LOCK:
        return OmegaConf.to_container(load_config(scenario_presets(scenario), overrides), resolve=True)


def run_config(spec: RunSpec) -> dict:
    """The validated configuration of a run (presets, overrides, then values) as a plain dict.

    The composed configuration of each (scenario, overrides) is cached per
    process, so a worker composes it once however many runs it executes.
    """
    from sim.config import _check_value, parameter_specs  # the one implementation of the allowed-value rule

    cfg = copy.deepcopy(_base_config(spec.scenario, tuple(spec.overrides)))
    specs = parameter_specs()
    for path, value in spec.values:
        if path not in specs:
            raise ConfigError(f"Unknown parameter '{path}'.")
        _check_value(specs[path], value)  # the rest of the configuration was validated when composed
        *parents, leaf = path.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        node[leaf] = copy.deepcopy(value)
    return cfg


def run_spec(spec: RunSpec) -> pd.DataFrame:
    """Run one simulation; the district time series with scenario, replicate and seed columns."""
    from sim.inputs import build_model

    df = build_model(run_config(spec), seed=spec.seed, validate_config=False).run()
    df.insert(0, "seed", spec.seed)
    df.insert(0, "replicate", spec.replicate)
    df.insert(0, "scenario", spec.scenario)
    return df


def quiet_model_logs() -> None:
    """Keep Mesa's per-step INFO messages out of the logs of batch runs.

    Mesa sets its ``MESA`` logger to DEBUG and logs every ``model.step`` at INFO;
    under an application that configures logging (Hydra does) that floods the
    console and costs time in every worker.
    """
    logging.getLogger("MESA").setLevel(logging.WARNING)


def run_specs(specs: Sequence[RunSpec]) -> list[pd.DataFrame]:
    """Run a batch of simulations one after the other (the unit of work sent to a worker)."""
    quiet_model_logs()
    return [run_spec(s) for s in specs]


def run_many(specs: Sequence[RunSpec], workers: int = 0, progress: bool = True, *, executor: str = "local",
             address: str | None = None, batch_size: int = 0) -> Iterator[pd.DataFrame]:
    """Yield each run's frame as its batch completes (in completion order).

    Runs are grouped in batches (``batch_size``; 0 chooses one from the number
    of runs and workers) and executed by :func:`sim.runs.executors.make_executor`.
    The caller can stop early (e.g. on Ctrl-C) and keep what was already
    yielded; pending batches are cancelled.
    """
    if not specs:
        return
    with make_executor(executor, min(resolve_workers(workers), len(specs)), address) as ex:
        size = batch_size or auto_batch_size(len(specs), ex.slots)
        bar = tqdm(total=len(specs), disable=not progress, unit="run", desc="simulating")
        try:
            for _, frames in ex.map_unordered(run_specs, batched(specs, size)):
                for frame in frames:
                    yield frame
                    bar.update()
        finally:
            bar.close()
