"""Run many (scenario, replicate) simulations in parallel with reproducible seeds.

Replicate seeds come from ``numpy.random.SeedSequence(base_seed, spawn_key=(replicate,))``:
they depend only on the base seed and the replicate number, so every scenario
sees the same seeds (common random numbers) and results do not depend on the
number of workers or the order in which runs finish.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

COMBINE = "+"


@dataclass(frozen=True)
class RunSpec:
    """One simulation: a scenario (presets joined by ``+``), a replicate and its seed."""

    scenario: str
    replicate: int
    seed: int
    overrides: tuple[str, ...] = ()


def replicate_seed(base_seed: int, replicate: int) -> int:
    """Seed of a replicate, derived with ``numpy.random.SeedSequence``."""
    ss = np.random.SeedSequence(int(base_seed), spawn_key=(int(replicate),))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def scenario_presets(label: str) -> list[str]:
    """Preset names of a scenario label (``"a+b"`` combines presets a then b)."""
    return label.split(COMBINE)


def run_spec(spec: RunSpec) -> pd.DataFrame:
    """Run one simulation; the district time series with scenario, replicate and seed columns."""
    from sim.api import simulate

    df = simulate(scenario_presets(spec.scenario), seed=spec.seed, overrides=spec.overrides)
    df.insert(0, "seed", spec.seed)
    df.insert(0, "replicate", spec.replicate)
    df.insert(0, "scenario", spec.scenario)
    return df


def resolve_workers(workers: int) -> int:
    """0 means all cores."""
    return os.cpu_count() or 1 if workers <= 0 else workers


def run_many(specs: Sequence[RunSpec], workers: int = 0, progress: bool = True) -> Iterator[pd.DataFrame]:
    """Yield each run's frame as it completes (in completion order).

    With one worker the runs execute in this process. The caller can stop
    early (e.g. on Ctrl-C) and keep what was already yielded.
    """
    workers = min(resolve_workers(workers), max(1, len(specs)))
    bar = tqdm(total=len(specs), disable=not progress, unit="run", desc="simulating")
    try:
        if workers == 1:
            for spec in specs:
                yield run_spec(spec)
                bar.update()
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(run_spec, s) for s in specs}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
                        bar.update()
            finally:
                for fut in pending:
                    fut.cancel()
    finally:
        bar.close()
