"""Convert and verify every notebook of the executable corpus; print one line per notebook.

    python benchmarks/verify_corpus.py [--corpus ../shared/corpus/executable] [--out /tmp/verify-corpus]

For each folder: `distill convert` (refused: the first reason), `distill verify --no-record`
(exit code, counts of equal / different / missing / not comparable, the notebook and pipeline
run times, the first difference). Ends with the counts by verify exit code.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from distill.convert.project import ConversionRefused, convert
from distill.convert.verify import VerifyError, verify
from distill.errors import DistillError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus" / "executable")
    parser.add_argument("--out", type=Path, default=Path("/tmp/verify-corpus"))
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    shutil.rmtree(args.out, ignore_errors=True)
    outcomes: Counter[str] = Counter()
    for folder in sorted(p for p in args.corpus.iterdir() if p.is_dir()):
        notebook = next(folder.glob("*.ipynb"))
        project = args.out / folder.name
        started = time.monotonic()
        try:
            conversion = convert(notebook, project, name="nb")
        except ConversionRefused as exc:
            outcomes["refused"] += 1
            first = exc.refusals[0]
            print(f"{folder.name}: REFUSED cell {first.cell}: {first.reason}")
            continue
        try:
            result = verify(notebook, project, timeout=args.timeout, record=False)
        except (VerifyError, DistillError) as exc:
            outcomes["run failed"] += 1
            print(f"{folder.name}: {len(conversion.steps)} steps; RUN FAILED: {str(exc).splitlines()[0][:160]}")
            continue
        counts = Counter(r.status for r in result.rows)
        outcomes[f"exit {result.exit_code}"] += 1
        worst = next((r for r in result.rows if r.status in ("different", "missing")), None)
        print(f"{folder.name}: {len(conversion.steps)} steps, exit {result.exit_code}: "
              f"{counts['equal']} equal, {counts['different']} different, {counts['missing']} missing, "
              f"{counts['incomparable']} not comparable; notebook {result.notebook_seconds:.1f}s, "
              f"pipeline {result.pipeline_seconds:.1f}s, total {time.monotonic() - started:.1f}s"
              + (f"; first problem: {worst.name}: {worst.detail[:120]}" if worst else ""))
    print("summary:", dict(sorted(outcomes.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
