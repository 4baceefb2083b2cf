"""Small notebooks written on the fly for lint tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from distill.lint.engine import LintConfig, lint_file, load_config
from distill.lint.model import FileReport


def write_notebook(
    path: Path,
    cells: Sequence[str | tuple[str, str]],
    *,
    counts: Sequence[int | None] | None = None,
    outputs: dict[int, list[dict[str, Any]]] | None = None,
    language: str = "python",
) -> Path:
    """Write a v4 notebook. A cell is code, or ``("md", text)`` for markdown.

    ``counts`` and ``outputs`` are indexed like ``cells`` (0-based); cell numbers in findings
    are 1-based over all cells.
    """
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3" if language == "python" else language,
                                       "language": language, "display_name": language}
    for index, cell in enumerate(cells):
        if isinstance(cell, tuple):
            notebook.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
            continue
        code = nbformat.v4.new_code_cell(cell)
        if counts is not None:
            code.execution_count = counts[index]
        if outputs and index in outputs:
            code.outputs = [nbformat.from_dict(o) for o in outputs[index]]
        notebook.cells.append(code)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


@dataclass(frozen=True)
class Case:
    """Cells in, findings out: ``{(code, cell, line)}`` for the selected codes."""

    id: str
    cells: list[str | tuple[str, str]]
    expected: set[tuple[str, int | None, int | None]]
    select: tuple[str, ...]
    counts: list[int | None] | None = None
    files: dict[str, str] = field(default_factory=dict)
    outputs: dict[int, list[dict[str, Any]]] | None = None


def run_case(tmp_path: Path, case: Case) -> FileReport:
    for name, text in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = write_notebook(tmp_path / "nb.ipynb", case.cells, counts=case.counts, outputs=case.outputs)
    config = load_config(tmp_path, select=case.select)
    return lint_file(path, config)


def found(report: FileReport) -> set[tuple[str, int | None, int | None]]:
    return {(f.code, f.cell, f.line) for f in report.findings}


def lint_cells(tmp_path: Path, cells: list[str | tuple[str, str]], config: LintConfig | None = None,
               **kwargs: Any) -> FileReport:
    path = write_notebook(tmp_path / "nb.ipynb", cells, **kwargs)
    return lint_file(path, config or load_config(tmp_path))
