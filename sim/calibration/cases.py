"""Published observations of the real cases as calibration and validation targets.

``experiments/data/cases.yaml`` lists scenarios (a preset, its length and any
fixed overrides) and targets: a metric of one scenario at one date on the
model's time axis (:mod:`sim.district.calendar`), a value or a range, a
tolerance that reflects how precise the source is, the source itself, and
whether the target is used to calibrate (``calibration``), held out to
validate (``validation``) or only checks that a preset encodes a fact of its
set-up (``setup``). :func:`load_cases` validates the file;
:class:`CaseSimulator` computes every target's simulated counterpart from
model runs; :func:`predictive_check` compares them with the targets over many
runs (posterior-predictive check). See docs/calibration.md and docs/validation.md.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from omegaconf import OmegaConf

from sim.calibration.design import set_dotted
from sim.config import REPO_ROOT, ConfigError, available_scenarios, load_config
from sim.district.calendar import step_of
from sim.district.metrics import METRICS, school_use_share
from sim.inputs import build_model

USES = ("calibration", "validation", "setup")

#: Metrics computed from a run beyond the per-step district metrics (definitions in docs/calibration.md).
DERIVED = {
    "surface_minus_depth": "mean_surface - mean_depth among users at the date (effort on surface structures "
                           "more than on academic depth when positive)",
    "first_cohort_schoolwide": "number of first-cohort (pilot) schools that have been school-wide at some step "
                               "up to the date",
    "backaway_step": "step at which the district backed away (the run's last step + 1 if it never did)",
    "schools_using": "number of schools where at least metrics.stall_threshold of the teachers use the practice",
    "schools": "number of schools in the district",
}
CASE_METRICS = (*METRICS, *DERIVED)

_TARGET_KEYS = {"id", "scenario", "versus", "metric", "date", "step", "value", "range", "tolerance", "use",
                "pass_share", "source", "says"}
_SCENARIO_KEYS = {"preset", "steps", "fixed", "description"}
_DATE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class CaseScenario:
    """A scenario runs one preset (or several, joined by ``+``) with fixed overrides for ``steps`` months."""

    name: str
    presets: tuple[str, ...]
    steps: int
    fixed: dict[str, Any]
    start_year: int


@dataclass(frozen=True)
class Target:
    """One published observation as a target: ``metric`` of ``scenario`` at ``step`` in [low, high] ± tolerance.

    With ``versus``, the simulated value is the difference between the two
    scenarios' metric in runs with the same seed (a direction of effect).
    """

    id: str
    scenario: str
    metric: str
    step: int
    low: float
    high: float
    tolerance: float
    use: str
    source: str
    says: str
    date: str = ""
    versus: str = ""
    pass_share: float = 0.5

    def deviation(self, x: float) -> float:
        """Distance of ``x`` outside [low, high], in tolerances (0 inside)."""
        if not math.isfinite(x):
            return 1e3
        return max(self.low - x, x - self.high, 0.0) / self.tolerance

    def target_text(self) -> str:
        """The target in words: ``6 ± 1``, ``in [0.5, 1] ± 0.1``, ``at least 1 ± 0.5``."""
        tol = f" ± {self.tolerance:g}"
        if self.low == self.high:
            return f"{self.low:g}{tol}"
        if math.isinf(self.high):
            return f"at least {self.low:g}{tol}"
        if math.isinf(self.low):
            return f"at most {self.high:g}{tol}"
        return f"{self.low:g} to {self.high:g}{tol}"


@dataclass(frozen=True)
class Cases:
    """The validated contents of a cases file."""

    path: Path
    sha256: str
    scenarios: dict[str, CaseScenario]
    targets: tuple[Target, ...]

    def select(self, use: str | Sequence[str]) -> tuple[Target, ...]:
        uses = (use,) if isinstance(use, str) else tuple(use)
        return tuple(t for t in self.targets if t.use in uses)

    def report(self) -> str:
        n = {u: len(self.select(u)) for u in USES}
        return (f"Cases {self.path}: {len(self.targets)} targets in {len(self.scenarios)} scenarios "
                f"({n['calibration']} for calibration, {n['validation']} held out for validation, "
                f"{n['setup']} set-up checks).")


def _fail(where: str, msg: str) -> None:
    raise ConfigError(f"{where}: {msg}")


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and not math.isnan(x)


def _scenario(path: str, name: str, raw: Any) -> CaseScenario:
    where = f"{path}, scenario '{name}'"
    if not isinstance(raw, dict):
        _fail(where, "must be a mapping with preset, steps and optionally fixed (dotted parameter keys).")
    extra = set(raw) - _SCENARIO_KEYS
    if extra:
        _fail(where, f"unknown field(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(_SCENARIO_KEYS))}.")
    preset = raw.get("preset")
    known = available_scenarios()
    presets = tuple(str(preset).split("+")) if isinstance(preset, str) else ()
    if not presets or any(p not in known for p in presets):
        _fail(where, f"field 'preset' is {preset!r}; allowed: a preset of scenarios/scenario/ "
                     f"({', '.join(known)}), several joined by '+'.")
    steps = raw.get("steps")
    if not (isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= 1200):
        _fail(where, f"field 'steps' must be an integer number of months in [1, 1200]; got {steps!r}.")
    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        _fail(where, "field 'fixed' must map dotted parameter keys to values.")
    from sim.calibration.experiment import _override_value

    try:
        cfg = load_config(list(presets), [f"{k}={_override_value(v)}" for k, v in fixed.items()]
                          + [f"steps={steps}"])
    except ConfigError as exc:
        raise ConfigError(f"{where}, field 'fixed': {exc}") from None
    return CaseScenario(name, presets, int(steps), dict(fixed), int(cfg.calendar.start_year))


def _target(path: str, k: int, raw: Any, scenarios: dict[str, CaseScenario], seen: set[str]) -> Target:
    where = f"{path}, target {k + 1}"
    if not isinstance(raw, dict):
        _fail(where, "must be a mapping with id, scenario, metric, date (or step), value (or range), tolerance, "
                     "use, source and says.")
    tid = raw.get("id")
    if not (isinstance(tid, str) and re.fullmatch(r"[a-z][a-z0-9_]*", tid)):
        _fail(where, f"field 'id' must be a lower-case name (letters, digits, _); got {tid!r}.")
    where = f"{path}, target '{tid}'"
    if tid in seen:
        _fail(where, "field 'id' repeats an earlier target's id; ids must be unique.")
    extra = set(raw) - _TARGET_KEYS
    if extra:
        _fail(where, f"unknown field(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(_TARGET_KEYS))}.")
    for key in ("scenario", "versus"):
        v = raw.get(key)
        if (key == "scenario" or v is not None) and v not in scenarios:
            _fail(where, f"field '{key}' is {v!r}; allowed: a scenario of the file ({', '.join(scenarios)}).")
    sc = scenarios[raw["scenario"]]
    metric = raw.get("metric")
    if metric not in CASE_METRICS:
        _fail(where, f"field 'metric' is {metric!r}; allowed: {', '.join(CASE_METRICS)}.")
    date, step = raw.get("date"), raw.get("step")
    if (date is None) == (step is None):
        _fail(where, "give exactly one of 'date' (YYYY-MM, a calendar month) and 'step' (a model step, or 'end').")
    if date is not None:
        mt = _DATE.match(str(date))
        if not mt or not 1 <= int(mt.group(2)) <= 12:
            _fail(where, f"field 'date' must be a month as YYYY-MM (e.g. 2017-03); got {date!r}.")
        step = step_of(int(mt.group(1)), int(mt.group(2)), sc.start_year)
    elif step == "end":
        step = sc.steps
    if not (isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= sc.steps):
        _fail(where, f"its step ({step!r}, from field '{'date' if date is not None else 'step'}') must lie in "
                     f"[0, {sc.steps}], the months scenario '{sc.name}' runs (step 0 = August {sc.start_year}).")
    if raw.get("versus") is not None and step > scenarios[raw["versus"]].steps:
        _fail(where, f"field 'versus': scenario '{raw['versus']}' runs only {scenarios[raw['versus']].steps} months.")
    value, rng = raw.get("value"), raw.get("range")
    if (value is None) == (rng is None):
        _fail(where, "give exactly one of 'value' (a number) and 'range' ([low, high]; .inf for no upper bound).")
    if value is not None:
        if not _number(value) or math.isinf(value):
            _fail(where, f"field 'value' must be a finite number; got {value!r}.")
        low = high = float(value)
    else:
        if not (isinstance(rng, list) and len(rng) == 2 and all(_number(x) for x in rng) and rng[0] <= rng[1]):
            _fail(where, f"field 'range' must be [low, high] with low <= high (.inf or -.inf for open ends); "
                         f"got {rng!r}.")
        low, high = float(rng[0]), float(rng[1])
    tol = raw.get("tolerance")
    if not (_number(tol) and 0 < tol < math.inf):
        _fail(where, f"field 'tolerance' must be a positive number (how precise the source is); got {tol!r}.")
    use = raw.get("use")
    if use not in USES:
        _fail(where, f"field 'use' is {use!r}; allowed: {', '.join(USES)} (decided before fitting).")
    share = raw.get("pass_share", 0.5)
    if not (_number(share) and 0 < share <= 1):
        _fail(where, f"field 'pass_share' must be in (0, 1]; got {share!r}.")
    for key in ("source", "says"):
        if not (isinstance(raw.get(key), str) and raw[key].strip()):
            _fail(where, f"field '{key}' must be non-empty text ({'the publication, by title and publisher' if key == 'source' else 'what the source reports'}).")
    return Target(id=tid, scenario=sc.name, metric=metric, step=int(step), low=low, high=high, tolerance=float(tol),
                  use=use, source=raw["source"].strip(), says=" ".join(raw["says"].split()),
                  date=str(date) if date is not None else "", versus=raw.get("versus") or "",
                  pass_share=float(share))


def load_cases(path: str | Path) -> Cases:
    """Read and validate a cases file; raise :class:`ConfigError` naming file, entry and field."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    if not path.is_file():
        raise ConfigError(f"No cases file {path}; the published observations are in experiments/data/cases.yaml.")
    text = path.read_bytes()
    try:
        raw = yaml.safe_load(text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}).") from None
    where = str(path)
    if not isinstance(raw, dict) or set(raw) - {"scenarios", "targets"}:
        _fail(where, "must be a mapping with exactly the keys 'scenarios' and 'targets'.")
    if not isinstance(raw.get("scenarios"), dict) or not raw["scenarios"]:
        _fail(where, "field 'scenarios' must map scenario names to {preset, steps, fixed}.")
    scenarios = {str(n): _scenario(where, str(n), s) for n, s in raw["scenarios"].items()}
    if not isinstance(raw.get("targets"), list) or not raw["targets"]:
        _fail(where, "field 'targets' must be a non-empty list of targets.")
    seen: set[str] = set()
    targets = []
    for k, t in enumerate(raw["targets"]):
        targets.append(_target(where, k, t, scenarios, seen))
        seen.add(targets[-1].id)
    return Cases(path=path, sha256=hashlib.sha256(text).hexdigest(), scenarios=scenarios, targets=tuple(targets))


# -- simulated counterparts ------------------------------------------------------------------

@dataclass
class CaseRun:
    """What one scenario run leaves for the targets: the district time series and per-step school shares."""

    frame: pd.DataFrame
    using_schools: np.ndarray  # per step: schools with share >= stall threshold
    first_cohort_schoolwide: np.ndarray  # per step: pilot schools school-wide at some step so far
    n_schools: int
    steps: int


def run_scenario(base: dict, seed: int) -> CaseRun:
    """Run a resolved configuration, recording what the case metrics need at every step."""
    model = build_model(base, seed=int(seed), validate_config=False)
    using, pilots = [], []
    thr = model.p.metrics.stall_threshold

    def note() -> None:
        using.append(int(np.count_nonzero(school_use_share(model) >= thr)))
        s = model.schools_state
        pilots.append(int(np.count_nonzero((s.cohort == 0) & (s.schoolwide_since >= 0))))

    note()
    for _ in range(model.p.steps):
        model.step()
        note()
    return CaseRun(model.timeseries(), np.asarray(using), np.asarray(pilots), model.n_schools, model.p.steps)


def metric_value(run: CaseRun, metric: str, step: int) -> float:
    """A case metric of a run at a step (:data:`CASE_METRICS`)."""
    row = run.frame.iloc[step]
    if metric in METRICS:
        return float(row[metric])
    if metric == "surface_minus_depth":
        return float(row["mean_surface"] - row["mean_depth"])
    if metric == "first_cohort_schoolwide":
        return float(run.first_cohort_schoolwide[step])
    if metric == "backaway_step":
        hit = np.flatnonzero(run.frame["backed_away"].to_numpy() > 0)
        return float(hit[0]) if hit.size else float(run.steps + 1)
    if metric == "schools_using":
        return float(run.using_schools[step])
    if metric == "schools":
        return float(run.n_schools)
    raise KeyError(metric)


@dataclass
class CaseSimulator:
    """The model as calibration sees it: parameters -> each target's simulated value (or deviation).

    Picklable. Every scenario of a simulation runs with the same seed (common
    random numbers, so ``versus`` differences compare like with like). Called
    by pyabc with parameters only, the seed comes from numpy's global
    generator, which the sampler seeds per task.
    """

    bases: dict[str, dict]
    targets: tuple[Target, ...]
    deviations: bool = True

    def simulate(self, params: dict[str, float], seed: int) -> dict[str, float]:
        """Simulated value of every target (or its deviation in tolerances when ``deviations``)."""
        need = {t.scenario for t in self.targets} | {t.versus for t in self.targets if t.versus}
        model_seed = int(np.random.SeedSequence(int(seed)).generate_state(1)[0])
        runs = {}
        for name in sorted(need):
            cfg = copy.deepcopy(self.bases[name])
            for key, value in params.items():
                set_dotted(cfg, key, float(value))
            runs[name] = run_scenario(cfg, model_seed)
        out = {}
        for t in self.targets:
            x = metric_value(runs[t.scenario], t.metric, t.step)
            if t.versus:
                x -= metric_value(runs[t.versus], t.metric, t.step)
            out[t.id] = t.deviation(x) if self.deviations else x
        return out

    def __call__(self, params: dict[str, float]) -> dict[str, float]:
        seed = int(np.random.randint(0, 2**32 - 1, dtype=np.uint64))
        return self.simulate(dict(params), seed)


def scenario_bases(cases: Cases, fixed: dict[str, Any] | None = None) -> dict[str, dict]:
    """Resolved configuration of every scenario, with the experiment's ``fixed`` values on top."""
    from sim.calibration.experiment import _override_value

    out = {}
    for name, sc in cases.scenarios.items():
        over = [f"{k}={_override_value(v)}" for k, v in {**sc.fixed, **(fixed or {})}.items()]
        cfg = load_config(list(sc.presets), over + [f"steps={sc.steps}"])
        out[name] = OmegaConf.to_container(cfg, resolve=True)
    return out


def make_case_simulator(cases: Cases, use: str | Sequence[str] = "calibration", fixed: dict[str, Any] | None = None,
                        deviations: bool = True) -> CaseSimulator:
    """Simulator of the targets with the given use(s); runs only the scenarios they need."""
    targets = cases.select(use)
    if not targets:
        raise ConfigError(f"{cases.path}: no target has use {use!r}.")
    return CaseSimulator(scenario_bases(cases, fixed), targets, deviations)


def simulate_targets(args: tuple[CaseSimulator, dict[str, float], int]) -> dict[str, float]:
    """One simulation; ``args`` = (simulator, parameter values, seed). Picklable task."""
    simulator, params, seed = args
    return simulator.simulate(params, seed)


# -- predictive checks ---------------------------------------------------------------------

def predictive_check(cases: Cases, sims: pd.DataFrame, targets: Sequence[Target] | None = None) -> pd.DataFrame:
    """Targets against simulated values (one row of ``sims`` per run, one column per target id).

    A target passes when the share of runs within its tolerance of the value
    or range (deviation <= 1) is at least its ``pass_share``. Columns: id, use,
    scenario, metric, date, step, target, mean, q05, q95, share_within, pass_share, passed, source.
    """
    rows = []
    for t in targets or cases.targets:
        x = sims[t.id].to_numpy(float)
        within = np.array([t.deviation(v) <= 1.0 for v in x])
        q05, q95 = np.quantile(x, [0.05, 0.95])
        rows.append({"id": t.id, "use": t.use, "scenario": t.scenario + (f" - {t.versus}" if t.versus else ""),
                     "metric": t.metric, "date": t.date, "step": t.step, "target": t.target_text(),
                     "mean": float(x.mean()), "q05": float(q05), "q95": float(q95),
                     "share_within": float(within.mean()), "pass_share": t.pass_share,
                     "passed": bool(within.mean() >= t.pass_share), "source": t.source})
    return pd.DataFrame(rows)


def read_posterior_sample(path: str | Path, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """A posterior sample CSV (one column per dotted parameter plus ``weight``), validated."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"posterior={path}: no such file (a CSV with one column per dotted parameter and weight).")
    df = pd.read_csv(path)
    if "weight" not in df.columns or len(df) == 0:
        raise ConfigError(f"posterior={path}: needs a 'weight' column and at least one row; columns are "
                          f"{', '.join(df.columns)}.")
    from sim.config import parameter_specs

    specs = parameter_specs()
    bad = [c for c in df.columns if c != "weight" and c not in specs]
    if bad:
        raise ConfigError(f"posterior={path}: column(s) {', '.join(bad)} are not parameters of scenarios/config.yaml.")
    if keys is not None and set(keys) - set(df.columns):
        raise ConfigError(f"posterior={path}: lacks column(s) {', '.join(sorted(set(keys) - set(df.columns)))}.")
    return df


@dataclass
class Draws:
    """Parameter vectors and seeds of a predictive run (posterior draws, or the defaults over seeds)."""

    params: list[dict[str, float]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)


def posterior_draws(sample: pd.DataFrame | None, n: int, seed: int) -> Draws:
    """``n`` draws (with their simulation seeds) from a weighted sample; ``None``: the defaults, ``n`` seeds."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(30_000,))
    pick_ss, sim_ss = ss.spawn(2)
    seeds = sim_ss.generate_state(n).tolist()
    if sample is None:
        return Draws([{} for _ in range(n)], seeds)
    w = sample["weight"].to_numpy(float)
    idx = np.random.default_rng(pick_ss).choice(len(sample), size=n, p=w / w.sum())
    keys = [c for c in sample.columns if c != "weight"]
    return Draws([{k: float(sample[k].iloc[i]) for k in keys} for i in idx], seeds)


# -- command line ------------------------------------------------------------------------------

def check(cases: str | Path, posterior: str | Path | None, draws: int, seed: int = 0, workers: int = 2,
          fixed: dict[str, Any] | None = None) -> pd.DataFrame:
    """Predictive check of every target: ``draws`` runs from the posterior sample, or at the defaults over seeds."""
    from sim.calibration.calibrate import Executor

    c = load_cases(cases)
    sample = read_posterior_sample(posterior) if posterior else None
    d = posterior_draws(sample, draws, seed)
    sim = make_case_simulator(c, USES, fixed, deviations=False)
    with Executor("processes", workers) as ex:
        sims = pd.DataFrame(ex.map(simulate_targets, [(sim, p, s) for p, s in zip(d.params, d.seeds)]))
    return predictive_check(c, sims)


def markdown(table: pd.DataFrame) -> str:
    """The check as a Markdown table (the form docs/validation.md quotes)."""
    lines = ["| target | use | scenario, date (step) | published | simulated mean (5-95%) | runs within tolerance "
             "| result |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        when = f"{r.date} ({r.step})" if isinstance(r.date, str) and r.date else f"step {r.step}"
        lines.append(f"| `{r.id}` | {r.use} | {r.scenario}, {when} | {r.target} | {r.mean:.3g} ({r.q05:.3g} to "
                     f"{r.q95:.3g}) | {r.share_within:.0%} (needs {r.pass_share:.0%}) | "
                     f"{'pass' if r.passed else '**fail**'} |")
    return "\n".join(lines)


#: The docs/validation.md block each form of the check writes with ``docs=true``.
DOC_BLOCKS = {False: "cases-defaults", True: "cases-ppc"}


def main(argv: list[str] | None = None) -> None:
    """``python -m sim.calibration.cases [cases=FILE] [posterior=CSV] [draws=N] [seed=S] [workers=W] [out=CSV]
    [docs=true]``.

    Without ``posterior``: the current defaults, ``draws`` seeds. Prints the check as Markdown; ``out`` saves it as
    CSV; ``docs=true`` writes it into docs/validation.md (block ``cases-defaults`` at the defaults, ``cases-ppc``
    with a posterior), stamped with the command and the model's hash.
    """
    import sys

    from sim.args import fail, parse, show_help, wants_help
    from sim.docblocks import write_block
    from sim.exits import catch_ctrl_c

    catch_ctrl_c()
    tool_name = "python -m sim.calibration.cases"
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_help(argv):
        show_help(f"Usage: {tool_name} [cases=FILE] [posterior=CSV] [draws=20] [seed=0] [workers=2] [out=CSV] "
                  "[docs=true]\n\n" + (main.__doc__ or ""))
    defaults = {"cases": str(REPO_ROOT / "experiments" / "data" / "cases.yaml"), "posterior": "", "draws": "20",
                "seed": "0", "workers": "2", "out": "", "docs": "false"}
    try:
        given = parse(tool_name, argv, defaults, model=False)
        args = {**defaults, **given.tool}
        docs = given.flag("docs")
        for k in ("draws", "seed", "workers"):
            if not args[k].isdigit() or (k != "seed" and int(args[k]) < 1):
                raise ConfigError(f"argument {k}={args[k]!r} must be a {'' if k == 'seed' else 'positive '}integer.")
        table = check(args["cases"], args["posterior"] or None, int(args["draws"]), int(args["seed"]),
                      int(args["workers"]))
    except ConfigError as exc:
        fail(tool_name, exc)
    if args["out"]:
        table.to_csv(args["out"], index=False)
    text = markdown(table)
    print(text)
    if docs:
        command = " ".join([tool_name, *(f"{k}={args[k]}" for k in ("posterior", "draws", "seed")
                                         if args[k] != defaults[k]), "docs=true"])
        write_block(REPO_ROOT / "docs" / "validation.md", DOC_BLOCKS[bool(args["posterior"])], text, command)


if __name__ == "__main__":
    main()
