"""Replicated runs with probes and t intervals: the common ground of the validation checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sim.config import load_config, override_keys, scenario_presets
from sim.district.calendar import MONTHS_PER_YEAR
from sim.district.metrics import inclusion
from sim.district.model import DistrictModel
from sim.district.state import Stage
from sim.inputs import build_model
from sim.runs.posterior import fixed_clash, fixed_parameters
from sim.runs.runner import replicate_seed

#: Steps at the end of school years 1, 2 and 5.
YEAR1, YEAR2, YEAR5 = MONTHS_PER_YEAR, 2 * MONTHS_PER_YEAR, 5 * MONTHS_PER_YEAR


# -- intervals ------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """Mean over replicates with a two-sided t confidence interval (and the replicate values it summarizes)."""

    mean: float
    lo: float
    hi: float
    n: int
    values: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero."""
        return self.lo > 0 or self.hi < 0

    def __str__(self) -> str:
        return f"{self.mean:.3g} [{self.lo:.3g}, {self.hi:.3g}]"


def mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean and t confidence interval of independent replicate values."""
    x = np.asarray(values, dtype=float)
    n = x.size
    m = float(x.mean())
    kept = tuple(float(v) for v in x)
    if n < 2:
        return Interval(m, m, m, n, kept)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Interval(m, m - half, m + half, n, kept)


def paired_ci(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean difference ``a - b`` over replicates that share seeds (common random numbers), with a t interval."""
    return mean_ci(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), level)


# -- replicated runs with probes ------------------------------------------------------

Probe = Callable[[DistrictModel], dict[str, float]]


def teacher_probe(m: DistrictModel) -> dict[str, float]:
    """Teacher-level quantities the district metrics do not carry (for SF4, SF5, SF7).

    ``tried_share``: teachers who have explored, used or abandoned the practice.
    ``exhaustion_tried``: mean exhaustion (1 - energy) of those teachers.
    ``margin_access``: among users, the share of the richer work that reaches
    students on the margins (mean inclusion; 1 = same as typical students).
    ``enthusiasm``: mean enthusiasm of all teachers.
    ``practice_stock``: mean practice quality (surface + depth) of the
    teachers of schools ever selected for the initiative, users or not: what
    the initiative's teachers know how to do.
    ``initiative_use``: use share among teachers of schools ever selected.
    """
    ts, s = m.teachers_state, m.schools_state
    tried = ts.stage != Stage.NON_USE
    using = ts.using
    selected = s.selected[ts.school]
    return {
        "tried_share": float(tried.mean()),
        "exhaustion_tried": float((1 - ts.energy[tried]).mean()) if tried.any() else 0.0,
        "margin_access": float(inclusion(m)[using].mean()) if using.any() else np.nan,
        "enthusiasm": float(ts.enthusiasm.mean()),
        "practice_stock": float((ts.surface + ts.depth)[selected].mean()) if selected.any() else 0.0,
        "initiative_use": float(using[selected].mean()) if selected.any() else 0.0,
    }


@dataclass
class Replicates:
    """Outputs of :func:`run_replicates`, one row per replicate (and step)."""

    timeseries: pd.DataFrame  # district metrics per replicate and step
    schools: pd.DataFrame  # final school table per replicate
    probes: pd.DataFrame  # probe values per replicate and probe step

    def at(self, step: int, metric: str) -> np.ndarray:
        """A district metric at ``step``, one value per replicate (in replicate order)."""
        ts = self.timeseries
        return ts.loc[ts["step"] == step].sort_values("replicate")[metric].to_numpy()

    def probe(self, step: int, name: str) -> np.ndarray:
        """A probe value at ``step``, one value per replicate."""
        p = self.probes
        return p.loc[p["step"] == step].sort_values("replicate")[name].to_numpy()


def run_replicates(scenario: str | Sequence[str], replicates: int, *, base_seed: int = 0,
                   overrides: Sequence[str] = (), probe_steps: Sequence[int] = (),
                   probe: Probe = teacher_probe,
                   prepare: Callable[[DistrictModel], None] | None = None,
                   replicate_overrides: Sequence[Sequence[str]] | None = None,
                   executor: Executor | None = None) -> Replicates:
    """Run ``replicates`` seeds of a scenario and collect what the tests need.

    Parameters
    ----------
    scenario : str or sequence of str
        Preset name(s), or a label joined with ``+``.
    replicates : int
        Number of replicates; replicate ``r`` uses ``replicate_seed(base_seed, r)``.
    overrides : sequence of str
        Hydra overrides applied to every replicate.
    probe_steps : sequence of int
        Steps at which ``probe(model)`` is recorded (after the step).
    prepare : callable, optional
        Called on each new model before it runs (e.g. to seed adopters).
    replicate_overrides : sequence of sequences of str, optional
        Overrides of each replicate (e.g. its draw from a posterior sample); none may set a parameter that
        ``overrides`` or the presets set (ValueError).
    executor : concurrent.futures.Executor, optional
        Runs blocks of :data:`BLOCK` replicates in parallel (``probe`` and ``prepare`` must then be
        picklable); the results do not depend on it, since each replicate has its own seed.
    """
    names = tuple(scenario_presets(scenario) if isinstance(scenario, str) else scenario)
    per = [tuple(o) for o in replicate_overrides] if replicate_overrides is not None else [()] * replicates
    if len(per) != replicates:
        raise ValueError(f"replicate_overrides has {len(per)} entries for {replicates} replicates")
    fixed = fixed_parameters(names, overrides) if replicate_overrides is not None else {}
    clash = fixed_clash({key for own in per for key in override_keys(own)}, fixed, "set per replicate")
    if clash:
        raise ValueError(f"replicate_overrides: {clash}; a parameter is either set per replicate or fixed, never both")
    job = (names, tuple(overrides), base_seed, tuple(sorted(set(probe_steps))), probe, prepare)
    if executor is None:
        parts = [_run_block(job, list(enumerate(per)))]
    else:
        blocks = [list(enumerate(per))[i:i + BLOCK] for i in range(0, replicates, BLOCK)]
        parts = list(executor.map(_run_block, [job] * len(blocks), blocks))
    frames = [f for p in parts for f in p[0]]
    schools = [f for p in parts for f in p[1]]
    probes = [row for p in parts for row in p[2]]
    return Replicates(pd.concat(frames, ignore_index=True), pd.concat(schools, ignore_index=True),
                      pd.DataFrame(probes) if probes else pd.DataFrame(columns=["replicate", "step"]))


#: Replicates per task when :func:`run_replicates` is given an executor.
BLOCK = 5


def _run_block(job: tuple, block: list[tuple[int, tuple[str, ...]]]) -> tuple[list, list, list]:
    """Replicates ``block`` ((index, own overrides) pairs) of ``job``: time series, school tables, probe rows."""
    names, overrides, base_seed, wanted, probe, prepare = job
    frames, schools, probes = [], [], []
    configs: dict[tuple[str, ...], object] = {}
    for r, own in block:
        if own not in configs:
            configs[own] = load_config(list(names), [*own, *overrides])
        m = build_model(configs[own], seed=replicate_seed(base_seed, r), validate_config=False)
        if prepare is not None:
            prepare(m)
        if 0 in wanted:
            probes.append({"replicate": r, "step": 0, **probe(m)})
        for _ in range(m.p.steps):
            m.step()
            if m.steps in wanted:
                probes.append({"replicate": r, "step": m.steps, **probe(m)})
        frames.append(m.timeseries().assign(replicate=r))
        schools.append(m.school_table().assign(replicate=r))
    return frames, schools, probes


def schoolwide_within(schools: pd.DataFrame, months: int) -> pd.DataFrame:
    """Per replicate and cohort: share of cohort schools school-wide within ``months`` of implementation start.

    Uses the final school table (``cohort``, ``implement_step``,
    ``schoolwide_since``); only schools whose implementation started at least
    ``months`` before the end of the run are counted, so no cohort is censored.
    """
    s = schools[schools["cohort"] >= 0].copy()
    end = int(s["step"].max())
    s = s[s["implement_step"] + months <= end]
    reached = (s["schoolwide_since"] >= 0) & (s["schoolwide_since"] - s["implement_step"] <= months)
    return (s.assign(reached=reached).groupby(["replicate", "cohort"])["reached"].mean()
            .rename("share").reset_index())
