"""``sim-analyze out=DIR``: summarize a sweep, plot it, compute indices, discover scenarios.

Reads ``<out>/experiment.yaml``, ``<out>/design.parquet`` and the runs
dataset ``<out>/runs/`` written by ``sim-sweep`` (which calls :func:`analyze`
itself when it finishes) and writes into ``<out>``:

``summary.csv``
    Mean and 90% interval (5th and 95th percentiles over replicates) of every
    kept metric per scenario, parameter point and summarized step.
``scenario_comparison.png``
    Metric curves per scenario with 90% bands (:func:`sim.runs.plots.curves_with_bands`).
``parameters.png``
    Each analysis metric against each varied parameter, per scenario, with 90% bands.
``sobol_indices.csv/.png`` or ``morris_indices.csv/.png``
    For SALib designs: first-order and total Sobol indices with 95% confidence
    intervals, or Morris mu*, sigma (and mu* confidence interval), per
    scenario and metric, computed with SALib on the replicate mean of each
    design point.
``prim_boxes.csv``, ``prim_trajectory.csv``, ``prim_peeling.png``
    When ``analysis.discovery`` names a metric: PRIM (ema_workbench) boxes of
    parameter space where runs succeed, with coverage and density, and the
    peeling trajectory of each box.
``failures.csv``
    Runs that raised, with their error.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from sim.config import ConfigError, yaml_problem
from sim.exits import EXIT_BAD_INPUT, catch_ctrl_c
from sim.files import atomic_path
from sim.runs.experiment import Experiment, parse_experiment
from sim.runs.plots import LABELS, band_stats, curves_with_bands, format_value, preset_label
from sim.runs.store import RunStore
from sim.runs.summary import HEADLINE, paired_differences, plain_summary

#: Parameters with more distinct values than this are binned (by quantile) in parameters.png.
MAX_LEVELS = 12
BINS = 10


# --------------------------------------------------------------------------- loading

def load(out: Path | str) -> tuple[Experiment, pd.DataFrame, pd.DataFrame]:
    """The experiment, its design table and all recorded rows of a sweep folder."""
    out = Path(out)
    path = out / "experiment.yaml"
    if not path.is_file():
        raise ConfigError(f"{out} is not a sweep output folder: {path} is missing. Give out=DIR of a folder "
                          "written by sim-sweep.")
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
        steps = {label: int(s["config"]["steps"]) for label, s in record["scenarios"].items()}
        experiment = record["experiment"]
    except (yaml.YAMLError, UnicodeDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{path} is damaged or not written by sim-sweep ({yaml_problem(exc)}); run the "
                          "sim-sweep command again to rewrite it.") from None
    exp = parse_experiment(experiment, steps=steps)
    try:
        design = pd.read_parquet(out / "design.parquet")
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{out / 'design.parquet'} is missing or damaged ({str(exc).splitlines()[0][:120]}); "
                          "run the sim-sweep command again to rewrite it.") from None
    store = RunStore(out)
    damage = store.verify()
    if damage:
        print(f"sim-analyze: {len(damage)} damaged batch file(s) in {store.dir} left out of the analysis: "
              f"{', '.join(map(str, damage))}. Run the sim-sweep command again: it sets them aside and runs "
              "their runs again.", file=sys.stderr)
    rows = store.read()
    if not rows.empty:  # experiment order of scenarios (batches arrive in completion order)
        order = {label: i for i, label in enumerate(exp.scenarios)}
        rows = (rows.assign(_order=rows["scenario"].map(order)).sort_values(["_order", "point", "replicate", "step"])
                .drop(columns="_order").reset_index(drop=True))
    return exp, design, rows


def at_step(rows: pd.DataFrame, step: int | None) -> pd.DataFrame:
    """Rows at ``step``, or at the last recorded step of each run when ``step`` is None."""
    if step is None:
        return rows[rows["step"] == rows.groupby("run_id")["step"].transform("max")]
    return rows[rows["step"] == step]


def summary_steps(exp: Experiment) -> list[int | None]:
    """Steps to summarize: ``analysis.steps``, or the last step (None)."""
    return list(exp.analysis.steps) if exp.analysis.steps else [None]


# --------------------------------------------------------------------------- summary

def summarize(ok: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """Mean and 90% interval per scenario / parameter point / step / metric, over replicates."""
    keys = ["scenario", "point", *exp.names, "step"]
    frames = []
    for step in summary_steps(exp):
        at = at_step(ok, step)
        if at.empty:
            continue
        long = at.melt(id_vars=keys, value_vars=list(exp.metrics), var_name="metric")
        g = long.groupby([*keys, "metric"], sort=False, dropna=False)["value"]
        frames.append(pd.concat({"mean": g.mean(), "q05": g.quantile(0.05), "q95": g.quantile(0.95),
                                 "replicates": g.count()}, axis=1).reset_index())
    if not frames:
        return pd.DataFrame(columns=[*keys, "metric", "mean", "q05", "q95", "replicates"])
    order = {**{s: i for i, s in enumerate(exp.scenarios)}, **{m: i for i, m in enumerate(exp.metrics)}}
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["scenario", "point", "step", "metric"], kind="stable",
                           key=lambda c: c.map(order) if c.name in ("scenario", "metric") else c).reset_index(drop=True)


def differences(ok: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """Each scenario minus the baseline in the same design point and replicate, at the summary steps.

    Only with ``seeds: common``, where replicate r runs with the same seed (and posterior draw) in every
    scenario, so the pair shares everything but the policy; empty otherwise or without a baseline.
    """
    if exp.seeds != "common" or "baseline" not in exp.scenarios:
        return pd.DataFrame()
    frames = [paired_differences(at, list(exp.metrics), sorted(set(at["step"])), pair=("point", "replicate"))
              for at in (at_step(ok, step) for step in summary_steps(exp)) if not at.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --------------------------------------------------------------------------- plots

def _plt():
    import matplotlib.pyplot as plt

    from sim.runs import plots  # noqa: F401 - selects the Agg backend

    return plt


def plot_scenarios(ok: pd.DataFrame, exp: Experiment, path: Path) -> Path:
    """Scenario comparison: curves with 90% bands, or dots with 90% intervals when only one step is kept."""
    metrics = list(exp.analysis.metrics)[:4]
    title = (f"{exp.name}: {ok['run_id'].nunique()} runs, 90% bands over replicates"
             + (" and parameter points" if exp.parameters else ""))
    if ok["step"].nunique() > 1:
        return curves_with_bands(ok, path, metrics=metrics, by="scenario", title=title)
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.5 + 0.35 * len(exp.scenarios) + 1.5),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        s = band_stats(ok, metric, "scenario").set_index("scenario").reindex(list(exp.scenarios))
        y = np.arange(len(s))
        ax.errorbar(s["mean"], y, xerr=[s["mean"] - s["lo"], s["hi"] - s["mean"]], fmt="o", capsize=3)
        ax.set_yticks(y, s.index)
        ax.set_title(LABELS.get(metric, metric), fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, 120)
    plt.close(fig)
    return path


def _x_column(at: pd.DataFrame, name: str) -> tuple[pd.Series, bool]:
    """The parameter as plotted: its values, or quantile-bin means when it has many; numeric flag."""
    x = at[name]
    numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
    if numeric and x.nunique() > MAX_LEVELS:
        bins = pd.qcut(x, BINS, duplicates="drop")
        return x.groupby(bins, observed=True).transform("mean"), True
    return x.astype(float) if numeric else x.astype(str), numeric


def plot_parameters(ok: pd.DataFrame, exp: Experiment, path: Path) -> Path | None:
    """Each analysis metric (rows) against each varied parameter (columns), mean and 90% band per scenario."""
    if not exp.parameters:
        return None
    plt = _plt()
    at = at_step(ok, summary_steps(exp)[-1])
    metrics, names = list(exp.analysis.metrics), list(exp.names)
    fig, axes = plt.subplots(len(metrics), len(names), figsize=(3.6 * len(names), 2.8 * len(metrics)),
                             squeeze=False)
    colors = plt.get_cmap("tab10" if len(exp.scenarios) <= 10 else "tab20")
    for j, (name, param) in enumerate(zip(names, exp.parameters)):
        x, numeric = _x_column(at, name)
        df = at.assign(_x=x)
        order = [str(v) for v in param.values] if param.values is not None and not numeric else None
        for i, metric in enumerate(metrics):
            ax = axes[i][j]
            for k, scenario in enumerate(exp.scenarios):
                s = band_stats(df[df["scenario"] == scenario], metric, by="_x")
                if s.empty:
                    continue
                if order:  # categories in the order the experiment lists them
                    s = s.set_index("_x").reindex([v for v in order if v in set(s["_x"])]).reset_index()
                pos = s["_x"] if numeric else np.arange(len(s))
                c = colors(k % colors.N)
                ax.plot(pos, s["mean"], "-o", ms=3, lw=1.4, color=c, label=scenario)
                ax.fill_between(pos, s["lo"], s["hi"], color=c, alpha=0.18, lw=0)
                if not numeric:
                    ax.set_xticks(pos, s["_x"], fontsize=7, rotation=30)
            if i == len(metrics) - 1:
                ax.set_xlabel(name, fontsize=8)
            if j == 0:
                ax.set_ylabel(LABELS.get(metric, metric), fontsize=8)
            ax.grid(alpha=0.3)
    if len(exp.scenarios) > 1:
        axes[0][0].legend(fontsize=7)
    step = summary_steps(exp)[-1]
    fig.suptitle(f"{exp.name}: metrics at {'the last step' if step is None else f'step {step}'} "
                 "(mean and 90% band over replicates and the other parameters)", fontsize=10)
    fig.tight_layout()
    _save(fig, path, 110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- sensitivity (SALib)

def point_means(ok: pd.DataFrame, exp: Experiment, design: pd.DataFrame, scenario: str,
                metric: str) -> np.ndarray:
    """Replicate mean of ``metric`` (at the analysis step) for each design row, in design order."""
    at = at_step(ok[ok["scenario"] == scenario], summary_steps(exp)[-1])
    means = at.groupby("point")[metric].mean()
    return design["point"].map(means).to_numpy(dtype=float)


def sobol_analyze(problem: dict, y: np.ndarray, seed: int, second_order: bool = False) -> dict:
    """SALib's Sobol indices of ``y`` with the bootstrap behind their intervals seeded from ``seed``.

    SALib seeds its bootstrap only ``if seed:``, so a design seed of 0 would leave the intervals
    unseeded (different in every run); the bootstrap seed is drawn from
    ``numpy.random.SeedSequence(seed)`` instead, which is never 0 in practice (1 if it were).
    """
    from SALib.analyze import sobol

    boot = int(np.random.SeedSequence(seed).generate_state(1)[0]) or 1
    return sobol.analyze(problem, y, calc_second_order=second_order, seed=boot, print_to_console=False)


def sensitivity(ok: pd.DataFrame, exp: Experiment, design: pd.DataFrame) -> pd.DataFrame:
    """Sobol (S1, ST and confidence intervals) or Morris (mu, mu*, sigma, mu* CI) per scenario and metric."""
    from SALib.analyze import morris

    names = list(exp.names)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    unit = design[[f"u:{n}" for n in names]].to_numpy(dtype=float)
    rows = []
    for scenario in exp.scenarios:
        for metric in exp.analysis.metrics:
            y = point_means(ok, exp, design, scenario, metric)
            if np.isnan(y).any():
                missing = int(np.isnan(y).sum())
                print(f"sim-analyze: {scenario}/{metric}: {missing} design rows have no successful run; "
                      "indices skipped (rerun the sweep, retry_failed=true, to complete them).", file=sys.stderr)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # constant outputs give 0/0 indices
                if exp.design.method == "sobol":
                    si = sobol_analyze(problem, y, exp.design.seed, exp.design.second_order)
                    cols = ("S1", "S1_conf", "ST", "ST_conf")
                else:
                    si = morris.analyze(problem, unit, y, num_levels=exp.design.levels, seed=exp.design.seed,
                                        print_to_console=False)
                    cols = ("mu", "mu_star", "sigma", "mu_star_conf")
            for k, name in enumerate(names):
                rows.append({"scenario": scenario, "metric": metric, "parameter": name,
                             **{c: float(si[c][k]) for c in cols}})
    return pd.DataFrame(rows)

def reliability(indices: pd.DataFrame, max_conf: float = 0.1) -> list[str]:
    """Warnings for Sobol indices whose 95% interval is wider than ``max_conf`` or whose total index exceeds 1.

    ``indices`` has columns ``samples`` (the base sample N), ``S1``, ``S1_conf``,
    ``ST``, ``ST_conf``; only the rows of the largest N are judged.
    """
    last = indices[indices["samples"] == indices["samples"].max()]
    bad = last[(last["ST_conf"] > max_conf) | (last["S1_conf"] > max_conf) | (last["ST"] > 1.05)]
    if bad.empty:
        return []
    n = int(last["samples"].iloc[0])
    return [f"Sobol sample too small for {len(bad)} of {len(last)} indices at N={n}: intervals up to "
            f"+/-{bad[['S1_conf', 'ST_conf']].to_numpy().max():.2f}"
            + (f", total indices up to {bad['ST'].max():.2f} (> 1 is sampling error)" if (bad["ST"] > 1).any()
               else "") + "; increase the base sample (design.samples, a power of 2) before reading them."]


def plot_sensitivity(indices: pd.DataFrame, method: str, path: Path) -> Path:
    """Bar chart per scenario (rows) and metric (columns): S1 and ST, or mu* and sigma, with intervals."""
    plt = _plt()
    scenarios, metrics = list(dict.fromkeys(indices["scenario"])), list(dict.fromkeys(indices["metric"]))
    n_par = indices["parameter"].nunique()
    fig, axes = plt.subplots(len(scenarios), len(metrics), squeeze=False,
                             figsize=(3.8 * len(metrics), 0.9 + 0.32 * n_par * len(scenarios) + 0.6))
    bars = (("S1", "S1_conf", "first order S1"), ("ST", "ST_conf", "total ST")) if method == "sobol" else \
        (("mu_star", "mu_star_conf", "mu*"), ("sigma", None, "sigma"))
    for i, scenario in enumerate(scenarios):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            d = indices[(indices["scenario"] == scenario) & (indices["metric"] == metric)]
            y = np.arange(len(d))
            for k, (col, conf, label) in enumerate(bars):
                ax.barh(y + (k - 0.5) * 0.38, d[col], height=0.36, label=label,
                        xerr=d[conf] if conf else None, capsize=2, error_kw={"lw": 0.8})
            ax.set_yticks(y, d["parameter"], fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{scenario}: {LABELS.get(metric, metric)}", fontsize=8)
            ax.grid(alpha=0.3, axis="x")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(("Sobol indices (95% confidence intervals)" if method == "sobol"
                  else "Morris elementary effects (mu* with 95% interval, sigma)"), fontsize=10)
    fig.tight_layout()
    _save(fig, path, 110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- scenario discovery (PRIM)

def discovery_data(ok: pd.DataFrame, exp: Experiment, scenario: str) -> tuple[pd.DataFrame, np.ndarray]:
    """PRIM inputs: one row per run of ``scenario`` (parameters, numeric cast to float) and success flags."""
    d = exp.analysis.discovery
    at = at_step(ok[ok["scenario"] == scenario], summary_steps(exp)[-1])
    x = at[list(exp.names)].reset_index(drop=True).copy()
    for name in exp.names:
        if pd.api.types.is_numeric_dtype(x[name]) or pd.api.types.is_bool_dtype(x[name]):
            x[name] = x[name].astype(float)  # ema_workbench 3.0 PRIM fails on integer columns under pandas 3
        else:
            x[name] = x[name].astype(object)
    value = at[d.metric].to_numpy(dtype=float)
    y = value >= d.threshold if d.above else value <= d.threshold
    return x, y


def _limits(box_lim: pd.DataFrame, init: pd.DataFrame, qp: dict) -> list[dict]:
    """Restricted parameters of a box: numeric limits or the kept values, with PRIM's quasi-p values."""
    out = []
    for name in box_lim.columns:
        lo, hi = box_lim[name].iloc[0], box_lim[name].iloc[1]
        q_lo, q_hi = (None if q is None or q < 0 else float(q) for q in qp.get(name, (None, None)))
        if isinstance(lo, set):
            if lo != init[name].iloc[0]:
                out.append({"parameter": name, "lower": np.nan, "upper": np.nan,
                            "values": ", ".join(sorted(map(str, lo))), "qp_lower": q_lo, "qp_upper": q_hi})
        elif lo != init[name].iloc[0] or hi != init[name].iloc[1]:
            out.append({"parameter": name, "lower": float(lo), "upper": float(hi), "values": "",
                        "qp_lower": q_lo, "qp_upper": q_hi})
    return out


def _no_box(scenario: str, box, y: np.ndarray, d) -> None:
    """Say on stderr that PRIM found no box reaching the density threshold, and how dense its densest box was."""
    rule = f"{d.metric} {'>=' if d.above else '<='} {d.threshold}"
    msg = (f"sim-analyze: {scenario}: no PRIM box reaches density {d.density:.0%}; {int(y.sum())} of {len(y)} runs "
           f"succeed ({rule})")
    if box is not None:
        best = box.peeling_trajectory.loc[box.peeling_trajectory["density"].idxmax()]
        msg += (f"; the densest box on the peeling trajectory holds {int(best['k'])} successes in {int(best['n'])} "
                f"runs (density {best['density']:.0%}, coverage {best['coverage']:.0%})")
    print(msg + ".", file=sys.stderr)


def discover(ok: pd.DataFrame, exp: Experiment) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PRIM boxes (one row per box and restricted parameter) and their peeling trajectories.

    Each box is taken at the point of its trajectory with the highest coverage
    among those reaching the density threshold; later boxes are found in the
    runs the earlier boxes leave out (ema_workbench's default). ``qp_lower`` /
    ``qp_upper`` are PRIM's quasi-p values of each restriction (a restriction
    with a quasi-p value above 0.05 is not supported by the data).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim

    logging.getLogger("EMA").setLevel(logging.WARNING)  # PRIM logs every box at INFO
    d = exp.analysis.discovery
    boxes, trajectories = [], []
    for scenario in exp.scenarios:
        x, y = discovery_data(ok, exp, scenario)
        if len(y) == 0 or y.all() or not y.any():
            print(f"sim-analyze: {scenario}: {int(y.sum())} of {len(y)} runs succeed ({d.metric} "
                  f"{'>=' if d.above else '<='} {d.threshold}); PRIM needs both outcomes, skipped.", file=sys.stderr)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = prim.Prim(x, y, peel_alpha=d.peel_alpha, mass_min=d.mass_min)
            for b in range(1, d.max_boxes + 1):
                box = p.find_box()
                if box is None or box.mean < d.density:
                    if b == 1:
                        _no_box(scenario, box, y, d)
                    break  # PRIM found no box reaching the density threshold in what is left
                traj = box.peeling_trajectory.reset_index(drop=True)
                ok_density = traj.index[traj["density"] >= d.density]
                chosen = int(traj.loc[ok_density, "coverage"].idxmax()) if len(ok_density) else len(traj) - 1
                box.select(chosen)
                trajectories.append(traj.assign(scenario=scenario, box=b, selected=traj.index == chosen))
                stats = {"scenario": scenario, "box": b, "coverage": float(box.coverage),
                         "density": float(box.density), "mass": float(box.mass), "res_dim": int(box.res_dim),
                         "runs_in_box": int(traj.loc[chosen, "n"]), "successes_in_box": int(traj.loc[chosen, "k"]),
                         "successes_total": int(y.sum()), "runs_total": len(y)}
                boxes += [{**stats, **lim} for lim in _limits(box.box_lims[chosen], p.box_init, box.p_values[chosen])] \
                    or [stats]
    return pd.DataFrame(boxes), (pd.concat(trajectories, ignore_index=True) if trajectories else pd.DataFrame())


def plot_peeling(trajectory: pd.DataFrame, exp: Experiment, path: Path) -> Path:
    """Coverage against density along each box's peeling trajectory, coloured by restricted dimensions."""
    plt = _plt()
    groups = list(trajectory.groupby(["scenario", "box"], sort=False))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.4 * len(groups), 3.8), squeeze=False)
    d = exp.analysis.discovery
    for ax, ((scenario, box), t) in zip(axes[0], groups):
        sc = ax.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=16)
        sel = t[t["selected"]]
        ax.scatter(sel["coverage"], sel["density"], s=120, facecolors="none", edgecolors="red", lw=1.5,
                   label="selected box")
        ax.axhline(d.density, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("coverage")
        ax.set_ylabel("density")
        ax.set_title(f"{scenario}, box {box}", fontsize=9)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        fig.colorbar(sc, ax=ax, label="restricted dimensions")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"PRIM peeling trajectories: success = {d.metric} {'>=' if d.above else '<='} {d.threshold}",
                 fontsize=10)
    fig.tight_layout()
    _save(fig, path, 110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- all together

def _csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _save(fig, path: Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)


def analyze(out: Path | str) -> list[str]:
    """Write every analysis output of a sweep folder; return the file names written."""
    out = Path(out)
    exp, design, rows = load(out)
    written: list[str] = []
    failed = rows[rows["error"].notna()]
    failures = out / "failures.csv"
    if len(failed):
        _csv(failed.drop(columns=["step", *exp.metrics]), failures)
        written.append(failures.name)
    elif failures.exists():
        failures.unlink()
    ok = rows[rows["error"].isna()]
    if ok.empty:
        print("sim-analyze: no successful runs to analyze.", file=sys.stderr)
        return written
    _csv(summarize(ok, exp), out / "summary.csv")
    written.append("summary.csv")
    paired = differences(ok, exp)
    if len(paired):
        _csv(paired, out / "differences.csv")
        written.append("differences.csv")
    elif (out / "differences.csv").exists():
        (out / "differences.csv").unlink()
    written.append(plot_scenarios(ok, exp, out / "scenario_comparison.png").name)
    if plot_parameters(ok, exp, out / "parameters.png"):
        written.append("parameters.png")
    if exp.design.method in ("sobol", "morris"):
        indices = sensitivity(ok, exp, design)
        if not indices.empty:
            if exp.design.method == "sobol":
                for warning in reliability(indices.assign(samples=exp.design.samples)):
                    print(f"sim-analyze: warning: {warning}", file=sys.stderr)
            _csv(indices, out / f"{exp.design.method}_indices.csv")
            plot_sensitivity(indices, exp.design.method, out / f"{exp.design.method}_indices.png")
            written += [f"{exp.design.method}_indices.csv", f"{exp.design.method}_indices.png"]
    if exp.analysis.discovery.metric:
        boxes, trajectory = discover(ok, exp)
        if not trajectory.empty:
            _csv(boxes, out / "prim_boxes.csv")
            _csv(trajectory, out / "prim_trajectory.csv")
            plot_peeling(trajectory, exp, out / "prim_peeling.png")
            written += ["prim_boxes.csv", "prim_trajectory.csv", "prim_peeling.png"]
    return written


def _limit_in_words(row: pd.Series, param) -> str:
    """One restriction of a PRIM box in words, e.g. 'coaching_fte at least 0.54'."""
    name = row["parameter"]
    if isinstance(row.get("values"), str) and row["values"]:
        return f"{name} is {' or '.join(v.strip() for v in row['values'].split(','))}"
    lo, hi = float(row["lower"]), float(row["upper"])
    if param is not None and param.values and all(isinstance(v, bool) for v in param.values):
        return f"{name} is {'true' if lo > 0 else 'false'}"  # PRIM sees flags as 0/1
    bounds = None if param is None else param.bounds
    if bounds is None:
        return f"{name} between {lo:.2g} and {hi:.2g}"
    tol = 0.02 * (bounds[1] - bounds[0])
    if lo <= bounds[0] + tol:
        return f"{name} at most {hi:.2g}"
    if hi >= bounds[1] - tol:
        return f"{name} at least {lo:.2g}"
    return f"{name} between {lo:.2g} and {hi:.2g}"


def boxes_in_words(boxes: pd.DataFrame, exp: Experiment) -> str:
    """PRIM boxes as sentences: how often runs in the box succeed, how much of the success it covers, and
    the restrictions (a limit at the edge of a parameter's range is no restriction and is not named)."""
    if boxes.empty:
        return ""
    d = exp.analysis.discovery
    params = {p.path: p for p in exp.parameters}
    success = (f"{LABELS.get(d.metric, d.metric).lower()} {'at least' if d.above else 'at most'} "
               f"{format_value(d.metric, d.threshold)}")
    lines = [f"Where runs succeed ({success} at the last step), found by PRIM:"]
    for (scenario, b), g in boxes.groupby(["scenario", "box"], sort=False):
        r = g.iloc[0]
        limits = [_limit_in_words(row, params.get(row["parameter"])) for _, row in g.iterrows()
                  if isinstance(row.get("parameter"), str)]
        lines.append(f"  {preset_label(scenario)}, box {b}: {int(r['successes_in_box'])} of "
                     f"{int(r['runs_in_box'])} runs in it succeed ({r['density']:.0%}), "
                     f"{r['coverage']:.0%} of all {int(r['successes_total'])} successes; when "
                     + ("; ".join(limits) if limits else "anything") + ".")
    return "\n".join(lines)


def plain_report(out: Path | str) -> str:
    """The short plain-language summary the tools print after an analysis (from the files it wrote)."""
    out = Path(out)
    exp, _, _ = load(out)
    parts = []
    if (out / "summary.csv").exists():
        summary = pd.read_csv(out / "summary.csv")
        if "point" in summary and summary["point"].astype(str).eq("-").all():
            paired = pd.read_csv(out / "differences.csv") if (out / "differences.csv").exists() else None
            parts.append(plain_summary(summary, [m for m in HEADLINE if m in exp.metrics] or exp.metrics,
                                       differences=paired))
    if (out / "prim_boxes.csv").exists():
        parts.append(boxes_in_words(pd.read_csv(out / "prim_boxes.csv", keep_default_na=False,
                                                na_values=[""]), exp))
    return "\n\n".join(p for p in parts if p)


HELP = """
Usage: sim-analyze out=DIR

(Re)analyses a sweep folder written by sim-sweep: summary.csv (mean and 90%
interval per scenario, design point and analysis step), differences.csv (each
scenario minus the baseline in the same replicate, with seeds: common), plots, Sobol/Morris
indices and PRIM boxes as the experiment asks, and a short summary.

Example:
  sim-analyze out=results/levers_factorial

Experiment fields (analysis.steps, analysis.discovery ...): docs/sweeps.md.
"""


def parse_args(args: Sequence[str]) -> Path:
    """``out=DIR`` from the command line (the only setting)."""
    from sim.args import parse

    out = parse("sim-analyze", args, ("out",), model=False).tool.get("out", "")
    if not out:
        raise ConfigError("usage: sim-analyze out=DIR, where DIR is a folder written by sim-sweep.")
    return Path(out)


def main() -> None:
    """Console entry point of ``sim-analyze``."""
    from sim.args import show_help, wants_help

    catch_ctrl_c()
    if wants_help(sys.argv[1:]):
        show_help(HELP)
    try:
        out = parse_args(sys.argv[1:])
        written = analyze(out)
    except ConfigError as exc:
        print(f"sim-analyze: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    print(f"Wrote {out}/: " + ", ".join(written))
    report = plain_report(out)
    if report:
        print("\n" + report)


if __name__ == "__main__":  # as the console script: the shared exits at every phase
    from sim.exits import launch

    launch("sim-analyze")
