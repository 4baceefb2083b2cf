"""Fuzzing `distill lint` and `distill convert`: odd notebooks in, no traceback out.

The long version of tests/test_fuzz_notebooks.py, with the same strategies
(tests/fuzz_notebooks.py): generated notebooks (Python and IPython snippets,
token soup, deeply nested expressions, huge cells, odd unicode, R and Julia
kernels, v1-v4 layouts, every field given a wrong type, broken bytes) and,
when the corpus folder exists, mutated real notebooks. Each example is run
in-process through the CLI (click's runner) for three targets:

  lint      distill lint NB
  sarif     distill lint --format sarif NB
  convert   distill convert NB -o OUT

and checked: no exception but SystemExit, a documented exit code (lint 0/1/2,
convert 0/2), a DL000 finding or one `Error:` line for every failure, nothing
half-written, the notebook untouched, under 10 s (a run still going after
60 s is stopped and counted as a hang).

Printed per target: examples, tracebacks, hangs, other failed checks, the
exit-code distribution, median and slowest time; then every distinct failure
(first line and where); then, with --huge (the default), the time each huge
cell shape takes at its full size (100,000 lines) for each target.
Failing inputs are written to --save DIR (default: a temporary folder) to
reproduce them: `python -m distill lint DIR/<name>.ipynb`.

Usage:  python benchmarks/fuzz_lint_convert.py [--examples 2000] [--seed 1]
                                               [--jobs 2] [--no-huge] [--save DIR]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))


def _explore(task: tuple[str, str, int, int]) -> list[tuple[str, int | None, float, str, str | None, bytes]]:
    """Run ``count`` examples of ``source`` (generated | corpus) through ``target`` with ``seed``."""
    source, target, count, seed_value = task
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from fuzz_notebooks import corpus_files, notebook_files, run, warm_up

    warm_up()
    found: list[tuple[str, int | None, float, str, str | None, bytes]] = []
    strategy = notebook_files(target) if source == "generated" else corpus_files()

    @seed(seed_value)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(data: bytes) -> None:
        outcome = run(target, data)
        kept = data if outcome.problem is not None else b""
        found.append((outcome.target, outcome.exit_code, outcome.seconds, outcome.kind, outcome.problem, kept))

    check()
    return found


def _huge(task: tuple[str, str]) -> tuple[str, str, float, str, int | None]:
    kind, target = task
    import json

    from fuzz_notebooks import huge_cell, run

    source = huge_cell(kind, target, full=True)
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": [],
                           "source": source},
                          {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {}, "outputs": [],
                           "source": "print(x)"}],
                "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
                "nbformat": 4, "nbformat_minor": 5}
    outcome = run(target, json.dumps(notebook).encode())
    return kind, target, outcome.seconds, outcome.kind, outcome.exit_code


def _where(problem: str) -> str:
    """The first line of a failure (for a traceback: the exception and the last distill frame)."""
    return problem.splitlines()[0][:200] if problem else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000, help="examples per target (default 2000)")
    parser.add_argument("--corpus-share", type=float, default=0.25,
                        help="share of the examples taken from mutated corpus notebooks, when the corpus exists")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    parser.add_argument("--targets", default="lint,sarif,convert")
    parser.add_argument("--no-huge", action="store_true", help="skip the full-size huge-cell timings")
    parser.add_argument("--save", type=Path, default=None, help="folder for failing inputs")
    args = parser.parse_args()

    from fuzz_notebooks import CORPUS, HANG_LIMIT, HUGE_KINDS, HUGE_LINES, TIME_LIMIT, corpus_paths

    targets = [t for t in args.targets.split(",") if t]
    corpus = corpus_paths()
    corpus_count = int(args.examples * args.corpus_share) if corpus else 0
    print(f"fuzz: {args.examples} examples per target ({args.examples - corpus_count} generated, {corpus_count} "
          f"from {len(corpus)} corpus notebooks{'' if corpus else f'; no corpus at {CORPUS}'}), seed {args.seed}, "
          f"{args.jobs} processes, time limit {TIME_LIMIT:g}s, hang limit {HANG_LIMIT:g}s")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    tasks: list[tuple[str, str, int, int]] = []
    chunk = 100
    for target in targets:
        for source, count in (("generated", args.examples - corpus_count), ("corpus", corpus_count)):
            for start in range(0, count, chunk):
                tasks.append((source, target, min(chunk, count - start), args.seed * 100_003 + start + (source == "corpus")))
    started = time.perf_counter()
    results: list[tuple[str, int | None, float, str, str | None, bytes]] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for found in pool.map(_explore, tasks):
            results.extend(found)
    wall = time.perf_counter() - started

    save = args.save or Path(tempfile.mkdtemp(prefix="distill-fuzz-failures-"))
    header = ("target", "examples", "tracebacks", "hangs", "other failures", "exit codes", "median", "slowest")
    rows = [header]
    failures: dict[tuple[str, str], list[tuple[str, bytes]]] = collections.defaultdict(list)
    for target in targets:
        mine = [r for r in results if r[0] == target]
        kinds = collections.Counter(r[3] for r in mine)
        codes = collections.Counter(r[1] for r in mine)
        times = [r[2] for r in mine]
        rows.append((target, str(len(mine)), str(kinds["traceback"]), str(kinds["hang"]),
                     str(sum(n for k, n in kinds.items() if k not in ("ok", "traceback", "hang"))),
                     " ".join(f"{code}:{n}" for code, n in sorted(codes.items(), key=lambda i: str(i[0]))),
                     f"{statistics.median(times) * 1000:.0f} ms" if times else "-",
                     f"{max(times):.2f} s" if times else "-"))
        for _, _, _, kind, problem, data in mine:
            if problem is not None:
                failures[(target, f"{kind}: {_where(problem)}")].append((problem, data))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{len(results)} runs in {wall:.0f} s")
    if failures:
        save.mkdir(parents=True, exist_ok=True)
        print(f"\n{sum(len(v) for v in failures.values())} failed runs, {len(failures)} distinct "
              f"(inputs saved in {save}):")
        for (target, what), items in sorted(failures.items(), key=lambda i: -len(i[1])):
            name = hashlib.sha256(items[0][1]).hexdigest()[:12]
            (save / f"{name}.ipynb").write_bytes(items[0][1])
            print(f"  {len(items):4d} x {target:<7} {what}  -> {name}.ipynb")
    else:
        print("\nno failures")

    if not args.no_huge:
        print(f"\nhuge cells at full size ({HUGE_LINES:,} lines), seconds per run (limit {TIME_LIMIT:g}s):")
        cells = [(kind, target) for kind in HUGE_KINDS for target in targets]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            timings = list(pool.map(_huge, cells))
        table = [("shape", *targets)]
        for kind in HUGE_KINDS:
            row = [kind]
            for target in targets:
                _, _, seconds, status, code = next(t for t in timings if t[0] == kind and t[1] == target)
                mark = "" if status == "ok" else f" ({status})"
                row.append(f"{seconds:.1f}{mark}" if status != "hang" else f">{HANG_LIMIT:g} (hang)")
            table.append(tuple(row))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for index, row in enumerate(table):
            print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                print("  " + "  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
