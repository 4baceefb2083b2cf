"""The conversion IR: a notebook's top-level statements, each classified, in document order.

Responsibilities:
- ``build_ir(notebook, sources, log) -> NotebookIR``: split every code cell (already plain
  Python, see ``convert.transforms``) into top-level statements, analyse each one alone
  (``analysis.cells.analyze_cell``) and classify it: import, helper (function or class),
  param (a literal constant), display (a bare expression that only shows something),
  figure (draws a plot), query (``%%sql``), blank or code;
- sections: each markdown heading starts one; a statement knows its section's title;
- keep comments written just above a statement with it.

Pure: no file access, no kernel.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from ..analysis.cells import CellAnalysis, analyze_cell, dotted_name, parse, recursion_room
from ..notebook.flow import BUILTIN_NAMES, alias_table, canonical_name
from ..notebook.model import Notebook
from .transforms import Log, magic_calls

Kind = Literal["import", "helper", "param", "setup", "display", "figure", "query", "code", "blank"]

_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_HTML_HEADING = re.compile(r"<h([1-6])[^>]*>(.*?)</h\1>", re.IGNORECASE | re.DOTALL)

#: Builtins a bare expression may call and still only display.
DISPLAY_FUNCTIONS = frozenset({
    "print", "display", "pprint", "len", "type", "repr", "str", "sorted", "list", "dict", "set", "tuple", "sum",
    "min", "max", "round", "abs", "isinstance", "int", "float", "zip", "range", "enumerate", "any", "all", "id",
    "dir", "vars", "hasattr", "getattr", "format", "bool", "help", "Markdown", "HTML", "Image",
})
#: Methods that compute a view of their receiver without changing it.
PURE_METHODS = frozenset({
    "head", "tail", "describe", "info", "value_counts", "nunique", "unique", "isnull", "isna", "notnull",
    "notna", "sum", "mean", "median", "std", "var", "min", "max", "count", "corr", "cov", "round", "sort_values",
    "sort_index", "groupby", "agg", "aggregate", "query", "filter", "nlargest", "nsmallest", "quantile",
    "transpose", "pivot_table", "reset_index", "set_index", "astype", "copy", "to_frame", "idxmax", "idxmin",
    "any", "all", "abs", "cumsum", "diff", "pct_change", "rolling", "first", "last", "items", "keys", "values",
    "tolist", "to_numpy", "to_dict", "mode", "skew", "kurt", "select_dtypes", "duplicated", "equals", "isin",
    "between", "memory_usage", "get_params", "summary", "summary2", "to_string", "format", "join", "split",
    "strip", "lower", "upper", "replace", "startswith", "endswith", "get", "argmax", "argmin", "reshape",
    "ravel", "flatten", "score", "predict", "predict_proba", "transform", "crosstab", "concat", "merge",
    "dropna", "fillna", "drop", "rename", "apply", "map", "loc", "iloc", "style", "background_gradient",
    "to_markdown", "nbytes", "shape", "dtypes", "columns", "index", "size", "ndim", "T", "resample",
    "unstack", "stack", "melt", "pivot", "explode", "cumprod", "cummax", "cummin", "clip", "where", "mask",
    "sample", "corrwith", "dot", "sqrt", "log", "exp", "array", "asarray", "arange",
    "linspace", "zeros", "ones", "percentile", "bincount", "histogram", "isclose", "allclose",
})
#: Methods whose bare call is there for its effect on the receiver (models learn in place).
MUTATING_CALLS = frozenset({"fit", "partial_fit", "fit_transform", "set_params", "compile", "train", "update",
                            "append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "add",
                            "discard", "setdefault", "shuffle", "seed", "load_state_dict", "step"})
#: Libraries whose calls draw.
PLOT_LIBRARIES = ("matplotlib", "seaborn", "plotly", "pandas.plotting", "bokeh", "altair", "missingno",
                  "yellowbrick", "scikitplot", "statsmodels.graphics")
#: Methods that draw on whatever they are called on.
PLOT_METHODS = frozenset({"plot", "hist", "boxplot", "scatter", "bar", "barh", "pie", "imshow", "kde",
                          "heatmap", "plot_date", "pcolormesh", "contour", "contourf", "errorbar", "fill_between",
                          "hexbin", "violinplot", "stem", "step", "stackplot"})
#: Bare calls that only show a figure: dropped from report steps.
SHOW_CALLS = frozenset({"matplotlib.pyplot.show", "plt.show", "pylab.show", "show"})
#: Calls whose value depends on the clock.
CLOCK_CALLS = frozenset({"datetime.datetime.now", "datetime.datetime.today", "datetime.date.today", "time.time",
                         "datetime.datetime.utcnow", "pandas.Timestamp.now", "pandas.Timestamp.today",
                         "time.perf_counter", "time.monotonic", "uuid.uuid4"})

SCALARS = (bool, int, float, str)


@dataclass(frozen=True, eq=False)
class Stmt:
    """One top-level statement of a code cell.

    Attributes:
        position: its place among all statements of the notebook.
        cell: the notebook cell number (1-based over all cells).
        line, end_line: its lines in the cell.
        code: its source, with the comment lines written just above it.
        node: its AST (positions relative to the cell).
        analysis: what it reads, binds and mutates, analysed alone.
        section: index of the markdown section it is in.
        kind: see ``Kind``.
        reason: why it was classified so, for the report.
        mutates: names it changes in place, including through models learning (``m.fit(x)``).
        value: the literal, for a param.
    """

    position: int
    cell: int
    line: int
    end_line: int
    code: str
    node: ast.stmt
    analysis: CellAnalysis
    section: int
    kind: Kind = "code"
    reason: str = ""
    mutates: tuple[str, ...] = ()
    value: object = None
    first_line: int = 0  # where ``code`` starts (comments above included)
    query: Query | None = None
    shows: tuple[Shown, ...] = ()  # what it prints or shows as a cell's last expression
    results: tuple[str, ...] = ()  # output names given to the new values it shows
    #: every node of ``node`` in ``ast.walk`` order: walked once, then read by every pass (and kept by ``replace``)
    subnodes: tuple[ast.AST, ...] = field(default=(), repr=False)

    @property
    def reads(self) -> tuple[str, ...]:
        if self.query is not None:
            return self.query.names
        return self.analysis.refs

    @cached_property
    def binds(self) -> tuple[str, ...]:
        if self.query is not None:
            return (self.query.output,)
        return (*self.analysis.defs, *self.results) if self.results else self.analysis.defs

    @property
    def computes(self) -> tuple[str, ...]:
        """Its reads, less names it only shows again (``print(df)``, ``print(f"{acc:.3f}")``)."""
        value = getattr(self.node, "value", None)
        again = [x.node for x in self.shows if (x.covers or x.text) and x.node is not value]
        if not again:
            return self.reads
        shown = {id(n) for node in again for n in ast.walk(node)}
        used = {n.id for n in self.subnodes if isinstance(n, ast.Name) and id(n) not in shown}
        return tuple(n for n in self.reads if n in used)

    @cached_property
    def writes(self) -> tuple[str, ...]:
        # NB: `binds`, not the analysis' defs: a `%%sql` query without `name <<` writes `query_cell_N`
        return tuple(dict.fromkeys((*self.binds, *self.mutates)))

    def __post_init__(self) -> None:
        if not self.subnodes:
            object.__setattr__(self, "subnodes", tuple(ast.walk(self.node)))


@dataclass(frozen=True, eq=False)
class Shown:
    """A value a statement shows: an argument of ``print``/``display``, or a cell's last expression.

    Attributes:
        walk_index: the expression's place in ``ast.walk`` of the statement (to find it in a new parse).
        node: the expression.
        covers: the notebook name it shows again (``df``, ``df.head()``, ``df.shape``), if a re-display.
        result: the output name of a new value it shows (``accuracy_score``), else "".
        metric: whether that result looks like a number (declared in ``@step(metrics=...)``).
        text: shows no notebook value (a literal, a library's attribute).
    """

    walk_index: int
    node: ast.expr
    covers: str = ""
    result: str = ""
    metric: bool = False
    text: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A ``%%sql`` query: its text with ``:name`` placeholders (``{name}`` for text put in), the
    names it uses, where it runs."""

    sql: str
    names: tuple[str, ...]
    output: str
    url: str
    file: str  # the .sql file in the project
    #: on an in-memory SQLite database: the param naming the SQL file that builds it, run first
    setup: str = ""

    @property
    def in_memory(self) -> bool:
        return is_in_memory(self.url)


def is_in_memory(url: str) -> bool:
    """Whether the connection URL opens a new, empty SQLite database in memory."""
    return url.rstrip("/") in ("sqlite:", "sqlite:/") or url in ("sqlite://", "sqlite:///:memory:")


@dataclass(frozen=True, slots=True)
class Section:
    index: int
    title: str | None
    cell: int | None  # the markdown cell holding the heading


@dataclass(frozen=True, eq=False)
class NotebookIR:
    """The statements of a notebook and what the conversion knows about them.

    Frozen, like its statements: a pass that reclassifies statements returns a new IR
    (``revised``), so no pass sees a record another pass half-changed.
    """

    notebook: Notebook
    statements: tuple[Stmt, ...]
    sections: tuple[Section, ...]
    aliases: dict[str, str]
    parameters_cell: int | None
    cell_sources: dict[int, str] = field(default_factory=dict)  # cell number -> plain Python
    import_names_early: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()  # notebook names of shown values that look like numbers

    def canonical(self, dotted: str) -> str:
        return canonical_name(self.aliases, dotted)

    def revised(self, changed: dict[int, Stmt]) -> NotebookIR:
        """A new IR whose statements at the positions of ``changed`` are replaced.

        Example:
            >>> ir = ir.revised({s.position: replace(s, kind="blank", reason="...")})
        """
        if not changed:
            return self
        return replace(self, statements=tuple(changed.get(s.position, s) for s in self.statements))

    @cached_property
    def imports(self) -> list[Stmt]:
        return [s for s in self.statements if s.kind == "import"]

    @cached_property
    def helpers(self) -> dict[str, Stmt]:
        out: dict[str, Stmt] = {}
        for s in self.statements:
            if s.kind == "helper":
                for name in s.binds:
                    out[name] = s
        return out

    @cached_property
    def import_names(self) -> set[str]:
        return {name for s in self.imports for name in s.binds}


def build_ir(notebook: Notebook, sources: list[str], log: Log) -> NotebookIR:
    """Split and classify the statements of ``notebook``, whose code cells are now ``sources``."""
    sections = [Section(0, None, None)]
    statements: list[Stmt] = []
    parameters_cell = None
    cell_sources: dict[int, str] = {}
    code_index = 0
    for cell in notebook.cells:
        if cell.kind == "markdown":
            title = _heading(cell.source)
            if title is not None:
                sections.append(Section(len(sections), title, cell.number))
            continue
        if cell.kind != "code":
            continue
        code = sources[code_index]
        code_index += 1
        cell_sources[cell.number] = code
        if "parameters" in cell.tags:
            parameters_cell = cell.number
        try:
            tree = parse(code)
        except (SyntaxError, ValueError):
            continue  # refused already by the transforms
        lines = code.split("\n")
        previous_end = 0
        for node in tree.body:
            start = _start_line(node)
            first = start
            while first - 1 > previous_end and lines[first - 2].strip().startswith("#"):
                first -= 1
            segment = _segment(lines, node, first, start)
            previous_end = node.end_lineno or node.lineno
            analysis = analyze_cell(_dedent_segment(lines, node, start), cell.number)
            stmt = Stmt(len(statements), cell.number, start, node.end_lineno or start, segment, node, analysis,
                        len(sections) - 1, first_line=first)
            statements.append(stmt)
    aliases = alias_table(s.analysis for s in statements)
    early = frozenset(name for st in statements if isinstance(st.node, (ast.Import, ast.ImportFrom))
                      for name in st.analysis.defs)
    ir = NotebookIR(notebook, tuple(statements), tuple(sections), aliases, parameters_cell, cell_sources, early)
    with recursion_room():  # NB: classifying walks expressions recursively (a 1,000-term printed sum)
        ir = _with_mutations(ir)
        ir = _classify(ir)
        ir = _settle_figures(ir)
        return _results(ir)


def _heading(markdown: str) -> str | None:
    match = _HEADING.search(markdown)
    if match:
        return plain_text(match.group(2))
    match = _HTML_HEADING.search(markdown)
    if match:
        return plain_text(match.group(2))
    return None


def plain_text(text: str) -> str:
    """Markdown inline text as plain text: a link as its words, no emphasis or code marks, no tags."""
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)  # NB: control characters (a NUL does not even parse)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    # NB: a backslash (markdown's escape, LaTeX) or a double quote would end up in a docstring
    return re.sub(r"\s+", " ", re.sub(r"[*_`\\\"]", "", text)).strip()


def _start_line(node: ast.stmt) -> int:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.decorator_list:
        return min(d.lineno for d in node.decorator_list)
    return node.lineno


def _segment(lines: list[str], node: ast.stmt, first: int, start: int) -> str:
    """The statement's text (from its column), with a trailing comment and the comments above it."""
    end = node.end_lineno or node.lineno
    body = _dedent_segment(lines, node, start).split("\n")
    rest = lines[end - 1][node.end_col_offset or len(lines[end - 1]):].strip()
    if rest.startswith("#"):
        body[-1] = body[-1] + "  " + rest
    comments = [line.strip() for line in lines[first - 1:start - 1]]
    return "\n".join([*comments, *body])


def _dedent_segment(lines: list[str], node: ast.stmt, start: int) -> str:
    end = node.end_lineno or node.lineno
    col = node.col_offset if not getattr(node, "decorator_list", None) else 0
    body = list(lines[start - 1:end])
    if len(body) == 1:
        body[0] = body[0][col:node.end_col_offset]
    else:
        body[0] = body[0][col:]
        body[-1] = body[-1][:node.end_col_offset]
    return "\n".join(body)


# -- classification ------------------------------------------------------------------------

def _with_mutations(ir: NotebookIR) -> NotebookIR:
    """Each statement with the names it changes in place (``m.fit(x)``, ``df.drop(..., inplace=True)``)."""
    return replace(ir, statements=tuple(replace(s, mutates=_mutations(s)) for s in ir.statements))


def _classify(ir: NotebookIR) -> NotebookIR:
    """Each statement with its kind (see ``Kind``) and the reason for it."""
    bound_count: dict[str, int] = {}
    mutated: set[str] = set()
    for s in ir.statements:
        for b in s.analysis.bindings:
            bound_count[b.name] = bound_count.get(b.name, 0) + 1
        mutated.update(m.name for m in s.analysis.mutations)
        mutated.update(s.mutates)
    later_reads: dict[str, int] = {}  # name -> position of its last read
    for s in ir.statements:
        for name in s.reads:
            later_reads[name] = s.position
        for fn in s.analysis.functions:
            for name in fn.reads:
                later_reads[name] = max(later_reads.get(name, -1), s.position)
    figure_names: set[str] = set()
    changed: dict[int, Stmt] = {}
    for s in ir.statements:
        node = s.node
        kind: Kind = "code"
        reason = ""
        if _is_magic(s, "sql") or _is_magic(s, "bigquery"):
            kind, reason = "query", "a SQL cell magic"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            kind = "import"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "helper"
        elif not s.code.strip() or all(line.strip().startswith("#") or not line.strip() for line in s.code.split("\n")):
            kind = "blank"
        elif isinstance(node, ast.Pass):
            kind, reason = "blank", "nothing to run"
        elif (param := _param(s, ir, bound_count, mutated, later_reads)) is not None:
            changed[s.position] = replace(s, kind="param", value=param[0], reason=param[1])
            continue
        elif (setup := _setup(s, ir)) is not None:
            kind, reason = setup
        elif _draws(s, ir, figure_names):
            kind = "figure"
            figure_names.update(s.binds)
        elif isinstance(node, ast.Expr) and _only_displays(node.value, ir):
            kind, reason = "display", "a bare expression that only displays a value"
        if (kind, reason) != (s.kind, s.reason):
            changed[s.position] = replace(s, kind=kind, reason=reason)
    return ir.revised(changed)


def _settle_figures(ir: NotebookIR) -> NotebookIR:
    """Figure statements whose names later code (or another cell) needs become code.

    A figure statement stays a figure when only figures of its own cell read it, or when it
    makes the figure itself and only figures read it.

    NB: `cmap = ListedColormap([...])` in cell 3, used by plots in cells 5 and 9: code;
        `fig, ax = plt.subplots()` in cell 3, `ax.plot(x)` in cell 4: one figure step
    Readers are matched to the statement that bound the value they read.
    """
    latest: dict[str, Stmt] = {}
    readers: dict[int, set[tuple[str, int, int]]] = {}  # binder position -> (name, reader cell, reader position)
    for s in ir.statements:
        for name in s.reads:
            binder = latest.get(name)
            if binder is not None:
                readers.setdefault(binder.position, set()).add((name, s.cell, s.position))
        for name in s.writes:  # NB: `path.append(x)` in a plotting loop makes the `path` later cells read
            latest[name] = s
    first_reader: dict[tuple[int, str], int] = {}  # (cell, name) -> the cell's first statement reading it
    for s in ir.statements:
        for name in s.reads:
            first_reader.setdefault((s.cell, name), s.position)
    kinds = {s.position: s.kind for s in ir.statements}
    changed = True
    while changed:
        changed = False
        for s in ir.statements:
            if kinds[s.position] != "figure":
                continue
            makes_figure = _makes_figure(s.node)
            for name, cell, position in readers.get(s.position, ()):
                reader_kind = kinds[first_reader.get((cell, name), position)]
                if reader_kind == "code" or (not makes_figure and cell != s.cell):
                    kinds[s.position] = "code"
                    changed = True
                    break
    return ir.revised({s.position: replace(s, kind="code", reason="") for s in ir.statements
                       if kinds[s.position] != s.kind})


FIGURE_MAKERS = frozenset({"subplots", "figure", "subplot", "add_subplot", "axes", "gca", "gcf", "twinx", "twiny",
                           "subplot2grid", "FacetGrid", "PairGrid", "JointGrid", "pairplot", "jointplot", "catplot",
                           "relplot", "displot", "lmplot", "clustermap", "subplot_mosaic", "add_axes"})


def _makes_figure(node: ast.stmt) -> bool:
    """Whether the statement's value is a figure or what was drawn (``ax = df.plot()``), not a
    value plots use (``cmap = ListedColormap(...)``)."""
    value = getattr(node, "value", None)
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name in FIGURE_MAKERS or name in PLOT_METHODS or name.endswith("plot")
    return False


#: Calls that configure libraries for the whole process: module-level setup of the pipeline.
SETUP_CALLS = ("seaborn.set", "matplotlib.pyplot.style.use", "matplotlib.style.use", "matplotlib.rcParams.update",
               "matplotlib.pyplot.rcParams.update", "matplotlib.pyplot.rc", "matplotlib.rc", "warnings.filterwarnings",
               "warnings.simplefilter", "matplotlib.use", "numpy.seterr", "pandas.set_option", "pandas.options",
               "numpy.set_printoptions", "pandas.reset_option")
# NB: display options are settings too: `str(df)`, `df.to_string()`, `np.array2string` and the files written
#     from them depend on them, so they run at the pipeline's import like the other settings
#: Calls and assignments that only change how the notebook's front end shows values: dropped.
DISPLAY_SETTINGS = ("IPython.core.interactiveshell.InteractiveShell",)


def _setup(s: Stmt, ir: NotebookIR) -> tuple[Kind, str] | None:
    node = s.node
    target: ast.expr | None = None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        target = node.value.func
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], (ast.Attribute, ast.Subscript)):
        target = node.targets[0]
    if target is None:
        return None
    root = target
    while isinstance(root, ast.Subscript):
        root = root.value
    name = dotted_name(root)
    if name is None:
        return None
    canonical = ir.canonical(name)
    if canonical.startswith(DISPLAY_SETTINGS):
        return "display", "a display setting"
    if canonical.startswith(SETUP_CALLS):
        if canonical.startswith(_OPTIONS) and _option_read(s, ir):
            # NB: `PREVIOUS = pd.options.display.max_rows` then `pd.options.display.max_rows = 20`: at
            #     module level the setting would change the value read before it; dropped as before
            return "display", "a display setting"
        if any(name not in ir.import_names_early for name in s.reads):
            # NB: `plt.rcParams.update(params)` with `params` built in a cell: a step, not a figure
            return "code", "configures a library with notebook values"
        return "setup", "configures a library for every step (module-level in pipeline.py)"
    return None


_OPTIONS = ("pandas.options", "pandas.set_option", "pandas.reset_option", "numpy.set_printoptions")
_OPTION_READS = ("pandas.options.", "pandas.get_option", "numpy.get_printoptions")


def _option_read(setting: Stmt, ir: NotebookIR) -> bool:
    """Whether a statement other than ``setting`` reads the current pandas or numpy display options."""
    for s in ir.statements:
        if s is setting or "option" not in s.code:
            continue
        stored = {id(n) for t in s.node.targets for n in ast.walk(t)} if isinstance(s.node, ast.Assign) else set()
        for sub in s.subnodes:
            if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Load) and id(sub) not in stored:
                name = dotted_name(sub)
                if name is not None and ir.canonical(name).startswith(_OPTION_READS):
                    return True
    return False


def _is_magic(s: Stmt, name: str) -> bool:
    if "get_ipython" not in s.code:
        return False  # no magic call without it: spares a parse of every statement
    return any(call.kind in ("cell", "line") and call.name == name for call in magic_calls(_code_only(s)))


def _code_only(s: Stmt) -> str:
    return "\n".join(line for line in s.code.split("\n") if not line.strip().startswith("#")) or "pass"


def _mutations(s: Stmt) -> tuple[str, ...]:
    names = [m.name for m in s.analysis.mutations]
    node = s.node
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATING_CALLS:
            receiver = func.value
            while isinstance(receiver, (ast.Attribute, ast.Subscript)):
                receiver = receiver.value
            if isinstance(receiver, ast.Name):
                names.append(receiver.id)
    for sub in s.subnodes:
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in ("fit", "partial_fit"):
            receiver = sub.func.value
            if isinstance(receiver, ast.Name):
                names.append(receiver.id)
    return tuple(dict.fromkeys(names))


NOT_LITERAL = object()
"""What ``literal_value`` returns for an expression that is not a param-worthy literal."""


def literal_value(node: ast.expr) -> object:
    """The value of a literal a param can hold, else ``NOT_LITERAL``.

    Scalars (``SCALARS``) and non-empty lists or tuples of one scalar type are literals:
        0.5, "north", [2020, 2021]   ->  the value
        [], [1, "a"], {"k": 1}, f(x) ->  NOT_LITERAL
    """
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NOT_LITERAL
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, (list, tuple)) and value and all(type(v) is type(value[0]) for v in value) \
            and isinstance(value[0], SCALARS):
        return value
    return NOT_LITERAL


def _param(s: Stmt, ir: NotebookIR, bound_count: dict[str, int], mutated: set[str],
           later_reads: dict[str, int]) -> tuple[object, str] | None:
    """``(value, reason)`` when ``s`` binds a param: a literal assigned once (or in the ``parameters`` cell)."""
    node = s.node
    if not (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None):
        return None
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if len(targets) != 1 or not isinstance(targets[0], ast.Name):
        return None
    name = targets[0].id
    value = literal_value(node.value)
    if value is NOT_LITERAL or name in BUILTIN_NAMES or name.startswith("_"):
        return None
    once = bound_count.get(name, 0) == 1 and name not in mutated
    if ir.parameters_cell == s.cell:
        return (value, "assigned in the cell tagged `parameters`") if once else None
    if not once or later_reads.get(name, -1) <= s.position:
        return None
    return value, "a literal constant, assigned once and used later"



def _draws(s: Stmt, ir: NotebookIR, figure_names: set[str]) -> bool:
    for sub in s.subnodes:
        if isinstance(sub, ast.Call):
            name = dotted_name(sub.func)
            if name is not None:
                canonical = ir.canonical(name)
                if canonical.startswith(PLOT_LIBRARIES) or name in ("show",):
                    return True
                head = name.split(".")[0]
                if head in figure_names:
                    return True
            if isinstance(sub.func, ast.Attribute):
                if sub.func.attr in PLOT_METHODS:
                    return True
                inner = sub.func.value
                if isinstance(inner, ast.Attribute) and inner.attr == "plot":
                    return True  # df.plot.bar(...)
    return False


def _only_displays(expr: ast.expr, ir: NotebookIR) -> bool:
    for sub in ast.walk(expr):
        if isinstance(sub, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
        if not isinstance(sub, ast.Call):
            continue
        if any(k.arg in ("inplace", "file") for k in sub.keywords):
            return False
        func = sub.func
        if isinstance(func, ast.Name):
            if func.id in DISPLAY_FUNCTIONS and func.id not in ir.helpers:
                continue
            canonical = ir.canonical(func.id)
            if canonical.startswith(("numpy.", "pandas.")) and "random" not in canonical and ".read_" not in canonical:
                continue
            return False
        if isinstance(func, ast.Attribute):
            name = dotted_name(func)
            canonical = ir.canonical(name) if name else ""
            if canonical.startswith(("numpy.", "pandas.")) and "random" not in canonical and "read_" not in canonical \
                    and "to_" not in canonical.rsplit(".", 1)[-1]:
                continue
            if func.attr in PURE_METHODS:
                continue
            return False
        return False
    return True


# -- shown values: results -----------------------------------------------------------------

#: Calls whose arguments a cell shows.
SHOW_FUNCTIONS = frozenset({"print", "display", "pprint"})
#: Methods and attributes that show their receiver again rather than compute a new value.
VIEW_METHODS = frozenset({
    "head", "tail", "describe", "info", "sample", "to_string", "to_markdown", "style", "transpose", "T", "shape",
    "dtypes", "columns", "index", "size", "ndim", "nbytes", "memory_usage", "summary", "summary2", "get_params",
    "keys", "values", "items", "tolist", "to_numpy", "to_dict", "copy", "round", "to_frame", "astype", "loc", "iloc",
    "flatten", "ravel", "reshape", "squeeze", "render", "format",
})
#: Calls that show their first argument again (``round(x, 2)``, ``list(names)``).
VIEW_WRAPPERS = frozenset({"round", "str", "repr", "list", "tuple", "sorted", "set", "float", "int", "type", "id",
                           "dir", "vars", "numpy.round", "numpy.around", "numpy.array", "numpy.asarray",
                           "pprint.pprint"})
#: Calls that always give a number.
NUMBER_CALLS = frozenset({"len", "float", "int"})
#: Calls that keep a number a number.
NUMBER_KEEPING = frozenset({"round", "abs", "sqrt", "log", "exp", "float", "int"})
#: Metric functions that do not end in ``_score``, ``_error`` or ``_loss``.
METRIC_FUNCTIONS = frozenset({"accuracy", "score", "explained_variance", "matthews_corrcoef", "cohen_kappa"})
#: Aggregations that make one number of an array of scores.
AGGREGATES = frozenset({"mean", "std", "median", "max", "min", "sum", "var", "average"})
#: Function names too generic to name a result alone: the argument's name is added (``len_df``).
GENERIC = frozenset({"len", "round", "float", "int", "abs", "sum", "mean", "average", "median", "std", "max", "min",
                     "sqrt", "log", "exp", "array", "dot", "str", "list", "sorted", "set", "tuple", "format"})


def _results(ir: NotebookIR) -> NotebookIR:
    """What each statement shows: new values become results (outputs), re-displays are noted.

    A value a cell prints (``print``, ``display``) or shows as its last expression is a
    result unless it shows a notebook name again (``df``, ``df.head()``, ``print(df)``): the
    statement then binds it to a readable name (``accuracy_score``, ``cross_val_score_mean``,
    or the label printed before it) and belongs to a step.
    """
    taken = {n for s in ir.statements for n in s.analysis.defs} | ir.import_names | set(ir.helpers) | BUILTIN_NAMES
    values: dict[str, ast.expr] = {}
    counts: dict[str, int] = {}
    for s in ir.statements:
        for name in s.analysis.defs:
            counts[name] = counts.get(name, 0) + 1
        node = s.node
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
    values = {name: value for name, value in values.items() if counts.get(name) == 1}
    last_of_cell = {s.cell: s.position for s in ir.statements}
    bound: set[str] = set()
    metrics: set[str] = set()
    counters: dict[str, int] = {}  # name -> the next suffix to try (`rows_value_7`)
    changed: dict[int, Stmt] = {}
    for s in ir.statements:
        if s.kind in ("display", "code") and s.reason != "a display setting":
            last = last_of_cell[s.cell] == s.position and not _silenced(s, ir)
            index = {id(sub): i for i, sub in enumerate(s.subnodes)}
            shows: list[Shown] = []
            for expr, label in _shown(s, last, ir):
                root = _redisplay(expr, bound, ir)
                if root is not None:
                    shows.append(Shown(index[id(expr)], expr, covers=root))
                    if _scalar(ast.Name(root), values):
                        metrics.add(root)
                elif _effect_only(expr) or not _has_value(expr, bound, ir):
                    shows.append(Shown(index[id(expr)], expr, text=True))
                else:
                    result = _result_name(expr, label, ir, taken, s.cell, counters)
                    taken.add(result)
                    metric = _scalar(expr, values)
                    if metric:
                        metrics.add(result)
                    shows.append(Shown(index[id(expr)], expr, result=result, metric=metric))
            results = tuple(x.result for x in shows if x.result)
            kind, reason = s.kind, s.reason
            if results:
                kind, reason = "code", "shows a new value: a step output"
            elif s.kind == "display" and any(x.covers for x in shows):
                reason = "a display of an existing value"
            if shows:
                changed[s.position] = replace(s, shows=tuple(shows), results=results, kind=kind, reason=reason)
        bound.update(s.analysis.defs)
    return replace(ir.revised(changed), metrics=frozenset(metrics))


def _silenced(s: Stmt, ir: NotebookIR) -> bool:
    """``df.head();``: a trailing semicolon keeps a cell's last value from showing."""
    lines = ir.cell_sources.get(s.cell, "").split("\n")
    if s.end_line > len(lines):
        return False
    rest = lines[s.end_line - 1].encode("utf-8")[s.node.end_col_offset or 0:].decode("utf-8", errors="ignore")
    return rest.lstrip().startswith(";")


def _is_show_call(expr: ast.expr, ir: NotebookIR) -> bool:
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in SHOW_FUNCTIONS \
        and expr.func.id not in ir.helpers and not any(k.arg == "file" for k in expr.keywords)


def _shown(s: Stmt, last: bool, ir: NotebookIR) -> list[tuple[ast.expr, str]]:
    """The expressions ``s`` shows, each with the text printed just before it (its label)."""
    node = s.node
    if not isinstance(node, ast.Expr):
        return []
    value = node.value
    if _is_show_call(value, ir):
        assert isinstance(value, ast.Call)
        out: list[tuple[ast.expr, str]] = []
        label = ""
        for arg in value.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                label = arg.value
                continue
            out.extend(_parts(arg, label))
            label = ""
        return out
    if not last:
        return []
    if isinstance(value, ast.Tuple):
        return [part for element in value.elts for part in _parts(element, "")]
    return _parts(value, "")


def _parts(expr: ast.expr, label: str) -> list[tuple[ast.expr, str]]:
    """The values inside text built for printing (f-strings, ``.format``, ``%``, ``+``, ``str()``)."""
    if isinstance(expr, ast.Constant):
        return []
    if isinstance(expr, ast.JoinedStr):
        out: list[tuple[ast.expr, str]] = []
        for value in expr.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                label = value.value
            elif isinstance(value, ast.FormattedValue):
                out.extend(_parts(value.value, label))
                label = ""
        return out
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "format" \
            and isinstance(expr.func.value, ast.Constant) and isinstance(expr.func.value.value, str):
        labels = re.split(r"\{[^{}]*\}", expr.func.value.value)
        out = []
        for i, arg in enumerate(expr.args):
            out.extend(_parts(arg, labels[i] if i < len(labels) else ""))
        for keyword_arg in expr.keywords:
            out.extend(_parts(keyword_arg.value, keyword_arg.arg or ""))
        return out
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod) and isinstance(expr.left, ast.Constant) \
            and isinstance(expr.left.value, str):
        elements = expr.right.elts if isinstance(expr.right, ast.Tuple) else [expr.right]
        labels = re.split(r"%[-#0 +]*[\d.]*[a-zA-Z]", expr.left.value)
        return [part for i, e in enumerate(elements) for part in _parts(e, labels[i] if i < len(labels) else "")]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add) and (_texty(expr.left) or _texty(expr.right)):
        left = _parts(expr.left, label)
        text = expr.left.value if isinstance(expr.left, ast.Constant) and isinstance(expr.left.value, str) else ""
        return left + _parts(expr.right, text)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("str", "repr") \
            and len(expr.args) == 1 and not expr.keywords:
        return _parts(expr.args[0], label)
    return [(expr, label)]


def _texty(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _texty(expr.left) or _texty(expr.right)
    return isinstance(expr, ast.JoinedStr) or (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name)
                                               and expr.func.id in ("str", "repr"))


def _plain_arg(expr: ast.expr) -> bool:
    """An argument that selects or formats without computing: a literal, a name, a lambda."""
    return not any(isinstance(sub, (ast.Call, ast.NamedExpr, ast.Await)) for sub in ast.walk(expr)) \
        or isinstance(expr, ast.Lambda)


def _redisplay(expr: ast.expr, bound: set[str], ir: NotebookIR) -> str | None:
    """The notebook name ``expr`` shows again (``df``, ``df.head(3)``, ``model.coef_``, ``round(acc, 3)``)."""
    while True:
        if isinstance(expr, ast.Name):
            name = expr.id
            return name if name in bound and name not in ir.import_names and name not in ir.helpers else None
        if isinstance(expr, ast.Attribute) or (isinstance(expr, ast.Subscript) and _plain_arg(expr.slice)):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            func = expr.func
            plain_args = all(_plain_arg(a) for a in expr.args) and all(_plain_arg(k.value) for k in expr.keywords)
            module = isinstance(func, ast.Attribute) and (dotted_name(func.value) or "").split(".")[0] in ir.import_names
            if isinstance(func, ast.Attribute) and func.attr in VIEW_METHODS and plain_args and not module:
                expr = func.value
            elif isinstance(func, ast.Attribute) and func.attr in MUTATING_CALLS and isinstance(func.value, ast.Name):
                expr = func.value  # `model.fit(X, y)` shows the model
            else:
                called = dotted_name(func)
                wrapper = called is not None and called not in ir.helpers and (
                    (isinstance(func, ast.Name) and called in VIEW_WRAPPERS) or ir.canonical(called) in VIEW_WRAPPERS)
                if not (wrapper and expr.args and all(_plain_arg(a) for a in expr.args[1:])
                        and all(_plain_arg(k.value) for k in expr.keywords)):
                    return None
                expr = expr.args[0]
        else:
            return None


def _has_value(expr: ast.expr, bound: set[str], ir: NotebookIR) -> bool:
    """Whether ``expr`` computes something of the notebook's (it reads a notebook name or calls)."""
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Name) and sub.id in bound and sub.id not in ir.import_names:
            return True
        if isinstance(sub, ast.Call):
            name = dotted_name(sub.func)
            if name is None or ir.canonical(name) not in CLOCK_CALLS:
                return True
    return False


def _identifier(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    parts = [p for p in re.split(r"[^0-9a-zA-Z]+", text.lower()) if p]
    return "_".join(parts)


def _expr_name(expr: ast.expr, ir: NotebookIR) -> str:
    """``metrics.accuracy_score(y, p)`` → ``accuracy_score``; ``scores.mean()`` → ``scores_mean``."""
    if isinstance(expr, ast.Name):
        return "" if expr.id in ir.import_names else expr.id
    if isinstance(expr, ast.Attribute):
        return "_".join(p for p in (_data_part(expr.value, ir), expr.attr) if p)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Name):
            base, function = "", func.id
        elif isinstance(func, ast.Attribute):
            base, function = _data_part(func.value, ir), func.attr
        else:
            return _expr_name(func, ir)
        if not base and function in GENERIC and expr.args:
            base, function = function, _expr_name(expr.args[0], ir)
        return "_".join(p for p in (base, function) if p)
    if isinstance(expr, ast.Subscript):
        return _expr_name(expr.value, ir)
    if isinstance(expr, ast.BinOp):
        return "_".join(p for p in (_expr_name(expr.left, ir), _expr_name(expr.right, ir)) if p)
    if isinstance(expr, ast.UnaryOp):
        return _expr_name(expr.operand, ir)
    if isinstance(expr, ast.Compare):
        return "_".join(p for p in (_expr_name(expr.left, ir), *(_expr_name(c, ir) for c in expr.comparators)) if p)
    return ""


def _data_part(expr: ast.expr, ir: NotebookIR) -> str:
    """The name of a receiver, or "" for a module (``np.linalg.pinv`` is named ``pinv``)."""
    name = dotted_name(expr)
    if name is not None and name.split(".")[0] in ir.import_names:
        return ""
    return _expr_name(expr, ir)


#: Calls there for their effect, whose value (``None``) is not a result.
EFFECT_CALLS = frozenset({"to_csv", "to_parquet", "to_excel", "to_pickle", "to_json", "to_sql", "to_feather",
                          "to_hdf", "to_latex", "savefig", "makedirs", "mkdir", "write", "writelines", "close", "dump",
                          "save", "seed", "manual_seed", "set_seed", "sleep", "chdir", "remove", "unlink"})


def _effect_only(expr: ast.expr) -> bool:
    """``df.to_csv(path)``, ``model.fit(X, y)``, ``df.drop(..., inplace=True)``: shown for an effect, not a value."""
    if not isinstance(expr, ast.Call):
        return False
    function = _function_name(expr.func)
    return function in EFFECT_CALLS or function in MUTATING_CALLS or any(k.arg == "inplace" for k in expr.keywords) \
        or (function.startswith("set_") and function not in ("set_index", "set_axis"))


def _result_name(expr: ast.expr, label: str, ir: NotebookIR, taken: set[str], cell: int,
                 counters: dict[str, int]) -> str:
    """A readable, unused name for a shown value: from the label printed before it, else the expression."""
    from_label = _identifier(label.strip().split("\n")[-1])
    name = from_label if from_label and len(from_label.split("_")) <= 3 and not from_label[0].isdigit() else ""
    if not name:
        name = _identifier(_expr_name(expr, ir))
    from .plan import MAX_NAME, fit, unique

    name = fit(name, MAX_NAME).strip("_") or f"result_cell_{cell}"
    if name[0].isdigit():
        name = fit(f"result_{name}")
    if name in taken or keyword.iskeyword(name):
        name = unique(f"{fit(name, MAX_NAME - 6)}_value", taken, counters=counters)
    return name


def _function_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _scalar(expr: ast.expr, values: dict[str, ast.expr], depth: int = 0) -> bool:
    """Whether ``expr`` looks like a number by its shape alone (conservative: a metric must be one).

    Known metric functions (``accuracy_score``, ``mean_squared_error``, ``model.score``), ``len``,
    ``float``, an aggregate of ``cross_val_score(...)``, and arithmetic or rounding of those.
    """
    if depth > 6:
        return False
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, (int, float)) and not isinstance(expr.value, bool)
    if isinstance(expr, ast.Name):
        value = values.get(expr.id)
        return value is not None and _scalar(value, values, depth + 1)
    if isinstance(expr, ast.UnaryOp):
        return _scalar(expr.operand, values, depth + 1)
    if isinstance(expr, ast.BinOp) and not isinstance(expr.op, ast.MatMult):
        return _scalar(expr.left, values, depth + 1) and _scalar(expr.right, values, depth + 1)
    if not isinstance(expr, ast.Call):
        return False
    function = _function_name(expr.func)
    if function in NUMBER_CALLS and len(expr.args) == 1:
        return True
    if function in NUMBER_KEEPING and expr.args:
        return _scalar(expr.args[0], values, depth + 1)
    if any(k.arg in ("average", "multioutput", "axis") and not (isinstance(k.value, ast.Constant)
                                                                and isinstance(k.value.value, str)
                                                                and k.value.value != "raw_values")
           for k in expr.keywords):
        return False
    if function in METRIC_FUNCTIONS or function.endswith(("_error", "_loss")) \
            or (function.endswith("_score") and not function.startswith("cross_val")):
        return True
    if function in AGGREGATES:
        inner = expr.func.value if isinstance(expr.func, ast.Attribute) and not expr.args else \
            expr.args[0] if expr.args else None
        return isinstance(inner, ast.Call) and _function_name(inner.func) == "cross_val_score"
    return False
