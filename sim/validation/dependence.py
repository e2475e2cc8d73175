"""How far the stylized-fact checks rest on the parameters still set by the screening search.

The parameters marked "calibrated (pending the case calibration)" in scenarios/config.yaml keep the best
point of a screening search scored on the stylized-fact checks themselves (:mod:`sim.validation.screening`),
so those checks are not independent of them. This table moves each such parameter, one at a time, to half
and to one and a half times the value the presets use (Lake County's for the office's review, the
baseline's otherwise; clipped to the documented range, rounded for whole numbers) and lists every check
whose verdict changes, over the same seeds as the table of facts. A check no move changes does not rest
on where the screening put these values; one that flips does. Run with::

    python -m sim.validation.dependence replicates=20 seed=0 docs=true

which rewrites the ``screening-dependence`` block of docs/validation.md (two worker processes).
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor

from omegaconf import OmegaConf

from sim.config import load_config, parameter_specs
from sim.validation.facts import SF_REPLICATES, Check, all_checks

#: The source text that marks a parameter as set by the screening search.
PENDING = "pending the case calibration"
#: The moves tried, as factors of the value in use.
FACTORS = (0.5, 1.5)
#: Worker processes (each runs the whole set of checks for one move).
WORKERS = 2


def pending_parameters() -> dict[str, float]:
    """Each parameter still set by the screening, with the value the presets use."""
    base, lake = load_config("baseline"), load_config("lake_backing_away")
    return {path: OmegaConf.select(lake if path.startswith("backaway.") else base, path)
            for path, spec in parameter_specs().items() if PENDING in spec.source}


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


def flips(replicates: int = SF_REPLICATES, seed: int = 0) -> list[tuple[str, float, float, list[tuple[Check, Check]]]]:
    """Per move: (parameter, value in use, value tried, [(check as is, check moved)] whose verdicts differ)."""
    tried = [(path, value, x) for path, value in pending_parameters().items() for x in moves(path, value)]
    with ProcessPoolExecutor(WORKERS) as pool:
        base = pool.submit(all_checks, replicates, seed)
        moved = [pool.submit(all_checks, replicates, seed, (f"{path}={x}",)) for path, _, x in tried]
        ref = base.result()
        return [(path, value, x, [(a, b) for a, b in zip(ref, f.result()) if a.passes() != b.passes()])
                for (path, value, x), f in zip(tried, moved)]


def dependence_markdown(replicates: int = SF_REPLICATES, seed: int = 0) -> str:
    """The ``screening-dependence`` block."""
    lines = ["| parameter (value in use) | moved to | checks whose verdict changes (as is -> moved) |",
             "|---|---|---|"]
    for path, value, x, changed in flips(replicates, seed):
        cells = "; ".join(f"{a.fact} {a.claim}: {'holds' if a.passes() else 'fails'} -> "
                          f"{'holds' if b.passes() else 'fails'} ({b.value})" for a, b in changed) or "none"
        lines.append(f"| `{path}` ({value}) | {x} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.dependence [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    return table_tool("python -m sim.validation.dependence", __doc__ or "", argv, "screening-dependence",
                      lambda n, seed: dependence_markdown(n, seed), SF_REPLICATES, 2)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
