"""How far the stylized-fact checks rest on the parameters no calibration fits.

The central office's review in Lake County (its thresholds, patience and a new leader's impatience) is
informed only by Lake County's record, which is held out for validation, so the cases calibration does not
fit it: two thresholds keep the best point of a screening search scored on the stylized-fact checks
themselves (:mod:`sim.validation.screening`), the rest are modelling choices. Their sources in
scenarios/config.yaml say so (:data:`UNFITTED`). This table moves each such parameter, one at a time, to
half and to one and a half times the value the presets use (Lake County's; clipped to the documented
range, rounded for whole numbers) and lists every check whose verdict changes, over the same seeds as the
table of facts. A check no move changes does not rest on these values; one that flips does. Run with::

    python -m sim.validation.dependence replicates=20 seed=0 docs=true

which rewrites the ``screening-dependence`` block of docs/validation.md (two worker processes).

``python -m sim.validation.dependence refit replicates=20 seed=0 docs=true`` makes the second table, of
which verdicts the cases calibration changed when it took over the screened parameters: each calibrated
parameter set back, one at a time and then all together, to its value before that fit
(:data:`BEFORE_REFIT`), with every check whose verdict changes (block ``refit-attribution``).
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor

from omegaconf import OmegaConf

from sim.config import load_config, parameter_specs
from sim.validation.facts import SF_REPLICATES, Check, all_checks

#: The source text that marks a parameter no calibration fits.
UNFITTED = "not fitted (Lake County is held out)"
#: The moves tried, as factors of the value in use.
FACTORS = (0.5, 1.5)
#: Worker processes (each runs the whole set of checks for one move).
WORKERS = 2


def unfitted_parameters() -> dict[str, float]:
    """Each parameter no calibration fits, with the value the presets use."""
    base, lake = load_config("baseline"), load_config("lake_backing_away")
    return {path: OmegaConf.select(lake if path.startswith("backaway.") else base, path)
            for path, spec in parameter_specs().items() if UNFITTED in spec.source}


def moves(path: str, value: float) -> list[float]:
    """The values tried for ``path``: :data:`FACTORS` times ``value``, clipped to the documented range,
    whole numbers for integer parameters, without repeats or the value itself."""
    lo, hi = parameter_specs()[path].range or (float("-inf"), float("inf"))
    out: list[float] = []
    for f in FACTORS:
        x = min(hi, max(lo, f * value))
        x = int(round(x)) if isinstance(value, int) else round(float(x), 4)
        if x != value and x not in out:
            out.append(x)
    return out


#: The calibrated parameters' values before the cases calibration took over the eight the screening search
#: had set and the spontaneous experimentation rate tuned by hand to SF1 and SF5 (commit eba2b63): twelve from
#: the earlier fit of twelve parameters, eight from the screening search, one set by hand.
BEFORE_REFIT: dict[str, float] = {
    "teacher.explore_rate": 0.2, "peers.influence": 0.0873, "peers.help": 0.407, "peers.help_reach": 0.18,
    "teacher.reentry_rate": 0.13, "teacher.focus_adapt": 0.227, "teacher.goal_weight": 0.546,
    "teacher.abandon_support_loss": 0.9, "teacher.abandon_colleagues": 0.072, "teacher.inclusion_skill": 1.07,
    "principal.open_boost": 0.346, "principal.codify_rate": 0.369, "principal.codify_min_depth": 0.0481,
    "principal.model_pull": 0.236, "principal.close_lag": 9.0,
    "knowledge.replicate_rate": 0.297, "knowledge.reach_none": 0.0924,
    "policy.pressure_dip": 2.3, "policy.ci_effect": 0.15, "policy.waiver_months": 8.0, "policy.waiver_grant": 0.69,
}

Move = tuple[str, float | str, float | str]  # (parameter or label, value in use, value tried)


def flips(tried: list[tuple[Move, tuple[str, ...]]], replicates: int = SF_REPLICATES,
          seed: int = 0) -> list[tuple[Move, list[tuple[Check, Check]]]]:
    """Per move (with its overrides): the move and [(check as is, check moved)] whose verdicts differ."""
    with ProcessPoolExecutor(WORKERS) as pool:
        base = pool.submit(all_checks, replicates, seed)
        moved = [pool.submit(all_checks, replicates, seed, over) for _, over in tried]
        ref = base.result()
        return [(move, [(a, b) for a, b in zip(ref, f.result()) if a.passes() != b.passes()])
                for (move, _), f in zip(tried, moved)]


def _markdown(rows: list[tuple[Move, list[tuple[Check, Check]]]], head: str) -> str:
    lines = [head, "|---|---|---|"]
    for (path, value, x), changed in rows:
        cells = "; ".join(f"{a.fact} {a.claim}: {'holds' if a.passes() else 'fails'} -> "
                          f"{'holds' if b.passes() else 'fails'} ({b.value})" for a, b in changed) or "none"
        name = f"`{path}`" if "." in path else path
        lines.append(f"| {name} ({value}) | {x} | {cells} |")
    return "\n".join(lines)


def dependence_markdown(replicates: int = SF_REPLICATES, seed: int = 0) -> str:
    """The ``screening-dependence`` block: each unfitted parameter moved to :data:`FACTORS` times its value."""
    tried = [((path, value, x), (f"{path}={x}",)) for path, value in unfitted_parameters().items()
             for x in moves(path, value)]
    return _markdown(flips(tried, replicates, seed),
                     "| parameter (value in use) | moved to | checks whose verdict changes (as is -> moved) |")


def refit_markdown(replicates: int = SF_REPLICATES, seed: int = 0) -> str:
    """The ``refit-attribution`` block: each calibrated parameter set back to its value before the refit
    (:data:`BEFORE_REFIT`), one at a time, then all together."""
    base = load_config("baseline")
    now = {path: float(OmegaConf.select(base, path)) for path in BEFORE_REFIT}
    changed = [path for path in BEFORE_REFIT if now[path] != BEFORE_REFIT[path]]
    tried = [((path, now[path], BEFORE_REFIT[path]), (f"{path}={BEFORE_REFIT[path]}",)) for path in changed]
    tried.append((("all of them", "the fit", "before"), tuple(f"{p}={BEFORE_REFIT[p]}" for p in changed)))
    return _markdown(flips(tried, replicates, seed),
                     "| parameter (calibrated value) | set back to "
                     "| checks whose verdict changes (as is -> set back) |")


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.dependence [refit] [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["refit"]:
        return table_tool("python -m sim.validation.dependence refit", __doc__ or "", argv[1:], "refit-attribution",
                          lambda n, seed: refit_markdown(n, seed), SF_REPLICATES, 2)
    return table_tool("python -m sim.validation.dependence", __doc__ or "", argv, "screening-dependence",
                      lambda n, seed: dependence_markdown(n, seed), SF_REPLICATES, 2)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
