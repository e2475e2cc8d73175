"""Before/after: time this work tree against another git revision, interleaved, and compare outcomes.

The other revision is exported with ``git archive`` to a temporary directory.
Each round runs the same measurement in a fresh interpreter for both trees,
alternating which goes first, so that both see the same machine load; the
medians over rounds are reported (wall and CPU time). Only the public API
that every revision has is used (``sim.simulate``, ``sim.load_config``,
``DistrictModel``). With ``--outcomes N`` it also runs N seeds of a small and
of the standard district in both trees and compares end-of-run outcomes with
two-sample KS tests (distributions, not trajectories: random streams differ).

    PYTHONPATH=$PWD python benchmarks/compare_revision.py b302212 --rounds 5 --outcomes 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

ROOT = Path(__file__).resolve().parent.parent

MEASURE = r'''
import json, resource, statistics, sys, time
import sim
from sim.config import load_config
from sim.district.model import DistrictModel

def timed(f):
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return time.perf_counter() - w, time.process_time() - c, out

kind, arg = sys.argv[1], int(sys.argv[2])
if kind == "standard":
    sim.simulate(seed=10_000)
    res = {k: [] for k in ("simulate_wall", "simulate_cpu", "setup_wall", "setup_cpu", "step_wall", "step_cpu")}
    cfg = load_config()
    for r in range(arg):
        w, c, _ = timed(lambda: sim.simulate(seed=r))
        res["simulate_wall"].append(w); res["simulate_cpu"].append(c)
        w, c, m = timed(lambda: DistrictModel(cfg, seed=r, validate_config=False))
        res["setup_wall"].append(w); res["setup_cpu"].append(c)
        w, c, _ = timed(lambda: m.run())
        res["step_wall"].append(w); res["step_cpu"].append(c)
    res = {k: statistics.median(v) for k, v in res.items()}
elif kind == "large":
    cfg = load_config("baseline", [f"district.schools={arg}"])
    w, c, m = timed(lambda: DistrictModel(cfg, seed=1, validate_config=False))
    w2, c2, _ = timed(lambda: m.run())
    res = {"setup_wall": w, "setup_cpu": c, "step_wall": w2, "step_cpu": c2,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
else:  # outcomes
    overrides = json.loads(sys.argv[3])
    cfg = load_config("baseline", overrides)
    keys = ("teacher_adoption", "deep_adoption", "mean_exhaustion", "abandoned_share")
    rows = []
    for s in range(arg):
        df = DistrictModel(cfg, seed=700_000 + s, validate_config=False).run()
        rows.append([float(df.iloc[-1][k]) for k in keys])
    res = {"keys": keys, "rows": rows}
print(json.dumps(res))
'''

SMALL = ["district.schools=8", "district.teachers_per_school=15", "steps=30", "policy.goal_clarity=1.0",
         "policy.coaching_fte=1.0"]


def export(revision: str, dest: Path) -> Path:
    """Extract ``revision`` of this repository into ``dest``."""
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
    tar = dest / "rev.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(dest / "tree", filter="data")
    return dest / "tree"


def measure(tree: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", MEASURE, *args], cwd=tree, env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("revision", help="git revision to compare with (e.g. b302212)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=7, help="standard-district runs per round")
    ap.add_argument("--large", type=int, default=2500, help="schools of the large district (0: skip)")
    ap.add_argument("--outcomes", type=int, default=0, help="seeds per tree for the outcome comparison")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": export(args.revision, Path(tmp)), "after": ROOT}
        rounds: dict[str, list[dict]] = {"before": [], "after": []}
        for r in range(args.rounds):
            for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
                row = measure(trees[name], "standard", str(args.repeats))
                if args.large:
                    row.update({f"large_{k}": v for k, v in measure(trees[name], "large", str(args.large)).items()})
                rounds[name].append(row)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
        med = {name: {k: statistics.median(row[k] for row in rows) for k in rows[0]} for name, rows in rounds.items()}
        print(f"\nmedians over {args.rounds} interleaved rounds ({args.repeats} standard runs per round); "
              f"before = {args.revision}, after = this work tree")
        print(f"  {'measure':24s} {'before':>10s} {'after':>10s} {'speed-up':>9s}")
        for k in med["before"]:
            b, a = med["before"][k], med["after"][k]
            unit, scale = ("MB", 1) if k.endswith("_mb") else ("ms", 1e3)
            print(f"  {k + ' (' + unit + ')':24s} {b * scale:10.1f} {a * scale:10.1f} {b / a:9.2f}")
        result = {"revision": args.revision, "rounds": rounds, "medians": med}
        if args.outcomes:
            result["outcomes"] = {}
            print(f"\nend-of-run outcomes, {args.outcomes} seeds per tree, two-sample KS")
            for label, overrides in (("small", SMALL), ("standard", [])):
                data = {name: measure(tree, "outcomes", str(args.outcomes), json.dumps(overrides))
                        for name, tree in trees.items()}
                keys = data["before"]["keys"]
                b, a = np.array(data["before"]["rows"]), np.array(data["after"]["rows"])
                result["outcomes"][label] = {}
                for k, key in enumerate(keys):
                    p = float(ks_2samp(b[:, k], a[:, k], method="asymp").pvalue)
                    result["outcomes"][label][key] = {"before_mean": float(b[:, k].mean()),
                                                      "after_mean": float(a[:, k].mean()),
                                                      "sd": float(b[:, k].std()), "ks_p": p}
                    print(f"  {label:9s} {key:18s} before {b[:, k].mean():.4f} after {a[:, k].mean():.4f} "
                          f"(sd {b[:, k].std():.4f}) KS p = {p:.3f}")
    if args.out:
        from sim.provenance import provenance

        result["provenance"] = provenance(benchmark="benchmarks/compare_revision.py")
        args.out.write_text(json.dumps(result, indent=1))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
