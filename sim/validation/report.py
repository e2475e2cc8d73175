"""``sim-validate``: regenerate the tables and figures of docs/validation.md and docs/scenarios.md."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import yaml

from sim.config import REPO_ROOT, ConfigError, load_config
from sim.docblocks import replace_block
from sim.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, catch_ctrl_c
from sim.runs.runner import replicate_seed
from sim.validation.docking import (
    BASS_CASES,
    CONTAGION_CASES,
    bass_markdown,
    bass_overrides,
    bass_results,
    contagion_markdown,
    contagion_overrides,
    contagion_results,
    granovetter_markdown,
    granovetter_overrides,
    granovetter_results,
    GRANOVETTER_MEAN,
    GRANOVETTER_SDS,
    plot_bass,
    plot_contagion,
)
from sim.validation.factorial import (
    ALL_FOUR,
    RECOMMENDATIONS,
    factorial_labels,
    lever_markdown,
    lever_table,
    plot_lever_effects,
    run_factorial,
)
from sim.validation.facts import sf_markdown, sf_runs
from sim.validation.replicates import YEAR2, YEAR5

# -- preset overview ------------------------------------------------------------------

#: Compositions shown next to the presets in docs/scenarios.md.
COMPOSITIONS = ("henry_all_in+key_person_km", "clear_problems+community_of_practice")
PRESET_COLUMNS = ((YEAR2, "teacher_adoption", "use y2"), (YEAR2, "pilot_stall_share", "stalled y2"),
                  (YEAR5, "teacher_adoption", "use y5"), (YEAR5, "deep_adoption", "deep y5"),
                  (YEAR5, "schoolwide_share", "school-wide y5"), (YEAR5, "codified_models", "codified y5"),
                  (YEAR5, "replications", "replications y5"), (YEAR5, "mean_exhaustion", "exhaustion y5"))


def preset_labels() -> list[str]:
    """Every preset in scenarios/scenario/ plus :data:`COMPOSITIONS`, baseline first."""
    from sim.config import available_scenarios

    names = available_scenarios()
    return ["baseline", *[n for n in names if n != "baseline"], *COMPOSITIONS]


def preset_markdown(ts: pd.DataFrame, labels: Sequence[str]) -> str:
    """Table: headline metrics of each preset at years 2 and 5 (means over replicates)."""
    head = "| scenario | " + " | ".join(c[2] for c in PRESET_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (1 + len(PRESET_COLUMNS))]
    for label in labels:
        cells = []
        for step, metric, _ in PRESET_COLUMNS:
            v = ts.loc[(ts["scenario"] == label) & (ts["step"] == step), metric]
            cells.append(f"{v.mean():.1f}" if metric in ("codified_models", "replications") else f"{v.mean():.2f}")
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    n = ts.loc[ts["scenario"] == labels[0], "replicate"].nunique()
    lines += ["", f"Means over {n} common-seed replicates of the default district (50 schools x 40 teachers); "
              "shares are of teachers (use, deep) or schools (stalled, school-wide); codified and replications "
              "are counts of models and schools."]
    return "\n".join(lines)


# -- the one command ------------------------------------------------------------------

DOC = REPO_ROOT / "docs" / "validation.md"
SCENARIOS_DOC = REPO_ROOT / "docs" / "scenarios.md"
FIGURES = REPO_ROOT / "docs" / "figures"
PROVENANCE_NOTE = "\n\nProvenance (versions, seeds, git revision): `docs/figures/validation_provenance.yaml`."




HELP = """
Usage: sim-validate [setting=value ...]

Runs the stylized-fact checks (SF1-SF8), the factorial of the report's four
recommendations with every preset, and the docking with the Bass model and
with complex contagion; writes the tables, figures, raw runs and provenance
to out=DIR (default results/validation) and prints the lever-effect table.
The shipped docs change only with docs=true.

Settings:
  replicates=N     replicates per factorial cell and docking case (default 20)
  seed=N           base seed of the replicate seeds (default 0)
  workers=N        processes for the factorial (0: all cores)
  progress=false   hide the progress bar
  out=DIR          where to write (default results/validation)
  docs=true        also rewrite the generated blocks of docs/validation.md and
                   docs/scenarios.md and the figures in docs/figures/
Scenario presets (all are run): {presets}

Example:
  sim-validate replicates=5 out=results/validation-quick

The model runs at its configured values ({parameters}).
"""
#: The tool's settings and their defaults.
DEFAULTS = {"replicates": 20, "seed": 0, "workers": 0, "progress": True, "out": "results/validation", "docs": False}


def parse_args(argv: Sequence[str] | None) -> SimpleNamespace:
    """``key=value`` settings (see :data:`HELP`); ConfigError on bad input."""
    from sim.args import parse, yes_no

    given = parse("sim-validate", list(sys.argv[1:] if argv is None else argv), DEFAULTS, model=False).tool
    values: dict = dict(DEFAULTS)
    for key, text in given.items():
        default = DEFAULTS[key]
        if isinstance(default, bool):
            values[key] = yes_no(key, text)
        elif isinstance(default, int):
            try:
                values[key] = int(text)
            except ValueError:
                raise ConfigError(f"{key}={text!r}: expected a whole number.") from None
        else:
            if not text:
                raise ConfigError(f"{key}= needs a folder, e.g. {key}=results/validation.")
            values[key] = text
    if values["replicates"] < 1:
        raise ConfigError(f"replicates={values['replicates']}: expected a positive integer (1 or more).")
    if values["workers"] < 0:
        raise ConfigError(f"workers={values['workers']}: must be >= 0 (0: all cores).")
    return SimpleNamespace(**values)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the factorial and the docking cases; write docs/figures/*.png, the tables and provenance."""
    from sim.args import fail, show_help, wants_help
    from sim.provenance import provenance
    from sim.runs.plots import curves_with_bands

    catch_ctrl_c()
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_help(argv):
        show_help(HELP)
    try:
        args = parse_args(argv)
    except ConfigError as exc:
        fail("sim-validate", exc)
    out = Path(args.out)
    figures = out / "figures"
    blocks = {DOC: ("sf-table", "lever-table", "bass-table", "granovetter-table", "contagion-table"),
              SCENARIOS_DOC: ("preset-table",)}
    for doc, names in blocks.items():
        text = doc.read_text() if doc.exists() else ""
        missing = [n for n in names if f"<!-- BEGIN {n} -->" not in text or f"<!-- END {n} -->" not in text]
        if missing and args.docs:
            print(f"sim-validate: {doc} lacks the markers <!-- BEGIN name --> ... <!-- END name --> "
                  f"for: {', '.join(missing)}; nothing was run.", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT)
    meta = provenance(seed=args.seed, replicates=args.replicates,
                      replicate_seeds=[replicate_seed(args.seed, r) for r in range(args.replicates)],
                      factorial=factorial_labels(), presets=preset_labels(),
                      bass_cases=[list(c) for c in BASS_CASES],
                      bass_overrides={f"p={p:g},q={q:g}": bass_overrides(p, q) for p, q in BASS_CASES},
                      contagion_overrides={f"k={d},T={t}": contagion_overrides("watts_strogatz", degree=d, threshold=t)
                                           for d, t in CONTAGION_CASES},
                      granovetter_overrides={f"sd={sd:g}": granovetter_overrides(GRANOVETTER_MEAN, sd)
                                             for sd in GRANOVETTER_SDS},
                      config=load_config("baseline"))
    figures.mkdir(parents=True, exist_ok=True)
    raw = out
    presets = preset_labels()
    extra = [label for label in presets if label not in factorial_labels()]
    ts = run_factorial(args.replicates, base_seed=args.seed, workers=args.workers, progress=args.progress,
                       extra=extra)
    ts.to_parquet(raw / "lever_runs.parquet", index=False)
    if not ts.attrs.get("complete", False):
        print(f"Interrupted: the finished runs were saved to {raw / 'lever_runs.parquet'}; nothing else written.",
              file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
    table = lever_table(ts)
    plot_lever_effects(table, figures / "lever_effects.png")
    shown = ["baseline", *RECOMMENDATIONS, ALL_FOUR, "henry_all_in"]
    curves_with_bands(ts[ts["scenario"].isin(shown)].replace({"scenario": {ALL_FOUR: "all four"}}),
                      figures / "lever_curves.png",
                      metrics=("teacher_adoption", "deep_adoption", "schoolwide_share", "replications"),
                      title=f"50 schools x 40 teachers, {args.replicates} replicates (90% bands)")
    bass = bass_results(args.replicates, args.seed)
    bass.to_parquet(raw / "bass_docking.parquet", index=False)
    plot_bass(bass, figures / "bass_docking.png")
    gran = granovetter_results(args.replicates, args.seed)
    gran.to_parquet(raw / "granovetter.parquet", index=False)
    spread = contagion_results(args.replicates, args.seed)
    spread.to_parquet(raw / "complex_contagion.parquet", index=False)
    plot_contagion(spread, figures / "complex_contagion.png")
    (figures / "validation_provenance.yaml").write_text(yaml.safe_dump(_plain(meta), sort_keys=False))
    command = f"sim-validate replicates={args.replicates} seed={args.seed} docs=true"
    blocks = {"sf-table": sf_markdown(sf_runs(args.replicates, args.seed)),
              "lever-table": lever_markdown(table, args.replicates),
              "bass-table": bass_markdown(bass), "granovetter-table": granovetter_markdown(gran),
              "contagion-table": contagion_markdown(spread),
              "preset-table": preset_markdown(ts, presets)}
    (out / "tables.md").write_text("\n\n".join(f"## {name}\n\n{body}" for name, body in blocks.items()) + "\n")
    print(lever_markdown(table, args.replicates))
    written = f"{out}/: tables.md, figures/ (4 figures, provenance), raw runs"
    if args.docs:
        import shutil

        FIGURES.mkdir(parents=True, exist_ok=True)
        for f in figures.iterdir():
            shutil.copy2(f, FIGURES / f.name)
        text = DOC.read_text()
        for name in ("sf-table", "lever-table", "bass-table", "granovetter-table", "contagion-table"):
            text = replace_block(text, name, blocks[name] + PROVENANCE_NOTE, command)
        DOC.write_text(text)
        SCENARIOS_DOC.write_text(replace_block(SCENARIOS_DOC.read_text(), "preset-table",
                                               blocks["preset-table"] + PROVENANCE_NOTE, command))
        written += f"; and {DOC}, {SCENARIOS_DOC}, {FIGURES}/"
    print(f"\nWrote {written}")


def _plain(obj):
    """Make OmegaConf containers and numpy scalars YAML-safe."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(obj, DictConfig | ListConfig):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


if __name__ == "__main__":
    main()
