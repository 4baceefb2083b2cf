"""Python's name-scoping rules, implemented once (Python 3.11 semantics, as ``symtable`` has them).

Responsibilities:
- ``scope_of(node) -> Scope``: the names a function, lambda, class body or comprehension binds,
  and its ``global`` / ``nonlocal`` declarations;
- ``Resolver``: a stack of scopes that a recursive visitor pushes and pops at scope nodes, and
  asks whether a name read resolves to a local (``is_local``) and where a store binds
  (``bind``); ``classes_in_order`` runs class bodies top to bottom, as Python does;
- ``free_names(node) -> FreeNames``: the module-level names a node reads (with the dotted
  chains rooted at them), the module-level names it binds and the imports under it, in one
  iterative walk.

Rules (each carries an ``NB:`` comment where it is handled):
- a name bound anywhere in a function body is local in the whole function, even where it is
  read before the binding: ``def f(): print(x); x = 1`` reads no global;
- ``global x`` makes ``x`` module-level in that scope and in the scopes nested in it that do
  not bind it themselves; ``nonlocal x`` makes it the enclosing function's;
- a class body is a scope that does not enclose the functions defined in it (a method's
  ``__class__`` is the class's implicit cell);
- a comprehension is a scope: its targets are local to it, its first iterable is evaluated in
  the enclosing scope, and a walrus in it binds in the nearest enclosing non-comprehension scope;
- decorators, base classes, class keywords, argument defaults and annotations, and return
  annotations are evaluated in the enclosing scope.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Literal, TypeAlias

ScopeKind = Literal["function", "lambda", "class", "comprehension"]
Binding = Literal["module", "global", "local"]
ScopeNode: TypeAlias = (
    ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
    | ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
)

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, *COMPREHENSIONS)
_SCOPE_TYPES: frozenset[type[ast.AST]] = frozenset(SCOPE_NODES)
_CAPTURES: frozenset[type[ast.AST]] = frozenset({ast.ExceptHandler, ast.MatchAs, ast.MatchStar, ast.MatchMapping})
# Node types that bind a name, declare one or open a scope: the rest are only walked through.
_BINDERS: frozenset[type[ast.AST]] = frozenset({
    ast.Name, ast.NamedExpr, ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, *_SCOPE_TYPES, *_CAPTURES,
})


@dataclass(frozen=True, slots=True)
class Scope:
    """The names one scope binds (``locals``) and declares ``global`` or ``nonlocal``.

    Example:
        >>> scope = scope_of(ast.parse("def f(a):\\n    global g\\n    b = a\\n    g = b").body[0])
        >>> scope.kind, sorted(scope.locals), sorted(scope.globals)
        ('function', ['a', 'b'], ['g'])
    """

    kind: ScopeKind
    locals: frozenset[str]
    globals: frozenset[str] = frozenset()
    nonlocals: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FreeNames:
    """What a node does to module-level names.

    Attributes:
        reads: module-level names it reads (``symtable``: referenced and global).
        chains: dotted chains rooted at such names: ``lib.clean`` for ``lib.clean(x)``.
        writes: module-level names it binds, at module level or through ``global``.
        imports: every ``import`` statement under the node, nested scopes included.
        attributes: every attribute name under the node, whatever it is taken from
            (``read_csv`` for ``self.pd.read_csv``): for quick filters.
    """

    reads: frozenset[str]
    chains: frozenset[str]
    writes: frozenset[str]
    imports: tuple[ast.Import | ast.ImportFrom, ...]
    attributes: frozenset[str] = frozenset()


# A chain of scopes, innermost first: ``(scope, enclosing)``; ``None`` is the module.
Frame: TypeAlias = "tuple[Scope, Frame] | None"


def parameters(args: ast.arguments) -> list[str]:
    """Names of a function's or lambda's parameters, in signature order."""
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    if args.vararg is not None:
        names.append(args.vararg.arg)
    names.extend(a.arg for a in args.kwonlyargs)
    if args.kwarg is not None:
        names.append(args.kwarg.arg)
    return names


def outer_parts(node: ScopeNode) -> list[ast.expr]:
    """The expressions of a scope node that are evaluated in the enclosing scope.

    Example:
        >>> [ast.unparse(e) for e in outer_parts(ast.parse("@d\\ndef f(a: T = v) -> R: pass").body[0])]
        ['d', 'v', 'T', 'R']
    """
    if isinstance(node, COMPREHENSIONS):
        return [node.generators[0].iter]  # NB: `[x for x in xs]` evaluates xs outside
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
    args = node.args
    parts: list[ast.expr] = [] if isinstance(node, ast.Lambda) else list(node.decorator_list)
    parts.extend(args.defaults)
    parts.extend(d for d in args.kw_defaults if d is not None)
    for arg in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg):
        if arg is not None and arg.annotation is not None:
            parts.append(arg.annotation)
    if not isinstance(node, ast.Lambda) and node.returns is not None:
        parts.append(node.returns)
    return parts


def inner_parts(node: ScopeNode) -> list[ast.AST]:
    """The parts of a scope node that are evaluated in its own scope (the complement of ``outer_parts``)."""
    if isinstance(node, COMPREHENSIONS):
        first = node.generators[0]
        parts: list[ast.AST] = [first.target, *first.ifs, *node.generators[1:]]
        if isinstance(node, ast.DictComp):
            parts += (node.key, node.value)
        else:
            parts.append(node.elt)
        return parts
    if isinstance(node, ast.Lambda):
        return [node.body]
    return list(node.body)


_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}
# NB: fields that never hold a node (or hold only `ctx` / operator nodes, which bind nothing)
_NOT_NODES = frozenset({"ctx", "op", "ops", "type_comment", "id", "attr", "arg", "name", "names", "module",
                        "level", "conversion", "kind", "is_async", "asname", "rest", "kwd_attrs"})


def _push_children(node: ast.AST, todo: list[ast.AST]) -> None:
    """``todo.extend(ast.iter_child_nodes(node))`` without ``ctx`` and operator nodes, faster."""
    kind = type(node)
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = _FIELDS[kind] = tuple(f for f in kind._fields if f not in _NOT_NODES)
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            todo.extend(item for item in value if item is not None)  # NB: `{**d}` keys, kw_defaults
        elif isinstance(value, ast.AST):
            todo.append(value)


def _bound_by_import(alias: ast.alias) -> str:
    # NB: `import a.b` binds `a`; `import a.b as c` binds `c`
    return alias.asname or alias.name.split(".")[0]


def scope_of(node: ScopeNode) -> Scope:
    """The scope a function, lambda, class body or comprehension opens.

    One iterative walk over the node's own region: nested functions, lambdas and classes are
    entered only for their outer parts, comprehensions only for the walrus targets they leak.

    Example:
        >>> scope_of(ast.parse("[y := x for x in xs]").body[0].value)
        Scope(kind='comprehension', locals=frozenset({'x'}), globals=frozenset(), nonlocals=frozenset())
    """
    if isinstance(node, COMPREHENSIONS):
        kind: ScopeKind = "comprehension"
        bound: set[str] = set()
        for generator in node.generators:
            _targets(generator.target, bound)
        return Scope(kind, frozenset(bound))
    bound = set()
    declared_global: set[str] = set()
    declared_nonlocal: set[str] = set()
    if isinstance(node, ast.ClassDef):
        kind = "class"
    else:
        kind = "lambda" if isinstance(node, ast.Lambda) else "function"
        bound.update(parameters(node.args))
    todo: list[ast.AST] = inner_parts(node)
    leaked: list[ast.AST] = []  # inside comprehensions: only walrus targets bind here
    while todo:
        sub = todo.pop()
        kind_of = type(sub)
        if kind_of not in _BINDERS:
            _push_children(sub, todo)
        elif kind_of is ast.Name:
            assert isinstance(sub, ast.Name)
            # NB: a Del binds too: `def f(): del x` makes x local (Python raises UnboundLocalError)
            if type(sub.ctx) is not ast.Load:
                bound.add(sub.id)
        elif kind_of is ast.NamedExpr:
            assert isinstance(sub, ast.NamedExpr)
            bound.add(sub.target.id)
            todo.append(sub.value)
        elif kind_of in _SCOPE_TYPES:
            assert isinstance(sub, SCOPE_NODES)
            if isinstance(sub, (*FUNCTIONS, ast.ClassDef)):
                bound.add(sub.name)
            todo.extend(outer_parts(sub))
            if isinstance(sub, COMPREHENSIONS):
                leaked.extend(inner_parts(sub))
        elif kind_of is ast.Import or kind_of is ast.ImportFrom:
            assert isinstance(sub, (ast.Import, ast.ImportFrom))
            bound.update(_bound_by_import(a) for a in sub.names if a.name != "*")
        elif kind_of is ast.Global:
            assert isinstance(sub, ast.Global)
            declared_global.update(sub.names)
        elif kind_of is ast.Nonlocal:
            assert isinstance(sub, ast.Nonlocal)
            declared_nonlocal.update(sub.names)
        else:
            name = _capture(sub)
            if name:
                bound.add(name)
            _push_children(sub, todo)
    while leaked:
        sub = leaked.pop()
        kind_of = type(sub)
        if kind_of is ast.Name or kind_of is ast.Constant:
            continue
        if kind_of is ast.NamedExpr:
            assert isinstance(sub, ast.NamedExpr)
            # NB: `[y := f(x) for x in xs]` binds y in the enclosing function, not the comprehension
            bound.add(sub.target.id)
            leaked.append(sub.value)
        elif kind_of in _SCOPE_TYPES:
            assert isinstance(sub, SCOPE_NODES)
            leaked.extend(outer_parts(sub))  # NB: a walrus in a lambda's body binds in the lambda
            if isinstance(sub, COMPREHENSIONS):
                leaked.extend(inner_parts(sub))
        else:
            _push_children(sub, leaked)
    local = frozenset(bound - declared_global - declared_nonlocal)
    return Scope(kind, local, frozenset(declared_global), frozenset(declared_nonlocal))


def _capture(node: ast.AST) -> str | None:
    """The name an ``except ... as`` or a ``match`` capture binds, if any."""
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return node.name  # NB: `case x`, `case [*rest]`, `case P(a=b)` capture x, rest, b
    if isinstance(node, ast.MatchMapping):
        return node.rest  # NB: `case {**rest}`
    return None


def _targets(target: ast.AST, bound: set[str]) -> None:
    """Names stored by a comprehension target (``x``, ``a, *b``; not ``x`` in ``x.a``)."""
    todo = [target]
    while todo:
        sub = todo.pop()
        if isinstance(sub, ast.Name):
            if not isinstance(sub.ctx, ast.Load):
                bound.add(sub.id)
        elif isinstance(sub, (ast.Tuple, ast.List)):
            todo.extend(sub.elts)
        elif isinstance(sub, ast.Starred):
            todo.append(sub.value)


def resolves_local(frame: Frame, name: str) -> bool:
    """Whether a read of ``name`` in ``frame``'s innermost scope finds a non-module binding."""
    innermost = True
    while frame is not None:
        scope, frame = frame
        # NB: class bodies do not enclose their methods: `class A: k = 1; def f(self): k` reads a global k
        if scope.kind == "class" and not innermost and name == "__class__":
            return True  # NB: a method's `__class__` (and bare `super()`) is the class's implicit cell
        if innermost or scope.kind != "class":
            if name in scope.globals:
                return False
            if name in scope.locals:
                return True
            # NB: a `nonlocal` name is found in an enclosing function further out
        innermost = False
    return False


def binding(frame: Frame, name: str, *, walrus: bool = False) -> Binding:
    """Where a store of ``name`` in ``frame``'s innermost scope binds it.

    ``module``: the scope is the module itself; ``global``: through a ``global`` declaration;
    ``local``: in a function, lambda, class or comprehension.
    """
    if walrus:
        while frame is not None and frame[0].kind == "comprehension":
            frame = frame[1]
    if frame is None:
        return "module"
    return "global" if name in frame[0].globals else "local"


class Resolver:
    """A stack of scopes for a visitor that walks the tree itself.

    ``classes_in_order``: a class body runs top to bottom and reads a name it binds later from
    the module (``class A: k = k`` reads the global ``k``; Python compiles class-body reads to
    ``LOAD_NAME``). ``symtable`` calls such a name local to the class, and so does
    ``is_local`` by default; with ``classes_in_order`` it is local only once ``bind`` saw it.

    Example:
        >>> tree = ast.parse("def f(a):\\n    return a + b")
        >>> resolver = Resolver()
        >>> _ = resolver.enter(tree.body[0])
        >>> resolver.is_local("a"), resolver.is_local("b"), resolver.in_function
        (True, False, True)
    """

    __slots__ = ("_frame", "_functions", "_in_order", "_seen")

    def __init__(self, *, classes_in_order: bool = False) -> None:
        self._frame: Frame = None
        self._functions = 0
        self._in_order = classes_in_order
        self._seen: list[set[str]] = []  # names bound so far in each open class body

    def enter(self, node: ScopeNode) -> Scope:
        """Push the scope ``node`` opens; visit its ``inner_parts`` after, then ``leave()``."""
        scope = scope_of(node)
        self._frame = (scope, self._frame)
        self._functions += scope.kind == "function"
        if scope.kind == "class":
            self._seen.append(set())
        return scope

    def leave(self) -> None:
        assert self._frame is not None
        scope, self._frame = self._frame
        self._functions -= scope.kind == "function"
        if scope.kind == "class":
            self._seen.pop()

    @property
    def at_module(self) -> bool:
        """No scope is open: code here runs at module (cell) level."""
        return self._frame is None

    @property
    def in_function(self) -> bool:
        """Inside a function body (code that runs when called, not when defined)."""
        return self._functions > 0

    @property
    def frame(self) -> Frame:
        return self._frame

    def is_local(self, name: str) -> bool:
        """Whether ``name`` read here resolves to a function, lambda, comprehension or class-own binding."""
        frame = self._frame
        if (self._in_order and frame is not None and frame[0].kind == "class"
                and name in frame[0].locals and name not in self._seen[-1]):
            return False  # NB: `class A: k = k` reads the module's k first
        return resolves_local(frame, name)

    def bind(self, name: str, *, walrus: bool = False) -> Binding:
        """Where a store of ``name`` here binds it (see ``binding``); call it in execution order."""
        where = binding(self._frame, name, walrus=walrus)
        if where == "local" and self._seen and self._frame is not None and self._frame[0].kind == "class":
            self._seen[-1].add(name)
        return where


def _chain(node: ast.Attribute) -> tuple[str, str] | None:
    """``(root, "root.a.b")`` for an attribute chain on a name, else ``None``."""
    parts = [node.attr]
    base: ast.AST = node.value
    while isinstance(base, ast.Attribute):
        parts.append(base.attr)
        base = base.value
    if isinstance(base, ast.Name):
        parts.append(base.id)
        return base.id, ".".join(reversed(parts))
    return None


def free_names(node: ast.AST, frame: Frame = None) -> FreeNames:
    """The module-level names ``node`` reads and binds, and the imports under it.

    ``node`` is taken to sit in ``frame`` (the module by default). One iterative walk; each
    scope node's region is walked once more by ``scope_of``.

    Example:
        >>> found = free_names(ast.parse("def f(x):\\n    y = lib.clean(x)\\n    return [y for y in k]").body[0])
        >>> sorted(found.reads), sorted(found.chains), sorted(found.writes)
        (['k', 'lib'], ['lib.clean'], ['f'])
    """
    reads: set[str] = set()
    chains: set[str] = set()
    writes: set[str] = set()
    imports: list[ast.Import | ast.ImportFrom] = []
    attributes: set[str] = set()
    # NB: nodes are grouped by the scope they are evaluated in, so no pair is built per node
    pending: list[tuple[Frame, list[ast.AST]]] = [(frame, [node])]
    while pending:
        here, todo = pending.pop()
        at_module = here is None
        while todo:
            sub = todo.pop()
            kind = type(sub)
            if kind is ast.Name:
                assert isinstance(sub, ast.Name)
                if type(sub.ctx) is ast.Load:
                    # NB: a class body reads a name it binds later from the module (`class A: k = k`);
                    #     the walk has no order, so a class-own name read in its body counts as read
                    #     too: one name too many in a cache key is safe, one too few is not
                    if at_module or not resolves_local(here, sub.id) or (
                            here is not None and here[0].kind == "class" and sub.id in here[0].locals):
                        reads.add(sub.id)
                elif at_module or binding(here, sub.id) != "local":
                    writes.add(sub.id)
            elif kind is ast.Attribute:
                assert isinstance(sub, ast.Attribute)
                attributes.add(sub.attr)
                found = _chain(sub)
                if found is not None and (at_module or not resolves_local(here, found[0])):
                    chains.add(found[1])
                todo.append(sub.value)
            elif kind not in _BINDERS:
                if kind is not ast.Constant:
                    _push_children(sub, todo)
            elif kind is ast.NamedExpr:
                assert isinstance(sub, ast.NamedExpr)
                if binding(here, sub.target.id, walrus=True) != "local":
                    writes.add(sub.target.id)
                todo.append(sub.value)
            elif kind in _SCOPE_TYPES:
                assert isinstance(sub, SCOPE_NODES)
                if isinstance(sub, (*FUNCTIONS, ast.ClassDef)) and binding(here, sub.name) != "local":
                    writes.add(sub.name)
                todo.extend(outer_parts(sub))
                pending.append(((scope_of(sub), here), inner_parts(sub)))
            elif kind is ast.Import or kind is ast.ImportFrom:
                assert isinstance(sub, (ast.Import, ast.ImportFrom))
                imports.append(sub)
                for alias in sub.names:
                    if alias.name != "*" and binding(here, _bound_by_import(alias)) != "local":
                        writes.add(_bound_by_import(alias))
            elif kind in _CAPTURES:
                name = _capture(sub)
                if name and binding(here, name) != "local":
                    writes.add(name)
                _push_children(sub, todo)
            # NB: Global and Nonlocal are read by `scope_of` when their scope is entered
    imports.sort(key=lambda i: (i.lineno, i.col_offset))  # NB: popped last-first; back to source order
    return FreeNames(frozenset(reads), frozenset(chains), frozenset(writes), tuple(imports), frozenset(attributes))



def module_reads(node: ast.AST, names: frozenset[str] | set[str]
                 ) -> list[tuple[ast.Name, tuple[ScopeNode, ...]]]:
    """Each read under ``node`` of a module-level name in ``names``, with the scope nodes it sits
    in, outermost first (empty at module level).

    Example:
        >>> tree = ast.parse("class A:\\n    k = g\\n    def f(self, g2):\\n        return g + g2")
        >>> [(n.id, [s.name for s in where]) for n, where in module_reads(tree, {"g", "g2"})]
        [('g', ['A']), ('g', ['A', 'f'])]
    """
    found: list[tuple[ast.Name, tuple[ScopeNode, ...]]] = []
    resolver = Resolver()
    enclosing: list[ScopeNode] = []

    def visit(sub: ast.AST) -> None:
        if isinstance(sub, ast.Name):
            if isinstance(sub.ctx, ast.Load) and sub.id in names and not resolver.is_local(sub.id):
                found.append((sub, tuple(enclosing)))
            return
        if isinstance(sub, SCOPE_NODES):
            for outer in outer_parts(sub):
                visit(outer)
            resolver.enter(sub)
            enclosing.append(sub)
            for inner in inner_parts(sub):
                visit(inner)
            enclosing.pop()
            resolver.leave()
            return
        for child in ast.iter_child_nodes(sub):
            visit(child)

    visit(node)
    found.sort(key=lambda pair: (pair[0].lineno, pair[0].col_offset))
    return found


def own_nodes(node: ast.AST) -> list[ast.AST]:
    """The nodes of a function's (or module's) body, without those of the functions, lambdas
    and classes inside it: what runs in its own scope when it runs."""
    out: list[ast.AST] = []
    todo = list(ast.iter_child_nodes(node))
    while todo:
        sub = todo.pop()
        out.append(sub)
        if not isinstance(sub, (*FUNCTIONS, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(sub))
    return out
