"""Start-up time of the distill command line.

Wall time (subprocess, median of --repeats, default 10) of:
  python -S -c pass          the interpreter alone, no site-packages (floor)
  python -c pass             the interpreter with site (what every CLI pays)
  python -c "import distill" the package import
  distill --help             the CLI (target < 0.2 s)

All use the interpreter the distill console script runs on.  With
--importtime, also prints the 10 slowest imports (cumulative) of
`import distill` and of the CLI module, from python -X importtime.

Usage:  python benchmarks/bench_startup.py [--repeats 10] [--importtime]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (
    distill_cli,
    distill_importable,
    fmt_num,
    header,
    print_table,
    short_error,
    time_cmd,
)

TARGET = 0.2  # seconds, distill --help


def importtime_top(interp: str, code: str, top: int = 10) -> list[tuple[int, int, str]]:
    proc = subprocess.run(
        [interp, "-X", "importtime", "-c", code],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            _, rest = line.split(":", 1)
            self_us, cum_us, name = rest.split("|", 2)
            rows.append((int(self_us), int(cum_us), name.rstrip()))
        except ValueError:
            continue
    rows.sort(key=lambda r: r[1], reverse=True)
    return rows[:top]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument(
        "--importtime",
        action="store_true",
        help="also print the slowest imports (always printed if the target is not met)",
    )
    args = ap.parse_args(argv)
    header("bench_startup: distill CLI start-up")
    cli, interp = distill_cli()
    print(f"distill command: {' '.join(cli)} (interpreter {interp})")

    cases = [
        ("python -S -c pass (no site)", [interp, "-S", "-c", "pass"]),
        ("python -c pass", [interp, "-c", "pass"]),
    ]
    have = distill_importable()
    if have:
        cases += [
            ('python -c "import distill"', [interp, "-c", "import distill"]),
            ("distill --help", cli + ["--help"]),
        ]
    results = {}
    table = []
    for label, cmd in cases:
        try:
            t = time_cmd(cmd, repeats=args.repeats)
        except Exception as exc:
            table.append([label, "-", "-", "-", "", f"error: {short_error(exc)}"])
            continue
        results[label] = t.median
        table.append([label, fmt_num(t.median), str(t.n), None, "", ""])
    ref = results.get("distill --help")
    met = None
    for row in table:
        label = row[0]
        if label in results:
            row[3] = f"{results[label] / ref:.2f}x" if ref else "-"
            if label == "distill --help":
                met = results[label] < TARGET
                row[4] = f"< {TARGET:g} s: " + ("met" if met else "NOT MET")
        if row[3] is None:
            row[3] = "-"
    if not have:
        table.append(["distill --help", "-", "-", "-", "", "skipped: distill not installed"])
    print_table(
        "== wall time, process start included",
        ["command", "median s", "runs", "x distill --help", "target", "note"],
        table,
    )
    if "python -c pass" in results and "python -S -c pass (no site)" in results:
        site = results["python -c pass"] - results["python -S -c pass (no site)"]
        print(f"site-packages start-up (python -c pass minus python -S): {site:.3f} s")
    if "distill --help" in results and "python -c pass" in results:
        print(
            f"distill --help above python -c pass: "
            f"{results['distill --help'] - results['python -c pass']:.3f} s"
        )

    if have and (args.importtime or met is False):
        for code in ("import distill", "import distill.cli.main"):
            top = importtime_top(interp, code)
            if not top:
                continue
            print()
            print(f"slowest imports for `{code}` (python -X importtime, one run, cumulative us):")
            for self_us, cum_us, name in top:
                print(f"  {cum_us:>9,}  {self_us:>8,}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
