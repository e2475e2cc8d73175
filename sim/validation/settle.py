"""What a teacher survey would settle: SF3's and SF4's open levels before and after a survey calibration.

Across the cases posterior, SF3's surface over depth and SF4's exhaustion level are met by only about half
of the draws, and four parameters carry them (colleagues' help and its reach, the drift of effort, the
weight of goals; block ``sf-posterior-drivers`` of docs/validation.md). The teacher survey's
``exhausted``, ``rigor``, ``classroom_structures`` and ``support`` items observe those levels. This module
measures what such a survey would change: ``experiments/calibrate_levels.yaml`` fits the four to a
synthetic survey of the initiative sites made with the calibrated defaults as the truth
(``experiments/data/synthetic_levels.yaml``), and its posterior sample is kept as
``experiments/data/posterior_levels.csv``. The table compares, for the four parameters, the 5-95% span of
the cases posterior and of the survey posterior (as shares of the prior's span), and, for every SF3 and SF4
check, the share of draws that meet it when the four are drawn from either posterior (the other seventeen
at their defaults in both, so the comparison isolates the four). Run with::

    python -m sim.validation.settle replicates=100 seed=0 docs=true

which rewrites block ``survey-settles`` of docs/calibration.md.
"""

from __future__ import annotations

import sys

import pandas as pd

from sim.calibration.calibrate import posterior_table
from sim.calibration.experiment import load_experiment
from sim.config import REPO_ROOT
from sim.runs.posterior import Posterior, load_posterior
from sim.validation.facts import sf3_checks, sf4_checks
from sim.validation.mechanisms import POSTERIOR
from sim.validation.predictive import DRAWS, posterior_checks

#: The survey calibration, and its posterior sample (``posterior_sample.csv`` of its output, as kept).
EXPERIMENT = "calibrate_levels"
SURVEY_POSTERIOR = REPO_ROOT / "experiments" / "data" / "posterior_levels.csv"


def _spans(post: Posterior, names: list[str]) -> pd.DataFrame:
    """Median and 5-95% quantiles of each parameter of ``names`` in a posterior sample."""
    sample = pd.DataFrame(post.values, columns=list(post.names)).assign(weight=post.weights)
    return posterior_table(sample, load_experiment(EXPERIMENT)).set_index("parameter").loc[names]


def survey_truth() -> dict[str, float]:
    """The true values of the synthetic survey (its recipe, ``experiments/data/synthetic_levels.yaml``)."""
    from sim.calibration.recovery import load_recipe

    return load_recipe(REPO_ROOT / "experiments" / "data" / "synthetic_levels.yaml").truth


def settle_markdown(draws: int = DRAWS, seed: int = 0) -> str:
    """The ``survey-settles`` block: the four parameters' spans, then SF3's and SF4's checks, under each posterior."""
    exp = load_experiment(EXPERIMENT)
    names = list(exp.free)
    survey = load_posterior(SURVEY_POSTERIOR)
    cases = load_posterior(POSTERIOR).only(names)
    truth = survey_truth()
    head = ("| parameter | prior | true value of the synthetic survey | cases posterior: 5-95% (span / prior's) "
            "| after the survey: 5-95% (span / prior's) |")
    lines = [head, "|---|---|---|---|---|"]
    spans = {"cases": _spans(cases, names), "survey": _spans(survey, names)}
    for name in names:
        prior = exp.free[name]
        rv = prior.rv()
        width = rv.ppf(0.95) - rv.ppf(0.05)
        cells = [f"{r.q05:.3g}-{r.q95:.3g} ({(r.q95 - r.q05) / width:.2f})"
                 for r in (spans["cases"].loc[name], spans["survey"].loc[name])]
        lines.append(f"| `{name}` | uniform {prior.low:g}-{prior.high:g} | {truth[name]:g} | {cells[0]} | {cells[1]} |")
    found = {key: posterior_checks(draws, seed, post, groups=(sf3_checks, sf4_checks), density=False)
             for key, post in (("cases", cases), ("survey", survey))}
    head = ("| fact | measure | criterion | draws meeting it: the four from the cases posterior "
            "| the four from the survey posterior |")
    lines += ["", head, "|---|---|---|---|---|"]
    for a, b in zip(found["cases"], found["survey"]):
        lines.append(f"| {a.fact} | {a.claim} | {a.criterion()} | {100 * a.share_meeting():.0f}% (mean {a.value.mean:.3g}) | "
                     f"{100 * b.share_meeting():.0f}% (mean {b.value.mean:.3g}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.settle [replicates=N] [seed=N] [docs=true]``."""
    from sim.docblocks import table_tool

    return table_tool("python -m sim.validation.settle", __doc__ or "", argv, "survey-settles",
                      lambda n, seed: settle_markdown(n, seed), DRAWS, 2,
                      path=REPO_ROOT / "docs" / "calibration.md")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
