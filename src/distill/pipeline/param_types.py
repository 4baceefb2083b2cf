"""Types of run parameters: reading annotations, checking values, saying what to type instead.

Responsibilities:
- ``evaluate_annotation``: the type an annotation names, built from its AST in a small
  namespace of builtins, ``typing``, ``pathlib`` and ``datetime`` (planning never imports the
  user's code for that), or ``UNSET`` when it names a type only the project knows;
- ``is_path_type``: whether a param's type makes it a data input;
- ``check_value``: a value checked against its type with pydantic's strict rules for JSON
  input (imported only when a new (annotation, value) pair is seen; results are memoised in
  the state file, table ``MEMO``, keyed by ``RULES``); ``validate_value`` checks without the memo;
- ``value_hint``: what to type instead of a rejected value ("write 16", "write true").

Checking is pydantic's strict mode on the value as JSON: a str passes for ``Path``, dates,
times, ``Decimal``, ``UUID`` and enums; a list for a tuple or a set; an int for a float. A
bool never passes as an int, a str never as a number, and a number never as a str, except
that a ``--set`` (or API) value that fails is checked again as the text the user typed:
``--set text=123`` gives a ``str`` param the text ``"123"``.
"""

from __future__ import annotations

import ast
import json
import pathlib
import typing
from typing import Any

from ..memo import State
from .params_text import FLOAT_PATTERN, INT_PATTERN, RULES, params_loader

MEMO = "param-checks"

_BUILTIN_TYPES: dict[str, Any] = {
    t.__name__: t
    for t in (int, float, str, bool, bytes, complex, list, dict, tuple, set, frozenset, object)
}
_TYPING_NAMES = frozenset(typing.__all__)
UNSET = object()
# `Secret[T]` (pipeline.secrets) names T: a secret is checked as the type it wraps.
_SECRET = object()


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
    names["Secret"] = _SECRET
    return names


_MODULES: dict[str, str] = {"typing": "typing", "pathlib": "pathlib", "datetime": "datetime", "distill": "distill"}


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
    if module == "distill" and attr == "Secret":
        return _SECRET
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
        if base is _SECRET:
            return _annotation_value(items[0], names, depth + 1) if len(items) == 1 else UNSET
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
    ``datetime`` types, ``distill.File`` and ``Secret[T]`` (read as ``T``) are understood;
    anything else (a type defined in the project, say) gives ``UNSET``: its values are checked
    when the step runs.

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
    found = _annotation_value(node, _NAMES)
    return Any if found is _SECRET else found  # a bare `Secret`: a secret of any type


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


def validate_value(tp: Any, value: Any) -> tuple[bool, Any, str]:
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


def check_value(
    annotation: str | None, tp: Any, value: Any, state: State, *, memo: bool = True
) -> tuple[bool, Any, str]:
    """Check ``value`` against type ``tp``; return ``(ok, json_value, error)``, memoised.

    The rules are pydantic's strict mode for JSON input (see the module docstring).
    ``memo=False`` (a secret's value) neither reads nor writes the memo: the memo table is
    written to the store, and a secret never is.

    Example:
        >>> check_value("int", int, True, state)  # doctest: +SKIP
        (False, None, 'Input should be a valid integer')
    """
    if not memo:
        return (True, value, "") if tp is Any else validate_value(tp, value)
    text = _json_text(value)
    memo_key = None if text is None else (RULES, annotation, text)
    table = state.table(MEMO)
    if memo_key is not None and memo_key in table:
        return table[memo_key]  # type: ignore[no-any-return]
    result = (True, value, "") if tp is Any else validate_value(tp, value)
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
    if re.fullmatch(INT_PATTERN, bare) or re.fullmatch(FLOAT_PATTERN, bare):
        number = float(bare) if re.fullmatch(FLOAT_PATTERN, bare) else int(bare)
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
