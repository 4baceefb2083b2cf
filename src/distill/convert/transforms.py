"""Source transforms: a notebook's code cells, step by step, from IPython to plain Python.

Responsibilities:
- ``Transform``: a named, pure function ``list[str] -> list[str]`` over the code cells'
  sources (one string per code cell), with the notes it leaves for ``CONVERSION.md``;
- ``apply``: run transforms in order and check the invariants after each one (same number
  of cells, every cell that parsed still parses); a transform that breaks them is skipped
  with a note rather than trusted;
- the transforms themselves: IPython syntax to Python, display magics dropped, package
  installs to dependencies, star imports to explicit names, any other magic or shell
  command to a comment.

Every transform keeps line numbers (a removed line becomes blank, or ``pass`` inside a
block), so a note's line is the line the author sees in Jupyter.

``%%sql`` and ``%%bigquery`` stay as ``run_cell_magic`` calls here: ``convert.ir`` turns
them into query steps, which needs the notebook's data flow.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import sys
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.machinery import (
    EXTENSION_SUFFIXES,
    BuiltinImporter,
    FrozenImporter,
    ModuleSpec,
    PathFinder,
)
from pathlib import Path

from ..analysis.cells import parse
from ..notebook.magics import to_python

#: Line magics that only change how things look or are timed: dropped.
DISPLAY_LINE_MAGICS = frozenset({
    "matplotlib", "config", "precision", "pprint", "load_ext", "reload_ext", "unload_ext", "autoreload",
    "aimport", "watermark", "who", "whos", "who_ls", "history", "lsmagic", "pwd", "ls", "ll", "magic",
    "quickref", "xmode", "colors", "timeit", "time", "prun", "memit", "lprun", "notebook", "pinfo", "pinfo2",
    "pdef", "pdoc", "psource", "pfile", "page", "clear", "reset", "tb", "debug", "pdb", "automagic", "qtconsole",
    "javascript", "html", "markdown", "latex", "svg", "skip", "mprun", "autosave", "dhist", "dirs",
})
#: Cell magics whose whole body only displays: the cell is dropped.
DISPLAY_CELL_MAGICS = frozenset({"html", "HTML", "markdown", "latex", "javascript", "js", "svg", "timeit", "prun", "memit"})
#: Cell magics whose body is Python that runs as usual: the magic line goes, the body stays.
PYTHON_CELL_MAGICS = frozenset({"time", "capture", "debug", "mprun", "lprun"})
#: Query magics, kept for ``convert.ir``.
QUERY_MAGICS = frozenset({"sql", "bigquery"})
#: Magics that run code the conversion cannot see: the notebook is refused.
OPAQUE_MAGICS = frozenset({"run", "load", "loadpy", "pylab_star", "store", "macro", "recall", "rerun", "R", "julia",
                           "octave", "cython", "fortran", "Rpush", "Rpull", "Rget"})

_INSTALLERS = re.compile(r"^\s*(?:\{?[\w.]*(?:sys\.executable|python3?)\}?\s+-m\s+)?(pip3?|conda|mamba|uv pip)\s+install\b(.*)$")
_TIMED_PREFIX = re.compile(r"^(\s*)get_ipython\(\)\.run_line_magic\('(?:time|timeit|prun|memit)', ''\);\s*")


@dataclass(frozen=True, slots=True)
class Note:
    """Something a transform did or could not do, for the conversion report.

    Attributes:
        cell: 1-based position of the cell in the notebook.
        line: 1-based line in the cell, when it is about one line.
        action: ``dropped``, ``dependency``, ``comment``, ``import`` or ``skipped``.
        text: the source concerned (one line).
        why: the reason, for a reader.
    """

    cell: int
    line: int | None
    action: str
    text: str
    why: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reason the notebook cannot be converted, at one place."""

    cell: int
    line: int | None
    reason: str
    hint: str


@dataclass
class Log:
    """Notes, refusals and the requirements that transforms collect on the way."""

    numbers: Sequence[int]  # code cell index -> notebook cell number
    originals: Sequence[str]  # code cell index -> the cell's source as written
    notes: list[Note] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    folder: Path | None = None  # the notebook's folder: its modules are found first, as Jupyter finds them

    def note(self, index: int, line: int | None, action: str, why: str, text: str | None = None) -> None:
        if text is None:
            text = self.original_line(index, line) if line is not None else ""
        self.notes.append(Note(self.numbers[index], line, action, text.strip(), why))

    def refuse(self, index: int, line: int | None, reason: str, hint: str) -> None:
        self.refusals.append(Refusal(self.numbers[index], line, reason, hint))

    _split: dict[int, list[str]] = field(default_factory=dict, init=False, repr=False)
    _trees: dict[str, ast.Module | None] = field(default_factory=dict, init=False, repr=False)

    def tree(self, code: str) -> ast.Module | None:
        """``code`` parsed, or ``None``; parsed once per text for the whole conversion.

        NB: each transform reads every cell, and most cells come out of a transform unchanged:
            without this a 100,000-line cell is parsed sixteen times. The trees are shared: read only.
        """
        if code not in self._trees:
            self._trees[code] = _tree(code)
        return self._trees[code]

    def remember(self, code: str, tree: ast.Module) -> None:
        """Keep a tree parsed elsewhere (``notebook.magics``) for ``tree``."""
        self._trees[code] = tree

    def original_line(self, index: int, line: int) -> str:
        lines = self._split.get(index)
        if lines is None:
            lines = self._split[index] = self.originals[index].split("\n")
        return lines[line - 1] if 0 < line <= len(lines) else ""


@dataclass(frozen=True, slots=True)
class Transform:
    """A named source transform; ``run(sources, log)`` returns the new sources."""

    name: str
    run: Callable[[list[str], Log], list[str]]


def apply(transforms: Sequence[Transform], sources: list[str], log: Log) -> list[str]:
    """Run ``transforms`` in order, each guarded by the invariants.

    After each transform the cell count must be the same and every cell that parsed before
    must still parse; otherwise the transform's result (and its notes) are dropped and a
    ``skipped`` note says why.
    """
    current = list(sources)
    for transform in transforms:
        notes_before = len(log.notes)
        requirements_before = len(log.requirements)
        result = transform.run(list(current), log)
        problem = _broken(current, result, log)
        if problem is None:
            current = result
            continue
        del log.notes[notes_before:]
        del log.requirements[requirements_before:]
        index, why = problem
        log.notes.append(Note(log.numbers[index] if index >= 0 else 0, None, "skipped",
                              transform.name, f"the transform was not applied: {why}"))
    return current


def _broken(before: list[str], after: list[str], log: Log) -> tuple[int, str] | None:
    if len(before) != len(after):
        return -1, f"{len(before)} cells became {len(after)}"
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        if old == new or log.tree(old) is None:
            continue
        if log.tree(new) is None:
            return index, "the cell no longer parses"
    return None


# -- the transforms ------------------------------------------------------------------------

def ipython_to_python(sources: list[str], log: Log) -> list[str]:
    """IPython syntax becomes the Python it runs, on the same lines.

    Before::

        %matplotlib inline
        !pip install seaborn

    After::

        get_ipython().run_line_magic('matplotlib', 'inline')
        get_ipython().system('pip install seaborn')
    """
    out = []
    for index, source in enumerate(sources):
        python = to_python(source)
        if python.tree is not None:
            log.remember(python.code, python.tree)
        elif log.tree(python.code) is None:
            try:
                parse(python.code)
            except SyntaxError as exc:
                log.refuse(index, exc.lineno, f"the cell does not parse: {exc.msg}",
                           "fix the cell so that it runs, then convert again")
            except ValueError as exc:
                log.refuse(index, None, f"the cell does not parse: {exc}", "fix the cell, then convert again")
        out.append(python.code)
    return out


def drop_display_magics(sources: list[str], log: Log) -> list[str]:
    """Magics that only display or time something are dropped; timed statements stay.

    Before::

        %matplotlib inline
        %time model = fit(df)

    After::

        (blank)
        model = fit(df)
    """
    out = []
    for index, code in enumerate(sources):
        lines = code.split("\n")
        for call in _magic_calls(code, log):
            if call.kind == "cell" and call.name in DISPLAY_CELL_MAGICS:
                log.note(index, call.line, "dropped", f"%%{call.name} only displays or times its cell")
                lines = [""] * len(lines)
                break
            if call.kind == "cell" and call.name in PYTHON_CELL_MAGICS:
                if call.target:
                    log.note(index, call.line, "dropped",
                             f"%%{call.name} {call.target}: the captured output is display, not data")
                else:
                    log.note(index, call.line, "dropped", f"%%{call.name} only times or captures output; the body stays")
                _blank(lines, call)
                continue
            if call.kind == "line" and call.name in DISPLAY_LINE_MAGICS and not call.target:
                text = lines[call.line - 1]
                timed = _TIMED_PREFIX.match(text)
                if timed and call.name in ("time", "prun", "memit") and text[timed.end():].strip():
                    lines[call.line - 1] = timed.group(1) + text[timed.end():]
                    log.note(index, call.line, "dropped", f"%{call.name} only times the statement; the statement stays")
                    continue
                log.note(index, call.line, "dropped", f"%{call.name} only changes display, timing or the session")
                _blank(lines, call)
        out.append("\n".join(lines))
    return out


def installs_to_dependencies(sources: list[str], log: Log) -> list[str]:
    """``!pip install`` and ``%pip``/``%conda install`` become project dependencies.

    Before::

        !pip install -q "seaborn>=0.13" xgboost

    After: the line is blank and ``seaborn>=0.13`` and ``xgboost`` are requirements.
    """
    out = []
    for index, code in enumerate(sources):
        lines = code.split("\n")
        for call in _magic_calls(code, log):
            command = call.args if call.kind == "shell" else f"{call.name} {call.args}"
            if call.kind == "line" and call.name not in ("pip", "conda", "mamba"):
                continue
            if call.kind not in ("line", "shell"):
                continue
            match = _INSTALLERS.match(command)
            if not match:
                continue
            specs = _requirement_specs(match.group(2))
            log.requirements.extend(specs)
            log.note(index, call.line, "dependency",
                     "installs packages from inside the notebook; they are project dependencies now: "
                     + (", ".join(specs) if specs else "(no package named)"))
            _blank(lines, call)
        out.append("\n".join(lines))
    return out


def explicit_star_imports(sources: list[str], log: Log) -> list[str]:
    """``from m import *`` becomes an import of the names the notebook takes from ``m``.

    What ``m`` exports is read from its source (``star_exports``); nothing is imported or run.

    Before::

        from math import *
        area = pi * r ** 2

    After::

        from math import pi
        area = pi * r ** 2
    """
    free = _free_names(sources)
    out = []
    claimed: set[str] = set()
    for index, code in enumerate(sources):
        lines = code.split("\n")
        tree = log.tree(code)
        for node in tree.body if tree else ():
            if not (isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)):
                continue
            module = "." * node.level + (node.module or "")
            try:
                exported = star_exports(module, log.folder)
            except StarImportUnknown as exc:
                if exc.missing:
                    log.refuse(index, node.lineno, f"`from {module} import *` cannot be expanded: importing "
                               f"{module} would fail: {exc.why}",
                               f"install {module.split('.')[0]} here, or import the names you use explicitly")
                else:
                    log.refuse(index, node.lineno, f"cannot expand `from {module} import *` without running "
                               f"{module}: {exc.why}", f"import the names you use explicitly "
                               f"(`from {module} import name, other`), then convert again")
                continue
            names = sorted((free & exported) - claimed)
            claimed.update(names)
            indent = lines[node.lineno - 1][: node.col_offset]
            replacement = f"{indent}from {module} import {', '.join(names)}" if names else ""
            lines[node.lineno - 1] = replacement
            for extra in range(node.lineno, node.end_lineno or node.lineno):
                lines[extra] = ""
            log.note(index, node.lineno, "import",
                     f"star import made explicit: {', '.join(names) if names else 'no name is used, dropped'}",
                     text=f"from {module} import *")
        out.append("\n".join(lines))
    return out


def _free_names(sources: list[str], *, builtins: bool = False) -> set[str]:
    """The names the notebook reads and binds nowhere (not builtins, unless ``builtins``): what an
    import must bring."""
    from ..analysis.cells import analyze_cell
    from ..notebook.flow import BUILTIN_NAMES

    analyses = [analyze_cell(code, index) for index, code in enumerate(sources)]
    defined = {name for a in analyses for name in a.defs}
    wanted: set[str] = set()
    for a in analyses:
        wanted.update(use.name for use in a.uses)
        for fn in a.functions:
            wanted.update(fn.reads)
    return {name for name in wanted if name not in defined and (builtins or name not in BUILTIN_NAMES)}


#: What ``%pylab --no-import-all`` still binds.
PYLAB_ALWAYS = frozenset({"np", "plt", "numpy", "matplotlib", "mlab", "pyplot", "pylab", "display", "figsize",
                          "getfigs"})


def pylab_imports(sources: list[str], log: Log) -> list[str]:
    """``%pylab`` becomes explicit imports of the names the notebook takes from it.

    Before::

        %pylab inline
        x = linspace(0, 1, 5)
        plot(x, sin(x))

    After::

        import matplotlib.pyplot as plt
        from matplotlib.pyplot import plot
        from numpy import linspace, sin

    The names and their modules are in ``pylab_names`` (numpy's are computed at import).
    """
    from .pylab_names import MODULES, NAMES

    if not any(call.kind == "line" and call.name == "pylab" for code in sources for call in _magic_calls(code, log)):
        return sources
    # NB: `%pylab` binds numpy's `sum`, `round`, `max`, … over the builtins: they are imported too
    free = _free_names(sources, builtins=True)
    out = []
    for index, code in enumerate(sources):
        lines = code.split("\n")
        for call in _magic_calls(code, log):
            if call.kind != "line" or call.name != "pylab":
                continue
            names = free if "--no-import-all" not in call.args.split() else free & PYLAB_ALWAYS
            imports = [_module_import(name, MODULES[name]) for name in sorted(names) if name in MODULES]
            for module, exported in NAMES.items():
                taken = sorted(names & exported)
                if taken:
                    imports.append(f"from {module} import {', '.join(taken)}")
            indent = lines[call.line - 1][:call.col]
            lines[call.line - 1] = "\n".join(indent + line for line in imports)
            for extra in range(call.line, call.end_line):
                lines[extra] = ""
            log.note(index, call.line, "import", "%pylab made explicit: " + ("; ".join(imports) or "no name is used"),
                     text=log.original_line(index, call.line).strip())
        out.append("\n".join(lines))
    return out


def _module_import(name: str, module: str) -> str:
    if name == module:
        return f"import {module}"
    parent, _, last = module.rpartition(".")
    return f"from {parent} import {last}" if last == name and parent else f"import {module} as {name}"


def other_magics_to_comments(sources: list[str], log: Log) -> list[str]:
    """Any magic or shell command left is kept as a comment and reported.

    Magics that run code the conversion cannot see (``%run``, ``%load``, ``%%R``…) and shell
    output used as a value (``files = !ls``) refuse the notebook instead.

    Before::

        !wget https://example.org/data.csv

    After::

        # !wget https://example.org/data.csv
    """
    out = []
    for index, code in enumerate(sources):
        lines = code.split("\n")
        for call in _magic_calls(code, log):
            if call.kind == "cell" and call.name in QUERY_MAGICS:
                continue
            if call.kind == "line" and call.name in QUERY_MAGICS:
                continue
            original = log.original_line(index, call.line).strip()
            if call.name in OPAQUE_MAGICS or (call.kind == "line" and call.name == "pylab"):
                log.refuse(index, call.line, f"`{original}` runs code that distill cannot see",
                           "copy that code into the notebook (or import it as a module), then convert again")
                continue
            if call.target:
                python = shell_value(call.args) if call.kind == "shell" and not call.nested else None
                if python is None:
                    log.refuse(index, call.line, f"`{original}` uses the output of a magic or shell command as a value",
                               "compute the value in Python (subprocess.run, pathlib, …), then convert again")
                    continue
                log.note(index, call.line, "python", "the shell command's output (a list of lines) is computed "
                         "in Python, without a shell")
                lines[call.line - 1] = f"{python[0]}; {call.target} = {python[1]}"
                for extra in range(call.line, call.end_line):
                    lines[extra] = ""
                continue
            why = ("a shell command: it is not run by the pipeline" if call.kind == "shell"
                   else f"the magic %{call.name} has no pipeline equivalent")
            log.note(index, call.line, "comment", why)
            blank = re.match(r"\s*", lines[call.line - 1])  # NB: always matches, maybe empty
            indent = blank.group(0) if blank else ""
            if call.kind == "cell":
                original_lines = log.originals[index].split("\n")
                lines = [f"# {line}" if line.strip() else "" for line in original_lines]
                break
            lines[call.line - 1] = f"{indent}# {original}" if indent == "" else f"{indent}pass  # {original}"
            for extra in range(call.line, call.end_line):
                lines[extra] = ""
        out.append("\n".join(lines))
    return out


_SHELL_SYNTAX = re.compile(r"[|&;<>$`(){}!~\\\"']")
_GLOB = re.compile(r"[*?\[\]]")


def shell_value(command: str) -> tuple[str, str] | None:
    """``(import, expression)`` giving in Python what ``x = !command`` gives (its output lines),
    for simple commands; ``None`` for anything a shell would interpret (pipes, redirections,
    variables, quoting) or that has no plain equivalent.

    Example:
        >>> shell_value("ls data/*.csv")
        ('import glob', "sorted(glob.glob('data/*.csv'))")
        >>> shell_value("git rev-parse HEAD")
        ('import subprocess', "subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True, check=True).stdout.splitlines()")
    """
    filtered = _grep_filter(command)
    if filtered is not None:
        return filtered
    if _SHELL_SYNTAX.search(command):
        return None
    words = command.split()
    if not words:
        return None
    program, args = words[0], words[1:]
    if program == "ls":
        args = [a for a in args if a != "-1"]
        if any(a.startswith("-") for a in args) or len(args) > 1:
            return None
        target = args[0] if args else "."
        if _GLOB.search(target):
            return "import glob", f"sorted(glob.glob({target!r}))"
        return "import os", f"sorted(name for name in os.listdir({target!r}) if not name.startswith('.'))"
    if program == "pwd" and not args:
        return "import os", "[os.getcwd()]"
    if program == "cat" and len(args) == 1 and not _GLOB.search(args[0]) and not args[0].startswith("-"):
        return "import pathlib", f"pathlib.Path({args[0]!r}).read_text(encoding='utf-8').splitlines()"
    if _GLOB.search(command):
        return None
    return ("import subprocess",
            f"subprocess.run({words!r}, capture_output=True, text=True, check=True).stdout.splitlines()")


#: ``COMMAND [2>&1] | grep [-i] [-v] WORD``: a simple command's lines, kept when they hold a plain word.
_GREP = re.compile(r"^(?P<command>[^|]+?)\s*(?P<both>2>&1)?\s*\|\s*grep\s+(?P<flags>(?:-[iv]\s+)*)"
                   r"(?P<word>[\w\-+/:=@%]+)\s*$")  # NB: no `.`, which grep reads as any character


def _grep_filter(command: str) -> tuple[str, str] | None:
    """``(import, expression)`` for a simple command piped into ``grep WORD``, else ``None``.

    Example:
        >>> _grep_filter("pip list 2>&1 | grep flake8")[1]
        "[line for line in subprocess.run(['pip', 'list'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=True).stdout.splitlines() if 'flake8' in line]"
    """
    match = _GREP.match(command.strip())
    if match is None or _SHELL_SYNTAX.search(match["command"]) or _GLOB.search(match["command"]):
        return None
    words = match["command"].split()
    flags = match["flags"].split()
    # NB: `2>&1` sends the command's errors to grep too; without it they go to the notebook's output
    streams = "stdout=subprocess.PIPE, stderr=subprocess.STDOUT" if match["both"] else "capture_output=True"
    run = f"subprocess.run({words!r}, {streams}, text=True, check=True).stdout.splitlines()"
    line, word = ("line.lower()", match["word"].lower()) if "-i" in flags else ("line", match["word"])
    test = f"{word!r} {'not in' if '-v' in flags else 'in'} {line}"
    return "import subprocess", f"[line for line in {run} if {test}]"


TRANSFORMS: tuple[Transform, ...] = (
    Transform("ipython-to-python", ipython_to_python),
    Transform("drop-display-magics", drop_display_magics),
    Transform("installs-to-dependencies", installs_to_dependencies),
    Transform("pylab-imports", pylab_imports),
    Transform("explicit-star-imports", explicit_star_imports),
    Transform("other-magics-to-comments", other_magics_to_comments),
)


# -- helpers -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MagicCall:
    """A ``get_ipython()`` call statement left by ``to_python``."""

    kind: str  # line | cell | shell
    name: str
    args: str
    line: int
    end_line: int
    col: int
    nested: bool
    target: str | None = None
    body: str = ""


def magic_calls(code: str) -> list[MagicCall]:
    """Every statement of ``code`` that is (or assigns) a ``get_ipython()`` magic call."""
    return _magic_calls(code)


def _magic_calls(code: str, log: Log | None = None) -> list[MagicCall]:
    tree = log.tree(code) if log is not None else _tree(code)
    if tree is None:
        return []
    found: list[MagicCall] = []
    # NB: a work list, not recursion: an `elif` ladder nests one `If` per branch
    pending: list[tuple[ast.stmt, bool]] = [(node, False) for node in reversed(tree.body)]
    while pending:
        node, nested = pending.pop()
        call = _magic_of(node, nested)
        if call is not None:
            found.append(call)
            continue
        children: list[ast.stmt] = []
        for name in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, name, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], (ast.stmt, ast.ExceptHandler)):
                for item in inner:
                    if isinstance(item, ast.ExceptHandler):
                        children.extend(item.body)
                children.extend(item for item in inner if isinstance(item, ast.stmt))
        pending.extend((child, True) for child in reversed(children))
    return found


def _magic_of(node: ast.stmt, nested: bool) -> MagicCall | None:
    target = None
    value: ast.expr | None = None
    if isinstance(node, ast.Expr) or (isinstance(node, ast.Assign) and len(node.targets) == 1):
        value = node.value
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute):
        return None
    owner = value.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "get_ipython"):
        return None
    if isinstance(node, ast.Assign):
        # NB: unparsed only for a magic: any other target may be nested too deeply to unparse
        target = ast.unparse(node.targets[0])
    method = value.func.attr
    texts = [arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "" for arg in value.args]
    end = node.end_lineno or node.lineno
    if method in ("system", "getoutput") and texts:
        return MagicCall("shell", "!", texts[0], node.lineno, end, node.col_offset, nested, target)
    if method == "run_line_magic" and len(texts) >= 2:
        return MagicCall("line", texts[0], texts[1], node.lineno, end, node.col_offset, nested, target)
    if method == "run_cell_magic" and len(texts) >= 3:
        return MagicCall("cell", texts[0], texts[1], node.lineno, end, node.col_offset, nested, target, texts[2])
    return None


def _blank(lines: list[str], call: MagicCall) -> None:
    for number in range(call.line, call.end_line + 1):
        lines[number - 1] = ""
    if call.nested:
        indent = " " * call.col
        lines[call.line - 1] = f"{indent}pass"


def _tree(code: str) -> ast.Module | None:
    try:
        return parse(code)
    except (SyntaxError, ValueError):
        return None


def _requirement_specs(args: str) -> list[str]:
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    specs: list[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word in ("-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
                    "-f", "--find-links", "-t", "--target", "--channel", "-n", "--name"):
            skip_next = True
            continue
        if word.startswith("-") or "{" in word or "$" in word:
            continue
        specs.append(word)
    return specs




# -- star imports, from source -------------------------------------------------------------

#: How many ``from x import *`` a star import may go through (``pkg`` → ``pkg.core`` → …).
MAX_STAR_DEPTH = 8
#: Calls that give a module's namespace as a dict.
_NAMESPACE_CALLS = frozenset({"globals", "locals", "vars"})
#: What reading a namespace dict may call: anything else may bind names.
_NAMESPACE_READS = frozenset({"get", "keys", "values", "items", "copy", "__contains__", "__getitem__"})


class StarImportUnknown(Exception):
    """What ``from m import *`` binds cannot be known without running code (``why``), or
    ``m`` is not found at all (``missing``)."""

    def __init__(self, why: str, *, missing: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.missing = missing


def star_exports(module: str, folder: Path | None) -> set[str]:
    """The names ``from module import *`` binds, read from source: nothing is imported or run.

    The module's file is found the way the notebook's kernel finds it (the notebook's folder
    first, then ``sys.path``, never the folder convert runs from) with
    ``PathFinder.find_spec`` on an explicit path list, one package level at a time, so no
    parent package is imported. The file is parsed: ``__all__`` when it is a literal (also
    grown by literal ``+=``/``extend``/``append``), else the public top-level names (defs,
    classes, assignments, imports), following ``from .x import *`` inside it.

    A standard-library module this process has already loaded from that file (``math``,
    ``os``, ``os.path``) is read from ``sys.modules``, which runs nothing.

    Raises:
        StarImportUnknown: an extension module, a computed ``__all__``, names bound at run
            time (``globals()``, ``exec``), unreadable source, or no such module.
    """
    if module.startswith("."):
        raise StarImportUnknown("a relative import, and a notebook is not part of a package")
    return _star_names(module, _search_path(folder), 0, set())


def _search_path(folder: Path | None) -> list[str]:
    here = os.getcwd()
    entries = [str(folder)] if folder is not None else []
    for entry in sys.path:
        # NB: "" and the current folder are where convert was started, not the notebook's.
        if entry and os.path.abspath(entry) != here and entry not in entries:
            entries.append(entry)
    return entries


def _find_spec(module: str, path: list[str]) -> ModuleSpec | None:
    """The spec of ``module``, found level by level in folders; no package is imported."""
    parts = module.split(".")
    spec = PathFinder.find_spec(parts[0], path)
    if spec is None:
        # NB: installed import hooks (editable installs) map names to folders; asking them
        #     for a top-level name imports nothing.
        for finder in sys.meta_path:
            if finder in (BuiltinImporter, FrozenImporter, PathFinder) or not hasattr(finder, "find_spec"):
                continue
            try:
                spec = finder.find_spec(parts[0], None)
            except Exception:  # noqa: BLE001 - a hook that fails to answer finds nothing
                spec = None
            if spec is not None:
                break
    for depth in range(1, len(parts)):
        locations = spec.submodule_search_locations if spec is not None else None
        if not locations:
            return None
        spec = PathFinder.find_spec(".".join(parts[: depth + 1]), list(locations))
    return spec


def _loaded_module(module: str, origin: str | None) -> set[str] | None:
    """The names of a standard-library module this process has already loaded from ``origin``
    (``None``: built in, or set by its package, like ``os.path``); reading them runs nothing."""
    if module.split(".")[0] not in sys.stdlib_module_names:
        return None
    loaded = sys.modules.get(module)
    if loaded is None or (origin is not None and getattr(loaded, "__file__", None) != origin):
        return None
    names = getattr(loaded, "__all__", None)
    if names is None:
        names = [name for name in vars(loaded) if not name.startswith("_")]
    return {str(name) for name in names}


def _star_names(module: str, path: list[str], depth: int, active: set[str]) -> set[str]:
    if depth > MAX_STAR_DEPTH:
        raise StarImportUnknown(f"star imports go more than {MAX_STAR_DEPTH} modules deep (at {module})")
    if module in active:
        return set()  # NB: a cycle: the module is still being initialised, its names are not bound yet
    spec = _find_spec(module, path)
    if spec is None:
        found = _loaded_module(module, None)
        if found is not None:
            return found
        if module in sys.builtin_module_names:
            raise StarImportUnknown(f"{module} is built into the interpreter; its names are only known by loading it")
        parent = module.rpartition(".")[0]
        parent_spec = _find_spec(parent, path) if parent else None
        if parent_spec is not None and not parent_spec.submodule_search_locations:
            raise StarImportUnknown(f"{module} is no file of its own: {parent} makes it when it runs")
        raise StarImportUnknown(f"no module named {module!r} beside the notebook or installed here", missing=True)
    origin = spec.origin
    if origin is None or origin == "namespace":
        return set()  # NB: a namespace package binds nothing of its own
    found = _loaded_module(module, origin)
    if found is not None:
        return found
    if origin.endswith(tuple(EXTENSION_SUFFIXES)):
        raise StarImportUnknown(f"{module} is an extension module (compiled code); its names are only known by "
                                "loading it")
    if not origin.endswith(".py") or not os.path.isfile(origin):
        raise StarImportUnknown(f"the source of {module} is not a Python file ({os.path.basename(origin)})")
    try:
        with tokenize.open(origin) as handle:
            text = handle.read()
        tree = ast.parse(text, filename=origin)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError) as exc:
        raise StarImportUnknown(f"the source of {module} cannot be read ({type(exc).__name__}: {exc})") from None
    is_package = os.path.basename(origin) == "__init__.py"
    return _module_names(tree, module, is_package, path, depth, active | {module})


def _module_names(tree: ast.Module, module: str, is_package: bool, path: list[str], depth: int,
                  active: set[str]) -> set[str]:
    """What a star import of a module with this source binds (see ``star_exports``)."""
    bound: dict[str, None] = {}
    exported: list[str] | None = None
    computed: str | None = None
    dynamic: str | None = None
    package = module if is_package else module.rpartition(".")[0]

    def literal_names(node: ast.expr | None) -> list[str] | None:
        if isinstance(node, (ast.List, ast.Tuple)) and all(
                isinstance(item, ast.Constant) and isinstance(item.value, str) for item in node.elts):
            return [str(item.value) for item in node.elts if isinstance(item, ast.Constant)]
        return None

    def targets(node: ast.expr) -> list[str]:
        return [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]

    def visit(body: list[ast.stmt]) -> None:
        nonlocal exported, computed
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound[node.name] = None
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == "__all__":
                        exported = literal_names(node.value)
                        computed = None if exported is not None else f"the `__all__` of {module} is computed"
                    for name in targets(target):
                        bound[name] = None
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                if node.value is None:
                    continue  # NB: `x: int` alone binds nothing
                if isinstance(node.target, ast.Name) and node.target.id == "__all__":
                    extra = literal_names(node.value)
                    if isinstance(node, ast.AnnAssign):
                        exported = extra
                        computed = None if extra is not None else f"the `__all__` of {module} is computed"
                    elif extra is not None and exported is not None and isinstance(node.op, ast.Add):
                        exported = exported + extra
                    else:
                        computed = f"the `__all__` of {module} is computed"
                bound.update(dict.fromkeys(targets(node.target)))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bound[alias.asname or alias.name.split(".")[0]] = None
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    base = package.split(".") if package else []
                    if node.level - 1 > len(base) or not base:
                        raise StarImportUnknown(f"{module} imports beyond its package (`from {'.' * node.level}"
                                                f"{source} import ...`)")
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join([*base, *([source] if source else [])])
                    if is_package and node.level == 1 and node.module:
                        bound[node.module.split(".")[0]] = None  # NB: importing pkg.sub binds `sub` in pkg
                for alias in node.names:
                    if alias.name == "*":
                        try:
                            bound.update(dict.fromkeys(_star_names(source, path, depth + 1, active)))
                        except StarImportUnknown as exc:
                            if not exc.missing:
                                raise
                            # NB: `elif 'nt' in _names: from nt import *` in os: a branch that cannot run here
                    else:
                        bound[alias.asname or alias.name] = None
            elif isinstance(node, ast.Delete):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        bound.pop(target.id, None)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                    and isinstance(node.value.func, ast.Attribute) and isinstance(node.value.func.value, ast.Name) \
                    and node.value.func.value.id == "__all__":
                call, method = node.value, node.value.func.attr
                argument = call.args[0] if len(call.args) == 1 and not call.keywords else None
                extra = literal_names(argument) if method == "extend" else (
                    [argument.value] if method == "append" and isinstance(argument, ast.Constant)
                    and isinstance(argument.value, str) else None)
                if extra is None or exported is None:
                    computed = f"the `__all__` of {module} is computed"
                else:
                    exported = exported + extra
            if isinstance(node, (ast.For, ast.AsyncFor)):
                bound.update(dict.fromkeys(targets(node.target)))
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        bound.update(dict.fromkeys(targets(item.optional_vars)))
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.NamedExpr):
                        bound[sub.target.id] = None
                    elif isinstance(sub, (ast.MatchAs, ast.MatchStar)) and sub.name:
                        bound[sub.name] = None
            for name in ("body", "orelse", "finalbody"):
                inner = getattr(node, name, None)
                if isinstance(inner, list) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                         ast.ClassDef)):
                    visit([item for item in inner if isinstance(item, ast.stmt)])
            for handler in getattr(node, "handlers", ()):
                visit(handler.body)
            for case in getattr(node, "cases", ()):
                visit(case.body)

    visit(tree.body)
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Global):
            bound.update(dict.fromkeys(sub.names))  # NB: bound when the function runs; a name may exist
        elif dynamic is None and (line := _binds_at_run_time(sub)):
            dynamic = f"{module} defines names at run time (line {line})"
    if exported is not None and computed is None:
        return set(exported)
    if computed is not None:
        raise StarImportUnknown(computed)
    if dynamic is not None:
        raise StarImportUnknown(dynamic)
    return {name for name in bound if not name.startswith("_")}


def _binds_at_run_time(node: ast.AST) -> int | None:
    """The line of ``node`` when it may bind module names no reading of the source can see:
    ``exec(...)``, ``globals()[name] = ...``, ``globals().update(...)``,
    ``setattr(sys.modules[__name__], ...)``."""
    def namespace(expr: ast.expr) -> bool:
        return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in _NAMESPACE_CALLS \
            and not expr.args

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "exec":
            return node.lineno
        if node.func.id == "setattr" and node.args and "modules" in ast.unparse(node.args[0]):
            return node.lineno
    if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load) and namespace(node.value):
        return node.lineno
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and namespace(node.func.value) \
            and node.func.attr not in _NAMESPACE_READS:
        return node.lineno
    return None
