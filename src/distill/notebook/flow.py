"""A whole notebook's data flow, in document order and in the order its cells were executed.

Responsibilities:
- ``analyze_notebook(notebook) -> NotebookAnalysis``: every code cell rewritten to Python
  (``magics.to_python``) and analysed (``analysis.cells.analyze_cell``);
- the import alias table (``np`` → ``numpy``) used to read call names canonically;
- who defines what: the cells binding each name, in document order;
- data flow edges in document order (which earlier cell provides each name a cell reads) and,
  for executed cells, in saved execution order, so rules can tell "works only because a cell
  below ran first" from "works top to bottom";
- names that come from somewhere the analysis cannot see (``import *``, ``%run``, ``exec``…).

Pure: no kernel, no file access besides what ``Notebook`` already holds.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from ..analysis.cells import CellAnalysis, analyze_cell
from .magics import PythonSource, to_python
from .model import Cell, Notebook

#: Names every IPython kernel provides without a cell defining them.
IPYTHON_NAMES = frozenset({
    "get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii",
    "_oh", "_ih", "_dh", "__IPYTHON__", "__name__", "__doc__", "__builtins__", "__spec__",
    "__loader__", "__package__", "__builtin__",
    # NB: automagic: a bare `ls` or `whos` line runs the magic of that name
    "ls", "pwd", "cd", "clear", "who", "whos", "history", "lsmagic", "quickref", "ll", "lf", "ldir", "lk", "lx",
    "dhist", "dirs", "popd", "pushd", "pprint", "precision", "reset", "tb", "xmode", "automagic", "page", "rehashx",
    "colors", "doctest_mode", "man", "less", "more", "cat", "mkdir", "rm", "rmdir", "cp", "mv", "env", "magic",
})
BUILTIN_NAMES = frozenset(dir(builtins)) | IPYTHON_NAMES

#: ``_5`` and ``_i5``: the output and input history of execution 5, which a fresh kernel lacks.
HISTORY_NAME = re.compile(r"^_i?\d+$|^_i{1,3}\d*$")

#: Magics after which names can exist that no cell visibly binds.
OPAQUE_LINE_MAGICS = frozenset({"run", "pylab", "load", "store", "R", "Rpull", "Rget", "julia", "octave", "macro", "recall", "rerun"})
OPAQUE_CELL_MAGICS = frozenset({"cython", "R", "julia", "octave", "fortran", "run"})
OPAQUE_CALLS = frozenset({"exec", "eval", "globals", "locals", "vars", "execfile", "runpy.run_path"})


@dataclass(frozen=True, slots=True)
class AnalysedCell:
    """A code cell with its Python rewrite and its analysis."""

    cell: Cell
    python: PythonSource
    analysis: CellAnalysis

    @property
    def number(self) -> int:
        return self.cell.number


@dataclass(frozen=True, slots=True)
class Edge:
    """``target`` reads ``name`` from ``source`` (``None``: nothing above provides it)."""

    name: str
    source: int | None
    target: int
    line: int


@dataclass(frozen=True)
class NotebookAnalysis:
    """Everything the rules need about one notebook."""

    notebook: Notebook
    cells: tuple[AnalysedCell, ...]

    @cached_property
    def by_number(self) -> dict[int, AnalysedCell]:
        return {cell.number: cell for cell in self.cells}

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Bound name → what it refers to: ``np`` → ``numpy``, ``tts`` → ``sklearn...train_test_split``."""
        return alias_table(cell.analysis for cell in self.cells)

    def canonical(self, dotted: str) -> str:
        """``np.random.rand`` → ``numpy.random.rand`` using the notebook's imports."""
        return canonical_name(self.aliases, dotted)

    @cached_property
    def definers(self) -> dict[str, tuple[int, ...]]:
        """Name → cells binding it at top level, in document order."""
        table: dict[str, list[int]] = {}
        for cell in self.cells:
            for name in cell.analysis.defs:
                table.setdefault(name, []).append(cell.number)
        return {name: tuple(cells) for name, cells in table.items()}

    @cached_property
    def opaque_from(self) -> int | None:
        """The first cell after which names may exist that no cell visibly binds."""
        for cell in self.cells:
            a = cell.analysis
            if any(imp.star and not imp.deferred for imp in a.imports):
                return cell.number
            if any((m.kind == "line" and m.name in OPAQUE_LINE_MAGICS) or (m.kind == "cell" and m.name in OPAQUE_CELL_MAGICS)
                   for m in a.magics):
                return cell.number
            if any(call.name in OPAQUE_CALLS and not call.deferred for call in a.calls):
                return cell.number
        return None

    @cached_property
    def document_flow(self) -> tuple[Edge, ...]:
        """For each name a cell reads, the nearest cell above that binds it."""
        return _flow(self.cells)

    @cached_property
    def executed(self) -> tuple[AnalysedCell, ...]:
        """Cells with a saved execution count, in the order they ran."""
        ran = [cell for cell in self.cells if cell.cell.execution_count is not None]
        return tuple(sorted(ran, key=lambda cell: cell.cell.execution_count or 0))

    @cached_property
    def execution_flow(self) -> tuple[Edge, ...]:
        """Like ``document_flow`` but replaying the saved execution order."""
        return _flow(self.executed)


def alias_table(analyses: Iterable[CellAnalysis]) -> dict[str, str]:
    """Import-bound names → what they refer to, first binding wins, relative imports left out."""
    table: dict[str, str] = {}
    for analysis in analyses:
        for imp in analysis.imports:
            if imp.bound and not imp.level:
                table.setdefault(imp.bound, imp.target if imp.name or imp.bound != imp.top else imp.top)
    return table


def canonical_name(aliases: dict[str, str], dotted: str) -> str:
    """``np.random.rand`` → ``numpy.random.rand`` given ``{"np": "numpy"}``."""
    head, _, rest = dotted.partition(".")
    target = aliases.get(head)
    if target is None:
        return dotted
    return f"{target}.{rest}" if rest else target


def _flow(cells: tuple[AnalysedCell, ...]) -> tuple[Edge, ...]:
    """Replay ``cells`` in the order given: each read comes from the latest cell that bound the name."""
    latest: dict[str, int] = {}
    edges: list[Edge] = []
    for cell in cells:
        for use in cell.analysis.uses:
            edges.append(Edge(use.name, latest.get(use.name), cell.number, use.line))
        for name in cell.analysis.defs:
            latest[name] = cell.number
    return tuple(edges)


def analyze_notebook(notebook: Notebook) -> NotebookAnalysis:
    """Rewrite and analyse every code cell of ``notebook``.

    Example:
        >>> analysis = analyze_notebook(read_notebook("eda.ipynb"))  # doctest: +SKIP
        >>> analysis.definers["df"]  # doctest: +SKIP
        (3, 7)
    """
    cells = []
    for cell in notebook.code_cells:
        python = to_python(cell.source)
        cells.append(AnalysedCell(cell, python, analyze_cell(python.code, cell.number, tree=python.tree)))
    return NotebookAnalysis(notebook, tuple(cells))


def is_provided(name: str) -> bool:
    """Names a fresh kernel has without any cell: builtins and IPython's own."""
    return name in BUILTIN_NAMES
