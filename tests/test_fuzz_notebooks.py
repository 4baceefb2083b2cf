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

import ast
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from distill.analysis import source as source_module
from distill.analysis.cells import analyze_cell, parse
from distill.cli.main import cli
from distill.notebook.read import NotebookError, read_notebook
from fuzz_notebooks import (
    CORPUS,
    TARGETS,
    TIME_LIMIT,
    corpus_files,
    corpus_paths,
    fresh_recursion_limit,
    notebook_files,
    run,
    warm_up,
)


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
    """Run the CLI in-process: exit code, stdout, stderr; any exception but SystemExit fails the test.

    The run gets the recursion limit of a command-line run (see ``fresh_recursion_limit``).
    """
    with fresh_recursion_limit():
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


# NB: found by the fuzzing: a command-line run (recursion limit 1,000) died of each. `run` gives
# the in-process run that same limit.
OUTSIDE = [
    pytest.param("a" + ".b" * 330 + " = 1", id="assignment-target-330"),
    pytest.param("x = 3\nif x == 0:\n    y = 0\n" + "".join(f"elif x == {i}:\n    y = {i}\n" for i in range(1, 1200)),
                 id="elif-ladder-1200"),
    pytest.param(" + ".join(["a"] * 1200), id="displayed-sum-1200"),
]


@pytest.mark.parametrize("code", OUTSIDE)
def test_deep_cells_convert(code: str) -> None:
    outcome = run("convert", json.dumps(notebook("a = b = 1", code, "print(a)")).encode())
    assert outcome.kind == "ok", outcome.problem


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
    "cell-id-list": notebook("x = 1") | {"cells": [{"cell_type": "code", "id": [], "execution_count": None,
                                                    "metadata": {}, "outputs": [], "source": "x"}]},
    # NB: valid JSON, not Unicode: printing the language crashed `lint` (text and SARIF)
    "lone-surrogate": notebook("x = 1", metadata={"kernelspec": {"name": "k", "language": "\ud800"}}),
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


# -- the seeded fuzz ------------------------------------------------------------------------

EXAMPLES = int(os.environ.get("DISTILL_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=timedelta(seconds=TIME_LIMIT),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


warm_up()


def _check(target: str, data: bytes) -> None:
    outcome = run(target, data)
    assert outcome.problem is None, f"{target}: {outcome.kind}: {outcome.problem}"


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_generated_notebooks(target: str) -> None:
    @FUZZ
    @given(notebook_files(target))
    def check(data: bytes) -> None:
        _check(target, data)

    check()


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_corpus_notebooks(target: str) -> None:
    if not corpus_paths():
        pytest.skip(f"no notebook corpus at {CORPUS}: the seeds from real notebooks are not fuzzed")

    @settings(FUZZ, max_examples=max(1, EXAMPLES // 4))
    @given(corpus_files())
    def check(data: bytes) -> None:
        _check(target, data)

    check()


# -- analysis of modules and the lint engine --------------------------------------------------

def test_dump_without_recursion_is_ast_dump() -> None:
    """Definition hashes come from ``_dump`` when ``ast.dump`` runs out of stack: the same text."""
    sources = [Path(module.__file__).read_text() for module in (ast, json, os)]
    sources += list(DEEP_VALID.values())
    for source in sources:
        tree = ast.parse(source)
        for node in [tree, *tree.body]:
            try:
                expected = ast.dump(node, annotate_fields=False, include_attributes=False)
            except RecursionError:
                continue  # NB: what `_dump` is for
            assert source_module._dump(node) == expected


def test_deep_pipeline_module_is_analysed() -> None:
    steps = "from distill import step\n\n@step\ndef s(a: int = 1) -> int:\n    x = 0\n"
    ladder = "".join(f"    {'if' if i == 0 else 'elif'} a == {i}:\n        x = {i}\n" for i in range(1500))
    info = source_module.analyze_module(steps + ladder + "    return x\n", "m", "m.py")
    assert [s.name for s in info.steps] == ["s"] and not info.problems
    info = source_module.analyze_module("x = " + "+".join(["1"] * 20_000) + "\n", "m", "m.py")
    assert [p.code for p in info.problems] == ["syntax"] and "nested too deeply" in info.problems[0].message


def test_lint_reports_a_notebook_it_cannot_analyse_and_goes_on(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from distill.lint import engine

    real = engine.analyze_notebook

    def analyze(nb: Any) -> Any:
        if nb.path.name == "bad.ipynb":
            raise RecursionError("maximum recursion depth exceeded")
        return real(nb)

    monkeypatch.setattr(engine, "analyze_notebook", analyze)
    write(tmp_path, notebook("x = 1"), "bad.ipynb")
    write(tmp_path, notebook("import random\nrandom.random()"), "good.ipynb")
    exit_code, out, _ = invoke("lint", "--format", "json", str(tmp_path))
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert exit_code == 2
    assert files["bad.ipynb"]["status"] == "unreadable" and "too deeply nested" in files["bad.ipynb"]["error"]
    assert files["good.ipynb"]["status"] == "analysed"
