"""``distill lint`` and ``distill convert`` never crash on odd input.

Two parts:
- regressions: each hole the fuzzing found, as a small notebook with the answer it must get;
- the seeded fuzz: mutated notebooks (strategies in ``fuzz_notebooks.py``) fed to
  ``distill lint``, ``distill lint --format sarif`` and ``distill convert`` in-process. Every
  run must end with a documented exit code, without a traceback, within the time limit;
  a non-zero exit prints exactly one ``Error:`` (lint: a DL000 finding per unreadable file).

``DISTILL_FUZZ_EXAMPLES`` sets the examples per target (default 200, a fixed seed);
``benchmarks/fuzz_lint_convert.py`` runs the long version and prints its figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from distill.analysis.cells import analyze_cell, parse
from distill.cli.main import cli
from distill.notebook.read import NotebookError, read_notebook


def notebook(*sources: str, **top: object) -> dict[str, object]:
    """A v4 notebook of code cells; ``top`` replaces top-level keys."""
    data: dict[str, object] = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                   "source": source} for i, source in enumerate(sources)],
        "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    data.update(top)
    return data


def write(tmp_path: Path, data: object, name: str = "nb.ipynb") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def errors(text: str) -> int:
    """How many ``Error:`` lines ``text`` holds."""
    return sum(line.startswith("Error:") for line in text.splitlines())


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: exit code, stdout, stderr; any exception but SystemExit fails the test."""
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# -- deep but valid Python ------------------------------------------------------------------

DEEP_VALID = {
    "sum-330-terms": "x = " + " + ".join(["1"] * 330),
    "method-chain-200": "class A:\n    def b(self):\n        return self\n\n\na = A()\ny = a" + ".b()" * 200,
    "elif-ladder-250": "x = 3\nif x == 0:\n    y = 0\n" + "".join(f"elif x == {i}:\n    y = {i}\n" for i in range(1, 250)),
    "sum-2500-names": "total = " + " + ".join(["a"] * 2500),
}


@pytest.mark.parametrize("code", DEEP_VALID.values(), ids=DEEP_VALID.keys())
def test_deep_valid_cell_is_analysed(code: str) -> None:
    analysis = analyze_cell(code, 1)
    assert analysis.syntax_error is None
    assert analysis.defs


@pytest.mark.parametrize("code", [c for k, c in DEEP_VALID.items() if k != "sum-2500-names"],
                         ids=[k for k in DEEP_VALID if k != "sum-2500-names"])
def test_deep_valid_python_lints_and_converts(tmp_path: Path, code: str) -> None:
    cells = (code, "print(y)" if "y =" in code else "print(x)")
    path = write(tmp_path, notebook(*cells))
    for args in (("lint", str(path)), ("lint", "--format", "sarif", str(path))):
        code_, out, _ = invoke(*args)
        assert code_ == 0, out
    exit_code, out, err = invoke("convert", str(path), "-o", str(tmp_path / "out"))
    assert exit_code == 0, err
    assert (tmp_path / "out" / "src" / "nb" / "pipeline.py").is_file()


TOO_DEEP = {
    "parentheses-2000": "x = " + "(" * 2000 + "1" + ")" * 2000,  # SyntaxError: too many nested parentheses
    "sum-20000-terms": "x = " + "+".join(["1"] * 20000),  # RecursionError while building the AST
    "minus-20000": "x = " + "-" * 20000 + "1",  # MemoryError: the parser's stack overflows
}


@pytest.mark.parametrize("code", TOO_DEEP.values(), ids=TOO_DEEP.keys())
def test_cell_python_cannot_parse_is_a_syntax_error(tmp_path: Path, code: str) -> None:
    with pytest.raises(SyntaxError):
        parse(code)
    assert analyze_cell(code, 2).syntax_error is not None
    path = write(tmp_path, notebook("a = 1", code))
    exit_code, out, _ = invoke("lint", "--format", "json", str(path))
    assert exit_code == 1
    findings = json.loads(out)["files"][0]["findings"]
    assert [(f["code"], f["cell"]) for f in findings if f["code"] == "DL002"] == [("DL002", 2)]
    exit_code, _, err = invoke("convert", str(path), "-o", str(tmp_path / "out"))
    assert exit_code == 2
    assert errors(err) == 1 and "cell 2" in err
    assert not (tmp_path / "out").exists()


# -- malformed notebooks --------------------------------------------------------------------

MALFORMED = {
    "cell-type-number": notebook("x = 1") | {"cells": [{"cell_type": 5, "metadata": {}, "source": "x"}]},
    "minor-version-text": notebook("x = 1", nbformat_minor="x"),
    "cells-object": notebook(cells={}),
    "source-number": notebook("x = 1") | {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                                                     "outputs": [], "source": 5}]},
    "metadata-text": notebook("x = 1", metadata="python"),
    "outputs-garbage": notebook("x = 1") | {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                                                       "outputs": [1, "a", None], "source": "x"}]},
    "deep-json": '{"nbformat": 4, "nbformat_minor": 5, "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "v3-worksheets-text": {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": "cells"},
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_notebook_is_one_clear_error(tmp_path: Path, data: object) -> None:
    path = write(tmp_path, data)
    with pytest.raises(NotebookError) as info:
        read_notebook(path)
    assert str(path) in str(info.value) and info.value.reason
    exit_code, out, _ = invoke("lint", "--format", "json", str(path))
    assert exit_code == 2
    report = json.loads(out)["files"][0]
    assert report["status"] == "unreadable"
    exit_code, out, err = invoke("convert", str(path), "-o", str(tmp_path / "out"))
    assert exit_code == 2 and errors(err) == 1, err
    assert not (tmp_path / "out").exists()


# -- %%sql ----------------------------------------------------------------------------------

def test_sql_cell_with_a_connection_url_converts(tmp_path: Path) -> None:
    path = write(tmp_path, notebook("%load_ext sql", "%%sql postgresql://user@host/db\nSELECT 1"))
    exit_code, _, err = invoke("convert", str(path), "-o", str(tmp_path / "out"))
    assert exit_code == 0, err
    queries = list((tmp_path / "out" / "queries").glob("*.sql"))
    assert len(queries) == 1 and "SELECT 1" in queries[0].read_text()


def test_sql_cell_with_only_a_connection_is_refused_cleanly(tmp_path: Path) -> None:
    path = write(tmp_path, notebook("%load_ext sql", "%%sql postgresql://user@host/db"))
    exit_code, _, err = invoke("convert", str(path), "-o", str(tmp_path / "out"))
    assert exit_code == 2 and errors(err) == 1, err
    assert not (tmp_path / "out").exists()
