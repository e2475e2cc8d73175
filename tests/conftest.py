"""Shared fixtures: small, fast districts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from sim.config import REPO_ROOT, load_config
from sim.district.model import DistrictModel

SMALL = ("district.schools=6", "district.teachers_per_school=12", "steps=20")


def small_model(*overrides: str, seed: int = 0, scenario="baseline") -> DistrictModel:
    """A 6-school x 12-teacher model (plus ``overrides``)."""
    return DistrictModel(load_config(scenario, [*SMALL, *overrides]), seed=seed)


def pytest_collection_modifyitems(config, items):
    """Start the tests marked ``slow`` first (the sort is stable, so the rest keep their order).

    With ``-n 2`` each worker then ends on short tests, instead of one running a two-minute test alone
    while the other has finished: the same tests and assertions, in less wall time.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def model() -> DistrictModel:
    return small_model()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def run_module(module: str, *args: str, cwd, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` with this checkout first on the path (installed or not)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT.

    A pytest-xdist worker may ignore SIGINT, and an ignored signal is inherited;
    this gives the child the default disposition a user's terminal gives it, so
    Python turns SIGINT into KeyboardInterrupt.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
