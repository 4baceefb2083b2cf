"""Run parameters: where their values come from, and checking them against their types.

Responsibilities:
- layer values: signature defaults < ``params.yaml`` < ``params.<env>.yaml`` < ``--set k=v``;
- read ``params*.yaml`` and every ``--set`` value with one YAML loader (``params_loader``):
  YAML 1.2 core scalars, a key given twice is a problem naming both lines;
- check each value against its parameter's annotation with pydantic's strict rules for JSON
  input (imported only when a new (annotation, value) pair is seen; results are memoised in
  the state file, keyed by ``RULES``);
- turn ``Path`` params into data inputs resolved against the project folder;
- report every unknown, missing or mistyped param at once, as ``Problem`` records that say
  what to type instead.

Annotations are read from source and evaluated in a small namespace of builtins, ``typing``,
``pathlib`` and ``datetime``: planning never imports the user's code for that.

Scalars read the same in params files and in ``--set`` (YAML 1.2 core, JSON numbers only):

- ``42``, ``-7`` are ints; ``2.5``, ``1e3``, ``.inf`` are floats (decimal only);
- ``true``/``false`` (also ``True``, ``TRUE``) are bools; ``null``, ``~`` and an empty value
  are None (but an empty ``--set name=`` is the text ``""``);
- everything else is text: ``0x10``, ``010``, ``1_000``, ``yes``, ``off``, ``12:30``,
  ``2024-01-31``. A param that wants a number or a bool rejects them with what to type
  (``value_hint``: "write 16", "write 10", "write true"); a date, time or Path param parses them.

Checking is pydantic's strict mode on the value as JSON: a str passes for ``Path``, dates,
times, ``Decimal``, ``UUID`` and enums; a list for a tuple or a set; an int for a float. A
bool never passes as an int, a str never as a number, and a number never as a str, except
that a ``--set`` (or API) value that fails is checked again as the text the user typed:
``--set text=123`` gives a ``str`` param the text ``"123"``.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..analysis.source import StepDecl
from ..errors import Problem, ProjectError, did_you_mean
from ..memo import State, stat_key, trusted
from .graph import Graph
from .project import Project

if TYPE_CHECKING:
    import yaml

MEMO = "param-checks"
FILES = "param-files"


@dataclass(frozen=True, slots=True)
class ParamValue:
    """The value of one run parameter of one step.

    Attributes:
        name: the parameter.
        value: the checked value in JSON form (a ``Path`` is its project-relative string).
        source: where it came from: ``default``, a file name, or ``--set``.
        is_path: whether it is a data input (its file content is part of the key).
        absolute: for a data input, the absolute path to read.
        annotation: the annotation's text when it names a type that cannot be known from
            source (a project type): the value is checked when the step runs.
        default_source: the default's source text when it cannot be read without running
            code; the step then gets its own default, and the key holds this text.
    """

    name: str
    value: Any
    source: str
    is_path: bool = False
    absolute: str | None = None
    annotation: str | None = None
    default_source: str | None = None

    @property
    def shown(self) -> str:
        return json.dumps(self.value, sort_keys=True, default=str)

    @property
    def key_value(self) -> Any:
        """What the cache key holds for this value."""
        if self.default_source is not None:
            return f"<default: {self.default_source}>"
        return self.value

    @property
    def passed(self) -> bool:
        """Whether the runner passes the value (otherwise the function's default applies)."""
        return self.default_source is None


def parse_set(items: list[str]) -> dict[str, str]:
    """Parse ``--set k=v`` options into raw strings.

    Raises:
        ProjectError: an item without ``=``.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ProjectError(
                f"--set {item!r}: expected NAME=VALUE", hint="for example: --set window=14"
            )
        out[name.strip()] = value
    return out


# Bump RULES whenever loading or checking a value can give another answer: it is part of
# every memo key below, so a state file written under older rules is never trusted.
RULES = 2

# NB: YAML 1.2 core schema, narrowed to what JSON calls a number: YAML 1.1 reads `yes` and
#     `on` as true, `0x10` as 16, `010` as 8 and `12:30` as 750; here all four are text.
#         seed: 010      # the str "010": an int param says "write 10"
#         enabled: yes   # the str "yes": a bool param says "write true"
_NULL = r"^(?:~|null|Null|NULL|)$"
_BOOL = r"^(?:true|True|TRUE|false|False|FALSE)$"
_INT = r"^[-+]?(?:0|[1-9][0-9]*)$"
_FLOAT = (
    r"^[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)
_TAG = "tag:yaml.org,2002:"


@dataclass(frozen=True, slots=True)
class Repeat:
    """A mapping key given twice in one YAML text.

    Attributes:
        key: the key as written.
        within: the keys leading to the mapping (``"model"``, ``"runs[0]"``), or ``""``.
        first: 1-based line of the first occurrence.
        again: 1-based line of the repeat.
    """

    key: str
    within: str
    first: int
    again: int

    @property
    def named(self) -> str:
        return f"key {self.key!r}" + (f" in {self.within!r}" if self.within else "")


@dataclass(frozen=True, slots=True)
class ParamsText:
    """One params text, as the loader read it.

    Attributes:
        data: the value (for a file, the mapping of param names to values).
        lines: ``(name, line)`` of each top-level key, 1-based, in file order.
        repeats: every key given twice; the later value is in ``data``.
    """

    data: Any
    lines: tuple[tuple[str, int], ...] = ()
    repeats: tuple[Repeat, ...] = ()

    def line_of(self, name: str) -> int | None:
        """The line of top-level key ``name`` (its last one: the value that counts)."""
        return next((line for key, line in reversed(self.lines) if key == name), None)


_LOADER: type[Any] | None = None


def params_loader() -> type[yaml.SafeLoader]:
    """The YAML loader for ``params*.yaml`` and ``--set`` values, built on first use.

    A ``yaml.SafeLoader`` whose implicit types are YAML 1.2's core schema narrowed to JSON
    numbers (see the module docstring): only decimal ints and floats, ``true``/``false`` and
    ``null`` are not strings. Use it through ``load_params_text``, which also finds keys
    given twice.

    Example:
        >>> import yaml
        >>> yaml.load("a: yes\\nb: 0x10\\nc: 1e3", Loader=params_loader())
        {'a': 'yes', 'b': '0x10', 'c': 1000.0}
    """
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        class ParamsLoader(yaml.SafeLoader):
            """``yaml.SafeLoader`` with YAML 1.2 core scalars (JSON numbers only)."""

        # NB: a class attribute of its own, so SafeLoader's YAML 1.1 resolvers are not inherited.
        ParamsLoader.yaml_implicit_resolvers = {}
        for tag, pattern, first in (
            ("bool", _BOOL, "tTfF"),
            ("null", _NULL, ["~", "n", "N", ""]),
            ("int", _INT, "-+0123456789"),
            ("float", _FLOAT, "-+.0123456789"),
            ("merge", r"^<<$", "<"),
        ):
            ParamsLoader.add_implicit_resolver(_TAG + tag, re.compile(pattern), list(first))
        # NB: `<<` merges as a key (`<<: *base`); anywhere else it is text (`arrow: <<`).
        def _text(loader: ParamsLoader, node: yaml.ScalarNode) -> Any:
            return loader.construct_scalar(node)

        ParamsLoader.add_constructor(_TAG + "merge", _text)
        _LOADER = ParamsLoader
    return _LOADER


def load_params_text(text: str, *, within: str = "") -> ParamsText:
    """Read one YAML text with ``params_loader``, noting where keys are and any key given twice.

    Args:
        text: the YAML text.
        within: for a ``--set`` value, the param's name (repeats are named under it).

    Raises:
        yaml.YAMLError: the text is not YAML (or holds several documents).

    Example:
        >>> load_params_text("seed: 1\\nseed: 2\\n").repeats
        (Repeat(key='seed', within='', first=1, again=2),)
    """
    loader = params_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return ParamsText(None)
        repeats: list[Repeat] = []
        _find_repeats(loader, node, within, repeats, set())
        lines: tuple[tuple[str, int], ...] = ()
        if node.tag == _TAG + "map":
            lines = tuple(
                (key.value, key.start_mark.line + 1)
                for key, _ in node.value
                if key.tag == _TAG + "str"
            )
        repeats.sort(key=lambda r: (r.again, r.first))
        return ParamsText(loader.construct_document(node), lines, tuple(repeats))
    finally:
        loader.dispose()


def _find_repeats(loader: Any, node: Any, within: str, out: list[Repeat], seen: set[int]) -> None:
    """Append a ``Repeat`` for each key given twice in ``node`` or below (aliases once)."""
    import yaml

    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_repeats(loader, item, f"{within}[{index}]", out, seen)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[Any, int] = {}
    for key, value in node.value:
        if key.tag == _TAG + "merge":
            # NB: `<<: *base` merges keys that the mapping's own keys override on purpose.
            _find_repeats(loader, value, within, out, seen)
            continue
        shown = key.value if isinstance(key, yaml.ScalarNode) else None
        path = f"{within}.{shown}" if within else str(shown)
        _find_repeats(loader, value, path, out, seen)
        if shown is None:
            continue
        try:
            # NB: keys are compared as values, as the dict will: `1:` and `+1:` are one key.
            identity: Any = (key.tag, loader.construct_object(key))
            hash(identity)
        except (yaml.YAMLError, TypeError):
            identity = (key.tag, key.value)
        line = key.start_mark.line + 1
        if identity in first:
            out.append(Repeat(str(shown), within, first[identity], line))
        else:
            first[identity] = line


def _load_yaml_file(path: pathlib.Path, state: State) -> tuple[ParamsText | None, list[Problem]]:
    """Read one params file (memoised by file stat); ``None`` when it does not exist."""
    table = state.table(FILES)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, []
    memo_key = (RULES, str(path))
    entry = table.get(memo_key)
    if entry is not None and trusted(st, entry[0], entry[1]):
        loaded: ParamsText = entry[2]
    else:
        recorded = time.time_ns()
        import yaml

        try:
            loaded = load_params_text(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path.name}:{mark.line + 1}" if mark is not None else path.name
            return None, [Problem("params-file", f"not valid YAML: {exc}", where)]
        state.put(FILES, memo_key, (stat_key(st), recorded, loaded))
    data = {} if loaded.data is None else loaded.data
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        found = (
            f"the key {next(k for k in data if not isinstance(k, str))!r}"
            if isinstance(data, dict)
            else type(data).__name__
        )
        return None, [
            Problem(
                "params-file",
                f"expected a mapping of param names to values, found {found}",
                path.name,
                "write one `name: value` per line",
            )
        ]
    problems = [
        Problem(
            "duplicate-key",
            f"{r.named} is given twice "
            + (f"(lines {r.first} and {r.again})" if r.first != r.again else f"on line {r.again}")
            + "; keep one",
            f"{path.name}:{r.again}",
            f"delete line {r.first} or line {r.again}: only the later one would count"
            if r.first != r.again
            else "write the key once: only the later value would count",
        )
        for r in loaded.repeats
    ]
    return ParamsText(data, loaded.lines, loaded.repeats), problems


def _load_set_value(name: str, text: str) -> tuple[Any, list[Problem]]:
    """Read one ``--set`` value with the params loader; text that is not YAML stays text."""
    import yaml

    if not text.strip():
        # NB: `--set name=` is the empty text, not null (YAML would read None).
        return "", []
    try:
        loaded = load_params_text(text, within=name)
    except yaml.YAMLError:
        # NB: `--set title=a: b` is not YAML; the user typed text.
        return text, []
    problems = [
        Problem(
            "duplicate-key",
            f"{r.named} is given twice in --set {name}=...; keep one",
            "--set",
            "write each key once",
        )
        for r in loaded.repeats
    ]
    return loaded.data, problems


_BUILTIN_TYPES: dict[str, Any] = {
    t.__name__: t
    for t in (int, float, str, bool, bytes, complex, list, dict, tuple, set, frozenset, object)
}
_TYPING_NAMES = frozenset(typing.__all__)
UNSET = object()


def _annotation_names() -> dict[str, Any]:
    import datetime

    names: dict[str, Any] = dict(_BUILTIN_TYPES)
    names.update({name: getattr(typing, name) for name in _TYPING_NAMES})
    names.update(
        Path=pathlib.Path,
        PurePath=pathlib.PurePath,
        File=pathlib.Path,
        date=datetime.date,
        time=datetime.time,
        timedelta=datetime.timedelta,
    )
    names["None"] = None
    return names


_MODULES: dict[str, str] = {"typing": "typing", "pathlib": "pathlib", "datetime": "datetime", "distill": "distill"}
_ATTRIBUTES: dict[tuple[str, str], Any] = {}


def _module_attribute(module: str, attr: str) -> Any:
    import datetime

    if module == "typing" and attr in _TYPING_NAMES:
        return getattr(typing, attr)
    if module == "pathlib" and attr in ("Path", "PurePath"):
        return getattr(pathlib, attr)
    if module == "datetime" and attr in ("date", "datetime", "time", "timedelta"):
        return getattr(datetime, attr)
    if module == "distill" and attr == "File":
        return pathlib.Path
    return UNSET


def _annotation_value(node: ast.expr, names: dict[str, Any], depth: int = 0) -> Any:
    """The type an annotation's AST names, built without evaluating any code."""
    if depth > 20:
        return UNSET
    if isinstance(node, ast.Constant):
        if node.value is None:
            return None
        if isinstance(node.value, str):
            # NB: a quoted annotation is a forward reference: `n: "int"` names int.
            try:
                inner = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return UNSET
            return _annotation_value(inner, names, depth + 1)
        return UNSET
    if isinstance(node, ast.Name):
        if node.id == "datetime":
            import datetime

            # NB: a bare `datetime` in an annotation is the class (from datetime import datetime).
            return datetime.datetime
        return names.get(node.id, UNSET)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        module = _MODULES.get(node.value.id)
        return UNSET if module is None else _module_attribute(module, node.attr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left = _annotation_value(node.left, names, depth + 1)
        right = _annotation_value(node.right, names, depth + 1)
        if left is UNSET or right is UNSET:
            return UNSET
        return typing.Union[left, right]  # noqa: UP007 - built from parts, not written
    if isinstance(node, ast.Subscript):
        base = _annotation_value(node.value, names, depth + 1)
        if base is UNSET:
            return UNSET
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base is typing.Literal:
            values = []
            for item in items:
                if not isinstance(item, ast.Constant):
                    return UNSET
                values.append(item.value)
            return typing.Literal.__getitem__(tuple(values))
        args = []
        for item in items:
            if isinstance(item, ast.Constant) and item.value is Ellipsis:
                args.append(Ellipsis)
                continue
            value = _annotation_value(item, names, depth + 1)
            if value is UNSET:
                return UNSET
            args.append(value)
        try:
            return base[tuple(args) if len(args) > 1 else args[0]]
        except TypeError:
            return UNSET
    return UNSET


_NAMES: dict[str, Any] | None = None


def evaluate_annotation(annotation: str | None) -> Any:
    """The type an annotation names, read from its text without running any code.

    Builtin types, ``typing`` forms, ``X | Y``, ``Literal[...]``, ``pathlib.Path``,
    ``datetime`` types and ``distill.File`` are understood; anything else (a type defined in
    the project, say) gives ``UNSET``: its values are checked when the step runs.

    Example:
        >>> evaluate_annotation("list[int] | None")
        typing.Optional[list[int]]
    """
    global _NAMES
    if annotation is None:
        return Any
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return UNSET
    if _NAMES is None:
        _NAMES = _annotation_names()
    return _annotation_value(node, _NAMES)


def is_path_type(tp: Any) -> bool:
    if tp is pathlib.Path:
        return True
    args = typing.get_args(tp)
    return bool(args) and pathlib.Path in args


def _json_default(value: Any) -> Any:
    """The JSON form of the few non-JSON values a literal default or a YAML tag can give."""
    import datetime

    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _json_text(value: Any) -> str | None:
    """``value`` as JSON text, or ``None`` when it has no JSON form (bytes, say)."""
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError):
        return None


def _validate(tp: Any, value: Any) -> tuple[bool, Any, str]:
    """Check ``value`` against ``tp`` with pydantic's strict rules for JSON input.

    Returns:
        ``(ok, json_value, error)``; ``error`` is pydantic's first message, or
        ``"unchecked: ..."`` (with ``ok``) when pydantic cannot build a validator for ``tp``.
    """
    from pydantic import TypeAdapter, ValidationError

    text = _json_text(value)
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(tp)
        if text is None:
            checked = adapter.validate_python(value, strict=True)
        else:
            # NB: strict *JSON* rules, not strict Python ones: a str is a fine Path, date or
            #     enum, a list a fine tuple, an int a fine float; a bool is never an int.
            checked = adapter.validate_json(text, strict=True)
        return True, adapter.dump_python(checked, mode="json"), ""
    except ValidationError as exc:
        first = exc.errors()[0]
        return False, None, str(first.get("msg", exc))
    except Exception as exc:  # noqa: BLE001 - pydantic cannot build a validator for tp
        return True, value, f"unchecked: {exc}"


def check_value(annotation: str | None, tp: Any, value: Any, state: State) -> tuple[bool, Any, str]:
    """Check ``value`` against type ``tp``; return ``(ok, json_value, error)``, memoised.

    The rules are pydantic's strict mode for JSON input (see the module docstring).

    Example:
        >>> check_value("int", int, True, state)  # doctest: +SKIP
        (False, None, 'Input should be a valid integer')
    """
    text = _json_text(value)
    memo_key = None if text is None else (RULES, annotation, text)
    table = state.table(MEMO)
    if memo_key is not None and memo_key in table:
        return table[memo_key]  # type: ignore[no-any-return]
    result = (True, value, "") if tp is Any else _validate(tp, value)
    if memo_key is not None:
        state.put(MEMO, memo_key, result)
    return result


def _union_members(tp: Any) -> tuple[tuple[Any, ...], bool]:
    """The members of ``X | Y | None`` other than None, and whether None was one."""
    import types

    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = typing.get_args(tp)
        kept = tuple(m for m in members if m is not type(None))
        return kept, len(kept) < len(members)
    return (tp,), False


def _number_text_hint(text: str, whole: bool, source: str) -> str:
    """What to write instead of ``text`` (a str) where a number is expected."""
    import re

    plain = text.strip()
    bare = plain.replace("_", "")
    if re.fullmatch(r"[-+]?0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)", bare):
        return f"write {int(bare, 0)} ({plain} is text: only decimal numbers are numbers here)"
    if re.fullmatch(r"[-+]?0[0-9]+", bare):
        # NB: `010` is taken as ten, not YAML 1.1's octal eight: a leading zero is far more
        #     often padding (`seed: 007`) than octal.
        octal = f"; for octal {plain}, write {int(bare, 8)}" if re.fullmatch(r"[-+]?[0-7]+", bare) else ""
        return f"write {int(bare, 10)} (a leading zero makes it text{octal})"
    if re.fullmatch(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?", plain):
        if source.endswith(".yaml"):
            return f"quote it in {source} if you meant a string, or write a number"
        return f"write a number: {plain} is text here, not a time"
    if re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3})+", plain):
        return f"write {plain.replace(',', '')}"
    if re.fullmatch(_INT, bare) or re.fullmatch(_FLOAT, bare):
        number = float(bare) if re.fullmatch(_FLOAT, bare) else int(bare)
        if whole and not (isinstance(number, int) or number.is_integer()):
            return "write a whole number"
        shown = str(int(number)) if whole else bare
        # NB: a number in quotes is text: `seed: "42"` in params.yaml.
        return f"write {shown}" + (" without quotes" if shown == plain else "")
    if plain.lower() in ("inf", "+inf", "infinity", "-inf", "-infinity", "nan") and not whole:
        sign = "-" if plain.startswith("-") else ""
        return f"write {sign}.nan" if plain.lower() == "nan" else f"write {sign}.inf"
    return "write a whole number" if whole else "write a number"


def _yaml_form(value: Any, source: str = "params.yaml") -> str:
    """``value`` as it is written where it came from: Python for a default, else YAML (a str
    plainly when it reads back as that str)."""
    if source == "default":
        return repr(value)
    if isinstance(value, str):
        import yaml

        try:
            if yaml.load(value, Loader=params_loader()) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, default=str)


def value_hint(tp: Any, value: Any, *, source: str = "params.yaml") -> str:
    """What to type instead of ``value``, which type ``tp`` rejected, or ``""``.

    Args:
        tp: the param's type.
        value: the value it rejected.
        source: where the value came from (``params.yaml``, ``--set``, ``default``...).

    Example:
        >>> value_hint(int, "0x10")
        'write 16 (0x10 is text: only decimal numbers are numbers here)'
        >>> value_hint(bool, "yes")
        'write true'
        >>> value_hint(str, 42)
        'write "42" (quoted)'
    """
    import datetime

    members, _ = _union_members(tp)
    for member in members:
        origin = typing.get_origin(member) or member
        if member is bool:
            if isinstance(value, str) and value.strip().lower() in ("yes", "y", "on", "true"):
                return "write true"
            if isinstance(value, str) and value.strip().lower() in ("no", "n", "off", "false"):
                return "write false"
            if value in (0, 1) and not isinstance(value, bool):
                return f"write {'true' if value else 'false'}"
            return "write true or false"
        if member in (int, float):
            if isinstance(value, bool):
                kind = "an int" if member is int else "a float"
                return f"write a number ({_yaml_form(value, source)} is a bool, not {kind})"
            if isinstance(value, str):
                return _number_text_hint(value, member is int, source)
            if isinstance(value, float) and member is int:
                return f"write {int(value)}" if value.is_integer() else "write a whole number"
        if member is datetime.date and isinstance(value, (str, int)):
            return "write the date as YYYY-MM-DD, such as 2024-01-31"
        if member is datetime.datetime and isinstance(value, (str, int)):
            return "write the time as YYYY-MM-DDTHH:MM:SS, such as 2024-01-31T12:30:00"
        if member is str and value is None:
            return 'write the text (or "" for an empty one): null and an empty value are no value'
        if member in (str, pathlib.Path) and isinstance(value, (bool, int, float)):
            return f"write {json.dumps(json.dumps(value))} (quoted)"
        if origin is typing.Literal:
            choices = typing.get_args(member)
            for choice in choices:
                if isinstance(value, str) and not isinstance(choice, str) and _yaml_form(choice) == value.strip():
                    return f"write {_yaml_form(choice, source)} without quotes"
                if isinstance(choice, str) and not isinstance(value, str) and choice == json.dumps(value):
                    return f"write {json.dumps(choice)} (quoted)"
            return "write one of: " + ", ".join(_yaml_form(c, source) for c in choices)
        if origin in (list, tuple, set, frozenset) and not isinstance(value, list):
            return f"write a list: [{_yaml_form(value, source)}]"
        if origin is dict and not isinstance(value, dict):
            return "write a mapping: {key: value, ...}"
    return ""


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def resolve_params(
    project: Project,
    graph: Graph,
    state: State,
    *,
    env: str | None = None,
    overrides: Mapping[str, str] | None = None,
    typed: Mapping[str, Any] | None = None,
) -> tuple[dict[str, dict[str, ParamValue]], list[Problem]]:
    """Layer and check the value of every run parameter of every step.

    Args:
        project: the project (for ``params.yaml`` and relative paths).
        graph: the pipeline graph.
        state: the memo tables.
        env: name of the overlay file ``params.<env>.yaml``.
        overrides: raw ``--set`` strings, parsed as YAML scalars.
        typed: values given from Python (``distill.run(params={"n": 3})``), checked
            as they are: a number given from Python is never read as text.

    Nothing here runs user code: an annotation naming a project type is checked when the
    step runs, and a default that is not a literal is left to the function itself.

    Returns:
        ``{step: {param: ParamValue}}`` and every problem found.
    """
    problems: list[Problem] = []
    layers: list[tuple[str, ParamsText]] = []
    files = [project.root / "params.yaml"]
    if env:
        files.append(project.root / f"params.{env}.yaml")
    for path in files:
        loaded, file_problems = _load_yaml_file(path, state)
        problems.extend(file_problems)
        if loaded is None and not file_problems and path != files[0]:
            problems.append(
                Problem(
                    "params-file",
                    f"--env {env}: {path.name} does not exist",
                    project.relative(path),
                    f"create {path.name} or drop --env",
                )
            )
        elif loaded is not None:
            layers.append((path.name, loaded))
    raw_overrides = dict(overrides or {})
    if raw_overrides:
        parsed: dict[str, Any] = {}
        for name, text in raw_overrides.items():
            parsed[name], set_problems = _load_set_value(name, text)
            problems.extend(set_problems)
        layers.append(("--set", ParamsText(parsed)))
    if typed:
        layers.append(("params=", ParamsText(dict(typed))))

    known = {p.name for params in graph.params.values() for p in params}
    for source, layer in layers:
        for name in layer.data:
            if name not in known:
                wired = name in graph.provider
                message = (
                    f"{name!r} is an output of step {graph.provider[name]}, not a param"
                    if wired
                    else f"unknown param {name!r}{did_you_mean(name, known)}"
                )
                problems.append(
                    Problem(
                        "unknown-param",
                        message,
                        source,
                        "params are the parameters of @step functions that no step provides"
                        if not wired
                        else "remove it",
                    )
                )

    values: dict[str, dict[str, ParamValue]] = {}
    outputs = set(graph.provider)
    for step_name, params in graph.params.items():
        decl = graph.steps[step_name]
        resolved: dict[str, ParamValue] = {}
        for param in params:
            value: Any = UNSET
            source = "default"
            found_at = "default"
            for layer_source, layer in layers:
                if param.name in layer.data:
                    value, source = layer.data[param.name], layer_source
                    line = layer.line_of(param.name)
                    found_at = source if line is None else f"{source}:{line}"
            tp = evaluate_annotation(param.annotation)
            if value is UNSET and param.default_kind == "unresolved":
                if tp is not UNSET and is_path_type(tp):
                    problems.append(
                        Problem(
                            "param-default",
                            f"param {param.name!r} of step {step_name!r} is a data input whose "
                            f"default cannot be read without running code: {param.default_source}",
                            decl.where,
                            'write a literal default (Path("data/raw.csv")) or set it in params.yaml',
                        )
                    )
                    continue
                resolved[param.name] = ParamValue(
                    param.name, None, "default", default_source=param.default_source or "?"
                )
                continue
            if value is UNSET and param.default_kind != "none":
                value = param.default
            if value is UNSET:
                problems.append(
                    Problem(
                        "missing-input",
                        f"step {step_name!r} needs {param.name!r}, which no step outputs "
                        f"and no param sets{did_you_mean(param.name, outputs)}",
                        decl.where,
                        f"give it a default, set it in params.yaml, or run with --set {param.name}=VALUE",
                    )
                )
                continue
            if tp is UNSET:
                # NB: a project type (`mode: Mode`) is not known without importing the
                #     project; the value is keyed as given and checked when the step runs.
                resolved[param.name] = ParamValue(param.name, value, source, annotation=param.annotation)
                continue
            ok, checked, error = check_value(param.annotation, tp, value, state)
            as_typed = raw_overrides.get(param.name)
            if not ok and source == "--set" and as_typed is not None and as_typed != value:
                # NB: what the user typed is text, and text is what a `str` (or Path, or
                #     Literal of strings) param may want: `--set text=123` is "123", not 123.
                #     Only for --set: in params.yaml, `name: 42` is a number.
                ok, checked, _ = check_value(param.annotation, tp, as_typed, state)
            if not ok:
                hint = value_hint(tp, value, source=source)
                if source == "default":
                    hint = f"fix the default: {hint}" if hint else "fix the default"
                problems.append(
                    Problem(
                        "param-type",
                        f"param {param.name!r} of step {step_name!r} expects {param.annotation}, "
                        f"found {_shown(value)} ({found_at}): {error}",
                        decl.where,
                        hint or f"fix the value in {source}",
                    )
                )
                continue
            if is_path_type(tp) and checked is not None:
                absolute = (project.root / checked).resolve()
                resolved[param.name] = ParamValue(
                    param.name, project.relative(absolute), source, True, str(absolute)
                )
            else:
                resolved[param.name] = ParamValue(param.name, checked, source)
        values[step_name] = resolved
    return values, problems


def check_deferred(decl: StepDecl, fn: typing.Callable[..., Any], values: Mapping[str, ParamValue]) -> list[Problem]:
    """Check the values whose annotation names a project type, now that the step is imported.

    Args:
        decl: the step.
        fn: the imported step function.
        values: the step's resolved params.

    Returns:
        One problem per value its annotation rejects.
    """
    deferred = [v for v in values.values() if v.annotation is not None and v.passed]
    if not deferred:
        return []
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # noqa: BLE001 - an annotation that fails to resolve at all
        return [
            Problem(
                "param-type",
                f"step {decl.name!r}: cannot resolve the annotations of its params: {exc}",
                decl.where,
                "import the types the annotations name at the top of the module",
            )
        ]
    problems = []
    for value in deferred:
        tp = hints.get(value.name, Any)
        ok, _, error = _validate(tp, value.value)
        if ok:
            continue
        hint = value_hint(tp, value.value, source=value.source)
        if value.source == "default":
            hint = f"fix the default: {hint}" if hint else "fix the default"
        problems.append(
            Problem(
                "param-type",
                f"param {value.name!r} of step {decl.name!r} expects {value.annotation}, "
                f"found {_shown(value.value)} ({value.source}): {error}",
                decl.where,
                hint or f"fix the value in {value.source}",
            )
        )
    return problems
