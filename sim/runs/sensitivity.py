"""The global sensitivity study: Morris screening of every behavioural parameter, then Sobol indices
(with convergence) for the parameters screening keeps, and the report ``docs/sensitivity.md``.

One command runs it all, resumably (each stage is a ``sim-sweep`` experiment)::

    python -m sim.runs.sensitivity                      # results/sensitivity/, report.md and figures
    python -m sim.runs.sensitivity docs=true            # also regenerate docs/sensitivity.md and its figures
    python -m sim.runs.sensitivity trajectories=4 sobol_samples=64 out=results/quick   # a quick look

Outputs (per run, then averaged over replicates at each design point) are the
metrics that matter at the end of years 2 and 5 and one measure per stylized
fact (:data:`FACTS`). A parameter is **inert** when its Morris mu* stays below
``inert_level`` (5%) of the largest mu* for every output; it is **kept** for
the Sobol stage when it reaches ``keep_level`` (10%) for some output. A
parameter is **not identifiable from survey data** when it moves none of the
outputs a teacher survey observes (:data:`SURVEY_VISIBLE`) by ``keep_level``. A
fact is **knife-edge** in a parameter when, across the Sobol sample, the fact
holds in a band covering less than a quarter of that parameter's range while
failing elsewhere.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.config import REPO_ROOT, ConfigError, parameter_specs
from sim.district.calendar import MONTHS_PER_YEAR
from sim.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, catch_ctrl_c
from sim.runs.analyze import load, reliability, sobol_analyze

Y1, Y2, Y5 = MONTHS_PER_YEAR, 2 * MONTHS_PER_YEAR, 5 * MONTHS_PER_YEAR
SCREENING = "screening_morris"
SCENARIOS = ("baseline", "henry_all_in", "lake_backing_away", "henry_all_in+key_person_km")
DOC = REPO_ROOT / "docs" / "sensitivity.md"
FIGURES = REPO_ROOT / "docs" / "figures"

Frames = dict[str, pd.DataFrame]  # scenario -> rows indexed by (point, replicate), columns (metric, step)


@dataclass(frozen=True)
class Output:
    """One output of the study: a name, what it measures, and how to compute it per (point, replicate)."""

    name: str
    meaning: str
    compute: Callable[[Frames], pd.Series]
    holds: Callable[[pd.Series], pd.Series] | None = None  # the fact's criterion per run (facts only)
    criterion: str = ""


def _at(f: Frames, scenario: str, metric: str, step: int) -> pd.Series:
    return f[scenario][(metric, step)]


def _metric_outputs() -> list[Output]:
    out = []
    for metric, meaning in (("schoolwide_share", "share of schools school-wide"),
                            ("replications", "schools using a model codified elsewhere"),
                            ("deep_adoption", "share of teachers using PL with depth"),
                            ("mean_exhaustion", "mean teacher exhaustion"),
                            ("equity_gap", "equity gap, students on the margins")):
        for year, step in ((2, Y2), (5, Y5)):
            out.append(Output(f"{metric} y{year}", f"baseline, year {year}: {meaning}",
                              lambda f, m=metric, s=step: _at(f, "baseline", m, s)))
    return out


#: One measure per stylized fact, computable from the district metrics of one run (or a paired pair of runs).
FACTS = (
    Output("SF1 stalled y2", "baseline, year 2: share of schools stalled in pilot classrooms",
           lambda f: _at(f, "baseline", "pilot_stall_share", Y2), lambda v: v > 0.5, "> 0.5"),
    Output("SF2 replications y5", "baseline, year 5: schools using a model codified elsewhere, share of schools",
           lambda f: _at(f, "baseline", "replications", Y5) / f["_schools"], lambda v: v < 0.04, "< 0.04"),
    Output("SF3 surface/depth y2", "baseline, year 2: users' surface quality / depth quality",
           lambda f: _at(f, "baseline", "mean_surface", Y2) / _at(f, "baseline", "mean_depth", Y2).clip(lower=1e-9),
           lambda v: v > 1.5, "> 1.5"),
    Output("SF4 gap y5-y1", "baseline: equity gap, year 5 - year 1",
           lambda f: _at(f, "baseline", "equity_gap", Y5) - _at(f, "baseline", "equity_gap", Y1),
           lambda v: v > 0, "> 0"),
    Output("SF5 tried y2", "baseline, year 2: share of teachers exploring, using or having abandoned PL",
           lambda f: sum(_at(f, "baseline", m, Y2) for m in ("exploring_share", "teacher_adoption", "abandoned_share")),
           lambda v: v > 0.3, "> 0.3"),
    Output("SF6 henry-baseline y5", "henry_all_in - baseline, year 5: share of schools school-wide (paired)",
           lambda f: _at(f, "henry_all_in", "schoolwide_share", Y5) - _at(f, "baseline", "schoolwide_share", Y5),
           lambda v: v > 0.1, "> 0.1"),
    Output("SF7 lake y5/peak", "lake_backing_away: teacher use at year 5 / its peak",
           lambda f: _at(f, "lake_backing_away", "teacher_adoption", Y5)
           / f["lake_backing_away"]["teacher_adoption"].max(axis=1).clip(lower=1e-9),
           lambda v: v < 0.5, "< 0.5"),
    Output("SF8 key person y5", "henry_all_in - henry_all_in+key_person_km, year 5: replications (paired)",
           lambda f: _at(f, "henry_all_in", "replications", Y5)
           - _at(f, "henry_all_in+key_person_km", "replications", Y5),
           lambda v: v > 0, "> 0"),
)
OUTPUTS = (*_metric_outputs(), *FACTS)
#: Outputs a teacher survey at the end of years 2 and 5 observes (docs/survey.md items).
SURVEY_VISIBLE = ("schoolwide_share y2", "schoolwide_share y5", "deep_adoption y2", "deep_adoption y5",
                  "mean_exhaustion y2", "mean_exhaustion y5", "equity_gap y2", "equity_gap y5",
                  "SF3 surface/depth y2", "SF5 tried y2")


# --------------------------------------------------------------------------- outputs per run

def run_outputs(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Per (point, replicate): every output; and the design table and parameter names of a sweep folder."""
    exp, design, rows = load(out)
    ok = rows[rows["error"].isna()]
    missing = [s for s in SCENARIOS if s not in set(ok["scenario"])]
    if missing:
        raise ConfigError(f"{out}: no finished runs of {', '.join(missing)}; rerun the sweep to complete it.")
    frames: Frames = {}
    for scenario in SCENARIOS:
        g = ok[ok["scenario"] == scenario]
        frames[scenario] = g.pivot_table(index=["point", "replicate"], columns="step",
                                         values=list(exp.metrics), aggfunc="first")
    schools = exp.config.get("overrides", [])
    frames["_schools"] = next((float(o.split("=")[1]) for o in schools if o.startswith("district.schools=")),
                              float(parameter_specs()["district.schools"].default))
    index = frames["baseline"].index
    for s in SCENARIOS:
        index = index.intersection(frames[s].index)
    frames = {k: (v.loc[index] if isinstance(v, pd.DataFrame) else v) for k, v in frames.items()}
    table = pd.DataFrame({o.name: o.compute(frames) for o in OUTPUTS}, index=index)
    return table, design, list(exp.names)


def point_means(table: pd.DataFrame, design: pd.DataFrame) -> pd.DataFrame:
    """Replicate means of every output, one row per design row (design order)."""
    means = table.groupby(level="point").mean()
    return means.reindex(design["point"]).reset_index(drop=True)


# --------------------------------------------------------------------------- Morris screening

def morris_indices(out: Path, levels: int = 4, seed: int = 0) -> pd.DataFrame:
    """Morris mu*, its 95% interval and sigma per parameter and output, and mu* relative to the output's largest."""
    from SALib.analyze import morris

    table, design, names = run_outputs(out)
    y = point_means(table, design)
    unit = design[[f"u:{n}" for n in names]].to_numpy(dtype=float)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    rows = []
    for output in y.columns:
        values = y[output].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            continue
        si = morris.analyze(problem, unit, values, num_levels=levels, seed=seed, print_to_console=False)
        top = max(float(np.max(si["mu_star"])), 1e-12)
        for k, name in enumerate(names):
            rows.append({"output": output, "parameter": name, "mu_star": float(si["mu_star"][k]),
                         "mu_star_conf": float(si["mu_star_conf"][k]), "sigma": float(si["sigma"][k]),
                         "relative": float(si["mu_star"][k]) / top})
    return pd.DataFrame(rows)


def screen(indices: pd.DataFrame, keep_level: float = 0.1, inert_level: float = 0.05) -> pd.DataFrame:
    """Per parameter: its largest relative mu*, the output where it is reached, and its verdict."""
    best = indices.loc[indices.groupby("parameter")["relative"].idxmax(), ["parameter", "relative", "output"]]
    visible = indices[indices["output"].isin(SURVEY_VISIBLE)].groupby("parameter")["relative"].max()
    best = best.assign(survey_visible=best["parameter"].map(visible).fillna(0.0))
    best["verdict"] = np.select([best["relative"] >= keep_level, best["relative"] < inert_level],
                                ["kept", "inert"], "weak")
    best["identifiable_from_survey"] = best["survey_visible"] >= keep_level
    return best.sort_values("relative", ascending=False).reset_index(drop=True)


# --------------------------------------------------------------------------- Sobol on the kept parameters

def sobol_experiment(kept: Sequence[str], screening: dict, samples: int, path: Path) -> Path:
    """Write the Sobol experiment over ``kept`` (ranges as screened; everything else as in screening)."""
    ranges = screening["parameters"]
    doc = {"defaults": ["sweep_schema", "_self_"],
           "description": f"Sobol indices of the {len(kept)} parameters kept by the Morris screening.",
           "scenarios": list(SCENARIOS), "overrides": list(screening.get("overrides", [])),
           "parameters": {name: {"range": list(ranges[name]["range"])} for name in kept},
           "design": {"method": "sobol", "samples": int(samples), "seed": int(screening["design"]["seed"]),
                      "second_order": False},
           "replicates": 1, "seeds": "common", "steps": int(screening["steps"]),
           "record_every": int(screening["record_every"]),
           "analysis": {"steps": [Y2, Y5], "metrics": ["schoolwide_share", "replications"]}}
    path.write_text("# Generated by python -m sim.runs.sensitivity from the screening's kept parameters.\n"
                    + yaml.safe_dump(doc, sort_keys=False))
    return path


def sobol_indices(out: Path, sizes: Sequence[int] | None = None, seed: int = 0) -> pd.DataFrame:
    """First-order and total Sobol indices with 95% intervals per output, for each base sample size in ``sizes``.

    Smaller sizes use the first rows of the sample (a Sobol' sequence's prefix
    is itself a balanced design), so the table shows how indices converge. ``seed`` seeds the
    bootstrap of the intervals (:func:`sim.runs.analyze.sobol_analyze`).
    """
    table, design, names = run_outputs(out)
    y = point_means(table, design)
    per = len(names) + 2
    full = len(design) // per
    sizes = sorted({n for n in (sizes or [full]) if n <= full})
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    rows = []
    for n in sizes:
        for output in y.columns:
            values = y[output].to_numpy(dtype=float)[: n * per]
            if not np.isfinite(values).all() or np.ptp(values) == 0:
                continue
            si = sobol_analyze(problem, values, seed)
            for k, name in enumerate(names):
                rows.append({"samples": n, "output": output, "parameter": name,
                             **{c: float(si[c][k]) for c in ("S1", "S1_conf", "ST", "ST_conf")}})
    return pd.DataFrame(rows)




def knife_edges(out: Path, kept: Sequence[str], bins: int = 8) -> pd.DataFrame:
    """Facts that hold only in a narrow band of a parameter, across the Sobol sample."""
    table, design, names = run_outputs(out)
    y = point_means(table, design)
    rows = []
    for fact in FACTS:
        holds = fact.holds(y[fact.name]).to_numpy()
        overall = holds.mean()
        for name in kept:
            band = np.minimum((design[f"u:{name}"].to_numpy() * bins).astype(int), bins - 1)
            share = pd.Series(holds).groupby(band).mean().reindex(range(bins)).to_numpy()
            holding = np.nan_to_num(share) >= 0.5
            if 0 < holding.sum() <= bins // 4 and np.nanmin(share) < 0.2:
                lo, hi = np.flatnonzero(holding)[[0, -1]]
                rng = sampled_range(name, design)
                rows.append({"fact": fact.name, "parameter": name, "overall_share_holding": overall,
                             "holds_for": f"{rng[0] + lo / bins * (rng[1] - rng[0]):.3g} to "
                                          f"{rng[0] + (hi + 1) / bins * (rng[1] - rng[0]):.3g}"})
    return pd.DataFrame(rows, columns=["fact", "parameter", "overall_share_holding", "holds_for"])


def sampled_range(name: str, design: pd.DataFrame) -> tuple[float, float]:
    """The range a parameter was sampled over (from the design's values)."""
    values = pd.to_numeric(design[name])
    return float(values.min()), float(values.max())


# --------------------------------------------------------------------------- report

def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def heat_map(indices: pd.DataFrame, order: Sequence[str], path: Path) -> Path:
    """Parameters (rows, most influential first) x outputs: relative Morris mu*."""
    from sim.runs.analyze import _plt

    plt = _plt()
    grid = indices.pivot(index="parameter", columns="output", values="relative").reindex(
        index=list(order), columns=[o.name for o in OUTPUTS if o.name in set(indices["output"])])
    fig, ax = plt.subplots(figsize=(0.42 * grid.shape[1] + 3.2, 0.2 * grid.shape[0] + 1.8))
    im = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=6)
    ax.set_xlabel("output")
    ax.set_ylabel("parameter")
    fig.colorbar(im, ax=ax, label="Morris mu*, share of the output's largest", shrink=0.6)
    ax.set_title("Which parameters drive which outputs (Morris screening)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def convergence_plot(indices: pd.DataFrame, path: Path, outputs: Sequence[str] = ("schoolwide_share y5",
                                                                                   "SF6 henry-baseline y5")) -> Path:
    """Total Sobol indices (with 95% intervals) against the base sample size, top parameters of two outputs."""
    from sim.runs.analyze import _plt

    plt = _plt()
    shown = [o for o in outputs if o in set(indices["output"])]
    fig, axes = plt.subplots(1, max(len(shown), 1), figsize=(5.2 * max(len(shown), 1), 3.6), squeeze=False)
    colours = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9"]  # Okabe-Ito
    for ax, output in zip(axes[0], shown):
        d = indices[indices["output"] == output]
        top = d[d["samples"] == d["samples"].max()].nlargest(5, "ST")["parameter"]
        for colour, name in zip(colours, top):
            g = d[d["parameter"] == name].sort_values("samples")
            ax.errorbar(g["samples"], g["ST"], yerr=g["ST_conf"], label=name, color=colour, capsize=2, marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("Sobol base sample size N (runs per scenario: N x (parameters + 2))")
        ax.set_ylabel("total index ST (95% interval)")
        ax.set_title(output, fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report(screened: pd.DataFrame, sobol: pd.DataFrame, edges: pd.DataFrame, warnings: list[str],
           meta: dict) -> str:
    """The markdown body of docs/sensitivity.md's generated block."""
    specs = parameter_specs()
    lines = [f"Screening: Morris, {meta['trajectories']} trajectories x {meta['parameters']} parameters x "
             f"{len(SCENARIOS)} scenarios x {meta['replicates']} replicates = {meta['screening_runs']} runs; "
             f"Sobol: N = {meta['sobol_samples']} over the {meta['kept']} kept parameters = {meta['sobol_runs']} "
             f"runs. Wall time {meta['minutes']:.0f} min on {meta['cores']} cores"
             + (f" ({meta['resumed']} of the runs were resumed from an earlier invocation; the time is this "
                "invocation's)." if meta.get("resumed") else "."), "",
             "### Which parameters drive which outputs", "",
             "| parameter | largest effect (mu*, share of the top) | on | verdict | moves a survey-visible output |",
             "|---|---|---|---|---|"]
    for r in screened.itertuples():
        lines.append(f"| `{r.parameter}` | {_pct(r.relative)} | {r.output} | {r.verdict} | "
                     f"{'yes' if r.identifiable_from_survey else 'no'} |")
    inert = screened[screened["verdict"] == "inert"]["parameter"].tolist()
    unident = screened[~screened["identifiable_from_survey"]]["parameter"].tolist()
    lines += ["", "**Inert** (mu* below 5% of the top for every output; candidates to remove): "
              + (", ".join(f"`{p}`" for p in inert) or "none") + ".", "",
              "**Not identifiable from survey data** (no survey-visible output moves by 10% of its top): "
              + (", ".join(f"`{p}`" for p in unident) or "none") + ".", "",
              "![heat map](figures/sensitivity_heatmap.png)", "", "### Sobol indices of the kept parameters", ""]
    last = sobol[sobol["samples"] == sobol["samples"].max()]
    lines += ["| output | parameter | S1 [95% CI] | ST [95% CI] |", "|---|---|---|---|"]
    for output, g in last.groupby("output", sort=False):
        for r in g.nlargest(3, "ST").itertuples():
            lines.append(f"| {output} | `{r.parameter}` | {r.S1:.2f} [±{r.S1_conf:.2f}] | {r.ST:.2f} "
                         f"[±{r.ST_conf:.2f}] |")
    lines += ["", "![convergence](figures/sensitivity_convergence.png)", ""]
    lines += [f"**Warning.** {w}" for w in warnings] or ["All indices at the largest N have 95% intervals of "
                                                          "+/-0.10 or less."]
    lines += ["", "### Knife-edge facts", ""]
    if edges.empty:
        lines.append("No fact holds only in a narrow band (under a quarter of the range) of a kept parameter.")
    else:
        lines += ["| fact | parameter | holds only for | runs where it holds |", "|---|---|---|---|"]
        for r in edges.itertuples():
            lines.append(f"| {r.fact} | `{r.parameter}` ({specs[r.parameter].unit}) | {r.holds_for} | "
                         f"{_pct(r.overall_share_holding)} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the command

ARGS = {"out": "results/sensitivity", "workers": "0", "trajectories": "10", "sobol_samples": "256",
        "schools": "", "teachers": "", "docs": "false", "progress": "true"}


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """``key=value`` settings (see :data:`ARGS`); ConfigError on anything else."""
    import difflib

    from sim.args import yes_no

    args = dict(ARGS)
    for a in argv:
        key, sep, value = a.partition("=")
        if not sep or key not in ARGS:
            hint = difflib.get_close_matches(key, list(ARGS), n=1)
            raise ConfigError(f"Unknown setting '{a}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                              + f" Allowed: {', '.join(f'{k}=' for k in ARGS)} (e.g. trajectories=4).")
        args[key] = value
    for key in ("workers", "trajectories", "sobol_samples", "schools", "teachers"):
        if key in ("schools", "teachers") and args[key] == "":
            continue
        if not args[key].isdigit():
            raise ConfigError(f"Invalid {key}={args[key]!r}: allowed is a non-negative integer.")
    n = int(args["sobol_samples"])
    if n < 16 or n & (n - 1):
        raise ConfigError(f"Invalid sobol_samples={n}: allowed is a power of 2, at least 16 (e.g. 256).")
    if int(args["trajectories"]) < 2:
        raise ConfigError("Invalid trajectories: allowed is an integer >= 2 (Morris needs several trajectories).")
    for key in ("docs", "progress"):
        args[key] = str(yes_no(key, args[key])).lower()
    return args


def study(args: dict[str, str]) -> Path:
    """Run (or resume) the screening and Sobol sweeps; write the report and figures; return the report path."""
    from sim.provenance import provenance
    from sim.runs.sweep import sweep

    out = Path(args["out"])
    out.mkdir(parents=True, exist_ok=True)
    common = [f"workers={args['workers']}", f"progress={args['progress']}", "analyze=false"]
    size = [f"district.{key}={args[arg]}" for arg, key in (("schools", "schools"), ("teachers", "teachers_per_school"))
            if args[arg]]
    if size:
        common.append("overrides=[" + ",".join(f"'{s}'" for s in size) + "]")
    start = time.perf_counter()
    screening = sweep(SCREENING, [f"out={out / 'screening'}", f"design.samples={args['trajectories']}", *common])
    if screening.interrupted or screening.aborted:
        raise KeyboardInterrupt if screening.interrupted else RuntimeError(screening.aborted)
    record = yaml.safe_load((out / "screening" / "experiment.yaml").read_text())["experiment"]
    indices = morris_indices(out / "screening", levels=int(record["design"]["levels"]),
                             seed=int(record["design"]["seed"]))
    screened = screen(indices)
    kept = screened[screened["verdict"] == "kept"]["parameter"].tolist()
    spec = sobol_experiment(kept, record, int(args["sobol_samples"]), out / "sobol_kept.yaml")
    sobol_run = sweep(str(spec), [f"out={out / 'sobol'}", *common])
    if sobol_run.interrupted or sobol_run.aborted:
        raise KeyboardInterrupt if sobol_run.interrupted else RuntimeError(sobol_run.aborted)
    n = int(args["sobol_samples"])
    sizes = [s for s in (16, 32, 64, 128, 256, 512, 1024, 2048) if s <= n]
    sobol = sobol_indices(out / "sobol", sizes, seed=int(record["design"]["seed"]))
    edges = knife_edges(out / "sobol", kept)
    warnings = reliability(sobol)
    minutes = (time.perf_counter() - start) / 60
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    heat_map(indices, screened["parameter"], figures / "sensitivity_heatmap.png")
    convergence_plot(sobol, figures / "sensitivity_convergence.png")
    for name, frame in (("morris_indices", indices), ("screening", screened), ("sobol_indices", sobol),
                        ("knife_edges", edges)):
        frame.to_csv(out / f"{name}.csv", index=False)
    import os

    meta = {"trajectories": int(args["trajectories"]), "parameters": len(indices["parameter"].unique()),
            "replicates": int(record["replicates"]), "screening_runs": screening.planned,
            "sobol_samples": n, "kept": len(kept), "sobol_runs": sobol_run.planned, "minutes": minutes,
            "resumed": screening.skipped + sobol_run.skipped,
            "cores": os.cpu_count()}
    body = report(screened, sobol, edges, warnings, meta)
    prov = provenance(command="python -m sim.runs.sensitivity " + " ".join(f"{k}={v}" for k, v in args.items()
                                                                            if v != ARGS[k]), **meta)
    (out / "provenance.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(prov, default=str)), sort_keys=False))
    (out / "report.md").write_text(body + "\n")
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(summary_text(screened, kept, minutes))
    if args["docs"] == "true":
        write_docs(body, figures, prov, args)
    return out / "report.md"


def summary_text(screened: pd.DataFrame, kept: Sequence[str], minutes: float) -> str:
    """What the study found, in a few plain lines."""
    inert = (screened["verdict"] == "inert").sum()
    top = screened.head(5)
    lines = [f"Screened {len(screened)} parameters in {minutes:.0f} min: {len(kept)} kept for Sobol indices, "
             f"{inert} inert (no effect above 5% of the strongest on any output)."]
    lines += [f"  {r.parameter}: up to {_pct(r.relative)} of the strongest effect, on {r.output}"
              for r in top.itertuples()]
    return "\n".join(lines)


def write_docs(body: str, figures: Path, prov: dict, args: dict[str, str]) -> None:
    """Replace the generated block of docs/sensitivity.md and copy its figures."""
    import shutil

    from sim.docblocks import replace_block

    FIGURES.mkdir(parents=True, exist_ok=True)
    for f in figures.glob("*.png"):
        shutil.copy(f, FIGURES / f.name)
    command = prov["command"].strip()
    command += "" if "docs=true" in command else " docs=true"
    DOC.write_text(replace_block(DOC.read_text(), "sensitivity", body + f"\n\nGit revision `{prov['git_revision']}`.",
                                 command))
    print(f"Wrote {DOC} and {FIGURES}/sensitivity_*.png")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m sim.runs.sensitivity [key=value ...]``."""
    catch_ctrl_c()
    try:
        study(parse_args(sys.argv[1:] if argv is None else argv))
    except ConfigError as exc:
        print(f"sim.runs.sensitivity: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        print("Interrupted: finished runs are kept; run the same command again to resume.", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None


if __name__ == "__main__":
    main()
