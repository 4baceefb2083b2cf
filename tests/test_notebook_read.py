"""Reading notebooks: one clear error per kind of bad file; upgrades; IPython syntax line for line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.analysis.cells import analyze_cell
from distill.notebook.magics import to_python
from distill.notebook.read import NotebookError, read_notebook

V4 = {"cells": [{"cell_type": "code", "execution_count": 1, "id": "a1", "metadata": {"tags": ["parameters"]},
                 "outputs": [], "source": ["x = 1\n", "y = 2"]}],
      "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
      "nbformat": 4, "nbformat_minor": 5}


def write(tmp_path: Path, content: bytes | str, name: str = "nb.ipynb") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


BAD = [
    ("empty", b"", r"is empty \(0 bytes\)"),
    ("whitespace", b"  \n", r"is empty"),
    ("utf16", json.dumps(V4).encode("utf-16"), r"is encoded as UTF-16; notebooks are UTF-8 JSON"),
    ("latin1", b'{"nbformat": 4, "x": "caf\xe9"}', r"is not valid UTF-8: byte 0xe9 at line 1"),
    ("trailing-comma", b'{\n "nbformat": 4,\n}\n', r"is not valid JSON: a trailing comma before the closing '}' at line 2, column 15: \"nbformat\": 4,"),
    ("merge-conflict", b'{\n<<<<<<< HEAD\n "nbformat": 4\n}', r"is not valid JSON: .* at line 2, column 1: <<<<<<< HEAD"),
    ("list", b"[1, 2]", r"the top level is a list, expected an object"),
    ("no-nbformat", json.dumps({"cells": []}).encode(), r"has no 'nbformat' key"),
    ("unknown-version", json.dumps({"nbformat": 7, "cells": []}).encode(), r"has nbformat 7; known versions are 1 to 4"),
    ("schema", json.dumps({**V4, "cells": [{"cell_type": "code", "metadata": {}, "outputs": []}]}).encode(),
     r"fails the nbformat schema: at cells\[0\]"),
]


@pytest.mark.parametrize(("content", "pattern"), [(c, p) for _, c, p in BAD], ids=[i for i, _, _ in BAD])
def test_bad_files_get_one_clear_error(tmp_path: Path, content: bytes, pattern: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(NotebookError, match=pattern) as info:
        read_notebook(path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_json_error_carries_its_position(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as info:
        read_notebook(write(tmp_path, b'{\n "nbformat": 4,\n}\n'))
    assert (info.value.line, info.value.column) == (2, 15)  # the comma to delete
    assert "hint" in str(info.value)


# NB: Python 3.13 words and places trailing-comma errors differently from 3.11 and 3.12;
# distill's message must be the same on all of them.
JSON_PROBLEMS = [
    ("object", '{"a": 1,}', "a trailing comma before the closing '}' at line 1, column 8"),
    ("array", '{"a": [1,\n  ]\n}', "a trailing comma before the closing ']' at line 1, column 9"),
    ("spaced", '{"a": 1 ,  }', "a trailing comma before the closing '}' at line 1, column 9"),
    ("leading-comma", '{"cells": [,]}', "Expecting value at line 1, column 12"),
    ("empty-item", '{"cells": [1, ,]}', "Expecting value at line 1, column 15"),
    ("missing-comma", '{"a": 1 "b": 2}', "Expecting ',' delimiter at line 1, column 9"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in JSON_PROBLEMS],
                         ids=[i for i, _, _ in JSON_PROBLEMS])
def test_json_errors_read_the_same_on_every_python(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(NotebookError) as info:
        read_notebook(write(tmp_path, text))
    assert f"is not valid JSON: {expected}" in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(NotebookError, match="no such file"):
        read_notebook(tmp_path / "missing.ipynb")
    with pytest.raises(NotebookError, match="is a folder"):
        read_notebook(tmp_path)


def test_v4_cells_are_numbered_and_positioned(tmp_path: Path) -> None:
    text = json.dumps(V4, indent=1)
    nb = read_notebook(write(tmp_path, text))
    [cell] = nb.cells
    assert (cell.number, cell.source, cell.execution_count, cell.tags, cell.cell_id) == (1, "x = 1\ny = 2", 1, ("parameters",), "a1")
    assert nb.language == "python" and nb.is_python and nb.version == (4, 5)
    assert text.splitlines()[cell.file_line_of(2) - 1].strip() == '"y = 2"'


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    assert read_notebook(write(tmp_path, b"\xef\xbb\xbf" + json.dumps(V4).encode())).cells[0].source == "x = 1\ny = 2"


def test_v3_is_upgraded(tmp_path: Path) -> None:
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [{"cells": [
        {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Title"]},
        {"cell_type": "code", "collapsed": False, "input": ["a = 1\n", "b = a"], "language": "python",
         "metadata": {}, "outputs": [], "prompt_number": 3}]}]}
    nb = read_notebook(write(tmp_path, json.dumps(v3)))
    assert [c.kind for c in nb.cells] == ["markdown", "code"]
    assert nb.cells[1].source == "a = 1\nb = a" and nb.cells[1].execution_count == 3
    assert nb.version == (3, 0)


def test_kernel_language(tmp_path: Path) -> None:
    r = {**V4, "metadata": {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}}
    nb = read_notebook(write(tmp_path, json.dumps(r)))
    assert nb.language == "r" and not nb.is_python
    julia = {**V4, "metadata": {"kernelspec": {"name": "julia-1.9", "display_name": "Julia"}}}
    assert read_notebook(write(tmp_path, json.dumps(julia), "j.ipynb")).language == "julia"


SYNTAX = [
    ("shell", "!ls -la\nx = 1", "get_ipython().system('ls -la')\nx = 1"),
    ("assign-shell", "files = !ls", "files = get_ipython().getoutput('ls')"),
    ("line-magic", "%matplotlib inline", "get_ipython().run_line_magic('matplotlib', 'inline')"),
    ("help", "x?", "get_ipython().run_line_magic('pinfo', 'x')"),
    ("timed-statement-kept", "%time y = f(x)", "get_ipython().run_line_magic('time', ''); y = f(x)"),
    ("timeit-options", "%timeit -n 10 -r 3 f(x)", "get_ipython().run_line_magic('timeit', ''); f(x)"),
    ("automagic", "timeit f(x)", "get_ipython().run_line_magic('timeit', ''); f(x)"),
    ("indented", "if a:\n    !echo hi", "if a:\n    get_ipython().system('echo hi')"),
    ("cell-magic", "%%bash\necho hi\nls", "get_ipython().run_cell_magic('bash', '', 'echo hi\\nls')\n\n"),
    ("python-body-cell-magic", "%%time\nx = 1", "get_ipython().run_cell_magic('time', '', '')\nx = 1"),
    ("stored-result", "%%sql df <<\nSELECT 1", "df = get_ipython().run_cell_magic('sql', 'df <<', 'SELECT 1')\n"),
    ("plain-python", "x = 1\n", "x = 1\n"),
]


@pytest.mark.parametrize(("source", "code"), [(s, c) for _, s, c in SYNTAX], ids=[i for i, _, _ in SYNTAX])
def test_ipython_syntax_becomes_python_line_for_line(source: str, code: str) -> None:
    result = to_python(source)
    assert result.code == code
    assert result.code.count("\n") == source.count("\n")


def test_magics_are_recorded_with_their_lines() -> None:
    source = "x = 1\n!pip install requests\n%load_ext autoreload"
    magics = analyze_cell(to_python(source).code).magics
    assert [(m.kind, m.name, m.args, m.line) for m in magics] == [
        ("shell", "system", "pip install requests", 2), ("line", "load_ext", "autoreload", 3)]


@pytest.mark.parametrize("source", [
    "%matplotlib inline\nSELECT a\n" + "  , b\n" * 2_000,  # IPython's rewrite never settles: 500 rounds
    "!ls\n" * 2_000 + "def (:",  # one round per escaped line: over the budget
    "x = 1\n" * 30_000 + "%time y = (\n",
], ids=["magic-then-sql", "shell-lines-then-error", "long-cell-then-magic-error"])
def test_a_cell_that_does_not_parse_tokenises_a_bounded_number_of_times(source: str) -> None:
    """The whole-cell rewrite tokenises the whole cell per round; the rounds x lines are capped."""
    from IPython.core.inputtransformer2 import TransformerManager

    from distill.notebook import magics

    calls: list[int] = []
    original = TransformerManager.do_one_token_transform

    def counted(self: TransformerManager, lines: list[str]) -> tuple[bool, list[str]]:
        calls.append(len(lines))
        return original(self, lines)  # type: ignore[no-any-return]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransformerManager, "do_one_token_transform", counted)
        code = to_python(source).code
    assert sum(calls) <= magics._WHOLE_CELL_BUDGET
    assert code.count("\n") == source.count("\n")  # line numbers kept whatever the path


def test_unparsable_cell_is_a_record_not_a_crash() -> None:
    analysis = analyze_cell(to_python("x = 1\ndef f(:\n    pass").code)
    assert analysis.syntax_error is not None and analysis.syntax_error.line == 2
