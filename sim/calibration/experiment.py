"""Calibration experiments: ``experiments/NAME.yaml`` read and validated.

An experiment lists the free parameters (dotted keys of scenarios/config.yaml)
with their priors, the fixed ones, what is compared (survey statistics, or
the calibration targets of a cases file such as experiments/data/cases.yaml)
and the ABC and executor settings (fields documented in docs/calibration.md). Anything
wrong is refused with a :class:`sim.config.ConfigError` naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from sim.config import REPO_ROOT, ConfigError, _is_int, load_config, parameter_specs, read_yaml
from sim.inputs.survey import STATISTICS, statistics_spec

EXPERIMENTS_DIR = REPO_ROOT / "experiments"
EXECUTORS = ("processes", "dask", "single")
SCHEDULING = ("static", "dynamic")
PRIORS = ("uniform", "normal")
DISTANCES = ("regression", "adaptive", "pattern")
#: Perturbation kernels of ABC-SMC: pyabc's MultivariateNormalTransition (one covariance for the whole
#: population) or LocalTransition (a covariance per particle from its nearest neighbours, for narrow or
#: curved posteriors, where one global kernel gives very uneven importance weights).
TRANSITIONS = ("normal", "local")
#: How the posterior is found: rejection ABC / ABC-SMC with pyabc, or neural posterior estimation with sbi.
METHODS = ("abc", "npe")
#: sbi's density estimators for NPE: masked autoregressive flow (sbi's default), neural spline flow,
#: mixture density network.
ESTIMATORS = ("maf", "nsf", "mdn")
#: The space NPE learns the parameters in: as they are (sbi's default), or the logit space of their uniform priors.
NPE_TRANSFORMS = ("none", "logit")


@dataclass(frozen=True)
class NpeSettings:
    """The ``npe:`` section of an experiment (neural posterior estimation; docs/calibration.md).

    ``simulations`` prior simulations train the estimator; ``draws`` posterior
    draws are kept; ``chunk`` simulations go to one file of ``DIR/simulations/``
    (how often work is saved; no effect on the result). The training settings are
    sbi's (``estimator``, ``batch_size``, ``learning_rate``, ``stop_after_epochs``;
    defaults are sbi's own), ``max_epochs`` (0: no limit, sbi's default) and ``transform`` (``none``,
    sbi's default: the estimator learns the parameters as they are; ``logit``: in the logit space of their
    uniform priors).
    """

    simulations: int = 4000
    draws: int = 300
    chunk: int = 200
    estimator: str = "maf"
    batch_size: int = 200
    learning_rate: float = 5e-4
    stop_after_epochs: int = 20
    max_epochs: int = 0
    transform: str = "none"


@dataclass(frozen=True)
class Prior:
    """Prior of one free parameter (a dotted key of scenarios/config.yaml).

    ``uniform``: on [low, high]. ``normal``: mean and sd, truncated to the
    parameter's documented range (so every draw is a valid configuration).
    """

    parameter: str
    kind: str
    low: float
    high: float
    mean: float | None = None
    sd: float | None = None

    def rv(self):
        """The prior as a ``pyabc.RV``."""
        import pyabc

        if self.kind == "uniform":
            return pyabc.RV("uniform", self.low, self.high - self.low)
        a, b = (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd
        return pyabc.RV("truncnorm", a, b, self.mean, self.sd)

    def describe(self) -> str:
        """The prior in words for tables: ``uniform 0-1`` or ``normal 0.3 ± 0.1 in 0-1``."""
        if self.kind == "uniform":
            return f"uniform {self.low:g}-{self.high:g}"
        return f"normal {self.mean:g} ± {self.sd:g} in {self.low:g}-{self.high:g}"

    def span(self) -> float:
        """Width of the prior's 5-95% interval (what a posterior's 5-95% span is compared with)."""
        rv = self.rv()
        return float(rv.ppf(0.95) - rv.ppf(0.05))


@dataclass(frozen=True)
class Experiment:
    """A calibration experiment (``experiments/NAME.yaml``; fields documented in docs/calibration.md)."""

    name: str
    path: Path
    scenario: tuple[str, ...]
    fixed: dict[str, Any]
    free: dict[str, Prior]
    statistics: dict[str, tuple[str, ...]]
    population: int = 200
    generations: int = 6
    min_acceptance_rate: float = 0.01
    max_simulations: int = 0
    seed: int = 0
    executor: str = "processes"
    scheduling: str = "static"
    workers: int = 0
    dask_address: str = ""
    predictive_draws: int = 100
    distance: str = "regression"
    pilot: int = 400
    quantile: float = 0.5
    transition: str = "normal"
    initial_epsilon: float | None = None
    cases: str = ""
    method: str = "abc"
    npe: NpeSettings = NpeSettings()

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed calibration must share with the stored one (not how it is executed).

        For NPE: what the stored prior simulations depend on (parameters, what is compared, seed); the
        number of simulations and the training settings may change (more simulations continue the stored ones).
        """
        if self.method == "npe":
            return {"method": "npe", "scenario": list(self.scenario), "fixed": dict(self.fixed),
                    "free": {k: asdict(v) for k, v in self.free.items()},
                    "statistics": {k: list(v) for k, v in self.statistics.items()}, "seed": self.seed,
                    **({"cases": self.cases} if self.cases else {})}
        return {"scenario": list(self.scenario), "fixed": dict(self.fixed),
                "free": {k: asdict(v) for k, v in self.free.items()},
                "statistics": {k: list(v) for k, v in self.statistics.items()}, "population": self.population,
                "seed": self.seed, "distance": self.distance, "pilot": self.pilot,
                "quantile": self.quantile, **({"transition": self.transition} if self.transition != "normal" else {}),
                **({"initial_epsilon": self.initial_epsilon} if self.initial_epsilon is not None else {}),
                "min_acceptance_rate": self.min_acceptance_rate, **({"cases": self.cases} if self.cases else {})}

    def overrides(self) -> list[str]:
        """The fixed parameters as Hydra override strings."""
        return [f"{k}={_override_value(v)}" for k, v in self.fixed.items()]


def _override_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list | tuple):
        return "[" + ",".join(_override_value(x) for x in v) + "]"
    if isinstance(v, str):
        return f"'{v}'" if v == "" or any(c in v for c in " ,=[]{}'\"") else v
    return str(v)


_EXPERIMENT_KEYS = {"description", "scenario", "fixed", "free", "statistics", "cases", "method", "abc", "npe",
                    "executor", "predictive"}
_ABC_KEYS = {"population": int, "generations": int, "min_acceptance_rate": float, "max_simulations": int,
             "seed": int, "distance": str, "pilot": int, "quantile": float,
             "transition": str, "initial_epsilon": float}
_NPE_KEYS = {"simulations": int, "draws": int, "seed": int, "chunk": int, "estimator": str, "batch_size": int,
             "learning_rate": float, "stop_after_epochs": int, "max_epochs": int, "transform": str}
_EXECUTOR_KEYS = {"kind": str, "scheduling": str, "workers": int, "dask_address": str}


def with_model_settings(exp: Experiment, settings: Sequence[str]) -> Experiment:
    """``exp`` with model settings from the command line (``district.schools=40``) added to its fixed values.

    Raises ConfigError for a free (calibrated) parameter or an invalid value.
    """
    if not settings:
        return exp
    fixed = dict(exp.fixed)
    for setting in settings:
        key, _, value = setting.partition("=")
        if key in exp.free:
            raise ConfigError(f"'{setting}': {key} is a free parameter of {exp.name} (calibrated from the survey), "
                              f"so it cannot be set. Free parameters: {', '.join(exp.free)}.")
        fixed[key] = yaml.safe_load(value) if value else value
    out = replace(exp, fixed=fixed)
    try:
        load_config(list(out.scenario), out.overrides())
    except ConfigError as exc:
        raise ConfigError(f"Model settings {' '.join(settings)}: {exc}") from None
    return out


def experiment_path(name: str) -> Path:
    """``experiments/NAME.yaml``, or ``name`` itself when it is a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml"):
        return p
    return EXPERIMENTS_DIR / f"{name}.yaml"


def available_experiments() -> list[str]:
    """Names of the calibration experiments in ``experiments/``."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob("calibrate_*.yaml"))


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {msg}")


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _prior(where: str, key: str, spec: Any) -> Prior:
    specs = parameter_specs()
    ps = specs[key]
    _need(ps.range is not None and ps.choices is None and not _is_int(ps.default)
          and not isinstance(ps.default, list), where,
          f"'{key}' cannot be a free parameter: only real-valued parameters with a documented range can be "
          f"calibrated (it is {ps.allowed()}). Put it under 'fixed' instead.")
    lo, hi = ps.range
    _need(isinstance(spec, dict), where,
          f"the prior of '{key}' must be a mapping such as {{prior: uniform, low: 0.1, high: 0.9}} or "
          "{prior: normal, mean: 0.5, sd: 0.1}.")
    if spec.get("prior") == "uniform" and "low" not in spec and "high" not in spec:
        spec = {**spec, "low": lo, "high": hi}  # the parameter's documented range
    kind = spec.get("prior")
    _need(kind in PRIORS, where, f"prior of '{key}' is {kind!r}; allowed: {', '.join(PRIORS)}.")
    if kind == "uniform":
        extra = set(spec) - {"prior", "low", "high"}
        _need(not extra, where, f"unknown field(s) {', '.join(sorted(extra))} in the prior of '{key}'; a uniform "
                                "prior has low and high.")
        low, high = spec.get("low"), spec.get("high")
        _need(_number(low) and _number(high) and lo <= low < high <= hi, where,
              f"uniform prior of '{key}' needs numbers low < high inside the parameter's range "
              f"[{lo:g}, {hi:g}] ({ps.unit}); got low={low!r}, high={high!r}.")
        return Prior(key, "uniform", float(low), float(high))
    extra = set(spec) - {"prior", "mean", "sd"}
    _need(not extra, where, f"unknown field(s) {', '.join(sorted(extra))} in the prior of '{key}'; a normal "
                            "prior has mean and sd (it is truncated to the parameter's range).")
    mean, sd = spec.get("mean"), spec.get("sd")
    _need(_number(mean) and _number(sd) and sd > 0 and lo <= mean <= hi, where,
          f"normal prior of '{key}' needs a mean inside [{lo:g}, {hi:g}] and sd > 0; got mean={mean!r}, sd={sd!r}.")
    return Prior(key, "normal", float(lo), float(hi), float(mean), float(sd))


def _known_key(where: str, key: str) -> None:
    import difflib

    specs = parameter_specs()
    if key not in specs:
        hint = difflib.get_close_matches(key, list(specs), n=1)
        raise ConfigError(f"{where}: unknown parameter '{key}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                          + " Parameters are the dotted keys of scenarios/config.yaml (docs/parameters.md).")


def load_experiment(name: str) -> Experiment:
    """Read and validate ``experiments/NAME.yaml`` (or a YAML path).

    Raises
    ------
    ConfigError
        Missing file, unknown fields, unknown parameters, priors outside a
        parameter's documented range, a parameter both free and fixed, or
        fixed values that scenarios/config.yaml refuses.
    """
    path = experiment_path(name)
    where = str(path)
    if not path.is_file():
        raise ConfigError(f"No experiment file {path}. Available experiments: "
                          f"{', '.join(available_experiments()) or 'none'} (files experiments/NAME.yaml).")
    raw = read_yaml(path, "calibration experiment")
    _need(isinstance(raw, dict), where, "must be a mapping with keys free, fixed, statistics, abc, executor.")
    unknown = set(raw) - _EXPERIMENT_KEYS
    _need(not unknown, where, f"unknown field(s) {', '.join(sorted(unknown))}; allowed: "
                              f"{', '.join(sorted(_EXPERIMENT_KEYS))}.")
    scenario = raw.get("scenario", "baseline")
    scenario = (scenario,) if isinstance(scenario, str) else tuple(scenario)
    fixed = raw.get("fixed") or {}
    _need(isinstance(fixed, dict), where, "'fixed' must map dotted parameter keys to values.")
    for key in fixed:
        _known_key(where + " (fixed)", key)
    free_raw = raw.get("free") or {}
    _need(isinstance(free_raw, dict) and free_raw, where, "'free' must list at least one parameter with its prior.")
    free: dict[str, Prior] = {}
    for key, spec in free_raw.items():
        _known_key(where + " (free)", key)
        _need(key not in fixed, where, f"'{key}' is both free and fixed.")
        free[key] = _prior(where, key, spec)
    cases = raw.get("cases") or ""
    if cases:
        _need(isinstance(cases, str) and raw.get("statistics") is None, where,
              "'cases' must be the path of a cases file (e.g. experiments/data/cases.yaml), and an experiment "
              "compares either survey 'statistics' or the calibration targets of 'cases', not both.")
        from sim.calibration.cases import load_cases

        load_cases(cases)
    st = {} if cases else raw.get("statistics")
    _need(isinstance(st, dict) and all(isinstance(v, list) or v == "all" for v in st.values()), where,
          "'statistics' must map survey items to the list of statistics compared (or 'all'), e.g. "
          "{capacity: [mean], schoolwide: [mean, icc]}.")
    try:
        stats = {} if cases else statistics_spec({i: (STATISTICS if k == "all" else k) for i, k in st.items()})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    abc = raw.get("abc") or {}
    ex = raw.get("executor") or {}
    pred = raw.get("predictive") or {}
    npe = raw.get("npe") or {}
    values: dict[str, Any] = {}
    npe_values: dict[str, Any] = {}
    for section, allowed, d in (("abc", _ABC_KEYS, abc), ("executor", _EXECUTOR_KEYS, ex),
                                ("predictive", {"draws": int}, pred), ("npe", _NPE_KEYS, npe)):
        _need(isinstance(d, dict), where, f"'{section}' must be a mapping.")
        extra = set(d) - set(allowed)
        _need(not extra, where, f"unknown field(s) {', '.join(sorted(extra))} in '{section}'; allowed: "
                                f"{', '.join(allowed)}.")
        for k, typ in allowed.items():
            if k in d:
                v = d[k]
                ok = isinstance(v, str) if typ is str else (_is_int(v) if typ is int else _number(v))
                _need(ok, where, f"'{section}.{k}' must be {'text' if typ is str else typ.__name__}; got {v!r}.")
                if section == "npe" and k != "seed":
                    npe_values[k] = float(v) if typ is float else v
                elif section == "npe":
                    _need(abc.get("seed", v) == v, where, f"'npe.seed' ({v}) and 'abc.seed' ({abc.get('seed')}) "
                          "differ; an experiment has one seed (give it in either section, or the same in both).")
                    values["seed"] = v
                else:
                    values[{"kind": "executor", "draws": "predictive_draws"}.get(k, k)] = v
    method = raw.get("method", "abc")
    _need(method in METHODS, where, f"'method' is {method!r}; allowed: {', '.join(METHODS)} (rejection ABC or "
                                    "ABC-SMC with pyabc, or neural posterior estimation with sbi).")
    if cases:
        values.setdefault("distance", "pattern")
    exp = Experiment(name=path.stem, path=path, scenario=scenario, fixed=dict(fixed), free=free,
                     statistics=stats, cases=cases, method=method, npe=NpeSettings(**npe_values), **values)
    check_settings(exp, where)
    try:
        if cases:
            from sim.calibration.cases import load_cases, scenario_bases

            scenario_bases(load_cases(cases), exp.fixed)  # fixed values must be valid in every case scenario
        else:
            load_config(list(exp.scenario), exp.overrides())  # fixed values must be valid
    except ConfigError as exc:
        raise ConfigError(f"{where} (fixed or scenario): {exc}") from None
    return exp


def check_settings(exp: Experiment, where: str) -> None:
    """Validate the ABC and executor settings of an experiment."""
    _need(exp.population >= 10, where, f"abc.population must be an integer >= 10; got {exp.population}.")
    _need(exp.generations >= 1, where, f"abc.generations must be an integer >= 1; got {exp.generations}.")
    _need(0 <= exp.min_acceptance_rate < 1, where,
          f"abc.min_acceptance_rate must be in [0, 1); got {exp.min_acceptance_rate}.")
    _need(exp.max_simulations == 0 or exp.max_simulations >= exp.population, where,
          f"abc.max_simulations must be 0 (no limit) or at least abc.population ({exp.population}); "
          f"got {exp.max_simulations}.")
    _need(0 <= exp.seed <= 2**32 - 1, where, f"abc.seed must be in [0, 4294967295]; got {exp.seed}.")
    _need(0 < exp.quantile < 1, where, f"abc.quantile must be in (0, 1); got {exp.quantile}.")
    _need(exp.initial_epsilon is None or exp.initial_epsilon >= 0, where,
          f"abc.initial_epsilon must be a number >= 0; got {exp.initial_epsilon}.")
    _need(exp.transition in TRANSITIONS, where,
          f"abc.transition is {exp.transition!r}; allowed: {', '.join(TRANSITIONS)}.")
    _need(exp.distance in DISTANCES, where, f"abc.distance is {exp.distance!r}; allowed: {', '.join(DISTANCES)}.")
    _need((exp.distance == "pattern") == bool(exp.cases), where,
          "abc.distance 'pattern' (targets' deviations in tolerances) goes with 'cases', and only with it; got "
          f"distance {exp.distance!r} with {'cases ' + exp.cases if exp.cases else 'survey statistics'}.")
    _need(exp.distance != "regression" or exp.pilot >= 2 * len(exp.free) + 10, where,
          f"abc.pilot must be an integer >= {2 * len(exp.free) + 10} with the regression distance; got {exp.pilot}.")
    _need(exp.executor in EXECUTORS, where, f"executor.kind is {exp.executor!r}; allowed: {', '.join(EXECUTORS)}.")
    _need(exp.scheduling in SCHEDULING, where,
          f"executor.scheduling is {exp.scheduling!r}; allowed: {', '.join(SCHEDULING)}.")
    _need(exp.workers >= 0, where, f"executor.workers must be >= 0 (0: all cores); got {exp.workers}.")
    _need(exp.predictive_draws >= 0, where, f"predictive.draws must be >= 0; got {exp.predictive_draws}.")
    _need(exp.method in METHODS, where, f"method is {exp.method!r}; allowed: {', '.join(METHODS)}.")
    if exp.method == "npe":
        check_npe(exp, where)


def check_npe(exp: Experiment, where: str) -> None:
    """Validate the ``npe:`` settings of an experiment whose method is ``npe``."""
    n = exp.npe
    rules = (("simulations", n.simulations >= 100, "an integer >= 100 (prior simulations that train the estimator)"),
             ("draws", n.draws >= 10, "an integer >= 10 (posterior draws kept)"),
             ("chunk", n.chunk >= 1, "an integer >= 1 (simulations saved per file)"),
             ("estimator", n.estimator in ESTIMATORS, f"one of {', '.join(ESTIMATORS)}"),
             ("batch_size", n.batch_size >= 1, "an integer >= 1"),
             ("learning_rate", 0 < n.learning_rate < 1, "a number in (0, 1)"),
             ("stop_after_epochs", n.stop_after_epochs >= 1, "an integer >= 1"),
             ("max_epochs", n.max_epochs >= 0, "an integer >= 0 (0: no limit)"),
             ("transform", n.transform in NPE_TRANSFORMS, f"one of {', '.join(NPE_TRANSFORMS)}"))
    for field, ok, allowed in rules:
        _need(ok, where, f"npe.{field} must be {allowed}; got {getattr(n, field)!r}.")
    normal = [k for k, p in exp.free.items() if p.kind != "uniform"]
    _need(not normal, where, f"method npe needs uniform priors (sbi's box prior); {', '.join(normal)} "
                             "have normal priors. Use uniform priors or method abc.")
