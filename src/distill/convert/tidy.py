"""Rewrites of the notebook authors' code that keep what it does and drop what linters flag.

Responsibilities:
- ``tidy(code) -> code``: a generated module with legacy forms written the way the common
  linters' default rules want, each rewrite applied only where it cannot change a value:
  - ``u"..."`` → ``"..."`` (the prefix means nothing in Python 3);
  - ``class A():`` → ``class A:``;
  - a string whose backslashes are all invalid escapes (``"\\s+"``) → a raw string with
    the same value (a warning today, an error in a later Python);
  - ``"{} of {}".format(a, b)`` → ``f"{a} of {b}"`` when every argument is a plain name,
    attribute, item or call of those, used once, and fits in the string's quotes;
  - ``"%s: %.2f" % (a, b)`` → ``f"{a}: {b:.2f}"`` for ``%s``, ``%r`` and ``%.Nf`` only
    and ``%d`` of ``round(x)``, ``len(x)`` or ``int(x)`` (``%d`` truncates a float, which
    ``{:d}`` refuses). NB: a single name on the right that
    holds a 1-tuple formats its item with ``%``, the tuple with an f-string; notebooks do not
    write that on purpose, and verify compares the values;
  - a mutable default (``def f(x=[])``) → ``None``, and the body starts with
    ``if x is None: x = []`` (a fresh value per call, as the author meant);
  - a name a tuple assignment in a function binds and nothing reads → ``_name``;
  - ``f = open(...)``, ..., ``f.close()`` in one block → ``with open(...) as f:`` around the
    statements between (the file closes where it did, and on an error too); a file never
    closed, whose every use reads or writes it whole, closes after its last use.

Every rewrite is checked: the module must still parse, and the rewrites that change no
expression (prefixes, parentheses, raw strings) must leave the same AST; a rewrite that
fails its check is not applied. Pure: text in, text out.
"""

from __future__ import annotations

import ast
import io
import re
import string
import tokenize
import warnings
from collections.abc import Callable

from ..analysis.scope import FUNCTIONS, own_nodes


def tidy(code: str) -> str:
    """``code`` with the rewrites above applied, each one only if it passes its check.

    The tree each accepted rewrite is checked with is the one the next rewrite reads: the
    module is parsed once per rewrite, not twice.
    """
    tree = _parse(code)
    if tree is None:
        return code
    for rewrite, same_tree in ((_string_prefixes, True), (_empty_bases, True), (_format_calls, False),
                               (_percent_formats, False), (_mutable_defaults, False), (_unused_unpacked, False)):
        code, tree = _checked(code, tree, rewrite, same_tree)
    for _ in range(MAX_WITH_REWRITES):
        rewritten, tree = _checked(code, tree, _closed_files, False)
        if rewritten == code:
            break
        code = rewritten
    return code


#: How many ``f = open(...)`` ... ``f.close()`` pairs one module may have rewritten (one per pass).
MAX_WITH_REWRITES = 50


def _parse(code: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _checked(code: str, tree: ast.Module, rewrite: Callable[[str, ast.Module], str], same_tree: bool
             ) -> tuple[str, ast.Module]:
    """``rewrite(code)`` and its tree when it parses (and, if ``same_tree``, leaves the same AST);
    else ``code`` and ``tree`` as they were."""
    try:
        after = rewrite(code, tree)
    except (SyntaxError, ValueError, tokenize.TokenError, IndentationError):
        return code, tree
    if after == code:
        return code, tree
    parsed = _parse(after)
    if parsed is None or same_tree and _dump(parsed) != _dump(tree):
        return code, tree
    return after, parsed


def _dump(tree: ast.AST) -> str:
    """The tree's dump, without the one field in which ``u"x"`` and ``"x"`` differ."""
    return ast.dump(tree).replace(", kind='u'", "")


# -- edits ---------------------------------------------------------------------------------

def _offsets(code: str) -> list[int]:
    starts = [0]
    for line in code.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def _apply(code: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace ``(start, end, text)`` character spans, which must not overlap."""
    for start, end, text in sorted(edits, reverse=True):
        code = code[:start] + text + code[end:]
    return code


def _span(code: str, starts: list[int], node: ast.AST) -> tuple[int, int]:
    lines = code.split("\n")

    def at(line: int, col: int) -> int:
        return starts[line - 1] + len(lines[line - 1].encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    end_line = getattr(node, "end_lineno", None) or node.lineno  # type: ignore[attr-defined]
    end_col = getattr(node, "end_col_offset", None)
    return at(node.lineno, node.col_offset), at(end_line, end_col if end_col is not None else 0)  # type: ignore[attr-defined]


# -- strings -------------------------------------------------------------------------------

_PREFIX = re.compile(r"^([A-Za-z]*)(['\"]{3}|['\"])")
_VALID_ESCAPE = re.compile(r"\\(?:[\\'\"abfnrtv\n0-7]|x|N\{|u|U)")


def _string_prefixes(code: str, tree: ast.Module) -> str:
    """``u"x"`` → ``"x"``; ``"\\s"`` → ``r"\\s"`` when no escape in it is a valid one."""
    starts = _offsets(code)
    edits: list[tuple[int, int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type != tokenize.STRING:
            continue
        match = _PREFIX.match(token.string)
        if match is None:
            continue
        prefix = match.group(1)
        start = starts[token.start[0] - 1] + token.start[1]
        if prefix.lower() == "u":
            edits.append((start, start + 1, ""))
        elif prefix == "" and "\\" in token.string and not _VALID_ESCAPE.search(token.string):
            edits.append((start, start, "r"))
    return _apply(code, edits)


# -- class A(): ----------------------------------------------------------------------------

def _empty_bases(code: str, tree: ast.Module) -> str:
    lines = code.split("\n")
    starts = _offsets(code)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and not node.bases and not node.keywords:
            line = lines[node.lineno - 1]
            found = re.search(rf"\bclass\s+{re.escape(node.name)}\s*(\(\s*\))\s*:", line)
            if found:
                begin = starts[node.lineno - 1] + found.start(1)
                edits.append((begin, begin + len(found.group(1)), ""))
    return _apply(code, edits)


# -- str.format and % -> f-strings ---------------------------------------------------------

def _simple(node: ast.expr) -> bool:
    """A plain name, attribute, item, number, arithmetic or call of those: text that reads the
    same in an f-string."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.Attribute):
        return _simple(node.value)
    if isinstance(node, ast.Subscript):
        return _simple(node.value) and isinstance(node.slice, (ast.Name, ast.Constant)) and _simple(node.slice)
    if isinstance(node, ast.Call):
        return _simple(node.func) and all(_simple(a) for a in node.args) and not node.keywords
    if isinstance(node, ast.BinOp):
        return _simple(node.left) and _simple(node.right)
    if isinstance(node, ast.UnaryOp):
        return _simple(node.operand)
    return False


def _has_call(node: ast.expr) -> bool:
    return any(isinstance(sub, ast.Call) for sub in ast.walk(node))


def _literal(code: str, starts: list[int], node: ast.expr) -> tuple[str, str, str] | None:
    """``(prefix, quote, body)`` of a string literal written as one token, else ``None``."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return None
    start, end = _span(code, starts, node)
    text = code[start:end]
    match = _PREFIX.match(text)
    if match is None or match.group(1).lower() not in ("", "r") or not text.endswith(match.group(2)):
        return None
    quote = match.group(2)
    body = text[len(match.group(0)):len(text) - len(quote)]
    if quote in body if len(quote) == 3 else (quote in body.replace("\\" + quote, "")):
        return None  # NB: two literals side by side, or an escaped quote an f-string would need to keep
    if "\n" in body and len(quote) == 1:
        return None
    return match.group(1), quote, body


def _fits(text: str, quote: str) -> bool:
    return "\\" not in text and "\n" not in text and quote[0] not in text and "{" not in text and "}" not in text \
        and "!" not in text and ":" not in text


def _f_string(prefix: str, quote: str, parts: list[str]) -> str:
    return f"f{prefix}{quote}{''.join(parts)}{quote}"


def _format_calls(code: str, tree: ast.Module) -> str:
    starts = _offsets(code)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"):
            continue
        found = _literal(code, starts, node.func.value)
        if found is None or any(isinstance(a, ast.Starred) for a in node.args) \
                or any(k.arg is None for k in node.keywords):
            continue
        prefix, quote, body = found
        arguments = {str(i): a for i, a in enumerate(node.args)} | {str(k.arg): k.value for k in node.keywords}
        if not all(_simple(a) for a in arguments.values()):
            continue
        texts = {key: ast.get_source_segment(code, value) or "" for key, value in arguments.items()}
        if not all(_fits(text, quote) for text in texts.values()):
            continue
        try:
            fields = list(string.Formatter().parse(body))
        except ValueError:
            continue
        parts: list[str] = []
        used: dict[str, int] = {}
        automatic = 0
        ok = True
        for literal_text, field, spec, conversion in fields:
            parts.append(literal_text.replace("{", "{{").replace("}", "}}"))
            if field is None:
                continue
            if field == "":
                field, automatic = str(automatic), automatic + 1
            if field not in texts or (spec and ("{" in spec or "}" in spec)):
                ok = False
                break
            used[field] = used.get(field, 0) + 1
            parts.append("{" + texts[field] + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
        # NB: an argument with a call must run once, as it did; an unused one would not run at all
        if not ok or any(used.get(key, 0) != 1 and _has_call(value) for key, value in arguments.items()):
            continue
        start, end = _span(code, starts, node)
        edits.append((start, end, _f_string(prefix, quote, parts)))
    return _apply(code, _outermost(edits))


_PERCENT = re.compile(r"%(?:(%)|([sr])|(\d*\.\d+f)|([di]))")
#: Calls that return an int, so that ``%d`` of them is ``{x}``: ``round`` with one argument, ``len``, ``int``.
_INT_CALLS = frozenset({"round", "len", "int"})


def _int_valued(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _INT_CALLS \
        and len(node.args) == 1 and not node.keywords


def _percent_formats(code: str, tree: ast.Module) -> str:
    starts = _offsets(code)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)):
            continue
        found = _literal(code, starts, node.left)
        if found is None:
            continue
        prefix, quote, body = found
        values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        if not values or not all(_simple(v) for v in values):  # NB: each is used once, in order, as before
            continue
        texts = [ast.get_source_segment(code, v) or "" for v in values]
        if not all(_fits(text, quote) for text in texts):
            continue
        parts: list[str] = []
        position = 0
        index = 0
        ok = True
        for match in _PERCENT.finditer(body):
            parts.append(body[position:match.start()].replace("{", "{{").replace("}", "}}"))
            position = match.end()
            if match.group(1):
                parts.append("%")
                continue
            if index >= len(texts):
                ok = False
                break
            if match.group(4) and not _int_valued(values[index]):
                ok = False  # NB: `%d` truncates a float, which `{:d}` refuses: only a known int is rewritten
                break
            spec = "!r" if match.group(2) == "r" else (f":{match.group(3)}" if match.group(3) else "")
            parts.append("{" + texts[index] + spec + "}")
            index += 1
        rest = body[position:]
        if not ok or index != len(texts) or "%" in rest:
            continue
        parts.append(rest.replace("{", "{{").replace("}", "}}"))
        if any("%" in part for part in parts[:-1] if part != "%"):
            continue  # NB: a conversion this rewrite does not know (`%d`, `%5s`) is left as it is
        start, end = _span(code, starts, node)
        edits.append((start, end, _f_string(prefix, quote, parts)))
    return _apply(code, _outermost(edits))


def _outermost(edits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop edits inside another edit's span (a format inside a format's argument)."""
    kept: list[tuple[int, int, str]] = []
    for edit in sorted(edits, key=lambda e: (e[0], -e[1])):
        if kept and edit[0] < kept[-1][1]:
            continue
        kept.append(edit)
    return kept


# -- def f(x=[]) ---------------------------------------------------------------------------

def _mutable_defaults(code: str, tree: ast.Module) -> str:
    starts = _offsets(code)
    lines = code.split("\n")
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, FUNCTIONS):
            continue
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        # NB: only a default of literals, in a function that never changes, keeps or hands on the
        #     value: a cache (`seen=[]` appended to) relies on the shared default
        mutable = [(a, d) for a, d in pairs if isinstance(d, (ast.List, ast.Dict, ast.Set))
                   and not any(isinstance(sub, ast.Name) for sub in ast.walk(d)) and _only_read(node, a.arg)]
        if not mutable:
            continue
        body = node.body
        docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str)
        if docstring and len(body) == 1:
            continue
        first = body[1] if docstring else body[0]
        if first.lineno == node.lineno:
            continue
        pad = lines[first.lineno - 1][:first.col_offset]
        if pad.strip():
            continue  # NB: the first statement shares its line with something else
        guards = ""
        for arg, default in mutable:
            start, end = _span(code, starts, default)
            text = code[start:end]
            if "\n" in text:
                break
            edits.append((start, end, "None"))
            guards += f"{pad}if {arg.arg} is None:\n{pad}    {arg.arg} = {text}\n"
        else:
            line_start = starts[first.lineno - 1]
            edits.append((line_start, line_start, guards))
    return _apply(code, edits)


#: Methods that read a list, dict or set without changing it.
_READING_METHODS = frozenset({"copy", "get", "keys", "values", "items", "index", "count", "issubset", "issuperset",
                              "union", "intersection", "difference", "symmetric_difference", "isdisjoint"})


def _only_read(function: ast.AST, name: str) -> bool:
    """Whether the function only reads its parameter ``name``: no method that may change it, no
    item or attribute stored, no `+=`, not rebound, returned, kept or given to a call."""
    parents: dict[ast.AST, ast.AST] = {}
    for sub in ast.walk(function):
        for child in ast.iter_child_nodes(sub):
            parents[child] = sub
    for sub in ast.walk(function):
        if not (isinstance(sub, ast.Name) and sub.id == name):
            continue
        if not isinstance(sub.ctx, ast.Load):
            return False
        parent = parents.get(sub)
        if isinstance(parent, ast.Attribute):
            if parent.attr not in _READING_METHODS or not isinstance(parents.get(parent), ast.Call):
                return False
        elif isinstance(parent, ast.Subscript):
            if not isinstance(parent.ctx, ast.Load):
                return False
        elif isinstance(parent, ast.keyword):
            if not _library_call(parents.get(parent)):
                return False
        elif not (isinstance(parent, ast.Compare)
                  or isinstance(parent, (ast.For, ast.comprehension)) and parent.iter is sub
                  or isinstance(parent, ast.Call) and sub in parent.args and (
                      isinstance(parent.func, ast.Name) and parent.func.id in _READING_CALLS
                      or _library_call(parent))):
            return False
    return True


def _library_call(node: ast.AST | None) -> bool:
    """A call of a module's function or method (``plt.axis(axes)``, ``np.linspace(*r)``), not of
    the notebook's own functions, which could change what they are given, nor of a shuffle."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    root = node.func
    while isinstance(root, ast.Attribute):
        root = root.value  # type: ignore[assignment]
    return isinstance(root, ast.Name) and root.id in _LIBRARIES and node.func.attr not in _MUTATING_CALLS


#: The usual names of libraries a notebook calls; their functions do not change a list they are given...
_LIBRARIES = frozenset({"np", "numpy", "plt", "pd", "pandas", "sns", "math", "os", "json", "matplotlib", "scipy"})
#: ...except these, which change it in place.
_MUTATING_CALLS = frozenset({"shuffle", "sort", "heapify", "heappush", "heappop", "insort", "put"})


#: Builtins that read an argument without changing or keeping it.
_READING_CALLS = frozenset({"len", "list", "tuple", "sorted", "set", "dict", "min", "max", "sum", "any", "all",
                            "enumerate", "zip", "str", "repr", "print", "iter", "reversed"})


# -- a, unused = pair ----------------------------------------------------------------------

def _unused_unpacked(code: str, tree: ast.Module) -> str:
    """In a function, a name a tuple assignment binds and nothing in the function reads gets a ``_``."""
    starts = _offsets(code)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, FUNCTIONS):
            continue
        mentioned = {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)
                     and not isinstance(sub.ctx, ast.Store)}
        everywhere = {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)} \
            | {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
        # NB: a name inside a string may be read by it (`df.query("a > @low")`)
        texts = " ".join(sub.value for sub in ast.walk(node) if isinstance(sub, ast.Constant) and isinstance(sub.value, str))
        declared = {name for sub in ast.walk(node) if isinstance(sub, (ast.Global, ast.Nonlocal)) for name in sub.names}
        if any(isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("locals", "vars", "eval")
               for sub in ast.walk(node)):
            continue
        for sub in own_nodes(node):
            if not isinstance(sub, ast.Assign):
                continue
            for target in sub.targets:
                if not isinstance(target, (ast.Tuple, ast.List)):
                    continue
                for element in ast.walk(target):
                    if isinstance(element, ast.Name) and isinstance(element.ctx, ast.Store) \
                            and not element.id.startswith("_") and element.id not in mentioned \
                            and element.id not in declared and f"_{element.id}" not in everywhere \
                            and not re.search(rf"\b{re.escape(element.id)}\b", texts):
                        start, end = _span(code, starts, element)
                        edits.append((start, end, f"_{element.id}"))
    return _apply(code, edits)





# -- f = open(...) ... f.close() -----------------------------------------------------------

def _closed_files(code: str, tree: ast.Module) -> str:
    """The first ``f = *open(...)`` whose ``f.close()`` ends it in the same block, as a ``with``.

    One rewrite per pass (``tidy`` runs it until nothing changes): the statements move, so the
    positions of any other one would be stale.
    """
    from .emit import indent

    lines = code.split("\n")
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for i, opened in enumerate(block):
                name = _opened(opened)
                if name is None:
                    continue
                close = next((j for j in range(i + 1, len(block)) if _closes(block[j], name)), None)
                if close is not None and any(_mentions(later, name) for later in block[close + 1:]):
                    continue
                if close is None:
                    # NB: never closed: the `with` ends after the last use, when every use reads or
                    #     writes it whole (`f.read()`, `json.load(f)`), so nothing made from it is lazy
                    uses = [j for j in range(i + 1, len(block)) if _mentions(block[j], name)]
                    if not uses or not all(_consumed_only(block[j], name) for j in uses):
                        continue
                    ending, end_line = block[uses[-1]], block[uses[-1]].end_lineno or block[uses[-1]].lineno
                else:
                    ending = block[close]
                    end_line = ending.lineno - 1
                    if lines[ending.lineno - 1].strip() != f"{name}.close()":
                        continue
                first_line = lines[opened.lineno - 1]
                value = opened.value
                value_end = value.end_lineno or value.lineno
                if (opened.end_lineno or opened.lineno) != value_end:
                    continue
                pad = first_line[:opened.col_offset]
                if pad.strip():
                    continue
                head = lines[opened.lineno - 1:value_end]
                head[0] = pad + "with " + head[0][len(pad):].split("=", 1)[1].lstrip()
                head[-1] = head[-1].rstrip() + f" as {name}:"
                inner = "\n".join(lines[value_end:end_line])
                body = indent(inner, "    ") if inner.strip() else pad + "    pass"
                rest = lines[ending.lineno:] if close is not None else lines[end_line:]
                return "\n".join([*lines[:opened.lineno - 1], *head, body, *rest])
    return code


def _opened(statement: ast.stmt) -> str | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name) \
            and isinstance(statement.value, ast.Call):
        func = statement.value.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called == "open":
            return statement.targets[0].id
    return None


def _closes(statement: ast.stmt, name: str) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) and not statement.value.args \
        and isinstance(statement.value.func, ast.Attribute) and statement.value.func.attr == "close" \
        and isinstance(statement.value.func.value, ast.Name) and statement.value.func.value.id == name


#: Calls that read or write a whole open file: ``f.read()``, ``json.load(f)``.
_WHOLE_FILE_METHODS = frozenset({"read", "readlines", "write", "writelines"})
_WHOLE_FILE_LOADERS = frozenset({"json.load", "json.dump", "pickle.load", "pickle.dump", "yaml.safe_load",
                                 "yaml.load", "yaml.safe_dump", "yaml.dump"})


def _consumed_only(statement: ast.stmt, name: str) -> bool:
    """Whether every use of the open file ``name`` in ``statement`` reads or writes it whole."""
    allowed: set[int] = set()
    for sub in ast.walk(statement):
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        if isinstance(func, ast.Attribute) and func.attr in _WHOLE_FILE_METHODS and isinstance(func.value, ast.Name):
            allowed.add(id(func.value))
        elif ast.unparse(func) in _WHOLE_FILE_LOADERS:
            allowed.update(id(a) for a in sub.args if isinstance(a, ast.Name))
    return all(id(sub) in allowed for sub in ast.walk(statement) if isinstance(sub, ast.Name) and sub.id == name)


def _mentions(statement: ast.stmt, name: str) -> bool:
    return any(isinstance(sub, ast.Name) and sub.id == name for sub in ast.walk(statement))
