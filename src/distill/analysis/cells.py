"""What one notebook cell does to the kernel's namespace: a frozen record from one visitor.

Responsibilities:
- ``analyze_cell(code, cell_id) -> CellAnalysis``: pure, no runtime state;
- one scoped ``ast.NodeVisitor`` decides bindings (defs) and free reads (refs) at the cell's
  top level, the globals each function or class reads, mutations of names (attribute and
  subscript stores, ``del``, augmented assignment, in-place methods, ``inplace=True``),
  imports, calls, literal file paths read and written, string literals with their context,
  and IPython magics and shell commands (the ``get_ipython()`` calls that
  ``notebook.magics.to_python`` produces, or that the user wrote).

Rules of the visitor (each special case carries an ``NB:`` comment where it is handled):
- the cell's top level is run in order: a name read before the cell binds it is a ref;
  ``x = x + 1`` reads ``x`` first (the value is visited before the targets), so ``x`` is a
  ref *and* a def;
- function bodies run later: their free names are the function's globals (``reads``), not
  refs of the cell; decorators and defaults run at definition time and are refs;
- class bodies run at definition time (their free names are refs); methods are functions;
- which names are local where is Python's rule, from ``analysis.scope`` (assigned anywhere in a
  function → local in all of it; comprehensions, lambdas and classes are scopes); class bodies
  run in order (``class A: k = k`` reads the cell's ``k``); lambdas are treated as called where
  they are written (``df.apply(lambda r: r * k)`` reads ``k`` now); an ``except ... as e`` name
  at the top level is never a def;
- ``x.a = 1``, ``x[k] = 1``, ``del x[k]``, ``x += 1``, ``x.append(1)``, ``x.drop(..., inplace=True)``
  read ``x`` *and* mutate it.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, NewType, TypeVar

from .scope import Resolver, outer_parts

CellId = NewType("CellId", int)

#: Methods that change their receiver in place (lists, dicts, sets, DataFrames' own).
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "remove", "pop", "clear", "update", "setdefault", "popitem",
    "add", "discard", "difference_update", "intersection_update", "symmetric_difference_update",
    "sort", "reverse", "__setitem__", "__delitem__",
})

#: Calls that shuffle their first argument in place.
SHUFFLES = frozenset({"shuffle", "random.shuffle", "np.random.shuffle", "numpy.random.shuffle"})

_READ_METHODS = frozenset({
    "read_csv", "read_excel", "read_parquet", "read_json", "read_table", "read_pickle", "read_feather",
    "read_hdf", "read_fwf", "read_stata", "read_sas", "read_spss", "read_orc", "read_xml", "read_html",
    "loadtxt", "genfromtxt", "load", "imread", "read_text", "read_bytes", "fromfile", "ExcelFile",
    "read_file", "open_dataset", "read_image", "load_workbook", "connect",
})
_WRITE_METHODS = frozenset({
    "to_csv", "to_excel", "to_parquet", "to_json", "to_pickle", "to_feather", "to_hdf", "to_stata",
    "to_html", "to_latex", "to_markdown", "to_xml", "to_orc", "savefig", "save", "savez", "savez_compressed",
    "savetxt", "imwrite", "imsave", "write_text", "write_bytes", "tofile", "to_file", "to_netcdf", "dump",
})
_PATH_KEYWORDS = ("filepath_or_buffer", "path", "path_or_buf", "io", "fname", "file", "filename", "excel_writer")

MagicKind = Literal["line", "cell", "shell"]


@dataclass(frozen=True, slots=True)
class Use:
    """A name read at the cell's top level before the cell binds it."""

    name: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Binding:
    """A name bound at the cell's top level. ``how``: assign, import, def, class, for, with, augmented…"""

    name: str
    line: int
    how: str


@dataclass(frozen=True, slots=True)
class Mutation:
    """A name changed in place. ``how`` is shown to users: ``df['c'] = ...``, ``.append()``…"""

    name: str
    line: int
    how: str


@dataclass(frozen=True, slots=True)
class Import:
    """``import a.b as c`` → module ``a.b``, bound ``c``; ``from a import b`` → module ``a``, name ``b``.

    ``level`` is the number of leading dots of a relative import; ``deferred`` marks an import
    inside a function body.
    """

    module: str
    line: int
    bound: str | None
    name: str | None = None
    level: int = 0
    star: bool = False
    deferred: bool = False

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    @property
    def target(self) -> str:
        """What the bound name refers to, dotted: ``numpy``, ``sklearn.model_selection.train_test_split``."""
        return f"{self.module}.{self.name}" if self.name else self.module


@dataclass(frozen=True, slots=True)
class Function:
    """A function or class defined at the cell's top level and the globals its body reads."""

    name: str
    line: int
    kind: Literal["function", "class"]
    reads: tuple[str, ...]
    writes: tuple[str, ...] = ()
    mutates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Call:
    """A call with a dotted name (``np.random.rand``; ``.fillna`` for a method on an expression).

    ``literals`` holds the keyword arguments given as constants, ``keywords`` all keyword names.
    """

    name: str
    line: int
    column: int
    nargs: int
    keywords: tuple[str, ...]
    literals: tuple[tuple[str, object], ...] = ()
    deferred: bool = False

    def literal(self, keyword: str, default: object = None) -> object:
        for name, value in self.literals:
            if name == keyword:
                return value
        return default


@dataclass(frozen=True, slots=True)
class FileAccess:
    """A literal path passed to a call that reads or writes files."""

    path: str
    line: int
    mode: Literal["read", "write"]
    via: str


@dataclass(frozen=True, slots=True)
class StringLiteral:
    """A string constant and what it is given to: the assigned name, keyword or dict key."""

    value: str
    line: int
    column: int
    context: str | None


@dataclass(frozen=True, slots=True)
class Magic:
    """An IPython magic or shell command. For shell commands ``name`` is ``system`` or ``getoutput``."""

    kind: MagicKind
    name: str
    args: str
    line: int
    body: str = ""


@dataclass(frozen=True, slots=True)
class Statement:
    """A top-level statement's span and the hash of its normalised AST (for duplicate code)."""

    line: int
    end_line: int
    digest: str


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    line: int
    column: int
    message: str


@dataclass(frozen=True, slots=True)
class CellAnalysis:
    """Everything one cell reads, binds and touches. Runtime state lives elsewhere."""

    cell_id: CellId
    uses: tuple[Use, ...] = ()
    bindings: tuple[Binding, ...] = ()
    mutations: tuple[Mutation, ...] = ()
    imports: tuple[Import, ...] = ()
    functions: tuple[Function, ...] = ()
    calls: tuple[Call, ...] = ()
    files: tuple[FileAccess, ...] = ()
    strings: tuple[StringLiteral, ...] = ()
    magics: tuple[Magic, ...] = ()
    statements: tuple[Statement, ...] = ()
    syntax_error: SyntaxProblem | None = None
    code_hash: str = ""

    @property
    def refs(self) -> tuple[str, ...]:
        """Names read before the cell binds them, in order of first read."""
        return tuple(use.name for use in self.uses)

    @property
    def defs(self) -> tuple[str, ...]:
        """Names the cell binds at top level, in order of first binding."""
        return tuple(dict.fromkeys(binding.name for binding in self.bindings))


def parse(code: str) -> ast.Module:
    """``ast.parse`` without ``SyntaxWarning`` noise (``"\\d"`` in a user's regex is not ours to report).

    Raises:
        SyntaxError: also for code nested too deeply for Python's parser, which raises
            ``RecursionError`` or ``MemoryError`` for it (Python could not run it either).
        ValueError: a NUL byte or a lone surrogate in ``code``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return ast.parse(code)
        except (RecursionError, MemoryError) as exc:
            # NB: `x = 1 + 1 + ... + 1` with 20,000 terms: RecursionError building the AST;
            #     `x = ------...1` 20,000 deep: MemoryError, the parser's stack overflows
            problem = "nested too deeply" if isinstance(exc, RecursionError) else "too deeply nested or too large"
            raise SyntaxError(f"{problem} for Python to parse ({type(exc).__name__})",
                              ("<cell>", 1, 1, None, 1, 1)) from None


#: Python frames a recursive walk over one cell's AST may use. ``ast.parse`` builds trees at
#: most about 3,000 levels deep under the default limit of 1,000 frames, and the visitor
#: takes a few frames a level.
WALK_FRAMES = 40_000
_room_lock = threading.Lock()
_room_users = 0
_room_saved = 0

T = TypeVar("T")


@contextmanager
def recursion_room(frames: int = WALK_FRAMES) -> Iterator[None]:
    """Let Python code recurse ``frames`` deep while the block runs; the limit is restored after.

    NB: since Python 3.11 a call from Python code to Python code takes no C stack, so a higher
    limit is safe for walks written in Python (``ast.NodeVisitor``, ``ast.unparse``,
    ``ast.literal_eval``). C code that recurses as deep as the limit lets it would overflow the
    C stack instead of raising: keep ``compile``, ``json``, ``ast.dump`` (it recurses through
    ``str.join``) and ``ast.parse`` of text that did not parse outside a block out of it.
    Threads share the limit: it is restored when the last block that raised it ends.
    """
    global _room_users, _room_saved
    with _room_lock:
        if _room_users == 0:
            _room_saved = sys.getrecursionlimit()
        _room_users += 1
        if sys.getrecursionlimit() < frames:
            sys.setrecursionlimit(frames)
    try:
        yield
    finally:
        with _room_lock:
            _room_users -= 1
            if _room_users == 0:
                sys.setrecursionlimit(_room_saved)


def deep_walk(walk: Callable[[], T]) -> T:
    """``walk()``; if it runs out of recursion, ``walk()`` again with ``recursion_room()``.

    ``walk`` must start from scratch each time (no state kept from a failed try). The common,
    shallow case costs nothing extra.

    Raises:
        RecursionError: ``walk`` is too deep even with ``WALK_FRAMES`` frames.
    """
    try:
        return walk()
    except RecursionError:
        pass  # NB: retried outside the handler, so the failed walk's frames are released first
    with recursion_room():
        return walk()


def analyze_cell(code: str, cell_id: int = 0, *, tree: ast.Module | None = None) -> CellAnalysis:
    """Analyse one cell's Python code (IPython syntax already rewritten).

    Args:
        code: the cell as Python; see ``notebook.magics.to_python``.
        cell_id: the cell's number, carried into the record.
        tree: ``ast.parse(code)`` when the caller already has it.

    Returns:
        The frozen record; a cell that does not parse gets ``syntax_error`` and nothing else.

    Example:
        >>> a = analyze_cell("y = x + 1\\nx = 2\\ndf['c'] = y")
        >>> a.refs, a.defs, [m.name for m in a.mutations]
        (('x', 'df'), ('y', 'x'), ['df'])
    """
    try:
        tree = tree if tree is not None else parse(code)
    except SyntaxError as exc:
        return CellAnalysis(CellId(cell_id), syntax_error=SyntaxProblem(exc.lineno or 1, exc.offset or 1, exc.msg))
    except ValueError as exc:  # source with a NUL byte
        return CellAnalysis(CellId(cell_id), syntax_error=SyntaxProblem(1, 1, str(exc)))
    module = tree
    try:
        visitor = deep_walk(lambda: _visit(module))
    except RecursionError:
        return CellAnalysis(CellId(cell_id), syntax_error=SyntaxProblem(
            1, 1, f"nested too deeply to analyse (more than {WALK_FRAMES} Python frames)"))
    lines = code.split("\n")
    statements = tuple(_statement(node, lines) for node in tree.body if not _is_magic_statement(node))
    code_hash = hashlib.blake2b("".join(s.digest for s in statements).encode(), digest_size=16).hexdigest()
    return CellAnalysis(
        CellId(cell_id), tuple(visitor.uses.values()), tuple(visitor.bindings), tuple(visitor.mutations),
        tuple(visitor.imports), tuple(visitor.functions), tuple(visitor.calls), tuple(visitor.files),
        tuple(visitor.strings), tuple(visitor.magics), statements, None, code_hash,
    )


def _visit(tree: ast.Module) -> _Visitor:
    visitor = _Visitor()
    for node in tree.body:
        visitor.visit(node)
    return visitor


@dataclass(slots=True)
class _FunctionBuilder:
    name: str
    line: int
    kind: Literal["function", "class"]
    reads: dict[str, None] = field(default_factory=dict)
    writes: dict[str, None] = field(default_factory=dict)
    mutates: dict[str, None] = field(default_factory=dict)


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.resolver = Resolver(classes_in_order=True)
        self.handlers: list[str] = []  # `except ... as` names at the cell's top level
        self.bound: set[str] = set()
        self.uses: dict[str, Use] = {}
        self.bindings: list[Binding] = []
        self.mutations: list[Mutation] = []
        self.imports: list[Import] = []
        self.functions: list[Function] = []
        self.calls: list[Call] = []
        self.files: list[FileAccess] = []
        self.strings: list[StringLiteral] = []
        self.magics: list[Magic] = []
        self.definition: _FunctionBuilder | None = None  # the top-level def/class being visited
        self.context: str | None = None  # what the string constant being visited is given to

    # -- scopes -------------------------------------------------------------------------

    @property
    def deferred(self) -> bool:
        """Inside a function body: runs when called, not when the cell runs."""
        return self.resolver.in_function

    def _resolve(self, name: str) -> bool:
        """Whether ``name`` is local to an enclosing function, lambda, comprehension or class scope."""
        if self.resolver.at_module:
            return name in self.handlers
        return self.resolver.is_local(name)

    def _read(self, name: str, node: ast.expr) -> None:
        if self._resolve(name):
            return
        if self.deferred and self.definition is not None:
            self.definition.reads.setdefault(name)
        elif name not in self.bound and name not in self.uses:
            self.uses[name] = Use(name, node.lineno, node.col_offset + 1)

    def _bind(self, name: str, node: ast.AST, how: str) -> None:
        # NB: which scope a store binds in is settled by `scope.scope_of` when the scope is
        #     entered (assigned anywhere → local everywhere); only module-level binds are recorded.
        #     `[y := f(x) for x in xs]` at the top level binds y in the cell.
        where = self.resolver.bind(name, walrus=how == "walrus")
        if where == "module":
            self._bind_top(name, node, how)
        elif where == "global" and self.definition is not None:
            self.definition.writes.setdefault(name)

    def _bind_top(self, name: str, node: ast.AST, how: str) -> None:
        self.bound.add(name)
        self.bindings.append(Binding(name, getattr(node, "lineno", 0), how))

    def _mutate(self, name: str, node: ast.expr, how: str) -> None:
        if self._resolve(name):
            return
        if self.deferred:
            if self.definition is not None:
                self.definition.mutates.setdefault(name)
            return
        self.mutations.append(Mutation(name, node.lineno, how))

    # -- names and targets ------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id, node)
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id, node, "assign")
        else:  # Del
            self._read(node.id, node)
            self._mutate(node.id, node, "del")

    def _target(self, target: ast.expr, how: str) -> None:
        """Visit an assignment target: names bind; `x.a`/`x[k]` read and mutate x."""
        if isinstance(target, ast.Name):
            self._bind(target.id, target, how)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, how)
        elif isinstance(target, ast.Starred):
            self._target(target.value, how)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            self.visit(target)  # the receiver and the index are read
            root = _root_name(target)
            if root is not None:
                self._mutate(root, target, f"{_short(target)} = ...")
        else:
            self.visit(target)

    def visit_Assign(self, node: ast.Assign) -> None:
        saved = self.context
        if len(node.targets) == 1 and isinstance(node.targets[0], (ast.Name, ast.Attribute)):
            self.context = dotted_name(node.targets[0])
        self.visit(node.value)
        self.context = saved
        for target in node.targets:
            self._target(target, "assign")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            saved, self.context = self.context, dotted_name(node.target)
            self.visit(node.value)
            self.context = saved
        self.visit(node.annotation)
        if node.value is not None or not isinstance(node.target, ast.Name):
            self._target(node.target, "assign")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        # NB: `x += 1` reads x before binding it, so x is a ref of the cell unless bound above:
        #     total += row   ->  refs {total, row}, defs {total}
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id, node.target)
            self._mutate(node.target.id, node.target, f"{node.target.id} {_OPS.get(type(node.op), '?')}= ...")
            self._bind(node.target.id, node.target, "augmented")
        else:
            self._target(node.target, "augmented")

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id, node.target, "walrus")

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                self.visit(target)
                root = _root_name(target)
                if root is not None:
                    self._mutate(root, target, f"del {_short(target)}")
            else:
                self.visit(target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._target(node.target, "for")
        for child in node.body + node.orelse:
            self.visit(child)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._target(item.optional_vars, "with")
        for child in node.body:
            self.visit(child)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name and self.resolver.at_module:
            # NB: `except E as e` unbinds e at the end of the handler, so at the top level it is
            #     never a def, and reads of e inside the handler are not refs.
            self.handlers.append(node.name)
            for child in node.body:
                self.visit(child)
            self.handlers.pop()
            return
        if node.name:
            self._bind(node.name, node, "except")
        for child in node.body:
            self.visit(child)

    # -- imports ------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            # NB: `import a.b` binds `a`; `import a.b as c` binds `c` to `a.b`.
            bound = alias.asname or alias.name.split(".")[0]
            self.imports.append(Import(alias.name, node.lineno, bound, None, 0, False, self.deferred))
            self._bind(bound, node, "import")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                self.imports.append(Import(module, node.lineno, None, "*", node.level, True, self.deferred))
                continue
            bound = alias.asname or alias.name
            self.imports.append(Import(module, node.lineno, bound, alias.name, node.level, False, self.deferred))
            self._bind(bound, node, "import")

    # -- definitions --------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in outer_parts(node):  # decorators, defaults, annotations: run at definition time
            self.visit(expr)
        self._bind(node.name, node, "def")
        outer = self.definition
        if outer is None:
            self.definition = _FunctionBuilder(node.name, node.lineno, "function")
        self.resolver.enter(node)
        for child in node.body:
            self.visit(child)
        self.resolver.leave()
        if outer is None:
            self._finish_definition()
        self.definition = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in outer_parts(node):
            self.visit(expr)
        outer = self.definition
        if outer is None:
            self.definition = _FunctionBuilder(node.name, node.lineno, "class")
        self.resolver.enter(node)
        for child in node.body:
            self.visit(child)
        self.resolver.leave()
        if outer is None:
            self._finish_definition()
            self.definition = None
        self._bind(node.name, node, "class")

    def _finish_definition(self) -> None:
        built = self.definition
        assert built is not None
        reads = tuple(name for name in built.reads if name != built.name)
        self.functions.append(Function(built.name, built.line, built.kind, reads,
                                       tuple(built.writes), tuple(built.mutates)))

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in outer_parts(node):
            self.visit(expr)
        self.resolver.enter(node)
        self.visit(node.body)
        self.resolver.leave()

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       elements: list[ast.expr]) -> None:
        # NB: the first iterable is evaluated in the enclosing scope; targets are local:
        #     [x for x in xs if x > k]  ->  refs {xs, k}; x is not a ref
        self.visit(node.generators[0].iter)
        self.resolver.enter(node)
        for index, generator in enumerate(node.generators):
            if index:
                self.visit(generator.iter)
            self._target(generator.target, "comprehension")
            for condition in generator.ifs:
                self.visit(condition)
        for element in elements:
            self.visit(element)
        self.resolver.leave()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._comprehension(node, [node.elt])

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self._bind(node.name, node, "match")

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._bind(node.name, node, "match")

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.generic_visit(node)
        if node.rest:
            self._bind(node.rest, node, "match")

    # -- calls, strings, dicts -------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if _is_ipython_call(node):
            self._magic(node)
            return
        name = dotted_name(node.func)
        if name is None and isinstance(node.func, ast.Attribute):
            name = "." + node.func.attr
        literals = tuple((k.arg, k.value.value) for k in node.keywords
                         if k.arg and isinstance(k.value, ast.Constant) and _hashable(k.value.value))
        if name is not None:
            self.calls.append(Call(name, node.lineno, node.col_offset + 1, len(node.args),
                                   tuple(k.arg for k in node.keywords if k.arg), literals, self.deferred))
            self._file_access(node, name)
        self._call_mutations(node, name, literals)
        saved = self.context
        self.visit(node.func)
        self.context = None if name is None else name
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            self.context = keyword.arg
            self.visit(keyword.value)
        self.context = saved

    def _call_mutations(self, node: ast.Call, name: str | None, literals: tuple[tuple[str, object], ...]) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            root = _root_name(func.value)
            if root is not None and (func.attr in MUTATING_METHODS or ("inplace", True) in literals):
                how = f".{func.attr}(..., inplace=True)" if ("inplace", True) in literals else f".{func.attr}()"
                self._mutate(root, node, how)
        if name in SHUFFLES and node.args and isinstance(node.args[0], ast.Name):
            self._mutate(node.args[0].id, node, f"{name}()")

    def _file_access(self, node: ast.Call, name: str) -> None:
        tail = name.rsplit(".", 1)[-1]
        path_arg: ast.expr | None = None
        mode: Literal["read", "write"] | None = None
        if name in ("open", "io.open", "codecs.open"):
            path_arg = node.args[0] if node.args else None
            flags = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            text = flags.value if isinstance(flags, ast.Constant) and isinstance(flags.value, str) else "r"
            mode = "write" if any(ch in text for ch in "wax+") else "read"
        elif tail in ("read_text", "read_bytes", "write_text", "write_bytes", "open") and isinstance(node.func, ast.Attribute):
            receiver = node.func.value  # Path("data.csv").read_text()
            if isinstance(receiver, ast.Call) and receiver.args and (dotted_name(receiver.func) or "").endswith("Path"):
                path_arg = receiver.args[0]
                mode = "write" if tail.startswith("write") else "read"
        elif tail in _READ_METHODS or tail in _WRITE_METHODS:
            mode = "write" if tail in _WRITE_METHODS and tail not in _READ_METHODS else "read"
            if tail in ("dump",):  # joblib.dump(obj, "model.pkl")
                path_arg = node.args[1] if len(node.args) > 1 else None
            elif tail in ("save", "savez", "savez_compressed", "savetxt", "imwrite", "imsave") and name.split(".")[0] in ("np", "numpy", "cv2", "plt", "imageio"):
                path_arg = node.args[0] if node.args else None
            else:
                path_arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in _PATH_KEYWORDS), None)
        if mode is not None and isinstance(path_arg, ast.Constant) and isinstance(path_arg.value, str):
            self.files.append(FileAccess(path_arg.value, node.lineno, mode, name))

    def _magic(self, node: ast.Call) -> None:
        assert isinstance(node.func, ast.Attribute)
        method = node.func.attr
        args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else "" for a in node.args]
        args += [""] * (3 - len(args))
        if method == "run_line_magic":
            self.magics.append(Magic("line", args[0], args[1], node.lineno))
        elif method == "run_cell_magic":
            self.magics.append(Magic("cell", args[0], args[1], node.lineno, args[2]))
        elif method == "magic":  # the old API: get_ipython().magic("matplotlib inline")
            name, _, rest = args[0].lstrip("%").partition(" ")
            self.magics.append(Magic("line", name, rest, node.lineno))
        else:
            self.magics.append(Magic("shell", method, args[0], node.lineno))
        for arg in node.args[3:]:
            self.visit(arg)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and len(node.value) >= 3:
            self.strings.append(StringLiteral(node.value, node.lineno, node.col_offset + 1, self.context))

    def visit_Dict(self, node: ast.Dict) -> None:
        saved = self.context
        for key, value in zip(node.keys, node.values, strict=True):
            if key is not None:
                self.context = None
                self.visit(key)
            self.context = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
            self.visit(value)
        self.context = saved

    def generic_visit(self, node: ast.AST) -> None:
        saved = self.context
        if not isinstance(node, (ast.Expr, ast.JoinedStr, ast.FormattedValue, ast.BinOp)):
            self.context = None
        super().generic_visit(node)
        self.context = saved


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
        ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.LShift: "<<",
        ast.RShift: ">>", ast.MatMult: "@"}


def _hashable(value: object) -> bool:
    return isinstance(value, (str, int, float, bool, bytes, type(None)))


def dotted_name(node: ast.AST) -> str | None:
    """``np.random.seed`` for a chain of attributes on a name, else ``None``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _root_name(node: ast.AST) -> str | None:
    """The name an attribute/subscript/method chain starts from: ``df.loc[m, 'a']`` → ``df``."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Call):
            return None  # NB: `f(x).a = 1` mutates f's result, not a name
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _short(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_ipython_call(node: ast.Call) -> bool:
    func = node.func
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
            and func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput", "magic"))


def _is_magic_statement(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _is_ipython_call(node.value)


_COMMENT = re.compile(r"#[^\n'\"]*$", re.MULTILINE)


def _statement(node: ast.stmt, lines: list[str]) -> Statement:
    # NB: the digest is of the source text with comments and spacing removed, not of the AST:
    # dumping every statement's AST costs more than the rest of the analysis together.
    end = node.end_lineno or node.lineno
    text = _COMMENT.sub("", "\n".join(lines[node.lineno - 1:end]))
    digest = hashlib.blake2b("".join(text.split()).encode(), digest_size=12).hexdigest()
    return Statement(node.lineno, node.end_lineno or node.lineno, digest)
