"""The scope analyser (``analysis.scope``) against Python's rules and against CPython's ``symtable``."""

from __future__ import annotations

import ast
import json
import os
import symtable
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from distill.analysis.cells import analyze_cell
from distill.analysis.scope import Resolver, free_names, scope_of
from distill.analysis.source import analyze_module
from distill.notebook.magics import to_python

CORPUS = Path("/work/shared/corpus/notebooks")
_NOT_DEFERRED = frozenset({"lambda", "listcomp", "setcomp", "dictcomp", "genexpr"})


def reads(source: str) -> set[str]:
    """Module-level names the first statement of ``source`` reads."""
    return set(free_names(ast.parse(textwrap.dedent(source)).body[0]).reads)


def local_names(source: str) -> set[str]:
    node = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Lambda))
    return set(scope_of(node).locals)


# -- ground truth ----------------------------------------------------------------------


def _table_reads(table: symtable.SymbolTable, *, deferred_only: bool = False, deferred: bool = False) -> set[str]:
    """Global names referenced in ``table`` and the tables under it (``symtable``'s view)."""
    out: set[str] = set()
    todo = [(table, deferred)]
    while todo:
        current, is_deferred = todo.pop()
        if is_deferred or not deferred_only:
            for symbol in current.get_symbols():
                if not symbol.is_referenced():
                    continue
                if current.get_type() == "module" or symbol.is_global():
                    out.add(symbol.get_name())
                elif current.get_type() == "class" and not (symbol.is_assigned() or symbol.is_imported()
                                                            or symbol.is_free() or symbol.is_local()):
                    out.add(symbol.get_name())  # NB: unassigned class-body names resolve to globals
        for child in current.get_children():
            function = child.get_type() == "function" and child.get_name() not in _NOT_DEFERRED
            todo.append((child, is_deferred or function))
    return out


def _symtable(source: str) -> symtable.SymbolTable:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return symtable.symtable(source, "<test>", "exec")


def symtable_reads(statement_source: str) -> set[str]:
    """Global names one module-level statement reads, per CPython."""
    return _table_reads(_symtable(statement_source))


def symtable_body_reads(definition_source: str, name: str) -> set[str]:
    """Global names read where a top-level def or class defers its work (function bodies)."""
    module = _symtable(definition_source)
    table = [child for child in module.get_children() if child.get_name() == name][-1]
    deferred = table.get_type() == "function"
    return _table_reads(table, deferred_only=True, deferred=deferred)


def class_locals(source: str) -> set[str]:
    """Names bound in some class body of ``source`` (symtable: local to the class)."""
    out: set[str] = set()
    todo = [_symtable(source)]
    while todo:
        table = todo.pop()
        if table.get_type() == "class":
            out.update(s.get_name() for s in table.get_symbols() if s.is_local())
        todo.extend(table.get_children())
    return out


def comprehension_targets(node: ast.AST) -> set[str]:
    """Names bound as comprehension targets anywhere under ``node``."""
    return {name.id for sub in ast.walk(node) if isinstance(sub, ast.comprehension)
            for name in ast.walk(sub.target) if isinstance(name, ast.Name)}


def disagreements(source: str) -> tuple[int, list[str]]:
    """Compare ``free_names`` (and cells' ``Function.reads``) with symtable per top-level statement."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(source)
    compared = 0
    problems: list[str] = []
    for statement in tree.body:
        try:
            text = ast.unparse(statement)
            expected = symtable_reads(text)
        except (RecursionError, SyntaxError, ValueError, MemoryError):
            continue
        compared += 1
        got = set(free_names(statement).reads)
        # NB: PEP 709 (Python 3.12) inlines comprehensions into their enclosing scope, and symtable
        #     then lists a comprehension's targets in that scope's table: `x` in `[int(x) for x in
        #     xs]` as a module name, or `b` in `[a for b in a]` as a local of the function, which
        #     makes `b` in another comprehension of it look local. Python still keeps them apart
        #     (the comprehension's own name, the module's outside), so those names are not judged
        inlined = comprehension_targets(statement) if sys.version_info >= (3, 12) else set()
        expected = {name for name in expected if name not in inlined or name in got}
        # NB: free_names counts a class-own name read in the class body as a module read too (it
        #     may be read before the class binds it: `class A: k = k`): safe extras for a cache key
        allowed = class_locals(text) | inlined
        if not expected <= got or got - expected - allowed:
            problems.append(f"free_names {text[:200]!r}: missing {expected - got}, extra {got - expected - allowed}")
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            (function,) = analyze_cell(text).functions
            # NB: `global x; x += 1` reads x at run time but symtable marks x assigned only
            skip = set(function.writes) | {statement.name}
            want = symtable_body_reads(text, statement.name) - skip
            have = set(function.reads) - skip
            # NB: cells run class bodies in order (`class A: k = k` reads the global k), where
            #     symtable calls k local to the class: such extras are allowed
            ordered = (class_locals(text) | inlined) - want
            if not want <= have or have - want - ordered:
                problems.append(f"cells {text[:200]!r}: missing {want - have}, extra {have - want - ordered}")
    return compared, problems


# -- unit cases --------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [
    ("def f():\n    print(x)\n    x = 1", {"print"}),  # read before assignment is still local
    ("def f():\n    x += 1", set()),
    ("def f():\n    x: int\n    return x", {"int"}),
    ("def f():\n    x: int = 1\n    return x", {"int"}),
    ("def f():\n    for i in r: pass\n    return i", {"r"}),
    ("def f():\n    with o as (a, b): pass\n    return a, b", {"o"}),
    ("def f():\n    try: pass\n    except E as e: return e", {"E"}),
    ("def f():\n    import os.path\n    return os", set()),
    ("def f():\n    def g(): pass\n    class C: pass\n    return g, C", set()),
    ("def f():\n    del x\n    return x", set()),
    ("def f():\n    (y := 1)\n    return y", set()),
    ("def f(v):\n    match v:\n        case x: return x", set()),
    ("def f(v):\n    match v:\n        case [*rest]: return rest", set()),
    ("def f(v):\n    match v:\n        case {**rest}: return rest", set()),
    ("def f(v):\n    match v:\n        case P(a=b): return b", {"P"}),
    ("def f(v):\n    a, *b = v\n    return b", set()),
])
def test_assigned_anywhere_is_local_everywhere(source: str, expected: set[str]) -> None:
    assert reads(source) == expected == symtable_reads(source)


def test_global_and_nonlocal() -> None:
    assert reads("def f():\n    global x\n    x = 1\n    return x") == {"x"}
    assert free_names(ast.parse("def f():\n    global x\n    x = 1").body[0]).writes == {"f", "x"}
    source = "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2\n        return x\n    return g"
    assert reads(source) == set()
    # NB: a `global` in the enclosing function makes the name global for the inner one too
    assert reads("def f():\n    global x\n    x = 1\n    def g(): return x") == {"x"}
    assert local_names("def f(a):\n    global g\n    nonlocal_ = a") == {"a", "nonlocal_"}


def test_class_body_does_not_enclose_methods() -> None:
    source = "class A:\n    k = 1\n    def m(self): return k\n    z = [k for _ in range(3)]"
    assert reads(source) == {"k", "range"} == symtable_reads(source)
    assert local_names(source) == {"k", "m", "z"}
    assert reads("class A(Base, metaclass=M):\n    x = y") == {"Base", "M", "y"}


def test_comprehensions() -> None:
    assert reads("[x for x in xs if x > k]") == {"xs", "k"}
    assert reads("def f():\n    return [x for x in x]") == {"x"}  # NB: the first iterable is outside
    assert reads("def f(x):\n    return [x for y in x for x in y]") == set()
    assert reads("def f():\n    [y := v for v in vs]\n    return y") == {"vs"}
    assert free_names(ast.parse("[y := v for v in vs]").body[0]).writes == {"y"}
    assert reads("{k: v for k, v in d.items()}") == {"d"}
    assert reads("(a for a, *b in c)") == {"c"}
    assert reads("def f():\n    xs = 1\n    return [[x for x in xs] for xs in ys]") == {"ys"}


def test_lambdas_and_definition_time_parts() -> None:
    assert reads("f = lambda a, b=d: a + b + c") == {"d", "c"}
    assert reads("@dec(n)\ndef f(a: T = v, *, b: U = w) -> R:\n    return a") == {"dec", "n", "T", "v", "U", "w", "R"}
    assert reads("def f(a):\n    return lambda b=a: b + a") == set()
    assert reads("def f():\n    g = lambda: (y := 1)\n    return y") == {"y"}


def test_nested_functions() -> None:
    assert reads("def f():\n    x = 1\n    def g():\n        return x + y\n    return g") == {"y"}
    assert reads("def f():\n    def g():\n        return x\n    x = 1") == set()
    assert reads("def f():\n    x = 1\n    class C:\n        y = x\n        def m(self): return x") == set()


def test_chains_and_imports() -> None:
    found = free_names(ast.parse("def f(lib):\n    import os\n    return lib.a.b(os.path.join, other.c)").body[0])
    assert found.chains == {"other.c"}
    assert found.reads == {"other"}
    assert [type(i).__name__ for i in found.imports] == ["Import"]


def test_resolver() -> None:
    tree = ast.parse("def f(a):\n    global g\n    return [x for x in a]")
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    resolver = Resolver()
    assert resolver.at_module and resolver.bind("a") == "module"
    resolver.enter(function)
    assert resolver.in_function and resolver.is_local("a") and not resolver.is_local("x")
    assert resolver.bind("g") == "global" and resolver.bind("a") == "local"
    comprehension = ast.parse("[x for x in a]").body[0]
    assert isinstance(comprehension, ast.Expr) and isinstance(comprehension.value, ast.ListComp)
    resolver.enter(comprehension.value)
    assert resolver.is_local("x") and resolver.bind("y", walrus=True) == "local"
    resolver.leave()
    resolver.leave()
    assert resolver.at_module and not resolver.in_function


def test_resolver_classes_in_order() -> None:
    klass = ast.parse("class A:\n    k = k\n    j = k").body[0]
    assert isinstance(klass, ast.ClassDef)
    for in_order, before in ((False, True), (True, False)):
        resolver = Resolver(classes_in_order=in_order)
        resolver.enter(klass)
        assert resolver.is_local("k") is before
        assert resolver.bind("k") == "local"
        assert resolver.is_local("k")
        resolver.leave()
    # NB: the cell reads the k of an earlier cell: the class body runs in order
    assert analyze_cell("class A:\n    k = k\n    j = k").refs == ("k",)


def test_cells_top_level_except_handler() -> None:
    # NB: the handler's name is never a def, but what the handler binds is (it used to be lost)
    analysis = analyze_cell("try:\n    x = load()\nexcept E as e:\n    y = 1\n    print(e)")
    assert analysis.refs == ("load", "E", "print")
    assert analysis.defs == ("x", "y")


def test_cells_global_writes() -> None:
    (function,) = analyze_cell("def f():\n    global n\n    [n := i for i in range(3)]").functions
    assert function.writes == ("n",) and function.reads == ("range",)
    (klass,) = analyze_cell("class A:\n    def f(self): return __class__, super()").functions
    assert klass.reads == ("super",)


def test_cells_and_source_use_the_same_rules() -> None:
    code = "def f(v):\n    print(x)\n    x = 1\n    match v:\n        case [*rest]: return rest\n    return [k for k in ks]"
    (function,) = analyze_cell(code).functions
    assert set(function.reads) == {"print", "ks"}
    info = analyze_module(code, "m", "m.py")
    assert info.defs["f"].names == {"print", "ks"}


# -- differential test against symtable ---------------------------------------------------

TRICKY = [
    "def f():\n    print(x)\n    x = 1",
    "def f():\n    global x\n    x += 1\n    return y",
    "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x += 1\n        def h(): return x\n    return g",
    "class A:\n    x = 1\n    y = x\n    def m(self):\n        return x, y, super().m()\n    z = [x for _ in y]",
    "class A:\n    x = x\n    y = q",
    "def f():\n    class B:\n        a = b\n        b = 1\n        def m(self): return a, b\n    b = 2\n    return B",
    "f = lambda a, *b, c=d, **e: (a, b, c, e, g)",
    "def f(a=lambda: z, *, b=[w for w in ws]):\n    return a, b",
    "def f(x):\n    return [y for x in x for y in x if (z := y)] + [z]",
    "def f():\n    return {k: [v for v in vs if v != k] for k in ks}",
    "def f(v):\n    match v:\n        case [1, *rest] if rest: return rest\n        case {'a': a, **kw}: return a, kw\n"
    "        case P(x, y=Q.R) | P(x, y=S): return x\n        case str() as s: return s\n        case _: return T",
    "def f():\n    try:\n        pass\n    except (E1, E2) as err:\n        raise Wrap() from err",
    "async def f():\n    async with a as b:\n        async for c in b:\n            await c\n    return [d async for d in e]",
    "@outer.deco(k=v)\nclass A(B, metaclass=M, flag=F):\n    '''doc'''\n    def m(self, x: int = D) -> R: return x",
    "def f():\n    import a.b.c\n    from d import e as g\n    return a, g, h",
    "def f():\n    a, (b, *c), d[i] = z\n    return a, b, c, d",
    "def f():\n    del a, b[k]\n    return b",
    "def f():\n    with open(p) as fh, open(q) as (g, h):\n        return fh, g, h",
    "x = [i for i in range(3)]\ny = x",
    "def f():\n    def g():\n        global v\n        v = 1\n    return v",
    "def outer():\n    x = 1\n    class C:\n        x = 2\n        def m(self): return x\n    return C",
    "def f():\n    return (lambda: (u := 1))(), u",
    "def f(*, a, b: T):\n    def g(c=a) -> U: return c, b\n    return g",
    "def f():\n    for i in range(3):\n        yield i\n    else:\n        return j",
    "def f():\n    x = [lambda: i for i in range(3)]\n    return x",
    "class A:\n    def f(self): return __class__\n    def g(self): return A",
    "def f():\n    a: int\n    b: 'str' = c\n    return a",
]


@pytest.mark.parametrize("source", TRICKY)
def test_differential_tricky(source: str) -> None:
    compared, problems = disagreements(source)
    assert compared and not problems


_NAMES = st.sampled_from(["a", "b", "c", "x", "y"])


@st.composite
def _expression(draw: st.DrawFn, depth: int = 2) -> str:
    name = draw(_NAMES)
    if depth <= 0:
        return name
    inner = _expression(depth - 1)
    shapes = [
        name, f"{name}.attr", f"f({draw(inner)})", f"({draw(inner)} + {draw(inner)})",
        f"[{draw(inner)} for {name} in {draw(inner)} if {draw(inner)}]",
        f"{{{draw(inner)}: {name} for {name}, *{draw(_NAMES)} in {draw(inner)}}}",
        f"(lambda {name}, k={draw(inner)}: {draw(inner)})",
        f"({draw(_NAMES)} := {draw(inner)})",
        f"({draw(inner)} for {name} in {draw(inner)} for {draw(_NAMES)} in {draw(inner)})",
    ]
    return draw(st.sampled_from(shapes))


@st.composite
def _block(draw: st.DrawFn, depth: int, indent: str) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        name, other = draw(_NAMES), draw(_NAMES)
        expression = draw(_expression(1))
        simple = [
            f"{name} = {expression}", f"{name} += {expression}", f"{name}: T = {expression}", f"{name}: T",
            f"del {name}", f"global {name}", f"nonlocal {name}", f"return {expression}",
            f"{name}, *{other} = {expression}", f"import m as {name}", f"print({expression})",
            f"{name}.attr = {expression}",
        ]
        lines.append(indent + draw(st.sampled_from(simple)))
        if depth > 0:
            body = draw(_block(depth - 1, indent + "    "))
            header = draw(st.sampled_from([
                f"def {name}({other}, q={expression}):", f"class {name}({expression}):",
                f"for {name} in {expression}:", f"with {expression} as {name}:",
                f"if {expression}:", f"match {expression}:",
                "try:",
            ]))
            if header.startswith("match"):
                pattern = draw(st.sampled_from([name, f"[*{name}]", f"{{**{name}}}", f"P(k={name})",
                                                f"[{name}, *{other}]", f"Q.R as {name}"]))
                lines += [indent + header, indent + f"    case {pattern}:"]
                lines += ["    " + line for line in body]
            elif header == "try:":
                lines += [indent + header, *body, indent + f"except E as {name}:", *body]
            else:
                lines += [indent + header, *body]
    return lines


@st.composite
def programs(draw: st.DrawFn) -> str:
    name = draw(_NAMES)
    top = draw(st.sampled_from([f"def {name}(p):", f"class {name}:", f"def outer():\n    {name} = 1\n    def g():"]))
    indent = "        " if top.startswith("def outer") else "    "
    body = draw(_block(2, indent))
    return "\n".join([top, *body])


#: Random programs compared; CI's second interpreter samples fewer (the suite's long tail).
SCOPE_EXAMPLES = int(os.environ.get("DISTILL_SCOPE_EXAMPLES", "300"))


@settings(database=None, derandomize=True, max_examples=SCOPE_EXAMPLES, deadline=None)
@given(programs())
def test_differential_random(source: str) -> None:
    try:
        compile(source, "<test>", "exec")
    except SyntaxError:
        assume(False)
    # NB: from Python 3.12 symtable reports inlined comprehensions (PEP 709) by the tables they
    #     are inlined into, which no longer says which names Python resolves where; random
    #     programs with comprehensions are compared on 3.11 only (CI's first interpreter)
    assume(sys.version_info < (3, 12) or not comprehension_targets(ast.parse(source)))
    _, problems = disagreements(source)
    assert not problems, "\n".join([source, *problems])


def corpus_cells() -> list[str]:
    cells: list[str] = []
    for path in sorted(CORPUS.glob("**/*.ipynb")):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for cell in notebook.get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            try:
                code = to_python(source).code
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # NB: `"\d"` in a user's regex
                    compile(code, "<cell>", "exec")
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            cells.append(code)
    return cells


def test_differential_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"no notebook corpus at {CORPUS}")
    compared = 0
    problems: list[str] = []
    cells = corpus_cells()
    for code in cells:
        count, found = disagreements(code)
        compared += count
        problems += found
    print(f"corpus: {len(cells)} cells, {compared} top-level statements compared, {len(problems)} disagreements")
    assert compared
    assert not problems, "\n".join(problems[:20])


def test_a_class_reading_a_module_name_it_binds_later_keeps_it_in_its_reads() -> None:
    """`class A: k = k` reads the module's k: the cache key of A must name k (a name too many is
    safe, a name missing would let a changed k go unseen)."""
    assert "k" in free_names(ast.parse("class A:\n    k = k + 1").body[0]).reads
