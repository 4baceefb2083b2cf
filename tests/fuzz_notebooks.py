"""Odd notebooks for fuzzing ``distill lint`` and ``distill convert``, and the checks on each run.

Shared by ``tests/test_fuzz_notebooks.py`` (a short seeded run in CI) and
``benchmarks/fuzz_lint_convert.py`` (the long run with figures).

- ``notebook_files(target)``: a hypothesis strategy of ``.ipynb`` file contents (bytes):
  notebooks built from Python and IPython snippets, token soup, deeply nested expressions,
  huge cells, odd unicode (NUL, surrogates, BOM, right-to-left marks), outputs real and bogus,
  Python, R and Julia kernels, v1 to v4 layouts; then mutated: wrong types for any field,
  keys dropped or added, and broken bytes (truncated, inserted, UTF-16, empty).
- ``corpus_files()``: the same mutations applied to real notebooks from the corpus folder
  (``CORPUS``), when it exists.
- ``run(target, data)``: one in-process CLI run (click's runner) on a notebook holding
  ``data``, and every check: no exception but ``SystemExit``, a documented exit code, one
  ``Error:`` line (convert) or a DL000 finding (lint) for every failure, nothing half-written,
  the notebook untouched, within the time limit.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

TARGETS = ("lint", "sarif", "convert")
#: The documented exit codes: lint 0 clean, 1 findings, 2 unreadable; convert 0 written, 2 refused.
EXIT_CODES = {"lint": {0, 1, 2}, "sarif": {0, 1, 2}, "convert": {0, 2}}
#: Seconds one run may take.
TIME_LIMIT = 10.0
#: Seconds after which a run is stopped and counted as a hang.
HANG_LIMIT = 60.0
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "notebooks"

#: Lines of a huge cell. NB: convert is slower than lint per statement, so its statement-heavy
#: huge cells are smaller (see the benchmark's huge-cell table for the full-size timings).
HUGE_LINES = 100_000
HUGE_STATEMENTS = {"lint": 100_000, "sarif": 100_000, "convert": 5_000}
HUGE_MAGIC_LINES = {"lint": 20_000, "sarif": 20_000, "convert": 1_000}


# -- cell sources ---------------------------------------------------------------------------

@functools.cache
def _pick(*weighted: tuple[int, T]) -> st.SearchStrategy[T]:
    """One of the values, about as often as its weight says.

    NB: hypothesis draws the first and last index of a list more often than the others, so
    the first (most common) value takes both ends.
    """
    table = [value for weight, value in weighted for _ in range(weight)]
    return st.sampled_from([table[0], *table, table[0]])


SNIPPETS = (
    "import numpy as np", "import pandas as pd", "import matplotlib.pyplot as plt", "from math import *",
    "from os.path import join, exists", "import os, sys", "from . import sibling", "import missing_module_xyz",
    "x = 1", "y = x + 1", "x += 1", "del x", "df = pd.read_csv('data.csv')", "df['c'] = df['a'] * 2",
    "df.dropna(inplace=True)", "df.to_csv('out.csv')", "rows.append(3)", "model.fit(X, y)",
    "np.random.seed(0)", "values = np.random.rand(10)", "random.shuffle(items)", "plt.plot([1, 2])\nplt.show()",
    "fig, ax = plt.subplots()\nax.set_title('t')", "df.head()", "print(df.shape)", "df", "x if x else y",
    "def f(a, b=2, *c, d, **e):\n    global x\n    x = a\n    return b + z",
    "class A(Base, metaclass=M):\n    k = 1\n    def m(self):\n        return self.k + k",
    "lambda v: v * k", "[v for v in range(3) if v > k]", "{k: v for k, v in d.items()}", "(y := 5)",
    "async def g():\n    await h()", "with open('f.txt') as fh:\n    text = fh.read()",
    "try:\n    x = 1\nexcept ValueError as exc:\n    print(exc)\nfinally:\n    pass",
    "match point:\n    case (0, 0):\n        pass\n    case {'k': v, **rest}:\n        pass\n    case [a, *b]:\n        pass",
    "for i in range(3):\n    total += i\nelse:\n    done = True", "while False:\n    break",
    "if __name__ == '__main__':\n    main()", "@decorator(arg)\ndef decorated():\n    ...",
    "API_KEY = 'sk-abcdefghijklmnopqrstuvwxyz123456'", "password = 'hunter2'", "url = 'postgresql://u:p@h/db'",
    "path = '/home/user/data.csv'", "open('C:\\\\Users\\\\me\\\\x.txt')", "exec(code)", "eval('1')", "globals()['v'] = 1",
    "query = 'SELECT a, b FROM t WHERE c > 1 GROUP BY a ORDER BY b LIMIT 10'", "f'{x!r:>{width}}'",
    "x = '''multi\nline'''", "b'\\x00bytes'", "x = 1; y = 2; z = x + y", "assert x, 'message'", "raise SystemExit",
    "import this_does_not_exist as t", "_ = 1", "_5", "_i3", "In[1]", "Out[2]", "get_ipython().system('ls')",
    "%matplotlib inline", "%load_ext autoreload", "%autoreload 2", "%time y = f(x)", "%timeit -n 3 f(x)",
    "%run other.ipynb", "%store x", "%env KEY=value", "%cd /tmp", "%pip install pandas==2.0", "!pip install -q numpy",
    "!ls -la", "files = !ls", "x?", "x??", "?x", "%pylab inline", "%who", "ls", "%config InlineBackend.figure_format='svg'",
    "%sql sqlite:///shop.db", "%sql SELECT 1", "result = %sql SELECT * FROM t",
    "%%sql\nSELECT * FROM orders WHERE total > :low", "%%sql postgresql://user@host/db\nSELECT 1",
    "%%sql postgresql://user@host/db", "%%sql sqlite://\nCREATE TABLE t (a)", "%%sql big <<\nSELECT a FROM b",
    "%%bash\necho hi\nls", "%%capture out\nprint(1)", "%%time\nz = 1", "%%writefile f.py\nprint('x')",
    "%%html\n<b>x</b>", "%%javascript\nalert(1)", "%%R -i df\nsummary(df)", "%%bigquery df\nSELECT 1",
    "%%timeit\nsum(range(10))", "%%", "%", "!", "?", "%%%", "%%sql", "%%bash",
)
ODD_TEXT = ("\x00", "\ufeff", "\u202e", "\u200f", "\u2066", "\ud800", "\udfff", "\udc80", "\r\n", "\r", "\x0c", "\t",
            "\x1b[31m", "\u2028", "\u0301", "é", "𝔘𝔫𝔦", "😀", "ﬁ", "\\", "'''", '"""', "'", '"', "#", "\n\n\n", " " * 7)
TOKENS = ("x", "y", "df", "np", "pd", "f", "model", "=", "==", "(", ")", "[", "]", "{", "}", ":", ",", ".", "\n", "    ",
          "def", "class", "if", "elif", "else", "for", "in", "while", "lambda", "return", "yield", "await", "async",
          "import", "from", "as", "*", "**", "@", "+", "-", "%", "%%", "!", "?", "1", "0x1F", "1e9", "'s'", "f'{x}'",
          "global", "nonlocal", "del", "with", "try", "except", "finally", "match", "case", "#", "\\", ";", "...",
          "get_ipython()", ".run_line_magic", "'sql'", "<<", "$x", "{x}")

#: How deep, by weight: mostly where Python parses but the default recursion limit (1,000 frames) is tight.
_DEPTHS = ((3, 330), (1, 10), (1, 100), (1, 199), (1, 200), (1, 201), (2, 500), (2, 990), (2, 1000), (2, 1500),
           (2, 2000), (2, 2900), (1, 3000), (1, 5000), (1, 20_000))


def _deep(kind: str, n: int) -> str:
    """A cell nested ``n`` deep in one of several ways (the deepest ones Python cannot parse)."""
    shapes: dict[str, Callable[[int], str]] = {
        "sum": lambda n: "x = " + " + ".join(["1"] * n),
        "names": lambda n: "total = " + " + ".join("abc"[i % 3] for i in range(n)),
        "strings": lambda n: "s = " + " + ".join(["'a'"] * n),
        "chain": lambda n: "y = a" + ".b()" * n,
        "attributes": lambda n: "a" + ".b" * n + " = 1",
        "subscripts": lambda n: "a" + "[0]" * n + " = 1",
        "call-target": lambda n: "a" + ".b()" * n + ".c = 1",
        "elif": lambda n: "x = 3\nif x == 0:\n    y = 0\n" + "".join(f"elif x == {i}:\n    y = {i}\n" for i in range(1, n)),
        "parens": lambda n: "x = " + "(" * n + "1" + ")" * n,
        "lists": lambda n: "x = " + "[" * n + "]" * n,
        "calls": lambda n: "x = " + "f(" * n + "1" + ")" * n,
        "minus": lambda n: "x = " + "-" * n + "1",
        "not": lambda n: "x = " + "not " * n + "y",
        "lambdas": lambda n: "g = " + "lambda: " * n + "1",
        "compare": lambda n: "ok = " + " < ".join(["a"] * n),
        "and": lambda n: "ok = " + " and ".join(["a"] * n),
        "indent": lambda n: "".join("    " * i + f"if c{i}:\n" for i in range(min(n, 120))) + "    " * min(n, 120) + "pass",
        "fstring": lambda n: "s = " + "f'{" * min(n, 30) + "x" + "}'" * min(n, 30),
        "ternary": lambda n: "v = " + " if c else ".join(["1"] * n),
        "in-function": lambda n: "def f():\n    return " + " + ".join(["a"] * n) + "\nr = f()",
        "magic-chain": lambda n: "%time y = a" + ".b()" * n,
        "sql-placeholders": lambda n: "%%sql sqlite:///a.db\nSELECT " + ", ".join(f":p{i}" for i in range(n)),
    }
    return shapes[kind](n)


DEEP_KINDS = ("sum", "names", "strings", "chain", "attributes", "subscripts", "call-target", "elif", "parens", "lists",
              "calls", "minus", "not", "lambdas", "compare", "and", "indent", "fstring", "ternary", "in-function",
              "magic-chain", "sql-placeholders")


def huge_cell(kind: str, target: str, *, full: bool = False) -> str:
    """A huge cell of one of ``HUGE_KINDS``; ``full``: ``HUGE_LINES`` lines whatever the target."""
    statements = HUGE_LINES if full else HUGE_STATEMENTS[target]
    magics = HUGE_LINES if full else HUGE_MAGIC_LINES[target]
    shapes: dict[str, Callable[[], str]] = {
        "statements": lambda: "\n".join(f"x{i % 97} = {i}" for i in range(statements)) + "\nx = 1",
        "function-body": lambda: "def f():\n" + "    v = 1\n" * statements + "    return v\nx = f()",
        "comments": lambda: "# a comment\n" * HUGE_LINES + "x = 1",
        "blank": lambda: "\n" * HUGE_LINES + "x = 1",
        "string": lambda: "x = '''\n" + "text\n" * HUGE_LINES + "'''",
        "cell-magic-body": lambda: "%%bash\n" + "echo hi\n" * HUGE_LINES,
        "sql-body": lambda: "%%sql sqlite:///a.db\nSELECT a\n" + "  , b\n" * HUGE_LINES + "FROM t",
        "shell-lines": lambda: "!ls\n" * magics + "x = 1",
        "line-magics": lambda: "%time y = 1\n" * magics + "x = 1",
        "magic-then-unparsable": lambda: "%matplotlib inline\nSELECT a\n" + "  , b\n" * HUGE_LINES,
        "shell-then-unparsable": lambda: "!ls\n" * magics + "def (:",
        "syntax-error": lambda: "x = 1\n" * statements + "x = (",
        "one-long-line": lambda: "x = '" + "a" * (HUGE_LINES * 10) + "'",
    }
    return shapes[kind]()


HUGE_KINDS = ("statements", "function-body", "comments", "blank", "string", "cell-magic-body", "sql-body",
              "shell-lines", "line-magics", "magic-then-unparsable", "shell-then-unparsable", "syntax-error",
              "one-long-line")


@st.composite
def _with_odd_text(draw: st.DrawFn, source: str) -> str:
    for _ in range(draw(st.integers(0, 3))):
        odd = draw(st.sampled_from(ODD_TEXT))
        at = draw(st.integers(0, len(source)))
        source = source[:at] + odd + source[at:]
    return source


_ALPHABET = st.one_of(st.characters(), st.sampled_from([c for c in ODD_TEXT if len(c) == 1]),
                      st.sampled_from("%!?()[]{}:=\n "))


@functools.cache
def cell_sources(target: str) -> st.SearchStrategy[str]:
    """The text of one code cell; rarely deep, more rarely huge (those cost seconds)."""
    snippets = st.lists(st.sampled_from(SNIPPETS), min_size=0, max_size=8).map("\n".join)
    soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)
    text = st.text(_ALPHABET, max_size=200)
    deep = st.builds(_deep, st.sampled_from(DEEP_KINDS), _pick(*_DEPTHS))
    huge = st.builds(huge_cell, st.sampled_from(HUGE_KINDS), st.just(target))
    # NB: the size class first, so huge cells stay about 1 in 150 examples (a notebook has ~3 cells)
    size = _pick((20, "snippets"), (5, "soup"), (5, "text"), (10, "deep"), (1, "huge"))
    plain = size.flatmap(lambda s: {"snippets": snippets, "soup": soup, "text": text, "deep": deep, "huge": huge}[s])
    return _pick((3, False), (1, True)).flatmap(lambda odd: plain.flatmap(_with_odd_text) if odd else plain)


# -- notebooks ------------------------------------------------------------------------------

_OUTPUTS = (
    {"output_type": "stream", "name": "stdout", "text": ["hello\n", "world\n"]},
    {"output_type": "execute_result", "execution_count": 1, "metadata": {},
     "data": {"text/plain": ["1"], "text/html": "<b>1</b>", "application/json": {"a": [1, {"b": None}]}}},
    {"output_type": "display_data", "metadata": {"image/png": {"width": 10}}, "data": {"image/png": "iVBORw0KGgo" * 50}},
    {"output_type": "error", "ename": "NameError", "evalue": "name 'x' is not defined",
     "traceback": ["\x1b[0;31mNameError\x1b[0m: name 'x' is not defined"]},
    {"output_type": "stream", "name": "stderr", "text": "x" * 600_000},  # over lint's 500 KiB a cell
)
_OUTPUT = _pick((10, 0), (10, 1), (6, 2), (6, 3), (1, 4)).map(lambda index: _OUTPUTS[index])
_KERNELS = (
    {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
     "language_info": {"name": "python", "version": "3.11.0"}},
    {"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}, "language_info": {"name": "R"}},
    {"kernelspec": {"name": "julia-1.9", "language": "julia", "display_name": "Julia"}},
    {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    {"language_info": {"name": "python"}},
    {},
)


#: Cells that make sense in this order (each reads what an earlier one defines), so that
#: convert gets past its refusals and plans, emits and checks a project.
STORY = (
    "import pandas as pd\nimport numpy as np", "%matplotlib inline", "!pip install -q pandas",
    "a = b = c = y = x = 1\nf = g = abs\npoint = (0, 0)\nitems = [3, 1, 2]",
    "data = pd.DataFrame({'a': [1, 2, 3], 'b': [4.0, 5.0, None]})", "THRESHOLD = 2", "PATH = 'data.csv'",
    "def flag(frame):\n    return frame.assign(high=frame['a'] > THRESHOLD)", "clean = data.dropna()",
    "clean['c'] = clean['a'] * 2", "flagged = flag(clean)", "total = flagged['c'].sum()",
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot(flagged['a'])\nax.set_title('A')",
    "%%sql sqlite:///shop.db\nSELECT * FROM orders WHERE total > :THRESHOLD", "%%sql postgresql://user@host/db\nSELECT 1",
    "%%sql rows <<\nSELECT a FROM t", "summary = flagged.describe()", "flagged.head()", "print(total)",
    "np.random.seed(0)\nnoise = np.random.rand(3)", "scaled = " + " + ".join(["data['a']"] * 60),
    "label = 'none'\nif total == 0:\n    label = 'zero'\n" + "".join(f"elif total == {i}:\n    label = 'n{i}'\n" for i in range(1, 60)),
    "copied = data" + ".copy()" * 80, "%time doubled = total * 2", "for i in range(3):\n    total += i",
    "with open('out.txt', 'w') as fh:\n    fh.write(str(total))", "result = [v * THRESHOLD for v in data['a']]",
    "API_TOKEN = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'", "items.sort()\nfirst = items[0]",
    "from math import *\nroot = sqrt(total)", "class Scaler:\n    def __init__(self, factor):\n        self.factor = factor\n\n    def apply(self, v):\n        return v * self.factor",
    "scaler = Scaler(THRESHOLD)\nscaled_total = scaler.apply(total)", "final = (total, label, first)",
)


_COUNT = st.one_of(st.none(), st.integers(0, 40))
_CELL_METADATA = st.sampled_from([{}, {"tags": ["parameters"]}, {"tags": ["skip"]}, {"trusted": True}])
_OUTPUT_LIST = st.lists(_OUTPUT, max_size=2)


def _code_cell_of(draw: st.DrawFn, source: str) -> dict[str, Any]:
    return _built_cell((source, draw(_COUNT), draw(_CELL_METADATA), draw(_OUTPUT_LIST), draw(st.booleans())))


def _built_cell(parts: tuple[str, int | None, dict[str, Any], list[dict[str, Any]], bool]) -> dict[str, Any]:
    source, count, metadata, outputs, as_text = parts
    return {"cell_type": "code", "execution_count": count, "metadata": copy.deepcopy(metadata), "outputs": outputs,
            "source": source if as_text else source.splitlines(keepends=True)}


@functools.cache
def _code_cell(target: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(cell_sources(target), _COUNT, _CELL_METADATA, _OUTPUT_LIST, st.booleans()).map(_built_cell)


@st.composite
def _other_cell(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["markdown", "markdown", "raw"]))
    text = draw(st.one_of(st.text(_ALPHABET, max_size=80), st.sampled_from(
        ["# Load the data", "## Clean\nsome words", "<h2>Model</h2>", "### Results ###", "# " + "x" * 500, "#"])))
    return {"cell_type": kind, "metadata": {}, "source": text}


_OTHER_CELL = _other_cell()


@functools.cache
def _story(target: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Cells of ``STORY`` in order, some left out, with one odd cell and markdown headings among them."""
    keep = _pick((5, True), (1, False))
    heading = _pick((4, False), (1, True))
    odd = cell_sources(target)

    @st.composite
    def story(draw: st.DrawFn) -> list[dict[str, Any]]:
        every = draw(st.booleans())
        sources = [source for source in STORY if every or draw(keep)]
        if draw(st.booleans()):
            sources.insert(draw(st.integers(0, len(sources))), draw(odd))
        cells = []
        for source in sources:
            if draw(heading):
                cells.append(draw(_OTHER_CELL))
            cells.append(_code_cell_of(draw, source))
        return cells

    return story()


@functools.cache
def _cells(target: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    mixed = st.lists(st.one_of(_code_cell(target), _code_cell(target), _OTHER_CELL), max_size=5)
    return st.one_of(mixed, _story(target))


@st.composite
def _v4(draw: st.DrawFn, target: str) -> dict[str, Any]:
    cells = draw(_cells(target))
    minor = draw(_pick((4, 5), (1, 4), (1, 0), (1, 2), (1, 99)))
    ids = draw(_pick((6, "unique"), (1, "missing"), (1, "duplicate"))) if minor >= 5 else "none"
    for index, cell in enumerate(cells):
        if ids in ("unique", "duplicate"):
            cell["id"] = f"cell-{index}" if ids == "unique" else "same"
    kernel = draw(_pick((8, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)))
    return {"cells": cells, "metadata": copy.deepcopy(_KERNELS[kernel]), "nbformat": 4, "nbformat_minor": minor}


def _v3(nb: dict[str, Any]) -> dict[str, Any]:
    """The same notebook in the v3 layout: worksheets, ``input``, ``prompt_number``, heading cells."""
    cells = []
    for cell in nb["cells"]:
        source = cell.get("source", "")
        if cell.get("cell_type") == "code":
            cells.append({"cell_type": "code", "input": source, "language": "python", "collapsed": False,
                          "prompt_number": cell.get("execution_count"), "metadata": {}, "outputs": []})
        elif isinstance(source, str) and source.startswith("# "):
            cells.append({"cell_type": "heading", "level": 1, "source": source[2:], "metadata": {}})
        else:
            cells.append({"cell_type": cell.get("cell_type", "markdown"), "source": source, "metadata": {}})
    return {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "", **nb.get("metadata", {})},
            "worksheets": [{"cells": cells, "metadata": {}}]}


def _older(nb: dict[str, Any], major: int) -> dict[str, Any]:
    v3 = _v3(nb)
    if major == 2:
        return {**v3, "nbformat": 2}
    return {"nbformat": 1, "cells": [{"cell_type": c["cell_type"], "code": c.get("input", c.get("source", ""))}
                                     for c in v3["worksheets"][0]["cells"]]}


_GARBAGE = (None, True, 0, -1, 5, 1.5, "", "x", "code", [], [1, "a", None], {}, {"a": 1}, {"cell_type": 5},
            [{"output_type": 7}], "\ud800", "\x00", 10**30, [[[[[]]]]])


def _paths(node: Any) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (a loop: values may be deep)."""
    found: list[tuple[Any, ...]] = []
    todo: list[tuple[tuple[Any, ...], Any]] = [((), node)]
    while todo and len(found) < 5_000:
        path, value = todo.pop()
        found.append(path)
        if isinstance(value, dict):
            todo.extend(((*path, key), item) for key, item in value.items())
        elif isinstance(value, list):
            todo.extend(((*path, index), item) for index, item in enumerate(value[:50]))
    return found


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def _mutated(draw: st.DrawFn, nb: Any) -> Any:
    """``nb`` with 0 to 3 structural mutations: a value of the wrong type anywhere, a key dropped or added."""
    nb = json.loads(json.dumps(nb))  # NB: a copy: strategies share their constants (outputs, kernels)
    for _ in range(draw(_pick((8, 0), (2, 1), (1, 2), (1, 3)))):
        paths = _paths(nb)
        path = draw(st.sampled_from(paths))
        action = draw(_pick((2, "replace"), (1, "drop"), (1, "add")))
        if not path:
            if action == "replace":
                nb = copy.deepcopy(draw(st.sampled_from(_GARBAGE)))
            continue
        parent = _get(nb, path[:-1])
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(_GARBAGE)))
        elif action == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "cell_type", "source", "outputs", "metadata", "nbformat_minor"]))] = \
                copy.deepcopy(draw(st.sampled_from(_GARBAGE)))
        else:
            parent.append(copy.deepcopy(draw(st.sampled_from(_GARBAGE))))
    return nb


@st.composite
def _encoded(draw: st.DrawFn, nb: Any) -> bytes:
    """``nb`` as file bytes (UTF-8, sometimes UTF-16), sometimes broken (see ``_broken_bytes``)."""
    try:
        text = json.dumps(nb, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    except (ValueError, RecursionError):
        text = "{}"
    if draw(_pick((30, False), (1, True))):
        return text.encode("utf-16", "surrogatepass")
    return draw(_broken_bytes(text.encode("utf-8", "surrogatepass")))


@st.composite
def _broken_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data``, or ``data`` truncated, with bytes inserted or replaced, a BOM, a NUL; or an empty file."""
    how = draw(_pick((20, "as-is"), (1, "truncate"), (1, "insert"), (1, "replace"), (1, "bom"), (1, "empty"), (1, "nul")))
    if how == "truncate":
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    elif how == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    elif how == "replace" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=1)) + data[at + 1:]
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "empty":
        data = draw(st.sampled_from([b"", b" \n", b"{}", b"[]", b"null", b"\x00\x00"]))
    elif how == "nul":
        data = data.replace(b'"', b'"\x00', 1)
    return data


def notebook_files(target: str) -> st.SearchStrategy[bytes]:
    """Generated notebooks for ``target`` (``lint``, ``sarif`` or ``convert``), mutated and encoded."""
    v4 = _v4(target)
    layout = _pick((8, "v4"), (1, "v3"), (1, "older"))
    layouts = layout.flatmap(lambda kind: v4 if kind == "v4" else v4.map(_v3) if kind == "v3"
                             else st.tuples(v4, st.sampled_from([1, 2])).map(lambda a: _older(*a)))
    return layouts.flatmap(_mutated).flatmap(_encoded)


_corpus_cache: dict[Path, Any] = {}


def corpus_paths() -> list[Path]:
    return sorted(CORPUS.glob("*.ipynb")) if CORPUS.is_dir() else []


def _seed(path: Path) -> st.SearchStrategy[bytes]:
    """One corpus file, mutated: as JSON when it is JSON, else as bytes (the corpus holds broken files too)."""
    if path not in _corpus_cache:
        raw = path.read_bytes()
        try:
            _corpus_cache[path] = json.loads(raw)
        except ValueError:
            _corpus_cache[path] = raw
    seed = _corpus_cache[path]
    if isinstance(seed, bytes):
        return _broken_bytes(seed)
    return _mutated(seed).flatmap(_encoded)


def corpus_files() -> st.SearchStrategy[bytes]:
    """Real notebooks from ``CORPUS``, mutated like the generated ones (nothing if there is no corpus)."""
    paths = corpus_paths()
    if not paths:
        return st.nothing()
    return st.sampled_from(paths).flatmap(_seed)


def warm_up() -> None:
    """Import what runs import lazily, before the first example.

    NB: importing IPython (for the first cell with IPython syntax) raises the recursion limit
    to 3000, which hypothesis would report as changed by the test.
    """
    from distill.notebook.magics import to_python

    to_python("!ls")


# -- one run --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """One run: its exit code and time, and what was wrong with it (``problem`` is ``None`` when nothing)."""

    target: str
    exit_code: int | None
    seconds: float
    kind: str  # ok | traceback | hang | exit-code | output | slow | modified | half-written
    problem: str | None = None


class _Hang(BaseException):
    """Raised in the main thread when a run exceeds ``HANG_LIMIT``."""


@contextmanager
def _hang_guard(seconds: float, fired: list[bool]) -> Iterator[None]:
    """Raise ``_Hang`` in the run after ``seconds``, and again every second until it stops.

    NB: an exception raised while a finalizer runs (a generator closed by the garbage
    collector) is printed and dropped, so one alarm may not stop the run; ``fired`` says
    whether any went off.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum: int, frame: object) -> None:
        fired.append(True)
        raise _Hang()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def fresh_recursion_limit() -> Iterator[None]:
    """Give the run the recursion limit a fresh ``distill`` process has: 1,000 frames.

    NB: in-process the limit is what hypothesis (its depth + 2,000) or IPython (3,000, once
    imported) left, which would hide a recursion a command-line run dies of.
    """
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 1_000)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _args(target: str, notebook: Path, output: Path) -> list[str]:
    if target == "lint":
        return ["lint", str(notebook)]
    if target == "sarif":
        return ["lint", "--format", "sarif", str(notebook)]
    return ["convert", str(notebook), "-o", str(output)]


def _error_lines(text: str) -> int:
    return sum(line.startswith("Error:") for line in text.splitlines())


def run(target: str, data: bytes, *, limit: float = TIME_LIMIT) -> Outcome:
    """Run ``target`` on a notebook file holding ``data`` in a fresh folder, and check the run."""
    from click.testing import CliRunner

    from distill.cli.main import cli

    with tempfile.TemporaryDirectory(prefix="distill-fuzz-") as folder:
        root = Path(folder)
        notebook = root / "nb.ipynb"
        notebook.write_bytes(data)
        before = os.stat(notebook).st_mtime_ns
        output = root / "out"
        started = time.perf_counter()
        fired: list[bool] = []
        try:
            with _hang_guard(HANG_LIMIT, fired), fresh_recursion_limit():
                result = CliRunner().invoke(cli, _args(target, notebook, output))
        except _Hang:
            pass
        seconds = time.perf_counter() - started
        if fired:
            return Outcome(target, None, seconds, "hang", f"still running after {HANG_LIMIT:g}s")
        code = result.exit_code
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            exc = result.exception
            frames = traceback.extract_tb(exc.__traceback__)
            ours = [f for f in frames if f"{os.sep}distill{os.sep}" in f.filename]
            where = f" at {ours[-1].filename.split(os.sep + 'src' + os.sep)[-1]}:{ours[-1].lineno} ({ours[-1].name})" if ours else ""
            trace = "".join(traceback.format_list(frames[-6:]))
            return Outcome(target, code, seconds, "traceback", f"{type(exc).__name__}: {str(exc)[:200]}{where}\n{trace}")
        if code not in EXIT_CODES[target]:
            return Outcome(target, code, seconds, "exit-code", f"exit {code} is not one of {sorted(EXIT_CODES[target])}")
        problem = (_check_lint if target != "convert" else _check_convert)(target, code, result.stdout, result.stderr,
                                                                          root, output)
        if problem is not None:
            return Outcome(target, code, seconds, problem[0], problem[1])
        if notebook.read_bytes() != data or os.stat(notebook).st_mtime_ns != before:
            return Outcome(target, code, seconds, "modified", "the notebook was changed")
        if seconds > limit:
            return Outcome(target, code, seconds, "slow", f"took {seconds:.1f}s (limit {limit:g}s)")
        return Outcome(target, code, seconds, "ok")


def _check_lint(target: str, code: int, out: str, err: str, root: Path, output: Path) -> tuple[str, str] | None:
    if "Traceback" in out + err:
        return "output", "a traceback was printed"
    if target == "sarif":
        try:
            report = json.loads(out)
            rules = {r.get("ruleId") for run in report["runs"] for r in run["results"]}
        except (ValueError, KeyError, TypeError) as exc:
            return "output", f"the SARIF output is not a SARIF log: {exc}"
    else:
        rules = {word for word in out.split() if word.startswith("DL") and word[2:5].isdigit()}
    if code == 2 and "DL000" not in rules and _error_lines(err) != 1:
        return "output", f"exit 2 without a DL000 finding or one Error: line\n{out[-500:]}{err[-500:]}"
    if code == 1 and not rules:
        return "output", "exit 1 without a finding"
    if code == 0 and _error_lines(err):
        return "output", "exit 0 with an Error: line"
    if any(path.name != "nb.ipynb" for path in root.iterdir()):
        return "half-written", f"lint wrote {sorted(p.name for p in root.iterdir())}"
    return None


def _check_convert(target: str, code: int, out: str, err: str, root: Path, output: Path) -> tuple[str, str] | None:
    leftovers = sorted(p.name for p in root.iterdir() if p.name not in ("nb.ipynb", "out"))
    if leftovers:
        return "half-written", f"convert left {leftovers} beside the project"
    if code == 0:
        if not any(output.glob("src/*/pipeline.py")) or not (output / "pyproject.toml").is_file():
            return "half-written", "exit 0 without src/<package>/pipeline.py and pyproject.toml"
        return None
    if _error_lines(err) != 1:
        return "output", f"exit {code} with {_error_lines(err)} Error: lines (expected 1)\n{err[-800:]}"
    if "Traceback" in out + err:
        return "output", "a traceback was printed"
    if output.exists():
        return "half-written", f"exit {code} but {output.name}/ exists"
    return None
