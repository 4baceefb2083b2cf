"""How the time of `distill convert` grows with the size of the notebook.

The notebooks are synthetic but shaped like real analysis notebooks: markdown
headings between groups of cells, cells of 5 to 20 lines of pandas/numpy-like
code, each reading a few variables of earlier cells and defining new ones,
literal constants used later (params), helper functions (some reading a
notebook constant), columns added in place, prints, bare displays, figures.
The generator is deterministic (a seeded random.Random).

Two series, each doubling the size:

  lines   N source lines in cells of about 12 lines   (1k, 2k, 4k, 8k)
  cells   C code cells of about 12 lines               (50, 100, 200, 400)

For each size it prints the median (and best) wall and the median CPU seconds of --repeats
conversions (in one process: `distill.convert.project.convert`, imports
excluded; with --cli also `python -m distill convert NB -o DIR` as a
subprocess, interpreter start included, CPU of the child) and the ratio
time(2N) / time(N): about 2 means linear, about 4 quadratic. CPU seconds are
steadier than wall seconds on a machine with other work running.
Target: a 200-cell notebook converts in <= 2 s (wall) in one process.

Temporary files go under $TMPDIR (set TMPDIR=/work/tmpbench where /tmp is slow).

Usage:  python benchmarks/bench_convert.py [--series lines,cells] [--sizes 1000,2000]
                                            [--repeats 3] [--cli] [--profile N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import fmt_num, header, print_table

TARGET_CELLS = 200
TARGET_SECONDS = 2.0
LINES_PER_CELL = 12  # the mean of the 5..20 lines a cell gets
SERIES = {"lines": [1000, 2000, 4000, 8000], "cells": [50, 100, 200, 400]}
BUDGET = 60.0  # seconds: a size stops repeating once it has one run and spent this long


# --------------------------------------------------------------------------
# the notebooks


class _Writer:
    """Builds the cells of one notebook; every name read was defined above."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.frames = ["df_0"]
        self.scalars: list[str] = []
        self.consts: list[str] = []
        self.unused_consts: list[str] = []
        self.helpers: list[str] = []
        self.n = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n}"

    def frame(self) -> str:
        # Mostly recent frames, sometimes an old one: data flows across the notebook.
        if self.rng.random() < 0.7:
            return self.rng.choice(self.frames[-5:])
        return self.rng.choice(self.frames)

    def const(self) -> str:
        if self.unused_consts:
            name = self.unused_consts.pop(0)
            self.consts.append(name)
            return name
        return self.rng.choice(self.consts) if self.consts else "1.5"

    def statement(self, cell_frame: str) -> list[str]:
        """One statement (one or more lines) of the current cell, which owns ``cell_frame``."""
        r = self.rng.random()
        other = self.frame()
        if r < 0.14:
            name = self.fresh("THRESHOLD")
            self.unused_consts.append(name)
            return [f"{name} = {self.rng.choice(['0.25', '0.5', '3', '10'])}"]
        if r < 0.30:
            col = self.fresh("col")
            return [f'{cell_frame}["{col}"] = {cell_frame}["x"] * {self.const()} + {other}["y"].mean()']
        if r < 0.40:
            return [f'{cell_frame} = {cell_frame}[{cell_frame}["x"] > {cell_frame}["x"].quantile(0.1)]']
        if r < 0.50:
            name = self.fresh("stat")
            self.scalars.append(name)
            return [f'{name} = {cell_frame}["x"].sum() / max(len({other}), 1)']
        if r < 0.57:
            name = self.fresh("arr")
            scalar = self.rng.choice(self.scalars) if self.scalars else "2.0"
            self.scalars.append(name)
            return [f'{name} = float(np.asarray({cell_frame}["y"]).mean() * {scalar})']
        if r < 0.64:
            return [f'print(f"rows: {{len({cell_frame})}}, mean x: {{{cell_frame}[\'x\'].mean():.3f}}")']
        if r < 0.72:
            return [f'{cell_frame} = {cell_frame}.merge({other}[["key", "y"]], on="key", how="left", '
                    f'suffixes=("", "_r")).drop(columns=["y_r"])']
        if r < 0.80 and self.helpers:
            helper = self.rng.choice(self.helpers)
            name = self.fresh("summary")
            self.scalars.append(name)
            return [f"{name} = {helper}({cell_frame})"]
        if r < 0.86:
            return ['for column in ["x", "y"]:',
                    f"    {cell_frame}[column] = {cell_frame}[column].fillna(0)"]
        if r < 0.92:
            return [f'{cell_frame}.sort_values("x", inplace=True)']
        name = self.fresh("grouped")
        self.frames.append(name)
        return [f'{name} = {cell_frame}.groupby("key", as_index=False)[["x", "y"]].mean()']

    def code_cell(self, lines: int) -> str:
        kind = self.rng.random()
        if kind < 0.12:
            name = self.fresh("summarise")
            self.helpers.append(name)
            body = [f"def {name}(frame, factor=2):",
                    f'    """Summary {self.n} of a frame."""',
                    "    out = frame.copy()",
                    f'    out["z"] = out["x"] * factor * {self.const()}',
                    '    return float(out["z"].mean())']
            return "\n".join(body)
        if kind < 0.22:
            src = self.frame()
            return "\n".join([
                "fig, ax = plt.subplots(figsize=(6, 4))",
                f'ax.plot({src}["x"], {src}["y"], marker="o")',
                f'ax.set_title("x against y ({src})")',
                'ax.set_xlabel("x")',
                "plt.show()",
            ])
        source = self.frame()
        name = self.fresh("df")
        out = [f"{name} = {source}.copy()"]
        while len(out) < lines - 1:
            out.extend(self.statement(name))
        self.frames.append(name)
        out.append(f"{name}.head()" if self.rng.random() < 0.5 else f"{name}.describe()")
        return "\n".join(out)


def make_notebook(path: Path, *, cells: int | None = None, lines: int | None = None, seed: int = 0,
                  heading_rate: float = 0.3) -> tuple[int, int]:
    """Write a synthetic notebook of ``cells`` code cells or about ``lines`` lines; returns (cells, lines).

    ``heading_rate``: the chance of a markdown heading before a code cell (each heading starts
    a section, and a section becomes one step; 0 makes one long section after "Load").
    """
    import nbformat

    w = _Writer(seed)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    new_md, new_code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb.cells.append(new_md("# Synthetic analysis\n\nGenerated by bench_convert.py."))
    nb.cells.append(new_code("import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt"))
    nb.cells.append(new_md("## Load"))
    nb.cells.append(new_code('df_0 = pd.DataFrame({"key": np.arange(200) % 7, "x": np.linspace(0.0, 1.0, 200),\n'
                             '                     "y": np.arange(200.0)})\ndf_0.head()'))
    n_cells, n_lines = 2, 5
    while (cells is not None and n_cells < cells) or (lines is not None and n_lines < lines):
        if w.rng.random() < heading_rate:
            nb.cells.append(new_md(f"## Section {n_cells}\n\nWhat this part of the analysis does."))
        text = w.code_cell(w.rng.randint(5, 20))
        nb.cells.append(new_code(text))
        n_cells += 1
        n_lines += text.count("\n") + 1
    nbformat.write(nb, path)
    return n_cells, n_lines


# --------------------------------------------------------------------------
# timing


def _convert_in_process(notebook: Path, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one conversion in this process."""
    from distill.convert.project import convert

    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    convert(notebook, out)
    return time.perf_counter() - t0, time.process_time() - c0


def _convert_cli(notebook: Path, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds (of the child process) of one `python -m distill convert`."""
    out = work / "out-cli"
    shutil.rmtree(out, ignore_errors=True)
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "distill", "convert", str(notebook), "-o", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    elapsed = time.perf_counter() - t0
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout.decode(errors="replace")[-500:])
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return elapsed, cpu


def _median(fn, notebook: Path, work: Path, repeats: int) -> tuple[float, float, float, int]:
    """Median wall, best wall and median CPU seconds of up to ``repeats`` runs, and the number of runs."""
    runs: list[tuple[float, float]] = []
    started = time.perf_counter()
    for _ in range(repeats):
        runs.append(fn(notebook, work))
        if time.perf_counter() - started > BUDGET:
            break
    walls = [r[0] for r in runs]
    return statistics.median(walls), min(walls), statistics.median(r[1] for r in runs), len(runs)


def run_series(series: str, sizes: list[int], repeats: int, cli: bool,
               work: Path) -> list[tuple[list[str], tuple[float, float]]]:
    """One row per size, with the in-process median and best wall seconds (for the target)."""
    rows: list[tuple[list[str], tuple[float, float]]] = []
    previous: dict[str, tuple[float, float]] = {}
    for size in sizes:
        nb = work / f"nb_{series}_{size}.ipynb"
        kwargs = {"lines": size} if series == "lines" else {"cells": size}
        n_cells, n_lines = make_notebook(nb, **kwargs)
        row = [f"{size:,} {series}", str(n_cells), f"{n_lines:,}"]
        modes = [("in-process", _convert_in_process)] + ([("cli", _convert_cli)] if cli else [])
        wall_in_process = (0.0, 0.0)
        for mode, fn in modes:
            wall, best, cpu, runs = _median(fn, nb, work, repeats)
            if mode == "in-process":
                wall_in_process = (wall, best)
            if mode in previous:
                ratios = [fmt_num(wall / previous[mode][0]), fmt_num(cpu / previous[mode][1])]
            else:
                ratios = ["-", "-"]
            previous[mode] = (wall, cpu)
            row += [fmt_num(wall), fmt_num(best), fmt_num(cpu), str(runs), *ratios]
        rows.append((row, wall_in_process))
        print(f"  {series}={size}: " + " ".join(row[3:]), file=sys.stderr)
    return rows


def profile(lines: int, work: Path, top: int = 35) -> None:
    import cProfile
    import pstats

    nb = work / f"nb_profile_{lines}.ipynb"
    make_notebook(nb, lines=lines)
    _convert_in_process(nb, work)  # imports and first-call costs out of the profile
    profiler = cProfile.Profile()
    profiler.enable()
    _convert_in_process(nb, work)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", default="lines,cells", help="comma-separated: lines, cells")
    ap.add_argument("--sizes", default=None, help="comma-separated sizes for every series (default: per series)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time `python -m distill convert` as a subprocess")
    ap.add_argument("--profile", type=int, default=None, metavar="LINES",
                    help="print a cProfile of one in-process conversion of a LINES-line notebook and exit")
    ap.add_argument("--keep", action="store_true", help="keep the generated notebooks and projects")
    args = ap.parse_args(argv)

    header("bench_convert: distill convert on synthetic notebooks of growing size")
    import distill.convert.project  # noqa: F401  (imports out of the in-process figures)

    work = Path(tempfile.mkdtemp(prefix="bench_convert."))
    try:
        if args.profile:
            profile(args.profile, work)
            return 0
        target_met, target_text = None, ""
        for series in args.series.split(","):
            sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SERIES[series]
            rows = run_series(series, sizes, args.repeats, args.cli, work)
            headers = ["size", "cells", "lines", "in-process wall s", "best", "cpu s", "runs", "x wall", "x cpu"]
            if args.cli:
                headers += ["cli wall s", "best", "cpu s", "runs", "x wall", "x cpu"]
            print_table(f"series {series}: median seconds; x = ratio to the previous (half) size, ~2 is linear",
                        headers, [row for row, _ in rows])
            for size, (_, (wall, best)) in zip(sizes, rows, strict=True):
                if series == "cells" and size == TARGET_CELLS:
                    target_met = wall <= TARGET_SECONDS
                    target_text = f"median {fmt_num(wall)} s, best {fmt_num(best)} s"
        if target_met is not None:
            print(f"\ntarget: {TARGET_CELLS} cells in <= {TARGET_SECONDS} s in one process (median wall): "
                  f"{'met' if target_met else 'NOT met'} ({target_text})")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
