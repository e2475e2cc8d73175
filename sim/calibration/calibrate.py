"""``sim-calibrate``: fit model parameters to a teacher survey, or to the real cases' patterns, with ABC-SMC (pyabc).

``sim-calibrate survey=PATH experiment=NAME out=DIR`` (also ``python -m
sim.calibration.calibrate``) reads a survey (schema: docs/survey.md) and
``experiments/NAME.yaml`` (free parameters with priors, fixed ones, the
statistics compared and the ABC settings), runs ABC-SMC generation by
generation with its history in ``DIR/history.db`` (rerunning the same command
resumes an interrupted calibration), and writes ``DIR/posterior.csv``,
``posterior_sample.csv``, ``marginals.png``, ``pairs.png``, the posterior
predictive check ``ppc.csv`` / ``ppc.png``, ``observed_statistics.csv``,
``calibration.yaml`` and ``provenance.yaml``. See docs/calibration.md.

Every simulation is the experiment's district model surveyed with the observed
design (same waves, same number of respondents per school, same missing
answers), summarised with :func:`sim.inputs.survey.statistics_rows`.

An experiment with ``cases: FILE`` instead (``sim-calibrate
experiment=calibrate_cases out=DIR``, no survey) fits the calibration
targets of a cases file (:mod:`sim.calibration.cases`): each simulation runs
the scenarios the targets name, a target's summary is its deviation from the
published value in tolerances, and the distance is their Euclidean norm
(pattern-oriented ABC). It also writes ``cases_ppc.csv``, the
posterior-predictive check of every target, held-out ones included.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from omegaconf import OmegaConf

from sim.args import did_you_mean, is_model_key, show_help, wants_help, yes_no
from sim.calibration.design import (
    SurveyDesign,
    SurveySimulator,
    make_simulator,
    observed_statistics,
    simulate_statistics,
)
from sim.calibration.experiment import (
    Experiment,
    _need,
    _number,
    available_experiments,
    check_settings,
    load_experiment,
    with_model_settings,
)
from sim.calibration.cases import Cases, CaseSimulator, load_cases, make_case_simulator, simulate_targets
from sim.config import ConfigError, parameter_specs, read_yaml
from sim.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, catch_ctrl_c, machine_failures
from sim.files import atomic_path, check_writable
from sim.inputs.survey import SurveyData, load_survey, split_name
from sim.runs.executors import resolve_workers

__all__ = ["calibrate", "CalibrationResult", "CalibrationInterrupted", "Executor", "load_experiment",
           "make_simulator", "observed_statistics", "SurveyDesign", "SurveySimulator", "main"]

_PPC_KEY = 10_000  # SeedSequence spawn key of the posterior predictive draws (generations use t + 1)


# -- sampling -----------------------------------------------------------------------------

def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Executor:
    """Where simulations run: this process, a local process pool, or a Dask cluster.

    Use as a context manager; :meth:`map` is an ordered ``map`` over the workers.
    """

    def __init__(self, kind: str, workers: int = 0, dask_address: str = ""):
        self.kind, self.workers, self.dask_address = kind, resolve_workers(workers), dask_address
        self.pool = self.client = self.cluster = None

    def __enter__(self) -> Executor:
        if self.kind == "processes" and self.workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # fork where available: workers inherit the loaded modules (mesa sets the default to spawn)
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
            self.pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_ignore_sigint)
        elif self.kind == "dask":
            from dask.distributed import Client, LocalCluster

            if self.dask_address:
                self.client = Client(self.dask_address)
            else:
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None)
                self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def map(self, fn: Callable, items: Sequence) -> list:
        items = list(items)
        if self.pool is not None:
            return list(self.pool.map(fn, items, chunksize=max(1, len(items) // (4 * self.workers))))
        if self.client is not None:
            return self.client.gather(self.client.map(fn, items, pure=False))
        return [fn(x) for x in items]

    def sampler(self, exp: Experiment):
        """The pyabc sampler for this executor and the experiment's scheduling."""
        max_tries = max(100, int(math.ceil(10 / exp.min_acceptance_rate))) if exp.min_acceptance_rate else 10**9
        if exp.scheduling == "static":
            from sim.calibration.pyabc_ext import SeededMappingSampler

            return SeededMappingSampler(self.map, exp.seed, max_tries)
        from pyabc.sampler import DaskDistributedSampler, MulticoreEvalParallelSampler, SingleCoreSampler

        if self.client is not None:
            return DaskDistributedSampler(dask_client=self.client, default_pickle=False)
        if self.workers > 1 and self.kind == "processes":
            return MulticoreEvalParallelSampler(n_procs=self.workers)
        return SingleCoreSampler()


# -- what is compared: a survey or the cases' patterns --------------------------------------

def observations(exp: Experiment, survey: str | Path | None) -> SurveyData | Cases:
    """The survey (survey experiments) or the cases file (``cases:`` experiments) a calibration fits."""
    if exp.cases:
        return load_cases(exp.cases)
    _need(bool(survey), "command line", f"experiment {exp.name} compares survey statistics: give survey=PATH.")
    return load_survey(survey)


def observed_summaries(exp: Experiment, data: SurveyData | Cases) -> dict[str, float]:
    """Observed summaries: survey statistics, or zero deviation for every calibration target."""
    if isinstance(data, Cases):
        return {t.id: 0.0 for t in data.select("calibration")}
    return observed_statistics(exp, data)


def simulator_for(exp: Experiment, data: SurveyData | Cases) -> SurveySimulator | CaseSimulator:
    """The experiment's simulator (picklable; called by pyabc with a parameter dict)."""
    if isinstance(data, Cases):
        return make_case_simulator(data, "calibration", exp.fixed)
    return make_simulator(exp, data)


def _simulate(args: tuple) -> dict[str, float]:
    """One simulation task (simulator, parameters, seed) for either kind of simulator."""
    return simulate_targets(args) if isinstance(args[0], CaseSimulator) else simulate_statistics(args)


# -- the calibration ----------------------------------------------------------------------

_PILOT_KEY = 20_000  # SeedSequence spawn key of the pilot sample


@dataclass
class Pilot:
    """Prior predictive sample that fits the regression summaries (semi-automatic ABC).

    ``params``: one row per draw from the prior; ``stats``: its simulated
    survey statistics. Stored in ``DIR/pilot.csv`` so a resumed calibration
    fits exactly the same regression.
    """

    params: pd.DataFrame
    stats: pd.DataFrame


def pilot_sample(exp: Experiment, simulator: SurveySimulator, ex: Executor, out: Path, names: list[str],
                 say: Callable = print) -> Pilot:
    """Draw ``abc.pilot`` parameter vectors from the prior and simulate them (or read ``DIR/pilot.csv``)."""
    path = out / "pilot.csv"
    keys = list(exp.free)
    if path.exists():
        try:
            df = pd.read_csv(path)
            if len(df) == exp.pilot:
                return Pilot(df[keys], df[names])
        except (ValueError, KeyError, UnicodeDecodeError):  # damaged: the pilot is deterministic, draw it again
            pass
    ss = np.random.SeedSequence(exp.seed, spawn_key=(_PILOT_KEY,))
    draw_ss, sim_ss = ss.spawn(2)
    rng = np.random.default_rng(draw_ss)
    params = pd.DataFrame({k: p.rv().rvs(size=exp.pilot, random_state=rng) for k, p in exp.free.items()})
    seeds = sim_ss.generate_state(exp.pilot).tolist()
    start = time.perf_counter()
    stats = pd.DataFrame(ex.map(_simulate, [(simulator, row, s) for row, s in
                                                  zip(params.to_dict("records"), seeds)]))[names]
    with atomic_path(path) as tmp:
        pd.concat([params, stats], axis=1).to_csv(tmp, index=False)
    say(f"pilot: {exp.pilot} simulations from the prior fit the regression summaries "
        f"({time.perf_counter() - start:.0f} s).", flush=True)
    return Pilot(params, stats)


def _abc(exp: Experiment, simulator: SurveySimulator, sampler, t: int, pilot: Pilot | None,
         observed: dict[str, float]):
    """The ABCSMC object for generation ``t`` (a new one per generation: see :func:`calibrate`).

    ``regression`` distance: Euclidean distance between regression summaries
    (:class:`sim.calibration.pyabc_ext.FixedRegressionSumstat` fitted on the pilot); the
    first threshold is the ``abc.quantile`` quantile of the pilot distances,
    later ones that quantile of the previous generation's weighted distances.
    ``adaptive``: pyabc's adaptive p-norm on the raw statistics, each scaled by
    its median absolute deviation in the previous generation. ``abc.initial_epsilon``
    fixes the first threshold instead (one generation at 0 with the ``pattern``
    distance: rejection ABC, every accepted run inside every target's range).
    """
    import pyabc

    prior = pyabc.Distribution(**{k: p.rv() for k, p in exp.free.items()})
    eps = pyabc.QuantileEpsilon(alpha=exp.quantile)
    if exp.distance == "regression":
        from sim.calibration.pyabc_ext import FixedRegressionSumstat

        sumstat = FixedRegressionSumstat(pilot.stats.to_numpy(float), pilot.params.to_numpy(float), list(exp.free))
        distance = pyabc.PNormDistance(p=2, sumstat=sumstat)
        if t == 0:
            sumstat.initialize(t=0, get_sample=None, x_0=observed, total_sims=0)
            obs = sumstat(np.array(list(observed.values()), float))
            d = np.sqrt(((np.vstack([sumstat(r) for r in pilot.stats.to_numpy(float)]) - obs) ** 2).sum(1))
            eps = pyabc.QuantileEpsilon(initial_epsilon=float(np.quantile(d, exp.quantile)), alpha=exp.quantile)
    elif exp.distance == "pattern":
        distance = pyabc.PNormDistance(p=2)  # summaries are already deviations in tolerances
    else:
        distance = pyabc.AdaptivePNormDistance(p=2, all_particles_for_scale=False)
    if exp.initial_epsilon is not None and t == 0:
        # a fixed first threshold; with one generation this is rejection ABC from the prior
        eps = pyabc.QuantileEpsilon(initial_epsilon=float(exp.initial_epsilon), alpha=exp.quantile)
    transition = pyabc.LocalTransition() if exp.transition == "local" else pyabc.MultivariateNormalTransition()
    return pyabc.ABCSMC(simulator, prior, distance, population_size=exp.population, sampler=sampler, eps=eps,
                        transitions=transition)


def history_sample(history, exp: Experiment, t: int | None = None) -> pd.DataFrame:
    """The particles of ABC generation ``t`` (default: last) as a posterior sample: free parameters and ``weight``."""
    df, w = history.get_distribution(m=0, t=t)
    return df[list(exp.free)].reset_index(drop=True).assign(weight=np.asarray(w, float))


def posterior_table(sample: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """Weighted mean and 5/50/95% quantiles of each free parameter of a posterior sample (column ``weight``)."""
    from pyabc.weighted_statistics import weighted_quantile

    w = sample["weight"].to_numpy(float)
    w = w / w.sum()
    rows = []
    for key in exp.free:
        x = sample[key].to_numpy(float)
        rows.append({"parameter": key, "mean": float(np.sum(w * x)),
                     **{f"q{int(q * 100):02d}": float(weighted_quantile(x, w, alpha=q)) for q in (0.05, 0.5, 0.95)}})
    return pd.DataFrame(rows, columns=["parameter", "mean", "q05", "q50", "q95"])


def next_generation_cost(url: str) -> tuple[int, int]:
    """(simulations spent by the finished generations in ``url``, expected cost of the next one).

    The next generation is expected to cost what the last one did: a lower
    bound in practice, since each generation's tighter threshold accepts less.
    Pilot and posterior predictive runs are not counted.
    """
    import pyabc

    sims = generations_table(pyabc.History(url, create=False))["simulations"]
    return int(sims.sum()), int(sims.iloc[-1])


def generations_table(history) -> pd.DataFrame:
    """One row per finished generation: epsilon, simulations, acceptance rate."""
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0]
    return pd.DataFrame({"generation": pops["t"].astype(int) + 1, "epsilon": pops["epsilon"],
                         "simulations": pops["samples"].astype(np.int64), "particles": pops["particles"].astype(int),
                         "acceptance_rate": pops["particles"] / pops["samples"]}).reset_index(drop=True)


@dataclass
class CalibrationResult:
    """What :func:`calibrate` produced."""

    out: Path
    posterior: pd.DataFrame
    generations: pd.DataFrame | None  # ABC generations (None for NPE)
    ppc: pd.DataFrame | None
    finished: bool
    resumed_from: int  # ABC: finished generations found in out; NPE: stored prior simulations found in out
    simulated: int = 0  # NPE: prior simulations run by this call


def _state_file(out: Path) -> Path:
    return out / "calibration.yaml"


def check_resume(exp: Experiment, data: SurveyData | Cases, out: Path) -> int:
    """Generations already stored in ``out`` for this experiment and survey (0: a new calibration).

    Raises ConfigError if ``out`` holds a calibration of another experiment or survey.
    """
    db, state, sims = out / "history.db", _state_file(out), out / "simulations"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} is a file; give a directory for the calibration's outputs.")
    if state.exists():
        stored = read_yaml(state, "calibration state")
        stored = stored if isinstance(stored, dict) else {}
        mine = {"experiment": exp.fingerprint(), "survey_sha256": data.sha256}
        theirs = {"experiment": stored.get("experiment"), "survey_sha256": stored.get("survey_sha256")}
        if mine != theirs:
            what = "survey file" if mine["survey_sha256"] != theirs["survey_sha256"] else "experiment settings"
            raise ConfigError(
                f"out={out} holds a calibration with a different {what} ({stored.get('experiment_file')}, "
                f"{stored.get('survey')}); resuming needs the same survey (or cases file) and the same "
                + ("method, free/fixed parameters, statistics or targets and seed" if exp.method == "npe" else
                   "method, free/fixed parameters, statistics, population, distance, pilot and seed")
                + ". Choose another out= directory.")
    elif db.exists() or sims.exists():
        what = db if db.exists() else sims
        raise ConfigError(f"{what} exists but {state.name} does not, so it cannot be resumed safely; choose "
                          f"another out= directory or remove {what.name}.")
    if not db.exists():
        return 0
    import pyabc

    return generations_done(pyabc.History(f"sqlite:///{db}", create=False))


def generations_done(history) -> int:
    """Finished generations in a pyabc history (0 for a new or empty one)."""
    max_t = history.max_t
    return 0 if max_t is None or max_t < 0 else int(max_t) + 1


def calibrate(survey: str | Path | None, experiment: str | Experiment, out: str | Path, *,
              generations: int | None = None,
              progress: bool = True, truth: dict[str, float] | None = None, **settings: Any) -> CalibrationResult:
    """Fit an experiment's free parameters to a survey or cases file; resume if ``out`` holds a calibration.

    The experiment's ``method`` decides how: ABC-SMC or rejection ABC with pyabc (``abc``), or neural
    posterior estimation with sbi (``npe``, :func:`_calibrate_npe`).

    Parameters
    ----------
    survey : path or None
        Survey CSV (docs/survey.md); None for an experiment with ``cases``.
    experiment : str or Experiment
        Name in ``experiments/`` (or a YAML path, or a loaded experiment).
    out : path
        Output directory; ``history.db`` there is the pyabc database (ABC), ``simulations/``
        the prior simulations (NPE).
    generations : int, optional
        ABC: total generations to reach (default: the experiment's ``abc.generations``);
        a smaller number stops early, a later call continues.
    progress : bool
        Print one line per generation (ABC) or per saved chunk of simulations (NPE).
    truth : dict, optional
        Known true values (synthetic surveys): drawn in the figures and checked in ``truth.csv``.
    **settings
        Overrides of the experiment's execution settings: ``executor``, ``scheduling``,
        ``workers``, ``dask_address``, ``predictive_draws``, ``max_simulations``.

    Returns
    -------
    CalibrationResult
    """
    import logging

    import pyabc

    # pyabc logs every generation and mesa every model step at INFO (Hydra apps log INFO): progress is ours.
    for name in ("ABC", "MESA"):
        logging.getLogger(name).setLevel(logging.WARNING)
    exp = load_experiment(experiment) if isinstance(experiment, str) else experiment
    exp = replace(exp, **{k: v for k, v in settings.items() if v is not None})
    check_settings(exp, "settings")
    data = observations(exp, survey)
    total = exp.generations if generations is None else int(generations)
    _need(total >= 1, "settings", f"generations must be >= 1; got {total}.")
    observed = observed_summaries(exp, data)
    simulator = simulator_for(exp, data)
    out = Path(out)
    done = check_resume(exp, data, out)
    fresh = not _state_file(out).exists()
    if exp.method == "npe":
        return _calibrate_npe(exp, data, out, observed, simulator, print if progress else (lambda *a, **k: None),
                              truth)
    out.mkdir(parents=True, exist_ok=True)
    if done == 0 and (out / "history.db").exists():
        (out / "history.db").unlink()  # a calibration interrupted before its first generation: start afresh
    if fresh and (out / "pilot.csv").exists():
        (out / "pilot.csv").unlink()  # not made for this calibration
    url = f"sqlite:///{out / 'history.db'}"
    _write_state(exp, data, out, observed)
    say = print if progress else (lambda *a, **k: None)
    say(data.report())
    say(f"Calibrating {len(exp.free)} parameters ({', '.join(exp.free)}) against {len(observed)} "
        f"{'targets' if exp.cases else 'statistics'}; "
        f"{exp.population} particles per generation, {total} generation{'s' if total != 1 else ''}, "
        f"executor {exp.executor} "
        f"({resolve_workers(exp.workers)} workers, {exp.scheduling} scheduling)."
        + (f" Resuming after generation {done} from {out / 'history.db'}." if done else ""), flush=True)
    history = None
    stopped = False  # by the acceptance rate: the calibration cannot usefully continue
    try:
        with Executor(exp.executor, exp.workers, exp.dask_address) as ex:
            pilot = (pilot_sample(exp, simulator, ex, out, list(observed), say) if exp.distance == "regression"
                     else None)
            t = done
            while t < total:
                start = time.perf_counter()
                if exp.max_simulations and t:
                    spent, expected = next_generation_cost(url)
                    if spent + expected > exp.max_simulations:
                        say(f"Stopped: generation {t + 1} would take the calibration past abc.max_simulations "
                            f"{exp.max_simulations} ({spent} simulations so far; the last generation alone took "
                            f"{expected}, and the next one usually takes more).", flush=True)
                        stopped = True
                        break
                sampler = ex.sampler(exp)
                abc = _abc(exp, simulator, sampler, t, pilot, observed)
                if t == 0:
                    abc.new(url, observed)
                else:
                    abc.load(url, 1, observed_sum_stat=observed)
                history = abc.run(max_nr_populations=1)
                if generations_done(history) <= t:
                    say(f"Stopped: generation {t + 1} could not accept {exp.population} particles within "
                        f"{getattr(sampler, 'max_tries', 'the allowed')} tries per particle (acceptance rate "
                        "too low).", flush=True)
                    stopped = True
                    break
                t = generations_done(history)
                gens = generations_table(history)
                last = gens.iloc[-1]
                post = posterior_table(history_sample(history, exp), exp)
                say(f"generation {t}/{total}: epsilon {last['epsilon']:.4g}, acceptance "
                    f"{last['acceptance_rate']:.1%} ({int(last['simulations'])} simulations), "
                    f"{time.perf_counter() - start:.0f} s; posterior median "
                    + ", ".join(f"{r.parameter}={r.q50:.3g}" for r in post.itertuples()), flush=True)
                if last["acceptance_rate"] < exp.min_acceptance_rate:
                    say(f"Stopped: acceptance rate {last['acceptance_rate']:.2%} is below abc.min_acceptance_rate "
                        f"{exp.min_acceptance_rate:.2%}.", flush=True)
                    stopped = True
                    break
            history = pyabc.History(url, create=False)
            n = generations_done(history)
            if n == 0:
                raise ConfigError("No generation finished; nothing to summarise.")
            finished = n >= exp.generations
            ppc = None
            if finished or stopped:
                import importlib.metadata as md

                gens = generations_table(history)
                gens.to_csv(out / "generations.csv", index=False)
                record = {"generations_done": int(len(gens)), "simulations": int(gens["simulations"].sum()),
                          "max_simulations": exp.max_simulations, "pyabc": md.version("pyabc")}
                ppc = write_outputs(exp, data, out, history_sample(history, exp), simulator, observed, ex,
                                    truth=truth, record=record)
            else:
                write_abc_posterior(exp, out, history)
                say(f"Stopped after generation {n} of {exp.generations}: {out / 'posterior.csv'} "
                    "holds the posterior so far; rerun without generations= to continue.", flush=True)
    except KeyboardInterrupt:
        history = pyabc.History(url, create=False) if (out / "history.db").exists() else None
        n = generations_done(history) if history is not None else 0
        if n > 0:
            write_abc_posterior(exp, out, history)
        raise CalibrationInterrupted(
            f"Interrupted: {n} finished generation(s) are saved in {out / 'history.db'}"
            + (f" (posterior so far in {out / 'posterior.csv'})" if n else "")
            + "; rerun the same command to resume.") from None
    return CalibrationResult(out=out, posterior=posterior_table(history_sample(history, exp), exp),
                             generations=generations_table(history),
                             ppc=ppc, finished=finished, resumed_from=done)


class CalibrationInterrupted(RuntimeError):
    """Ctrl-C during a calibration; what finished is saved."""


def _calibrate_npe(exp: Experiment, data: SurveyData | Cases, out: Path, observed: dict[str, float],
                   simulator: SurveySimulator | CaseSimulator, say: Callable,
                   truth: dict[str, float] | None) -> CalibrationResult:
    """Neural posterior estimation (:mod:`sim.calibration.npe`): prior simulations, training, draws, outputs."""
    import importlib.metadata as md

    from sim.calibration import npe

    npe.require_sbi(str(exp.path))
    out.mkdir(parents=True, exist_ok=True)
    _write_state(exp, data, out, observed)
    folder, names, n = out / npe.SIMULATIONS_DIR, list(observed), exp.npe.simulations
    stored = len(npe.stored_simulations(folder, names).index.intersection(range(n)))
    say(data.report())
    say(f"Calibrating {len(exp.free)} parameters ({', '.join(exp.free)}) against {len(observed)} "
        f"{'targets' if exp.cases else 'statistics'} with neural posterior estimation (sbi, {exp.npe.estimator}): "
        f"{n} prior simulations, {exp.npe.draws} posterior draws, executor {exp.executor} "
        f"({resolve_workers(exp.workers)} workers).", flush=True)
    try:
        with Executor(exp.executor, exp.workers, exp.dask_address) as ex:
            theta, x = npe.simulate_prior(exp, _simulate, simulator, ex, folder, names, say)
            say(f"training on {n} simulations ({npe.TORCH_THREADS} torch thread) ...", flush=True)
            fit = npe.train(exp, theta, x)
            fit.log.table().to_csv(out / "training.csv", index=False)
            sample = npe.draw(exp, fit, observed)
            post = posterior_table(sample, exp)
            say(f"trained in {fit.epochs} epochs ({fit.seconds:.0f} s); posterior median "
                + ", ".join(f"{r.parameter}={r.q50:.3g}" for r in post.itertuples()), flush=True)
            record = {"simulations": n, "npe": {**asdict(exp.npe), "epochs_trained": fit.epochs,
                                                "torch_threads": npe.TORCH_THREADS},
                      "sbi": md.version("sbi"), "torch": md.version("torch")}
            ppc = write_outputs(exp, data, out, sample, simulator, observed, ex, truth=truth, record=record)
    except KeyboardInterrupt:
        done = len(npe.stored_simulations(folder, names).index.intersection(range(n)))
        raise CalibrationInterrupted(
            f"Interrupted: {done} of {n} prior simulations are saved in {folder}; rerun the same command to "
            "resume (only the missing simulations are run).") from None
    return CalibrationResult(out=out, posterior=post, generations=None, ppc=ppc, finished=True,
                             resumed_from=stored, simulated=n - stored)


def _write_state(exp: Experiment, data: SurveyData | Cases, out: Path, observed: dict[str, float]) -> None:
    state = {"experiment_file": str(exp.path), "survey": str(data.path), "survey_sha256": data.sha256,
             "experiment": exp.fingerprint()}
    _state_file(out).write_text(yaml.safe_dump(state, sort_keys=False))
    if isinstance(data, Cases):
        pd.DataFrame([{"id": t.id, "use": t.use, "scenario": t.scenario, "metric": t.metric, "step": t.step,
                       "target": t.target_text(), "source": t.source} for t in data.targets]).to_csv(
            out / "targets.csv", index=False)
        return
    pd.DataFrame([split_name(k) | {"value": v} for k, v in observed.items()]).to_csv(
        out / "observed_statistics.csv", index=False)


def write_posterior(exp: Experiment, out: Path, sample: pd.DataFrame) -> pd.DataFrame:
    """``posterior.csv`` (:func:`posterior_table`) and ``posterior_sample.csv`` (draws and weights)."""
    post = posterior_table(sample, exp)
    post.to_csv(out / "posterior.csv", index=False)
    sample[[*exp.free, "weight"]].to_csv(out / "posterior_sample.csv", index=False)
    return post


def write_abc_posterior(exp: Experiment, out: Path, history) -> pd.DataFrame:
    """The last ABC generation's posterior files, and ``generations.csv``."""
    generations_table(history).to_csv(out / "generations.csv", index=False)
    return write_posterior(exp, out, history_sample(history, exp))


def posterior_predictive(exp: Experiment, sample: pd.DataFrame, simulator: SurveySimulator,
                         observed: dict[str, float], ex: Executor) -> pd.DataFrame:
    """Survey statistics of ``predictive.draws`` runs from posterior draws against the observed ones.

    Columns: name, statistic, item, wave, observed, mean, q05, q95, inside_90 (observed within
    the 5-95% predictive interval), p_upper (share of runs at or above the observed value).
    """
    w = sample["weight"].to_numpy(float)
    ss = np.random.SeedSequence(exp.seed, spawn_key=(_PPC_KEY,))
    pick_ss, sim_ss = ss.spawn(2)
    rng = np.random.default_rng(pick_ss)
    idx = rng.choice(len(sample), size=exp.predictive_draws, p=w / w.sum())
    seeds = sim_ss.generate_state(exp.predictive_draws).tolist()
    tasks = [(simulator, {k: float(sample[k].iloc[i]) for k in exp.free}, s) for i, s in zip(idx, seeds)]
    sims = pd.DataFrame(ex.map(simulate_statistics, tasks))
    rows = []
    for name, obs in observed.items():
        x = sims[name].to_numpy(float)
        lo, hi = np.quantile(x, [0.05, 0.95])
        rows.append(split_name(name) | {"observed": obs, "mean": x.mean(), "q05": lo, "q95": hi,
                                         "inside_90": bool(lo <= obs <= hi), "p_upper": float((x >= obs).mean())})
    return pd.DataFrame(rows)


def cases_predictive(exp: Experiment, cases: Cases, sample: pd.DataFrame, ex: Executor) -> pd.DataFrame:
    """Posterior-predictive check of every target of the cases file (held-out ones included)."""
    from sim.calibration.cases import posterior_draws, predictive_check

    draws = posterior_draws(sample[[*exp.free, "weight"]], exp.predictive_draws, exp.seed)
    sim = make_case_simulator(cases, ("calibration", "validation", "setup"), exp.fixed, deviations=False)
    sims = pd.DataFrame(ex.map(simulate_targets, [(sim, p, s) for p, s in zip(draws.params, draws.seeds)]))
    return predictive_check(cases, sims)


def write_outputs(exp: Experiment, data: SurveyData | Cases, out: Path, sample: pd.DataFrame,
                  simulator: SurveySimulator | CaseSimulator,
                  observed: dict[str, float], ex: Executor, truth: dict[str, float] | None = None,
                  record: dict[str, Any] | None = None) -> pd.DataFrame | None:
    """Posterior table and sample, figures, posterior predictive check, truth check and provenance.

    ``sample``: the posterior draws (free parameters and ``weight``) of either method; ``record``: what
    the method adds to ``provenance.yaml`` (simulations, its package versions, ...).
    """
    from sim.calibration import plots as plots
    from sim.provenance import provenance

    post = write_posterior(exp, out, sample)
    w = sample["weight"].to_numpy(float)
    plots.marginals(sample[list(exp.free)], w, exp, out / "marginals.png", truth=truth)
    plots.pairs(sample[list(exp.free)], w, exp, out / "pairs.png", truth=truth)
    ppc = None
    if exp.predictive_draws > 0 and isinstance(data, Cases):
        ppc = cases_predictive(exp, data, sample, ex)
        ppc.to_csv(out / "cases_ppc.csv", index=False)
    elif exp.predictive_draws > 0:
        ppc = posterior_predictive(exp, sample, simulator, observed, ex)
        ppc.to_csv(out / "ppc.csv", index=False)
        plots.predictive_check(ppc, out / "ppc.png")
    if truth:
        check = post.assign(true=[truth.get(p, np.nan) for p in post["parameter"]])
        check["inside_90"] = (check["q05"] <= check["true"]) & (check["true"] <= check["q95"])
        check.to_csv(out / "truth.csv", index=False)
    meta = provenance(seed=exp.seed, method=exp.method, experiment=str(exp.path),
                      experiment_settings=exp.fingerprint(), survey=str(data.path), survey_sha256=data.sha256,
                      **(record or {}), executor=exp.executor, scheduling=exp.scheduling,
                      workers=resolve_workers(exp.workers), predictive_draws=exp.predictive_draws,
                      truth=truth or None)
    (out / "provenance.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return ppc


# -- command line -------------------------------------------------------------------------

@dataclass
class CalibrateArgs:
    """Arguments of ``sim-calibrate`` (a Hydra structured config): ``key=value`` on the command line.

    experiment and out are required; survey too, unless the experiment fits a cases file. The others override the
    experiment's settings for this run: ``generations`` (total to reach),
    ``executor`` (processes, dask, single), ``scheduling`` (static, dynamic),
    ``workers`` (0: all cores), ``dask_address`` (empty: a local cluster),
    ``draws`` (posterior predictive runs), ``max_simulations`` (no generation
    starts that would take the ABC generations past it; 0: no limit), ``method``
    (``abc`` or ``npe``),
    ``truth`` (YAML file of known true values, for synthetic surveys),
    ``progress``.
    """

    survey: str = "???"
    experiment: str = "???"
    out: str = "???"
    generations: int | None = None
    executor: str | None = None
    scheduling: str | None = None
    workers: int | None = None
    dask_address: str | None = None
    draws: int | None = None
    max_simulations: int | None = None
    method: str | None = None
    truth: str | None = None
    progress: bool = True


HELP = """
Usage: sim-calibrate experiment=NAME out=DIR [survey=CSV] [setting=value ...] [model.parameter=value ...]

Fits the experiment's free parameters to a teacher survey (survey=CSV) or to
the documented cases' patterns (experiment=calibrate_cases) with the
experiment's method: ABC-SMC or rejection ABC (pyabc), generation by
generation, or neural posterior estimation (sbi) on prior simulations saved
as they finish (a rerun resumes either), then writes the posterior, a
posterior predictive check and plots to out=DIR.

Calibration experiments: {experiments}

Settings:
  generations=N       generations to reach in total
  max_simulations=N   stop before a generation would pass N simulations
  workers=N           processes (0: all cores); executor=dask dask_address=HOST:PORT
  draws=N             posterior predictive runs
  method=abc|npe      override the experiment's method (npe needs pip install -e ".[npe]")
  truth=FILE          known true values (synthetic surveys)
  progress=false      hide the progress display
Model settings (added to the experiment's fixed values), e.g.
  district.schools=40  policy.coaching_fte=0.5
Scenario presets: {presets}

Example:
  sim-calibrate survey=experiments/data/synthetic_baseline.csv experiment=calibrate_small \\
      district.schools=40 out=results/cal40

The survey format: docs/survey.md; experiments: docs/calibration.md; every
model parameter, its meaning, range and source: {parameters}.
"""
_REQUIRED_ARGS = ("experiment", "out")
_INT_ARGS = ("generations", "workers", "draws", "max_simulations")


def parse_args(args: Sequence[str]) -> dict[str, Any]:
    """Check ``key=value`` arguments (before Hydra sees them); raise ConfigError on bad input."""
    known = [f.name for f in CalibrateArgs.__dataclass_fields__.values()]
    values: dict[str, Any] = {}
    for a in args:
        key, eq, val = a.partition("=")
        key = key.lstrip("+")
        if key.startswith("hydra"):
            continue
        if eq and is_model_key(key):
            values.setdefault("model", []).append(f"{key}={val}")
            continue
        if not eq:
            raise ConfigError(f"Argument '{a}' is not of the form key=value. Usage: sim-calibrate survey=PATH "
                              f"experiment=NAME out=DIR [{'|'.join(k + '=...' for k in known[3:])}].")
        if key not in known:
            raise ConfigError(f"Unknown argument '{key}': not a setting of sim-calibrate nor a model parameter."
                              + did_you_mean(key, [*known, *parameter_specs()]) + f" Settings: {', '.join(known)};"
                              " model parameters: docs/parameters.md. Run 'sim-calibrate --help' for an example.")
        if key in _INT_ARGS:
            try:
                val = int(val)
            except ValueError:
                raise ConfigError(f"Argument {key}={val!r} must be an integer.") from None
        elif key == "progress":
            val = yes_no(key, val)
        values[key] = val
    missing = [k for k in _REQUIRED_ARGS if not values.get(k)]
    if missing:
        raise ConfigError(f"Missing argument(s) {', '.join(k + '=' for k in missing)}. Usage: sim-calibrate "
                          f"survey=PATH experiment=NAME out=DIR (experiments: "
                          f"{', '.join(available_experiments()) or 'none'}).")
    return values


def read_truth(path: str | None) -> dict[str, float] | None:
    """Known true values (YAML mapping parameter -> value, or a file with a ``truth:`` mapping)."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"truth={path}: no such file.")
    raw = read_yaml(p, "truth file")
    raw = raw.get("truth", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict) or not all(isinstance(k, str) and _number(v) for k, v in raw.items()):
        raise ConfigError(f"truth={path}: must map dotted parameter keys to numbers (optionally under 'truth:').")
    return {k: float(v) for k, v in raw.items()}


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    return {"executor": values.get("executor"), "scheduling": values.get("scheduling"),
            "workers": values.get("workers"), "dask_address": values.get("dask_address"),
            "predictive_draws": values.get("draws"), "max_simulations": values.get("max_simulations"),
            "method": values.get("method")}


def check_inputs(values: dict[str, Any]) -> None:
    """Everything that can be refused before any simulation: survey, experiment, settings, out, truth."""
    exp = with_model_settings(load_experiment(values["experiment"]), values.get("model", []))
    exp = replace(exp, **{k: v for k, v in _settings(values).items() if v is not None})
    check_settings(exp, "command line")
    if exp.method == "npe":
        from sim.calibration.npe import require_sbi

        require_sbi(str(exp.path))
    data = observations(exp, values.get("survey"))
    if values.get("generations") is not None and values["generations"] < 1:
        raise ConfigError(f"generations must be >= 1; got {values['generations']}.")
    observed_summaries(exp, data)
    simulator_for(exp, data)
    check_resume(exp, data, Path(values["out"]))
    truth = read_truth(values.get("truth"))
    if truth:
        unknown = [k for k in truth if k not in exp.free]
        _need(not unknown, f"truth={values['truth']}", f"{', '.join(unknown)} are not free parameters of "
                                                      f"{exp.name} ({', '.join(exp.free)}).")


#: Model settings from the command line (``district.schools=40``): not Hydra arguments, kept here for the app.
MODEL_SETTINGS: list[str] = []


def _hydra_app(cfg) -> None:
    values = {k: v for k, v in OmegaConf.to_container(cfg).items() if v is not None}
    values["model"] = list(MODEL_SETTINGS)
    kept = (f"Finished work (ABC generations, or NPE prior simulations) is kept in {values['out']}; the same "
            "command resumes the calibration.")
    with machine_failures("sim-calibrate", kept):
        _calibrate_app(values)


def _calibrate_app(values: dict[str, Any]) -> None:
    try:
        experiment = with_model_settings(load_experiment(values["experiment"]), values.get("model", []))
        calibrate(values.get("survey"), experiment, values["out"], generations=values.get("generations"),
                  progress=values.get("progress", True), truth=read_truth(values.get("truth")),
                  **_settings(values))
    except CalibrationInterrupted as exc:
        print(f"sim-calibrate: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except ConfigError as exc:
        print(f"sim-calibrate: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    out = Path(values["out"])
    ppc = ("cases_ppc.csv, targets.csv" if (out / "targets.csv").exists()
           else "ppc.csv, ppc.png, observed_statistics.csv")
    own = ("training.csv, simulations/" if (out / "training.csv").exists() else "generations.csv, history.db")
    print(f"Wrote {values['out']}/: posterior.csv, posterior_sample.csv, marginals.png, pairs.png, "
          f"{ppc}, {own}, calibration.yaml, provenance.yaml")


def main() -> None:
    """Console entry point of ``sim-calibrate`` (also ``python -m sim.calibration.calibrate``)."""
    import hydra
    from hydra.core.config_store import ConfigStore

    catch_ctrl_c()
    args = sys.argv[1:]
    if wants_help(args):
        show_help(HELP.replace("{experiments}", ", ".join(available_experiments()) or "none"))
    if not any(a.startswith("-") for a in args):
        try:
            values = parse_args(args)
            MODEL_SETTINGS[:] = values.get("model", [])
            sys.argv = [sys.argv[0], *(a for a in args if a.partition("=")[0] not in
                                       {m.partition("=")[0] for m in MODEL_SETTINGS})]
            check_inputs(values)
            check_writable(values["out"])
        except ConfigError as exc:
            print(f"sim-calibrate: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT) from None
        if not any(a.startswith("hydra.run.dir=") for a in args):
            sys.argv.append(f"hydra.run.dir={values['out']}")
    ConfigStore.instance().store(name="sim_calibrate", node=CalibrateArgs)
    hydra.main(config_path=None, config_name="sim_calibrate", version_base="1.3")(_hydra_app)()


if __name__ == "__main__":  # as the console script: the shared exits at every phase
    from sim.exits import launch

    launch("sim-calibrate")
