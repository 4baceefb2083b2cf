"""Frozen records of a notebook as read from disk (no analysis here).

Responsibilities:
- ``Output``: what lint needs of a saved output (type, error name, size);
- ``Cell``: one cell's kind, source, execution count, outputs, tags and where its source
  starts in the ``.ipynb`` file;
- ``Notebook``: the cells, the kernel language and the version the file was written in.

Cells are numbered from 1 over all cells, markdown included: ``Cell.number`` is the cell's
position in the file's ``cells`` array plus one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CellKind = Literal["code", "markdown", "raw"]


@dataclass(frozen=True, slots=True)
class Output:
    """A saved output of a code cell.

    Attributes:
        output_type: ``stream``, ``display_data``, ``execute_result`` or ``error``.
        size: characters of text and encoded data it holds (images included).
        ename: for errors, the exception's class name.
        evalue: for errors, its message (first 200 characters).
    """

    output_type: str
    size: int
    ename: str | None = None
    evalue: str | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell.

    Attributes:
        number: 1-based position among all cells.
        kind: ``code``, ``markdown`` or ``raw``.
        source: the text, lines joined with ``\\n``.
        execution_count: the saved ``[n]``, or ``None`` when never executed.
        outputs: saved outputs (code cells only).
        tags: ``metadata.tags`` (e.g. ``parameters``).
        cell_id: the nbformat 4.5 cell id, when present.
        file_line: line of the file where the first source line is written, when found.
        lines_in_file: whether each source line is on its own line of the file (the usual
            list-of-strings layout), so that line ``k`` of the cell is ``file_line + k - 1``.
    """

    number: int
    kind: CellKind
    source: str
    execution_count: int | None = None
    outputs: tuple[Output, ...] = ()
    tags: tuple[str, ...] = ()
    cell_id: str | None = None
    file_line: int | None = None
    lines_in_file: bool = False

    def file_line_of(self, line: int | None) -> int | None:
        """The line of the ``.ipynb`` file holding line ``line`` of this cell, if known."""
        if self.file_line is None:
            return None
        if line is None or not self.lines_in_file:
            return self.file_line
        return self.file_line + line - 1


@dataclass(frozen=True, slots=True)
class Notebook:
    """A notebook, upgraded to nbformat 4 and validated.

    Attributes:
        path: the file.
        cells: every cell, in document order.
        language: kernel language in lower case (``python``, ``r``, ``julia``...).
        kernel: the kernelspec name, when present.
        version: ``(major, minor)`` as written in the file, before any upgrade.
    """

    path: Path
    cells: tuple[Cell, ...]
    language: str
    kernel: str | None
    version: tuple[int, int]

    @property
    def code_cells(self) -> tuple[Cell, ...]:
        return tuple(cell for cell in self.cells if cell.kind == "code")

    @property
    def is_python(self) -> bool:
        return self.language in PYTHON_LANGUAGES


PYTHON_LANGUAGES = frozenset({"python", "python3", "python2", "ipython", "ipython3", "pyspark"})
