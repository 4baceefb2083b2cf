"""Code generation: a ``ConversionPlan`` becomes the text of the project's Python modules.

Responsibilities:
- ``pipeline_module``: the ``@step`` functions, one per planned step, in notebook order;
  parameters are the step's inputs (named like the outputs they come from) then its run
  params, sorted, with their types and defaults; the body is the notebook's code, edited
  only where it must be (inline data paths become params, helper calls pass the notebook
  variables they used to read, inputs are renamed or copied);
- ``lib_module``: the helpers, each with the notebook variables it read as keyword-only
  parameters;
- ``import_block``: imports sorted into standard library, third party and project groups.

Edits are made by position on the statement's own AST, so comments and layout survive. The
output depends only on the plan: the same notebook gives the same bytes.
"""

from __future__ import annotations

import ast
import io
import json
import math
import posixpath
import re
import sys
import tokenize
import warnings
from dataclasses import dataclass

from ..analysis.cells import dotted_name
from ..analysis.scope import free_names, module_reads, own_nodes
from .ir import SHOW_CALLS, NotebookIR, Stmt
from .plan import ConversionPlan, Helper, Param, StepPlan, init_method, self_name

INDENT = "    "


@dataclass(frozen=True, slots=True)
class Edit:
    line: int  # 1-based
    col: int  # character offset
    end_line: int
    end_col: int
    text: str


def _char_col(lines: list[str], line: int, byte_col: int) -> int:
    return len(lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def apply_edits(code: str, edits: list[Edit]) -> str:
    """Replace the spans of ``edits`` (non-overlapping) in ``code``."""
    lines = code.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    out = code
    for edit in sorted(edits, key=lambda e: (e.line, e.col), reverse=True):
        start = offsets[edit.line - 1] + edit.col
        end = offsets[edit.end_line - 1] + edit.end_col
        out = out[:start] + edit.text + out[end:]
    return out


def _end(node: ast.arg | ast.expr) -> tuple[int, int]:
    """Where ``node`` ends: line and byte column (``ast.parse`` always sets both)."""
    line = node.end_lineno if node.end_lineno is not None else node.lineno
    col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
    return line, col


def _span(lines: list[str], node: ast.expr, text: str) -> Edit:
    end_line, end_col = _end(node)
    return Edit(node.lineno, _char_col(lines, node.lineno, node.col_offset),
                end_line, _char_col(lines, end_line, end_col), text)


def indent(code: str, prefix: str = INDENT) -> str:
    """Indent every line, except lines that continue a multi-line string (their text is data)."""
    inside: set[int] = set()
    # NB: a string spans lines only with triple quotes or a backslash-newline; else nothing to tokenize
    spans = '"""' in code or "'''" in code or "\\\n" in code
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline) if spans else ():
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    out = []
    for number, line in enumerate(code.split("\n"), start=1):
        out.append(line if number in inside or not line.strip() else prefix + line)
    return "\n".join(out)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    return parents


def _in_fstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.JoinedStr):
            return True
    return False


def helper_call_edits(tree: ast.AST, lines: list[str], helpers: dict[str, Helper], *,
                      parents: dict[ast.AST, ast.AST] | None = None,
                      renames: dict[str, str] | None = None) -> tuple[list[Edit], bool]:
    """Calls of helpers that now take notebook variables as parameters pass them by keyword.

    Returns the edits and whether ``functools`` is needed (a helper passed as a value).
    ``parents``: ``_parents(tree)``, when the caller has it already. ``renames``: the step's
    inputs named after another version (``t1=t1_sgd``), so the value passed is the step's own.
    """
    edits: list[Edit] = []
    needs_functools = False
    parents = parents if parents is not None else _parents(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
            continue
        helper = helpers.get(node.id)
        if helper is None or not helper.needs:
            continue
        keywords = ", ".join(f"{name}={(renames or {}).get(name, name)}" for name in helper.needs)
        parent = parents.get(node)
        if helper.kind == "class" and not (isinstance(parent, ast.Call) and parent.func is node):
            continue  # NB: `isinstance(a, A)` tests against the class itself (plan._class_use_problem)
        if isinstance(parent, ast.Call) and parent.func is node:
            end_line, end_col = parent.end_lineno or node.lineno, _char_col(lines, parent.end_lineno or node.lineno,
                                                                           parent.end_col_offset or 0) - 1
            before = "\n".join(lines[:end_line - 1] + [lines[end_line - 1][:end_col]]).rstrip()
            separator = "" if before.endswith(("(", ",")) else ", "
            edits.append(Edit(end_line, end_col, end_line, end_col, f"{separator}{keywords}"))
        else:
            edits.append(_span(lines, node, f"functools.partial({node.id}, {keywords})"))
            needs_functools = True
    return edits, needs_functools


# -- steps ---------------------------------------------------------------------------------

def _docstring(step: StepPlan) -> str:
    cells = step.cells
    where = f"cell {cells[0]}" if len(cells) == 1 else f"cells {', '.join(map(str, cells))}"
    if step.kind == "figure":
        head = f"Figure drawn in {where}" + (f" ({step.title})" if step.title else "") + "."
    elif step.title:
        head = f"{step.title} (from {where})."
    else:
        head = f"From {where} of the notebook."
    return head


def _param_default(param: Param) -> str:
    if param.is_path:
        return f"Path({json.dumps(str(param.value))})"
    return _literal(param.value)


def _literal(value: object) -> str:
    """Python source for a param's value; ``float("inf")`` where ``repr`` would say ``inf``."""
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, (list, tuple)):
        items = ", ".join(_literal(item) for item in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    return repr(value)


def step_source(step: StepPlan, plan: ConversionPlan, pyplot: str) -> tuple[str, set[str]]:
    """The text of one ``@step`` function, and the names of modules its body needs imported."""
    needs: set[str] = set()
    aliases = set(step.aliases)  # NB: emitting never changes the plan: a second emission gives the same text
    renames = {name: version for name, version in step.inputs
               if version != name and name not in step.copies and name not in aliases}
    body_parts: list[str] = []
    previous_cell: int | None = None
    query = step.statements[0].query if step.kind == "query" else None
    if query is not None:
        versions = dict(step.inputs)
        bound = ", ".join(f"{json.dumps(n)}: {versions.get(n, n)}" for n in query.names)
        if query.in_memory:
            setup = f", setup={query.setup}" if query.setup else ""
            body_parts.append(f"{query.output} = run_query({query.output}_sql, None, {{{bound}}}{setup})")
        else:
            body_parts.append(f"{query.output} = run_query({query.output}_sql, database, {{{bound}}})")
    for s in step.statements if query is None else ():
        if step.kind == "figure" and is_show(s, plan.ir):
            continue
        if s.position in step.dropped:
            continue
        code, uses_functools, unsafe = _statement_code(s, plan, renames)
        if unsafe:
            # NB: the input is named in an f-string or bound again inside the statement
            #     (`[df for df in frames]`): position edits would be wrong, alias it instead
            for name in unsafe:
                renames.pop(name, None)
                aliases.add(name)
            code, uses_functools, _ = _statement_code(s, plan, renames)
        if uses_functools:
            needs.add("functools")
        if s.position in step.value_only:
            code = _value_only(code)
        if previous_cell is not None and s.cell != previous_cell:
            body_parts.append("")
        body_parts.append(code)
        previous_cell = s.cell
    prologue: list[str] = []
    for name, version in step.inputs:
        if name in step.copies:
            prologue.append(f"{name} = copy.deepcopy({version})")
            needs.add("copy")
        elif name in aliases and version != name:
            prologue.append(f"{name} = {version}")
    for folder in step.folders:
        # NB: the notebook found this folder beside it; the project may not have it yet
        prologue.append(f"Path({json.dumps(folder)}).mkdir(parents=True, exist_ok=True)")
        needs.add("Path")
    body = "\n".join(body_parts)
    epilogue: list[str] = []
    if step.kind == "figure":
        # NB: `figure()` of `%pylab` (or the notebook's own `figure`) must stay what the step calls
        used = {n for s in step.statements for n in (*s.reads, *s.binds)}
        local = next(n for n in ("figure", "drawn", "drawn_figure", "step_figure") if n not in used)
        epilogue = [f"{local} = {pyplot}.gcf()", f"{pyplot}.close({local})", f"return {local}"]
        needs.add("pyplot")
    elif len(step.outputs) == 1:
        epilogue = [f"return {step.outputs[0][0]}"]
    elif step.outputs:
        epilogue = ["return " + ", ".join(name for name, _ in step.outputs)]
    elif not step.files:
        epilogue = ["return None"]
    signature = [version for _, version in step.inputs]
    # NB: a secret has no default (its value is `${env:NAME}` in params.yaml), nor has a list:
    #     a mutable default would be shared between calls; its value lives in params.yaml
    def no_default(param: Param) -> bool:
        return param.env is not None or isinstance(param.value, list)

    for name in sorted(step.params, key=lambda n: (not no_default(plan.params[n]), n)):
        param = plan.params[name]
        if no_default(param):
            signature.append(f"{name}: {param.annotation}")
        else:
            signature.append(f"{name}: {param.annotation} = {_param_default(param)}")
    decorator = "@step"
    if step.kind != "figure" and len(step.outputs) > 1:
        decorator = "@step(outputs=(" + ", ".join(json.dumps(v) for _, v in step.outputs) + "))"
    metrics = [v for n, v in step.outputs if n in plan.ir.metrics] if step.kind != "figure" else []
    if metrics:
        listed = "metrics=(" + ", ".join(json.dumps(v) for v in metrics) + ("," if len(metrics) == 1 else "") + ")"
        decorator = f"{decorator[:-1]}, {listed})" if decorator.endswith(")") else f"@step({listed})"
    if step.files:
        listed = "writes=[" + ", ".join(json.dumps(path) for path in step.files) + "]"
        decorator = f"{decorator[:-1]}, {listed})" if decorator.endswith(")") else f"@step({listed})"
    header = f"def {step.name}({', '.join(signature)}):"
    if len(header) > 100:
        header = f"def {step.name}(\n" + "".join(f"{INDENT}{part},\n" for part in signature) + "):"
    parts = [decorator, header, indent(f'"""{_docstring(step)}"""')]
    if prologue:
        parts.append(indent("\n".join(prologue)))
    if body.strip():
        parts.append(indent(body))
    if epilogue:
        parts.append(indent("\n".join(epilogue)))
    return "\n".join(parts), needs


def _value_only(code: str) -> str:
    """``x = call(...)`` as ``call(...)``: the comments above it and the call's own text kept."""
    tree = quiet_parse(code)
    node = tree.body[-1]
    assert isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
    lines = code.split("\n")
    start = Edit(node.lineno, _char_col(lines, node.lineno, node.col_offset), node.value.lineno,
                 _char_col(lines, node.value.lineno, node.value.col_offset), "")
    return apply_edits(code, [start])


_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "with", "def", "class", "try", "except", "finally",
                       "async", "match", "case", "@"})


def one_statement_a_line(code: str) -> str:
    """Statements joined with ``;`` on separate lines, and a trailing ``;`` dropped.

    NB: in a notebook `df.head();` hides the value; in a module it means nothing, and a reviewer
        (and `ruff check`) asks for one statement a line. A ``;`` after a compound header on
        the same line (`if x: a; b`) is left alone: splitting it would change the block.

    Example:
        >>> one_statement_a_line("a = 1; b = 2\nplt.show();")
        'a = 1\nb = 2\nplt.show()'
    """
    if ";" not in code:
        return code
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return code
    lines = code.split("\n")
    edits: list[tuple[int, int, int, str]] = []  # row, start col, end col, replacement
    first: tokenize.TokenInfo | None = None
    skip = (tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT, tokenize.ENCODING)
    for index, token in enumerate(tokens):
        if token.type == tokenize.NEWLINE:
            first = None
            continue
        if token.type in skip:
            continue
        if first is None:
            first = token
        if token.type != tokenize.OP or token.string != ";":
            continue
        after = next((t for t in tokens[index + 1:] if t.type not in (tokenize.NL, tokenize.COMMENT)), None)
        row, col = token.start
        if after is None or after.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or after.start[0] != row:
            edits.append((row, col, col + 1, ""))
        elif first.string not in _COMPOUND:
            edits.append((row, col, after.start[1], "\n" + " " * first.start[1]))
    for row, start, end, text in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = (line[:start].rstrip() if not text else line[:start]) + text + line[end:]
    return "\n".join(lines)


def _statement_code(s: Stmt, plan: ConversionPlan, renames: dict[str, str]) -> tuple[str, bool, set[str]]:
    code, uses_functools, unsafe = _statement_code_as_is(s, plan, renames)
    return one_statement_a_line(code), uses_functools, unsafe


def _statement_code_as_is(s: Stmt, plan: ConversionPlan, renames: dict[str, str]) -> tuple[str, bool, set[str]]:
    code = result_code(s)
    if not _may_edit(s, plan, renames):
        return code, False, set()
    tree = quiet_parse(code)
    lines = code.split("\n")
    parents = _parents(tree)
    edits, uses_functools = helper_call_edits(tree, lines, plan.helpers, parents=parents, renames=renames)
    unsafe: set[str] = set()
    exprs = plan.inline_exprs.get(s.position, {})
    replaced: set[int] = set()  # nodes inside a path expression that is replaced as a whole
    for node in ast.walk(tree):
        if id(node) in replaced:
            continue
        if exprs and isinstance(node, ast.expr) and ast.dump(node) in exprs and not _in_fstring(node, parents):
            edits.append(_span(lines, node, exprs[ast.dump(node)]))
            replaced.update(id(inner) for inner in ast.walk(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in plan.inline_paths \
                and not _in_fstring(node, parents):
            edits.append(_span(lines, node, plan.inline_paths[node.value]))
        elif isinstance(node, ast.Name) and node.id in renames:
            if not isinstance(node.ctx, ast.Load) or _in_fstring(node, parents):
                unsafe.add(node.id)
            elif node.id in plan.helpers and isinstance(parents.get(node), ast.Call):
                continue
            else:
                edits.append(_span(lines, node, renames[node.id]))
    edits.extend(_binding_calls(tree, lines, plan.helpers))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.comprehension, ast.arg)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name) and inner.id in renames and not isinstance(inner.ctx, ast.Load):
                    unsafe.add(inner.id)
                if isinstance(inner, ast.arg) and inner.arg in renames:
                    unsafe.add(inner.arg)
    if unsafe:
        return code, uses_functools, unsafe
    # helper-call edits and rename edits may touch the same Name (a helper called with an input): keep both
    return apply_edits(code, _merge(edits)), uses_functools, set()


def _same_node(a: ast.AST, b: ast.AST) -> bool:
    """Whether two expressions are the same, compared node by node without recursion (a shown
    expression may be nested deeper than ``ast.dump`` can go)."""
    left, right = list(ast.walk(a)), list(ast.walk(b))
    if len(left) != len(right):
        return False
    for x, y in zip(left, right, strict=True):
        if type(x) is not type(y):
            return False
        for name, value in ast.iter_fields(x):
            if not isinstance(value, (ast.AST, list)) and value != getattr(y, name, None):
                return False
    return True


def result_code(s: Stmt, *, notebook: bool = False) -> str:
    """The statement's code with each new value it shows bound to its output name first.

        print(metrics.accuracy_score(y, p))  ->  accuracy_score = metrics.accuracy_score(y, p)
                                                 print(accuracy_score)
        cross_val_score(m, X, y).mean()      ->  cross_val_score_mean = cross_val_score(m, X, y).mean()

    A ``print`` keeps printing (the names in place of the expressions); other displays are
    dropped, since ``display`` exists only in a notebook (kept with ``notebook=True``).
    """
    if not s.results:
        return s.code
    code = s.code
    tree = quiet_parse(code)
    statement = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(statement, ast.Expr):
        return code
    nodes = list(ast.walk(statement))
    found: list[tuple[str, ast.expr]] = []
    for shown in s.shows:
        if not shown.result:
            continue
        node = nodes[shown.walk_index] if shown.walk_index < len(nodes) else None
        if not isinstance(node, ast.expr) or not _same_node(node, shown.node):
            return code
        found.append((shown.result, node))
    lines = code.split("\n")
    start = Edit(statement.lineno, 0, statement.lineno, _char_col(lines, statement.lineno, statement.col_offset), "")
    if len(found) == 1 and found[0][1] is statement.value:
        return apply_edits(code, [Edit(start.line, start.end_col, start.line, start.end_col, f"{found[0][0]} = ")])
    assignments: list[str] = []
    exact = True
    for name, node in found:
        segment = ast.get_source_segment(code, node)
        try:
            same = segment is not None and ast.dump(quiet_parse(f"({segment})").body[0]) == ast.dump(ast.Expr(node))
        except SyntaxError:
            same = False
        exact &= same
        assignments.append(f"{name} = {segment if same else ast.unparse(node)}")
    value = statement.value
    keep = exact and isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
        and (value.func.id == "print" or notebook)
    edits = [_span(lines, node, name) for name, node in found] if keep else [
        _span(lines, value, "")]
    prefix = "\n".join(assignments) + ("\n" if keep else "")
    edits.append(Edit(start.line, start.end_col, start.line, start.end_col, prefix))
    return apply_edits(code, edits).rstrip()


def _binding_calls(tree: ast.AST, lines: list[str], helpers: dict[str, Helper]) -> list[Edit]:
    """Each call of a helper that now returns the notebook variables it assigned with `global`
    binds them (``plan._global_problem`` checked that every call is a statement of its own).

    NB: add(1)       ->  total = add(1, total=total)
        x = pick(1)  ->  x, chosen = pick(1)
    """
    edits: list[Edit] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) or isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            call = node.value
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                continue
            helper = helpers.get(call.func.id)
            if helper is None or not helper.sets:
                continue
            values = ", ".join(helper.sets)
            if isinstance(node, ast.Assign):
                target = node.targets[0]
                assert isinstance(target, ast.Name)
                edits.append(_span(lines, target, f"{target.id}, {values}"))
            else:
                start = _char_col(lines, node.lineno, node.col_offset)
                edits.append(Edit(node.lineno, start, node.lineno, start, f"{'_, ' if helper.returns else ''}{values} = "))
    return edits


def _may_edit(s: Stmt, plan: ConversionPlan, renames: dict[str, str]) -> bool:
    """Whether ``s`` names an input to rename, a helper that takes notebook variables, or an inline path.

    Most statements name none: their code is used as it is, without parsing and walking it again.
    """
    if s.position in plan.inline_exprs:
        return True
    for node in s.subnodes:
        if isinstance(node, ast.Name):
            helper = plan.helpers.get(node.id)
            if node.id in renames or (helper is not None and (helper.needs or helper.sets)):
                return True
        elif isinstance(node, ast.arg):
            if node.arg in renames:
                return True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in plan.inline_paths:
            return True
    return False


def _merge(edits: list[Edit]) -> list[Edit]:
    seen: dict[tuple[int, int, int, int], Edit] = {}
    for edit in edits:
        key = (edit.line, edit.col, edit.end_line, edit.end_col)
        if key in seen and edit.line == edit.end_line and edit.col == edit.end_col:
            seen[key] = Edit(edit.line, edit.col, edit.end_line, edit.end_col, seen[key].text + edit.text)
        else:
            seen[key] = edit
    return list(seen.values())


def is_show(s: Stmt, ir: NotebookIR) -> bool:
    """Whether ``s`` is a bare call that shows a figure: ``plt.show()``, ``fig.show()``...

    A figure step leaves it out of its function, and ``verify`` captures the figure before it.
    """
    node = s.node
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    name = dotted_name(node.value.func)
    return name is not None and (name in SHOW_CALLS or ir.canonical(name) in SHOW_CALLS)


# -- modules -------------------------------------------------------------------------------

def import_lines(ir: NotebookIR, names: set[str]) -> list[str]:
    """Import statements binding ``names``, as the notebook wrote them (one per module)."""
    plain: dict[str, set[str]] = {}
    froms: dict[str, list[str]] = {}
    for s in ir.imports:
        for imp in s.analysis.imports:
            if imp.bound not in names or imp.star:
                continue
            module = "." * imp.level + imp.module
            if imp.name is None:
                plain.setdefault(module, set()).add(imp.bound if imp.bound != imp.top else "")
            else:
                alias = imp.name if imp.bound == imp.name else f"{imp.name} as {imp.bound}"
                if alias not in froms.setdefault(module, []):
                    froms[module].append(alias)
    lines = [f"import {module}" + (f" as {alias}" if alias else "") for module, aliases in plain.items()
             for alias in aliases]
    lines += [f"from {module} import {', '.join(sorted(items))}" for module, items in froms.items()]
    return lines


def format_imports(lines: list[str], local_modules: set[str]) -> list[str]:
    """Import lines in three groups (standard library, third party, the project), each sorted."""
    groups: dict[int, set[str]] = {0: set(), 1: set(), 2: set()}
    for line in lines:
        groups[_group(line.split()[1], local_modules)].add(line)
    out: list[str] = []
    for key in (0, 1, 2):
        if groups[key]:
            if out:
                out.append("")
            ordered = sorted(groups[key], key=lambda line: (line.startswith("from"), line.split()[1].lower(), line))
            out.extend(wrap_import(line) for line in ordered)
    return out


#: Longest import line before it is wrapped, one name a line (the common formatters' default).
IMPORT_WIDTH = 88


def wrap_import(line: str) -> str:
    """``from m import a, b, ...`` longer than ``IMPORT_WIDTH``, as a parenthesised list."""
    if len(line) <= IMPORT_WIDTH or not line.startswith("from ") or "(" in line:
        return line
    head, _, names = line.partition(" import ")
    return head + " import (\n" + "".join(f"    {name.strip()},\n" for name in names.split(",")) + ")"


def _group(module: str, local_modules: set[str]) -> int:
    top = module.lstrip(".").split(".")[0]
    if module.startswith(".") or top in local_modules:
        return 2
    # NB: IPython is third party in a generated project (lint counts it as the kernel's own)
    return 0 if top in sys.stdlib_module_names or top == "__future__" else 1


_FROM_MODULE = re.compile(r"from\s+([\w.]+)\s+import\b")


def rewrite_local_imports(code: str, names: dict[str, str], package: str) -> str:
    """``code`` with its imports of the notebook's own modules pointing into ``package``.

    ``names`` maps each module's top-level name to its name inside the package (``formats``
    → ``formats``). ``from formats import f`` → ``from pkg.formats import f``; ``import
    formats as fm`` → ``from pkg import formats as fm``; ``import homemade.k_means`` →
    ``import pkg.homemade.k_means; from pkg import homemade``. Lines stay where they were.
    """
    if not names or not any(top in code for top in names):
        return code
    try:
        tree = quiet_parse(code)
    except SyntaxError:
        return code
    lines = code.split("\n")
    edits: list[Edit] = []

    def inside(module: str) -> str:
        top, _, rest = module.partition(".")
        return f"{package}.{names[top]}" + (f".{rest}" if rest else "")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] in names:
            col = _char_col(lines, node.lineno, node.col_offset)
            match = _FROM_MODULE.match(lines[node.lineno - 1], col)
            if match and match.group(1) == node.module:
                edits.append(Edit(node.lineno, match.start(1), node.lineno, match.end(1), inside(node.module)))
            else:
                new = ast.ImportFrom(inside(node.module), node.names, 0)
                edits.append(_statement_span(lines, node, ast.unparse(new)))
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] in names for a in node.names):
            parts: list[str] = []
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top not in names:
                    parts.append(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
                elif not rest or alias.asname:
                    bound = alias.asname or top
                    parts.append(f"import {inside(alias.name)} as {bound}" if rest else
                                 f"from {package} import {names[top]}" + (f" as {bound}" if bound != names[top] else ""))
                else:
                    parts.append(f"import {inside(alias.name)}")
                    parts.append(f"from {package} import {names[top]}" + (f" as {top}" if top != names[top] else ""))
            edits.append(_statement_span(lines, node, "; ".join(parts)))
    return apply_edits(code, edits) if edits else code


def _statement_span(lines: list[str], node: ast.stmt, text: str) -> Edit:
    end_line = node.end_lineno if node.end_lineno is not None else node.lineno
    end_col = node.end_col_offset if node.end_col_offset is not None else len(lines[end_line - 1].encode("utf-8"))
    return Edit(node.lineno, _char_col(lines, node.lineno, node.col_offset), end_line,
                _char_col(lines, end_line, end_col), text)




#: Names a notebook's kernel provides without an import, and the import a module needs for them.
KERNEL_NAMES = {"display": "from IPython.display import display"}


def kernel_imports(ir: NotebookIR, names: set[str]) -> list[str]:
    """Imports for the names the notebook used from its kernel (``display``) and never defined."""
    defined = ir.import_names | {n for s in ir.statements for n in s.binds}
    return [line for name, line in KERNEL_NAMES.items() if name in names and name not in defined]


def used_names(code: str) -> set[str]:
    """The module-level names ``code`` reads: what its module must import.

    NB: a name a function imports for itself (`import pytrends` inside a method) is not one:
        importing it at the top too would be an unused import, then a redefinition
    """
    names: set[str] = set()
    for statement in quiet_parse(code).body:
        names |= free_names(statement).reads
    return names


def pipeline_module(plan: ConversionPlan, package: str, title: str, local_modules: set[str]) -> str:
    """The text of ``pipeline.py``."""
    ir = plan.ir
    pyplot = next((bound for bound, target in ir.aliases.items() if target == "matplotlib.pyplot"), "plt")
    functions: list[str] = []
    needs: set[str] = set()
    for step in plan.steps:
        text, step_needs = step_source(step, plan, pyplot)
        functions.append(text)
        needs |= step_needs
    body = "\n\n\n".join(functions)
    setup = [_rewritten(s, plan) for s in ir.statements if s.kind == "setup"]
    setup_code = "\n".join(setup)
    names = (used_names(body) if body else set()) | (used_names(setup_code) if setup_code else set())
    lines = import_lines(ir, names & ir.import_names) + kernel_imports(ir, names)
    if "copy" in needs and "copy" not in ir.import_names:
        lines.append("import copy")
    if "functools" in needs and "functools" not in ir.import_names:
        lines.append("import functools")
    if "os" in names and "os" not in ir.import_names:
        lines.append("import os")  # NB: a secret read with os.environ
    if (any(plan.params[n].is_path for step in plan.steps for n in step.params) or "Path" in needs) \
            and "Path" not in ir.import_names:
        lines.append("from pathlib import Path")
    if "pyplot" in needs and pyplot not in ir.import_names:
        lines.append(f"import matplotlib.pyplot as {pyplot}")
    secret = any(plan.params[name].env is not None for step in plan.steps for name in step.params)
    lines.append("from distill import Secret, step" if secret else "from distill import step")
    helpers_used = sorted({h for step in plan.steps for h in step.helpers} & names)
    if helpers_used:
        lines.append(f"from {package}.lib import {', '.join(helpers_used)}")
    imports = format_imports(lines, local_modules | {package})
    graph = _graph_doc(plan)
    doc = f'"""{title}: the notebook as a pipeline.\n\nStep graph (an edge is an output another step makes, or a file it writes)::\n\n{graph}\n"""'
    head = f"{doc}\n\n" + "\n".join(imports)
    if setup:
        head += "\n\n# Library settings from the notebook; they apply to every step.\n" + "\n".join(setup)
    return head + "\n\n\n" + body + "\n"


def _rewritten(s: Stmt, plan: ConversionPlan) -> str:
    """The code of a statement emitted as it is (a setting), its secrets read from the environment."""
    rewrites = plan.secret_exprs.get(s.position)
    if not rewrites:
        return s.code
    tree = quiet_parse(s.code)
    return apply_edits(s.code, expression_edits(tree, s.code.split("\n"), rewrites))


def expression_edits(tree: ast.AST, lines: list[str], rewrites: dict[str, str]) -> list[Edit]:
    """Edits replacing each expression whose ``ast.dump`` is a key of ``rewrites`` (outermost first)."""
    if not rewrites:
        return []
    edits: list[Edit] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.expr) and not isinstance(node, ast.JoinedStr) and ast.dump(node) in rewrites:
            edits.append(_span(lines, node, rewrites[ast.dump(node)]))
            continue
        if isinstance(node, ast.JoinedStr):
            continue  # NB: a part of an f-string has no span of its own to replace
        todo.extend(ast.iter_child_nodes(node))
    return edits


def _graph_doc(plan: ConversionPlan) -> str:
    """One line per step: what it reads (outputs, files other steps write) -> what it makes.

    Example::

        df -> cell_2 -> out/clean.csv
        out/clean.csv -> total
    """
    writer = {path: step.name for step in plan.steps for path in step.files}
    lines = []
    for step in plan.steps:
        read_files = sorted({path for s in step.statements for access in s.analysis.files if access.mode == "read"
                             and (path := posixpath.normpath(access.path)) in writer and writer[path] != step.name})
        sources = [*sorted({version for _, version in step.inputs}), *read_files]
        made = [v for _, v in step.outputs] + list(step.files)
        label = step.name if not made or made == [step.name] else f"{step.name} -> {', '.join(made)}"
        lines.append(f"    {', '.join(sources)} -> {label}" if sources else f"    {label}")
    return "\n".join(lines)


def lib_module(plan: ConversionPlan, title: str, local_modules: set[str]) -> str:
    """The text of ``lib.py``: the notebook's functions and classes."""
    ir = plan.ir
    parts: list[str] = []
    needs_functools = False
    for helper in _ordered_helpers(plan):
        code = helper.stmt.code
        tree = quiet_parse(code)
        lines = code.split("\n")
        if helper.kind == "class" and helper.needs:
            edits, uses_functools = _class_edits(tree, lines, helper, plan.helpers)
        else:
            edits, uses_functools = helper_call_edits(tree, lines, plan.helpers)
            if helper.needs:
                edits.extend(_signature_edits(tree, lines, helper))
            if helper.sets:
                edits.extend(_global_edits(tree, lines, helper))
        edits.extend(expression_edits(tree, lines, plan.secret_exprs.get(helper.stmt.position, {})))
        needs_functools |= uses_functools
        parts.append(one_statement_a_line(apply_edits(code, edits)))
    if any(step.kind == "query" for step in plan.steps):
        parts.append(RUN_QUERY)
    if plan.lib_constants:  # NB: read by a default value or a class attribute when lib.py is imported
        parts.insert(0, "\n".join(one_statement_a_line(s.code) for s in plan.lib_constants))
    body = "\n\n\n".join(dict.fromkeys(parts))
    names = used_names(body) if body else set()
    lines = import_lines(ir, names & ir.import_names) + kernel_imports(ir, names)
    if RUN_QUERY in parts:
        lines += ["import contextlib", "import re", "import sqlite3", "from pathlib import Path"]
    if needs_functools and "functools" not in ir.import_names:
        lines.append("import functools")
    if "os" in names and "os" not in ir.import_names:
        lines.append("import os")  # NB: a secret read with os.environ
    imports = format_imports(lines, local_modules)
    doc = (f'"""Helpers of {title}: the functions and classes the notebook defined.\n\n'
           'The notebook variables a function used to read are now keyword-only parameters (of\n'
           '`__init__` for a class, which keeps them as attributes).\n'
           + ('A function that assigned notebook variables with `global` returns them instead.\n'
              if any(h.sets for h in plan.helpers.values()) else '') + '"""')
    text = doc + "\n"
    if imports:
        text += "\n" + "\n".join(imports) + "\n"
    if body:
        # NB: two blank lines before a def or class, one before constants (the import sorters' rule)
        text += ("\n" if plan.lib_constants and imports else "\n\n") + body + "\n"
    return text


def _ordered_helpers(plan: ConversionPlan) -> list[Helper]:
    seen: dict[int, Helper] = {}
    for helper in plan.helpers.values():
        seen.setdefault(helper.stmt.position, helper)
    return [seen[k] for k in sorted(seen)]


def _class_edits(tree: ast.Module, lines: list[str], helper: Helper, helpers: dict[str, Helper]
                 ) -> tuple[list[Edit], bool]:
    """A class that read notebook variables takes them in ``__init__`` and keeps them as attributes.

    ``plan.class_needs_problem`` checked the shape: an ``__init__`` of its own, every read in a
    method that has ``self``, no attribute or parameter of the same name already.
    NB: class A:                           class A:
            def __init__(self, k=1):           def __init__(self, k=1, *, rooms_ix):
                self.k = k          ->             self.rooms_ix = rooms_ix
            def f(self, X):                        self.k = k
                return X[:, rooms_ix]          def f(self, X):
                                                   return X[:, self.rooms_ix]
    """
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == helper.name)
    init = init_method(node)
    assert init is not None
    edits = _keyword_edits(init, lines, helper.needs)
    first = init.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str) \
            and len(init.body) > 1:
        first = init.body[1]  # NB: after the docstring
    me = self_name(init)
    pad = lines[first.lineno - 1][:_char_col(lines, first.lineno, first.col_offset)]
    keep = "".join(f"{me}.{name} = {name}\n{pad}" for name in helper.needs)
    edits.append(Edit(first.lineno, len(pad), first.lineno, len(pad), keep))
    needing = {name for name, h in helpers.items() if h.needs}
    uses_functools = False
    for method in node.body:
        if not isinstance(method, ast.FunctionDef) or self_name(method) is None:
            continue
        me = self_name(method)
        for read, _ in module_reads(method, set(helper.needs)):
            edits.append(_span(lines, read, f"{me}.{read.id}"))
        if any(isinstance(n, ast.Name) and n.id in needing for n in ast.walk(method)):
            calls, functools_needed = helper_call_edits(method, lines, helpers,
                                                        renames={n: f"{me}.{n}" for n in helper.needs})
            edits.extend(calls)
            uses_functools |= functools_needed
    return edits, uses_functools


def _global_edits(tree: ast.Module, lines: list[str], helper: Helper) -> list[Edit]:
    """A function that assigned notebook variables with `global` returns them instead.

    ``plan._global_problem`` checked the shape (a plain function, no `global` in a function
    inside it).
    NB: def add(v):                     def add(v, *, total):
            global total                    total += v
            total += v           ->         return total
    Its own result, if it has one, comes first: ``return x`` -> ``return x, total``.
    """
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == helper.name)
    values = ", ".join(helper.sets)
    edits = _global_statements_out(node, lines)
    for sub in own_nodes(node):
        if isinstance(sub, ast.Return):
            if not helper.returns:
                edits.append(_statement_span(lines, sub, f"return {values}"))
            elif sub.value is None:
                edits.append(_statement_span(lines, sub, f"return None, {values}"))
            else:
                value = sub.value
                text = ast.get_source_segment("\n".join(lines), value) or ast.unparse(value)
                wrapped = f"({text})" if isinstance(value, ast.Tuple) and not text.startswith("(") else text
                edits.append(_span(lines, value, f"{wrapped}, {values}"))
    last = node.body[-1]
    if not isinstance(last, ast.Return):
        end = last.end_lineno or last.lineno
        pad = lines[node.body[0].lineno - 1][:_char_col(lines, node.body[0].lineno, node.body[0].col_offset)]
        result = f"None, {values}" if helper.returns else values
        edits.append(Edit(end, len(lines[end - 1]), end, len(lines[end - 1]), f"\n{pad}return {result}"))
    return edits


def _global_statements_out(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> list[Edit]:
    """Edits that take out the function's `global` statements (its names are parameters now:
    a name cannot be both)."""
    edits: list[Edit] = []
    for sub in own_nodes(node):
        if isinstance(sub, ast.Global):
            alone = lines[sub.lineno - 1].strip() == ast.unparse(sub) and sub.lineno < len(lines)
            if alone and not _only_statement(node, sub):
                edits.append(Edit(sub.lineno, 0, sub.lineno + 1, 0, ""))  # NB: the line goes
            else:
                edits.append(_statement_span(lines, sub, "pass"))
    return edits


def _only_statement(function: ast.FunctionDef | ast.AsyncFunctionDef, statement: ast.stmt) -> bool:
    """Whether ``statement`` is alone in its block, so that leaving it out would leave the block empty."""
    for sub in [function, *own_nodes(function)]:
        for field in ("body", "orelse", "finalbody"):
            block = getattr(sub, field, None)
            if isinstance(block, list) and statement in block:
                return len(block) == 1
    return False


def _signature_edits(tree: ast.Module, lines: list[str], helper: Helper) -> list[Edit]:
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == helper.name), None)
    if node is None:
        return []
    edits = _keyword_edits(node, lines, helper.needs)
    if not helper.sets and any(isinstance(sub, ast.Global) and set(sub.names) & set(helper.needs)
                               for sub in ast.walk(node)):
        edits += _global_statements_out(node, lines)  # NB: `global x` only read: x is a parameter now
    return edits


def _keyword_edits(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], names: tuple[str, ...]
                   ) -> list[Edit]:
    """Edits that add ``names`` to ``node``'s signature as keyword-only parameters."""
    args = node.args
    added = ", ".join(names)
    if args.kwarg is not None:
        anchor = args.kwarg
        star = "" if (args.vararg or args.kwonlyargs) else "*, "
        return [Edit(anchor.lineno, _char_col(lines, anchor.lineno, anchor.col_offset) - 2,
                     anchor.lineno, _char_col(lines, anchor.lineno, anchor.col_offset) - 2, f"{star}{added}, ")]
    last: ast.arg | ast.expr | None = None
    for candidate in [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, *args.defaults,
                      *[d for d in args.kw_defaults if d is not None]]:
        if candidate is not None and (last is None or _end(candidate) > _end(last)):
            last = candidate
    if last is None:
        # no parameters: insert right after the opening parenthesis
        line = node.lineno
        text = lines[line - 1]
        col = text.index("(", text.index(node.name)) + 1
        return [Edit(line, col, line, col, f"*, {added}")]
    star = "" if (args.vararg or args.kwonlyargs) else "*, "
    end_line, end_byte = _end(last)
    end_col = _char_col(lines, end_line, end_byte)
    return [Edit(end_line, end_col, end_line, end_col, f", {star}{added}")]


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


RUN_QUERY = '''def run_query(sql_file, database, parameters, setup=None):
    """Rows of the query in ``sql_file`` as a DataFrame.

    ``database`` is a SQLite file (a ``Path``), a SQLAlchemy URL, or ``None``: a new SQLite
    database in memory, built by running the SQL file ``setup`` first. A ``:name`` in the
    query is bound to ``parameters[name]``; a ``{name}`` is replaced by its value, which must be
    a number or a plain name (a column or a table), or, written ``'{name}'``, text without a quote.
    """
    import pandas as pd

    def put(match):
        name = match.group(1) or match.group(2)
        value = parameters[name]
        if match.group(1) and "'" not in str(value):
            return f"'{value}'"  # NB: written in quotes, '{name}': any text without a quote
        if isinstance(value, (int, float)) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(value)):
            return str(value)
        raise ValueError(f"{{{name}}} in {sql_file} must be a number or a name, not {value!r}: set the param "
                         f"{name} to one, or write '{{{name}}}' in quotes in the query for text")

    query = re.sub(r"'\\{(\\w+)\\}'|\\{(\\w+)\\}", put, Path(sql_file).read_text())
    if isinstance(database, Path):
        with contextlib.closing(sqlite3.connect(database)) as connection:
            return pd.read_sql_query(query, connection, params=parameters)
    if database is None:
        with contextlib.closing(sqlite3.connect(":memory:")) as connection:
            if setup is not None:
                connection.executescript(Path(setup).read_text())
            return pd.read_sql_query(query, connection, params=parameters)
    import sqlalchemy

    engine = sqlalchemy.create_engine(database)
    with engine.connect() as connection:
        return pd.read_sql_query(sqlalchemy.text(query), connection, params=parameters)'''


def quiet_parse(code: str) -> ast.Module:
    """``ast.parse`` without warnings about the user's own string escapes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(code)
