"""``sim-sweep experiment=NAME``: run an experiment's scenarios x points x replicates.

A Hydra app (also ``python -m sim.runs.sweep``). The experiment file
``experiments/NAME.yaml`` (or a path to a YAML file) is the primary config;
command-line overrides change any of its fields, e.g.::

    sim-sweep experiment=levers_factorial replicates=5 workers=2 out=results/lf
    sim-sweep experiment=discovery_lhs executor=dask dask.address=tcp://10.0.0.5:8786

Everything is validated before the first run (bad input: one paragraph on
stderr, exit status 2). Runs go to an executor (:mod:`sim.runs.executors`) in
batches; each completed batch is appended to the Parquet dataset
``<out>/runs/`` (:mod:`sim.runs.store`). Running the same command again skips
the runs already recorded, so an interrupted sweep resumes where it stopped.
A run that raises is recorded with its error and the sweep goes on.
``<out>/experiment.yaml`` records the experiment, the model configuration of
every scenario and one provenance entry per invocation; the analysis
(:mod:`sim.runs.analyze`) then writes ``summary.csv``, plots and indices.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from sim.args import did_you_mean, is_model_key, show_help, wants_help
from sim.config import ConfigError, load_config, parameter_specs
from sim.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, catch_ctrl_c, machine_failure, machine_failures
from sim.files import atomic_path, check_writable, write_text
from sim.provenance import package_versions, provenance
from sim.runs.executors import auto_batch_size, batched, make_executor
from sim.runs.experiment import (
    Design,
    Experiment,
    Parameter,
    SweepRun,
    SweepSchema,
    column_value,
    compose_experiment,
    locate,
    make_design,
    make_plan,
    parse_experiment,
    point_key,
    recorded_steps,
    register_schema,
)
from sim.runs.runner import quiet_model_logs, run_config, scenario_presets
from sim.runs.store import RunStore

#: Command-line arguments as the user gave them (main() rewrites sys.argv for Hydra).
COMMAND: list[str] = []
SWEEP_PACKAGES = ("scipy", "SALib", "dask", "distributed", "ema_workbench")
_ARROW = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}


@dataclass(frozen=True)
class Settings:
    """How and where a sweep runs (the runner part of an experiment config)."""

    out: Path
    workers: int = 0
    executor: str = "local"
    address: str | None = None
    processes: bool = True
    batch_size: int = 0
    progress: bool = True
    analyze: bool = True
    retry_failed: bool = False
    dashboard: str | None = "127.0.0.1:0"
    verify: bool = False  # only check the stored batches (checksums), set damaged ones aside, and stop

    @classmethod
    def from_config(cls, cfg: DictConfig) -> Settings:
        """Read the runner fields of a composed experiment."""
        return cls(out=Path(cfg.out), workers=int(cfg.workers), executor=str(cfg.executor),
                   address=cfg.dask.address or None, processes=bool(cfg.dask.processes),
                   batch_size=int(cfg.batch_size), progress=bool(cfg.progress), analyze=bool(cfg.analyze),
                   retry_failed=bool(cfg.retry_failed), verify=bool(cfg.get("verify", False)),
                   dashboard=cfg.dask.get("dashboard", "127.0.0.1:0") or None)


@dataclass
class SweepResult:
    """What one invocation did."""

    out: Path
    planned: int  # runs in the experiment
    skipped: int  # already recorded before this invocation
    ran: int = 0  # run (and recorded) now
    failed_now: int = 0
    failed_total: int = 0  # runs recorded as failed in the whole dataset
    wall_seconds: float = 0.0  # from starting the executor to the last batch written
    startup_seconds: float = 0.0  # of which starting the executor (pool or cluster, connecting to it)
    run_seconds: float = 0.0  # simulation time summed over the runs done now
    slots: int = 1
    executor: str = ""
    interrupted: bool = False
    aborted: str = ""  # why the executor failed (a worker or the cluster was lost), if it did
    write_error: OSError | None = None  # the results could not be written (a full disk, a removed folder)
    damaged: list[str] = field(default_factory=list)  # batches set aside this invocation (damaged/...)
    verified: int = 0  # batch files checked against their checksums

    @property
    def overhead(self) -> float:
        """Share of worker time not spent simulating (start-up, scheduling, transfer, writing, idle tail)."""
        capacity = self.wall_seconds * self.slots
        return max(0.0, 1.0 - self.run_seconds / capacity) if capacity > 0 else 0.0

    @property
    def overhead_after_startup(self) -> float:
        """:attr:`overhead` without the time the executor took to start."""
        capacity = (self.wall_seconds - self.startup_seconds) * self.slots
        return max(0.0, 1.0 - self.run_seconds / capacity) if capacity > 0 else 0.0

    def report(self) -> str:
        """Readable summary of the invocation."""
        lines = [f"{self.planned} runs in the experiment: {self.skipped} already done, {self.ran} run now "
                 f"({self.failed_now} failed)" + (f" in {self.wall_seconds:.1f} s on {self.executor}." if self.executor
                                                  else ".")]
        if self.ran:
            lines.append(f"Simulation time {self.run_seconds:.1f} s; scheduling overhead "
                         f"{100 * self.overhead:.1f}% of worker time ({100 * self.overhead_after_startup:.1f}% "
                         f"after the {self.startup_seconds:.1f} s the executor took to start).")
        if self.failed_total:
            lines.append(f"FAILED RUNS: {self.failed_total} of {self.planned} (recorded with their error; see "
                         f"{self.out / 'failures.csv'}; rerun with retry_failed=true to try them again).")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the unit of work

def arrow_schema(exp: Experiment) -> pa.Schema:
    """Columns of the runs dataset (fixed, so batches with only failures still match)."""
    fields = [("run_id", pa.string()), ("point", pa.string()), ("scenario", pa.string()),
              *[(p.path, _ARROW[_column_kind(p)]) for p in exp.parameters],
              ("replicate", pa.int64()), ("seed", pa.int64()), ("step", pa.int64()),
              *[(m, pa.float64()) for m in exp.metrics],
              ("error", pa.string()), ("traceback", pa.string()), ("run_seconds", pa.float64()),
              ("session", pa.int64())]
    return pa.schema(fields)


def _column_kind(p: Parameter) -> str:
    if p.values is not None and any(isinstance(v, list | dict) for v in p.values):
        return "str"
    return p.kind


def run_batch(runs: Sequence[SweepRun], *, schema: pa.Schema, metrics: Sequence[str], record_every: int,
              session: int) -> pa.Table:
    """Run a batch of sweep runs in a worker; one row per run and recorded step.

    A run that raises gives one row with ``step`` and metrics null and the
    exception in ``error`` (one line) and ``traceback``. Columns are gathered
    as plain lists and arrays and become one Arrow table per batch, which keeps
    the bookkeeping per run well below the cost of a simulation.
    """
    from sim.inputs import build_model

    quiet_model_logs()
    columns: dict[str, list] = {name: [] for name in schema.names}
    for run in runs:
        spec = run.spec
        ids = {"run_id": run.run_id, "point": run.point, "scenario": spec.scenario,
               **{name: column_value(v) for name, v in run.point_values},
               "replicate": spec.replicate, "seed": spec.seed, "session": session}
        t0 = time.perf_counter()
        try:
            cfg = run_config(spec)
            t0 = time.perf_counter()
            ts = build_model(cfg, seed=spec.seed, validate_config=False).run()
            seconds = time.perf_counter() - t0
            steps = ts["step"].to_numpy()
            keep = np.isin(steps, recorded_steps(int(steps.max()), record_every))
            n = int(keep.sum())
            columns["step"].append(steps[keep])
            for m in metrics:
                columns[m].append(ts[m].to_numpy(dtype=float)[keep])
            extra = {"error": None, "traceback": None, "run_seconds": seconds}
        except Exception as exc:  # noqa: BLE001 - any failure of a run is recorded, the sweep goes on
            n = 1
            columns["step"].append([None])
            for m in metrics:
                columns[m].append([None])
            extra = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0], "traceback": traceback.format_exc(),
                     "run_seconds": time.perf_counter() - t0}
        for name, value in {**ids, **extra}.items():
            columns[name].append([value] * n)
    return pa.table({name: pa.array(_concat(columns[name]), type=field.type)
                     for name, field in zip(schema.names, schema)}, schema=schema)


def _concat(chunks: list) -> list | np.ndarray:
    if all(isinstance(c, np.ndarray) for c in chunks):
        return np.concatenate(chunks) if chunks else []
    return [v for c in chunks for v in (c.tolist() if isinstance(c, np.ndarray) else c)]


# --------------------------------------------------------------------------- experiment.yaml

def _atomic_yaml(path: Path, data: dict) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _record(exp: Experiment, design: Design, n_runs: int, out: Path) -> dict:
    path = out / "experiment.yaml"
    old = yaml.safe_load(path.read_text()) if path.is_file() else {}
    scenarios = {}
    for label in exp.scenarios:
        fixed = [*exp.overrides, f"steps={exp.steps[label]}"]
        cfg = OmegaConf.to_container(load_config(scenario_presets(label), fixed), resolve=True)
        scenarios[label] = {"presets": scenario_presets(label), "overrides": fixed, "steps": exp.steps[label],
                            "config": {k: v for k, v in cfg.items() if k != "run"}}
    return {"experiment": exp.config,
            "design": {"method": exp.design.method, "rows": len(design.points),
                       "points": len({point_key(p) for p in design.points}), "runs": n_runs,
                       "parameters": list(exp.names)},
            "scenarios": scenarios,
            "sessions": list(old.get("sessions", []))}


# --------------------------------------------------------------------------- running

def check_resumable(exp: Experiment, plan: Sequence[SweepRun], store: RunStore) -> pd.DataFrame:
    """Runs already recorded in ``store``; ConfigError if any of them is not in ``plan``."""
    done = store.finished()
    stale = set(done["run_id"]) - {r.run_id for r in plan}
    if stale:
        raise ConfigError(
            f"{store.out} holds {len(stale)} run(s) that are not part of experiment '{exp.name}' as now defined "
            "(its scenarios, parameters, design, seeds, steps, overrides, recording or metrics changed, or the "
            "model configuration of a scenario did). "
            "Choose another out=DIR, or delete the folder to start over.")
    return done


def run_sweep(exp: Experiment, settings: Settings) -> SweepResult:
    """Run the runs of ``exp`` not yet recorded in ``settings.out``; write results batch by batch."""
    design = make_design(exp)
    plan = make_plan(exp, design)
    out = settings.out
    store = RunStore(out)
    with store.locked():
        store.clean()
        store.adopt()
        damage = store.verify()
        result = SweepResult(out=out, planned=len(plan), skipped=0, verified=len(store.all_parts()))
        if damage:
            result.damaged = [str(p.relative_to(out)) for p in store.set_aside(damage)]
            print(f"sim-sweep: {len(damage)} damaged batch file(s) in {store.dir} set aside in "
                  f"{out / 'damaged'}: {', '.join(map(str, damage))}. Their runs count as not done"
                  + (" and are run again now." if not settings.verify else
                     "; run the same command without verify=true to run them again."), file=sys.stderr)
        if settings.verify:
            return result
        done = check_resumable(exp, plan, store)
        if settings.retry_failed and done["failed"].any():
            store.drop_runs(set(done.loc[done["failed"], "run_id"]))
            done = store.finished()
        finished = set(done["run_id"])
        todo = [r for r in plan if r.run_id not in finished]
        record = _record(exp, design, len(plan), out)
        session = len(record["sessions"])
        before = {s.get("git_revision") for s in record["sessions"]} - {None}
        entry = {"session": session, **provenance(packages_sweep=package_versions(SWEEP_PACKAGES),
                                                  command=" ".join(["sim-sweep", *COMMAND]) if COMMAND else
                                                  " ".join(sys.argv)),
                 "runs_planned": len(plan), "runs_already_done": len(finished), "runs_to_do": len(todo)}
        record["sessions"].append(entry)
        if finished and todo and before - {entry["git_revision"]}:
            print(f"sim-sweep: warning: {out} holds runs made with code revision(s) {', '.join(sorted(before))}; "
                  f"this session runs {entry['git_revision']}. The 'session' column tells them apart; use a new "
                  "out=DIR for a dataset made with one revision.", file=sys.stderr)
        _atomic_yaml(out / "experiment.yaml", record)
        with atomic_path(out / "design.parquet") as tmp:
            design.frame().to_parquet(tmp, index=False)
        result.skipped = len(finished)
        if todo:
            _execute(exp, settings, todo, store, session, result)
        result.failed_total = int(store.finished()["failed"].sum())
        entry.update({"finished": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
                      "executor": result.executor, "runs_done": result.ran, "runs_failed": result.failed_now,
                      "wall_seconds": round(result.wall_seconds, 3), "run_seconds": round(result.run_seconds, 3),
                      "startup_seconds": round(result.startup_seconds, 3), "overhead": round(result.overhead, 4),
                      "overhead_after_startup": round(result.overhead_after_startup, 4),
                      "interrupted": result.interrupted,
                      "aborted": result.aborted or None, "damaged_set_aside": result.damaged or None,
                      "write_error": str(result.write_error) if result.write_error else None})
        try:
            _atomic_yaml(out / "experiment.yaml", record)
        except OSError as exc:  # the runs are saved; only this session's summary in experiment.yaml is lost
            result.write_error = result.write_error or exc
    return result


def _execute(exp: Experiment, settings: Settings, todo: list[SweepRun], store: RunStore, session: int,
             result: SweepResult) -> None:
    fn = functools.partial(run_batch, schema=arrow_schema(exp), metrics=exp.metrics,
                           record_every=exp.record_every, session=session)
    start = time.perf_counter()
    bar = None
    try:
        with make_executor(settings.executor, settings.workers, settings.address, settings.processes,
                           settings.dashboard) as ex:
            result.executor, result.slots = ex.description, ex.slots
            result.startup_seconds = time.perf_counter() - start
            if getattr(ex, "dashboard", None):
                print(f"Dask dashboard: {ex.dashboard}", file=sys.stderr)
            size = settings.batch_size or auto_batch_size(len(todo), ex.slots)
            batches = batched(todo, size)
            bar = tqdm(total=len(todo), unit="run", desc=exp.name, disable=not settings.progress,
                       dynamic_ncols=True)
            for i, table in ex.map_unordered(fn, batches):
                try:
                    store.write(table, session)
                except OSError as exc:  # a full disk: stop, keep the batches written so far
                    result.write_error = exc
                    break
                per_run = table.select(["run_id", "run_seconds"]).to_pandas().drop_duplicates("run_id")
                result.ran += len(batches[i])
                result.failed_now += table.num_rows - table["error"].null_count  # a failed run has one row
                result.run_seconds += float(per_run["run_seconds"].sum())
                bar.update(len(batches[i]))
                if result.failed_now:
                    bar.set_postfix(failed=result.failed_now)
    except KeyboardInterrupt:
        result.interrupted = True
    except Exception as exc:  # noqa: BLE001 - runs' own errors are caught in run_batch: this is the executor
        result.aborted = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        result.wall_seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()


def sweep(experiment: str, overrides: Sequence[str] = ()) -> SweepResult:
    """Compose, validate and run an experiment from Python (what ``sim-sweep`` does, without Hydra's app)."""
    cfg = compose_experiment(experiment, overrides)
    exp = parse_experiment(cfg)
    settings = Settings.from_config(cfg)
    result = run_sweep(exp, settings)
    _finish(result, settings)
    return result


def _finish(result: SweepResult, settings: Settings) -> None:
    if settings.verify:
        print(f"Verified {result.verified} batch file(s) in {result.out / 'runs'}: "
              + (f"{len(result.damaged)} damaged, set aside in {result.out / 'damaged'}."
                 if result.damaged else "all match their checksums."))
        return
    print(result.report())
    saved = (f"{result.skipped + result.ran} of {result.planned} runs are saved in {result.out / 'runs'}; "
             "run the same command again to resume.")
    if result.write_error is not None:
        print(machine_failure("sim-sweep", result.write_error, saved), file=sys.stderr)
        return
    if result.interrupted:
        print(f"Interrupted: {saved}", file=sys.stderr)
        return
    if result.aborted:
        print(f"sim-sweep: the executor failed ({result.aborted}), e.g. a worker process was killed or ran out "
              f"of memory, or the Dask scheduler was lost. {saved}", file=sys.stderr)
        return
    if settings.analyze:
        from sim.runs.analyze import analyze

        written = analyze(result.out)
        print(f"Wrote {result.out}/: runs/, experiment.yaml, design.parquet, " + ", ".join(written))


# --------------------------------------------------------------------------- the Hydra app

@contextlib.contextmanager
def _hydra_released() -> Iterator[None]:
    """Free Hydra's global state while the app runs, so the model can compose its own configs."""
    from hydra.core.global_hydra import GlobalHydra

    gh = GlobalHydra.instance()
    saved = gh.hydra
    gh.clear()
    try:
        yield
    finally:
        gh.clear()
        if saved is not None:
            gh.initialize(saved)


def _hydra_app(cfg: DictConfig) -> None:
    settings = Settings.from_config(cfg)
    kept = (f"Runs finished so far are kept in {settings.out / 'runs'}; the same command resumes the sweep.")
    with _hydra_released(), machine_failures("sim-sweep", kept):
        try:
            result = run_sweep(parse_experiment(cfg), settings)
        except ConfigError as exc:
            print(f"sim-sweep: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT) from None
        _finish(result, settings)
    if result.interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
    if result.aborted or result.write_error is not None or (settings.verify and result.damaged):
        raise SystemExit(EXIT_FAILED)


def _fail(message: str) -> None:
    print(f"sim-sweep: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


HELP = """
Usage: sim-sweep experiment=NAME [setting=value ...] [model.parameter=value ...]

Runs an experiment's scenarios x design points x replicates on all cores, writes
each finished batch to <out>/runs/ (a rerun resumes), then the analysis:
summary.csv, plots, Sobol/Morris indices and PRIM boxes, and a short summary.

Experiments (experiments/NAME.yaml): {experiments}

Common settings (any field of the experiment file can be set the same way):
  out=DIR              where to write (default results/<experiment>)
  replicates=N         replicates per scenario and design point
  steps=N              months per run; the analysis follows (a 20-month run is
                       summarized at month 20 instead of 50)
  design.samples=N     points of a Latin hypercube / Sobol / Morris design
  workers=N            local processes (0: all cores)
  executor=dask dask.address=tcp://HOST:8786    run on a Dask cluster
  analyze=false        only run; analyse later with sim-analyze out=DIR
Model settings (every run of the sweep): any parameter, e.g.
  district.schools=30  policy.goal_clarity=0.8
Scenario presets: {presets} (combine with '{combine}', e.g. clear_problems{combine}flexibility)

Example:
  sim-sweep experiment=levers_factorial district.schools=30 steps=20 workers=2 out=results/lf

Every model parameter, its meaning, range and source: {parameters}.
Experiment fields: docs/sweeps.md.
"""


def split_model_settings(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Model settings (``district.schools=30``: a model parameter that is not a field of the experiment)
    and the other arguments. ``steps`` and ``seed`` are experiment fields (run length, base seed)."""
    fields = set(SweepSchema.__dataclass_fields__)
    model, rest = [], []
    for a in args:
        key = a.split("=", 1)[0].lstrip("+~")
        if "=" in a and not key.startswith("hydra") and key.split(".")[0] not in fields and not is_model_key(key):
            raise ConfigError(f"Unknown setting '{key}' in '{a}': not a model parameter nor a field of the "
                              "experiment." + did_you_mean(key, [*fields, *parameter_specs()])
                              + " Model parameters are listed in docs/parameters.md, experiment fields in "
                              "docs/sweeps.md; run 'sim-sweep --help' for an example.")
        (model if "=" in a and is_model_key(key) and key.split(".")[0] not in fields else rest).append(a)
    return model, rest


def _with_model_settings(name: str, model: Sequence[str], rest: list[str]) -> list[str]:
    """``rest`` with the model settings appended to the experiment's ``overrides`` list."""
    if not model:
        return rest
    base = compose_experiment(name, [a for a in rest if not a.startswith(("hydra", "-"))])
    merged = [*map(str, base.overrides), *model]
    listed = ",".join("'" + o.replace("'", "\\'") + "'" for o in merged)
    return [a for a in rest if a.split("=", 1)[0] != "overrides"] + [f"overrides=[{listed}]"]


def check_args(args: Sequence[str]) -> tuple[Path, str, list[str]]:
    """Validate the command line before Hydra starts: the experiment, its runs, the output folder.

    Returns the experiment's config directory and name and the other
    arguments (model settings folded into ``overrides``); raises ConfigError on
    bad input (and OSError when the output folder cannot be written).
    """
    from sim.runs.experiment import available_experiments

    chosen = [a for a in args if a.split("=", 1)[0] == "experiment"]
    if len(chosen) != 1 or not chosen[0].split("=", 1)[1]:
        raise ConfigError("choose one experiment with experiment=NAME (a file in experiments/, or a path to a YAML "
                          f"file). Available: {', '.join(available_experiments())}. Run 'sim-sweep --help' for "
                          "an example.")
    name = chosen[0].split("=", 1)[1]
    model, rest = split_model_settings([a for a in args if a != chosen[0]])
    directory, stem = locate(name)
    if not any(a.startswith("-") for a in rest):
        rest = _with_model_settings(name, model, rest)
        cfg = compose_experiment(name, [a for a in rest if not a.startswith("hydra")])
        exp = parse_experiment(cfg)
        settings = Settings.from_config(cfg)
        check_resumable(exp, make_plan(exp, make_design(exp)), RunStore(settings.out))
        check_writable(settings.out)
    return directory, stem, rest


def main() -> None:
    """Console entry point of ``sim-sweep``: validate everything, then start the Hydra app."""
    import hydra

    from sim.runs.experiment import available_experiments

    catch_ctrl_c()
    args = sys.argv[1:]
    if wants_help(args):
        show_help(HELP.replace("{experiments}", ", ".join(available_experiments())))
    COMMAND[:] = args
    try:
        directory, stem, rest = check_args(args)
    except ConfigError as exc:
        _fail(str(exc))
    register_schema()
    # Hydra writes its .hydra/ record into the sweep's folder; the sweep itself does not log.
    sys.argv = [sys.argv[0], f"experiment={stem}", "hydra.run.dir=${out}", "hydra/job_logging=none",
                "hydra/hydra_logging=none", *rest]
    hydra.main(config_path=str(directory), config_name=stem, version_base="1.3")(_hydra_app)()


if __name__ == "__main__":
    main()
