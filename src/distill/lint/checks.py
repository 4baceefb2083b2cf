"""The checks behind each lint rule: pure functions from a notebook's analysis to findings.

Responsibilities:
- ``Context``: the analysis, the options, and ``finding()`` to build a located ``Finding``;
- one function per rule family (hidden state, dependencies, environment and security, SQL,
  randomness, structure, outputs), each yielding findings in document order;
- ``CHECKS``: the list the engine runs.

Every check reads only the frozen records (``NotebookAnalysis``, ``CellAnalysis``, ``Cell``);
the one exception is ``dependencies``, which reads the declaration files beside the notebook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..analysis.cells import Call
from ..notebook.flow import HISTORY_NAME, AnalysedCell, NotebookAnalysis, is_provided
from ..notebook.model import Cell
from . import deps
from .model import Finding
from .rules import RULES


@dataclass(frozen=True, slots=True)
class Options:
    """Thresholds, from ``[tool.distill.lint]``."""

    max_cell_output_kb: int = 500
    max_output_kb: int = 2048
    sql_min_length: int = 80


@dataclass(frozen=True, slots=True)
class Context:
    analysis: NotebookAnalysis
    path: str
    options: Options

    def finding(self, code: str, message: str, cell: AnalysedCell | Cell | None = None,
                line: int | None = None, column: int | None = None, subject: str | None = None) -> Finding:
        raw = cell.cell if isinstance(cell, AnalysedCell) else cell
        return Finding(
            code=code, severity=RULES[code].severity, message=message, path=self.path,
            cell=raw.number if raw else None, line=line, column=column,
            file_line=raw.file_line_of(line) if raw else None,
            execution_count=raw.execution_count if raw else None, subject=subject,
        )


def _names(names: list[str] | tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- DL002, DL1xx: hidden state -------------------------------------------------------------

def syntax(ctx: Context) -> Iterator[Finding]:
    for cell in ctx.analysis.cells:
        problem = cell.analysis.syntax_error
        if problem:
            yield ctx.finding("DL002", f"cell does not parse: {problem.message}", cell, problem.line, problem.column)


def execution_order(ctx: Context) -> Iterator[Finding]:
    cells = ctx.analysis.cells
    counts = [(c, c.cell.execution_count) for c in cells if c.cell.execution_count is not None]
    highest: tuple[AnalysedCell, int] | None = None
    inversions = 0
    first: tuple[AnalysedCell, int, AnalysedCell, int] | None = None
    for cell, count in counts:
        assert count is not None
        if highest is not None and count < highest[1]:
            inversions += 1
            first = first or (cell, count, highest[0], highest[1])
        if highest is None or count > highest[1]:
            highest = (cell, count)
    if first is not None:
        cell, count, above, above_count = first
        upward = [e for e in ctx.analysis.execution_flow
                  if e.source is not None and e.source > e.target]
        flow = (f"; data flowed upwards: cell {upward[0].target} read `{upward[0].name}` from cell {upward[0].source} below it"
                if upward else "")
        more = f" ({inversions} cells ran out of order)" if inversions > 1 else ""
        yield ctx.finding("DL101", f"cell {cell.number} ran as [{count}], before cell {above.number} above it "
                                   f"([{above_count}]){more}{flow}", cell)
    if counts:
        last_executed = max(c.number for c, _ in counts)
        for cell in cells:
            if cell.cell.execution_count is None and cell.cell.source.strip() and cell.number < last_executed:
                yield ctx.finding("DL102", f"cell {cell.number} was never run, but cells below it were", cell)


def names(ctx: Context) -> Iterator[Finding]:
    """DL103 use-before-define and DL104 undefined-name, including globals read through calls."""
    analysis = ctx.analysis
    definers = analysis.definers
    opaque = analysis.opaque_from
    functions = {f.name: (cell, f) for cell in analysis.cells for f in cell.analysis.functions}
    bound_above: set[str] = set()
    for cell in analysis.cells:
        reported: set[str] = set()
        for use in cell.analysis.uses:
            message = _missing(use.name, cell.number, bound_above, definers, opaque)
            if message:
                reported.add(use.name)
                code, text = message
                yield ctx.finding(code, text, cell, use.line, use.column, use.name)
        bound_here = bound_above | set(cell.analysis.defs)
        # NB: a function reads its globals when called; a cell calling it needs them bound:
        #     cell 2: def f(): return k      cell 3: f()      cell 4: k = 1   -> DL103 at cell 3
        for call in cell.analysis.calls:
            target = functions.get(call.name)
            if target is None or call.deferred or target[0].number > cell.number:
                continue
            for name in target[1].reads:
                if name in reported or name in bound_here or is_provided(name) or name in functions:
                    continue
                message = _missing(name, cell.number, bound_here, definers, opaque, via=f"{call.name}()")
                if message:
                    reported.add(name)
                    yield ctx.finding(message[0], message[1], cell, call.line, call.column, name)
        bound_above = bound_here


def _missing(name: str, number: int, bound: set[str], definers: dict[str, tuple[int, ...]],
             opaque: int | None, via: str | None = None) -> tuple[str, str] | None:
    if name in bound or is_provided(name):
        return None
    subject = f"`{name}` (read by {via})" if via else f"`{name}`"
    if HISTORY_NAME.match(name):
        return "DL104", f"{subject} is IPython's output history of an earlier execution; a fresh kernel has no such value"
    if name == "__file__":
        return "DL104", "`__file__` is not defined in a notebook kernel"
    later = [c for c in definers.get(name, ()) if c >= number]
    if later and later[0] == number:
        return "DL103", f"{subject} is used before this cell defines it, further down"
    if later:
        return "DL103", f"{subject} is used before it is defined: only cell {later[0]}, below, defines it"
    if opaque is not None and opaque <= number:
        return None  # NB: `from x import *`, `%run`, `exec` above may define it; DL602 says so
    return "DL104", f"{subject} is not defined by any cell"


def idempotence(ctx: Context) -> Iterator[Finding]:
    """DL105 self-updates and DL106 mutations of names other cells define."""
    defined_above: dict[str, int] = {}
    for cell in ctx.analysis.cells:
        a = cell.analysis
        refs = set(a.refs)
        seen: set[str] = set()
        for binding in a.bindings:
            if binding.name in refs and binding.name in defined_above and binding.name not in seen \
                    and binding.how not in ("import", "def", "class"):
                seen.add(binding.name)
                yield ctx.finding("DL105", f"`{binding.name}` is rebuilt from its own previous value (defined in cell "
                                           f"{defined_above[binding.name]}); running this cell twice changes it", cell, binding.line)
        for mutation in a.mutations:
            name = mutation.name
            if name in seen or name not in refs or name not in defined_above or mutation.how.startswith(f"{name} "):
                continue
            seen.add(name)
            yield ctx.finding("DL106", f"`{name}` (defined in cell {defined_above[name]}) is changed in place here: "
                                       f"`{mutation.how}`", cell, mutation.line)
        for name in a.defs:
            defined_above[name] = cell.number


# -- DL2xx: dependencies --------------------------------------------------------------------

_INSTALL = re.compile(r"^\s*(?:-\S+\s+)*(?:(?:python\d?(?:\.\d+)?|py)\s+-m\s+)?(pip3?|conda|mamba|micromamba|uv pip)\s+install\b(.*)")


def dependencies(ctx: Context) -> Iterator[Finding]:
    folder = Path(ctx.analysis.notebook.path).parent
    declared, files = deps.declared_near(folder)
    where = ", ".join(f.name for f in files) if files else None
    reported: set[str] = set()
    for cell in ctx.analysis.cells:
        for magic in cell.analysis.magics:
            command = magic.args if magic.kind == "shell" else f"{magic.name} {magic.args}"
            if magic.kind == "line" and magic.name in ("pip", "conda", "mamba"):
                command = f"{magic.name} {magic.args}"
            match = _INSTALL.match(command)
            if match:
                packages = [p for p in match.group(2).split() if not p.startswith("-")]
                shown = " ".join(packages) or "packages"
                yield ctx.finding("DL202", f"installs {shown} while running (`{command.strip()[:60]}`)", cell, magic.line)
        # NB: `%load_ext rpy2.ipython` imports the package rpy2 just as `import rpy2` would
        extensions = [(m.args.split()[0], m.line) for m in cell.analysis.magics
                      if m.kind == "line" and m.name in ("load_ext", "reload_ext") and m.args.split()]
        modules = [(imp.module, imp.line) for imp in cell.analysis.imports if not imp.level and imp.module]
        for module, line in modules + extensions:
            top = module.split(".")[0]
            if top in reported or deps.is_standard(top) or deps.is_local(top, folder):
                continue
            if deps.is_declared(top, declared):
                continue
            reported.add(top)
            dist = deps.distributions_for(top, installed_too=bool(declared))[0]
            if where:
                message = f"`{top}` is imported but {where} does not declare `{dist}`"
            else:
                message = f"`{top}` is imported but no requirements.txt, pyproject.toml or environment.yml next to the notebook declares `{dist}`"
            yield ctx.finding("DL201", message, cell, line)


# -- DL3xx: environment and security --------------------------------------------------------

_HOME = re.compile(r"^(?:~[/\\]|/(?:home|Users|root|mnt|media|data|content|kaggle|Volumes|dbfs|workspace|srv|opt|gpfs|scratch|nfs)/|[A-Za-z]:[\\/]|\\\\[A-Za-z0-9])")
_POSIX_ABSOLUTE = re.compile(r"^/[^/\s:*?\"<>|]+(?:/[^/\s:*?\"<>|]*)*$")
_PATH_CONTEXTS = re.compile(r"(?:^|\.)(?:open|Path|chdir|join|append|insert|listdir|glob|walk|exists|isfile|isdir|makedirs|mkdir|read_\w+|to_\w+|load\w*|save\w*|imread|imwrite|dump|ExcelFile|connect|create_engine)$|(?:path|dir|file|folder|root)s?$", re.IGNORECASE)


def environment(ctx: Context) -> Iterator[Finding]:
    for cell in ctx.analysis.cells:
        a = cell.analysis
        seen_lines: set[int] = set()
        for string in a.strings:
            value = string.value
            if "\n" in value or "://" in value or len(value) > 260 or string.line in seen_lines:
                continue
            home = _HOME.match(value)
            if home or (_POSIX_ABSOLUTE.match(value) and value.count("/") >= 2 and not value.startswith(("/dev/", "/proc/", "/sys/"))
                        and string.context is not None and _PATH_CONTEXTS.search(string.context)):
                seen_lines.add(string.line)
                yield ctx.finding("DL301", f"hard-coded absolute path {value!r}", cell, string.line, string.column)
        for magic in a.magics:
            if magic.kind == "line" and magic.name in ("cd", "pushd") and _HOME.match(magic.args.strip().strip("'\"")):
                yield ctx.finding("DL301", f"`%{magic.name}` to the absolute path {magic.args.strip()!r}", cell, magic.line)
            if magic.kind == "shell" or (magic.kind == "line" and magic.name in ("system", "sx", "sc")):
                command = magic.args.strip()
                if not _INSTALL.match(command):
                    yield ctx.finding("DL303", f"shell command `!{command[:60]}`", cell, magic.line)
            if magic.kind == "cell" and magic.name in ("bash", "sh", "script", "system", "!", "zsh", "powershell", "cmd"):
                yield ctx.finding("DL304", f"`%%{magic.name}` cell runs a shell script of {magic.body.count(chr(10)) + 1} lines",
                                  cell, magic.line)
        yield from _secrets(ctx, cell)


_TOKENS = (
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("OpenAI-style secret key", re.compile(r"\bsk-(?:proj-|live-)?[A-Za-z0-9_\-]{20,}")),
    ("Stripe secret key", re.compile(r"\b[rs]k_live_[0-9a-zA-Z]{20,}")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
)
_CREDENTIAL_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://([^/\s:@{}$<>]+):([^/\s@{}$<>]+)@[^\s/]+")
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "pass", "secret", "token", "apikey", "credentials", "credential"})
_KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "auth", "client", "signing", "encryption", "master"})
_PLACEHOLDER = re.compile(r"^(?:|x+|\*+|\.+|-+|<.*>|\{.*\}|\$\{?\w+\}?|%\(?\w*\)?s|your[\w\s-]*|change[-_ ]?me|example|placeholder|none|null|secret|password|token|test|dummy|todo|tbd|fixme)$", re.IGNORECASE)


def _secret_context(context: str | None) -> bool:
    if not context:
        return False
    parts = [p for p in re.split(r"[_.\-\s]|(?<=[a-z])(?=[A-Z])", context) if p]
    words = [p.lower() for p in parts]
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS:
        return True
    return last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS or context.lower() in {"apikey", "api_key", "secretkey"}


def _mask(value: str) -> str:
    return f"{value[:4]}…({len(value)} characters)" if len(value) > 6 else f"…({len(value)} characters)"


def _secrets(ctx: Context, cell: AnalysedCell) -> Iterator[Finding]:
    seen: set[int] = set()
    for string in cell.analysis.strings:
        value = string.value
        if string.line in seen:
            continue
        kind = next((label for label, pattern in _TOKENS if pattern.search(value)), None)
        if kind is None:
            url = _CREDENTIAL_URL.search(value)
            if url and not _PLACEHOLDER.match(url.group(2)):
                kind = "connection string with a password"
        if kind is None and _secret_context(string.context) and not _PLACEHOLDER.match(value.strip()) \
                and " " not in value.strip() and not re.fullmatch(r"[A-Z][A-Z0-9_]*", value) and not value.endswith((".json", ".txt", ".pem", ".key")):
            kind = f"value assigned to `{string.context}`"
        if kind:
            seen.add(string.line)
            yield ctx.finding("DL302", f"hard-coded secret: {kind} {_mask(value)}", cell, string.line, string.column)


# -- DL4xx: SQL ----------------------------------------------------------------------------

_SQL_START = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(?:SELECT|WITH|INSERT|UPDATE|DELETE|CREATE|MERGE|DROP|ALTER|REPLACE)\b", re.IGNORECASE)
_SQL_WORDS = re.compile(r"\b(SELECT|FROM|WHERE|JOIN|GROUP\s+BY|ORDER\s+BY|HAVING|LIMIT|INSERT\s+INTO|VALUES|UPDATE|SET|"
                        r"DELETE\s+FROM|CREATE\s+TABLE|UNION|ON|AS|AND|DISTINCT|COUNT|SUM|AVG)\b", re.IGNORECASE)


def _looks_like_sql(text: str) -> bool:
    """A query, not prose: starts with a statement keyword, has three distinct SQL keywords, and
    is not a sentence. NB: "Select the best model from the list, then see where it fails." is prose."""
    if not _SQL_START.match(text) or text.rstrip().endswith((".", "!", "?")):
        return False
    return len({" ".join(word.upper().split()) for word in _SQL_WORDS.findall(text)}) >= 3


def sql(ctx: Context) -> Iterator[Finding]:
    for cell in ctx.analysis.cells:
        for magic in cell.analysis.magics:
            if magic.name in ("sql", "bigquery", "read_sql", "snowflake", "athena", "spark.sql", "sparksql", "kql"):
                query = (magic.body or magic.args).strip()
                first = query.splitlines()[0][:60] if query else ""
                prefix = "%%" if magic.kind == "cell" else "%"
                yield ctx.finding("DL401", f"query in `{prefix}{magic.name}`: {first!r}", cell, magic.line)
        for string in cell.analysis.strings:
            if len(string.value) >= ctx.options.sql_min_length and _looks_like_sql(string.value):
                first = " ".join(string.value.split())[:50]
                yield ctx.finding("DL402", f"{len(string.value)}-character SQL query in a string: {first!r}...", cell,
                                  string.line, string.column)


# -- DL5xx: randomness ------------------------------------------------------------------------

_SEEDS = frozenset({"numpy.random.seed", "random.seed", "torch.manual_seed", "torch.cuda.manual_seed", "torch.cuda.manual_seed_all",
                    "tensorflow.random.set_seed", "tensorflow.set_random_seed", "keras.utils.set_random_seed",
                    "tensorflow.keras.utils.set_random_seed", "transformers.set_seed", "pytorch_lightning.seed_everything",
                    "lightning.seed_everything", "lightning.pytorch.seed_everything", "mxnet.random.seed", "jax.random.PRNGKey"})
_NOT_DRAWS = frozenset({"seed", "default_rng", "RandomState", "Generator", "SeedSequence", "get_state", "set_state", "Random",
                        "SystemRandom", "getstate", "setstate", "PCG64", "MT19937", "Philox", "SFC64", "BitGenerator"})
_TORCH_DRAWS = frozenset({"rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial", "rand_like", "randn_like", "randint_like"})
_RANDOM_STATE = frozenset({
    "train_test_split", "shuffle", "resample", "make_classification", "make_regression", "make_blobs", "make_moons", "make_circles",
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor", "GradientBoostingClassifier",
    "GradientBoostingRegressor", "HistGradientBoostingClassifier", "HistGradientBoostingRegressor", "DecisionTreeClassifier",
    "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor", "AdaBoostClassifier", "AdaBoostRegressor",
    "BaggingClassifier", "BaggingRegressor", "IsolationForest", "RandomTreesEmbedding", "KMeans", "MiniBatchKMeans",
    "BisectingKMeans", "GaussianMixture", "BayesianGaussianMixture", "SGDClassifier", "SGDRegressor", "Perceptron",
    "MLPClassifier", "MLPRegressor", "TSNE", "TruncatedSVD", "LatentDirichletAllocation", "SpectralClustering",
    "RandomizedSearchCV", "ShuffleSplit", "StratifiedShuffleSplit", "GroupShuffleSplit", "permutation_importance",
    "SMOTE", "RandomOverSampler", "RandomUnderSampler", "cross_val_predict_shuffled",
})
_SHUFFLE_SPLITTERS = frozenset({"KFold", "StratifiedKFold", "RepeatedKFold", "GroupKFold"})


def randomness(ctx: Context) -> Iterator[Finding]:
    seeded: set[str] = set()  # "numpy", "random", "torch", "tensorflow"
    for cell in ctx.analysis.cells:
        for call in cell.analysis.calls:
            name = ctx.analysis.canonical(call.name)
            head, tail = name.split(".")[0], name.rsplit(".", 1)[-1]
            if name in _SEEDS:
                seeded.add({"tensorflow": "tensorflow", "keras": "tensorflow"}.get(head, head if head in ("numpy", "random", "torch") else "all"))
                continue
            reason = _unseeded(name, head, tail, call, seeded)
            if reason:
                yield ctx.finding("DL501", reason, cell, call.line, call.column)


def _unseeded(name: str, head: str, tail: str, call: Call, seeded: set[str]) -> str | None:
    everything = "all" in seeded
    if name.startswith("numpy.random.") and name.count(".") == 2:
        if tail in ("default_rng", "RandomState", "Generator") and call.nargs == 0 and call.literal("seed") is None \
                and "seed" not in call.keywords:
            return f"`{call.name}()` without a seed: every run draws different numbers"
        if tail not in _NOT_DRAWS and "numpy" not in seeded and not everything:
            return f"`{call.name}()` draws from NumPy's global generator, which is never seeded above"
        return None
    if head == "random" and name.count(".") == 1 and tail not in _NOT_DRAWS and "random" not in seeded and not everything:
        return f"`{call.name}()` draws from the `random` module, which is never seeded above"
    if head == "torch" and name.count(".") == 1 and tail in _TORCH_DRAWS and "torch" not in seeded and not everything:
        return f"`{call.name}()` draws from torch's global generator; call torch.manual_seed first"
    in_sklearn = head in ("sklearn", "imblearn") or "." not in call.name
    if tail in _SHUFFLE_SPLITTERS and in_sklearn and call.literal("shuffle") is True and call.literal("random_state") is None:
        return f"`{call.name}(shuffle=True)` without random_state"
    if (tail in _RANDOM_STATE and in_sklearn and (head in ("sklearn", "imblearn") or tail[0].isupper() or tail == "train_test_split")
            and call.literal("random_state") is None and "numpy" not in seeded and not everything):
        if "random_state" in call.keywords and ("random_state", None) not in call.literals:
            return None  # random_state=rng or a variable: seeded by the caller
        return f"`{call.name}(...)` without random_state"
    if tail == "sample" and not call.name.startswith(".") and head not in ("random", "numpy") and "." in call.name \
            and "random_state" not in call.keywords and "numpy" not in seeded and not everything:
        return f"`{call.name}(...)` samples rows without random_state"
    return None


# -- DL6xx: structure ------------------------------------------------------------------------

def structure(ctx: Context) -> Iterator[Finding]:
    analysis = ctx.analysis
    variables = {b.name for cell in analysis.cells for b in cell.analysis.bindings if b.how not in ("import", "def", "class")}
    for cell in analysis.cells:
        for imp in cell.analysis.imports:
            if imp.star:
                yield ctx.finding("DL602", f"`from {'.' * imp.level}{imp.module} import *`", cell, imp.line)
        for function in cell.analysis.functions:
            hidden = [name for name in function.reads if name in variables]
            if hidden:
                kind = "class" if function.kind == "class" else "function"
                changes = f"; it also changes {_names(list(function.mutates))}" if function.mutates else ""
                yield ctx.finding("DL601", f"{kind} `{function.name}` reads notebook variable{'s' if len(hidden) > 1 else ''} "
                                           f"{_names(hidden)} instead of taking {'them' if len(hidden) > 1 else 'it'} as parameters"
                                           f"{changes}", cell, function.line)
    yield from _duplicates(ctx)


def _duplicates(ctx: Context) -> Iterator[Finding]:
    """Runs of 3+ top-level statements, or one statement of 5+ lines, seen in an earlier cell."""
    seen: dict[tuple[str, ...], tuple[int, int]] = {}  # window -> (cell, line)
    for cell in ctx.analysis.cells:
        statements = cell.analysis.statements
        reported: set[int] = set()
        windows: list[tuple[tuple[str, ...], int, int]] = []
        for i, statement in enumerate(statements):
            if statement.end_line - statement.line >= 4:
                windows.append(((statement.digest,), i, i))
            if i + 3 <= len(statements):
                windows.append((tuple(s.digest for s in statements[i:i + 3]), i, i + 2))
        for window, start, end in windows:
            earlier = seen.get(window)
            if earlier and earlier[0] != cell.number and earlier[0] not in reported:
                reported.add(earlier[0])
                first, last = statements[start].line, statements[end].end_line
                yield ctx.finding("DL603", f"lines {first}-{last} repeat code from cell {earlier[0]} (line {earlier[1]})",
                                  cell, first)
        for window, start, _ in windows:
            seen.setdefault(window, (cell.number, statements[start].line))


# -- DL7xx: saved outputs ----------------------------------------------------------------------

def outputs(ctx: Context) -> Iterator[Finding]:
    total = 0
    for cell in ctx.analysis.notebook.code_cells:
        size = sum(output.size for output in cell.outputs)
        total += size
        for output in cell.outputs:
            if output.output_type == "error":
                value = f": {output.evalue}" if output.evalue else ""
                yield ctx.finding("DL701", f"saved output is an error, {output.ename}{value[:120]}", cell)
        if size > ctx.options.max_cell_output_kb * 1024:
            yield ctx.finding("DL702", f"outputs of this cell take {size // 1024} KiB (limit {ctx.options.max_cell_output_kb} KiB)", cell)
    if total > ctx.options.max_output_kb * 1024:
        yield ctx.finding("DL702", f"saved outputs take {total // 1024} KiB in all (limit {ctx.options.max_output_kb} KiB)")


CHECKS: tuple[Callable[[Context], Iterator[Finding]], ...] = (
    syntax, execution_order, names, idempotence, dependencies, environment, sql, randomness, structure, outputs,
)
