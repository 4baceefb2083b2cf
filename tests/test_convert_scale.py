"""``distill convert`` does work close to linear in the size of the notebook.

Timed tests are not allowed here (wall time depends on the machine and its load), so the
work is counted: every Python function call and every call of a builtin made while the
project is built (``sys.setprofile``), by function. A notebook four times larger must cost
at most about five times the calls, in total and in each function called often; a pass over
every statement for each statement (the quadratic pattern this guards against) makes its
count grow sixteenfold.
Wall-clock figures are in ``benchmarks/bench_convert.py``.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from pathlib import Path

from distill.convert.project import build_project
from test_convert_golden import write_notebook

#: The largest growth of the call count allowed when the notebook grows fourfold.
MAX_GROWTH = 5.0
#: The same for the calls of one function (``n log n`` sorting is about 4.6x) ...
MAX_FUNCTION_GROWTH = 6.0
#: ... among the functions called at least this often for the larger notebook.
MIN_CALLS = 1000


def synthetic_cells(n_cells: int) -> tuple[str | tuple[str, str], ...]:
    """A notebook of ``n_cells`` code cells shaped like an analysis: headings, data flowing on.

    Each cell copies the last frame, reads constants and an older frame, adds columns, prints
    and displays; every fourth cell is a helper reading a notebook constant, every seventh a
    figure; a heading every third cell. Deterministic.
    """
    cells: list[str | tuple[str, str]] = [
        ("md", "# Synthetic analysis"),
        "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt",
        'df_0 = pd.DataFrame({"key": np.arange(50) % 7, "x": np.linspace(0.0, 1.0, 50), "y": np.arange(50.0)})',
    ]
    frames = ["df_0"]
    helpers: list[str] = []
    for i in range(1, n_cells):
        if i % 3 == 0:
            cells.append(("md", f"## Part {i}\n\nWhat this part does."))
        if i % 4 == 0:
            helpers.append(f"summarise_{i}")
            cells.append(f"LIMIT_{i} = {i % 5 + 1}\n\n\ndef summarise_{i}(frame):\n"
                         f'    out = frame.copy()\n    out["z"] = out["x"] * LIMIT_{i}\n    return float(out["z"].mean())')
            continue
        if i % 7 == 0:
            cells.append(f'fig, ax = plt.subplots()\nax.plot({frames[-1]}["x"], {frames[-1]}["y"])\n'
                         f'ax.set_title("cell {i}")\nplt.show()')
            continue
        frame, source, other = f"df_{i}", frames[-1], frames[len(frames) // 2]
        lines = [
            f"SCALE_{i} = {i % 3 + 2}",
            f"{frame} = {source}.copy()",
            f'{frame}["a_{i}"] = {frame}["x"] * SCALE_{i} + {other}["y"].mean()',
            f'{frame} = {frame}[{frame}["x"] > {frame}["x"].quantile(0.1)]',
            f'stat_{i} = {frame}["x"].sum() / max(len({other}), 1)',
            f'{frame} = {frame}.merge({other}[["key", "y"]], on="key", how="left", suffixes=("", "_r"))',
            f'print(f"rows: {{len({frame})}}")',
        ]
        if helpers:
            lines.append(f"summary_{i} = {helpers[-1]}({frame})")
        lines.append(f"{frame}.head()")
        cells.append("\n".join(lines))
        frames.append(frame)
    return tuple(cells)


def count_calls(path: Path) -> Counter[tuple[str, int, str]]:
    """Calls made while building the project of ``path``, by function.

    A Python function is ``(file, first line, name)``; a builtin is counted under the function
    calling it, ``(file, first line, "caller -> builtin")``.
    """
    calls: Counter[tuple[str, int, str]] = Counter()

    def profile(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call":
            code = frame.f_code
            calls[(code.co_filename, code.co_firstlineno, code.co_qualname)] += 1
        elif event == "c_call":
            code = frame.f_code
            callee = getattr(arg, "__qualname__", "?")
            calls[(code.co_filename, code.co_firstlineno, f"{code.co_qualname} -> {callee}")] += 1

    sys.setprofile(profile)
    try:
        build_project(path, "nb")
    finally:
        sys.setprofile(None)
    return calls


def test_convert_work_grows_linearly(tmp_path: Path) -> None:
    small, large = tmp_path / "small.ipynb", tmp_path / "large.ipynb"
    write_notebook(small, synthetic_cells(30))
    write_notebook(large, synthetic_cells(120))
    build_project(small, "nb")  # first-call costs (imports, memo tables) out of the count
    calls_small, calls_large = count_calls(small), count_calls(large)
    total_small, total_large = sum(calls_small.values()), sum(calls_large.values())
    assert total_large / total_small <= MAX_GROWTH, (
        f"4x the cells cost {total_large / total_small:.1f}x the calls ({total_small:,} -> {total_large:,})")
    # NB: a quadratic pass can be a small part of the total at these sizes; by function it shows:
    #     a scan of every later statement per written name grew 19x here, the rest about 4x
    grown = sorted(((calls_large[key] / max(calls_small[key], 1), key) for key, n in calls_large.items()
                    if n >= MIN_CALLS), reverse=True)
    worst = [f"{Path(file).name}:{line} {name} {ratio:.1f}x ({calls_large[(file, line, name)]:,} calls)"
             for ratio, (file, line, name) in grown[:5] if ratio > MAX_FUNCTION_GROWTH]
    assert not worst, "calls growing faster than the notebook (4x): " + "; ".join(worst)


def test_two_hundred_cells_convert(tmp_path: Path) -> None:
    notebook = tmp_path / "big.ipynb"
    write_notebook(notebook, synthetic_cells(200))
    files, plan, _ = build_project(notebook, "nb")
    assert len(plan.steps) > 50
    assert "src/nb/pipeline.py" in files
