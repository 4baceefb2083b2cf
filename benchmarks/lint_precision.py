"""Precision of the "fails from a fresh kernel" lint findings, checked by running notebooks.

For every notebook under CORPUS (default: the shared corpus) that `distill lint` reads as
Python, the findings that predict a failure in a fresh kernel (DL002, DL103, DL104) are
checked by running the notebook top to bottom in a new kernel (`distill.lint.execute`):
confirmed (the predicted exception at the predicted cell), refuted (the cell ran), or
undetermined (the cell failed earlier for another reason, e.g. a package or data file that
is not on this machine). Prints one row per notebook and the totals.

    python benchmarks/lint_precision.py [CORPUS] [--timeout 120] [--all]

Without --all only notebooks with at least one such finding are run (the others cannot
change precision, only the count of failures no rule predicted).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from distill.lint.engine import lint_paths, load_config
from distill.lint.execute import CONFIRMABLE, check_findings, run_fresh

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "notebooks"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per notebook")
    parser.add_argument("--all", action="store_true", help="also run notebooks without such findings")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}")
        return 0
    result = lint_paths([args.corpus], load_config(args.corpus))
    totals = {"confirmed": 0, "refuted": 0, "undetermined": 0, "missed": 0, "cascades": 0}
    print(f"{'notebook':<60} {'pred':>4} {'conf':>4} {'refu':>4} {'und':>4} {'miss':>4} {'secs':>6}")
    for report in result.files:
        predicted = [f for f in report.findings if f.code in CONFIRMABLE]
        if report.status != "analysed" or (not predicted and not args.all):
            continue
        started = time.perf_counter()
        execution = run_fresh(report.path, timeout=args.timeout)
        check = check_findings(report.findings, execution)
        counts = {k: sum(v.outcome == k for v in check.verdicts) for k in ("confirmed", "refuted", "undetermined")}
        counts["missed"] = len(check.missed)
        counts["cascades"] = len(check.cascades)
        for key, value in counts.items():
            totals[key] += value
        name = Path(report.path).name
        print(f"{name[:60]:<60} {len(predicted):>4} {counts['confirmed']:>4} {counts['refuted']:>4} "
              f"{counts['undetermined']:>4} {counts['missed']:>4} {time.perf_counter() - started:>6.1f}")
        for run in check.missed:
            print(f"    cell {run.number}: missed: {run.ename}: {(run.evalue or '')[:90]}")
        for verdict in check.verdicts:
            if verdict.outcome != "confirmed":
                print(f"    cell {verdict.finding.cell} {verdict.finding.code} {verdict.finding.subject or ''}: "
                      f"{verdict.outcome}: {verdict.detail}")
    decided = totals["confirmed"] + totals["refuted"]
    precision = f"{totals['confirmed'] / decided:.0%}" if decided else "n/a"
    print(f"\nconfirmed {totals['confirmed']}, refuted {totals['refuted']}, undetermined {totals['undetermined']}, "
          f"failures no rule predicted {totals['missed']} (+{totals['cascades']} caused by an earlier failing cell); precision {precision} "
          f"({totals['confirmed']}/{decided} decided predictions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
