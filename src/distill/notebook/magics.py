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
from dataclasses import dataclass

#: Cell magics whose body is Python run in the kernel's namespace.
PYTHON_BODY_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "mprun", "lprun"})

#: Line magics whose argument is a Python statement run in the kernel's namespace.
_TIMED = ("time", "timeit", "prun", "capture", "debug", "memit", "mprun")

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
        ast.parse(source)
        return PythonSource(source)
    except (SyntaxError, ValueError):
        pass
    return PythonSource(_line_syntax(source), ipython=True)


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
    rest = _line_syntax("\n".join(body_lines)).split("\n") if python_body else [""] * len(body_lines)
    code = [""] * first + [call] + rest
    return PythonSource("\n".join(code), ipython=True, cell_magic=name)


def _line_syntax(source: str) -> str:
    """Line magics and shell escapes through IPython's transformer, line for line."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is a dependency; keep analysis alive anyway
        return source
    manager = TransformerManager()
    lines = source.split("\n")
    try:
        code = manager.transform_cell(source)
    except Exception:  # a cell IPython cannot tokenise: transform what can be, line by line
        code = None
    if code is None or code.rstrip("\n").count("\n") != source.rstrip("\n").count("\n"):
        # NB: some rewrites change the line count (a magic continued with a backslash);
        # rewriting each escaped line alone keeps the numbering.
        out = []
        for line in lines:
            stripped = line.lstrip()
            if stripped[:1] in ("!", "%", "?") or stripped.endswith("?"):
                indent = line[: len(line) - len(stripped)]
                try:
                    out.append(indent + manager.transform_cell(stripped).rstrip("\n"))
                except Exception:
                    out.append(line)
            else:
                out.append(line)
        code = "\n".join(out)
    else:
        code = code[:-1] if code.endswith("\n") and not source.endswith("\n") else code
    return "\n".join(_keep_timed_statement(line) for line in code.split("\n"))


_TIMED_CALL = re.compile(r"^(?P<indent>\s*)get_ipython\(\)\.run_line_magic\('(?P<name>\w+)', (?P<arg>'.*'|\".*\")\)\s*$")


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
            tree = ast.parse(statement)
        except SyntaxError:
            continue
        if len(tree.body) == 1 and _simple(tree.body[0]):
            return f"{match.group('indent')}get_ipython().run_line_magic({match.group('name')!r}, ''); {statement}"
        return line
    return line


def _simple(node: ast.stmt) -> bool:
    return not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For,
                                 ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match))
