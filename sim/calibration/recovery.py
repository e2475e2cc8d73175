"""Synthetic surveys from known parameters, and parameter-recovery studies of a calibration.

A *recipe* (YAML) says how a synthetic survey is made: scenario, overrides
(district size, ...), the true values of the parameters to recover, survey
waves and seed. :func:`synthetic_survey` runs :func:`sim.virtual_survey` once
per wave (same seed, so every wave surveys the same simulated district) and
labels the rows as synthetic (``district`` = ``synthetic``).

:func:`recovery_study` draws true values from an experiment's priors, makes a
survey for each, calibrates, and reports how often the 90% posterior interval
contains the truth (the coverage; about 0.9 for a well-calibrated posterior).

Command line::

    python -m sim.calibration.recovery survey RECIPE.yaml OUT.csv
    python -m sim.calibration.recovery study EXPERIMENT RECIPE.yaml OUT_DIR [CASES] [SEED]
    python -m sim.calibration.recovery sensitivity EXPERIMENT SURVEY.csv RECIPE.yaml OUT.csv
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.api import virtual_survey
from sim.config import ConfigError, read_yaml
from sim.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, catch_ctrl_c

_RECIPE_KEYS = {"description", "scenario", "overrides", "truth", "waves", "seed", "n_respondents", "missing_share"}


@dataclass(frozen=True)
class Recipe:
    """How a synthetic survey is made (see module docstring)."""

    scenario: tuple[str, ...]
    overrides: tuple[str, ...]
    truth: dict[str, float]
    waves: tuple[int, ...]
    seed: int
    n_respondents: int | None = None
    missing_share: float = 0.0


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe YAML; raise ConfigError naming the file and field on bad input."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No recipe file {path}.")
    raw = read_yaml(path, "recipe")
    if not isinstance(raw, dict) or set(raw) - _RECIPE_KEYS:
        raise ConfigError(f"{path}: a recipe is a mapping with keys {', '.join(sorted(_RECIPE_KEYS))}.")
    truth = raw.get("truth") or {}
    waves = raw.get("waves") or [20]
    if not isinstance(truth, dict) or not all(isinstance(v, int | float) for v in truth.values()):
        raise ConfigError(f"{path}: 'truth' must map dotted parameter keys to numbers.")
    if not all(isinstance(w, int) and w >= 0 for w in waves):
        raise ConfigError(f"{path}: 'waves' must be a list of non-negative integers (model steps); got {waves!r}.")
    missing = raw.get("missing_share", 0.0)
    if not isinstance(missing, int | float) or not 0 <= missing < 1:
        raise ConfigError(f"{path}: 'missing_share' must be a number in [0, 1); got {missing!r}.")
    scenario = raw.get("scenario", "baseline")
    return Recipe(scenario=(scenario,) if isinstance(scenario, str) else tuple(scenario),
                  overrides=tuple(raw.get("overrides") or ()), truth={k: float(v) for k, v in truth.items()},
                  waves=tuple(sorted(set(waves))), seed=int(raw.get("seed", 0)),
                  n_respondents=raw.get("n_respondents"), missing_share=float(missing))


def synthetic_survey(recipe: Recipe, truth: dict[str, float] | None = None, seed: int | None = None) -> pd.DataFrame:
    """A survey (schema of docs/survey.md) answered by the model run with ``truth`` (default: the recipe's).

    Each wave is :func:`sim.virtual_survey` at that step with the same seed
    (one simulated district, a fresh sample of respondents per wave). With
    ``missing_share`` > 0 that share of the answers is blanked at random
    (seeded), as unanswered questions in a real survey.
    """
    truth = recipe.truth if truth is None else truth
    seed = recipe.seed if seed is None else seed
    overrides = [*recipe.overrides, *(f"{k}={v!r}" for k, v in truth.items())]
    frames = []
    for wave in recipe.waves:
        df = virtual_survey(list(recipe.scenario), seed=seed, overrides=overrides, step=wave,
                            n_respondents=recipe.n_respondents)
        df["respondent_id"] = [f"w{wave}-{i:04d}" for i in range(len(df))]
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    if recipe.missing_share > 0:
        from sim.district.survey import ITEMS

        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
        for item in ITEMS:
            out[item] = out[item].astype("Int64").mask(rng.random(len(out)) < recipe.missing_share)
    return out


def draw_truths(experiment, n: int, seed: int) -> list[dict[str, float]]:
    """``n`` parameter vectors drawn from the experiment's priors (seeded)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    return [{k: float(p.rv().rvs(random_state=rng)) for k, p in experiment.free.items()} for _ in range(n)]


def recovery_study(experiment: str, recipe: Recipe, out: str | Path, cases: int = 10, seed: int = 0,
                   progress: bool = True, **settings: Any) -> pd.DataFrame:
    """Calibrate ``cases`` synthetic surveys with truths drawn from the priors; write coverage results.

    Each case lives in ``out/case_NN/`` (its survey, truth and a resumable
    calibration), so an interrupted study continues where it stopped.
    Writes ``out/recovery.csv`` (one row per case and parameter),
    ``out/coverage.csv`` and ``out/recovery.png``.
    """
    from sim.calibration.calibrate import calibrate, load_experiment
    from sim.calibration.plots import recovery as plot_recovery
    from sim.provenance import provenance

    exp = load_experiment(experiment)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, truth in enumerate(draw_truths(exp, cases, seed)):
        case = out / f"case_{i:02d}"
        case.mkdir(exist_ok=True)
        survey = case / "survey.csv"
        if not survey.exists():
            synthetic_survey(recipe, truth, seed=int(np.random.SeedSequence(seed, spawn_key=(2, i))
                                                     .generate_state(1)[0])).to_csv(survey, index=False)
            (case / "truth.yaml").write_text(yaml.safe_dump({"truth": truth}))
        if progress:
            print(f"case {i + 1}/{cases}: truth " + ", ".join(f"{k}={v:.3g}" for k, v in truth.items()), flush=True)
        result = calibrate(survey, exp, case, truth=truth, progress=progress, **settings)
        for r in result.posterior.itertuples():
            rows.append({"case": i, "parameter": r.parameter, "true": truth[r.parameter], "mean": r.mean,
                         "q05": r.q05, "q50": r.q50, "q95": r.q95,
                         "inside_90": bool(r.q05 <= truth[r.parameter] <= r.q95),
                         "prior_width": exp.free[r.parameter].high - exp.free[r.parameter].low})
    table = pd.DataFrame(rows)
    table.to_csv(out / "recovery.csv", index=False)
    coverage = table.groupby("parameter", sort=False).agg(
        cases=("inside_90", "size"), coverage_90=("inside_90", "mean"),
        mean_width=("q95", lambda s: float((s - table.loc[s.index, "q05"]).mean())),
        prior_width=("prior_width", "first"),
        median_abs_error=("q50", lambda s: float((s - table.loc[s.index, "true"]).abs().median())))
    coverage.to_csv(out / "coverage.csv")
    plot_recovery(table, out / "recovery.png", title=f"{exp.name}: {cases} synthetic surveys")
    (out / "provenance.yaml").write_text(yaml.safe_dump(
        provenance(seed=seed, experiment=str(exp.path), cases=cases, recipe=recipe.__dict__ | {
            "scenario": list(recipe.scenario), "overrides": list(recipe.overrides), "waves": list(recipe.waves)}),
        sort_keys=False))
    if progress:
        print(coverage.round(3).to_string())
    return table


def sensitivity(experiment: str, survey: str | Path, center: dict[str, float], replicates: int = 64,
                step: float = 0.1, seed: int = 0, all_statistics: bool = True) -> pd.DataFrame:
    """Which survey statistic moves with which parameter, in units of its run-to-run noise.

    For each free parameter, ``replicates`` simulated surveys (with the
    survey's design) at ``center`` minus and plus ``step`` times the prior
    range give the effect ``(mean_plus - mean_minus) / pooled sd``: above 1 in
    absolute value, one survey resolves a change of ``2 * step`` of the prior
    range from that statistic alone.

    Returns
    -------
    DataFrame
        One row per statistic (``name``, ``statistic``, ``item``, ``wave``),
        one column per parameter, plus ``mean`` and ``sd`` at the center.
    """
    from dataclasses import replace

    from sim.calibration.calibrate import Executor, load_experiment, make_simulator, simulate_statistics, split_name
    from sim.inputs.survey import STATISTICS, load_survey

    exp = load_experiment(experiment)
    data = load_survey(survey)
    if all_statistics:
        exp = replace(exp, statistics={i: STATISTICS for i in data.items})
    simulator = make_simulator(exp, data)
    seeds = np.random.SeedSequence(seed, spawn_key=(4,)).generate_state(replicates).tolist()
    tasks, labels = [], []
    for key, prior in exp.free.items():
        h = step * (prior.high - prior.low)
        for sign in (-1, 1):
            value = float(np.clip(center[key] + sign * h, prior.low, prior.high))
            for s in seeds:
                tasks.append((simulator, {**center, key: value}, s))
                labels.append((key, sign))
    tasks += [(simulator, dict(center), s) for s in seeds]
    labels += [("center", 0)] * replicates
    with Executor(exp.executor, exp.workers, exp.dask_address) as ex:
        sims = pd.DataFrame(ex.map(simulate_statistics, tasks))
    sims["key"], sims["sign"] = zip(*labels)
    names = [c for c in sims.columns if c not in ("key", "sign")]
    out = pd.DataFrame([split_name(n) for n in names])
    for key in exp.free:
        lo = sims[(sims["key"] == key) & (sims["sign"] < 0)][names]
        hi = sims[(sims["key"] == key) & (sims["sign"] > 0)][names]
        pooled = np.sqrt((lo.var() + hi.var()) / 2)
        out[key] = ((hi.mean() - lo.mean()) / pooled.where(pooled > 0)).to_numpy()
    at = sims[sims["key"] == "center"][names]
    out["mean"], out["sd"] = at.mean().to_numpy(), at.std().to_numpy()
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sim.calibration.recovery survey RECIPE OUT.csv`` or ``... study EXPERIMENT RECIPE OUT_DIR [CASES] [SEED]``."""
    from sim.calibration.calibrate import CalibrationInterrupted

    catch_ctrl_c()
    args = list(sys.argv[1:] if argv is None else argv)
    usage = ("usage: python -m sim.calibration.recovery survey RECIPE.yaml OUT.csv | "
             "python -m sim.calibration.recovery study EXPERIMENT RECIPE.yaml OUT_DIR [CASES] [SEED] | "
             "python -m sim.calibration.recovery sensitivity EXPERIMENT SURVEY.csv RECIPE.yaml OUT.csv")
    try:
        if len(args) == 3 and args[0] == "survey":
            df = synthetic_survey(load_recipe(args[1]))
            df.to_csv(args[2], index=False)
            print(f"Wrote {args[2]}: {len(df)} synthetic respondents, waves "
                  f"{', '.join(str(int(w)) for w in sorted(df['wave'].unique()))}.")
        elif 4 <= len(args) <= 6 and args[0] == "study":
            cases = int(args[4]) if len(args) > 4 else 10
            seed = int(args[5]) if len(args) > 5 else 0
            recovery_study(args[1], load_recipe(args[2]), args[3], cases=cases, seed=seed)
        elif len(args) == 5 and args[0] == "sensitivity":
            table = sensitivity(args[1], args[2], load_recipe(args[3]).truth)
            table.to_csv(args[4], index=False)
            print(table.round(2).to_string())
        else:
            print(usage, file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT)
    except (ConfigError, ValueError) as exc:
        print(f"recovery: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except CalibrationInterrupted as exc:  # finished cases and generations are kept; the same command resumes
        print(f"recovery: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None


if __name__ == "__main__":
    main()
