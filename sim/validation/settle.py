"""What a teacher survey would settle: SF3's and SF4's open levels before and after a survey calibration.

Across the cases posterior, SF3's surface over depth and SF4's exhaustion level are met by half of the
draws or fewer, and four parameters carry them (colleagues' help and its reach, the drift of effort, the
weight of goals; block ``sf-posterior-drivers`` of docs/validation.md). The teacher survey's
``exhausted``, ``rigor``, ``classroom_structures`` and ``support`` items observe those levels. This module
measures what such surveys would change: ``experiments/calibrate_levels.yaml`` fits the four to a
synthetic survey of the initiative sites made with the calibrated defaults as the truth, once with a wave
at the end of year 2 (``experiments/data/synthetic_levels.yaml``) and once with waves at the ends of years
2 and 5 (``synthetic_levels_late.yaml``); each posterior sample is kept in ``experiments/data/`` (see
:data:`SURVEYS`). The table compares, for the four parameters, the 5-95% span of the cases posterior and of
each survey's posterior (as shares of the prior's span), and, for every SF3 and SF4 check, the share of
draws that meet it when the four are drawn from each posterior (the other seventeen at their defaults
throughout, so the comparison isolates the four). Run with::

    python -m sim.validation.settle replicates=100 seed=0 docs=true

which rewrites block ``survey-settles`` of docs/calibration.md. The kept posterior samples belong to the
model that fitted them: after a model change, remake the surveys and re-run the two calibrations (commands
in ``experiments/calibrate_levels.yaml``) before this command.
"""

from __future__ import annotations

import sys

import pandas as pd

from sim.calibration.calibrate import posterior_table
from sim.calibration.experiment import Experiment, load_experiment
from sim.calibration.recovery import load_recipe
from sim.config import REPO_ROOT
from sim.runs.posterior import Posterior, load_posterior
from sim.validation.facts import sf3_checks, sf4_checks
from sim.validation.mechanisms import POSTERIOR
from sim.validation.predictive import DRAWS, posterior_checks

#: The survey calibration's experiment.
EXPERIMENT = "calibrate_levels"
DATA = REPO_ROOT / "experiments" / "data"
#: Each survey design: its heading, the recipe of its synthetic survey, and the kept posterior sample of
#: ``calibrate_levels`` fitted to it (``posterior_sample.csv`` of the sim-calibrate output, copied).
SURVEYS = {"survey at the end of year 2": (DATA / "synthetic_levels.yaml", DATA / "posterior_levels.csv"),
           "surveys at the ends of years 2 and 5": (DATA / "synthetic_levels_late.yaml",
                                                          DATA / "posterior_levels_late.csv")}


def _spans(post: Posterior, exp: Experiment) -> pd.DataFrame:
    """Median and 5-95% quantiles of each free parameter of ``exp`` in a posterior sample."""
    sample = pd.DataFrame(post.values, columns=list(post.names)).assign(weight=post.weights)
    return posterior_table(sample, exp).set_index("parameter")


def survey_truth() -> dict[str, float]:
    """The true values of the synthetic surveys (the same in every recipe of :data:`SURVEYS`)."""
    truths = [load_recipe(recipe).truth for recipe, _ in SURVEYS.values()]
    if any(t != truths[0] for t in truths):
        raise ValueError("the recipes of sim.validation.settle.SURVEYS have different true values")
    return truths[0]


def settle_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``survey-settles`` block: the four parameters' spans, then SF3's and SF4's checks, under the cases
    posterior and each survey's."""
    exp = load_experiment(EXPERIMENT)
    names = list(exp.free)
    posteriors = {"cases calibration": load_posterior(POSTERIOR).only(names),
                  **{label: load_posterior(path) for label, (_, path) in SURVEYS.items()}}
    truth = survey_truth()
    sep = "|---" * (3 + len(posteriors)) + "|"
    lines = ["| parameter | prior | true value of the synthetic surveys | "
             + " | ".join(f"5-95% after the {label} (span / prior's)" for label in posteriors) + " |", sep]
    spans = [_spans(post, exp) for post in posteriors.values()]
    for name in names:
        prior = exp.free[name]
        cells = [f"{r.q05:.3g}-{r.q95:.3g} ({(r.q95 - r.q05) / prior.span():.2f})" for r in (s.loc[name] for s in spans)]
        lines.append(f"| `{name}` | {prior.describe()} | {truth[name]:g} | " + " | ".join(cells) + " |")
    found = [posterior_checks(draws, seed, post, groups=(sf3_checks, sf4_checks), density=False)
             for post in posteriors.values()]
    lines += ["", "| fact | measure | criterion | "
              + " | ".join(f"draws meeting it, the four drawn after the {label}" for label in posteriors) + " |", sep]
    for checks in zip(*found):
        a = checks[0]
        lines.append(f"| {a.fact} | {a.claim} | {a.criterion()} | "
                     + " | ".join(f"{100 * c.share_meeting():.0f}% (mean {c.value.mean:.3g})" for c in checks) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.settle [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    return table_tool("python -m sim.validation.settle", __doc__ or "", argv, "survey-settles",
                      lambda n, seed: settle_markdown(n, seed), DRAWS, 2,
                      path=REPO_ROOT / "docs" / "calibration.md")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
