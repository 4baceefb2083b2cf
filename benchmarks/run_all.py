"""Run the four distill benchmarks one after the other.

Each runs in its own interpreter (so one's imports do not warm up another's)
with the interpreter this script runs on.  Extra arguments are not passed on;
run a script by itself for its options.

Usage:  python benchmarks/run_all.py [--quick]
  --quick   N=100 only and 3 repeats (a smoke run, not for reporting)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    jobs = [
        ["bench_startup.py"] + (["--repeats", "5"] if quick else []),
        ["bench_overhead.py"] + (["--sizes", "100", "--repeats", "3"] if quick else []),
        ["bench_noop.py"] + (["--sizes", "100", "--repeats", "3"] if quick else []),
        ["bench_lint.py"] + (["--repeats", "3"] if quick else []),
    ]
    failed = 0
    for job in jobs:
        t0 = time.perf_counter()
        print(f"\n$ {os.path.basename(sys.executable)} benchmarks/{' '.join(job)}", flush=True)
        rc = subprocess.call([sys.executable, os.path.join(HERE, job[0]), *job[1:]])
        print(f"({job[0]}: exit {rc}, {time.perf_counter() - t0:.0f} s)", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
