"""``sim-run``: the default scenario comparison (a Hydra app).

Runs every scenario (or ``run.scenarios``) x ``run.replicates`` and writes to
``results/<run.name>/``: ``timeseries.parquet``, ``summary.csv``,
``differences.csv`` (each scenario minus the baseline in the same replicate, when the baseline is
compared), ``adoption_curves.png``, ``config.yaml`` and ``provenance.yaml``. Bad input is
refused with a one-paragraph message and exit status 2 before anything runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import DictConfig, OmegaConf

from sim.args import show_help, wants_help
from sim.config import CONFIG_DIR, CONFIG_NAME, SCENARIO_GROUP, ConfigError, available_scenarios, load_config
from sim.district.calendar import MONTHS_PER_YEAR
from sim.district.metrics import METRICS
from sim.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, catch_ctrl_c, machine_failure, machine_failures
from sim.files import atomic_path, check_writable, folder_lock, remove_temporary, write_text
from sim.inputs.survey import check_init_survey
from sim.provenance import provenance
from sim.runs.plots import curves_with_bands
from sim.runs.posterior import Posterior, fixed_parameters, load_posterior, refuse_fixed
from sim.runs.runner import comparison_specs, replicate_seed, run_many, scenario_presets
from sim.runs.summary import paired_differences, plain_summary

SUMMARY_YEARS = (2, 5)
LOCK_FILE = ".run.lock"


HELP = """
Usage: sim-run [run.setting=value ...] [model.parameter=value ...]

Runs each scenario preset x run.replicates, writes results/<run.name>/
(timeseries.parquet, summary.csv, differences.csv, adoption_curves.png,
config.yaml, provenance.yaml) and prints a short summary, baseline first,
each other scenario with its difference to the baseline in the same runs.

Settings of the run:
  run.scenarios=[a,b]   presets to compare (default: all); '{combine}' combines
                        presets, e.g. run.scenarios=[baseline,clear_problems{combine}flexibility]
  run.replicates=N      replicates per scenario (default 20)
  run.name=NAME         output folder under results/ (default: a time stamp)
  run.workers=N         processes (0: all cores)
  run.posterior=FILE    draw parameters from a sim-calibrate posterior sample
Model settings (every run): any parameter, e.g.
  district.schools=30  steps=50  seed=1  policy.goal_clarity=0.8
Scenario presets: {presets}

Example:
  sim-run run.scenarios=[baseline,henry_all_in] run.replicates=10 district.schools=30

Every model parameter, its meaning, range and source: {parameters}.
"""


def model_overrides(args: Sequence[str]) -> list[str]:
    """Command-line overrides that concern the model (not Hydra, run.* or flags)."""
    return [a for a in args if "=" in a and not a.lstrip("+~").startswith(("hydra", "run.", "-"))]


def scenario_labels(run_cfg: DictConfig) -> list[str]:
    """Scenario labels sim-run compares: every preset, or ``run.scenarios`` (each at most once)."""
    chosen = run_cfg.scenarios
    labels = available_scenarios() if chosen == "all" else [str(s) for s in chosen]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"run.scenarios lists {', '.join(twice)} more than once; list each scenario once "
                          "(replicates come from run.replicates).")
    return labels


def check_inputs(args: Sequence[str]) -> DictConfig:
    """Compose and validate everything sim-run will run; raise ConfigError on bad input."""
    for a in args:
        if a.split("=", 1)[0].lstrip("+~") == SCENARIO_GROUP:
            raise ConfigError("sim-run compares several scenarios: choose them with "
                              "run.scenarios=[a,b] (combine presets with '+', e.g. "
                              f"run.scenarios=[baseline,clear_problems+flexibility]). Allowed presets: "
                              f"{', '.join(available_scenarios())}.")
    run_overrides = [a for a in args if a.lstrip("+~").startswith("run.")]
    cfg = load_config("baseline", [*run_overrides, *model_overrides(args)])
    for label in scenario_labels(cfg.run):
        check_init_survey(load_config(scenario_presets(label), model_overrides(args)))
    if cfg.run.posterior:
        refuse_fixed(load_posterior(cfg.run.posterior), fixed_parameters(scenario_labels(cfg.run),
                                                                         model_overrides(args)))
    return cfg


def summarize(ts: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Mean and 90% interval of every metric per scenario at the end of years 2 and 5."""
    checkpoints = {y: y * MONTHS_PER_YEAR for y in SUMMARY_YEARS if y * MONTHS_PER_YEAR <= steps}
    if not checkpoints:
        checkpoints = {round(steps / MONTHS_PER_YEAR, 2): steps}
    rows = []
    for year, step in checkpoints.items():
        at = ts[ts["step"] == step]
        for scenario, g in at.groupby("scenario", sort=False):
            for metric in METRICS:
                v = g[metric]
                rows.append({"scenario": scenario, "year": year, "step": step, "metric": metric,
                             "mean": v.mean(), "q05": v.quantile(0.05), "q95": v.quantile(0.95),
                             "replicates": len(v)})
    return pd.DataFrame(rows)


def uncertainty_note(posterior: Posterior | None) -> str:
    """What the intervals of a comparison carry, in words."""
    if posterior is None:
        return ("seed variation only (parameters fixed at their configured values; run.posterior=FILE adds "
                "parameter uncertainty)")
    return "seed variation and parameter uncertainty: " + posterior.describe()


def run_comparison(cfg: DictConfig, overrides: Sequence[str], out: Path) -> pd.DataFrame:
    """Run all scenario x replicate simulations and write the outputs to ``out``.

    The folder is locked while the runs go on (a second sim-run with the same
    ``run.name`` is refused, exit status 2); every file is written whole or
    not at all.
    """
    busy = (f"Another sim-run is writing to {out} (the same run.name); wait for it to finish or choose "
            "another run.name=NAME.")
    with folder_lock(out, LOCK_FILE, busy):
        remove_temporary(out)
        return _run_comparison(cfg, overrides, out)


def _run_comparison(cfg: DictConfig, overrides: Sequence[str], out: Path) -> pd.DataFrame:
    labels = scenario_labels(cfg.run)
    posterior = load_posterior(cfg.run.posterior) if cfg.run.posterior else None
    specs, draws = comparison_specs(labels, int(cfg.run.replicates), int(cfg.seed), overrides, posterior)
    write_text(out / "config.yaml", OmegaConf.to_yaml(cfg))
    meta = provenance(seed=int(cfg.seed), scenarios=labels, replicates=int(cfg.run.replicates),
                      overrides=list(overrides),
                      replicate_seeds={r: replicate_seed(cfg.seed, r) for r in range(cfg.run.replicates)},
                      uncertainty=uncertainty_note(posterior),
                      posterior=({**posterior.provenance(), "rows_drawn": draws} if posterior else None))
    write_text(out / "provenance.yaml", yaml.safe_dump(meta, sort_keys=False))
    frames: list[pd.DataFrame] = []
    stopped: str | None = None
    try:
        for frame in run_many(specs, workers=cfg.run.workers, progress=cfg.run.progress):
            frames.append(frame)
    except KeyboardInterrupt:
        stopped = "Interrupted"
    except Exception as exc:  # keep what finished, then report the failure
        stopped = f"A run failed ({type(exc).__name__}: {exc})"
    ts = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
    if not ts.empty:
        order = {label: i for i, label in enumerate(labels)}
        ts = ts.sort_values(["scenario", "replicate", "step"], key=lambda c: c.map(order) if c.name == "scenario"
                            else c).reset_index(drop=True)
    try:
        with atomic_path(out / "timeseries.parquet") as tmp:
            ts.to_parquet(tmp, index=False)
    except OSError as exc:
        print(machine_failure("sim-run", exc, f"{len(frames)} of {len(specs)} runs had finished; nothing could be "
                                             "saved."), file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED if stopped == "Interrupted" else EXIT_FAILED) from None
    if stopped:
        print(f"{stopped}: {len(frames)} of {len(specs)} runs finished and were saved to "
              f"{out / 'timeseries.parquet'}.", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED if stopped == "Interrupted" else EXIT_FAILED)
    summary = summarize(ts, int(cfg.steps))
    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    differences = paired_differences(ts, METRICS, sorted(set(summary["step"])))
    written = "summary.csv"
    if len(differences):
        with atomic_path(out / "differences.csv") as tmp:
            differences.to_csv(tmp, index=False)
        written += ", differences.csv"
    curves_with_bands(ts, out / "adoption_curves.png",
                      title=f"{cfg.district.schools} schools x {cfg.district.teachers_per_school} teachers, "
                            f"{cfg.run.replicates} replicates per scenario (90% bands"
                            f"{', seeds and parameter uncertainty' if posterior else ''})")
    print(plain_summary(summary, differences=differences if len(differences) else None))
    print(f"Intervals: {uncertainty_note(posterior)}.")
    print(f"\nWrote {out}/: timeseries.parquet, {written}, adoption_curves.png, config.yaml, provenance.yaml")
    return ts


def _hydra_app(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    overrides = model_overrides(list(hc.overrides.task))
    cfg = load_config("baseline", [*[o for o in hc.overrides.task if o.startswith("run.")], *overrides])
    OmegaConf.set_struct(cfg, False)
    cfg.run.name = Path(hc.runtime.output_dir).name
    out = Path(hc.runtime.output_dir)
    try:
        with machine_failures("sim-run", f"Finished runs are in {out / 'timeseries.parquet'} if it was written."):
            run_comparison(cfg, overrides, out)
    except ConfigError as exc:
        print(f"sim-run: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


def main() -> None:
    """Console entry point of ``sim-run``."""
    import hydra

    catch_ctrl_c()
    args = sys.argv[1:]
    if wants_help(args):
        show_help(HELP)
    if not any(a.startswith("-") for a in args):
        try:
            cfg = check_inputs(args)
            check_writable(cfg.run.out)
            if not any(a.startswith("run.name=") for a in args):  # the time stamp, fixed once for Hydra and us
                sys.argv.append(f"run.name={cfg.run.name}")
            out = Path(cfg.run.out) / str(cfg.run.name)
            if out.is_dir():  # refuse before Hydra writes its record into a folder another sim-run is using
                with folder_lock(out, LOCK_FILE, f"Another sim-run is writing to {out} (the same run.name); wait "
                                                 "for it to finish or choose another run.name=NAME."):
                    pass
        except ConfigError as exc:
            print(f"sim-run: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT) from None
    hydra.main(config_path=str(CONFIG_DIR), config_name=CONFIG_NAME, version_base="1.3")(_hydra_app)()


if __name__ == "__main__":  # as the console script: the shared exits at every phase
    from sim.exits import launch

    launch("sim-run")
