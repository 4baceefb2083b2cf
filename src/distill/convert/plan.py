"""From classified statements to a pipeline plan: steps, versions, helpers, params, data.

Responsibilities:
- group the statements that compute into steps, along markdown sections (one step per
  section; one per cell where there is no heading), with each figure and each query a step
  of its own;
- replay the groups in order to find each step's inputs (names it reads that an earlier
  step wrote) and outputs (names a later step reads, and results nothing reads again);
- give every version of a name that several steps write a distinct name: the last keeps the
  notebook's name, earlier ones get the step's name as a suffix (``df_load``, ``df_clean``);
- helpers: the notebook variables each function reads, transitively through the helpers it
  calls, become its explicit parameters;
- params: literal constants (see ``convert.ir``) and literal paths of files the notebook
  reads, typed; a string naming a data file is a ``Path``, so a changed file re-runs its steps;
- every reason the notebook cannot become a pipeline, as a refusal naming the cell.

Pure: the only file access is checking which literal paths exist beside the notebook.
"""

from __future__ import annotations

import ast
import bisect
import keyword
import os
import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..analysis.cells import FileAccess, dotted_name, recursion_room
from ..analysis.reads import constant_path, find_reads
from ..analysis.scope import FUNCTIONS, module_reads, own_nodes
from ..notebook.flow import BUILTIN_NAMES
from .ir import NOT_LITERAL, NotebookIR, Stmt, literal_value
from .transforms import Log, Note, Refusal

DATA_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", ".pq", ".xlsx", ".xls", ".feather",
                           ".arrow", ".pkl", ".pickle", ".h5", ".hdf5", ".npy", ".npz", ".db", ".sqlite", ".sqlite3",
                           ".xml", ".yaml", ".yml", ".dta", ".sav", ".sas7bdat", ".zip", ".gz", ".data", ".dat"})
MAX_COPY_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Param:
    """A run parameter of the generated pipeline (frozen: a pass that changes one makes a new one)."""

    name: str
    value: object
    annotation: str
    cell: int
    line: int
    reason: str
    is_path: bool = False
    source_file: Path | None = None  # the file beside the notebook, to copy into the project
    literal: str | None = None  # for an inline path: the literal it replaces
    env: str | None = None  # for a secret: the environment variable its value is read from


@dataclass(frozen=True)
class Helper:
    """A function or class that goes to ``lib.py``."""

    name: str
    stmt: Stmt
    kind: str
    needs: tuple[str, ...] = ()  # notebook variables it reads, now keyword-only parameters
    mutates: tuple[str, ...] = ()  # notebook variables it changes: in place, or (``sets``) by `global`
    #: notebook variables it assigned with `global`, now returned: after its own result when it
    #: has one (``returns``), and bound by each call (``total = add(1, total=total)``)
    sets: tuple[str, ...] = ()
    returns: bool = False


@dataclass(frozen=True)
class StepPlan:
    """One generated step (frozen: the flow, files and naming passes each return new ones).

    Attributes:
        name: the function's name.
        kind: ``step``, ``figure`` or ``query``.
        inputs: ``(name in the code, output it comes from)``, in order of first read.
        outputs: ``(name in the code, output name)``.
        copies: inputs the step changes in place, so it works on a deep copy.
        aliases: inputs the step rebinds, so it starts from a local of the notebook's name.
    """

    name: str
    kind: str
    title: str | None
    statements: tuple[Stmt, ...]
    inputs: tuple[tuple[str, str], ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    params: tuple[str, ...] = ()
    helpers: tuple[str, ...] = ()
    copies: frozenset[str] = frozenset()
    aliases: frozenset[str] = frozenset()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    slug: str = ""
    files: tuple[str, ...] = ()  # files it writes, relative to the project: `@step(writes=...)`
    folders: tuple[str, ...] = ()  # their folders, which the notebook's folder had already
    #: assignments whose name nothing reads afterwards (``_dead_stores``): left out of the code,
    #: or (``value_only``) kept as a statement of their value, which may do something
    dropped: frozenset[int] = frozenset()
    value_only: frozenset[int] = frozenset()

    @property
    def cells(self) -> list[int]:
        return sorted({s.cell for s in self.statements})


@dataclass(frozen=True)
class DataGlob:
    """Files the notebook lists (``glob.glob("logs/*.csv")``, ``os.listdir("in")``): every match is copied.

    ``pattern`` is relative to the notebook's folder; ``target`` is where the matches go in
    the project (the same pattern when it stays inside the folder, else under ``data/``).
    """

    pattern: str
    target: str
    cell: int
    line: int


@dataclass
class ConversionPlan:
    ir: NotebookIR
    steps: list[StepPlan]
    params: dict[str, Param]
    helpers: dict[str, Helper]
    inline_paths: dict[str, str]  # literal path -> param name
    #: statement position -> {``ast.dump`` of a path expression built from literals and constants: its replacement}
    inline_exprs: dict[int, dict[str, str]] = field(default_factory=dict)
    globs: list[DataGlob] = field(default_factory=list)  # listings of files the notebook reads
    module_paths: list[tuple[Path, bool]] = field(default_factory=list)  # sys.path edits: folder, put first
    #: files the notebook writes outside its folder: path in the project -> the path the notebook wrote
    moved: dict[str, str] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)  # data file in the project -> the file to copy there
    data_notes: list[Note] = field(default_factory=list)  # where each data file went, or why it did not
    #: notebook constants a helper reads when it is defined (a default value): copied into lib.py
    lib_constants: tuple[Stmt, ...] = ()
    #: secrets written inline (`quandl.ApiConfig.api_key = "..."`), now read with os.environ:
    #: (environment variable, what the notebook gave the value to, cell)
    environment: tuple[tuple[str, str, int], ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)  # SQL files that build an in-memory database
    #: their rewrites alone (also in ``inline_exprs``): the only ones a helper or a setting gets,
    #: since a path rewrite names a step's param, which neither has
    secret_exprs: dict[int, dict[str, str]] = field(default_factory=dict)


def plan_conversion(ir: NotebookIR, log: Log, folder: Path) -> ConversionPlan:
    """Turn the classified statements of ``ir`` into steps, helpers and params."""
    # NB: the passes walk statements' ASTs recursively; a deep but valid cell (a 2,000-term sum,
    # a 1,000-branch elif) needs more frames than the default limit gives
    with recursion_room():
        return _plan(ir, log, folder)


def _plan(ir: NotebookIR, log: Log, folder: Path) -> ConversionPlan:
    """The passes, in order. Each takes records and returns new ones: the IR and its
    statements, params and helpers are frozen, so a pass never sees a half-changed record."""
    _opaque(ir, log)
    ir, module_paths = _sys_path_edits(ir, log, folder)
    written, moved = _written(ir, log)
    made = _made(written, moved)
    params = _params(ir, folder, made, moved)
    scripts: dict[str, str] = {}
    ir, params = _queries(ir, params, log, folder, scripts)
    ir, params = _secrets(ir, params)
    params, inline = _inline_paths(ir, folder, params, made)
    params, exprs, globs = _computed_paths(ir, folder, params, inline, made)
    exprs = _rewrite_moved(ir, exprs, moved)
    secret_exprs, environment = _secret_literals(ir, params)
    for position, rewrites in secret_exprs.items():
        exprs = {**exprs, position: {**exprs.get(position, {}), **rewrites}}
    ir = _kernel_magics(ir, log)
    helpers, constants = _helpers(ir, params, log)
    ir = _chdir(ir, log)
    ir, groups = _figure_groups_settled(ir)
    groups = _keep_seeds_with_draws(ir, _split_at_redisplays(ir, _split_independent(ir, groups, helpers)))
    steps = _name(ir, _steps(ir, groups, params, helpers, log, inline, exprs, written), params, helpers)
    steps = _dead_stores(steps, helpers, inline, exprs, params)
    params, copies, data_notes = _place_data(params)
    return ConversionPlan(ir, steps, params, helpers, inline, exprs, globs, module_paths,
                          {target: original for original, target in moved.items()}, copies, data_notes, constants,
                          environment, scripts, secret_exprs)


def _place_data(params: dict[str, Param]) -> tuple[dict[str, Param], dict[str, Path], list[Note]]:
    """Where each data file a ``Path`` param names goes in the project, before any code is written.

    Returns the params with their values relative to the project (so a signature default,
    ``params.yaml`` and the copied file agree), the files to copy there, and a note for each.
    A file inside the notebook's folder keeps its relative path; one outside goes under
    ``data/``; one over ``MAX_COPY_BYTES`` stays where it is, by absolute path; one not found
    keeps the place it would have in the project, and the note says to put it there.
    """
    placed = dict(params)
    copies: dict[str, Path] = {}
    notes: list[Note] = []
    for name, param in params.items():
        if not param.is_path:
            continue
        value = str(param.value)
        if value.startswith("queries/"):
            continue  # written with the project
        if param.source_file is None:
            where = project_relative(value)
            placed[name] = replace(param, value=where)
            notes.append(Note(param.cell, param.line, "missing", value,
                              f"the file was not found where the notebook reads it: put it at {where} in the "
                              f"project, or set the param `{name}` in params.yaml to where it is"))
            continue
        size = param.source_file.stat().st_size
        relative = Path(value)
        if relative.is_absolute() or ".." in relative.parts:
            relative = Path("data") / param.source_file.name
        if size > MAX_COPY_BYTES:
            where = str(param.source_file.resolve())
            notes.append(Note(param.cell, param.line, "data", value,
                              f"{size // (1024 * 1024)} MiB: not copied; the default points at {where} (set the "
                              f"param `{name}` in params.yaml to move it)"))
            placed[name] = replace(param, value=where)
            continue
        copies[relative.as_posix()] = param.source_file
        placed[name] = replace(param, value=relative.as_posix())
        notes.append(Note(param.cell, param.line, "data", value,
                          f"copied into the project as {relative.as_posix()} (a Path param: a change re-runs what reads it)"))
    return placed, copies, notes


def _constant_to_param(ir: NotebookIR, name: str, before: Stmt, params: dict[str, Param]) -> Stmt | None:
    """A literal constant bound only once above a query and read by it is a param of the query:
    the statement, reclassified (its param is added to ``params``)."""
    if name in params:
        return None
    binders = [s for s in ir.statements if name in s.binds]
    if len(binders) != 1 or binders[0].position > before.position or binders[0].kind != "code":
        return None
    s = binders[0]
    node = s.node
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return None
    value = literal_value(node.value)
    if value is NOT_LITERAL:
        return None
    reason = "a literal constant the SQL query binds"
    params[name] = Param(name, value, _annotation(value), s.cell, s.line, reason)
    return replace(s, kind="param", value=value, reason=reason)


def _opaque(ir: NotebookIR, log: Log) -> None:
    """``exec``/``eval`` of a string built at run time defines and reads names no one can see."""
    for s in ir.statements:
        for sub in s.subnodes:
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("exec", "eval") \
                    and sub.args and not isinstance(sub.args[0], ast.Constant):
                log.refusals.append(_refusal(s, f"`{sub.func.id}` runs code built at run time, so its names "
                                                "cannot be traced", f"write the code out instead of passing it to "
                                             f"{sub.func.id}, then convert again"))
                break


# -- params --------------------------------------------------------------------------------

def _annotation(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (list, tuple)):
        inner = _annotation(value[0])
        return f"list[{inner}]" if isinstance(value, list) else f"tuple[{inner}, ...]"
    return type(value).__name__


def _data_file(value: str, folder: Path) -> Path | None:
    if "://" in value or not value or "\n" in value or len(value) > 300:
        return None
    candidate = Path(value) if Path(value).is_absolute() else folder / value
    try:
        if candidate.is_file():
            return candidate
    except OSError:
        return None
    return None


def _looks_like_data(value: str) -> bool:
    return "://" not in value and Path(value).suffix.lower() in DATA_SUFFIXES and "\n" not in value


def _normal(path: str) -> str:
    """A path as the notebook's code names it, normalised to compare (``./data\\x.csv`` → ``data/x.csv``)."""
    return posixpath.normpath(path.replace("\\", "/"))


def _made(written: dict[int, list[str]], moved: dict[str, str]) -> dict[str, int]:
    """Each file the notebook writes → the position of the first statement writing it (by the
    path in the project, and by the path the notebook wrote when it was moved)."""
    made: dict[str, int] = {}
    back = {target: original for original, target in moved.items()}
    for position in sorted(written):
        for path in written[position]:
            made.setdefault(path, position)
            if path in back:
                made.setdefault(back[path], position)
    return made


def _moved_target(normal: str) -> str:
    """Where a file the notebook writes outside its folder goes in the project: under ``out/``
    (``../data/weather.csv`` → ``out/data/weather.csv``), never over a data file copied to ``data/``."""
    parts = [p for p in Path(normal).parts if p not in ("..", "/", "~")]
    if Path(normal).is_absolute() or normal.startswith("~"):
        parts = parts[-2:]
    return "/".join(["out", *parts]) if parts else "out/file"


def _rewrite_moved(ir: NotebookIR, exprs: dict[int, dict[str, str]], moved: dict[str, str]) -> dict[int, dict[str, str]]:
    """Each literal of a moved path, in every statement, replaced by its place in the project."""
    if not moved:
        return exprs
    out = {position: dict(found) for position, found in exprs.items()}
    for s in ir.statements:
        for sub in s.subnodes:
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value \
                    and _normal(sub.value) in moved:
                out.setdefault(s.position, {})[ast.dump(sub)] = repr(moved[_normal(sub.value)])
    return out


def _made_before(path: str, position: int, made: dict[str, int]) -> bool:
    """Whether the notebook wrote ``path`` before the statement at ``position`` reads it.

    NB: such a file is an intermediate result, not data: the step reading it keeps the path
        as the notebook wrote it, and the pipeline runs the step that writes it first (a read
        of another step's declared file is an input). Copying the notebook's old copy as a
        data param would pin the reader to a stale file.
    """
    first = made.get(_normal(path))
    return first is not None and first < position


def _params(ir: NotebookIR, folder: Path, made: dict[str, int], moved: dict[str, str]) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for s in ir.statements:
        if s.kind != "param":
            continue
        name = s.binds[0]
        value = s.value
        # NB: a constant naming a file the notebook writes is text, not a data input (see `_made_before`)
        produced = isinstance(value, str) and _made_before(value, len(ir.statements), made)
        source = _data_file(value, folder) if isinstance(value, str) and not produced else None
        if isinstance(value, str) and _normal(value) in moved:
            value = moved[_normal(value)]  # NB: the notebook wrote it outside its folder
        if source is not None:
            params[name] = Param(name, value, "Path", s.cell, s.line, s.reason, True, source)
        else:
            params[name] = Param(name, value, _annotation(value), s.cell, s.line, s.reason)
    return params


def _inline_paths(ir: NotebookIR, folder: Path, params: dict[str, Param], made: dict[str, int]
                  ) -> tuple[dict[str, Param], dict[str, str]]:
    """Literal paths of files a statement reads: each a ``Path`` param (with the params before)."""
    params = dict(params)
    inline: dict[str, str] = {}
    taken = set(params) | {name for s in ir.statements for name in s.binds} | ir.import_names
    for s in ir.statements:
        if s.kind not in ("code", "figure", "query"):
            continue
        for access in s.analysis.files:
            path = access.path
            if access.mode != "read" or path in inline or "://" in path or not path.strip():
                continue
            if _made_before(path, s.position, made):
                continue
            if not (_data_file(path, folder) or _looks_like_data(path)):
                continue
            base = slug(Path(path).name) or "data"
            name = unique(f"{base}" if not base[0].isdigit() else f"file_{base}", taken)
            taken.add(name)
            inline[path] = name
            params[name] = Param(name, path, "Path", s.cell, access.line + s.line - 1,
                                 f"the file this cell reads ({access.via})", True, _data_file(path, folder), path)
    return params, inline


# -- computed paths and sys.path -----------------------------------------------------------

_Scope = tuple[dict[str, ast.expr], dict[str, str], frozenset[str], dict[str, tuple[str, str]]]


def _scope(ir: NotebookIR) -> _Scope:
    """What ``analysis.reads`` needs to resolve a path in the notebook: names bound once to a
    value (constants), imported modules, names imported from modules, and functions."""
    bound: dict[str, int] = {}
    for s in ir.statements:
        for name in s.binds:
            bound[name] = bound.get(name, 0) + 1
    constants: dict[str, ast.expr] = {}
    for s in ir.statements:
        node = s.node
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            continue
        if bound.get(target) == 1:
            constants[target] = value
    modules: dict[str, str] = {}
    functions: dict[str, tuple[str, str]] = {}
    for s in ir.statements:
        for imp in s.analysis.imports:
            if imp.star or imp.level or imp.bound is None:
                continue
            if imp.name is None:
                modules[imp.bound] = imp.top
            else:
                functions[imp.bound] = (imp.top, imp.name)
                if imp.top == "os":
                    modules[imp.bound] = "os"  # from os.path import join: join(...) is os.path.join(...)
    return constants, modules, frozenset(functions), functions


def project_relative(path: str) -> str:
    """Where a path the notebook reads goes in the project: the same relative path when it
    stays inside the notebook's folder, else under ``data/`` (``../../data/iris.csv`` →
    ``data/iris.csv``, ``/srv/logs/*.csv`` → ``data/logs/*.csv``)."""
    parts = Path(path).parts
    if not Path(path).is_absolute() and ".." not in parts:
        return Path(path).as_posix()
    rest = list(parts[len(parts) - parts[::-1].index("..") if ".." in parts else 1:])
    if Path(path).is_absolute():
        rest = rest[-2:] if len(rest) > 1 else rest
    if rest and rest[0] == "data":
        rest = rest[1:]
    return "/".join(["data", *rest])


def _computed_paths(ir: NotebookIR, folder: Path, params: dict[str, Param], inline: dict[str, str],
                    made: dict[str, int]) -> tuple[dict[str, Param], dict[int, dict[str, str]], list[DataGlob]]:
    """Reads whose path is built from literals and constants (``os.path.join("data", "x.csv")``,
    ``Path("data") / "x.csv"``, ``f"{DATA}/x.csv"``), resolved by ``analysis.reads``: each
    file becomes a ``Path`` param (the expression is replaced by it); each listing (a glob, a
    folder) is copied match by match.

    Returns the params with those files, the replacements by statement position, and the listings.
    """
    params = dict(params)
    constants, modules, imported, functions = _scope(ir)
    exprs: dict[int, dict[str, str]] = {}
    globs: list[DataGlob] = []
    by_path = dict(inline)
    skip = set(params) | set(inline)
    taken = set(params) | {name for s in ir.statements for name in s.binds} | ir.import_names
    for s in ir.statements:
        if s.kind not in ("code", "figure", "query", "helper"):
            continue
        refs = find_reads(s.node, constants=constants, modules=modules, imported=imported, functions=functions)
        for ref in refs:
            if ref.kind not in ("file", "glob") or "://" in ref.value or not ref.value.strip():
                continue
            if s.kind == "helper":
                # NB: a helper's code goes to lib.py as it is: what it reads inside the folder is copied in place
                if not Path(ref.value).is_absolute() and ".." not in Path(ref.value).parts:
                    globs.append(DataGlob(ref.value, ref.value, s.cell, ref.line))
                continue
            if ref.kind == "glob":
                target = project_relative(ref.value)
                globs.append(DataGlob(ref.value, target, s.cell, ref.line))
                expr = _path_expression(s, ref.line, ref.value, constants, modules, skip, listing=True)
                if target != ref.value and expr is not None:
                    exprs.setdefault(s.position, {})[ast.dump(expr)] = repr(target)
                continue
            expr = _path_expression(s, ref.line, ref.value, constants, modules, skip)
            if expr is None or (folder / ref.value).is_dir() or _made_before(ref.value, s.position, made):
                continue
            if not (_data_file(ref.value, folder) or _looks_like_data(ref.value)):
                continue
            name = by_path.get(ref.value)
            if name is None:
                base = slug(Path(ref.value).name) or "data"
                name = unique(base if not base[0].isdigit() else f"file_{base}", taken)
                taken.add(name)
                by_path[ref.value] = name
                params[name] = Param(name, ref.value, "Path", s.cell, ref.line,
                                     f"the file this cell reads ({ast.unparse(expr)})", True,
                                     _data_file(ref.value, folder))
            exprs.setdefault(s.position, {})[ast.dump(expr)] = name
    return params, exprs, globs


def _path_expression(s: Stmt, line: int, value: str, constants: dict[str, ast.expr], modules: dict[str, str],
                     skip: set[str], listing: bool = False) -> ast.expr | None:
    """The expression of ``s`` at ``line`` that a reader is given and that resolves to
    ``value``, when it is not a plain literal (those are ``inline_paths``) nor a param."""
    for sub in s.subnodes:
        if not isinstance(sub, ast.Call) or sub.lineno != line:
            continue
        candidates: list[ast.expr] = [*sub.args[:1], *(k.value for k in sub.keywords)]
        if isinstance(sub.func, ast.Attribute) and not listing:
            candidates.append(sub.func.value)
        for expr in candidates:
            if isinstance(expr, ast.Constant) and not listing or isinstance(expr, ast.Name) and (
                    expr.id not in constants or expr.id in skip):
                continue  # a literal is an inline path, a param is one already
            if isinstance(expr, ast.Call) and len(expr.args) == 1 and isinstance(expr.args[0], ast.Constant) \
                    and expr.args[0].value in skip:
                continue  # Path("data/x.csv"): the literal is an inline path already
            if constant_path(expr, constants, modules, "") == value:
                return expr
    return None


def _sys_path_edits(ir: NotebookIR, log: Log, folder: Path) -> tuple[NotebookIR, list[tuple[Path, bool]]]:
    """``sys.path.append(...)``/``insert``/``extend`` statements: the folders they add (relative
    to the notebook's folder; ``True`` for a folder put before the installed packages).

    The statements are left out of the pipeline: the modules they made importable are
    copied into the package (``project``), so they have nothing to do there.
    """
    constants, modules, _, _ = _scope(ir)
    found: list[tuple[Path, bool]] = []
    changed: dict[int, Stmt] = {}
    for s in ir.statements:
        node = s.node
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        name = dotted_name(call.func)
        method = ir.canonical(name).rpartition(".")[2] if name is not None else ""
        if name is None or ir.canonical(name) not in ("sys.path.append", "sys.path.insert", "sys.path.extend"):
            continue
        args: list[ast.expr] = list(call.args[1:2] if method == "insert" else call.args[:1])
        if method == "extend" and args and isinstance(args[0], (ast.List, ast.Tuple)):
            args = list(args[0].elts)
        unresolved = []
        for arg in args:
            text = constant_path(arg, constants, modules, "")
            if text is None:
                unresolved.append(ast.unparse(arg))
                continue
            path = Path(text) if Path(text).is_absolute() else folder / text
            found.append((Path(os.path.normpath(path)), method == "insert"))
        changed[s.position] = replace(s, kind="blank", reason="adds a folder to sys.path for the notebook's own modules")
        why = ("the notebook's own modules it made importable are copied into the package, so the pipeline "
               "does not need it")
        if unresolved:
            why += f"; the folder ({', '.join(unresolved)}) is computed at run time: modules were looked for " \
                   "beside the notebook and in the folders above it"
        log.notes.append(Note(s.cell, s.line, "dropped", ast.unparse(node), why))
    return ir.revised(changed), found


def secret_kind(name: str | None, value: str) -> str | None:
    """Why the string ``value`` given to ``name`` is a hard-coded secret, else ``None``.

    The rule of lint's DL302 (a token's shape, a URL with a password, a value assigned to a
    name like ``password`` or ``api_key``); ``name`` is the variable, key or keyword it is
    given to, if any.
    """
    from ..lint.checks import _CREDENTIAL_URL, _PLACEHOLDER, _TOKENS, _secret_context

    kind = next((label for label, pattern in _TOKENS if pattern.search(value)), None)
    if kind is not None:
        return kind
    url = _CREDENTIAL_URL.search(value)
    if url and not _PLACEHOLDER.match(url.group(2)):
        return "a connection string with a password"
    if _secret_context(name) and not _PLACEHOLDER.match(value.strip()) and " " not in value.strip() \
            and not re.fullmatch(r"[A-Z][A-Z0-9_]*", value) and not value.endswith((".json", ".txt", ".pem", ".key")):
        return f"a value assigned to `{name}`"
    return None


def env_variable(name: str, taken: set[str]) -> str:
    """The environment variable for param ``name``: upper snake case (``apiToken`` → ``API_TOKEN``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper() or "SECRET"
    if text[0].isdigit():
        text = f"_{text}"
    variable, n = text, 2
    while variable in taken:
        variable, n = f"{text}_{n}", n + 1
    return variable


def _secrets(ir: NotebookIR, params: dict[str, Param]) -> tuple[NotebookIR, dict[str, Param]]:
    """Hard-coded secrets become params whose value is read from the environment.

    A text param (or a text constant assigned once, even if no later cell reads it) that is
    named like a secret (``pipeline.secrets.name_is_secret``: ``api_token``, ``db_password``)
    or whose value looks like a credential (``secret_kind``) gets the value ``${env:NAME}``
    and the annotation ``Secret[str]``: its text is written nowhere in the project. A data
    path is never a secret; numbers named like one (``max_tokens = 200``) stay as they are.
    """
    from ..pipeline.secrets import name_is_secret

    params = dict(params)
    changed: dict[int, Stmt] = {}
    bound: dict[str, int] = {}
    for s in ir.statements:
        for name in s.binds:
            bound[name] = bound.get(name, 0) + 1
    for s in ir.statements:
        node = s.node
        if s.kind != "code" or not isinstance(node, (ast.Assign, ast.AnnAssign)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or bound.get(targets[0].id) != 1 \
                or not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            continue
        name, value = targets[0].id, node.value.value
        if name not in params and (name_is_secret(name) or secret_kind(name, value)):
            reason = "a hard-coded secret, assigned once"
            changed[s.position] = replace(s, kind="param", value=value, reason=reason)
            params[name] = Param(name, value, "str", s.cell, s.line, reason)
    taken: set[str] = set()
    for name in sorted(params):
        param = params[name]
        if param.is_path or not isinstance(param.value, str):
            continue
        kind = "named like a secret" if name_is_secret(name) else secret_kind(name, param.value)
        if kind is None:
            continue
        env = env_variable(name, taken)
        taken.add(env)
        params[name] = replace(param, env=env, value=f"${{env:{env}}}", annotation="Secret[str]",
                               reason=f"{param.reason}; a secret ({kind}): set {env} in the environment")
    return ir.revised(changed), params


def _secret_literals(ir: NotebookIR, params: dict[str, Param]
                     ) -> tuple[dict[int, dict[str, str]], tuple[tuple[str, str, int], ...]]:
    """A secret written inline, where it cannot become a param (set on a library's config
    attribute, given to a keyword, inside a helper), is read from the environment instead:
    its literal becomes ``os.environ["NAME"]``, named after what it is given to.

    NB: quandl.ApiConfig.api_key = "rFs..."   ->   quandl.ApiConfig.api_key = os.environ["QUANDL_API_KEY"]
    Returns these rewrites (statement position -> {``ast.dump`` of the literal: its replacement}),
    and each variable with where it is read.
    """
    taken = {p.env for p in params.values() if p.env is not None}
    variables: dict[str, str] = {}  # secret -> variable
    where: list[tuple[str, str, int]] = []
    out: dict[int, dict[str, str]] = {}
    for s in ir.statements:
        if s.kind == "param" or not s.analysis.strings:
            continue
        contexts = {string.value: string.context for string in s.analysis.strings
                    if secret_kind(string.context, string.value) is not None}
        if not contexts:
            continue
        # NB: a part of an f-string cannot be replaced by an expression of its own: still refused
        in_fstrings = {id(part) for node in s.subnodes if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in s.subnodes:
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in contexts \
                    and id(node) not in in_fstrings:
                context = contexts[node.value]
                variable = variables.get(node.value)
                if variable is None:
                    parts = (context or "secret").split(".")
                    variable = env_variable("_".join([parts[0], parts[-1]] if len(parts) > 1 else parts), taken)
                    taken.add(variable)
                    variables[node.value] = variable
                    where.append((variable, context or "a string", s.cell))
                out.setdefault(s.position, {})[ast.dump(node)] = f'os.environ["{variable}"]'
    return out, tuple(where)


# -- queries ------------------------------------------------------------------------------

_SQL_NAME = re.compile(r"(?<![:\w]):(\w+)|\$(\w+)|\{(\w+)\}")
_CHANGES = re.compile(r"^\s*(create|insert|update|delete|drop|alter|replace|attach|pragma|begin|commit)\b", re.I)


def _placeholders(sql: str) -> tuple[str, list[str]]:
    """``sql`` with its placeholders in the query file's two forms, and the names in order of first use.

    NB: `:name` is bound as a value; `$name` and `{name}` are put into the text, as the notebook's
        SQL magic did (they can name a column, or sit in quotes), written `{name}`:
        WHERE a > :low AND b < '$who' AND {col} = 1  ->  WHERE a > :low AND b < '{who}' AND {col} = 1
    """
    names: list[str] = []

    def bind(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in names:
            names.append(name)
        return f":{name}" if match.group(1) else f"{{{name}}}"

    return _SQL_NAME.sub(bind, sql), names


def _queries(ir: NotebookIR, params: dict[str, Param], log: Log, folder: Path, scripts: dict[str, str]
             ) -> tuple[NotebookIR, dict[str, Param]]:
    """``%%sql`` cells become queries in ``.sql`` files with bound parameters; connections become a param.

    SQL that builds an in-memory database goes to ``scripts`` (file in the project -> text).
    """
    from .ir import Query, is_in_memory
    from .transforms import magic_calls

    params = dict(params)
    changed: dict[int, Stmt] = {}
    url: str | None = None
    built: list[tuple[int, str]] = []  # (cell, SQL) that built the in-memory database so far
    for s in ir.statements:
        if s.kind != "query":
            continue
        calls = magic_calls("\n".join(line for line in s.code.split("\n") if not line.strip().startswith("#")))
        if not calls:
            continue
        call = calls[0]
        words = call.args.split()
        target = call.target
        if words and "://" in words[0]:
            url = words.pop(0)
        if len(words) >= 2 and words[1] == "<<" and words[0].isidentifier():
            target = words[0]
            words = words[2:]
        elif words and words[0].endswith("<<") and words[0][:-2].isidentifier():
            target = words[0][:-2]
            words = words[1:]
        sql = "\n".join(part for part in (" ".join(words), call.body) if part.strip()).strip()
        if not sql:
            changed[s.position] = replace(s, kind="blank",
                                          reason=f"opens the SQL connection {url}; the pipeline's `database` param")
            continue
        if url is None:
            log.refusals.append(_refusal(s, "a SQL query with no connection (`%sql URL`) before it",
                                         "connect with `%sql sqlite:///file.db` in a cell above"))
            continue
        in_memory = is_in_memory(url)
        changes = [bool(_CHANGES.match(part)) for part in sql.split(";") if part.strip()]
        if in_memory and any(changes):
            # NB: the notebook builds its database in the session; every query step builds it again
            #     from the same SQL, in the notebook's order, before it queries
            if not all(changes) or _SQL_NAME.search(sql):
                log.refusals.append(_refusal(s, "a cell that builds the in-memory SQLite database also queries it, "
                                                "or has placeholders", "put the CREATE/INSERT statements in a "
                                             "%%sql cell of their own, with their values written out, then convert again"))
                continue
            built.append((s.cell, sql.rstrip() + "\n"))
            changed[s.position] = replace(s, kind="blank", reason="builds the in-memory SQLite database: each "
                                          "query step runs this SQL first")
            continue
        if any(changes):
            log.refusals.append(_refusal(s, "the SQL changes the database (CREATE/INSERT/UPDATE…); "
                                            "a pipeline step reads data", "run such SQL outside the notebook, "
                                         "or in Python with sqlite3 in a cell, then convert again"))
            continue
        text, names = _placeholders(sql)
        for name in names:
            constant = _constant_to_param(ir.revised(changed), name, s, params)
            if constant is not None:
                changed[constant.position] = constant
        output = target or f"query_cell_{s.cell}"
        if in_memory:
            setup = ""
            if built:  # NB: one file of every statement that built the database up to here
                setup = f"database_cell_{built[-1][0]}_sql"
                script = f"queries/database_cell_{built[-1][0]}.sql"
                scripts[script] = "".join(f"-- cell {cell}\n{sql}" for cell, sql in built)
                params[setup] = Param(setup, script, "Path", built[-1][0], 1, "SQL that builds the notebook's "
                                      "in-memory database; the query steps after it run it first", True)
            file = f"queries/{output}.sql"
            params[f"{output}_sql"] = Param(f"{output}_sql", file, "Path", s.cell, s.line,
                                            "the query of this cell, in its own file", True)
            changed[s.position] = replace(s, query=Query(text + "\n", tuple(names), output, url, file, setup))
            continue
        if "database" not in params:
            if url.startswith("sqlite:///"):
                path = url[len("sqlite:///"):]
                params["database"] = Param("database", path, "Path", s.cell, s.line,
                                           "the SQLite file the notebook's SQL ran on", True, _data_file(path, folder))
            else:
                params["database"] = Param("database", url, "str", s.cell, s.line,
                                           "the database URL the notebook's SQL ran on (SQLAlchemy)")
        file = f"queries/{output}.sql"
        params[f"{output}_sql"] = Param(f"{output}_sql", file, "Path", s.cell, s.line,
                                        "the query of this cell, in its own file", True)
        changed[s.position] = replace(s, query=Query(text + "\n", tuple(names), output, url, file))
    return ir.revised(changed), params


# -- helpers -------------------------------------------------------------------------------

#: Decorators that register a magic with the running IPython when the function is defined.
_REGISTERS_MAGIC = ("register_line_magic", "register_cell_magic", "register_line_cell_magic")


def _kernel_magics(ir: NotebookIR, log: Log) -> NotebookIR:
    """Functions defined as IPython magics (``@register_line_magic``) are left out of the project.

    Their decorator needs a running IPython (it fails on import anywhere else), and the
    pipeline runs no magics. Code that calls one as a function is refused.
    """
    changed: dict[int, Stmt] = {}
    for s in ir.statements:
        node = s.node
        if s.kind == "helper" and isinstance(node, FUNCTIONS) and any(
                ast.unparse(d).split("(")[0].split(".")[-1] in _REGISTERS_MAGIC for d in node.decorator_list):
            changed[s.position] = replace(s, kind="blank", reason="defines an IPython magic: the pipeline runs none")
            log.notes.append(Note(s.cell, s.line, "dropped", f"def {node.name}(...)",
                                  "defines an IPython magic, which needs a running IPython; the pipeline runs no magics"))
    names = {node.name for k in changed if isinstance(node := changed[k].node, FUNCTIONS)}
    for s in ir.statements:
        used = sorted(set(s.reads) & names) if s.position not in changed else []
        if used:
            log.refusals.append(_refusal(s, f"calls `{used[0]}`, which the notebook defines as an IPython magic",
                                         "call it as a magic only in the notebook, or define a plain function, "
                                         "then convert again"))
    return ir.revised(changed)


def _helpers(ir: NotebookIR, params: dict[str, Param], log: Log) -> tuple[dict[str, Helper], tuple[Stmt, ...]]:
    helpers: dict[str, Helper] = {}
    direct: dict[str, set[str]] = {}
    for s in ir.statements:
        if s.kind != "helper":
            continue
        for fn in s.analysis.functions:
            # NB: only a function that sets globals returns more than before; a call that keeps the
            #     result (`x = add(1)`) gets it first, even a None
            returns = bool(fn.writes) and (_returns_value(s.node)
                                           or any(_assigned_call(o.node, fn.name) for o in ir.statements))
            helpers[fn.name] = Helper(fn.name, s, fn.kind, mutates=tuple(dict.fromkeys((*fn.mutates, *fn.writes))),
                                      sets=tuple(sorted(fn.writes)), returns=returns)
            direct[fn.name] = set(fn.reads)
            if fn.writes:
                # NB: one bound before the definition is passed in, so a path that does not assign it
                #     returns the value it had, as the notebook kept it
                bound_before = {n for o in ir.statements if o.position < s.position for n in o.binds}
                direct[fn.name] |= set(fn.writes) & bound_before
                why = _global_problem(ir, s, fn.name) or _maybe_unassigned(s.node, set(fn.writes) - bound_before)
                if why is not None:
                    log.refusals.append(_refusal(s, f"{fn.kind} `{fn.name}` assigns the notebook variable(s) "
                                                    f"{', '.join(fn.writes)} with `global`, and {why}",
                                                 "return the value from the function instead, then convert again"))
    not_data = ir.import_names | set(helpers) | BUILTIN_NAMES
    needs = {name: {n for n in reads if n not in not_data} for name, reads in direct.items()}
    changed = True
    while changed:
        changed = False
        for name, reads in direct.items():
            for callee in reads & set(helpers):
                extra = needs[callee] - needs[name]
                if extra:
                    needs[name] |= extra
                    changed = True
    helpers = {name: replace(helper, needs=tuple(sorted(needs[name]))) for name, helper in helpers.items()}
    constants = _definition_constants(ir, helpers, not_data, log)
    for name, helper in helpers.items():
        if helper.kind == "class" and helper.needs:
            why = class_needs_problem(helper, {n for n, h in helpers.items() if h.needs}) \
                or _class_use_problem(ir, helper)
            if why is not None:
                log.refusals.append(_refusal(helper.stmt, f"class `{name}` reads the notebook variable(s) "
                                                          f"{', '.join(helper.needs)}, and {why}",
                                             "pass them to the class (for example to __init__), then convert again"))
    return helpers, constants


def _definition_constants(ir: NotebookIR, helpers: dict[str, Helper], not_data: set[str], log: Log
                          ) -> tuple[Stmt, ...]:
    """The notebook constants a helper reads when it is defined (a default value, a decorator, a
    base class, a class attribute), which ``lib.py`` must define before it.

    NB: def fetch(url=HOUSING_URL): ...   reads HOUSING_URL once, when the cell runs: unlike a
        read in the body, it cannot become a parameter. The binding in force there, when its
        value is pure (literals, operators, ``PURE_CALLS`` like ``os.path.join``) of imports,
        builtins and other such constants, and nothing changed it in place since, is copied
        into lib.py (the default then has the value it had in the notebook); else refused.
    """
    binders: dict[str, list[Stmt]] = {}
    for s in ir.statements:
        for name in s.binds:
            binders.setdefault(name, []).append(s)
    chosen: dict[int, Stmt] = {}
    by_name: dict[str, Stmt] = {}
    seen: set[int] = set()
    for helper in sorted(helpers.values(), key=lambda h: h.stmt.position):
        node = helper.stmt.node
        if helper.stmt.position in seen or node is None:
            continue
        seen.add(helper.stmt.position)
        candidates = {n for n in helper.stmt.reads if n not in not_data}
        wanted = [(read.id, helper.stmt.position) for read, where in module_reads(node, candidates)
                  if not any(isinstance(scope, (*FUNCTIONS, ast.Lambda)) for scope in where)]
        while wanted:
            name, before = wanted.pop()
            # NB: the binding in force when the definition ran; a later one does not change a default
            found = next((b for b in reversed(binders.get(name, [])) if b.position < before), None)
            why = None
            if found is None or found.kind not in ("code", "param") or not isinstance(found.node, (ast.Assign, ast.AnnAssign)) \
                    or found.node.value is None or not _pure(found.node.value):
                why = f"`{name}` is not a constant assigned before it"
            elif any(name in o.mutates for o in ir.statements if found.position < o.position < helper.stmt.position):
                why = f"`{name}` is changed in place before the definition"
            elif by_name.get(name, found) is not found:
                why = f"`{name}` is bound again between the definitions that read it"
            if why is not None:
                log.refusals.append(_refusal(helper.stmt, f"{helper.kind} `{helper.name}` reads the notebook variable "
                                                          f"`{name}` when it is defined (a default value, decorator, "
                                                          f"base class or class attribute), and {why}",
                                             "write the value itself there, or pass it in when calling, "
                                             "then convert again"))
                return ()
            assert found is not None
            by_name[name] = found
            if found.position not in chosen:
                chosen[found.position] = found
                wanted.extend((n, found.position) for n in found.reads if n not in not_data)
    return tuple(chosen[k] for k in sorted(chosen))


def _class_use_problem(ir: NotebookIR, helper: Helper) -> str | None:
    """Why the uses of a class that now takes notebook variables in ``__init__`` cannot all pass
    them, or ``None``: each use must call it (``A(...)``) or test against it (``isinstance(a, A)``)."""
    for s in ir.statements:
        if s.position == helper.stmt.position or helper.name not in s.reads and s.kind != "helper":
            continue
        allowed: set[int] = set()
        for sub in s.subnodes:
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                if sub.func.id == helper.name:
                    allowed.add(id(sub.func))
                elif sub.func.id in ("isinstance", "issubclass") and len(sub.args) == 2:
                    tested = sub.args[1].elts if isinstance(sub.args[1], ast.Tuple) else [sub.args[1]]
                    allowed.update(id(t) for t in tested)
        for sub in s.subnodes:
            if isinstance(sub, ast.Name) and sub.id == helper.name and isinstance(sub.ctx, ast.Load) \
                    and id(sub) not in allowed:
                return (f"cell {s.cell} uses it other than by calling it or testing against it "
                        f"(line {s.line + sub.lineno - 1}), where the values could not be passed")
    return None


def _returns_value(node: ast.stmt) -> bool:
    """Whether function ``node`` returns a value anywhere (not counting the functions inside it)."""
    return any(isinstance(sub, ast.Return) and sub.value is not None for sub in own_nodes(node))


def _global_problem(ir: NotebookIR, definition: Stmt, name: str) -> str | None:
    """Why a function that assigns notebook variables with `global` cannot return them instead, or ``None``.

    The conversion: the function returns them (after its own result, if it has one), and each
    call, a statement of its own (``add(1)``, ``x = add(1)``), binds them (``total = add(1,
    total=total)``, ``x, total = add(1, total=total)``).
    """
    node = definition.node
    if not isinstance(node, FUNCTIONS):
        return "it is not a function statement of its own"
    if isinstance(node, ast.AsyncFunctionDef) or any(isinstance(sub, (ast.Yield, ast.YieldFrom))
                                                     for sub in own_nodes(node)):
        return "it is a generator or a coroutine"
    own = {id(sub) for sub in own_nodes(node)}
    nested = [sub for sub in ast.walk(node) if isinstance(sub, (ast.Global, ast.Nonlocal)) and id(sub) not in own]
    if nested:
        return f"a function inside it declares `global` or `nonlocal` (line {nested[0].lineno})"
    for s in ir.statements:
        if s.position == definition.position or name not in s.reads:
            continue
        for read, where in module_reads(s.node, {name}):
            if where or not _called_as_a_statement(s.node, read):
                return (f"cell {s.cell} uses it other than as a statement of its own (`{name}(...)` or "
                        f"`x = {name}(...)`), line {s.line + read.lineno - 1}")
    return None


def _assigned_call(tree: ast.AST, name: str) -> bool:
    """Whether ``tree`` has ``x = name(...)`` (the call's result kept)."""
    return any(isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Call) and isinstance(sub.value.func, ast.Name)
               and sub.value.func.id == name for sub in ast.walk(tree))


def _maybe_unassigned(node: ast.stmt, names: set[str]) -> str | None:
    """Why one of ``names`` (assigned with `global`, bound nowhere before) may be left unassigned
    by a call, or ``None`` when each is assigned by a top-level statement before any `return`."""
    if not names or not isinstance(node, FUNCTIONS):
        return None
    assigned: set[str] = set()
    for statement in node.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            assigned |= {sub.id for t in targets for sub in ast.walk(t) if isinstance(sub, ast.Name)}
        if any(isinstance(sub, (ast.Return, ast.Raise)) for sub in ast.walk(statement)) or names <= assigned:
            break
    missing = sorted(names - assigned)
    return f"`{missing[0]}` may be left unassigned by a call, and no cell binds it before" if missing else None


def _called_as_a_statement(tree: ast.AST, name: ast.Name) -> bool:
    """Whether ``name`` is called as the whole of an expression statement or of ``x = ...``."""
    for sub in ast.walk(tree):
        value = sub.value if isinstance(sub, ast.Expr) else sub.value if (
            isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name)) else None
        if isinstance(value, ast.Call) and value.func is name:
            return True
    return False


def class_definition(helper: Helper) -> ast.ClassDef | None:
    node = helper.stmt.node
    return node if isinstance(node, ast.ClassDef) and node.name == helper.name else None


def init_method(node: ast.ClassDef) -> ast.FunctionDef | None:
    return next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)


def self_name(method: ast.FunctionDef) -> str | None:
    """The name a method calls its instance (``self``), or ``None`` for a static or class method."""
    decorators = {ast.unparse(d) for d in method.decorator_list}
    positional = [*method.args.posonlyargs, *method.args.args]
    if decorators & {"staticmethod", "classmethod"} or not positional:
        return None
    return positional[0].arg


def class_needs_problem(helper: Helper, needing: set[str]) -> str | None:
    """Why the notebook variables a class reads cannot become parameters of its ``__init__``, or ``None``.

    The conversion (``emit``): ``__init__`` takes each one as a keyword-only parameter and keeps it
    as an attribute of the same name (``self.rooms_ix = rooms_ix``), as an estimator keeps its
    parameters; the methods read the attribute; each call of the class passes the value.
    ``needing``: the helpers that take notebook variables, whose calls in the methods pass them on.
    NB: the notebook's method read the variable when it ran, the converted one reads the value
        given when the object was made; verify compares what the two compute
    """
    node = class_definition(helper)
    if node is None:
        return "it is not defined by a class statement of its own"
    init = init_method(node)
    if init is None or self_name(init) is None:
        return "it has no `__init__` method of its own to take them"
    if init.body[0].lineno == init.lineno:
        return "its `__init__` is written on one line"
    taken = set(helper.needs)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in taken:
            return f"it already has an attribute `{sub.attr}`"
        if isinstance(sub, ast.arg) and sub.arg in taken:
            return f"a method has a parameter `{sub.arg}`"
    for read, where in module_reads(node, taken | needing):
        method = where[1] if len(where) > 1 and where[0] is node else None
        if not isinstance(method, ast.FunctionDef) or self_name(method) is None:
            return f"`{read.id}` is read outside a method that has `self` (line {read.lineno})"
    return None


def _refusal(s: Stmt, reason: str, hint: str) -> Refusal:
    return Refusal(s.cell, s.line, reason, hint)


# -- grouping ------------------------------------------------------------------------------

def _groups(ir: NotebookIR) -> list[tuple[str, str | None, list[Stmt]]]:
    groups: list[tuple[str, str | None, list[Stmt]]] = []
    current: list[Stmt] | None = None
    current_key: tuple[object, ...] | None = None
    for s in _figures_last(ir):
        if s.kind in ("query",):
            groups.append(("query", ir.sections[s.section].title, [s]))
            current, current_key = None, None
            continue
        if s.kind == "figure":
            key: tuple[object, ...] = ("figure", s.cell)
        elif s.kind == "code":
            section = ir.sections[s.section]
            key = ("code", s.section) if section.title is not None else ("code", "cell", s.cell)
        else:
            continue
        if current is not None and key == current_key:
            current.append(s)
            continue
        if s.kind == "figure" and current is not None and current_key is not None and current_key[0] == "figure" \
                and not {b for o in current for b in o.binds}.isdisjoint(s.reads):
            current.append(s)  # NB: `fig, ax = plt.subplots()` in one cell, `ax.plot(x)` in the next
            continue
        current, current_key = [s], key
        groups.append((str(key[0]), ir.sections[s.section].title, current))
    return groups


def _figures_last(ir: NotebookIR) -> list[Stmt]:
    """The statements in order, except that in a cell, code that does not depend on the figure
    statements above it runs before them, so the figure stays one report step.

    NB: `fig, ax = plt.subplots()`, `resid = res.resid_deviance`, `ax.hist(resid)` in one cell:
        `resid` first, then the figure; else `ax` would be an output passed to another step,
        and its figure would not be the one the step returns
    A code statement stays in place when it reads or changes a name the figure statements
    above it bind or read, or draws itself.
    """
    from .ir import _draws

    out: list[Stmt] = []
    held: list[Stmt] = []
    cell: int | None = None
    for s in ir.statements:
        if s.cell != cell:
            out.extend(held)
            held, cell = [], s.cell
        if s.kind == "figure":
            held.append(s)
        elif s.kind == "code" and held:
            bound = {n for f in held for n in f.writes}
            read = {n for f in held for n in f.reads}
            if bound.isdisjoint(s.reads) and read.isdisjoint(s.writes) and bound.isdisjoint(s.writes) \
                    and not _draws(s, ir, set()):
                out.append(s)
            else:
                out.extend(held)
                held = []
                out.append(s)
        else:
            out.append(s)
    out.extend(held)
    return out


def _figure_groups_settled(ir: NotebookIR) -> tuple[NotebookIR, list[tuple[str, str | None, list[Stmt]]]]:
    """Group, then turn figure groups whose names other steps read into code, until stable.

    NB: `fig, ax = plt.subplots()` drawn on in cell 17 and again in cell 26, with other
        steps between: the axes are a value passed between steps, not one report step.
    """
    while True:
        groups = _merge_drawn_again(_groups(ir), ir)
        group_of = {s.position: index for index, (_, _, stmts) in enumerate(groups) for s in stmts}
        latest: dict[str, Stmt] = {}
        demote: set[int] = set()
        for s in ir.statements:
            if s.position in group_of:
                for name in s.reads:
                    binder = latest.get(name)
                    if binder is None or binder.position not in group_of:
                        continue
                    owner = group_of[binder.position]
                    if groups[owner][0] == "figure" and owner != group_of[s.position]:
                        demote.add(owner)
            for name in s.writes:
                latest[name] = s
        if not demote:
            return ir, groups
        ir = ir.revised({s.position: replace(s, kind="code", reason="draws on a figure that other steps use")
                         for index in demote for s in groups[index][2]})


def _merge_drawn_again(groups: list[tuple[str, str | None, list[Stmt]]], ir: NotebookIR
                       ) -> list[tuple[str, str | None, list[Stmt]]]:
    """A figure group that a later figure group draws on again joins it: one report step,
    placed where the drawing ends, so the figure and its axes never travel between steps.

    NB: `fig, ax = plt.subplots()` in cell 3, `y = x * 2` in cell 4, `ax.plot(x, y)` in cell 5:
        one figure step after `y`. It is done only when what the earlier group reads is not
        written in between, and nothing in between reads what it binds; otherwise the earlier
        group becomes code (``_figure_groups_settled``). A global random state counts as a name:
        draws keep their order (ch09: a figure's draws moved after a later cell's `np.random`
        would change every value drawn after them).
    """
    randomness = {s.position: any(_global_random(s, ir)) for _, _, group in groups for s in group}
    # NB: which statement bound the value each read sees: `ax` read in cell 5 may be cell 4's own
    binder: dict[tuple[int, str], int] = {}
    latest: dict[str, int] = {}
    for s in ir.statements:
        for name in s.reads:
            if name in latest:
                binder[(s.position, name)] = latest[name]
        for name in s.writes:
            latest[name] = s.position
    groups = list(groups)
    merged = True
    while merged:
        merged = False
        for j, (kind, title, statements) in enumerate(groups):
            if kind != "figure":
                continue
            sources = {binder[(s.position, n)] for s in statements for n in s.reads if (s.position, n) in binder}
            for i in range(j - 1, -1, -1):
                earlier_kind, earlier_title, earlier = groups[i]
                binds = {n for s in earlier for n in s.writes}
                if earlier_kind != "figure" or sources.isdisjoint(s.position for s in earlier):
                    continue
                between = [s for _, _, group in groups[i + 1:j] for s in group]
                needs = {n for s in earlier for n in s.reads} - binds
                draws = any(randomness[s.position] for s in earlier)
                if any(needs & set(s.writes) or binds & set(s.reads) or binds & set(s.writes)
                       or draws and randomness[s.position] for s in between):
                    break
                groups[j] = ("figure", title or earlier_title, [*earlier, *statements])
                del groups[i]
                merged = True
                break
            if merged:
                break
    return groups


def _split_independent(ir: NotebookIR, groups: list[tuple[str, str | None, list[Stmt]]],
                       helpers: dict[str, Helper]) -> list[tuple[str, str | None, list[Stmt]]]:
    """A code group spanning cells splits along its data flow: statements that share no name,
    file or random state are separate steps (in the order of their first statement).

    Two statements are linked when one reads or writes a name the other writes (through a
    helper's globals too), when both read a name one of them passes to a call (the call may
    change it), when they touch the same file, or when both use a global random state.

    NB: one section computing `summary = df.describe()` in one cell and fitting `model` on
        `X` in the next: two steps, so a change to the model does not re-run the summary
    """
    out: list[tuple[str, str | None, list[Stmt]]] = []
    for kind, title, stmts in groups:
        if kind != "code" or len({s.cell for s in stmts}) < 2:
            out.append((kind, title, stmts))
            continue
        links = _Links(len(stmts))
        link = links.link
        writer: dict[str, int] = {}
        readers: dict[str, list[int]] = {}
        passed: dict[str, int] = {}  # name -> a statement passing it to a call
        touched: dict[str, int] = {}  # file path -> a statement reading or writing it
        random_user: int | None = None
        for i, s in enumerate(stmts):
            reads = set(s.reads)
            writes = set(s.writes)
            for name in s.reads:
                if name in helpers:
                    reads.update(helpers[name].needs)
                    writes.update(helpers[name].mutates)
            for name in reads | writes:
                if name in writer:
                    link(i, writer[name])
            for name in writes:
                for reader in readers.get(name, ()):
                    link(i, reader)
            for name in _passed_to_calls(s) & reads:
                for reader in readers.get(name, ()):
                    link(i, reader)
                passed.setdefault(name, i)
            for name in reads:
                if name in passed:
                    link(i, passed[name])
                readers.setdefault(name, []).append(i)
            for name in writes:
                writer[name] = i
            for access in s.analysis.files:
                path = posixpath.normpath(access.path)
                if path in touched:
                    link(i, touched[path])
                touched[path] = i
            seeds, draws = _global_random(s, ir)
            if seeds or draws:
                if random_user is not None:
                    link(i, random_user)
                random_user = i
        parts: dict[int, list[Stmt]] = {}
        for i, s in enumerate(stmts):
            parts.setdefault(links.root(i), []).append(s)
        out.extend((kind, title, part) for part in parts.values())
    return out


class _Links:
    """Which of ``n`` statements are linked, transitively (union-find)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def link(self, i: int, j: int) -> None:
        self.parent[self.root(i)] = self.root(j)


def _passed_to_calls(s: Stmt) -> set[str]:
    """Names ``s`` gives as an argument to a call (``f(df)``, ``g(x=df)``): the call may change them."""
    found: set[str] = set()
    for sub in s.subnodes:
        if isinstance(sub, ast.Call):
            for arg in [*sub.args, *(k.value for k in sub.keywords)]:
                value = arg.value if isinstance(arg, ast.Starred) else arg
                if isinstance(value, ast.Name):
                    found.add(value.id)
    return found


def _split_at_redisplays(ir: NotebookIR, groups: list[tuple[str, str | None, list[Stmt]]]
                         ) -> list[tuple[str, str | None, list[Stmt]]]:
    """Cut a code group where a cell shows again a name the group changes both before and after it.

    The value shown is then an output of the first part, and the rest of the group starts
    from it: what the notebook showed is what verify compares.

    NB: under one heading, `theta` is fitted in cell 28, shown in cell 30 and updated in
        cell 31: one step would only output the version of cell 31
    """
    shows = sorted((s.position, x.covers) for s in ir.statements for x in s.shows if x.covers)
    at = [position for position, _ in shows]
    out: list[tuple[str, str | None, list[Stmt]]] = []
    for kind, title, stmts in groups:
        if kind != "code" or len(stmts) < 2:
            out.append((kind, title, stmts))
            continue
        writes: dict[str, list[int]] = {}
        for s in sorted(stmts, key=lambda s: s.position):
            for name in s.writes:
                writes.setdefault(name, []).append(s.position)
        low = min(s.position for s in stmts)
        high = max(s.position for s in stmts)
        cuts: list[int] = []
        start = low
        for position, name in shows[bisect.bisect_right(at, low):bisect.bisect_left(at, high)]:
            written = writes.get(name)
            if written and bisect.bisect_left(written, start) < bisect.bisect_left(written, position) \
                    and bisect.bisect_right(written, position) < len(written):
                cuts.append(position)
                start = position
        edges = [low, *cuts, high + 1]
        for first, end in zip(edges, edges[1:], strict=False):
            part = [s for s in stmts if first <= s.position < end]
            if part:
                out.append((kind, title, part))
    return out


#: Calls that seed a library's global random state, and the prefixes of calls that draw from it.
GLOBAL_SEEDS = frozenset({"numpy.random.seed", "random.seed", "torch.manual_seed", "tensorflow.random.set_seed"})
GLOBAL_DRAWS = ("numpy.random.", "random.", "torch.rand", "tensorflow.random.")
_NOT_DRAWS = frozenset({"numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator",
                        "random.Random", "numpy.random.get_state", "numpy.random.set_state", "random.getstate",
                        "random.setstate"})


def _global_random(s: Stmt, ir: NotebookIR) -> tuple[bool, bool]:
    """Whether ``s`` seeds a global random state, and whether it draws from one."""
    seeds = draws = False
    for sub in s.subnodes:
        name = dotted_name(sub.func) if isinstance(sub, ast.Call) else None
        if name is None:
            continue
        canonical = ir.canonical(name)
        if canonical in GLOBAL_SEEDS:
            seeds = True
        elif canonical.startswith(GLOBAL_DRAWS) and canonical not in _NOT_DRAWS:
            draws = True
    return seeds, draws


def _keep_seeds_with_draws(ir: NotebookIR, groups: list[tuple[str, str | None, list[Stmt]]]
                           ) -> list[tuple[str, str | None, list[Stmt]]]:
    """A code group that draws from a global random state seeded by an earlier code group of
    the same cell joins that group: the draws must follow the seed with nothing in between.

    NB: `np.random.seed(42)`, `plt.figure()`, then a loop drawing `np.random.randint` and
        plotting, all in cell 34: the figure statement splits the cell, and two steps would
        leave the global state between them to whatever other steps run there
    """
    out: list[tuple[str, str | None, list[Stmt]]] = []
    seeded_by: dict[int, int] = {}  # cell -> index in ``out`` of the code group that seeded it last
    for kind, title, stmts in groups:
        if kind != "code":
            out.append((kind, title, stmts))
            continue
        flags = [_global_random(s, ir) for s in stmts]
        cells = {s.cell for s in stmts}
        target = next((seeded_by[c] for c in sorted(cells) if c in seeded_by), None)
        if target is not None and any(draws for _, draws in flags) and not flags[0][0]:
            kept_kind, kept_title, kept = out[target]
            out[target] = (kept_kind, kept_title, [*kept, *stmts])
            index = target
        else:
            out.append((kind, title, stmts))
            index = len(out) - 1
        for s, (seeds, _) in zip(stmts, flags, strict=True):
            if seeds:
                seeded_by[s.cell] = index
    return out


# -- data flow -----------------------------------------------------------------------------

def _flow(ir: NotebookIR, steps: list[StepPlan], params: dict[str, Param], helpers: dict[str, Helper],
          log: Log, inline: dict[str, str], exprs: dict[int, dict[str, str]]) -> list[StepPlan]:
    """The steps with their data flow replayed in order: params, helpers, reads, writes, copies,
    aliases, inputs and outputs (``(name, "")`` until ``_name`` gives the versions)."""
    steps = list(steps)
    known = ir.import_names | set(helpers) | BUILTIN_NAMES
    defined_anywhere = {name for s in ir.statements for name in s.binds} | {m for h in helpers.values() for m in h.sets}
    env: dict[str, int] = {}  # name -> index of the step holding its current version
    consumed: dict[int, set[str]] = {}
    loop_names: dict[int, set[str]] = {}
    for index, step in enumerate(steps):
        local: set[str] = set()
        reads: dict[str, None] = {}
        writes: dict[str, None] = {}
        mutated: set[str] = set()
        rebound: set[str] = set()
        step_params: list[str] = []
        step_helpers: list[str] = []
        for s in step.statements:
            names = _names_used(s, helpers, inline, exprs, params)
            if s.query is not None and "run_query" not in step_helpers:
                step_helpers.append("run_query")
            for name in s.reads:
                if name in helpers:
                    for m in helpers[name].mutates:
                        if m not in local:
                            mutated.add(m)
                        writes.setdefault(m, None)
            for name in names:
                if name in local or name in reads:
                    continue
                if name in params:
                    if name not in step_params:
                        step_params.append(name)
                    continue
                if name in helpers:
                    if name not in step_helpers:
                        step_helpers.append(name)
                    continue
                if name in known:
                    continue
                if name in env:
                    reads[name] = None
                    continue
                if name in defined_anywhere:
                    later = next(o.cell for o in ir.statements if name in o.binds)
                    log.refusals.append(_refusal(s, f"`{name}` is read before any cell above defines it "
                                                    f"(cell {later} defines it)",
                                                 "move the defining cell above, so the notebook runs top to bottom"))
                else:
                    log.refusals.append(_refusal(s, f"`{name}` is never defined in the notebook",
                                                 "define it in a cell (or import it), so the notebook runs top to bottom"))
                reads[name] = None
            for name in s.mutates:
                if name not in local and name in reads:
                    mutated.add(name)
                if name in env or name in local:
                    writes.setdefault(name, None)
            # NB: a call of a helper that assigned notebook variables with `global` now binds them
            for name in [*s.binds, *(m for n in s.reads if n in helpers for m in helpers[n].sets)]:
                if name in reads and name not in local:
                    rebound.add(name)
                local.add(name)
                writes.setdefault(name, None)
            for sub in s.subnodes:
                if isinstance(sub, (ast.For, ast.AsyncFor, ast.comprehension)):
                    loop_names.setdefault(index, set()).update(
                        n.id for n in ast.walk(sub.target) if isinstance(n, ast.Name))
                elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                    loop_names.setdefault(index, set()).update(
                        n.id for n in ast.walk(sub.optional_vars) if isinstance(n, ast.Name))
        copies = frozenset(n for n in mutated if n in reads)
        step = steps[index] = replace(
            step, params=tuple(step_params), helpers=tuple(step_helpers), reads=tuple(n for n in reads if n in env),
            writes=tuple(n for n in writes if n not in params and n not in helpers and n not in ir.import_names),
            copies=copies, aliases=frozenset(n for n in rebound if n not in copies))
        for name in step.reads:
            consumed.setdefault(env[name], set()).add(name)
        step = steps[index] = replace(step, inputs=tuple((name, "") for name in step.reads))
        if step.kind == "figure":
            continue
        for name in step.writes:
            env[name] = index
    # outputs: what later steps read, and results that nothing reads again
    last_reads = _last_reads(ir)
    outputs: dict[int, list[tuple[str, str]]] = {index: [] for index in range(len(steps))}
    for index, step in enumerate(steps):
        if step.kind == "figure":
            continue
        last_writes = _last_writes(step)
        # NB: a name an import inside the step binds (`try: from x import f` / `except
        #     ImportError: ...`) is a tool, not a result: it is an output only when read later
        imported = {i.bound or i.name for st in step.statements for i in st.analysis.imports
                    if not i.deferred and not i.star}
        for name in step.writes:
            if name in consumed.get(index, ()) or (name not in imported and _is_result(
                    name, step, last_writes, last_reads, loop_names.get(index, set()))):
                outputs[index].append((name, ""))
    # a name a cell shows again (`df.head()`, `print(acc)`) is an output of the step holding the version shown
    writer: dict[str, int] = {}
    step_at = {s.position: index for index, step in enumerate(steps) for s in step.statements}
    for s in ir.statements:
        for shown in s.shows:
            owner = writer.get(shown.covers)
            if owner is not None and steps[owner].kind != "figure" and not shown.covers.startswith("_") \
                    and (shown.covers, "") not in outputs[owner]:
                outputs[owner].append((shown.covers, ""))
        if s.position in step_at:
            for name in s.writes:
                writer[name] = step_at[s.position]
    return [replace(step, outputs=tuple(outputs[index])) for index, step in enumerate(steps)]


def _names_used(s: Stmt, helpers: dict[str, Helper], inline: dict[str, str], exprs: dict[int, dict[str, str]],
                params: dict[str, Param]) -> list[str]:
    """The names ``s`` uses once converted: what it reads, the params that replace its literal
    paths, a query's database and file, and the notebook variables the helpers it calls now take."""
    names = list(s.reads)
    names.extend(inline[a.path] for a in s.analysis.files if a.path in inline)
    if s.position in exprs:
        names = [n for n in names if n not in _replaced_only(s, exprs[s.position])]
        names.extend(n for n in exprs[s.position].values() if n in params)
    if s.query is not None:
        names.extend([*([s.query.setup] if s.query.setup else []), f"{s.query.output}_sql"]
                     if s.query.in_memory else ["database", f"{s.query.output}_sql"])
    for name in s.reads:
        if name in helpers:
            names.extend(helpers[name].needs)
    return names


#: Calls whose result depends only on their arguments and that change nothing.
PURE_CALLS = frozenset({"os.path.join", "os.path.dirname", "os.path.basename", "os.path.abspath", "os.path.splitext",
                        "Path", "pathlib.Path", "str", "int", "float", "bool", "len", "range", "tuple", "list",
                        "dict", "set", "frozenset", "sorted", "min", "max", "round", "abs", "sum"})


def _dead_stores(steps: list[StepPlan], helpers: dict[str, Helper], inline: dict[str, str],
                 exprs: dict[int, dict[str, str]], params: dict[str, Param]) -> list[StepPlan]:
    """Assignments whose name nothing reads afterwards (not a later statement of the step, not
    an output) leave the code; a value that may do something (a call) stays, as a statement.
    The params and inputs only such assignments read leave the step's signature.

    NB: `HOUSING_PATH = os.path.join(...)` read only by a helper's default (now in lib.py), or
        `ax = frame.plot(...)` in a figure step: a function's unused local, which every linter
        reports. The analysis runs backwards: a name is live where a later statement reads it.
    """
    out: list[StepPlan] = []
    for step in steps:
        live = {name for name, _ in step.outputs}
        dropped: set[int] = set()
        value_only: set[int] = set()
        if any(isinstance(sub, ast.Name) and sub.id in _NAMESPACE_READERS for s in step.statements for sub in s.subnodes):
            out.append(step)  # NB: `locals()`, `eval`: any name may be read
            continue
        for s in reversed(step.statements if step.kind != "query" else ()):
            node = s.node
            sets_globals = any(helpers[n].sets for n in s.reads if n in helpers)
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and not s.results \
                    and s.kind != "param" and not sets_globals:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name):
                    name = targets[0].id
                    if name not in live:
                        if _pure(node.value):
                            dropped.add(s.position)
                            continue  # NB: what it reads is not read here (`URL = ROOT + "x"` frees ROOT)
                        value_only.add(s.position)
                    live.discard(name)  # NB: this binding is the one read below; an earlier one is not
            live.update(s.reads)
            live.update(_string_reads(s))
            for name in s.reads:
                if name in helpers:
                    live.update(helpers[name].needs)
        if not dropped and not value_only:
            out.append(step)
            continue
        used = {n for s in step.statements if s.position not in dropped
                for n in _names_used(s, helpers, inline, exprs, params)}
        out.append(replace(step, dropped=frozenset(dropped), value_only=frozenset(value_only),
                           params=tuple(p for p in step.params if p in used),
                           inputs=tuple((n, v) for n, v in step.inputs if n in used)))
    return out


#: Calls that read a scope's names by string: where they are, no assignment is known to be unused.
_NAMESPACE_READERS = frozenset({"locals", "vars", "eval", "exec", "globals"})
_AT_NAME = re.compile(r"@([A-Za-z_]\w*)")


def _string_reads(s: Stmt) -> set[str]:
    """Names a statement reads inside strings: ``df.query("a > @low")`` reads ``low``."""
    return {match for node in s.subnodes if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and "@" in node.value for match in _AT_NAME.findall(node.value)}


def _pure(node: ast.expr) -> bool:
    """Whether evaluating ``node`` can change nothing: literals, names, operators and ``PURE_CALLS``."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.Call):
        return ast.unparse(node.func) in PURE_CALLS and all(_pure(a) for a in node.args) \
            and all(_pure(k.value) for k in node.keywords)
    if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.JoinedStr,
                         ast.FormattedValue, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Starred)):
        return all(_pure(child) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))
    return False


def _replaced_only(s: Stmt, exprs: dict[str, str]) -> set[str]:
    """Names ``s`` reads only inside path expressions that a param replaces (``f"{DATA}/y.csv"``)."""
    inside: set[str] = set()
    skipped: set[int] = set()
    for node in s.subnodes:
        if isinstance(node, ast.expr) and id(node) not in skipped and ast.dump(node) in exprs:
            for inner in ast.walk(node):
                skipped.add(id(inner))
                if isinstance(inner, ast.Name):
                    inside.add(inner.id)
    outside = {n.id for n in s.subnodes if isinstance(n, ast.Name) and id(n) not in skipped}
    return inside - outside


def _last_reads(ir: NotebookIR) -> dict[str, int]:
    """Each name → the position of the last statement that computes with it (displays do not count).

    One pass, so that deciding whether a written name is a result is a look-up, not a scan of
    every later statement.
    """
    last: dict[str, int] = {}
    for s in ir.statements:
        if s.kind in ("code", "figure", "query", "helper"):
            for name in s.computes:
                last[name] = s.position
            for fn in s.analysis.functions:
                for name in fn.reads:
                    last[name] = s.position
    return last


def _last_writes(step: StepPlan) -> dict[str, int]:
    """Each name the step's statements write → the position of the last one writing it."""
    last: dict[str, int] = {}
    for s in step.statements:
        for name in s.writes:
            last[name] = max(last.get(name, -1), s.position)
    return last


def _is_result(name: str, step: StepPlan, last_writes: dict[str, int], last_reads: dict[str, int],
               loops: set[str]) -> bool:
    """Whether no statement after the step's last write of ``name`` computes with it."""
    if name.startswith("_") or name in loops:
        return False
    # NB: a name changed only through a helper that mutates it (`add(1)` appending to `items`)
    #     is written by no statement: its last write is the step's end
    last_write = last_writes[name] if name in last_writes else max(
        (s.position for s in step.statements if name in s.writes),
        default=max((s.position for s in step.statements), default=-1))
    return last_reads.get(name, -1) <= last_write


# -- steps that do something: an output, a file or a figure ------------------------------

def _steps(ir: NotebookIR, groups: list[tuple[str, str | None, list[Stmt]]], params: dict[str, Param],
           helpers: dict[str, Helper], log: Log, inline: dict[str, str], exprs: dict[int, dict[str, str]],
           written: dict[int, list[str]]) -> list[StepPlan]:
    """The steps of ``groups``, each with an output, a declared file or a figure.

    A code group with none (``np.random.seed(0)`` alone in a cell, a loop that only prints)
    is merged into the next step (else the previous one), so its code still runs where it
    did relative to the code it affects; with no step to merge into, it is left out with a
    note. The data flow is replayed after merging.
    """
    groups = [(kind, title, list(stmts)) for kind, title, stmts in groups]
    for kind, _, stmts in groups:
        if kind == "figure" and all(_closes(s, ir) for s in stmts):
            for s in stmts:
                log.notes.append(Note(s.cell, s.line, "dropped", s.code.split("\n")[-1].strip(),
                                      "only closes or shows figures: each figure step closes its own figure"))
    groups = [g for g in groups if not (g[0] == "figure" and all(_closes(s, ir) for s in g[2]))]
    refusals = len(log.refusals)
    while True:
        del log.refusals[refusals:]
        steps = _files(_flow(ir, [StepPlan("", kind, title, tuple(stmts)) for kind, title, stmts in groups],
                             params, helpers, log, inline, exprs), written)
        empty = {i for i, step in enumerate(steps) if step.kind == "code" and not step.outputs and not step.files}
        if not empty or all(i in empty or groups[i][0] == "query" for i in range(len(groups))):
            return steps
        keep = [i for i in range(len(groups)) if i not in empty and groups[i][0] != "query"]
        merged = {i: list(groups[i][2]) for i in range(len(groups)) if i not in empty}
        for i in sorted(empty):
            target = next((k for k in keep if k > i), None)
            target = target if target is not None else next((k for k in reversed(keep) if k < i), None)
            first = groups[i][2][0]
            if target is None:
                merged[i] = list(groups[i][2])  # NB: no other step: kept, its effects unseen (a computed path)
                continue
            merged[target].extend(groups[i][2])
            where = "next" if target > i else "previous"
            log.notes.append(Note(first.cell, first.line, "merged", first.code.split("\n")[-1].strip(),
                                  f"computes nothing another cell reads, writes no file and draws nothing: its code "
                                  f"runs in the {where} step (cell {groups[target][2][0].cell})"))
        groups = [(groups[i][0], groups[i][1], sorted(merged[i], key=lambda s: s.position)) for i in sorted(merged)]


def _closes(s: Stmt, ir: NotebookIR) -> bool:
    """``plt.close("all")``, ``plt.show()``, ``plt.clf()``: a statement that draws nothing."""
    node = s.node
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    name = dotted_name(node.value.func)
    return name is not None and ir.canonical(name) in ("matplotlib.pyplot.close", "matplotlib.pyplot.show",
                                                       "matplotlib.pyplot.clf", "matplotlib.pyplot.cla")


def _chdir(ir: NotebookIR, log: Log) -> NotebookIR:
    """``os.chdir``: steps all run in the project folder, so a change of folder cannot be kept.

    Changing to the folder the notebook already runs in (``os.chdir(".")``) is left out with a
    note; any other is refused with its cell.
    """
    changed: dict[int, Stmt] = {}
    for s in ir.statements:
        if s.kind not in ("code", "figure", "setup", "display") or "chdir" not in s.code:
            continue
        for sub in s.subnodes:
            name = dotted_name(sub.func) if isinstance(sub, ast.Call) else None
            if name is None or ir.canonical(name) != "os.chdir" or not isinstance(sub, ast.Call):
                continue
            arg = sub.args[0] if sub.args else None
            noop = isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                and posixpath.normpath(arg.value or ".") == "."
            if noop and isinstance(s.node, ast.Expr) and s.node.value is sub:
                changed[s.position] = replace(s, kind="blank", reason="changes to the folder the notebook already runs in")
                log.notes.append(Note(s.cell, s.line, "dropped", ast.unparse(s.node),
                                      "changes to the folder the notebook already runs in; steps run in the project "
                                      "folder"))
            else:
                log.refusals.append(_refusal(s, f"`{ast.unparse(sub)}` changes the folder that every later cell "
                                                "reads and writes files in; the pipeline's steps all run in the "
                                                "project folder",
                                             "use paths relative to the notebook's folder instead of changing "
                                             "folder, then convert again"))
            break
    return ir.revised(changed)


def _written(ir: NotebookIR, log: Log) -> tuple[dict[int, list[str]], dict[str, str]]:
    """Statement position → the files it writes through a literal path, relative to the project;
    and the paths moved into the project.

    ``df.to_csv("out/x.csv")``, ``fig.savefig(...)``, ``joblib.dump(m, "m.pkl")``,
    ``open("r.txt", "w")``, ``np.save``... A path outside the notebook's folder (absolute,
    ``~``, ``..``) is moved under ``out/`` in the project (``_moved_target``): a step's files
    are declared relative to its project, and a pipeline writing elsewhere would change files
    no run of it can restore or check. Every literal of that path is rewritten, reads included.
    """
    out: dict[int, list[str]] = {}
    moved: dict[str, str] = {}
    constants = {name: value.value for name, value in _scope(ir)[0].items()
                 if isinstance(value, ast.Constant) and isinstance(value.value, str)}
    for s in ir.statements:
        if s.kind not in ("code", "figure"):
            continue
        for access in [*s.analysis.files, *_constant_writes(s, constants)]:
            path = access.path
            if access.mode != "write" or "://" in path or not path.strip() or any(c in path for c in "*?[\n"):
                continue
            normal = _normal(path)
            if normal in ("..", "/", "~") or not [p for p in Path(normal).parts if p not in ("..", "/", "~")]:
                log.refusals.append(Refusal(s.cell, access.line + s.line - 1,
                                            f"writes `{path}`, a folder above the notebook's folder: a pipeline "
                                            "declares the files its steps write relative to its project folder",
                                            "write under the notebook's folder (for example `out/"
                                            f"{posixpath.basename(normal) or 'file'}`), then convert again"))
                continue
            if normal.startswith(("/", "~", "../")) or Path(path).is_absolute():
                if normal not in moved:
                    moved[normal] = _moved_target(normal)
                    log.notes.append(Note(s.cell, access.line + s.line - 1, "moved", path,
                                          f"written outside the notebook's folder: the pipeline writes it to "
                                          f"{moved[normal]} in the project (every use of the path is changed)"))
                normal = moved[normal]
            if normal != ".":
                out.setdefault(s.position, []).append(normal)
    return out, moved


def _constant_writes(s: Stmt, constants: dict[str, str]) -> list[FileAccess]:
    """Writes through a name bound once to a literal path: ``OUT = "summary.csv"``, ``df.to_csv(OUT)``."""
    from ..analysis.cells import _WRITE_METHODS

    found: list[FileAccess] = []
    for sub in s.subnodes:
        if not (isinstance(sub, ast.Call) and isinstance(sub.func, (ast.Attribute, ast.Name))):
            continue
        tail = sub.func.attr if isinstance(sub.func, ast.Attribute) else sub.func.id
        arg: ast.expr | None = None
        if tail == "open" and isinstance(sub.func, ast.Name) and len(sub.args) > 1 \
                and isinstance(sub.args[1], ast.Constant) and any(c in str(sub.args[1].value) for c in "wax+"):
            arg = sub.args[0]
        elif tail == "dump" and len(sub.args) > 1:
            arg = sub.args[1]
        elif tail in _WRITE_METHODS and tail != "dump" and sub.args:
            arg = sub.args[0]
        if isinstance(arg, ast.Name) and arg.id in constants:
            found.append(FileAccess(constants[arg.id], sub.lineno, "write", tail))
    return found


def _files(steps: list[StepPlan], written: dict[int, list[str]]) -> list[StepPlan]:
    """Each step's declared files (a file several steps write is declared by the last one) and
    the folders it must create first: those of its files that no statement of the step creates
    (``os.makedirs``, ``Path(...).mkdir``), since the notebook found them in its folder."""
    last: dict[str, int] = {}
    for index, step in enumerate(steps):
        for s in step.statements:
            for path in written.get(s.position, ()):
                last[path] = index
    out = []
    for index, step in enumerate(steps):
        paths = list(dict.fromkeys(p for s in step.statements for p in written.get(s.position, ())))
        made = _folders_made(step) if paths else set()
        folders = sorted({parent for p in paths if (parent := posixpath.dirname(p))
                          and not any(m == parent or m.startswith(parent + "/") for m in made)})
        out.append(replace(step, files=tuple(p for p in paths if last[p] == index), folders=tuple(folders)))
    return out


def _folders_made(step: StepPlan) -> set[str]:
    made: set[str] = set()
    for s in step.statements:
        for sub in s.subnodes:
            if not (isinstance(sub, ast.Call) and isinstance(sub.func, (ast.Attribute, ast.Name))):
                continue
            func = sub.func
            attr = func.attr if isinstance(func, ast.Attribute) else func.id
            if attr not in ("makedirs", "mkdir"):
                continue
            arg = sub.args[0] if sub.args else None
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call) and func.value.args:
                arg = func.value.args[0]  # Path("out").mkdir()
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                made.add(posixpath.normpath(arg.value))
    return made


# -- naming --------------------------------------------------------------------------------

#: The longest name convert makes up (steps, versions, results, params for files): a reader
#: should take a name in at a glance. The notebook's own names are kept as they are.
MAX_NAME = 30


def fit(name: str, limit: int = MAX_NAME) -> str:
    """``name`` cut to ``limit`` characters at a word boundary (a word is cut only when it alone is longer).

    Example:
        >>> fit("understanding_the_data_s_distribution_figure")
        'understanding_the_data_s'
    """
    if len(name) <= limit:
        return name
    words = name.split("_")
    while len(words) > 1 and len("_".join(words)) > limit:
        words.pop()
    return "_".join(words)[:limit].rstrip("_")


#: Words a name from a heading leaves out: they make names long and say little.
STOP_WORDS = frozenset({"a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "with", "into", "from",
                        "at", "as", "is", "are", "s", "our", "your", "its", "it", "this", "that", "let", "lets"})
#: Numbered prefixes of headings (``Example 3:``, ``Step 2 -``): the number says nothing in a name.
_NUMBERED = re.compile(r"^\s*(example|exercise|step|part|section|chapter|question|task|problem)\s*\d+\s*[:.)-]?\s*",
                       re.IGNORECASE)


def slug(text: str, words: int = 4, limit: int = MAX_NAME, *, last: bool = False, terse: bool = True) -> str:
    """``"2. Load the data!"`` → ``load_data``: a readable identifier from a title, at most
    ``words`` words (the last ones with ``last``) and ``limit`` characters; ``terse``: without
    stop words or a numbered prefix (``Example 3:``)."""
    if terse:
        text = _NUMBERED.sub("", text) or text
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    parts = [p for p in re.split(r"[^0-9a-zA-Z]+", text.lower()) if p]
    while parts and parts[0].isdigit():
        parts = parts[1:]
    if terse:
        parts = [p for p in parts if p not in STOP_WORDS] or parts
    name = fit("_".join(parts[-words:] if last else parts[:words]), limit).strip("_")
    if name and keyword.iskeyword(name):
        name += "_"
    return name


def unique(name: str, taken: set[str], limit: int = MAX_NAME, counters: dict[str, int] | None = None) -> str:
    """``name`` (cut to ``limit``), or with the first free ``_2``, ``_3``… suffix, still within ``limit``.

    ``counters`` (base → next suffix to try), kept by a caller naming many values alike,
    makes each call start where the last one stopped instead of at ``_2``.
    """
    name = fit(name, limit)
    if name not in taken and not keyword.iskeyword(name) and name not in BUILTIN_NAMES:
        return name
    n = counters.get(name, 2) if counters is not None else 2
    width = len(str(n))
    short = fit(name, limit - width - 1)
    while f"{short}_{n}" in taken:
        n += 1
        if len(str(n)) != width:  # NB: the suffix grew a digit: the name gives up one more character
            width = len(str(n))
            short = fit(name, limit - width - 1)
    if counters is not None:
        counters[name] = n + 1
    return f"{short}_{n}"


def _name(ir: NotebookIR, steps: list[StepPlan], params: dict[str, Param], helpers: dict[str, Helper]
          ) -> list[StepPlan]:
    """The steps named: a slug each, a version name for each output a later step writes again,
    inputs pointing at the version current when the step runs, and the function's name."""
    taken = set(params) | set(helpers) | ir.import_names | {"step", "Path", "copy", "plt", "pd"}
    slugs: set[str] = set()
    step_slugs: list[str] = []
    taken |= {name for s in ir.statements for name in s.binds}
    for step in steps:
        base = slug(step.title or "") or f"cell_{step.statements[0].cell}"
        if step.kind == "figure":
            title = _figure_title(step)
            base = f"{slug(title or '', limit=MAX_NAME - 7) or fit(base, MAX_NAME - 7)}_figure" if title or step.title \
                else f"figure_cell_{step.statements[0].cell}"
        if base in taken:
            base = f"{fit(base, MAX_NAME - 5)}_step"  # NB: a section "Model" in a notebook with a variable `model`
        if base in slugs and step.title and step.kind != "figure":
            # NB: "Discretization into equal-width bins", then "... into equal-frequency bins": the
            #     end of the heading tells them apart better than a number
            base = slug(step.title, words=3, last=True) or base
        step_slugs.append(unique(base, slugs))
        slugs.add(step_slugs[-1])
    steps = [replace(step, slug=name) for step, name in zip(steps, step_slugs, strict=True)]
    # versions: the last output of a name keeps it; earlier ones take the step's slug
    versions: dict[str, list[int]] = {}
    for index, step in enumerate(steps):
        for name, _ in step.outputs:
            versions.setdefault(name, []).append(index)
    version_name: dict[tuple[str, int], str] = {}
    for name, owners in versions.items():
        for position, owner in enumerate(owners):
            if position == len(owners) - 1:
                version_name[(name, owner)] = name
            else:
                # NB: the step's slug after the name, cut to fit: `theta_stochastic_gradient`
                candidate = unique(f"{name}_{steps[owner].slug}" if len(name) < MAX_NAME - 4 else f"{name}_v",
                                   taken, max(MAX_NAME, len(name) + 4))
                taken.add(candidate)
                version_name[(name, owner)] = candidate
    # inputs point at the version current when the step runs
    latest: dict[str, int] = {}
    for index, step in enumerate(steps):
        step = steps[index] = replace(
            step, inputs=tuple((name, version_name.get((name, latest[name]), name)) for name, _ in step.inputs
                               if name in latest),
            outputs=tuple((name, version_name[(name, index)]) for name, _ in step.outputs))
        if step.kind != "figure":
            for name in step.writes:
                if (name, index) in version_name:
                    latest[name] = index
    # function names: a step with one output is named after it
    used: set[str] = taken | set(version_name.values())  # and each step's name once given
    named = []
    for step in steps:
        name = step.outputs[0][1] if len(step.outputs) == 1 and step.kind != "figure" else unique(step.slug, used)
        used.add(name)
        named.append(replace(step, name=name))
    return named


def _figure_title(step: StepPlan) -> str | None:
    for s in step.statements:
        for sub in s.subnodes:
            if isinstance(sub, ast.Call) and isinstance(sub.func, (ast.Attribute, ast.Name)):
                attr = sub.func.attr if isinstance(sub.func, ast.Attribute) else sub.func.id
                if attr in ("set_title", "title", "suptitle") and sub.args and isinstance(sub.args[0], ast.Constant) \
                        and isinstance(sub.args[0].value, str):
                    return str(sub.args[0].value)
            if isinstance(sub, ast.keyword) and sub.arg == "title" and isinstance(sub.value, ast.Constant) \
                    and isinstance(sub.value.value, str):
                return str(sub.value.value)
    return None
