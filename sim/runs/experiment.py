"""Experiment definitions (``experiments/*.yaml``), their validation and designs.

An experiment names the scenarios, the parameters to vary (dotted paths of
``scenarios/config.yaml`` with ``values: [...]`` or ``range: [lo, hi]``), the
design (full factorial, Latin hypercube, SALib Sobol or Morris), replicates,
steps and the metrics to keep. Files are composed by Hydra: each starts with
``defaults: [sweep_schema, _self_]``, which brings in :class:`SweepSchema`
(every field, its type and default) and lets one experiment build on another.

:func:`parse_experiment` checks everything against
:func:`sim.config.parameter_specs` and raises :class:`sim.config.ConfigError`
with a readable message, so that ``sim-sweep`` refuses bad files before any
run starts. :func:`make_design` and :func:`make_plan` turn an experiment into
parameter points and runs; every run has an identity (``run_id``) and a seed
keyed to it, so results never depend on worker count or completion order.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import yaml
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from sim.config import (REPO_ROOT, ConfigError, ParamSpec, available_scenarios, load_config, parameter_specs,
                        preset_parameters, read_yaml, yaml_problem)
from sim.district.metrics import METRICS
from sim.inputs.survey import check_init_survey
from sim.runs.executors import EXECUTORS
from sim.runs.posterior import Posterior, fixed_parameters, load_posterior, refuse_fixed
from sim.runs.runner import COMBINE, RunSpec, run_seed, scenario_presets

EXPERIMENTS_DIR = Path(os.environ.get("SIM_EXPERIMENTS_DIR", REPO_ROOT / "experiments")).resolve()
SCHEMA_NAME = "sweep_schema"
DESIGNS = ("factorial", "lhs", "sobol", "morris")
SALIB_DESIGNS = ("sobol", "morris")
SEED_MODES = ("common", "independent")
HEADLINE = ("teacher_adoption", "deep_adoption", "schoolwide_share", "replicated_models")
#: Default limit on the runs of one sweep (``max_runs``): planning takes about PLAN_BYTES_PER_RUN bytes per run,
#: so a million runs plan in about 2 GB; raise it explicitly for a larger design.
MAX_RUNS = 1_000_000
#: Memory the plan of one run takes (SweepRun, RunSpec and identity; 1.4 kB measured with tracemalloc, rounded up).
PLAN_BYTES_PER_RUN = 2_000
#: Simulation speed for the time estimate: teacher-steps per second on one core (docs/performance.md: 4.2 M).
TEACHER_STEPS_PER_SECOND = 4.0e6
#: Fixed cost of one run (set-up, collection, writing), seconds (docs/performance.md: a 2,000-teacher,
#: 50-step run takes 24 ms in all).
RUN_OVERHEAD_SECONDS = 0.005
#: Parameters that a sweep sets itself (replicate seeds, steps, sim-run settings).
RESERVED = ("seed", "steps", "run.")


# --------------------------------------------------------------------------- schema (Hydra)

@dataclass
class DesignConfig:
    """How parameter points are chosen."""

    method: str = "factorial"  # factorial | lhs | sobol | morris
    samples: int = 0  # lhs: points; sobol: base sample N (a power of 2); morris: trajectories
    seed: int = 0  # seed of the sampling design (lhs, sobol, morris)
    levels: int = 4  # morris: grid levels
    second_order: bool = False  # sobol: also second-order indices (costs (2D+2)N instead of (D+2)N runs)


@dataclass
class DiscoveryConfig:
    """Scenario discovery with PRIM: which runs count as success."""

    metric: Optional[str] = None  # metric defining success (None: no discovery)
    threshold: float = 0.5  # success: metric >= threshold (or <= when above is false)
    above: bool = True
    density: float = 0.8  # PRIM density threshold a box must reach
    max_boxes: int = 3
    mass_min: float = 0.05
    peel_alpha: float = 0.05


@dataclass
class AnalysisConfig:
    """What the analysis summarizes and plots."""

    steps: Optional[list[int]] = None  # steps summarized (None: the last step)
    metrics: list[str] = field(default_factory=lambda: list(HEADLINE))
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)


@dataclass
class DaskConfig:
    """Dask executor settings."""

    address: Optional[str] = None  # tcp://HOST:PORT or a scheduler file *.json (None: a LocalCluster)
    processes: bool = True  # LocalCluster: worker processes (false: threads)
    dashboard: Optional[str] = "127.0.0.1:0"  # LocalCluster dashboard host:port (this machine only; null: none)


@dataclass
class SweepSchema:
    """Every field of an experiment file, with its default (runner settings included)."""

    experiment: str = MISSING  # set from experiment=NAME
    description: str = ""
    scenarios: Any = "all"  # "all" or a list of scenario labels (presets joined by '+')
    overrides: list[str] = field(default_factory=list)  # model overrides applied to every run
    parameters: dict[str, Any] = field(default_factory=dict)
    design: DesignConfig = field(default_factory=DesignConfig)
    replicates: int = 1
    seed: int = 0  # base seed of the replicate seeds
    seeds: str = "independent"  # common: same seeds for every scenario/point; independent: keyed to the run
    steps: Optional[int] = None  # None: the model's default
    record_every: int = 1  # record every k steps (and the last); 0: the last step only
    metrics: Any = "all"  # "all" or a list from sim.district.metrics.METRICS
    posterior: Optional[str] = None  # posterior sample CSV: each run draws the parameters the design does not set
    parameter_set: Optional[str] = None  # "behavioural": vary every numeric behavioural parameter over its range
    exclude: list[str] = field(default_factory=list)  # glob patterns of parameters parameter_set leaves out
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    # runner settings (usually given on the command line)
    out: str = "results/${experiment}"
    workers: int = 0  # local processes (0: all cores); LocalCluster workers for executor=dask
    executor: str = "local"  # local | dask
    dask: DaskConfig = field(default_factory=DaskConfig)
    batch_size: int = 0  # runs per task (0: automatic)
    progress: bool = True
    analyze: bool = True  # write summary.csv, plots and indices after the sweep
    retry_failed: bool = False  # rerun runs recorded as failed
    max_runs: int = 1_000_000  # refuse a design with more runs unless raised (docs/robustness.md)
    verify: bool = False  # only check the stored batches against their checksums (damaged ones are set aside)


def register_schema() -> None:
    """Make ``sweep_schema`` available to experiment files' defaults lists."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=SweepSchema)


# --------------------------------------------------------------------------- locating and composing

def available_experiments(directory: Path = EXPERIMENTS_DIR) -> list[str]:
    """Names of the sweep experiments in ``directory`` (files using the sweep schema)."""
    return sorted(p.stem for p in directory.glob("*.yaml")
                  if SCHEMA_NAME in p.read_text(encoding="utf-8", errors="replace"))


def locate(name: str) -> tuple[Path, str]:
    """Config directory and config name of an experiment given by name or by path to a YAML file."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"Experiment file '{name}' does not exist.")
        return path.parent, path.stem
    if not (EXPERIMENTS_DIR / f"{name}.yaml").is_file():
        known = available_experiments()
        hint = difflib.get_close_matches(name, known, n=1)
        raise ConfigError(f"Unknown experiment '{name}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                          + f" Allowed: {', '.join(known)} (files in {EXPERIMENTS_DIR}), or a path to a "
                          "YAML file.")
    return EXPERIMENTS_DIR, name


def compose_experiment(name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose an experiment file with command-line overrides (Hydra compose API)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    directory, stem = locate(name)
    raw = read_yaml(directory / f"{stem}.yaml", "experiment file")  # file, line and column if it is not YAML
    if not isinstance(raw, dict):
        raise ConfigError(f"Experiment file {directory / stem}.yaml must be a mapping of fields, starting with "
                          f"'defaults: [{SCHEMA_NAME}, _self_]'.")
    register_schema()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(directory), version_base="1.3"):
            plain = compose(config_name=stem)
            if "executor" not in plain:
                raise ConfigError(f"Experiment file {directory / stem}.yaml does not use the sweep schema: it "
                                  f"must start with 'defaults: [{SCHEMA_NAME}, _self_]'.")
            cfg = compose(config_name=stem, overrides=[f"experiment={stem}", *overrides])
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"Experiment '{stem}': {_first_line(exc)}") from None
    except yaml.YAMLError as exc:  # a file it builds on (defaults list) is not YAML
        raise ConfigError(f"Experiment '{stem}': a file in its defaults list is not valid YAML at "
                          f"{yaml_problem(exc)}.") from None
    return cfg


_SCHEMAS = {cls.__name__: cls for cls in (SweepSchema, DesignConfig, AnalysisConfig, DiscoveryConfig, DaskConfig)}


def _first_line(exc: BaseException) -> str:
    """Hydra/OmegaConf's reason in one line, with the allowed fields when a key is unknown."""
    parts = []
    for e in (exc, exc.__cause__):
        if e is not None:
            lines = [ln.strip() for ln in str(e).splitlines()
                     if ln.strip() and not ln.strip().startswith(("full_key", "object_type", "reference_type"))]
            line = " ".join(lines).split("raised while composing config:")[-1].strip()
            key = re.search(r"full_key: (\S+)", str(e))
            if line:
                parts.append(line + (f" (field '{key.group(1)}')" if key and key.group(1) not in line else ""))
    text = ". ".join(dict.fromkeys(p.rstrip(".") for p in parts)) + "." if parts else type(exc).__name__
    match = re.search(r"Key '([^']+)' not in '(\w+)'", text)
    if match and match.group(2) in _SCHEMAS:
        known = [f.name for f in dataclasses.fields(_SCHEMAS[match.group(2)])]
        hint = difflib.get_close_matches(match.group(1), known, n=1)
        text += (f" Did you mean '{hint[0]}'?" if hint else "") + f" Allowed fields here: {', '.join(known)}."
    return text


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class Parameter:
    """A varied parameter: discrete ``values`` or a continuous/integer ``bounds`` range."""

    path: str
    spec: ParamSpec
    values: tuple[Any, ...] | None = None
    bounds: tuple[float, float] | None = None

    @property
    def integer(self) -> bool:
        """Whether the model parameter takes integers."""
        d = self.spec.default
        return isinstance(d, int) and not isinstance(d, bool)

    @property
    def kind(self) -> str:
        """Column type in the dataset: float, int, bool or str."""
        if self.values is not None:
            if all(isinstance(v, bool) for v in self.values):
                return "bool"
            if all(isinstance(v, int) and not isinstance(v, bool) for v in self.values) and self.integer:
                return "int"
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values):
                return "float"
            return "str"
        return "int" if self.integer else "float"

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Map samples in [0, 1) to parameter values (uniform over the range or the values)."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, np.nextafter(1.0, 0.0))
        if self.values is not None:
            return [self.values[int(i)] for i in np.floor(u * len(self.values))]
        lo, hi = self.bounds  # type: ignore[misc]
        if self.integer:
            return [int(v) for v in np.minimum(np.floor(lo + u * (hi - lo + 1)), hi)]
        return [float(v) for v in lo + u * (hi - lo)]


def check_value(spec: ParamSpec, value: Any) -> None:
    """Raise ConfigError unless ``value`` is allowed for the parameter (same rule as a run's validation)."""
    from sim.config import _check_value  # the single implementation of the allowed-value rule

    _check_value(spec, value)


def _flatten(node: dict, prefix: str = "") -> dict[str, dict]:
    """``{path: {values|range: ...}}`` from nested or dotted parameter keys."""
    out: dict[str, dict] = {}
    for key, val in node.items():
        path = f"{prefix}{key}"
        if isinstance(val, dict) and ({"values", "range"} & set(val) or path in parameter_specs()):
            out[path] = val
        elif isinstance(val, dict) and val:
            out.update(_flatten(val, path + "."))
        else:
            raise ConfigError(f"parameters.{path}: give the values to try as 'values: [a, b, ...]' or a range "
                              f"as 'range: [lo, hi]' (got {val!r}).")
    return out


def _unknown_parameter(path: str) -> ConfigError:
    specs = parameter_specs()
    hint = difflib.get_close_matches(path, list(specs), n=1)
    section = path.rsplit(".", 1)[0] if "." in path else ""
    siblings = sorted(p for p in specs if section and p.startswith(section + "."))
    allowed = (f"Parameters under '{section}': {', '.join(siblings)}." if siblings else
               f"Sections: {', '.join(sorted({p.split('.')[0] for p in specs}))}.")
    return ConfigError(f"Unknown parameter 'parameters.{path}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                       + f" {allowed} See scenarios/config.yaml for every parameter.")


def parse_parameter(path: str, entry: dict, method: str) -> Parameter:
    """Validate one varied parameter against its spec in ``scenarios/config.yaml``."""
    specs = parameter_specs()
    if path not in specs:
        raise _unknown_parameter(path)
    if path == "seed" or path == "steps" or path.startswith("run."):
        raise ConfigError(f"parameters.{path} cannot be varied: replicate seeds come from 'seed' and "
                          "'replicates', steps from 'steps', and run.* are sim-run settings.")
    spec = specs[path]
    if spec.range is None and spec.choices is None:
        raise ConfigError(f"parameters.{path} ({spec.meaning}) is text and cannot be varied.")
    extra = set(entry) - {"values", "range"}
    if extra or ("values" in entry) == ("range" in entry):
        raise ConfigError(f"parameters.{path}: give exactly one of 'values: [a, b, ...]' or 'range: [lo, hi]'"
                          + (f" (unknown key(s): {', '.join(sorted(extra))})" if extra else "") + ".")
    if "values" in entry:
        values = entry["values"]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"parameters.{path}.values is empty: give at least one value, "
                              f"{spec.allowed()}.")
        for v in values:
            _check(path, spec, v)
        if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
            raise ConfigError(f"parameters.{path}.values repeats a value: {values}.")
        return Parameter(path, spec, values=tuple(values))
    if method == "factorial":
        raise ConfigError(f"parameters.{path}: a factorial design needs 'values: [a, b, ...]'; ranges "
                          f"('range: [lo, hi]') are for design.method lhs, sobol or morris.")
    rng = entry["range"]
    if spec.range is None or isinstance(spec.default, list):
        raise ConfigError(f"parameters.{path} takes {spec.allowed()}: list them with 'values: [...]' "
                          "instead of a range.")
    if not (isinstance(rng, list) and len(rng) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in rng)):
        raise ConfigError(f"parameters.{path}.range must be two numbers [lo, hi]; got {rng!r}.")
    lo, hi = rng
    if not lo < hi:
        raise ConfigError(f"parameters.{path}.range [{lo}, {hi}] is empty: the lower bound must be below the "
                          f"upper bound; allowed is {spec.allowed()}.")
    for v in (lo, hi):
        _check(path, spec, v)
    return Parameter(path, spec, bounds=(lo, hi))


def _check(path: str, spec: ParamSpec, value: Any) -> None:
    try:
        check_value(spec, value)
    except ConfigError as exc:
        raise ConfigError(f"parameters.{path}: {exc}") from None


# --------------------------------------------------------------------------- parameter sets

#: Named sets of parameters an experiment can vary at once (``parameter_set``).
PARAMETER_SETS = ("behavioural",)
#: Not behavioural: replicate seeds, run length, district size, sim-run, metric, survey and input settings.
NOT_BEHAVIOURAL = ("seed", "steps", "district.schools", "district.teachers_per_school", "district.name", "run.*",
                   "metrics.*", "survey.*", "init.*")


def parameter_set(name: str, exclude: Sequence[str], overrides: Sequence[str], method: str) -> dict[str, dict]:
    """``{path: {range: [lo, hi]}}`` for every parameter of a named set (each over its documented range).

    ``behavioural``: every numeric (integer or real, not list) parameter of
    ``scenarios/config.yaml`` that is not a bookkeeping, size, metric, survey or
    input setting (:data:`NOT_BEHAVIOURAL`) nor a policy lever (a parameter some
    preset sets: varying it would erase the scenarios' differences), minus those
    matching ``exclude`` (glob patterns, e.g. ``"*.step"``) and those fixed in
    ``overrides``.
    Parameters listed under ``parameters`` override their entry here (e.g. a
    narrower range).
    """
    if name not in PARAMETER_SETS:
        hint = difflib.get_close_matches(name, PARAMETER_SETS, n=1)
        raise ConfigError(f"Unknown parameter_set '{name}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                          + f" Allowed: {', '.join(PARAMETER_SETS)}.")
    if method not in ("lhs", *SALIB_DESIGNS):
        raise ConfigError(f"parameter_set varies parameters over ranges: use design.method lhs, sobol or morris "
                          f"(not {method}).")
    fixed = {ov.split("=", 1)[0].lstrip("+~") for ov in overrides} | preset_parameters()
    out = {}
    for path, spec in parameter_specs().items():
        numeric = spec.range is not None and spec.choices is None and not isinstance(spec.default, list | bool)
        skipped = any(fnmatch.fnmatchcase(path, pat) for pat in (*NOT_BEHAVIOURAL, *exclude))
        if numeric and not skipped and path not in fixed and spec.range[0] < spec.range[1]:
            lo, hi = spec.range
            out[path] = {"range": [int(lo), int(hi)] if isinstance(spec.default, int) else [lo, hi]}
    return out


# --------------------------------------------------------------------------- the experiment

@dataclass(frozen=True)
class Experiment:
    """A validated experiment (see the module docstring)."""

    name: str
    scenarios: tuple[str, ...]
    overrides: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    design: DesignConfig
    replicates: int
    seed: int
    seeds: str
    steps: dict[str, int]  # per scenario label
    record_every: int
    metrics: tuple[str, ...]
    analysis: AnalysisConfig
    config: dict  # the composed experiment, resolved (scenarios expanded)
    posterior: Posterior | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Paths of the varied parameters, in order."""
        return tuple(p.path for p in self.parameters)


def _int_field(cfg: DictConfig, key: str, lo: int, hi: int | None = None, what: str = "") -> int:
    value = OmegaConf.select(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        allowed = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise ConfigError(f"Invalid {key}={value!r}{(' (' + what + ')') if what else ''}: allowed is {allowed}.")
    return value


def _choice_field(cfg: DictConfig, key: str, choices: Sequence[str]) -> str:
    value = OmegaConf.select(cfg, key)
    if value not in choices:
        raise ConfigError(f"Invalid {key}={value!r}: allowed is one of {', '.join(choices)}.")
    return value


def _scenario_labels(value: Any) -> list[str]:
    if value == "all":
        return available_scenarios()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"Invalid scenarios={value!r}: allowed is 'all' or a non-empty list of scenario labels "
                          f"(presets joined by '{COMBINE}') from: {', '.join(available_scenarios())}.")
    if len(set(value)) < len(value):
        raise ConfigError(f"scenarios lists a scenario twice: {value}.")
    return list(value)


def _metric_list(value: Any, key: str, allowed: Sequence[str]) -> tuple[str, ...]:
    if value == "all":
        return tuple(allowed)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"Invalid {key}={value!r}: allowed is a non-empty list from: {', '.join(allowed)}.")
    for m in value:
        if m not in allowed:
            hint = difflib.get_close_matches(str(m), list(allowed), n=1)
            raise ConfigError(f"Unknown metric '{m}' in {key}." + (f" Did you mean '{hint[0]}'?" if hint else "")
                              + f" Allowed: {', '.join(allowed)}.")
    return tuple(value)


def parse_experiment(cfg: DictConfig | dict, steps: dict[str, int] | None = None) -> Experiment:
    """Validate a composed experiment; raise ConfigError naming the field and the allowed values.

    ``steps`` (steps per scenario label, as recorded in a sweep's
    ``experiment.yaml``) skips composing the scenarios' model configurations,
    so a finished sweep can be analyzed after presets changed.
    """
    if isinstance(cfg, dict):
        cfg = OmegaConf.merge(OmegaConf.structured(SweepSchema), cfg)
    known = [f.name for f in dataclasses.fields(SweepSchema)]
    for key in cfg:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1)
            raise ConfigError(f"Unknown experiment field '{key}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                              + f" Allowed fields: {', '.join(known)}.")
    name = str(cfg.experiment)
    method = _choice_field(cfg, "design.method", DESIGNS)
    replicates = _int_field(cfg, "replicates", 1, what="runs per scenario and parameter point")
    seed = _int_field(cfg, "seed", 0, 2**32 - 1)
    seeds = _choice_field(cfg, "seeds", SEED_MODES)
    record_every = _int_field(cfg, "record_every", 0, what="0 records only the last step")
    _int_field(cfg, "workers", 0, what="0 uses all cores")
    _int_field(cfg, "batch_size", 0, what="0 chooses automatically")
    _choice_field(cfg, "executor", EXECUTORS)
    metrics = _metric_list(_plain(cfg.metrics), "metrics", METRICS)

    overrides = tuple(str(o) for o in cfg.overrides)
    for ov in overrides:
        key = ov.split("=", 1)[0].lstrip("+~")
        if key in ("scenario", "seed", "steps") or key.startswith(("run.", "hydra")):
            raise ConfigError(f"overrides: '{ov}' is not allowed there; set scenarios with 'scenarios', the "
                              "base seed with 'seed', and the number of steps with 'steps'.")
    labels = _scenario_labels(_plain(cfg.scenarios)) if steps is None else list(steps)

    raw = _flatten(OmegaConf.to_container(cfg.parameters, resolve=True))
    if cfg.parameter_set is not None:
        raw = {**parameter_set(str(cfg.parameter_set), list(cfg.exclude), overrides, method), **raw}
    elif len(cfg.exclude):
        raise ConfigError("exclude lists parameters to leave out of a parameter_set; set parameter_set: "
                          f"{PARAMETER_SETS[0]} or drop exclude.")
    parameters = tuple(parse_parameter(path, entry, method) for path, entry in raw.items())
    for p in parameters:
        if any(ov.split("=", 1)[0].lstrip("+~") == p.path for ov in overrides):
            raise ConfigError(f"parameters.{p.path} is varied and also fixed in overrides; keep one.")

    design = OmegaConf.to_object(cfg.design)
    if method in ("lhs", *SALIB_DESIGNS):
        if not parameters:
            raise ConfigError(f"design.method={method} needs at least one parameter to vary under 'parameters'.")
        _int_field(cfg, "design.samples", 1, what="lhs points, sobol base sample or morris trajectories")
    if method == "sobol" and design.samples & (design.samples - 1):
        lower = 2 ** int(math.log2(design.samples))
        raise ConfigError(f"Invalid design.samples={design.samples} for a Sobol design: allowed is a power of 2 "
                          f"(e.g. {lower} or {2 * lower}), as Sobol' sequences require.")
    if method == "morris":
        _int_field(cfg, "design.levels", 2, what="Morris grid levels")
    _int_field(cfg, "design.seed", 0, 2**32 - 1)

    fixed = list(overrides) + ([f"steps={cfg.steps}"] if cfg.steps is not None else [])
    teacher_steps: dict[str, int] = {}
    if steps is None:
        steps = {}
        for label in labels:
            try:
                scenario_cfg = load_config(scenario_presets(label), fixed)
                check_init_survey(scenario_cfg)
            except ConfigError as exc:
                raise ConfigError(f"Scenario '{label}' with overrides {fixed}: {exc}") from None
            steps[label] = int(scenario_cfg.steps)
            teacher_steps[label] = (steps[label] * int(scenario_cfg.district.schools)
                                    * int(scenario_cfg.district.teachers_per_school))

    analysis = OmegaConf.to_object(cfg.analysis)
    analysis.metrics = list(_metric_list(list(analysis.metrics), "analysis.metrics", metrics))
    analysis.steps = follow_run_length(analysis.steps, min(steps.values()))
    for s in analysis.steps or []:
        if not _recorded(s, min(steps.values()), record_every):
            raise ConfigError(f"Invalid analysis.steps entry {s!r}: allowed are recorded steps between 0 and "
                              f"{min(steps.values())} (multiples of record_every={record_every}, or the last).")
    disc = analysis.discovery
    if disc.metric is not None:
        _metric_list([disc.metric], "analysis.discovery.metric", metrics)
        if not parameters:
            raise ConfigError("analysis.discovery needs varied parameters (a design over the levers).")
        if not 0 < disc.density <= 1 or not 0 < disc.mass_min < 1 or not 0 < disc.peel_alpha < 1:
            raise ConfigError("analysis.discovery: density must be in (0, 1], mass_min and peel_alpha in (0, 1).")
        _int_field(cfg, "analysis.discovery.max_boxes", 1)

    max_runs = _int_field(cfg, "max_runs", 1, what="the largest design this sweep may plan")
    if teacher_steps:
        size = DesignSize.of(method, parameters, design, replicates, teacher_steps)
        if size.runs > max_runs:
            raise ConfigError(f"This design is too large to plan: {size}. The limit is max_runs={max_runs} "
                              f"(default {MAX_RUNS:,}); if you mean it, raise it with max_runs={size.runs}, or "
                              "choose fewer replicates, points or scenarios.")


    posterior = None
    if cfg.posterior:
        posterior = load_posterior(Path(str(cfg.posterior)))
        refuse_fixed(posterior, fixed_parameters(labels, overrides))
    config = OmegaConf.to_container(cfg, resolve=True)
    config["scenarios"] = labels
    if cfg.parameter_set is not None:  # record the expanded set: later analyses must not re-expand a changed config
        config.update(parameters={k: raw[k] for k in raw}, parameter_set=None, exclude=[])
    return Experiment(name=name, scenarios=tuple(labels), overrides=overrides, parameters=parameters,
                      design=design, replicates=replicates, seed=seed, seeds=seeds, steps=steps,
                      record_every=record_every, metrics=metrics, analysis=analysis, config=config,
                      posterior=posterior)


@dataclass(frozen=True)
class DesignSize:
    """What a design costs, estimated before it is built (:func:`parse_experiment` refuses it above ``max_runs``)."""

    rows: int  # design rows (parameter points; SALib designs may repeat some)
    scenarios: int
    replicates: int
    cpu_seconds: float  # simulation time on one core
    plan_bytes: int  # memory to plan the runs

    @property
    def runs(self) -> int:
        """Scenarios x design rows x replicates (an upper bound: repeated points run once)."""
        return self.scenarios * self.rows * self.replicates

    @classmethod
    def of(cls, method: str, parameters: Sequence[Parameter], design: DesignConfig, replicates: int,
           teacher_steps: dict[str, int]) -> DesignSize:
        """Estimate from the design's definition alone (Python integers: no overflow, nothing built)."""
        d = len(parameters)
        if method == "factorial":
            rows = math.prod(len(p.values) for p in parameters)  # type: ignore[arg-type]
        elif method == "lhs":
            rows = design.samples
        elif method == "sobol":
            rows = design.samples * ((2 * d + 2) if design.second_order else (d + 2))
        else:
            rows = design.samples * (d + 1)
        per_point = sum(RUN_OVERHEAD_SECONDS + ts / TEACHER_STEPS_PER_SECOND for ts in teacher_steps.values())
        return cls(rows=rows, scenarios=len(teacher_steps), replicates=replicates,
                   cpu_seconds=rows * replicates * per_point,
                   plan_bytes=len(teacher_steps) * rows * replicates * PLAN_BYTES_PER_RUN)

    def __str__(self) -> str:
        hours = self.cpu_seconds / 3600
        return (f"{self.runs:,} runs ({self.scenarios} scenario(s) x {self.rows:,} design point(s) x "
                f"{self.replicates:,} replicate(s)), about {hours:,.1f} CPU-hours of simulation and "
                f"{self.plan_bytes / 1e9:,.1f} GB of memory to plan")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig | ListConfig) else value


def _recorded(step: int, last: int, every: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def follow_run_length(wanted: list[int] | None, last: int) -> list[int] | None:
    """The analysis steps of a run of ``last`` steps: those within the run, plus its last step if some
    lay beyond it (a shorter run, e.g. ``steps=20`` on the command line, is summarized where it ends).

    Raises ConfigError for an entry that is not a whole number >= 0.
    """
    if wanted is None:
        return None
    for s in wanted:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ConfigError(f"Invalid analysis.steps entry {s!r}: allowed are whole numbers of steps >= 0.")
    kept = [s for s in wanted if s <= last]
    return sorted(set(kept + ([last] if len(kept) < len(wanted) else [])))


def recorded_steps(last: int, every: int) -> list[int]:
    """Steps kept in the dataset: every ``every`` steps from 0, and the last."""
    return [s for s in range(last + 1) if _recorded(s, last, every)]


# --------------------------------------------------------------------------- designs

@dataclass(frozen=True)
class Design:
    """Parameter points of an experiment (one per design row; SALib designs may repeat points)."""

    method: str
    names: tuple[str, ...]
    points: list[dict[str, Any]]
    unit: np.ndarray | None = None  # rows x names, in [0, 1): the sample LHS/SALib drew

    def problem(self) -> dict:
        """SALib problem over the unit hypercube (parameters are mapped from [0, 1))."""
        return {"num_vars": len(self.names), "names": list(self.names), "bounds": [[0.0, 1.0]] * len(self.names)}

    def frame(self) -> pd.DataFrame:
        """One row per design row: ``row``, ``point`` key, parameter values, ``u:<name>`` unit coordinates."""
        columns = {"row": np.arange(len(self.points)), "point": [point_key(p) for p in self.points]}
        columns.update({name: [column_value(p[name]) for p in self.points] for name in self.names})
        if self.unit is not None:
            columns.update({f"u:{name}": self.unit[:, j] for j, name in enumerate(self.names)})
        return pd.DataFrame(columns)


def make_design(exp: Experiment) -> Design:
    """Draw the design's parameter points (deterministic given ``design.seed``)."""
    params, d = exp.parameters, exp.design
    names = tuple(p.path for p in params)
    if d.method == "factorial":
        combos = itertools.product(*(p.values for p in params))  # type: ignore[misc]
        return Design(d.method, names, [dict(zip(names, c)) for c in combos])
    if d.method == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(params), rng=np.random.default_rng(d.seed)).random(d.samples)
    elif d.method == "sobol":
        from SALib.sample import sobol

        problem = Design(d.method, names, []).problem()
        unit = sobol.sample(problem, d.samples, calc_second_order=d.second_order, scramble=True, seed=d.seed)
    else:
        from SALib.sample import morris

        problem = Design(d.method, names, []).problem()
        unit = morris.sample(problem, d.samples, num_levels=d.levels, seed=d.seed)
    columns = [p.from_unit(unit[:, j]) for j, p in enumerate(params)]
    points = [dict(zip(names, row)) for row in zip(*columns)]
    return Design(d.method, names, points, unit)


# --------------------------------------------------------------------------- runs

def column_value(value: Any) -> Any:
    """A parameter value as stored in a dataset column (lists become JSON text)."""
    return json.dumps(value) if isinstance(value, list | tuple | dict) else value


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def point_key(point: dict[str, Any]) -> str:
    """Identity of a parameter point (16 hex digits; empty point: ``"-"``)."""
    return _digest(point)[:16] if point else "-"


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its identity, parameter point and what to simulate."""

    run_id: str
    point: str
    point_values: tuple[tuple[str, Any], ...]
    spec: RunSpec


def config_digest(label: str, overrides: Sequence[str]) -> str:
    """Fingerprint of a scenario's resolved model configuration (without sim-run settings and the default seed)."""
    cfg = OmegaConf.to_container(load_config(scenario_presets(label), overrides), resolve=True)
    return _digest({k: v for k, v in cfg.items() if k not in ("run", "seed")})[:16]


def make_plan(exp: Experiment, design: Design) -> list[SweepRun]:
    """All runs: scenarios x distinct design points x replicates, each with its id and seed.

    A run's identity covers everything that determines its numbers or its rows:
    scenario, resolved model configuration (so edited presets or defaults
    give new runs), parameter point, replicate, seed, overrides, steps,
    recording and metrics.
    """
    unique = list({point_key(p): p for p in design.points}.items())
    runs = []
    for label in exp.scenarios:
        fixed = (*exp.overrides, f"steps={exp.steps[label]}")
        config = config_digest(label, fixed)
        for key, point in unique:
            values = tuple((name, point[name]) for name in design.names)
            seed_key = None if exp.seeds == "common" else int(_digest([label, key])[:15], 16)
            for r in range(exp.replicates):
                seed = run_seed(exp.seed, r, seed_key)
                identity = {"scenario": label, "config": config, "point": point, "replicate": r, "seed": seed,
                            "overrides": fixed, "record_every": exp.record_every, "metrics": exp.metrics}
                drawn: tuple[tuple[str, Any], ...] = ()
                if exp.posterior is not None:
                    row = exp.posterior.draw_index(exp.seed, r, None if exp.seeds == "common" else seed_key)
                    drawn = tuple((n, v) for n, v in exp.posterior.row(row) if n not in design.names)
                    identity["posterior"] = [exp.posterior.digest, row]
                runs.append(SweepRun(_digest(identity)[:16], key, values,
                                     RunSpec(label, r, seed, fixed, (*drawn, *values))))
    return runs
