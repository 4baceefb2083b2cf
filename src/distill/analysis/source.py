"""Analysis of a pipeline module's source, without importing it.

Responsibilities:
- ``analyze_module(source, module, path)`` -> ``ModuleInfo``: the module's top-level
  definitions (functions, classes, constants) with the hash of their normalised AST and the
  names they read, its imports, and its ``@step`` functions as ``StepDecl`` records;
- normalisation: docstrings, comments and formatting do not change a hash; a step's
  ``@step(...)`` decorator and its parameter defaults are left out of its code hash, because
  options and param values are keyed separately (a default edit reads "param window 7 → 14",
  not "function changed").

Everything here is a pure function of the source text, so results can be cached by file stat.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import sys
from dataclasses import dataclass, field
from typing import Literal

from ..errors import Problem
from .reads import ReadRef, constant_path, find_reads
from .scope import FreeNames, free_names

DefKind = Literal["function", "class", "constant", "statement"]
DefaultKind = Literal["none", "literal", "path", "unresolved"]


@dataclass(frozen=True, slots=True)
class ImportRef:
    """What a module-level name was imported as: ``module`` and, for ``from`` imports, ``attr``."""

    module: str
    attr: str | None = None


@dataclass(frozen=True, slots=True)
class Definition:
    """A top-level name of a module.

    Attributes:
        name: the name bound at module level.
        kind: function, class, constant (an assignment) or statement (another block).
        hash: hash of the normalised AST of every statement binding the name.
        names: every identifier read inside (an over-approximation of its free names).
        chains: dotted attribute chains read inside, such as ``lib.clean_names``.
        line: first line of its first binding.
        local_imports: imports inside its body.
        reads: the files and environment variables it reads (``analysis.reads``).
    """

    name: str
    kind: DefKind
    hash: str
    names: frozenset[str]
    chains: frozenset[str]
    line: int
    local_imports: tuple[ImportRef, ...] = ()
    reads: tuple[ReadRef, ...] = ()


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """A parameter of a ``@step`` function, as written in its signature."""

    name: str
    annotation: str | None
    default_kind: DefaultKind
    default: object = None
    default_source: str | None = None


@dataclass(frozen=True, slots=True)
class StepDecl:
    """A ``@step`` function as read from source.

    Attributes:
        name: the function's name, which is the step's name.
        module: dotted module name.
        file: path of the source file.
        line: line of the ``def``.
        params: its parameters, in signature order.
        outputs: names of its outputs (the function's name unless ``outputs=`` was given).
        multi: whether the function returns a tuple of ``outputs``.
        retries: extra attempts after an exception.
        cache: whether results are cached.
        reads: declared reads (files, folders, globs) the code analysis cannot see.
        env: declared environment variables the code analysis cannot see.
        writes: declared file outputs (files, folders, globs).
        metrics: outputs that are scalar metrics.
    """

    name: str
    module: str
    file: str
    line: int
    params: tuple[ParamDecl, ...]
    outputs: tuple[str, ...]
    multi: bool
    retries: int = 0
    cache: bool = True
    reads: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """Everything distill needs to know about one module, read from its source."""

    name: str
    path: str
    is_package: bool
    defs: dict[str, Definition] = field(default_factory=dict)
    imports: dict[str, ImportRef] = field(default_factory=dict)
    star_imports: tuple[str, ...] = ()
    side_effects: str = ""
    steps: tuple[StepDecl, ...] = ()
    problems: tuple[Problem, ...] = ()
    source_hash: str = ""
    side_reads: tuple[ReadRef, ...] = ()
    paths: dict[str, str] = field(default_factory=dict)


# Names and attributes that may read a file or the environment: a definition using none of
# them is not walked again for reads.
_READER_NAMES = frozenset({"open", "environ", "getenv", "Path", "PurePath", "__file__"})
_READER_MODULES = frozenset(
    {"os", "io", "glob", "pandas", "polars", "pyarrow", "geopandas", "dask", "numpy", "joblib", "torch", "sqlite3", "pathlib"}
)
_READER_ATTRS = frozenset(
    {"read_text", "read_bytes", "glob", "iglob", "rglob", "iterdir", "open", "environ", "getenv", "load",
     "loadtxt", "genfromtxt", "fromfile", "memmap", "connect", "listdir", "scandir"}
)


def _may_read(attr: str) -> bool:
    return attr in _READER_ATTRS or attr.startswith(("read_", "scan_"))

def digest(text: str | bytes) -> str:
    """The short content hash used for code: 128-bit BLAKE2b, hex."""
    if isinstance(text, str):
        text = text.encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def normalised_hash(node: ast.AST) -> str:
    """Hash of an AST with line numbers and field names left out."""
    # NB: `ast.dump` recurses in C (through `str.join`), so it runs only under an ordinary
    # recursion limit; a tree too deep for it (a 2,000-branch `elif` ladder) gets the same
    # text from `_dump`, which loops.
    if sys.getrecursionlimit() <= _DUMP_LIMIT:
        try:
            return digest(ast.dump(node, annotate_fields=False, include_attributes=False))
        except RecursionError:
            pass
    return digest(_dump(node))


_DUMP_LIMIT = 5_000
_SHOW_EMPTY = sys.version_info < (3, 13)  # NB: from 3.13 `ast.dump` leaves out empty lists and Nones
_KEEP_NONE = (ast.Constant, ast.MatchSingleton)


def _dump(root: ast.AST) -> str:
    """``ast.dump(root, annotate_fields=False)`` character for character, without recursion."""
    out: list[str] = []
    todo: list[object] = [root]  # a str is text to write; anything else is a value to format
    while todo:
        item = todo.pop()
        if type(item) is str:
            out.append(item)
            continue
        pending: list[object] = []
        if isinstance(item, list):
            text = "["
            for index, value in enumerate(item):
                if index:
                    text += ", "
                if isinstance(value, (ast.AST, list)) and value != []:
                    pending += (text, value)
                    text = ""
                else:
                    text += repr(value)
            pending.append(text + "]")
        elif isinstance(item, ast.AST):
            cls = type(item)
            text = cls.__name__ + "("
            held: list[str] = []
            keywords, first = False, True
            for name in item._fields:
                try:
                    value = getattr(item, name)
                except AttributeError:
                    keywords = True
                    continue
                if value is None and getattr(cls, name, ...) is None:
                    keywords = True
                    continue
                if not _SHOW_EMPTY and (value is None or value == []) and not isinstance(item, _KEEP_NONE):
                    held.append(repr(value))
                    continue
                if not keywords:
                    for shown in held:
                        text += shown if first else ", " + shown
                        first = False
                held = []
                text += ("" if first else ", ") + (name + "=" if keywords else "")
                first = False
                if isinstance(value, (ast.AST, list)) and value != []:
                    pending += (text, value)
                    text = ""
                else:
                    text += repr(value)
            pending.append(text + ")")
        else:
            out.append(repr(item))
            continue
        pending.reverse()
        todo += pending
    return "".join(out)


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _strip_docstrings(tree: ast.Module) -> None:
    """Remove docstrings from the module and from every class and function in it.

    NB: a docstring is the first statement when it is a bare string constant:
        def f():
            '''Only words.'''   # dropped: editing it must not re-run anything
    Only statement blocks are walked (a def can only sit in one), not every expression:
    on a large module this is several times quicker than a full ``NodeTransformer``.
    """
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
        for block_name in _BLOCKS:
            block = getattr(node, block_name, None)
            if isinstance(block, list):
                stack.extend(child for child in block if isinstance(child, ast.AST))


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """Absolute module name of ``from <dots><target> import ...`` inside ``module``."""
    if level == 0:
        return target or ""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _bound_names(stmt: ast.stmt) -> list[str]:
    """Names a statement binds at module level (assignment targets, defs, imports inside)."""
    bound: list[str] = []
    for sub in ast.walk(stmt):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            bound.append(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.append(sub.name)
    return bound


def _is_main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` never runs on import, so it never affects a step."""
    test = getattr(stmt, "test", None)
    return (
        isinstance(stmt, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


class _StepAliases:
    """Which local names refer to ``distill.step`` or to the ``distill`` package."""

    def __init__(self) -> None:
        self.step_names: set[str] = set()
        self.package_names: set[str] = set()

    def note_import(self, stmt: ast.Import | ast.ImportFrom) -> None:
        if isinstance(stmt, ast.ImportFrom):
            if stmt.module in ("distill", "distill.pipeline.step") and stmt.level == 0:
                for alias in stmt.names:
                    if alias.name == "step":
                        self.step_names.add(alias.asname or "step")
        else:
            for alias in stmt.names:
                if alias.name == "distill":
                    self.package_names.add(alias.asname or "distill")

    def is_step(self, decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name):
            return target.id in self.step_names
        return (
            isinstance(target, ast.Attribute)
            and target.attr == "step"
            and isinstance(target.value, ast.Name)
            and target.value.id in self.package_names
        )


def _literal_default(
    node: ast.expr, constants: dict[str, ast.expr]
) -> tuple[DefaultKind, object]:
    """A default value that can be known without running code, or ``unresolved``.

    NB: ``Path("data/raw.csv")`` and a module constant holding a literal are read as values:
        RAW = "data/raw.csv"
        def load(path: Path = Path(RAW)): ...   # default is the path "data/raw.csv"
    """
    if isinstance(node, ast.Name) and node.id in constants:
        return _literal_default(constants[node.id], {})
    if (
        isinstance(node, ast.Call)
        and len(node.args) == 1
        and not node.keywords
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "Path")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "Path")
        )
    ):
        kind, value = _literal_default(node.args[0], constants)
        if kind == "literal" and isinstance(value, str):
            return "path", value
        return "unresolved", None
    try:
        return "literal", ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "unresolved", None


def _literal_option(call: ast.Call, name: str) -> tuple[bool, object]:
    for keyword in call.keywords:
        if keyword.arg == name:
            try:
                return True, ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError):
                return True, _NOT_LITERAL
    return False, None


_NOT_LITERAL = object()


def _step_decl(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    decorator: ast.expr,
    module: str,
    path: str,
    constants: dict[str, ast.expr],
    problems: list[Problem],
) -> StepDecl | None:
    where = f"{path}:{node.lineno}"
    outputs: tuple[str, ...] = (node.name,)
    multi = False
    retries = 0
    cache = True
    declared: dict[str, tuple[str, ...]] = {}
    if isinstance(decorator, ast.Call):
        if decorator.args:
            problems.append(
                Problem(
                    "step-options",
                    f"step {node.name!r}: @step takes keyword arguments only",
                    where,
                    "write @step(outputs=(...), retries=N, cache=True)",
                )
            )
        known = {"outputs", "retries", "cache", "reads", "env", "writes", "metrics"}
        for keyword in decorator.keywords:
            if keyword.arg not in known:
                problems.append(
                    Problem(
                        "step-options",
                        f"step {node.name!r}: unknown @step option {keyword.arg!r}",
                        where,
                        f"the options are {', '.join(sorted(known))}",
                    )
                )
        given, value = _literal_option(decorator, "outputs")
        if given:
            if isinstance(value, str):
                value = (value,)
            if (
                not isinstance(value, (tuple, list))
                or not value
                or not all(isinstance(v, str) and v.isidentifier() for v in value)
            ):
                problems.append(
                    Problem(
                        "step-options",
                        f"step {node.name!r}: outputs= must be a literal tuple of identifiers",
                        where,
                        'write @step(outputs=("train", "test"))',
                    )
                )
            else:
                outputs = tuple(value)
                multi = True
        given, value = _literal_option(decorator, "retries")
        if given:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                retries = value
            else:
                problems.append(
                    Problem("step-options", f"step {node.name!r}: retries= must be an int >= 0", where)
                )
        for option in ("reads", "env", "writes", "metrics"):
            given, value = _literal_option(decorator, option)
            if not given:
                continue
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) and v for v in value):
                problems.append(
                    Problem(
                        "step-options",
                        f"step {node.name!r}: {option}= must be a literal list of strings",
                        where,
                        f'write @step({option}=["..."])',
                    )
                )
                continue
            declared[option] = tuple(value)
        given, value = _literal_option(decorator, "cache")
        if given:
            if isinstance(value, bool):
                cache = value
            else:
                problems.append(
                    Problem("step-options", f"step {node.name!r}: cache= must be True or False", where)
                )
    args = node.args
    if args.vararg or args.kwarg:
        problems.append(
            Problem(
                "step-signature",
                f"step {node.name!r}: *args and **kwargs cannot be wired by name",
                where,
                "name each input and parameter explicitly",
            )
        )
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults.extend(args.defaults)
    pairs = list(zip(positional, defaults, strict=True)) + list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    params: list[ParamDecl] = []
    for arg, default in pairs:
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else None
        if default is None:
            params.append(ParamDecl(arg.arg, annotation, "none"))
            continue
        kind, value = _literal_default(default, constants)
        params.append(ParamDecl(arg.arg, annotation, kind, value, ast.unparse(default)))
    unknown = [m for m in declared.get("metrics", ()) if m not in outputs]
    if unknown:
        problems.append(
            Problem(
                "step-options",
                f"step {node.name!r}: metrics= names {', '.join(map(repr, unknown))}, which "
                f"{'is not an output' if len(unknown) == 1 else 'are not outputs'} of the step "
                f"(its outputs: {', '.join(outputs)})",
                where,
                "list outputs of the step in metrics=",
            )
        )
    return StepDecl(
        name=node.name,
        module=module,
        file=path,
        line=node.lineno,
        params=tuple(params),
        outputs=outputs,
        multi=multi,
        retries=retries,
        cache=cache,
        reads=declared.get("reads", ()),
        env=declared.get("env", ()),
        writes=declared.get("writes", ()),
        metrics=declared.get("metrics", ()),
    )


def _step_code_hash(node: ast.FunctionDef | ast.AsyncFunctionDef, aliases: _StepAliases) -> str:
    """Hash of a step function without its ``@step`` decorator and its defaults."""
    clone = copy.copy(node)
    clone.decorator_list = [d for d in node.decorator_list if not aliases.is_step(d)]
    clone.args = copy.copy(node.args)
    clone.args.defaults = []
    clone.args.kw_defaults = [None] * len(node.args.kwonlyargs)
    return normalised_hash(clone)


def analyze_module(source: str, module: str, path: str, *, is_package: bool = False) -> ModuleInfo:
    """Read one module's definitions, imports and steps from its source.

    Args:
        source: the module's text.
        module: its dotted name, used to resolve relative imports and to name definitions.
        path: its file path, used in messages.
        is_package: whether the file is a package's ``__init__.py``.

    Returns:
        A frozen ``ModuleInfo``. Syntax errors are reported in ``problems``, not raised.

    Example:
        >>> info = analyze_module("from distill import step\\n@step\\ndef a(): return 1\\n", "m", "m.py")
        >>> [s.name for s in info.steps]
        ['a']
    """
    def unreadable(message: str, where: str, hint: str) -> ModuleInfo:
        problem = Problem("syntax", f"cannot {message}", where, hint)
        return ModuleInfo(module, path, is_package, problems=(problem,), source_hash=digest(source))

    too_deep = "split the deepest expression into several statements"
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return unreadable(f"parse module {module}: {exc.msg}", f"{path}:{exc.lineno or 0}",
                          "fix the syntax error; distill reads the pipeline from source")
    except (RecursionError, MemoryError) as exc:  # NB: Python's parser gives up on code nested too deeply
        return unreadable(f"parse module {module}: nested too deeply for Python ({type(exc).__name__})", path,
                          too_deep)
    _strip_docstrings(tree)
    try:
        return _analyze_tree(tree, source, module, path, is_package)
    except RecursionError:
        pass  # NB: retried below, outside the handler, so the failed walk's frames are released first
    # NB: imported here: only a module nested deeper than the usual limit allows needs it
    from .cells import WALK_FRAMES, recursion_room

    try:
        with recursion_room():
            return _analyze_tree(tree, source, module, path, is_package)
    except RecursionError:
        return unreadable(f"analyse module {module}: nested too deeply (more than {WALK_FRAMES} Python frames)",
                          path, too_deep)


def _analyze_tree(tree: ast.Module, source: str, module: str, path: str, is_package: bool) -> ModuleInfo:
    """``analyze_module`` once the source parsed; from scratch on every call (it may be retried)."""
    aliases = _StepAliases()
    imports: dict[str, ImportRef] = {}
    star: list[str] = []
    problems: list[Problem] = []
    constants: dict[str, ast.expr] = {}
    bindings: dict[str, list[tuple[DefKind, str, ast.AST, int]]] = {}
    side_effects: list[str] = []
    side_nodes: list[ast.stmt] = []
    steps: list[StepDecl] = []

    def note_imports(stmt: ast.AST) -> None:
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Import):
                aliases.note_import(sub)
                for alias in sub.names:
                    if alias.asname:
                        imports[alias.asname] = ImportRef(alias.name)
                    else:
                        top = alias.name.split(".")[0]
                        imports[top] = ImportRef(top)
            elif isinstance(sub, ast.ImportFrom):
                aliases.note_import(sub)
                base = _resolve_relative(module, is_package, sub.level, sub.module)
                for alias in sub.names:
                    if alias.name == "*":
                        star.append(base)
                    else:
                        imports[alias.asname or alias.name] = ImportRef(base, alias.name)

    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            note_imports(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorators = [d for d in stmt.decorator_list if aliases.is_step(d)]
            if decorators:
                decl = _step_decl(stmt, decorators[0], module, path, constants, problems)
                if decl is not None:
                    steps.append(decl)
                code = _step_code_hash(stmt, aliases)
            else:
                code = normalised_hash(stmt)
            bindings.setdefault(stmt.name, []).append(("function", code, stmt, stmt.lineno))
        elif isinstance(stmt, ast.ClassDef):
            bindings.setdefault(stmt.name, []).append(
                ("class", normalised_hash(stmt), stmt, stmt.lineno)
            )
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            code = normalised_hash(stmt)
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            value = stmt.value
            for target in targets:
                for name in _bound_names(ast.Expr(target)) if not isinstance(target, ast.Name) else [target.id]:
                    bindings.setdefault(name, []).append(("constant", code, stmt, stmt.lineno))
                    if isinstance(target, ast.Name) and value is not None and not isinstance(stmt, ast.AugAssign):
                        constants[name] = value
        elif _is_main_guard(stmt):
            continue
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            # NB: a bare string below a definition documents it and does nothing:
            #     WINDOW = 7
            #     """Days in the rolling mean."""   # editing it must not re-run anything
            continue
        else:
            note_imports(stmt)
            bound = _bound_names(stmt)
            code = normalised_hash(stmt)
            if bound:
                for name in bound:
                    bindings.setdefault(name, []).append(("statement", code, stmt, stmt.lineno))
            else:
                side_effects.append(code)
                side_nodes.append(stmt)

    modules = {local: ref.module.split(".")[0] for local, ref in imports.items() if ref.attr is None}
    imported = frozenset(local for local, ref in imports.items() if ref.attr is not None)
    functions = {
        local: (ref.module.split(".")[0], ref.attr)
        for local, ref in imports.items()
        if ref.attr is not None and ref.module.split(".")[0] in _READER_MODULES and _may_read(ref.attr)
    }
    readers = _READER_NAMES | set(functions) | {local for local, top in modules.items() if top in _READER_MODULES}

    def reads_of(node: ast.AST, found: FreeNames) -> tuple[ReadRef, ...]:
        # NB: most definitions read nothing outside Python; the names they use say so
        #     without a second walk: def s1(s0): return s0 + 1   # no reader named
        #     Attributes of locals count too: def f(p): return p.read_text()
        if (found.reads.isdisjoint(readers) and not found.imports
                and not any(_may_read(attr) for attr in found.attributes)):
            return ()
        return find_reads(
            node, constants=constants, modules=modules, imported=imported, file=path, functions=functions
        )

    defs: dict[str, Definition] = {}
    for name, entries in bindings.items():
        kind = entries[-1][0]
        code = entries[0][1] if len(entries) == 1 else digest("".join(e[1] for e in entries))
        all_names: set[str] = set()
        all_chains: set[str] = set()
        local_imports: list[ImportRef] = []
        reads: list[ReadRef] = []
        for _, _, node, _ in entries:
            # NB: Python's scoping rules come from `scope.free_names`: a name assigned anywhere
            #     in a function is local everywhere in it, so
            #         def f(df): df = df.dropna(); return df   # `df` never refers to a global
            #     and `lib.clean(x)` gives the name `lib` and the chain `lib.clean`, which lets a
            #     reference to a project module name the function it reaches.
            scanned = free_names(node)
            reads.extend(reads_of(node, scanned))
            # NB: a name bound at module level (or through `global`) is a dependency too, as
            #     before: `X = X + 1` names X, `def f(): global n; n += 1` names n
            all_names |= scanned.reads | scanned.writes
            all_chains |= scanned.chains
            if isinstance(node, _SCOPES):
                for sub in scanned.imports:
                    if isinstance(sub, ast.Import):
                        local_imports.extend(ImportRef(a.name) for a in sub.names)
                    else:
                        base = _resolve_relative(module, is_package, sub.level, sub.module)
                        local_imports.extend(ImportRef(base, a.name) for a in sub.names if a.name != "*")
        if kind in ("function", "class"):
            all_names.discard(name)  # recursion is not a dependency on itself
        defs[name] = Definition(
            name,
            kind,
            code,
            frozenset(all_names),
            frozenset(all_chains),
            entries[0][3],
            tuple(local_imports),
            tuple(dict.fromkeys(reads)),
        )
    side_reads: list[ReadRef] = []
    for stmt in side_nodes:
        side_reads.extend(reads_of(stmt, free_names(stmt)))
    paths = {}
    for name, value in constants.items():
        found = constant_path(value, constants, modules, path)
        if found is not None:
            paths[name] = found

    seen: dict[str, StepDecl] = {}
    for decl in steps:
        if decl.name in seen:
            problems.append(
                Problem(
                    "duplicate-step",
                    f"step {decl.name!r} is defined twice in {module} "
                    f"(lines {seen[decl.name].line} and {decl.line}); the second replaces the first",
                    decl.where,
                    "rename one of them",
                )
            )
        seen[decl.name] = decl

    return ModuleInfo(
        name=module,
        path=path,
        is_package=is_package,
        defs=defs,
        imports=imports,
        star_imports=tuple(star),
        side_effects=digest("".join(side_effects)) if side_effects else "",
        steps=tuple(seen.values()),
        problems=tuple(problems),
        source_hash=digest(source),
        side_reads=tuple(dict.fromkeys(side_reads)),
        paths=paths,
    )
