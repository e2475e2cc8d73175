"""Benchmarks: set-up and stepping time against district size, the per-agent reference, sweep overhead.

Not part of the test suite (timings are machine- and load-dependent). Run from
the repository root::

    PYTHONPATH=$PWD python benchmarks/run.py                  # full (several minutes)
    PYTHONPATH=$PWD python benchmarks/run.py --quick          # smaller, about a minute
    PYTHONPATH=$PWD python benchmarks/run.py --plot-only      # redraw the figure from the JSON

It prints tables and writes ``benchmarks/results.json`` (figures plus
provenance) and ``docs/figures/perf_scaling.png`` (time against number of
teachers). Every time is the median over repeats of wall-clock time on one
core; CPU time (``time.process_time``) is reported beside it because the
machine may be shared with other processes. The 2,500-school run is measured
in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# One core: keep BLAS and OpenMP pools from spawning threads (set before numpy is imported).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from sim.api import simulate  # noqa: E402
from sim.config import load_container  # noqa: E402
from sim.district.model import DistrictModel  # noqa: E402
from sim.district.reference import ReferenceDistrictModel  # noqa: E402
from sim.provenance import provenance  # noqa: E402
from sim.runs.runner import RunSpec, replicate_seed, run_many  # noqa: E402

TEACHERS_PER_SCHOOL = 40
STEPS = 50
TARGETS = {"simulate_ms": 50.0, "large_s": 5.0, "large_peak_mb": 2048.0, "sweep_ratio": 0.55}
RESULTS = ROOT / "benchmarks" / "results.json"
FIGURE = ROOT / "docs" / "figures" / "perf_scaling.png"


def _timed(fn) -> tuple[float, float, object]:
    """Wall and CPU seconds of one call, and its result."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "mean": statistics.fmean(values), "min": min(values),
            "max": max(values), "n": len(values)}


def time_model(cls: type[DistrictModel], schools: int, repeats: int, steps: int = STEPS) -> dict:
    """Set-up (constructor) and stepping (``run``) times of ``cls`` for one district size."""
    cfg = load_container("baseline", [f"district.schools={schools}",
                                      f"district.teachers_per_school={TEACHERS_PER_SCHOOL}", f"steps={steps}"])
    rows = {"setup_wall": [], "setup_cpu": [], "step_wall": [], "step_cpu": []}
    for rep in range(repeats):
        w, c, model = _timed(lambda: cls(cfg, seed=rep, validate_config=False))
        rows["setup_wall"].append(w)
        rows["setup_cpu"].append(c)
        w, c, _ = _timed(lambda: model.run(steps))
        rows["step_wall"].append(w)
        rows["step_cpu"].append(c)
        del model
    out = {k: _summary(v) for k, v in rows.items()}
    teachers = schools * TEACHERS_PER_SCHOOL
    out.update(model=cls.__name__, schools=schools, teachers=teachers, steps=steps,
               teacher_steps_per_s=teachers * steps / out["step_wall"]["median"],
               total_wall=statistics.median(a + b for a, b in zip(rows["setup_wall"], rows["step_wall"])))
    return out


def time_simulate(repeats: int) -> dict:
    """Whole ``sim.simulate()`` calls (standard district, default collection), config cache warm."""
    simulate(seed=10_000)  # compose and cache the configuration once, as any sweep does
    wall, cpu = [], []
    for rep in range(repeats):
        w, c, _ = _timed(lambda: simulate(seed=rep))
        wall.append(w)
        cpu.append(c)
    return {"wall": _summary(wall), "cpu": _summary(cpu),
            "teacher_steps_per_s": 50 * 40 * STEPS / statistics.median(wall)}


def large_in_subprocess(schools: int, repeats: int) -> dict:
    """Time a large district in a fresh interpreter and report its peak resident memory."""
    cmd = [sys.executable, __file__, "--child", str(schools), "--repeats", str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(schools: int, repeats: int) -> None:
    out = time_model(DistrictModel, schools, repeats)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def time_sweep(runs: int) -> dict:
    """``sim.runs.runner.run_many`` over ``runs`` standard-district runs with 1 and 2 workers.

    Besides wall time, records the CPU time of this process and of the worker
    processes (``RUSAGE_CHILDREN``, counted once the pool has shut down): on a
    shared machine the wall-time ratio depends on what else runs, while
    ``cpu_ratio`` (total CPU with 2 workers / with 1) shows the work the pool
    adds; on two idle cores the wall ratio would be about ``cpu_ratio / 2``.
    """
    specs = [RunSpec("baseline", r, replicate_seed(0, r)) for r in range(runs)]
    simulate(seed=0)
    out = {"runs": runs}
    for workers in (1, 2):
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        w, c, n = _timed(lambda: sum(1 for _ in run_many(specs, workers=workers, progress=False)))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert n == runs
        out[f"workers{workers}_wall"] = w
        out[f"workers{workers}_cpu"] = c + (after.ru_utime + after.ru_stime) - (kids.ru_utime + kids.ru_stime)
    out["ratio"] = out["workers2_wall"] / out["workers1_wall"]
    out["cpu_ratio"] = out["workers2_cpu"] / out["workers1_cpu"]
    return out


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average_at_start": load}


def print_tables(res: dict) -> None:
    s = res["simulate"]
    print(f"\nsim.simulate(), standard district (50 x 40, {STEPS} steps, default collection), "
          f"{s['wall']['n']} runs")
    print(f"  wall median {s['wall']['median'] * 1e3:7.1f} ms  (mean {s['wall']['mean'] * 1e3:.1f}, "
          f"min {s['wall']['min'] * 1e3:.1f})   cpu median {s['cpu']['median'] * 1e3:.1f} ms   "
          f"target <= {TARGETS['simulate_ms']:.0f} ms   {s['teacher_steps_per_s'] / 1e6:.2f} M teacher-steps/s")
    print(f"\n{'model':24s} {'schools':>7s} {'teachers':>8s} {'setup ms':>9s} {'steps ms':>9s} "
          f"{'total ms':>9s} {'cpu set+step':>12s} {'Mteacher-steps/s':>16s} {'reps':>4s}")
    for r in res["scaling"]:
        cpu = r["setup_cpu"]["median"] + r["step_cpu"]["median"]
        print(f"{r['model']:24s} {r['schools']:7d} {r['teachers']:8d} {r['setup_wall']['median'] * 1e3:9.1f} "
              f"{r['step_wall']['median'] * 1e3:9.1f} {r['total_wall'] * 1e3:9.1f} {cpu * 1e3:12.1f} "
              f"{r['teacher_steps_per_s'] / 1e6:16.2f} {r['setup_wall']['n']:4d}")
    print("\nper-agent reference / vectorized (median wall time ratios)")
    for r in res["ratios"]:
        print(f"  {r['teachers']:7d} teachers: stepping {r['step_ratio']:6.1f}x   set-up {r['setup_ratio']:5.1f}x   "
              f"total {r['total_ratio']:6.1f}x")
    if "large" in res:
        g = res["large"]
        print(f"\nlarge district {g['schools']} x {TEACHERS_PER_SCHOOL} ({g['teachers']} teachers), {STEPS} steps, "
              f"fresh process: total {g['total_wall']:.2f} s (set-up {g['setup_wall']['median']:.2f} s, "
              f"steps {g['step_wall']['median']:.2f} s), peak RSS {g['peak_rss_mb']:.0f} MB   "
              f"targets <= {TARGETS['large_s']:.0f} s, <= {TARGETS['large_peak_mb']:.0f} MB")
    if "sweep" in res:
        w = res["sweep"]
        print(f"\nsweep: {w['runs']} standard runs with run_many: 1 worker {w['workers1_wall']:.1f} s, "
              f"2 workers {w['workers2_wall']:.1f} s, ratio {w['ratio']:.2f}   target <= {TARGETS['sweep_ratio']}\n"
              f"       CPU 1 worker {w['workers1_cpu']:.1f} s, 2 workers (parent + workers) {w['workers2_cpu']:.1f} s, "
              f"ratio {w['cpu_ratio']:.2f} (idle 2 cores: wall ratio about {w['cpu_ratio'] / 2:.2f})")


def plot(res: dict, path: Path = FIGURE) -> None:
    """Time per run (set-up + 50 steps) against number of teachers, log-log, with the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = res["scaling"] + ([res["large"]] if "large" in res else [])
    for name, label, style in (("DistrictModel", "vectorized", "o-"),
                               ("ReferenceDistrictModel", "per-agent reference", "s--")):
        pts = sorted((r["teachers"], r) for r in rows if r["model"] == name)
        if not pts:
            continue
        x = [t for t, _ in pts]
        ax.plot(x, [r["total_wall"] for _, r in pts], style, label=f"{label}: set-up + {STEPS} steps")
        if name == "DistrictModel":
            ax.plot(x, [r["step_wall"]["median"] for _, r in pts], ":", marker=".", label=f"{label}: {STEPS} steps")
            ax.plot(x, [r["setup_wall"]["median"] for _, r in pts], ":", marker="x", label=f"{label}: set-up")
    ax.plot([2000], [TARGETS["simulate_ms"] / 1e3], "r*", ms=12, label="targets (50 ms, 5 s)")
    ax.plot([100_000], [TARGETS["large_s"]], "r*", ms=12)
    ax.set(xscale="log", yscale="log", xlabel="teachers (40 per school)", ylabel="seconds (median wall time)",
           title="District model: time per run against size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and sizes, 200-run sweep")
    ap.add_argument("--sweep-runs", type=int, default=None, help="runs in the sweep comparison (default 1000)")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"results JSON (default {RESULTS.relative_to(ROOT)}; "
                         "with --quick benchmarks/results_quick.json)")
    ap.add_argument("--figure", type=Path, default=None,
                    help=f"figure (default {FIGURE.relative_to(ROOT)}; with --quick none)")
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure from --out")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.repeats)
        return
    quick = args.quick
    out = args.out or (RESULTS.with_name("results_quick.json") if quick else RESULTS)
    figure = args.figure or (None if quick else FIGURE)
    if args.plot_only:
        plot(json.loads(out.read_text()), figure or FIGURE)
        return
    res: dict = {"machine": machine()}
    res["simulate"] = time_simulate(7 if quick else 21)
    sizes = (10, 50, 250) if quick else (10, 25, 50, 100, 250, 1000)
    reps = {10: 11, 25: 11, 50: 11, 100: 7, 250: 5, 1000: 3}
    res["scaling"] = [time_model(DistrictModel, s, 3 if quick else reps[s]) for s in sizes]
    ref_sizes = (10, 50) if quick else (10, 50, 250)
    ref = [time_model(ReferenceDistrictModel, s, 1 if quick else (3 if s < 250 else 1)) for s in ref_sizes]
    res["scaling"] += ref
    opt = {r["schools"]: r for r in res["scaling"] if r["model"] == "DistrictModel"}
    res["ratios"] = [{"teachers": r["teachers"],
                      "step_ratio": r["step_wall"]["median"] / opt[r["schools"]]["step_wall"]["median"],
                      "setup_ratio": r["setup_wall"]["median"] / opt[r["schools"]]["setup_wall"]["median"],
                      "total_ratio": r["total_wall"] / opt[r["schools"]]["total_wall"]} for r in ref]
    res["large"] = large_in_subprocess(500 if quick else 2500, 1 if quick else 3)
    if not args.no_sweep:
        res["sweep"] = time_sweep(args.sweep_runs or (200 if quick else 1000))
    res["machine"]["load_average_at_end"] = os.getloadavg()
    res["provenance"] = provenance(benchmark="benchmarks/run.py", quick=quick, targets=TARGETS)
    print_tables(res)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"\nwrote {out}")
    if figure:
        plot(res, figure)
        print(f"wrote {figure}")


if __name__ == "__main__":
    main()
