"""Wall time of `distill lint` on a corpus of notebooks, compared with peer linters.

Every figure is the median of --repeats runs (default 5), each run in a fresh
interpreter subprocess of this interpreter (sys.executable):

  distill, in-process   a fresh interpreter imports distill.lint.engine and calls
                        lint_paths([CORPUS]); timed inside it with perf_counter,
                        from before the import to after the call (the target
                        figure: < 2 s in one process, imports included), also
                        split into its import and lint parts
  distill lint (CLI)    `python -m distill lint CORPUS --format json`, stdout to
                        /dev/null; exit codes 1 (findings) and 2 (unreadable
                        files) are expected
  throughput            notebooks/s and cells/s, from the in-process figures
  ruff check            `ruff check --select ALL --no-cache CORPUS` (lints .ipynb
                        natively; pyflakes-style rules, no hidden-state analysis)
  nbqa flake8           `nbqa flake8 CORPUS`, if nbqa and flake8 are installed
  python -c pass        the floor: starting the interpreter

x distill = median / the in-process median.  The corpus defaults to
/work/shared/corpus/notebooks; if it is missing the script says so and exits 0.

Usage:  python benchmarks/bench_lint.py [--corpus DIR] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The folder of this script is sys.path[0] when it is run as a script; the
# insert also makes _common importable when the script is run some other way.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (
    Timing,
    distill_importable,
    fmt_num,
    header,
    print_table,
    short_error,
)

TARGET = 2.0  # seconds: the whole corpus linted in one process, imports included
DEFAULT_CORPUS = "/work/shared/corpus/notebooks"
# Once a row has one run and has spent this long, it stops repeating (the
# "runs" column then says how many runs its median is of); keeps the script
# to about a minute even if a tool is much slower than expected.
BUDGET = 20.0  # seconds per row

# Run by a fresh interpreter: times the import and the lint call from inside,
# then prints one JSON line back.  The import is the first thing it does, so
# nothing of distill is loaded before t0.
IN_PROCESS = """\
import json, sys, time
t0 = time.perf_counter()
from distill.lint.engine import lint_paths
t1 = time.perf_counter()
result = lint_paths([sys.argv[1]])
t2 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0,
    "lint_s": t2 - t1,
    "total_s": t2 - t0,
    "files": [[f.path, f.status] for f in result.files],
    "findings": len(result.findings),
}))
"""


class Row:
    def __init__(
        self,
        what,
        timing: Timing | None = None,
        unit="s",
        note="",
        target="",
        value: float | None = None,
        ratio: bool = True,
    ):
        self.what, self.timing, self.unit, self.note, self.target = what, timing, unit, note, target
        self.value = timing.median if timing is not None else value
        self.ratio = ratio

    @property
    def runs(self) -> str:
        return str(self.timing.n) if self.timing is not None else "-"


def repeat(fn, repeats: int, budget: float = BUDGET) -> list:
    """Call fn() up to ``repeats`` times; stop early after ``budget`` s once it has one result."""
    out = []
    started = time.perf_counter()
    for _ in range(repeats):
        out.append(fn())
        if time.perf_counter() - started > budget:
            break
    return out


def wall(cmd, *, ok=(0,), cwd=None) -> float:
    """Wall time of one subprocess (output discarded); raises if its exit code is not in ``ok``."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ok:
        tail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
        raise RuntimeError(f"exited {proc.returncode}: {tail}")
    return elapsed


def timing_of(values: list[float]) -> Timing:
    return Timing(statistics.median(values), list(values))


def find_tool(name: str) -> str | None:
    """The executable next to this interpreter, else the one on PATH.

    Next to the interpreter first: on PATH there may be a pyenv shim (a bash
    script that re-resolves the tool on every call, adding tens of ms).
    """
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which(name)


def compile_distill() -> str:
    """Byte-compile distill's sources so that each fresh interpreter reads .pyc files.

    PYTHONDONTWRITEBYTECODE=1 is set in this environment, so an interpreter
    never writes the .pyc files it compiles: without them, every run would
    recompile all of distill from source and the import figure would measure
    the compiler.  Python still *reads* existing .pyc files with that variable
    set, and compileall writes them regardless of it.
    """
    spec = importlib.util.find_spec("distill")
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        folders = [str(Path(__file__).resolve().parent.parent / "src" / "distill")]
    proc = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *folders],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if proc.returncode != 0:
        print(
            f"warning: compileall exited {proc.returncode}: {proc.stdout.decode(errors='replace')[-300:]}"
        )
    return ", ".join(folders)


def count_cells(paths: list[str]) -> tuple[int, int]:
    """(all cells, code cells) of the notebooks given; files that are not valid JSON count 0."""
    cells = code = 0
    for p in paths:
        try:
            with open(p, "rb") as fh:
                nb = json.load(fh)
            these = nb.get("cells", []) if isinstance(nb, dict) else []
        except (OSError, ValueError):
            continue
        cells += len(these)
        code += sum(1 for c in these if isinstance(c, dict) and c.get("cell_type") == "code")
    return cells, code


# ---------------------------------------------------------------- distill


def bench_in_process(corpus: Path, repeats: int) -> tuple[list[Row], dict | None]:
    """Rows: the whole run (target), its import and lint parts, and the subprocess wall time."""
    what = "distill, in-process (import + lint_paths)"
    if not distill_importable():
        return [Row(what, note="skipped: distill not installed")], None
    walls: list[float] = []
    last: dict = {}

    def one() -> dict:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(corpus)],
            capture_output=True,
            text=True,
            check=False,
        )
        walls.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
            raise RuntimeError(f"exited {proc.returncode}: {tail}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        last.update(data)
        return data

    try:
        runs = repeat(one, repeats)
    except (OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
        return [Row(what, note=f"error: {short_error(exc)}")], None
    total = timing_of([r["total_s"] for r in runs])
    met = total.median < TARGET
    rows = [
        Row(
            what,
            total,
            target=f"< {TARGET:g} s: " + ("met" if met else "NOT met"),
            note=f"timed inside the process; runs {min(total.runs):.2f}-{max(total.runs):.2f} s",
        ),
        Row("  of which import distill.lint.engine", timing_of([r["import_s"] for r in runs])),
        Row("  of which lint_paths([corpus])", timing_of([r["lint_s"] for r in runs])),
        Row(
            "  same runs, wall incl. interpreter start",
            timing_of(walls),
            note="subprocess wall time, for comparison with the CLI rows",
        ),
    ]
    return rows, last


def bench_cli(corpus: Path, repeats: int) -> Row:
    what = "distill lint CORPUS --format json"
    if not distill_importable():
        return Row(what, note="skipped: distill not installed")
    cmd = [sys.executable, "-m", "distill", "lint", str(corpus), "--format", "json"]
    # One untimed probe: is there a `lint` subcommand, and does it accept these options?
    probe = subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    err = probe.stderr.strip()
    if probe.returncode == 2 and "No such command" in err:
        reason = next((ln for ln in err.splitlines() if "No such command" in ln), err)
        return Row(what, note=f"skipped: {reason.removeprefix('Error: ').strip()}")
    if probe.returncode == 2 and err.startswith("Usage:"):  # click's usage error, not a lint result
        return Row(what, note=f"error: {err.splitlines()[-1][:70]}")
    if probe.returncode not in (0, 1, 2):
        return Row(
            what,
            note=f"error: exited {probe.returncode}: {err.splitlines()[-1][:60] if err else ''}",
        )
    try:
        # 1 = findings, 2 = unreadable files: both are results, not failures.
        t = timing_of(repeat(lambda: wall(cmd, ok=(0, 1, 2)), repeats))
    except (OSError, RuntimeError) as exc:
        return Row(what, note=f"error: {short_error(exc)}")
    return Row(what, t, note="wall time, python -m distill")


# ---------------------------------------------------------------- peers


def bench_ruff(corpus: Path, repeats: int) -> Row:
    # ruff lints .ipynb natively; --select ALL turns on every rule it has.  Those
    # are pyflakes/pycodestyle-style rules on each cell's code: no hidden-state
    # analysis (execution order, cells that depend on state from deleted or
    # re-run cells), which is what distill lint adds.  It runs from the corpus
    # folder so that this repository's [tool.ruff] settings do not apply.
    what = "ruff check --select ALL --no-cache"
    ruff = find_tool("ruff")
    if ruff is None:
        return Row(what, note="skipped: ruff not installed")
    cmd = [ruff, "check", "--select", "ALL", "--no-cache", str(corpus)]
    try:
        t = timing_of(repeat(lambda: wall(cmd, ok=(0, 1), cwd=corpus), repeats))  # 1 = violations
    except (OSError, RuntimeError) as exc:
        return Row(what, note=f"error: {short_error(exc)}")
    return Row(what, t, note="pyflakes-style rules, no hidden-state analysis")


def bench_nbqa_flake8(corpus: Path, repeats: int) -> Row:
    what = "nbqa flake8"
    nbqa, flake8 = find_tool("nbqa"), find_tool("flake8")
    missing = [name for name, path in (("nbqa", nbqa), ("flake8", flake8)) if path is None]
    if missing:
        return Row(what, note=f"skipped: {', '.join(missing)} not installed")
    cmd = [nbqa, "flake8", str(corpus)]
    try:
        t = timing_of(repeat(lambda: wall(cmd, ok=(0, 1), cwd=corpus), repeats))  # 1 = violations
    except (OSError, RuntimeError) as exc:
        return Row(what, note=f"error: {short_error(exc)}")
    return Row(what, t, note="pyflakes + pycodestyle per cell, no hidden-state analysis")


def bench_python(repeats: int) -> Row:
    # 10 runs at least, as for every start-up figure: it is cheap and noisy.
    t = timing_of(repeat(lambda: wall([sys.executable, "-c", "pass"]), max(repeats, 10)))
    return Row(
        f"python -c pass ({os.path.basename(sys.executable)})", t, note="floor: interpreter start"
    )


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--corpus",
        default=DEFAULT_CORPUS,
        metavar="DIR",
        help=f"folder of notebooks to lint (default {DEFAULT_CORPUS})",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed runs per row (default 5; python -c pass: 10 at least)",
    )
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    header("bench_lint: distill lint on a notebook corpus")
    if not corpus.is_dir():
        print(f"corpus not found: {corpus} (give one with --corpus DIR); nothing measured")
        return 0
    notebooks = sorted(str(p) for p in corpus.rglob("*.ipynb"))
    # Reading every file here also puts the corpus in the page cache before any timed run.
    cells, code_cells = count_cells(notebooks)
    print(
        f"corpus: {corpus} ({len(notebooks)} .ipynb files, {cells:,} cells, {code_cells:,} code cells)"
    )
    ruff = find_tool("ruff")
    if ruff:
        version = subprocess.run([ruff, "--version"], capture_output=True, text=True, check=False)
        print(f"ruff: {ruff} ({version.stdout.strip() or 'version unknown'})")
    if distill_importable():
        print(f"compiled distill to .pyc first: {compile_distill()}")

    rows, info = bench_in_process(corpus, args.repeats)
    rows.append(bench_cli(corpus, args.repeats))
    rows += [
        bench_ruff(corpus, args.repeats),
        bench_nbqa_flake8(corpus, args.repeats),
        bench_python(args.repeats),
    ]

    ref = rows[0].value if rows[0].timing is not None else None
    if info:
        files = info["files"]
        analysed = [p for p, status in files if status == "analysed"]
        statuses = {
            s: sum(1 for _, st in files if st == s) for s in sorted({st for _, st in files})
        }
        a_cells, a_code = count_cells(analysed)
        lint_part, whole = rows[2].value, rows[0].value
        rows[4:4] = [
            Row(
                "throughput, lint part",
                None,
                "notebooks/s",
                value=len(files) / lint_part,
                ratio=False,
                note=f"{len(files)} files linted",
            ),
            Row(
                "throughput, lint part",
                None,
                "cells/s",
                value=a_cells / lint_part,
                ratio=False,
                note=f"{a_cells:,} cells ({a_code:,} code) in the {len(analysed)} analysed notebooks",
            ),
            Row(
                "throughput, whole run",
                None,
                "notebooks/s",
                value=len(files) / whole,
                ratio=False,
                note="imports included",
            ),
            Row("throughput, whole run", None, "cells/s", value=a_cells / whole, ratio=False),
        ]
        print(
            "distill lint_paths: "
            + ", ".join(f"{n} {s}" for s, n in statuses.items())
            + f"; {info['findings']:,} findings"
        )

    table = []
    for r in rows:
        if r.value is None:
            table.append([r.what, "-", "-", "-", "-", r.target, r.note])
            continue
        ratio = f"{r.value / ref:.2f}x" if (ref and r.ratio and r.unit == "s") else "-"
        table.append([r.what, fmt_num(r.value), r.unit, r.runs, ratio, r.target, r.note])
    print_table(
        f"== lint {corpus} (median of runs, each in a fresh interpreter)",
        ["what", "median", "unit", "runs", "x distill", "target", "note"],
        table,
    )
    if ref is not None:
        verdict = "met" if ref < TARGET else "NOT met"
        print(
            f"target: < {TARGET:g} s in one process — {verdict} (median {ref:.3f} s, imports included)"
        )
        with contextlib.suppress(OSError):
            print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    else:
        print(f"target: < {TARGET:g} s in one process — not measured ({rows[0].note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
