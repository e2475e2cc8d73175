"""The standard district (50 schools x 40 teachers, 50 steps) against an idiomatic per-agent Mesa threshold model.

The comparison model is what a Mesa user would write for the simplest version of
the same question: one ``mesa.Agent`` per teacher with her own adoption
threshold, a networkx Watts-Strogatz collegial network per school (degree 6,
rewiring 0.1, as the district's default), and each step every agent, in random
order (``agents.shuffle_do``), reconsiders: she uses the practice when the
share of her colleagues who use it reaches her threshold, or (rarely) on her
own; as in Granovetter's model and Mesa's own examples (Schelling), every agent
evaluates her rule every step. A second, irreversible variant lets adopters
skip their step (timed as well): it does almost nothing once most
teachers have adopted, and is reported beside the first. Neither has any of the
district's other processes. Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/mesa_threshold.py [--repeats 5]

It interleaves the two (to share the machine's load), prints median wall and
CPU times and the ratios, and writes ``benchmarks/mesa_threshold.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import mesa  # noqa: E402
import networkx as nx  # noqa: E402

from sim.config import load_container  # noqa: E402
from sim.district.model import DistrictModel  # noqa: E402
from sim.provenance import provenance  # noqa: E402

SCHOOLS, TEACHERS, STEPS = 50, 40, 50
OUT = ROOT / "benchmarks" / "mesa_threshold.json"


class ThresholdTeacher(mesa.Agent):
    """A teacher who starts using the practice when enough colleagues do (or, rarely, on her own)."""

    def __init__(self, model: ThresholdModel, threshold: float) -> None:
        super().__init__(model)
        self.threshold = threshold
        self.adopted = False
        self.colleagues: list[ThresholdTeacher] = []

    def step(self) -> None:
        if self.adopted and self.model.irreversible:
            return
        share = sum(c.adopted for c in self.colleagues) / len(self.colleagues) if self.colleagues else 0.0
        self.adopted = share >= self.threshold or self.random.random() < self.model.spontaneous


class ThresholdModel(mesa.Model):
    """Schools of teachers on Watts-Strogatz collegial networks, thresholds ~ N(0.25, 0.1)."""

    def __init__(self, schools: int = SCHOOLS, teachers: int = TEACHERS, seed: int = 0,
                 spontaneous: float = 0.02, irreversible: bool = False) -> None:
        super().__init__(seed=seed)
        self.spontaneous = spontaneous
        self.irreversible = irreversible
        for _ in range(schools):
            staff = [ThresholdTeacher(self, self.random.gauss(0.25, 0.1)) for _ in range(teachers)]
            g = nx.watts_strogatz_graph(teachers, 6, 0.1, seed=self.random.randrange(2**32))
            for i, j in g.edges():
                staff[i].colleagues.append(staff[j])
                staff[j].colleagues.append(staff[i])
        self.datacollector = mesa.DataCollector(
            model_reporters={"adoption": lambda m: sum(a.adopted for a in m.agents) / len(m.agents)})

    def step(self) -> None:
        self.agents.shuffle_do("step")
        self.datacollector.collect(self)


def run_threshold(seed: int, irreversible: bool = False) -> ThresholdModel:
    """Build and run the threshold model for STEPS steps."""
    m = ThresholdModel(seed=seed, irreversible=irreversible)
    for _ in range(STEPS):
        m.step()
    return m


def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    cfg = load_container("baseline", [f"district.schools={SCHOOLS}", f"district.teachers_per_school={TEACHERS}",
                                      f"steps={STEPS}"])
    times: dict[str, list[tuple[float, float]]] = {"district": [], "mesa_threshold": [],
                                                   "mesa_threshold_irreversible": []}
    for r in range(a.repeats):
        times["district"].append(_timed(lambda: DistrictModel(cfg, seed=r, validate_config=False).run()))
        times["mesa_threshold"].append(_timed(lambda: run_threshold(r)))
        times["mesa_threshold_irreversible"].append(_timed(lambda: run_threshold(r, irreversible=True)))
    med = {k: {"wall_s": statistics.median(w for w, _ in v), "cpu_s": statistics.median(c for _, c in v)}
           for k, v in times.items()}
    ratio = {k: med["district"][k] / med["mesa_threshold"][k] for k in ("wall_s", "cpu_s")}
    ratio_irr = {k: med["district"][k] / med["mesa_threshold_irreversible"][k] for k in ("wall_s", "cpu_s")}
    print(f"district model (vectorized, full model): {med['district']['wall_s']:.3f} s wall, "
          f"{med['district']['cpu_s']:.3f} s CPU")
    print(f"per-agent Mesa threshold model:          {med['mesa_threshold']['wall_s']:.3f} s wall, "
          f"{med['mesa_threshold']['cpu_s']:.3f} s CPU")
    print(f"irreversible variant (adopters skip):    {med['mesa_threshold_irreversible']['wall_s']:.3f} s wall, "
          f"{med['mesa_threshold_irreversible']['cpu_s']:.3f} s CPU")
    print(f"ratio district / Mesa threshold: {ratio['wall_s']:.2f} (wall), {ratio['cpu_s']:.2f} (CPU); target < 0.4")
    print(f"ratio district / irreversible variant: {ratio_irr['wall_s']:.2f} (wall), {ratio_irr['cpu_s']:.2f} (CPU)")
    OUT.write_text(json.dumps({"size": [SCHOOLS, TEACHERS, STEPS], "repeats": a.repeats, "median": med,
                               "ratio": ratio, "ratio_irreversible": ratio_irr, "provenance": provenance()},
                              indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
