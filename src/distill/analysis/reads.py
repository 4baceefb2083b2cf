"""What a piece of code reads from outside Python: files and environment variables.

Responsibilities:
- ``find_reads(node, ...)``: the files (literal or module-constant paths, globs, folders)
  and environment variables (by literal name) that one top-level definition or module-level
  statement reads through the usual readers, as frozen ``ReadRef`` records;
- reads whose target cannot be known from source (a computed path, ``os.environ`` as a
  whole) are recorded as ``unresolved`` with their line, so a step reaching them can say so.

Readers: ``open``/``io.open`` (not for writing), ``Path(...).read_text/read_bytes/open``,
``pandas``/``polars``/``pyarrow`` ``read_*``, ``numpy.load*``/``genfromtxt``/``fromfile``,
``joblib.load``, ``torch.load``, ``sqlite3.connect``, ``glob.glob``/``iglob``,
``Path(...).glob/rglob/iterdir``, ``os.listdir``/``os.scandir``; ``os.environ[...]``,
``os.environ.get``, ``os.getenv``.

A path is resolved from literals, f-strings of literals, module constants (``DATA =
"data/x.csv"``), ``Path(...)``, ``/`` and ``+`` joins, ``os.path.join`` and single local
assignments. A path built from a function parameter is the caller's business (a step's
``Path`` param is a data input already) and is not reported, unless the parameter's default
is a known path: ``def load(path=DATA)`` reads DATA's file. Pure: source in, records out.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ReadKind = Literal["file", "glob", "env", "name", "unresolved"]

_PATH_READERS = frozenset({"read_text", "read_bytes"})
_FOLDER_LISTERS = frozenset({"iterdir"})
_GLOBBERS = frozenset({"glob", "rglob"})
_FRAME_MODULES = frozenset({"pandas", "polars", "pyarrow", "geopandas", "dask"})
_NUMPY_READERS = frozenset({"load", "loadtxt", "genfromtxt", "fromfile", "memmap"})
_LOADERS = {"joblib": "load", "torch": "load"}
_WRITE_MODES = ("w", "a", "x")
_PATH_METHODS = _PATH_READERS | _GLOBBERS | _FOLDER_LISTERS | {"open"}


@dataclass(frozen=True, slots=True)
class ReadRef:
    """One read of something outside Python.

    Attributes:
        kind: ``file`` (a file or folder path), ``glob`` (a pattern), ``env`` (a variable
            name), ``name`` (a path held by a module-level name defined elsewhere, to be
            resolved across modules), ``unresolved`` (cannot be known from source).
        value: the path, pattern, variable or name; for ``unresolved``, what was read, in words.
        line: the line of the read in its module.
    """

    kind: ReadKind
    value: str
    line: int


class _Unresolved(Exception):
    """A path expression that cannot be known from source."""


class _FromParam(Exception):
    """A path built from a function parameter: the caller's business."""


@dataclass(frozen=True, slots=True)
class _Path:
    text: str
    imported_name: str | None = None  # set when the path is a name imported from elsewhere


class _Context:
    def __init__(
        self,
        constants: Mapping[str, ast.expr],
        modules: Mapping[str, str],
        imported: frozenset[str],
        params: frozenset[str],
        local: Mapping[str, ast.expr | None],
        file: str | None = None,
    ) -> None:
        self.file = file  # the module's own path, for `__file__`
        self.constants = constants
        self.modules = modules  # local name -> top-level module it names (np -> numpy)
        self.imported = imported  # names imported from other modules (from cfg import DATA)
        self.params = params
        self.local = local  # local name -> its single assigned value (None: assigned twice)

    def module_of(self, node: ast.expr) -> str | None:
        """The top-level module a dotted expression starts from (``pd.io`` -> pandas)."""
        while isinstance(node, ast.Attribute):
            node = node.value
        if isinstance(node, ast.Name):
            return self.modules.get(node.id)
        return None

    def path(self, node: ast.expr, depth: int = 0) -> _Path:
        if depth > 20:
            raise _Unresolved
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return _Path(node.value)
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    parts.append(value.value)
                elif isinstance(value, ast.FormattedValue) and value.format_spec is None:
                    parts.append(self.path(value.value, depth + 1).text)
                else:
                    raise _Unresolved
            return _Path("".join(parts))
        if isinstance(node, ast.Name):
            if node.id == "__file__" and self.file is not None:
                return _Path(self.file)
            if node.id in self.params:
                raise _FromParam
            if node.id in self.local:
                assigned = self.local[node.id]
                if assigned is None:
                    raise _Unresolved
                return self.path(assigned, depth + 1)
            if node.id in self.constants:
                return self.path(self.constants[node.id], depth + 1)
            if node.id in self.imported:
                return _Path("", imported_name=node.id)
            raise _Unresolved
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            return _Path(_dirname(self.path(node.value, depth + 1).text))
        if isinstance(node, ast.Call):
            name = _callee(node.func)
            if name in ("resolve", "absolute") and isinstance(node.func, ast.Attribute) and not node.args:
                return self.path(node.func.value, depth + 1)
            if name == "dirname" and self.module_of(node.func) == "os" and len(node.args) == 1:
                return _Path(_dirname(self.path(node.args[0], depth + 1).text))
            if name in ("Path", "PurePath", "PosixPath", "str", "fspath", "abspath", "expanduser"):
                if len(node.args) == 1 and not node.keywords:
                    return self.path(node.args[0], depth + 1)
                if not node.args and name in ("Path", "PurePath"):
                    return _Path(".")
            if name == "join" and self.module_of(node.func) == "os" and node.args and not node.keywords:
                return _Path("/".join(self.path(a, depth + 1).text for a in node.args))
            raise _Unresolved
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Add)):
            left = self.path(node.left, depth + 1)
            right = self.path(node.right, depth + 1)
            if left.imported_name is not None or right.imported_name is not None:
                raise _Unresolved
            joiner = "/" if isinstance(node.op, ast.Div) else ""
            return _Path(f"{left.text}{joiner}{right.text}")
        if _root_name(node) in self.params:
            raise _FromParam
        raise _Unresolved


def _dirname(path: str) -> str:
    head = path.rstrip("/").rpartition("/")[0]
    return head or "."


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _argument(call: ast.Call, *names: str) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg in names:
            return keyword.value
    return None


def _opens_for_writing(call: ast.Call, position: int) -> bool:
    mode: ast.expr | None = None
    if len(call.args) > position:
        mode = call.args[position]
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in _WRITE_MODES) and "+" not in mode.value
    return False


def _lists_files(node: ast.expr) -> bool:
    """Whether an iterable is a listing of files (``glob.glob(...)``, ``Path.iterdir()``...),
    itself a read: a loop over it reads what it lists, already in the key."""
    return any(
        isinstance(sub, ast.Call) and _callee(sub.func) in ("glob", "iglob", "rglob", "iterdir", "listdir", "scandir")
        for sub in ast.walk(node)
    )


def _locals(node: ast.AST) -> tuple[frozenset[str], dict[str, ast.expr | None]]:
    """Names a path may not be read from: parameters (and loop variables over a listing of
    files, which is a read already); and each local name assigned once, with its value."""
    params: set[str] = set()
    assigned: dict[str, ast.expr | None] = {}
    for sub in ast.walk(node):
        loop = sub if isinstance(sub, (ast.For, ast.AsyncFor, ast.comprehension)) else None
        if loop is not None and _lists_files(loop.iter):
            params.update(n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name))
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return frozenset(params), assigned
    params.update(_over_listings(node))
    args = node.args
    params.update(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
    params.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    for sub in ast.walk(node):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(sub, ast.Assign):
            targets, value = sub.targets, sub.value
        elif isinstance(sub, (ast.AnnAssign, ast.AugAssign, ast.For, ast.withitem)):
            target = sub.optional_vars if isinstance(sub, ast.withitem) else sub.target
            targets = [target] if target is not None else []
            value = sub.value if isinstance(sub, ast.AnnAssign) else None
        for target in targets:
            for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)):
                simple = isinstance(target, ast.Name) and value is not None
                assigned[name] = value if simple and name not in assigned else None
    return frozenset(params), assigned


def _path_defaults(node: ast.AST, constants: Mapping[str, ast.expr], modules: Mapping[str, str],
                   file: str | None) -> dict[str, ast.expr]:
    """A function's parameters whose default value is a path known from source, with that value.

    NB: not a step's: its `Path` params are data inputs already, hashed with their reason
    """
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or any(
            _callee(d.func if isinstance(d, ast.Call) else d) == "step" for d in node.decorator_list):
        return {}
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
    context = _Context(constants, modules, frozenset(), frozenset(), {}, file)
    found: dict[str, ast.expr] = {}
    for arg, default in pairs:
        if isinstance(default, ast.Constant) and not isinstance(default.value, str):
            continue  # NB: `None`, a number: nothing to read
        try:
            context.path(default)
        except (_Unresolved, _FromParam):
            continue
        found[arg.arg] = default
    return found


def _over_listings(node: ast.AST) -> set[str]:
    """Loop variables over a local name assigned once to a listing of files, which is a read
    already: ``paths = sorted(glob.glob("in/*.csv")); [pd.read_csv(p) for p in paths]``."""
    listings: dict[str, bool] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
            name = sub.targets[0].id
            listings[name] = name not in listings and _lists_files(sub.value)
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.For, ast.AsyncFor, ast.comprehension)) and isinstance(sub.iter, ast.Name) \
                and listings.get(sub.iter.id):
            names.update(n.id for n in ast.walk(sub.target) if isinstance(n, ast.Name))
    return names


def find_reads(
    node: ast.AST,
    *,
    constants: Mapping[str, ast.expr],
    modules: Mapping[str, str],
    imported: frozenset[str],
    file: str | None = None,
    functions: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[ReadRef, ...]:
    """Every read of a file or an environment variable under ``node``.

    Args:
        node: a top-level statement (a function, a class, an assignment, ...).
        constants: module-level names bound once to an expression, by name.
        modules: local names of imported modules → the top-level module (``np`` → numpy).
        imported: names imported from other modules with ``from m import name``.
        file: the module's path relative to the project root, for ``__file__``.
        functions: names imported from modules, ``{local: (top-level module, name)}``
            (``from os import getenv`` gives ``{"getenv": ("os", "getenv")}``).

    Example:
        >>> tree = ast.parse("def f():\\n    return open('conf/a.json').read()\\n")
        >>> find_reads(tree.body[0], constants={}, modules={}, imported=frozenset())
        (ReadRef(kind='file', value='conf/a.json', line=2),)
    """
    functions = functions or {}
    params, local = _locals(node)
    # NB: a parameter whose default is a known path reads that file when the caller passes none:
    #     def load(path=DATA): return pd.read_csv(path)   reads DATA's file
    defaults = _path_defaults(node, constants, modules, file)
    if defaults:
        params = params - set(defaults)
        constants = {**constants, **defaults}
    # NB: a module imported inside the function is as much a module as one imported above it:
    #     def f(): import glob; return glob.glob("in/*.csv")
    inner = {
        (alias.asname or alias.name).split(".")[0]: alias.name.split(".")[0]
        for sub in ast.walk(node)
        if isinstance(sub, ast.Import)
        for alias in sub.names
    }
    if inner:
        modules = {**modules, **inner}
    context = _Context(constants, modules, imported, params, local, file)
    found: list[ReadRef] = []
    environ_uses: set[int] = set()

    def add_path(kind: ReadKind, expr: ast.expr | None, line: int, what: str) -> None:
        if expr is None:
            return
        try:
            path = context.path(expr)
        except _FromParam:
            return
        except _Unresolved:
            found.append(ReadRef("unresolved", f"{what}({ast.unparse(expr)})", line))
            return
        if path.imported_name is not None:
            found.append(ReadRef("name", path.imported_name, line))
        elif kind == "glob" or any(c in path.text for c in "*?["):
            found.append(ReadRef("glob", path.text, line))
        else:
            found.append(ReadRef("file", path.text, line))

    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            name = _callee(func)
            module = context.module_of(func) if isinstance(func, ast.Attribute) else None
            if isinstance(func, ast.Name) and func.id in functions:
                # NB: a reader imported by name is the same reader:
                #     from pandas import read_csv; read_csv("in.csv")
                module, name = functions[func.id]
            line = sub.lineno
            if isinstance(func, ast.Name) and module is None and name == "open" or name == "open" and module == "io":
                if not _opens_for_writing(sub, 1):
                    add_path("file", _argument(sub, "file"), line, "open")
            elif module is None and isinstance(func, ast.Attribute) and name in _PATH_METHODS:
                if name == "open" and _opens_for_writing(sub, 0):
                    pass
                elif name in _GLOBBERS:
                    try:
                        base = context.path(func.value).text
                    except (_Unresolved, _FromParam):
                        base = None
                    pattern = _argument(sub, "pattern")
                    if base is not None and isinstance(pattern, ast.Constant) and isinstance(pattern.value, str):
                        prefix = "**/" if name == "rglob" else ""
                        found.append(ReadRef("glob", f"{base}/{prefix}{pattern.value}", line))
                    elif base is not None or _root_name(func.value) not in params:
                        add_path("glob", func.value, line, name)
                elif _is_path_call(func.value, context):
                    add_path("glob" if name in _FOLDER_LISTERS else "file", func.value, line, name)
            elif module is not None:
                # NB: `read_sql*` takes SQL or a table name: what it reads is the connection's database
                if module in _FRAME_MODULES and name is not None and name.startswith(("read_", "scan_")) \
                        and not name.startswith("read_sql"):
                    add_path("file", _argument(sub, "filepath_or_buffer", "path", "source", "io"), line, name)
                elif module == "numpy" and name in _NUMPY_READERS:
                    add_path("file", _argument(sub, "file", "fname", "filename"), line, name)
                elif _LOADERS.get(module) == name or module == "sqlite3" and name == "connect":
                    target = _argument(sub, "filename", "database", "f")
                    if not (isinstance(target, ast.Constant) and target.value == ":memory:"):
                        add_path("file", target, line, name or "connect")
                elif module == "glob" and name in ("glob", "iglob"):
                    add_path("glob", _argument(sub, "pathname"), line, name)
                elif module == "os" and name in ("listdir", "scandir"):
                    add_path("glob", _argument(sub, "path"), line, name)
                elif module == "os" and name == "getenv":
                    _env(found, _argument(sub, "key"), line, "os.getenv")
            if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault") and _is_environ(func.value, context):
                environ_uses.add(id(func.value))
                _env(found, _argument(sub, "key"), line, "os.environ.get")
        elif isinstance(sub, ast.Subscript) and _is_environ(sub.value, context):
            environ_uses.add(id(sub.value))
            if isinstance(sub.ctx, ast.Load):
                _env(found, sub.slice, sub.lineno, "os.environ[...]")
    for sub in ast.walk(node):
        if _is_environ(sub, context) and id(sub) not in environ_uses and isinstance(sub, ast.expr):
            found.append(ReadRef("unresolved", "os.environ as a whole", sub.lineno))
    return tuple(dict.fromkeys(found))


def constant_path(value: ast.expr, constants: Mapping[str, ast.expr], modules: Mapping[str, str], file: str) -> str | None:
    """The path a module constant holds, when it can be known from source (else ``None``)."""
    context = _Context(constants, modules, frozenset(), frozenset(), {}, file)
    try:
        path = context.path(value)
    except (_Unresolved, _FromParam):
        return None
    return path.text if path.imported_name is None else None


def _is_path_call(node: ast.expr, context: _Context) -> bool:
    """Whether ``node`` is a path: ``Path(...)``, a constant holding one, or a local one."""
    try:
        context.path(node)
    except _FromParam:
        return False
    except _Unresolved:
        return isinstance(node, ast.Call) and _callee(node.func) in ("Path", "PurePath")
    return True


def _is_environ(node: ast.AST, context: _Context) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return context.module_of(node) == "os"
    return isinstance(node, ast.Name) and node.id == "environ" and node.id in context.imported


def _env(found: list[ReadRef], key: ast.expr | None, line: int, what: str) -> None:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        found.append(ReadRef("env", key.value, line))
    else:
        shown = ast.unparse(key) if key is not None else ""
        found.append(ReadRef("unresolved", f"{what} with a computed name ({shown})", line))
