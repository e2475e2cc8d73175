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
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sim.config import REPO_ROOT
from sim.runs.executors import _mp_context
from sim.runs.posterior import Posterior, load_posterior
from sim.validation.facts import SF_CHECKS, Check, sf_runs
from sim.validation.mechanisms import density_check

#: The posterior sample of the cases calibration (whose medians are the defaults).
POSTERIOR = REPO_ROOT / "experiments" / "data" / "posterior_cases.csv"
#: Posterior draws by default, and worker processes.
DRAWS, WORKERS = 100, 2


def draw_overrides(posterior: Posterior, draws: int, seed: int) -> list[tuple[str, ...]]:
    """The overrides of each draw: row ``posterior.draw_index(seed, r)`` of the sample for replicate ``r``."""
    return [tuple(f"{name}={value}" for name, value in posterior.row(posterior.draw_index(seed, r)))
            for r in range(draws)]


def posterior_checks(draws: int = DRAWS, seed: int = 0, posterior: str | Path = POSTERIOR,
                     workers: int = WORKERS, overrides: tuple[str, ...] = ()) -> list[Check]:
    """Every stylized-fact check and the network-density check, with replicates drawn from ``posterior``
    (``overrides``, e.g. a district size, apply to every run)."""
    post = load_posterior(posterior)
    with ProcessPoolExecutor(workers, mp_context=_mp_context()) as pool:
        runs = sf_runs(draws, seed, overrides, draws=draw_overrides(post, draws, seed), executor=pool)
        return [c for group in SF_CHECKS for c in group(runs)] + [density_check(runs)]


def predictive_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``sf-posterior`` block: per check, the mean over posterior draws and the share of draws that meet it."""
    lines = ["| fact | measure | mean over draws [95% CI] | criterion | holds on average | draws meeting the bound |",
             "|---|---|---|---|---|---|"]
    for c in posterior_checks(draws, seed):
        lines.append(f"| {c.fact} | {c.claim} | {c.value} | {c.criterion()} | {'yes' if c.passes() else 'NO'} "
                     f"| {100 * c.share_meeting():.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.predictive [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    return table_tool("python -m sim.validation.predictive", __doc__ or "", list(sys.argv[1:] if argv is None
                      else argv), "sf-posterior", lambda n, seed: predictive_markdown(n, seed), DRAWS, 2)


if __name__ == "__main__":
    raise SystemExit(main())
