"""Neural posterior estimation (``method: npe``) with sbi: prior simulations, training, posterior draws.

NPE (Papamakarios & Murray 2016; Greenberg et al. 2019; sbi, Tejero-Cantero et al.
2020) trains a conditional density estimator q(theta | x) on simulations from the
prior and conditions it on the observed summaries; for a cases experiment x is
each calibration target's deviation in tolerances and the observation is all
zeros (every target inside its published range), as in the pattern distance.

Simulation ``i`` of an experiment draws its parameters and its seed from its own
``numpy.random.SeedSequence(seed, spawn_key=(NPE_KEY, i, ...))``, so it does not
depend on the number of workers, the executor, the chunking or on how many
simulations are asked for: a larger ``npe.simulations`` adds simulations. They are
saved in chunks to ``DIR/simulations/`` as they finish; a rerun simulates only
the missing ones. Training and sampling are seeded from the same seed and run
with :data:`TORCH_THREADS` torch threads, so the same experiment gives the same
posterior sample in any process. sbi and torch are imported only here, on use
(the ``npe`` extra: ``pip install -e ".[npe]"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibration.experiment import Experiment
from sim.config import ConfigError
from sim.files import atomic_path

NPE_KEY = 60_000  # SeedSequence spawn key of the prior simulations (per simulation: (NPE_KEY, i, 0 draw / 1 seed))
TRAIN_KEY = 60_001  # torch's seed for training
SAMPLE_KEY = 60_002  # torch's seed for the posterior draws
#: torch threads during training and sampling: fixed, so the result does not depend on the machine's cores.
TORCH_THREADS = 1
SIMULATIONS_DIR = "simulations"


def require_sbi(where: str) -> None:
    """Raise ConfigError (one paragraph, exit 2 from the tools) when sbi is not installed."""
    try:
        import sbi  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{where}: method npe (neural posterior estimation) needs the sbi package, which is not installed. "
            'Install the package with its npe extra: pip install -e ".[npe]" (it brings torch, a download of '
            "several gigabytes), or use method abc.") from None


# -- prior simulations ------------------------------------------------------------------------

def prior_draws(exp: Experiment, indices: list[int] | range) -> tuple[pd.DataFrame, list[int]]:
    """Parameters (one row per simulation index, a column per free parameter) and simulation seeds."""
    rvs = {k: p.rv() for k, p in exp.free.items()}
    rows, seeds = [], []
    for i in indices:
        rng = np.random.default_rng(np.random.SeedSequence(exp.seed, spawn_key=(NPE_KEY, int(i), 0)))
        rows.append({k: float(rv.rvs(random_state=rng)) for k, rv in rvs.items()})
        seeds.append(int(np.random.SeedSequence(exp.seed, spawn_key=(NPE_KEY, int(i), 1)).generate_state(1)[0]))
    return pd.DataFrame(rows, columns=list(exp.free), index=list(indices)), seeds


def stored_simulations(folder: Path, names: list[str]) -> pd.DataFrame:
    """Finished simulations in ``folder`` (index -> summaries); damaged or foreign files are ignored."""
    frames = []
    for path in sorted(folder.glob("sims_*.csv")):
        try:
            df = pd.read_csv(path)
            frames.append(df.set_index("index")[names])
        except (ValueError, KeyError, UnicodeDecodeError, pd.errors.ParserError):
            continue  # written atomically, so only a file from elsewhere can be damaged: simulate it again
    if not frames:
        return pd.DataFrame(columns=names, dtype=float)
    df = pd.concat(frames)
    return df[~df.index.duplicated()].sort_index()


def simulate_prior(exp: Experiment, simulate: Callable, simulator: Any, ex, folder: Path, names: list[str],
                   say: Callable = print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the first ``npe.simulations`` prior draws not yet in ``folder``, saving each chunk as it ends.

    ``simulate`` is the picklable task ``(simulator, params, seed) -> summaries`` and ``ex`` an
    :class:`sim.calibration.calibrate.Executor`. Returns (parameters, summaries), one row per
    simulation in index order, read back from the saved files (so a resumed run trains on exactly
    what an uninterrupted one does). Ctrl-C or a failure keeps every finished chunk.
    """
    n, chunk = exp.npe.simulations, exp.npe.chunk
    folder.mkdir(parents=True, exist_ok=True)
    done = stored_simulations(folder, names)
    missing = [i for i in range(n) if i not in done.index]
    if len(done.index.intersection(range(n))):
        say(f"{n - len(missing)} of {n} prior simulations are stored in {folder}; simulating the other "
            f"{len(missing)}.", flush=True)
    start = time.perf_counter()
    for k in range(0, len(missing), chunk):
        idx = missing[k:k + chunk]
        params, seeds = prior_draws(exp, idx)
        sims = pd.DataFrame(ex.map(simulate, [(simulator, row, s) for row, s in
                                              zip(params.to_dict("records"), seeds)]), index=idx)[names]
        table = pd.concat([params, sims], axis=1).rename_axis("index").reset_index()
        with atomic_path(folder / f"sims_{idx[0]:07d}_{idx[-1]:07d}.csv") as tmp:
            table.to_csv(tmp, index=False)
        finished = n - len(missing) + k + len(idx)
        say(f"prior simulations: {finished}/{n} ({time.perf_counter() - start:.0f} s)", flush=True)
    x = stored_simulations(folder, names).loc[list(range(n))]
    theta, _ = prior_draws(exp, range(n))
    return theta, x


# -- training and sampling ----------------------------------------------------------------------

@dataclass
class TrainingLog:
    """sbi's training metrics, kept in memory (an sbi tracker: sbi writes no TensorBoard logs with it)."""

    rows: list[dict[str, Any]]

    @property
    def log_dir(self) -> None:
        return None

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        self.rows.append({"metric": name, "step": step, "value": float(value)})

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for name, value in metrics.items():
            self.log_metric(name, value, step)

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def add_figure(self, name: str, figure: Any, step: int | None = None) -> None:
        pass

    def flush(self) -> None:
        pass

    def table(self) -> pd.DataFrame:
        """One row per epoch: training and validation loss (sbi's negative log-probability per draw)."""
        df = pd.DataFrame(self.rows, columns=["metric", "step", "value"])
        df = df[df["metric"].isin(["training_loss", "validation_loss"])]
        if df.empty:
            return pd.DataFrame(columns=["epoch", "training_loss", "validation_loss"])
        wide = df.pivot_table(index="step", columns="metric", values="value", aggfunc="last")
        return wide.rename_axis(None, axis=1).reset_index().rename(columns={"step": "epoch"})


@contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)


def _torch_seed(exp: Experiment, key: int) -> int:
    return int(np.random.SeedSequence(exp.seed, spawn_key=(key,)).generate_state(1)[0])


@dataclass
class NpeFit:
    """A trained estimator: its sbi posterior, the training log, and the epochs trained."""

    posterior: Any
    log: TrainingLog
    epochs: int
    seconds: float
    transform: str = "none"


def _bounds(exp: Experiment) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p.low for p in exp.free.values()], float), np.array([p.high for p in exp.free.values()], float))


def to_unbounded(exp: Experiment, theta: np.ndarray) -> np.ndarray:
    """Parameters in the logit space of their uniform priors: logit((theta - low) / (high - low))."""
    low, high = _bounds(exp)
    u = np.clip((theta - low) / (high - low), 1e-6, 1 - 1e-6)
    return np.log(u) - np.log1p(-u)


def from_unbounded(exp: Experiment, z: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_unbounded`: low + (high - low) * sigmoid(z), always inside the prior's box."""
    low, high = _bounds(exp)
    return low + (high - low) / (1.0 + np.exp(-z))


def _prior(exp: Experiment, torch):
    """sbi's prior: the box of the uniform priors, or (``logit``) its image in the unbounded space."""
    from sbi.utils import BoxUniform

    low, high = (torch.tensor(b, dtype=torch.float32) for b in _bounds(exp))
    box = BoxUniform(low, high)
    if exp.npe.transform == "none":
        return box
    from torch.distributions import AffineTransform, ComposeTransform, SigmoidTransform, TransformedDistribution

    to_box = ComposeTransform([SigmoidTransform(), AffineTransform(low, high - low)])
    return TransformedDistribution(box, [to_box.inv])


def train(exp: Experiment, theta: pd.DataFrame, x: pd.DataFrame) -> NpeFit:
    """Train sbi's NPE on (theta, x) with the experiment's settings, deterministically (seeded, fixed threads).

    With ``npe.transform: none`` (default, sbi's) the estimator learns the parameters as they are, inside
    sbi's box prior; with ``logit`` it learns them in the logit space of their uniform priors and its draws
    are mapped back (it then follows a posterior that piles up at a prior bound more closely, but on the
    cases calibration its posterior runs met the targets less often: docs/calibration.md).
    """
    import contextlib
    import io
    import logging

    from sbi.inference import NPE

    logging.getLogger("sbi").setLevel(logging.ERROR)
    s = exp.npe
    start = time.perf_counter()
    with _torch_threads(TORCH_THREADS) as torch:
        torch.manual_seed(_torch_seed(exp, TRAIN_KEY))
        log = TrainingLog([])
        inference = NPE(prior=_prior(exp, torch), density_estimator=s.estimator, show_progress_bars=False,
                        tracker=log)
        params = theta[list(exp.free)].to_numpy(float)
        params = params if s.transform == "none" else to_unbounded(exp, params)
        inference.append_simulations(torch.tensor(params, dtype=torch.float32),
                                     torch.tensor(x.to_numpy(float), dtype=torch.float32))
        with contextlib.redirect_stdout(io.StringIO()):  # sbi prints "converged after N epochs"; we report it
            inference.train(training_batch_size=s.batch_size, learning_rate=s.learning_rate,
                            stop_after_epochs=s.stop_after_epochs,
                            max_num_epochs=s.max_epochs or 2**31 - 1, show_train_summary=False)
        posterior = inference.build_posterior()
    epochs = int(inference.summary["epochs_trained"][-1]) if inference.summary.get("epochs_trained") else 0
    return NpeFit(posterior, log, epochs, time.perf_counter() - start, exp.npe.transform)


def draw(exp: Experiment, fit: NpeFit, observed: dict[str, float]) -> pd.DataFrame:
    """``npe.draws`` posterior draws given the observed summaries, with equal weights (column ``weight``)."""
    with _torch_threads(TORCH_THREADS) as torch:
        torch.manual_seed(_torch_seed(exp, SAMPLE_KEY))
        x_o = torch.tensor([list(observed.values())], dtype=torch.float32)
        samples = fit.posterior.sample((exp.npe.draws,), x=x_o, show_progress_bars=False).numpy().astype(float)
    if fit.transform == "logit":
        samples = from_unbounded(exp, samples)
    sample = pd.DataFrame(samples, columns=list(exp.free))
    sample["weight"] = 1.0 / len(sample)
    return sample
