"""The text form of the memo tables: JSON that can only rebuild values, never run code.

Beside ``memo.py``, which keeps the file; nothing else uses this module.

Responsibilities:
- ``dumps(tables)``: the tables as compact JSON bytes; a table holding a value of a type
  not listed here is left out whole (its entries may depend on each other), which costs
  time, never correctness;
- ``loads(data)``: the tables back, with exactly the types they had (a tuple stays a tuple,
  a frozenset a frozenset, a dict keyed by tuples keeps its keys);
- the allowlist: the builtin containers and scalars below, and distill's own memoised record
  types (``RECORDS``). Decoding calls nothing else and imports only the modules that define
  those records.

The form: JSON strings, numbers (``NaN`` and ``Infinity`` included), ``true``/``false``/
``null`` and arrays stand for ``str``, ``int``/``float``, ``bool``/``None`` and ``list``;
every other value is an object with exactly one member, ``{tag: body}``:

    {"t": [1, "a"]}                 (1, "a")
    {"f": ["x", "y"]}               frozenset({"x", "y"})
    {"s": [...]}                    a set
    {"d": [[keys], [values]]}       a dict, in insertion order, keys of any encodable type
    {"b": "aGk="}                   b"hi" (base64)
    {"c": [1.0, -2.0]}              (1-2j)
    {"e": 0}                        Ellipsis
    {"Definition": [field, ...]}    a record, its fields in declaration order

JSON is parsed bottom-up in C, and each tagged object is rebuilt by one call of a builder
looked up by its tag (``object_pairs_hook``), so loading costs one Python call per tuple,
set, dict or record and nothing per string or number.
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import json
import operator
from collections.abc import Callable, Iterable
from typing import Any

# Every record type the memo tables may hold, as (module, class name): the whole allowlist
# of classes that decoding may call. A record holds only encodable values; add a type here
# when a caller starts memoising it (a table holding an unlisted type is not saved).
RECORDS: tuple[tuple[str, str], ...] = (
    ("distill.analysis.source", "ImportRef"),
    ("distill.analysis.source", "Definition"),
    ("distill.analysis.source", "ParamDecl"),
    ("distill.analysis.source", "StepDecl"),
    ("distill.analysis.source", "ModuleInfo"),
    ("distill.analysis.reads", "ReadRef"),
    ("distill.errors", "Problem"),
    ("distill.cache.fingerprint", "Read"),
    ("distill.cache.fingerprint", "Closure"),
    ("distill.pipeline.params_text", "Repeat"),
    ("distill.pipeline.params_text", "ParamsText"),
)

# Types that JSON carries as they are.
_SELF: frozenset[type] = frozenset({str, int, float, bool, type(None)})


class Unencodable(TypeError):
    """A value of a type outside the allowlist."""


def _dict(body: list[Any]) -> dict[Any, Any]:
    keys, values = body
    return dict(zip(keys, values, strict=True))


def _bytes(body: str) -> bytes:
    return base64.b64decode(body.encode("ascii"), validate=True)


def _complex(body: list[float]) -> complex:
    real, imag = body
    return complex(float(real), float(imag))


def _ellipsis(body: object) -> object:
    return ...


_Encoder = Callable[[Any], Any]


class _Encoders(dict[type, _Encoder]):
    """Encoders by exact type (a subclass of an allowed type is not allowed)."""

    def __missing__(self, cls: type) -> _Encoder:
        raise Unencodable(f"cannot memoise a value of type {cls.__module__}.{cls.__qualname__}")


class _Codec:
    """The encoders by exact type and the builders by tag, made once the records are importable."""

    def __init__(self) -> None:
        self.build: dict[str, Callable[[Any], Any]] = {
            "t": tuple,
            "f": frozenset,
            "s": set,
            "d": _dict,
            "b": _bytes,
            "c": _complex,
            "e": _ellipsis,
        }
        # Record types by tag: built from their fields, positionally.
        self.records: dict[str, type] = {}
        self.encoders = enc = _Encoders(dict.fromkeys(_SELF, _same))
        own = _SELF

        # NB: the comprehensions are written out in each encoder: strings and numbers, most
        #     items, stand for themselves and cost no call, and a container costs one.
        def items(values: Iterable[Any]) -> list[Any]:
            return [v if v.__class__ in own else enc[v.__class__](v) for v in values]

        containers: dict[type, _Encoder] = {
            list: items,
            tuple: lambda v: {"t": [x if x.__class__ in own else enc[x.__class__](x) for x in v]},
            frozenset: lambda v: {"f": [x if x.__class__ in own else enc[x.__class__](x) for x in v]},
            set: lambda v: {"s": items(v)},
            dict: lambda v: {"d": [
                [x if x.__class__ in own else enc[x.__class__](x) for x in v],
                [x if x.__class__ in own else enc[x.__class__](x) for x in v.values()],
            ]},
            bytes: lambda v: {"b": base64.b64encode(v).decode("ascii")},
            complex: lambda v: {"c": [v.real, v.imag]},
            type(...): lambda v: {"e": 0},
        }
        enc.update(containers)
        for module_name, name in RECORDS:
            cls = _import_record(module_name, name)
            assert name not in self.build and name not in self.records, name
            self.records[name] = cls
            enc[cls] = _record_encoder(name, _fields(cls), items)

        self.hook = _hook(self.build, self.records)

    def encode(self, value: Any) -> Any:
        return self.encoders[value.__class__](value)


def _hook(
    build: dict[str, Callable[[Any], Any]], records: dict[str, type]
) -> Callable[[list[tuple[str, Any]]], Any]:
    """The ``object_pairs_hook`` that rebuilds each tagged value (its body already rebuilt)."""

    def hook(pairs: list[tuple[str, Any]]) -> Any:
        # NB: every JSON object is one tagged value; anything else is a damaged file.
        ((tag, body),) = pairs
        cls = records.get(tag)
        if cls is None:
            return build[tag](body)
        if body.__class__ is not list:
            raise TypeError(f"the fields of a {tag} must be a list")
        return cls(*body)

    return hook


def _same(value: Any) -> Any:
    return value


def _import_record(module_name: str, name: str) -> type:
    # NB: only the fixed modules of RECORDS, never a name read from a file.
    import importlib

    cls = getattr(importlib.import_module(module_name), name)
    if not isinstance(cls, type):
        raise TypeError(f"{module_name}.{name} is not a class")
    return cls


def _fields(cls: type) -> list[tuple[str, Any]]:
    """``(name, default)`` of each field a record is rebuilt from, positionally, in
    declaration order; the default is ``_NO_DEFAULT`` for a field without one."""
    if dataclasses.is_dataclass(cls):
        out: list[tuple[str, Any]] = []
        for f in dataclasses.fields(cls):
            # NB: a field left out of __init__ could not be passed back positionally.
            assert f.init, (cls, f.name)
            if f.default is not dataclasses.MISSING:
                default: Any = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = _NO_DEFAULT
            out.append((f.name, default))
        return out
    names = getattr(cls, "_fields", None)  # a NamedTuple
    if isinstance(names, tuple):
        defaults = getattr(cls, "_field_defaults", {})
        return [(name, defaults.get(name, _NO_DEFAULT)) for name in names]
    raise TypeError(f"{cls.__qualname__} is neither a dataclass nor a NamedTuple")


_NO_DEFAULT = object()


def _is_default(value: Any, default: Any) -> bool:
    """Whether ``value`` is rebuilt exactly by leaving its field to its default."""
    cls = value.__class__
    if cls is not default.__class__:
        return False
    if cls in (str, int, bool, type(None)):
        return bool(value == default)
    # NB: only empty containers: (0.0,) == (-0.0,), yet they are different values.
    return cls in (tuple, frozenset, dict, list) and not value and not default


def _record_encoder(
    tag: str, fields: list[tuple[str, Any]], items: Callable[[Iterable[Any]], list[Any]]
) -> _Encoder:
    get = operator.attrgetter(*(name for name, _ in fields))
    defaults = [default for _, default in fields]
    # Fields from here on have defaults: trailing ones left at their default are not written
    # (the constructor fills them in again).
    start = len(fields)
    while start and defaults[start - 1] is not _NO_DEFAULT:
        start -= 1

    def encode(value: Any) -> Any:
        values = get(value)
        if len(fields) == 1:
            values = (values,)
        end = len(values)
        while end > start and (
            values[end - 1] is defaults[end - 1] or _is_default(values[end - 1], defaults[end - 1])
        ):
            end -= 1
        return {tag: items(values[:end])}

    return encode


_CODEC: _Codec | None = None


def _codec() -> _Codec:
    global _CODEC
    if _CODEC is None:
        _CODEC = _Codec()
    return _CODEC


def encode(value: Any) -> Any:
    """``value`` as a JSON-ready tree.

    Raises:
        Unencodable: ``value`` holds a type outside the allowlist.
    """
    return _codec().encode(value)


def decode_text(text: str | bytes) -> Any:
    """The value a JSON text made by ``dumps``/``encode`` stands for.

    Raises:
        ValueError, TypeError, KeyError, RecursionError: ``text`` is not such a text.
    """
    hook = _codec().hook
    # NB: tens of thousands of new acyclic objects would set off the cyclic collector over and
    #     over (about a tenth of the time); nothing built here can be a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return json.loads(text, object_pairs_hook=hook)
    finally:
        if collecting:
            gc.enable()


def dumps(tables: dict[str, dict[Any, Any]]) -> bytes:
    """The memo tables as JSON bytes; a table that cannot be written is left out whole."""
    codec = _codec()
    names: list[str] = []
    texts: list[str] = []
    for name, table in tables.items():
        try:
            # NB: ASCII only: a path with undecodable bytes is a str with lone surrogates,
            #     which only the \u escapes carry through.
            text = json.dumps(codec.encode(table), separators=(",", ":"))
        except (Unencodable, RecursionError, ValueError):
            # ValueError: an int too long to write as text (sys.get_int_max_str_digits).
            continue
        names.append(json.dumps(name))
        texts.append(text)
    return f'{{"d":[[{",".join(names)}],[{",".join(texts)}]]}}'.encode("ascii")


def loads(data: bytes) -> dict[str, dict[Any, Any]]:
    """The memo tables from ``dumps``.

    Raises:
        ValueError, TypeError, KeyError, RecursionError: ``data`` is not such a text
            (``ValueError`` also when it decodes to something other than tables).
    """
    tables = decode_text(data)
    if not isinstance(tables, dict) or not all(
        isinstance(name, str) and isinstance(table, dict) for name, table in tables.items()
    ):
        raise ValueError("the memo file does not hold tables")
    return tables
