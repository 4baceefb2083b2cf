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
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from ..analysis.cells import CellAnalysis, analyze_cell, dotted_name, parse
from ..notebook.flow import BUILTIN_NAMES, alias_table, canonical_name
from ..notebook.model import Notebook
from .transforms import Log, magic_calls

Kind = Literal["import", "helper", "param", "setup", "display", "figure", "query", "code", "blank"]

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
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


@dataclass(eq=False)
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

    @property
    def reads(self) -> tuple[str, ...]:
        if self.query is not None:
            return self.query.names
        return self.analysis.refs

    @property
    def binds(self) -> tuple[str, ...]:
        if self.query is not None:
            return (self.query.output,)
        return self.analysis.defs

    @property
    def writes(self) -> tuple[str, ...]:
        # NB: `binds`, not the analysis' defs: a `%%sql` query without `name <<` writes `query_cell_N`
        return tuple(dict.fromkeys((*self.binds, *self.mutates)))

    @cached_property
    def subnodes(self) -> tuple[ast.AST, ...]:
        """Every node of ``node``, in ``ast.walk`` order: walked once, then read by every pass."""
        return tuple(ast.walk(self.node))


@dataclass(frozen=True, slots=True)
class Query:
    """A ``%%sql`` query: its text with ``:name`` placeholders, the names bound, where it runs."""

    sql: str
    names: tuple[str, ...]
    output: str
    url: str
    file: str  # the .sql file in the project


@dataclass(frozen=True, slots=True)
class Section:
    index: int
    title: str | None
    cell: int | None  # the markdown cell holding the heading


@dataclass
class NotebookIR:
    """The statements of a notebook and what the conversion knows about them."""

    notebook: Notebook
    statements: list[Stmt]
    sections: list[Section]
    aliases: dict[str, str]
    parameters_cell: int | None
    cell_sources: dict[int, str] = field(default_factory=dict)  # cell number -> plain Python
    import_names_early: set[str] = field(default_factory=set)

    def canonical(self, dotted: str) -> str:
        return canonical_name(self.aliases, dotted)

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
    ir = NotebookIR(notebook, statements, sections, aliases, parameters_cell, cell_sources)
    ir.import_names_early = {name for st in statements if isinstance(st.node, (ast.Import, ast.ImportFrom))
                             for name in st.analysis.defs}
    _classify(ir, log)
    return ir


def _heading(markdown: str) -> str | None:
    match = _HEADING.search(markdown)
    if match:
        return _plain(match.group(2))
    match = _HTML_HEADING.search(markdown)
    if match:
        return _plain(re.sub(r"<[^>]+>", "", match.group(2)))
    return None


def _plain(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]", "", text).strip()


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

def _classify(ir: NotebookIR, log: Log) -> None:
    bound_count: dict[str, int] = {}
    mutated: set[str] = set()
    for s in ir.statements:
        for b in s.analysis.bindings:
            bound_count[b.name] = bound_count.get(b.name, 0) + 1
        mutated.update(m.name for m in s.analysis.mutations)
        s.mutates = _mutations(s)
        mutated.update(s.mutates)
    later_reads: dict[str, int] = {}  # name -> position of its last read
    for s in ir.statements:
        for name in s.reads:
            later_reads[name] = s.position
        for fn in s.analysis.functions:
            for name in fn.reads:
                later_reads[name] = max(later_reads.get(name, -1), s.position)

    figure_names: set[str] = set()
    for s in ir.statements:
        node = s.node
        if _is_magic(s, "sql") or _is_magic(s, "bigquery"):
            s.kind, s.reason = "query", "a SQL cell magic"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            s.kind = "import"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            s.kind = "helper"
        elif not s.code.strip() or all(line.strip().startswith("#") or not line.strip() for line in s.code.split("\n")):
            s.kind = "blank"
        elif isinstance(node, ast.Pass):
            s.kind, s.reason = "blank", "nothing to run"
        elif _is_param(s, ir, bound_count, mutated, later_reads):
            s.kind = "param"
        elif (setup := _setup(s, ir)) is not None:
            s.kind, s.reason = setup
        elif _draws(s, ir, figure_names):
            s.kind = "figure"
            figure_names.update(s.binds)
        elif isinstance(node, ast.Expr) and _only_displays(node.value, ir):
            s.kind, s.reason = "display", "a bare expression that only displays a value"
    # A figure statement whose names later code (or another cell) needs is code after all,
    # unless it makes the figure itself.
    # NB: `cmap = ListedColormap([...])` in cell 3, used by plots in cells 5 and 9: code;
    #     `fig, ax = plt.subplots()` in cell 3, `ax.plot(x)` in cell 4: one figure step
    # Readers are matched to the statement that bound the value they read.
    latest: dict[str, Stmt] = {}
    readers: dict[int, set[tuple[str, int, str]]] = {}  # binder position -> (name, reader cell, reader kind)
    for s in ir.statements:
        for name in s.reads:
            binder = latest.get(name)
            if binder is not None:
                readers.setdefault(binder.position, set()).add((name, s.cell, s.kind))
        for name in s.binds:
            latest[name] = s
    first_reader: dict[tuple[int, str], Stmt] = {}  # (cell, name) -> the cell's first statement reading it
    for s in ir.statements:
        for name in s.reads:
            first_reader.setdefault((s.cell, name), s)
    changed = True
    while changed:
        changed = False
        for s in ir.statements:
            if s.kind != "figure":
                continue
            makes_figure = _makes_figure(s.node)
            for name, cell, kind in readers.get(s.position, ()):
                reader = first_reader.get((cell, name))
                reader_kind = reader.kind if reader is not None else kind
                if reader_kind == "code" or (not makes_figure and cell != s.cell):
                    s.kind, s.reason = "code", ""
                    changed = True
                    break


FIGURE_MAKERS = frozenset({"subplots", "figure", "subplot", "add_subplot", "axes", "gca", "gcf", "twinx", "twiny",
                           "subplot2grid", "FacetGrid", "PairGrid", "JointGrid", "pairplot", "jointplot", "catplot",
                           "relplot", "displot", "lmplot", "clustermap", "subplot_mosaic", "add_axes"})


def _makes_figure(node: ast.stmt) -> bool:
    value = getattr(node, "value", None)
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name in FIGURE_MAKERS
    return False


#: Calls that configure libraries for the whole process: module-level setup of the pipeline.
SETUP_CALLS = ("seaborn.set", "matplotlib.pyplot.style.use", "matplotlib.style.use", "matplotlib.rcParams.update",
               "matplotlib.pyplot.rcParams.update", "matplotlib.pyplot.rc", "matplotlib.rc", "warnings.filterwarnings",
               "warnings.simplefilter", "matplotlib.use", "numpy.seterr", "pandas.set_option('mode")
#: Calls and assignments that only change how values are displayed: dropped.
DISPLAY_SETTINGS = ("pandas.set_option", "pandas.options.display", "numpy.set_printoptions", "pandas.reset_option",
                    "IPython.core.interactiveshell.InteractiveShell", "pandas.options.plotting")


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
        if any(name not in ir.import_names_early for name in s.reads):
            # NB: `plt.rcParams.update(params)` with `params` built in a cell: a step, not a figure
            return "code", "configures a library with notebook values"
        return "setup", "configures a library for every step (module-level in pipeline.py)"
    return None


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


def _is_param(s: Stmt, ir: NotebookIR, bound_count: dict[str, int], mutated: set[str],
              later_reads: dict[str, int]) -> bool:
    node = s.node
    if not (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None):
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if len(targets) != 1 or not isinstance(targets[0], ast.Name):
        return False
    name = targets[0].id
    value = literal_value(node.value)
    if value is NOT_LITERAL or name in BUILTIN_NAMES or name.startswith("_"):
        return False
    s.value = value
    if ir.parameters_cell == s.cell:
        s.reason = "assigned in the cell tagged `parameters`"
        return bound_count.get(name, 0) == 1 and name not in mutated
    if bound_count.get(name, 0) != 1 or name in mutated:
        return False
    if later_reads.get(name, -1) <= s.position:
        return False
    s.reason = "a literal constant, assigned once and used later"
    return True



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
