"""``sim-validate``: regenerate the tables and figures of docs/validation.md and docs/scenarios.md."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
import yaml

from sim.config import REPO_ROOT, load_config
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




def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sim.validation",
        description="Regenerate the lever-effect table, the docking tables and the figures of docs/validation.md.")
    parser.add_argument("--replicates", type=_positive_int, default=20,
                        help="replicates per factorial cell and docking case (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the replicate seeds (default 0)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes for the factorial (0: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the factorial and the docking cases; write docs/figures/*.png, the tables and provenance."""
    from sim.provenance import provenance
    from sim.runs.plots import curves_with_bands

    catch_ctrl_c()
    args = parse_args(argv)
    if args.workers < 0:
        print("python -m sim.validation: --workers must be >= 0 (0: all cores)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)
    blocks = {DOC: ("sf-table", "lever-table", "bass-table", "contagion-table"), SCENARIOS_DOC: ("preset-table",)}
    for doc, names in blocks.items():
        text = doc.read_text() if doc.exists() else ""
        missing = [n for n in names if f"<!-- BEGIN {n} -->" not in text or f"<!-- END {n} -->" not in text]
        if missing:
            print(f"python -m sim.validation: {doc} lacks the markers <!-- BEGIN name --> ... <!-- END name --> "
                  f"for: {', '.join(missing)}; nothing was run.", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT)
    meta = provenance(seed=args.seed, replicates=args.replicates,
                      replicate_seeds=[replicate_seed(args.seed, r) for r in range(args.replicates)],
                      factorial=factorial_labels(), presets=preset_labels(),
                      bass_cases=[list(c) for c in BASS_CASES],
                      bass_overrides={f"p={p:g},q={q:g}": bass_overrides(p, q) for p, q in BASS_CASES},
                      contagion_overrides={f"k={d},T={t}": contagion_overrides("watts_strogatz", degree=d, threshold=t)
                                           for d, t in CONTAGION_CASES},
                      config=load_config("baseline"))
    FIGURES.mkdir(parents=True, exist_ok=True)
    raw = REPO_ROOT / "results" / "validation"
    raw.mkdir(parents=True, exist_ok=True)
    presets = preset_labels()
    extra = [label for label in presets if label not in factorial_labels()]
    ts = run_factorial(args.replicates, base_seed=args.seed, workers=args.workers, progress=not args.no_progress,
                       extra=extra)
    ts.to_parquet(raw / "lever_runs.parquet", index=False)
    if not ts.attrs.get("complete", False):
        print(f"Interrupted: the finished runs were saved to {raw / 'lever_runs.parquet'}; docs not updated.",
              file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
    table = lever_table(ts)
    plot_lever_effects(table, FIGURES / "lever_effects.png")
    shown = ["baseline", *RECOMMENDATIONS, ALL_FOUR, "henry_all_in"]
    curves_with_bands(ts[ts["scenario"].isin(shown)].replace({"scenario": {ALL_FOUR: "all four"}}),
                      FIGURES / "lever_curves.png",
                      metrics=("teacher_adoption", "deep_adoption", "schoolwide_share", "replications"),
                      title=f"50 schools x 40 teachers, {args.replicates} replicates (90% bands)")
    bass = bass_results(args.replicates, args.seed)
    bass.to_parquet(raw / "bass_docking.parquet", index=False)
    plot_bass(bass, FIGURES / "bass_docking.png")
    spread = contagion_results(args.replicates, args.seed)
    spread.to_parquet(raw / "complex_contagion.parquet", index=False)
    plot_contagion(spread, FIGURES / "complex_contagion.png")
    (FIGURES / "validation_provenance.yaml").write_text(yaml.safe_dump(_plain(meta), sort_keys=False))
    stamp = (f"\n\n_Generated by `python -m sim.validation --replicates {args.replicates} --seed {args.seed}` "
             f"at git revision `{meta['git_revision']}`; provenance in `docs/figures/validation_provenance.yaml`._\n")
    sf_table = sf_markdown(sf_runs(args.replicates, args.seed))
    text = DOC.read_text()
    text = replace_block(text, "sf-table", sf_table + stamp)
    text = replace_block(text, "lever-table", lever_markdown(table, args.replicates) + stamp)
    text = replace_block(text, "bass-table", bass_markdown(bass) + stamp)
    text = replace_block(text, "contagion-table", contagion_markdown(spread) + stamp)
    DOC.write_text(text)
    SCENARIOS_DOC.write_text(replace_block(SCENARIOS_DOC.read_text(), "preset-table",
                                           preset_markdown(ts, presets) + stamp))
    print(lever_markdown(table, args.replicates))
    print(f"\nWrote {DOC}, {SCENARIOS_DOC}, {FIGURES}/lever_effects.png, lever_curves.png, bass_docking.png, "
          f"complex_contagion.png, validation_provenance.yaml; raw runs in {raw}/")


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
