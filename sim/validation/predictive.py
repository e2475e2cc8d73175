"""The stylized-fact checks across the calibration's posterior: a posterior-predictive check of SF1-SF8.

The table of facts (docs/validation.md) judges each fact at the calibrated defaults, the posterior medians,
over seeds. Most of the cases calibration's parameters are barely narrowed by its patterns, so a verdict at
one point of a wide posterior says little about the model as the data leave it. Here replicate ``r`` draws
its parameters from the posterior sample (row ``Posterior.draw_index(seed, r)``, as ``sim-run
run.posterior=FILE`` draws them) and runs with its own seed; the row and the seed are the same in every
scenario, so comparisons stay paired. Each check is then read two ways:

- its mean over the draws with a 95% t interval, judged by the check's own criterion (does the fact hold
  on average over the posterior?);
- the share of draws whose single run lies on the bound's side (how much of the posterior produces it;
  one run per draw, so seed noise is included).

The same table has the network-density check (:func:`sim.validation.mechanisms.density_check`). Run with::

    python -m sim.validation.predictive replicates=100 seed=0 docs=true

(``replicates`` is the number of posterior draws) which rewrites the ``sf-posterior`` block of
docs/validation.md, with :data:`WORKERS` worker processes.

What carries the checks that the posterior leaves open (parameters or seeds) is in
:mod:`sim.validation.attribution`.

``python -m sim.validation.predictive levers replicates=100 seed=0 docs=true`` writes the strategists'
table, block ``preset-differences`` of docs/scenarios.md: what each preset changes against the baseline
at year 5, paired by replicate, over posterior draws (the runs ``sim-run run.posterior=FILE`` makes; its
``differences.csv`` has the same numbers); ``levers_sizes`` writes block ``preset-differences-sizes``, the
effects on use and depth in districts of other sizes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from sim.config import REPO_ROOT, available_scenarios, load_config
from sim.runs.executors import _mp_context
from sim.runs.plots import format_difference
from sim.runs.posterior import Posterior, load_posterior
from sim.runs.runner import comparison_specs, run_many
from sim.runs.summary import paired_differences
from sim.validation.facts import SF_CHECKS, Check, Runs, sf_runs
from sim.validation.mechanisms import POSTERIOR, SIZES, density_check, size_label
from sim.validation.replicates import YEAR5

#: Posterior draws by default, and worker processes.
DRAWS, WORKERS = 100, 2


def draw_rows(posterior: Posterior, draws: int, seed: int) -> pd.DataFrame:
    """The parameter values of each draw: row ``posterior.draw_index(seed, r)`` of the sample for replicate
    ``r`` (one row per replicate, one column per parameter)."""
    return pd.DataFrame([dict(posterior.row(posterior.draw_index(seed, r))) for r in range(draws)],
                        columns=list(posterior.names))


def draw_overrides(posterior: Posterior, draws: int, seed: int) -> list[tuple[str, ...]]:
    """The overrides of each draw (:func:`draw_rows` as ``path=value`` strings)."""
    return [tuple(f"{name}={value}" for name, value in row.items())
            for row in draw_rows(posterior, draws, seed).to_dict("records")]


def posterior_checks(draws: int = DRAWS, seed: int = 0, posterior: str | Path | Posterior = POSTERIOR,
                     workers: int = WORKERS, overrides: tuple[str, ...] = (), *,
                     groups: Sequence[Callable[[Runs], list[Check]]] = SF_CHECKS, density: bool = True,
                     replicate_draws: Sequence[Sequence[str]] | None = None) -> list[Check]:
    """The stylized-fact checks of ``groups`` (default: all) and the network-density check over ``draws``
    replicates, each with its draw from ``posterior`` (a file or a loaded sample), or with the overrides
    ``replicate_draws[r]`` when given (e.g. one draw for several seeds); ``overrides``, e.g. a district
    size, apply to every run."""
    if replicate_draws is None:
        post = posterior if isinstance(posterior, Posterior) else load_posterior(posterior)
        replicate_draws = draw_overrides(post, draws, seed)
    with ProcessPoolExecutor(workers, mp_context=_mp_context()) as pool:
        runs = sf_runs(draws, seed, overrides, draws=replicate_draws, executor=pool)
        return [c for group in groups for c in group(runs)] + ([density_check(runs)] if density else [])


def predictive_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``sf-posterior`` block: per check, the mean over posterior draws and the share of draws that meet it."""
    lines = ["| fact | measure | mean over draws [95% CI] | criterion | holds on average | draws meeting the bound |",
             "|---|---|---|---|---|---|"]
    for c in posterior_checks(draws, seed):
        lines.append(f"| {c.fact} | {c.claim} | {c.value} | {c.criterion()} | {'yes' if c.passes() else 'NO'} "
                     f"| {100 * c.share_meeting():.0f}% |")
    return "\n".join(lines)


#: The outcomes of the strategists' table, at the end of year 5, with their column headings.
LEVER_METRICS = {"teacher_adoption": "teachers using PL (points)", "deep_adoption": "with depth (points)",
                 "schoolwide_share": "schools where it is school-wide (points)",
                 "replications": "schools using another school's model (schools)"}


def preset_differences(draws: int = DRAWS, seed: int = 0, workers: int = WORKERS,
                       overrides: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every preset minus the baseline at year 5, replicate by replicate, each replicate a posterior draw
    (``overrides``, e.g. a district size, apply to every run)."""
    labels = ["baseline", *(p for p in available_scenarios() if p != "baseline")]
    specs, _ = comparison_specs(labels, draws, seed, overrides, load_posterior(POSTERIOR))
    ts = pd.concat(run_many(specs, workers=workers, progress=False), ignore_index=True)
    return paired_differences(ts, list(LEVER_METRICS), [YEAR5])


def levers_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``preset-differences`` block: per preset and outcome, the paired difference to the baseline."""
    d = preset_differences(draws, seed).set_index(["scenario", "metric"])

    def cell(row: pd.Series, metric: str) -> str:
        f = lambda x: format_difference(metric, x)
        return f"{f(row['mean'])} [{f(row['q05'])}, {f(row['q95'])}] ({100 * row['share_above']:.0f}%)"

    lines = ["| preset | " + " | ".join(LEVER_METRICS.values()) + " |", "|---" * (len(LEVER_METRICS) + 1) + "|"]
    for preset in dict.fromkeys(d.index.get_level_values("scenario")):
        lines.append(f"| `{preset}` | " + " | ".join(cell(d.loc[(preset, m)], m) for m in LEVER_METRICS) + " |")
    return "\n".join(lines)


def levers_sizes_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``preset-differences-sizes`` block: each preset's effect on use and on use with depth at year 5 in
    the default district and in the districts of :data:`sim.validation.mechanisms.SIZES`."""
    district = load_config("baseline").district
    sizes = {f"default ({district.schools} x {district.teachers_per_school})": (),
             **{size_label(name): ov for name, ov in SIZES.items()}}
    found = {name: preset_differences(draws, seed, overrides=ov).set_index(["scenario", "metric"])
             for name, ov in sizes.items()}

    def cell(d: pd.DataFrame, preset: str) -> str:
        use, deep = d.loc[(preset, "teacher_adoption")], d.loc[(preset, "deep_adoption")]
        return (f"{format_difference('teacher_adoption', use['mean'])} ({100 * use['share_above']:.0f}%) / "
                f"{format_difference('deep_adoption', deep['mean'])} ({100 * deep['share_above']:.0f}%)")

    lines = ["| preset | " + " | ".join(sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for preset in dict.fromkeys(found[next(iter(sizes))].index.get_level_values("scenario")):
        lines.append(f"| `{preset}` | " + " | ".join(cell(d, preset) for d in found.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.predictive [levers | levers_sizes] [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["levers_sizes"]:
        return table_tool("python -m sim.validation.predictive levers_sizes", __doc__ or "", argv[1:],
                          "preset-differences-sizes", lambda n, seed: levers_sizes_markdown(n, seed), DRAWS, 2,
                          path=REPO_ROOT / "docs" / "scenarios.md")
    if argv[:1] == ["levers"]:
        return table_tool("python -m sim.validation.predictive levers", __doc__ or "", argv[1:],
                          "preset-differences", lambda n, seed: levers_markdown(n, seed), DRAWS, 2,
                          path=REPO_ROOT / "docs" / "scenarios.md")
    return table_tool("python -m sim.validation.predictive", __doc__ or "", argv, "sf-posterior",
                      lambda n, seed: predictive_markdown(n, seed), DRAWS, 2)


if __name__ == "__main__":
    raise SystemExit(main())
