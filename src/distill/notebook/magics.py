"""IPython syntax → analysable Python with the same line numbers.

Responsibilities:
- cell magics (``%%bash``, ``%%sql``, ``%%time``...): the magic line becomes one
  ``get_ipython().run_cell_magic(name, args, body)`` call, with the body as a string literal
  when it is not Python, and left in place, line for line, when it is (``%%time``,
  ``%%capture``); a magic that stores its result (``%%capture out``, ``%%sql df <<``)
  becomes an assignment to that name;
- line magics, ``!shell``, ``x = !cmd``, ``x?``, auto-call: IPython's own
  ``TransformerManager``, which rewrites them to ``get_ipython()`` calls in place;
- ``%time``/``%timeit``/``%prun`` statements: the timed statement is kept as code, behind the
  magic call, so that ``%time model = fit(X)`` still defines ``model``.

Every output line ``k`` is line ``k`` of the input, so messages point at the cell's own lines.
Whatever the result, the analysis records magics and shell commands from the
``get_ipython()`` calls, so explicit calls in plain Python are treated the same way.
IPython is imported only for cells that are not already valid Python.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol, cast

from ..analysis.cells import parse

#: Cell magics whose body is Python run in the kernel's namespace.
PYTHON_BODY_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "mprun", "lprun"})

#: Line magics whose argument is a Python statement run in the kernel's namespace.
_TIMED = ("time", "timeit", "prun", "capture", "debug", "memit", "mprun")

#: IPython's line magics, which its ``automagic`` lets a cell call without the ``%``.
AUTOMAGICS = frozenset(["alias", "autoawait", "autocall", "automagic", "bookmark", "cat", "cd", "clear", "colors", "conda", "config", "connect_info", "cp", "debug", "dhist", "dirs", "doctest_mode", "ed", "edit", "env", "gui", "hist", "history", "killbgscripts", "ldir", "less", "lf", "lk", "ll", "load", "load_ext", "loadpy", "logoff", "logon", "logstart", "logstate", "logstop", "ls", "lsmagic", "lx", "macro", "magic", "man", "matplotlib", "mkdir", "more", "mv", "notebook", "page", "pastebin", "pdb", "pdef", "pdoc", "pfile", "pinfo", "pinfo2", "pip", "popd", "pprint", "precision", "prun", "psearch", "psource", "pushd", "pwd", "pycat", "pylab", "quickref", "recall", "rehashx", "reload_ext", "rep", "rerun", "reset", "reset_selective", "rm", "rmdir", "run", "save", "sc", "set_env", "store", "sx", "system", "tb", "time", "timeit", "unalias", "unload_ext", "who", "who_ls", "whos", "xdel", "xmode"])

_STORES_RESULT = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*<<")


@dataclass(frozen=True, slots=True)
class PythonSource:
    """A cell's code as Python.

    Attributes:
        code: Python source with exactly the input's lines, in the same places.
        ipython: whether IPython syntax had to be rewritten.
        cell_magic: the cell magic's name when the cell starts with ``%%name``.
    """

    code: str
    ipython: bool = False
    cell_magic: str | None = None
    tree: ast.Module | None = field(default=None, compare=False, repr=False)


def to_python(source: str) -> PythonSource:
    """Rewrite a cell's IPython syntax to Python, keeping line numbers.

    Example:
        >>> to_python("!ls data\\nx = 1").code
        "get_ipython().system('ls data')\\nx = 1"
        >>> to_python("%%bash\\necho hi").code
        "get_ipython().run_cell_magic('bash', '', 'echo hi')\\n"
    """
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        return _cell_magic(lines, first)
    try:
        return PythonSource(source, tree=parse(source))
    except (SyntaxError, ValueError):
        pass
    code, tree = _line_syntax(source)
    return PythonSource(code, ipython=True, tree=tree)


def _cell_magic(lines: list[str], first: int) -> PythonSource:
    head = lines[first].strip()[2:]
    name, _, args = head.partition(" ")
    args = args.strip()
    body_lines = lines[first + 1:]
    python_body = name in PYTHON_BODY_MAGICS
    body = "" if python_body else "\n".join(body_lines)
    call = f"get_ipython().run_cell_magic({name!r}, {args!r}, {body!r})"
    stored = _STORES_RESULT.match(args) if name in {"sql", "bigquery"} else None
    target = stored.group("name") if stored else (args.split()[0] if name == "capture" and args and not args.startswith("-") else None)
    if target:
        call = f"{target} = {call}"
    rest = _line_syntax("\n".join(body_lines))[0].split("\n") if python_body else [""] * len(body_lines)
    code = [""] * first + [call] + rest
    return PythonSource("\n".join(code), ipython=True, cell_magic=name)


def _line_syntax(source: str) -> tuple[str, ast.Module | None]:
    """Line magics and shell escapes through IPython's transformer, line for line; with the
    parsed tree when the line-by-line rewrite parses (so no one parses a huge cell again)."""
    try:
        manager = _manager()
    except ImportError:  # pragma: no cover - IPython is a dependency; keep analysis alive anyway
        return source, None
    lines = _cleanup(manager, [_automagic(line) for line in source.split("\n")])
    # NB: most cells need only a few escaped lines rewritten; tokenising the whole cell with
    # IPython costs ten times more, so it is the fallback, not the first try.
    quick = "\n".join(_quick_rewrite(manager, lines))
    try:
        return quick, parse(quick)
    except (SyntaxError, ValueError):
        pass
    if not any(_ESCAPED.search(line) for line in lines):
        return quick, None  # plain Python with a syntax error: IPython cannot help, the analysis reports it
    whole = "\n".join(lines)
    try:
        code = _whole_cell(manager, whole, sum(1 for line in lines if _ESCAPED.search(line)))
    except Exception:  # noqa: BLE001 - a cell IPython cannot tokenise keeps the line-by-line rewrite
        return quick, None
    if code is None:
        return quick, None
    code = code[:-1] if code.endswith("\n") and not whole.endswith("\n") else code
    if code.count("\n") != whole.count("\n"):
        return quick, None  # a rewrite that moves lines would make every message point at the wrong line
    return "\n".join(_keep_timed_statement(line) for line in code.split("\n")), None


# The whole-cell pass tokenises the whole cell once per rewrite, so its cost is (rewrites x
# lines). Past this many tokenised lines (about a second) the line-by-line rewrite stands.
_WHOLE_CELL_BUDGET = 40_000


def _whole_cell(manager: _Transformer, whole: str, escaped: int) -> str | None:
    """IPython's whole-cell transform, bounded: at most one token rewrite per escaped line.

    IPython's own loop allows 500 rewrites, each retokenising the cell; a cell whose rewrite
    never settles (indented SQL after a line magic) then costs 500 tokenisations of the cell.
    ``None`` when the work would pass the budget or the rewrite does not settle.
    """
    cell = whole if whole.endswith("\n") else whole + "\n"
    lines = cell.splitlines(keepends=True)
    rounds = escaped + 1
    if rounds * len(lines) > _WHOLE_CELL_BUDGET:
        return None
    for transform in manager.cleanup_transforms + manager.line_transforms:
        lines = transform(lines)
    for _ in range(rounds):
        changed, lines = manager.do_one_token_transform(lines)
        if not changed:
            return "".join(lines)
    return None


def _cleanup(manager: _Transformer, lines: list[str]) -> list[str]:
    """IPython's clean-ups that keep the line count: common indentation, ``>>>`` and ``In [1]:`` prompts."""
    if not any(line.startswith((" ", "\t", ">>>", "In [", "...")) for line in lines[:1]):
        return lines
    kept = [line + "\n" for line in lines]
    for transform in manager.cleanup_transforms:
        if getattr(transform, "__name__", "") == "leading_empty_lines":
            continue
        result = transform(kept)
        if len(result) == len(kept):
            kept = result
    return [line.removesuffix("\n") for line in kept]


_ESCAPED = re.compile(r"^\s*[!%?]|^\s*[\w.\[\], ]+=\s*[!%]|\?\s*$")
class _Transformer(Protocol):
    """What is used of IPython's ``TransformerManager``, whose methods carry no annotations."""

    cleanup_transforms: list[Callable[[list[str]], list[str]]]
    line_transforms: list[Callable[[list[str]], list[str]]]

    def do_one_token_transform(self, lines: list[str]) -> tuple[bool, list[str]]: ...

    def transform_cell(self, cell: str) -> str: ...

    def __hash__(self) -> int: ...  # `_transform_line` memoises per manager


@lru_cache(maxsize=1)
def _manager() -> _Transformer:
    """One IPython transformer for the process; it keeps no state between cells."""
    from IPython.core.inputtransformer2 import TransformerManager

    make = cast("Callable[[], _Transformer]", TransformerManager)
    return make()


def _quick_rewrite(manager: _Transformer, lines: list[str]) -> list[str]:
    """Rewrite escaped lines one by one; a magic continued with ``\\`` is joined first and
    followed by blank lines, so the lines after it keep their numbers.

    NB:  %time pp = PrettyPrinter(\\        ->  get_ipython().run_line_magic('time', ''); pp = PrettyPrinter(indent=4)
             indent=4)                   ->  (blank)
    """
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not _ESCAPED.search(line):
            out.append(line)
            index += 1
            continue
        joined, consumed = line, 1
        while joined.endswith("\\") and index + consumed < len(lines):
            joined = joined[:-1] + " " + lines[index + consumed].strip()
            consumed += 1
        out.append(_keep_timed_statement(_escaped_line(manager, joined)))
        out.extend([""] * (consumed - 1))
        index += consumed
    return out


def _escaped_line(manager: _Transformer, line: str) -> str:
    stripped = line.lstrip()
    try:
        rewritten = _transform_line(manager, stripped)
    except Exception:  # noqa: BLE001 - IPython cannot tokenise the line alone; the whole-cell pass will try
        return line
    if "\n" in rewritten:
        return line
    return line[: len(line) - len(stripped)] + rewritten


@lru_cache(maxsize=4096)
def _transform_line(manager: _Transformer, line: str) -> str:
    """One line through IPython, memoised: notebooks repeat `%matplotlib inline` and the like."""
    return manager.transform_cell(line).rstrip("\n")


def _automagic(line: str) -> str:
    """``timeit f(x)`` → ``%timeit f(x)`` when the line is not Python by itself.

    NB: with automagic on (IPython's default) a line starting with a magic's name runs it:
        timeit dprod(xvec)      # the same as %timeit dprod(xvec)
    """
    stripped = line.lstrip()
    word = stripped.split(" ", 1)[0]
    if word not in AUTOMAGICS or stripped == word:
        return line
    try:
        parse(stripped)
        return line
    except SyntaxError:
        return line[: len(line) - len(stripped)] + "%" + stripped


_TIMED_CALL = re.compile(r"^(?P<indent>\s*)get_ipython\(\)\.run_line_magic\('(?P<name>\w+)', (?P<arg>'.*'|\".*\")\)\s*$")


@lru_cache(maxsize=4096)
def _keep_timed_statement(line: str) -> str:
    """``%time y = f(x)`` → ``get_ipython().run_line_magic('time', ''); y = f(x)``.

    NB: the timed statement runs in the user's namespace, so it defines names:
        %time model = fit(X)      # defines `model`
    Options such as ``%timeit -n 10 f()`` are dropped until the rest parses.
    """
    match = _TIMED_CALL.match(line)
    if not match or match.group("name") not in _TIMED:
        return line
    try:
        argument = ast.literal_eval(match.group("arg"))
    except (ValueError, SyntaxError):
        return line
    for skip in range(min(len(argument.split()), 6)):
        statement = (argument.split(None, skip)[-1] if skip else argument).strip()
        try:
            tree = parse(statement)
        except SyntaxError:
            continue
        if len(tree.body) == 1 and _simple(tree.body[0]):
            return f"{match.group('indent')}get_ipython().run_line_magic({match.group('name')!r}, ''); {statement}"
        return line
    return line


def _simple(node: ast.stmt) -> bool:
    return not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For,
                                 ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match))
