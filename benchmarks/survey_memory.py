"""Peak memory and time of validating and summarising a large survey CSV (docs/robustness.md).

Writes a synthetic survey of about SIZE_MB megabytes (valid rows, 4 waves,
every item), then, in a fresh process each, (a) validates and summarises it
as ``python -m sim.survey_data PATH`` does (:func:`summarise_survey`,
streaming) and (b) loads it with :func:`load_survey` (all respondents kept,
as calibration does) and computes :func:`statistics_table`; reports the peak
resident memory (``ru_maxrss``) and the time taken.

    python benchmarks/survey_memory.py 50 500
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sim.survey import ITEMS

CHILD = """
import resource, sys, time
t0 = time.perf_counter()
from sim.survey_data import load_survey, statistics_table, summarise_survey
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] == "summarise":
    report, table = summarise_survey(sys.argv[1])
    n = int(report.split(": ", 1)[1].split()[0])
else:
    data = load_survey(sys.argv[1])
    table = statistics_table(data.frame[data.frame["role"] == "teacher"], data.items)
    n = len(data.frame)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(n, len(table), base // 1024, peak // 1024, round(time.perf_counter() - t0, 1))
"""


def write_survey(path: Path, size_mb: float, seed: int = 0) -> int:
    """A valid survey of about ``size_mb`` MB; returns the number of rows."""
    rng = np.random.default_rng(seed)
    header = ",".join(["respondent_id", "district", "school", "wave", "role", *ITEMS])
    rows = 0
    with open(path, "w") as fh:
        fh.write(header + "\n")
        while fh.tell() < size_mb * 1e6:
            n = 50_000
            answers = rng.integers(1, 6, size=(n, len(ITEMS))).astype(str)
            answers[rng.random(answers.shape) < 0.05] = ""
            school = rng.integers(0, 200, n)
            wave = rng.choice([0, 12, 24, 36], n)
            lines = [f"r{rows + i},d{school[i] % 4},s{school[i]},{wave[i]},teacher," + ",".join(answers[i])
                     for i in range(n)]
            fh.write("\n".join(lines) + "\n")
            rows += n
    return rows


def main(sizes: list[float]) -> None:
    out = Path("results") / "bench_survey"
    out.mkdir(parents=True, exist_ok=True)
    print("| file (MB) | respondents | how | peak memory (MB) | of which Python + imports (MB) | time (s) |")
    print("|---:|---:|---|---:|---:|---:|")
    for size in sizes:
        path = out / f"survey_{size:g}mb.csv"
        if not path.exists():
            write_survey(path, size)
        for how in ("summarise", "load"):
            rows, _, base, peak, seconds = subprocess.run([sys.executable, "-c", CHILD, str(path), how], check=True,
                                                          capture_output=True, text=True).stdout.split()
            label = "summarise (python -m sim.survey_data)" if how == "summarise" else "load_survey + statistics"
            print(f"| {path.stat().st_size / 1e6:.0f} | {int(rows):,} | {label} | {int(peak):,} | {int(base):,} | "
                  f"{seconds} |", flush=True)


if __name__ == "__main__":
    main([float(s) for s in sys.argv[1:]] or [50.0])
