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
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..notebook.flow import BUILTIN_NAMES
from .ir import NOT_LITERAL, NotebookIR, Stmt, literal_value
from .transforms import Log, Refusal

DATA_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", ".pq", ".xlsx", ".xls", ".feather",
                           ".arrow", ".pkl", ".pickle", ".h5", ".hdf5", ".npy", ".npz", ".db", ".sqlite", ".sqlite3",
                           ".xml", ".yaml", ".yml", ".dta", ".sav", ".sas7bdat", ".zip", ".gz", ".data", ".dat"})
MAX_COPY_BYTES = 50 * 1024 * 1024


@dataclass
class Param:
    """A run parameter of the generated pipeline."""

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


@dataclass
class Helper:
    """A function or class that goes to ``lib.py``."""

    name: str
    stmt: Stmt
    kind: str
    needs: tuple[str, ...] = ()  # notebook variables it reads, now keyword-only parameters
    mutates: tuple[str, ...] = ()


@dataclass
class StepPlan:
    """One generated step.

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
    statements: list[Stmt]
    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)
    copies: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    slug: str = ""

    @property
    def cells(self) -> list[int]:
        return sorted({s.cell for s in self.statements})


@dataclass
class ConversionPlan:
    ir: NotebookIR
    steps: list[StepPlan]
    params: dict[str, Param]
    helpers: dict[str, Helper]
    inline_paths: dict[str, str]  # literal path -> param name


def plan_conversion(ir: NotebookIR, log: Log, folder: Path) -> ConversionPlan:
    """Turn the classified statements of ``ir`` into steps, helpers and params."""
    _opaque(ir, log)
    params = _params(ir, folder)
    _queries(ir, params, log, folder)
    _secrets(ir, params)
    inline = _inline_paths(ir, folder, params)
    helpers = _helpers(ir, params, log)
    groups = _figure_groups_settled(ir)
    steps = [StepPlan("", kind, title, stmts) for kind, title, stmts in groups]
    _flow(ir, steps, params, helpers, log, inline)
    _name(ir, steps, params, helpers)
    return ConversionPlan(ir, steps, params, helpers, inline)


def _constant_to_param(ir: NotebookIR, name: str, before: Stmt, params: dict[str, Param]) -> None:
    """A literal constant bound only once above a query and read by it is a param of the query."""
    if name in params:
        return
    binders = [s for s in ir.statements if name in s.binds]
    if len(binders) != 1 or binders[0].position > before.position or binders[0].kind != "code":
        return
    s = binders[0]
    node = s.node
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return
    value = literal_value(node.value)
    if value is NOT_LITERAL:
        return
    s.kind, s.value, s.reason = "param", value, "a literal constant the SQL query binds"
    params[name] = Param(name, value, _annotation(value), s.cell, s.line, s.reason)


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


def _params(ir: NotebookIR, folder: Path) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for s in ir.statements:
        if s.kind != "param":
            continue
        name = s.binds[0]
        value = s.value
        annotation = _annotation(value)
        param = Param(name, value, annotation, s.cell, s.line, s.reason)
        if isinstance(value, str) and _data_file(value, folder):
            param.is_path = True
            param.annotation = "Path"
            param.source_file = _data_file(value, folder)
        params[name] = param
    return params


def _inline_paths(ir: NotebookIR, folder: Path, params: dict[str, Param]) -> dict[str, str]:
    inline: dict[str, str] = {}
    taken = set(params) | {name for s in ir.statements for name in s.binds} | ir.import_names
    for s in ir.statements:
        if s.kind not in ("code", "figure", "query"):
            continue
        for access in s.analysis.files:
            path = access.path
            if access.mode != "read" or path in inline or "://" in path or not path.strip():
                continue
            if not (_data_file(path, folder) or _looks_like_data(path)):
                continue
            base = slug(Path(path).name) or "data"
            name = unique(f"{base}" if not base[0].isdigit() else f"file_{base}", taken)
            taken.add(name)
            inline[path] = name
            params[name] = Param(name, path, "Path", s.cell, access.line + s.line - 1,
                                 f"the file this cell reads ({access.via})", True, _data_file(path, folder), path)
    return inline


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


def _secrets(ir: NotebookIR, params: dict[str, Param]) -> None:
    """Hard-coded secrets become params whose value is read from the environment.

    A text param (or a text constant assigned once, even if no later cell reads it) that is
    named like a secret (``pipeline.secrets.name_is_secret``: ``api_token``, ``db_password``)
    or whose value looks like a credential (``secret_kind``) gets the value ``${env:NAME}``
    and the annotation ``Secret[str]``: its text is written nowhere in the project. A data
    path is never a secret; numbers named like one (``max_tokens = 200``) stay as they are.
    """
    from ..pipeline.secrets import name_is_secret

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
            s.kind, s.value, s.reason = "param", value, "a hard-coded secret, assigned once"
            params[name] = Param(name, value, "str", s.cell, s.line, s.reason)
    taken: set[str] = set()
    for name in sorted(params):
        param = params[name]
        if param.is_path or not isinstance(param.value, str):
            continue
        kind = "named like a secret" if name_is_secret(name) else secret_kind(name, param.value)
        if kind is None:
            continue
        param.env = env_variable(name, taken)
        taken.add(param.env)
        param.value = f"${{env:{param.env}}}"
        param.annotation = "Secret[str]"
        param.reason = f"{param.reason}; a secret ({kind}): set {param.env} in the environment"


# -- queries ------------------------------------------------------------------------------

_SQL_NAME = re.compile(r"(?<![:\w]):(\w+)|\$(\w+)|\{(\w+)\}")
_CHANGES = re.compile(r"^\s*(create|insert|update|delete|drop|alter|replace|attach|pragma|begin|commit)\b", re.I)


def _placeholders(sql: str) -> tuple[str, list[str]]:
    """``sql`` with every placeholder written ``:name``, and the names in order of first use.

    NB: notebooks write placeholders three ways; the query file uses one:
        WHERE a > :low AND b < $high AND c = {cap}  ->  WHERE a > :low AND b < :high AND c = :cap
    """
    names: list[str] = []

    def bind(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in names:
            names.append(name)
        return f":{name}"

    return _SQL_NAME.sub(bind, sql), names


def _queries(ir: NotebookIR, params: dict[str, Param], log: Log, folder: Path) -> None:
    """``%%sql`` cells become queries in ``.sql`` files with bound parameters; connections become a param."""
    from .ir import Query
    from .transforms import magic_calls

    url: str | None = None
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
            s.kind, s.reason = "blank", f"opens the SQL connection {url}; the pipeline's `database` param"
            continue
        if url is None:
            log.refusals.append(_refusal(s, "a SQL query with no connection (`%sql URL`) before it",
                                         "connect with `%sql sqlite:///file.db` in a cell above"))
            continue
        if url.rstrip("/") in ("sqlite:", "sqlite:/") or url in ("sqlite://", "sqlite:///:memory:"):
            log.refusals.append(_refusal(s, "the query runs on an in-memory SQLite database that exists only in "
                                            "the notebook's session", "write the data to a database file and "
                                         "connect with `%sql sqlite:///file.db`, then convert again"))
            continue
        if any(_CHANGES.match(part) for part in sql.split(";") if part.strip()):
            log.refusals.append(_refusal(s, "the SQL changes the database (CREATE/INSERT/UPDATE…); "
                                            "a pipeline step reads data", "run such SQL outside the notebook, "
                                         "or in Python with sqlite3 in a cell, then convert again"))
            continue
        text, names = _placeholders(sql)
        for name in names:
            _constant_to_param(ir, name, s, params)
        output = target or f"query_cell_{s.cell}"
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
        s.query = Query(text + "\n", tuple(names), output, url, file)


# -- helpers -------------------------------------------------------------------------------

def _helpers(ir: NotebookIR, params: dict[str, Param], log: Log) -> dict[str, Helper]:
    helpers: dict[str, Helper] = {}
    direct: dict[str, set[str]] = {}
    for s in ir.statements:
        if s.kind != "helper":
            continue
        for fn in s.analysis.functions:
            helpers[fn.name] = Helper(fn.name, s, fn.kind, mutates=tuple(fn.mutates))
            direct[fn.name] = set(fn.reads)
            if fn.writes:
                log.refusals.append(_refusal(s, f"{fn.kind} `{fn.name}` assigns the notebook variable(s) "
                                                f"{', '.join(fn.writes)} with `global`",
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
    for name, helper in helpers.items():
        helper.needs = tuple(sorted(needs[name]))
        if helper.kind == "class" and helper.needs:
            log.refusals.append(_refusal(helper.stmt, f"class `{name}` reads the notebook variable(s) "
                                                      f"{', '.join(helper.needs)}",
                                         "pass them to the class (for example to __init__), then convert again"))
    return helpers


def _refusal(s: Stmt, reason: str, hint: str) -> Refusal:
    return Refusal(s.cell, s.line, reason, hint)


# -- grouping ------------------------------------------------------------------------------

def _groups(ir: NotebookIR) -> list[tuple[str, str | None, list[Stmt]]]:
    groups: list[tuple[str, str | None, list[Stmt]]] = []
    current: list[Stmt] | None = None
    current_key: tuple[object, ...] | None = None
    for s in ir.statements:
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


def _figure_groups_settled(ir: NotebookIR) -> list[tuple[str, str | None, list[Stmt]]]:
    """Group, then turn figure groups whose names other steps read into code, until stable.

    NB: `fig, ax = plt.subplots()` drawn on in cell 17 and again in cell 26, with other
        steps between: the axes are a value passed between steps, not one report step.
    """
    while True:
        groups = _groups(ir)
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
            for name in s.binds:
                latest[name] = s
        if not demote:
            return groups
        for index in demote:
            for s in groups[index][2]:
                s.kind, s.reason = "code", "draws on a figure that other steps use"


# -- data flow -----------------------------------------------------------------------------

def _flow(ir: NotebookIR, steps: list[StepPlan], params: dict[str, Param], helpers: dict[str, Helper],
          log: Log, inline: dict[str, str]) -> None:
    known = ir.import_names | set(helpers) | BUILTIN_NAMES
    defined_anywhere = {name for s in ir.statements for name in s.binds}
    env: dict[str, int] = {}  # name -> index of the step holding its current version
    consumed: dict[int, set[str]] = {}
    loop_names: dict[int, set[str]] = {}
    for index, step in enumerate(steps):
        local: set[str] = set()
        reads: dict[str, None] = {}
        writes: dict[str, None] = {}
        mutated: set[str] = set()
        rebound: set[str] = set()
        for s in step.statements:
            names = list(s.reads)
            names.extend(inline[a.path] for a in s.analysis.files if a.path in inline)
            if s.query is not None:
                names.extend(["database", f"{s.query.output}_sql"])
                if "run_query" not in step.helpers:
                    step.helpers.append("run_query")
            for name in s.reads:
                if name in helpers:
                    names.extend(helpers[name].needs)
                    for m in helpers[name].mutates:
                        if m not in local:
                            mutated.add(m)
                        writes.setdefault(m, None)
            for name in names:
                if name in local or name in reads:
                    continue
                if name in params:
                    if name not in step.params:
                        step.params.append(name)
                    continue
                if name in helpers:
                    if name not in step.helpers:
                        step.helpers.append(name)
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
            for name in s.binds:
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
        step.reads = [n for n in reads if n in env]
        step.writes = [n for n in writes if n not in params and n not in helpers and n not in ir.import_names]
        step.copies = {n for n in mutated if n in reads}
        step.aliases = {n for n in rebound if n not in step.copies}
        for name in step.reads:
            consumed.setdefault(env[name], set()).add(name)
            step.inputs.append((name, ""))
        if step.kind == "figure":
            continue
        for name in step.writes:
            env[name] = index
    # outputs: what later steps read, and results that nothing reads again
    last_reads = _last_reads(ir)
    for index, step in enumerate(steps):
        if step.kind == "figure":
            continue
        last_writes = _last_writes(step)
        for name in step.writes:
            if name in consumed.get(index, ()) or _is_result(name, step, last_writes, last_reads,
                                                             loop_names.get(index, set())):
                step.outputs.append((name, ""))


def _last_reads(ir: NotebookIR) -> dict[str, int]:
    """Each name → the position of the last statement that computes with it (displays do not count).

    One pass, so that deciding whether a written name is a result is a look-up, not a scan of
    every later statement.
    """
    last: dict[str, int] = {}
    for s in ir.statements:
        if s.kind in ("code", "figure", "query", "helper"):
            for name in s.reads:
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
    last_write = last_writes[name] if name in last_writes else max(
        s.position for s in step.statements if name in s.writes)
    return last_reads.get(name, -1) <= last_write


# -- naming --------------------------------------------------------------------------------

def slug(text: str, words: int = 5) -> str:
    """``"2. Load the data!"`` → ``load_the_data``: a readable identifier from a title."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    parts = [p for p in re.split(r"[^0-9a-zA-Z]+", text.lower()) if p]
    while parts and parts[0].isdigit():
        parts = parts[1:]
    name = "_".join(parts[:words])[:40].strip("_")
    if name and keyword.iskeyword(name):
        name += "_"
    return name


def unique(name: str, taken: set[str]) -> str:
    if name not in taken and not keyword.iskeyword(name) and name not in BUILTIN_NAMES:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _name(ir: NotebookIR, steps: list[StepPlan], params: dict[str, Param], helpers: dict[str, Helper]) -> None:
    taken = set(params) | set(helpers) | ir.import_names | {"step", "Path", "copy", "plt", "pd"}
    slugs: set[str] = set()
    taken |= {name for s in ir.statements for name in s.binds}
    for step in steps:
        base = slug(step.title or "") or f"cell_{step.statements[0].cell}"
        if step.kind == "figure":
            title = _figure_title(step)
            base = f"{slug(title or '') or base}_figure" if title or step.title else f"figure_cell_{step.statements[0].cell}"
        if base in taken:
            base = f"{base}_step"  # NB: a section "Model" in a notebook with a variable `model`
        step.slug = unique(base, slugs)
        slugs.add(step.slug)
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
                candidate = unique(f"{name}_{steps[owner].slug}", taken)
                taken.add(candidate)
                version_name[(name, owner)] = candidate
    # inputs point at the version current when the step runs
    latest: dict[str, int] = {}
    for index, step in enumerate(steps):
        step.inputs = [(name, version_name.get((name, latest[name]), name)) for name, _ in step.inputs
                       if name in latest]
        step.outputs = [(name, version_name[(name, index)]) for name, _ in step.outputs]
        if step.kind != "figure":
            for name in step.writes:
                if (name, index) in version_name:
                    latest[name] = index
    # function names: a step with one output is named after it
    used: set[str] = taken | set(version_name.values())  # and each step's name once given
    for step in steps:
        if len(step.outputs) == 1 and step.kind != "figure":
            step.name = step.outputs[0][1]
        else:
            step.name = unique(step.slug, used)
        used.add(step.name)


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
