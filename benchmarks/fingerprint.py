"""Bit-identical check: hash every output and the final state of many runs, here and in another revision.

For each case (a scenario, overrides and a seed) the model runs its steps; the district,
school and teacher frames of every step (those ``sim.simulate(level=...)`` returns), the
final state arrays, the model registry, the central office's attributes and both random
generators' states are hashed with SHA-256. With a revision the same cases run in that
revision's tree (exported with ``git archive``) and every hash must match: an optimization
that keeps the same random draws in the same order and the same floating-point operations
on the same values passes; anything else fails, naming the case.

    PYTHONPATH=$PWD python benchmarks/fingerprint.py 6317549        # this tree against 6317549
    PYTHONPATH=$PWD python benchmarks/fingerprint.py --list          # the cases
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

SCENARIOS = ("baseline", "adult_learning", "autonomy_zone", "clear_problems", "community_of_practice",
             "design_competition", "flexibility", "henry_all_in", "key_person_km", "lake_backing_away",
             "vanguard_schools")
SMALL = ["district.schools=8", "district.teachers_per_school=15", "steps=30"]
SURVEY = "experiments/data/synthetic_baseline.csv"  # the example survey, relative to each tree


def cases() -> list[tuple[str, list[str], list[str], int]]:
    """(label, scenarios, overrides, seed) of every case."""
    out = []
    for sc in SCENARIOS:  # every preset of the app, standard size, two seeds
        for seed in (0, 7):
            out.append((f"{sc}/s{seed}", [sc], [], seed))
    for seed in (1, 2):
        out.append((f"henry+key_person/s{seed}", ["henry_all_in", "key_person_km"], [], seed))
        out.append((f"henry+key_person leave_rate/s{seed}", ["henry_all_in", "key_person_km"],
                    ["knowledge.key_person_departure_step=-1", "knowledge.key_person_leave_rate=0.3"], seed))
        out.append((f"lake+key_person/s{seed}", ["lake_backing_away", "key_person_km"], [], seed))
        out.append((f"lake 8x15 60 steps/s{seed}", ["lake_backing_away"],
                    ["district.schools=8", "district.teachers_per_school=15", "steps=60"], seed))
    for sc in ("baseline", "henry_all_in", "lake_backing_away", "vanguard_schools"):
        out.append((f"{sc} small/s3", [sc], SMALL, 3))
        out.append((f"{sc} 3x7/s4", [sc], ["district.schools=3", "district.teachers_per_school=7"], 4))
        out.append((f"{sc} 1x40/s4", [sc], ["district.schools=1"], 4))
    out.append(("baseline 250 schools/s5", ["baseline"], ["district.schools=250"], 5))
    for seed in (0, 1):  # teachers initialized from the example survey (school-level trait draws at each hire)
        out.append((f"survey init/s{seed}", ["baseline"], [f"init.survey={SURVEY}"], seed))
    out.append(("henry 120x25/s6", ["henry_all_in"], ["district.schools=120", "district.teachers_per_school=25"], 6))
    for rule in ("simple", "complex", "threshold"):
        for gen in ("watts_strogatz", "erdos_renyi", "random_regular", "complete"):
            out.append((f"{rule} {gen}/s9", ["henry_all_in"],
                        [f"peers.contagion={rule}", f"network.generator={gen}", "district.schools=12"], 9))
    for ov in (["peers.help=0"], ["teacher.abandon_poor_signal=1"], ["teacher.turnover=0"],
               ["teacher.turnover=1", "principal.turnover=1"], ["district.margin_share_mean=0"],
               ["peers.learning=0"], ["rollout.mode=volunteers"], ["rollout.mode=waves", "rollout.planning_steps=6"],
               ["policy.flexibility_mode=negotiated"], ["backaway.enabled=true", "backaway.leader_change_rate=1"],
               ["autonomy_zone.schools=5", "design_competition.enabled=true"], ["cop.enabled=true"]):
        out.append(("baseline " + " ".join(ov) + "/s11", ["baseline"], ov + ["district.schools=20"], 11))
    return out


CHILD = r'''
import hashlib, json, sys
import numpy as np
import pandas as pd
from dataclasses import fields
from sim.config import load_container
from sim.inputs import build_model

def h(obj, acc):
    if isinstance(obj, pd.DataFrame):
        acc.update(repr(list(obj.columns)).encode()); acc.update(repr(list(obj.dtypes.astype(str))).encode())
        for c in obj.columns:
            col = obj[c]
            if isinstance(col.dtype, pd.CategoricalDtype):
                h(np.asarray(col.cat.codes), acc); acc.update(repr(list(col.cat.categories)).encode())
            else:
                h(np.asarray(col), acc)
    elif isinstance(obj, np.ndarray):
        acc.update(str(obj.dtype).encode()); acc.update(repr(obj.shape).encode())
        acc.update(np.ascontiguousarray(obj).tobytes() if obj.dtype != object else repr(obj.tolist()).encode())
    else:
        acc.update(repr(obj).encode())

out = {}
for label, scen, ov, seed in json.loads(sys.argv[1]):
    m = build_model(load_container(scen, ov), seed=seed, validate_config=False)
    d, s, t = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    h(m.school_table(), s); h(m.teacher_table(), t)
    for _ in range(m.p.steps):
        m.step()
        h(m.school_table(), s); h(m.teacher_table(), t)
    h(m.timeseries(), d)
    st = hashlib.sha256()
    for obj in (m.teachers_state, m.schools_state):
        for f in fields(obj):
            st.update(f.name.encode()); h(getattr(obj, f.name), st)
    h(m.registry, st)
    h({k: v for k, v in sorted(vars(m.office).items()) if k != "model"}, st)
    h(m.rng.bit_generator.state, st); h(m.random.getstate(), st)
    out[label] = {"district": d.hexdigest()[:16], "school": s.hexdigest()[:16], "teacher": t.hexdigest()[:16],
                  "state": st.hexdigest()[:16]}
print(json.dumps(out))
'''


def run(tree: Path, todo: list) -> dict:
    """Hashes of the cases ``todo`` computed with the code in ``tree`` (a fresh interpreter)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(todo)], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"fingerprint run failed in {tree}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    from compare_revision import export

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("revision", nargs="?", help="git revision to compare with (omitted: print this tree's hashes)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--only", default="", help="run only cases whose label contains this text")
    args = ap.parse_args(argv)
    todo = [c for c in cases() if args.only in c[0]]
    if args.list:
        for label, scen, ov, seed in todo:
            print(label, scen, ov, seed)
        return
    here = run(ROOT, todo)
    if not args.revision:
        print(json.dumps(here, indent=1))
        return
    with tempfile.TemporaryDirectory() as tmp:
        there = run(export(args.revision, Path(tmp)), todo)
    differ = [label for label in here if here[label] != there[label]]
    for label in differ:
        parts = [k for k in here[label] if here[label][k] != there[label][k]]
        print(f"DIFFERENT  {label}: {', '.join(parts)}")
    print(f"{len(here) - len(differ)} of {len(here)} cases bit-identical to {args.revision}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
