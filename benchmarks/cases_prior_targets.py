"""How often the prior simulations of an NPE cases calibration meet each calibration target, and one target by a
parameter's bins: which targets inform the fit and which are out of reach.

    python benchmarks/cases_prior_targets.py results/calibrate_cases henry_blended_before_grant rollout.inactive_factor

Reads ``DIR/simulations/`` (written by ``sim-calibrate`` with ``method: npe``; each target's deviation in
tolerances, 0 inside its published range) and prints: the share of simulations with each target inside its
range and within its tolerance (deviation <= 1), the share meeting all, and for the named target the share
within tolerance in ten equal bins of the named parameter, overall and among the simulations that meet every
other target. Quoted in docs/calibration.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.npe import stored_simulations


def main() -> None:
    out, target, parameter = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    targets = pd.read_csv(out / "targets.csv")
    ids = list(targets.loc[targets["use"] == "calibration", "id"])
    folder = out / "simulations"
    x = stored_simulations(folder, ids)
    theta = pd.concat(pd.read_csv(f).set_index("index")[[parameter]] for f in sorted(folder.glob("sims_*.csv")))
    theta = theta[~theta.index.duplicated()].loc[x.index]
    print(f"{len(x)} prior simulations")
    print(pd.DataFrame({"inside": (x == 0).mean(), "within_tolerance": (x <= 1).mean()}).round(4).to_string())
    print(f"all inside: {(x == 0).all(axis=1).mean():.4%}")
    others = [i for i in ids if i != target]
    rest = (x[others] == 0).all(axis=1)
    bins = pd.cut(theta[parameter], np.linspace(theta[parameter].min(), theta[parameter].max(), 11),
                  include_lowest=True)
    within = x[target] <= 1
    table = pd.DataFrame({"within_tolerance": within.groupby(bins, observed=True).mean(),
                          "simulations": within.groupby(bins, observed=True).size()})
    print(f"\n{target} within tolerance by {parameter}:\n{table.round(3).to_string()}")
    print(f"\n{int(rest.sum())} simulations meet every other target inside its range; {target} is within "
          f"tolerance in {int(within[rest].sum())} of them")


if __name__ == "__main__":
    main()
