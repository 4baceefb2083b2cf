"""Turning step outputs into bytes and back, by type.

Responsibilities:
- ``serialize(value) -> Serialized``: pandas DataFrames → Parquet, NumPy arrays → ``.npy``,
  JSON-able plain data → JSON, matplotlib figures → pickle plus a PNG rendering, the rest →
  pickle; falls back to pickle when a faster format cannot hold the value exactly;
- ``deserialize(kind, data)``: the inverse;
- ``summary``: what ``distill show`` prints (type, rows, columns, shape, dtype, bytes).

Heavy libraries are never imported here unless the value is already one of their types.
Users register their own formats with ``register(type_check, kind, dump, load)``.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Unstorable(Exception):
    """A value that no serializer can store (pickling failed)."""


@dataclass(frozen=True, slots=True)
class Serialized:
    kind: str
    data: bytes
    summary: dict[str, Any]
    extras: dict[str, bytes] = field(default_factory=dict)


_CUSTOM: list[tuple[Callable[[Any], bool], str, Callable[[Any], bytes], Callable[[bytes], Any]]] = []


def register(
    check: Callable[[Any], bool], kind: str, dump: Callable[[Any], bytes], load: Callable[[bytes], Any]
) -> None:
    """Register a format: ``check(value)`` selects it, ``dump``/``load`` convert."""
    _CUSTOM.insert(0, (check, kind, dump, load))


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__


def _is_json_plain(value: Any, depth: int = 0) -> bool:
    # NB: tuples are not JSON: they would come back as lists, so they go to pickle:
    #     (1, 2) -> pickle; [1, 2] -> JSON
    if depth > 50:
        return False
    kind = type(value)
    if kind in (str, bool, int) or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_is_json_plain(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _is_json_plain(v, depth + 1) for k, v in value.items())
    return False


def _dataframe_type() -> Any:
    pandas = sys.modules.get("pandas")
    return getattr(pandas, "DataFrame", None) if pandas is not None else None


def serialize(value: Any) -> Serialized:
    """Pick a format for ``value`` and encode it.

    Raises:
        Unstorable: the value cannot be pickled either.
    """
    for check, kind, dump, _ in _CUSTOM:
        if check(value):
            data = dump(value)
            return Serialized(kind, data, {"type": _type_name(value), "bytes": len(data)})
    if _is_json_plain(value):
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        summary: dict[str, Any] = {"type": _type_name(value), "bytes": len(data)}
        if isinstance(value, (list, dict)):
            summary["length"] = len(value)
        if len(data) <= 200:
            summary["value"] = value
        return Serialized("json", data, summary)
    frame = _dataframe_type()
    if frame is not None and isinstance(value, frame):
        parquet = _parquet(value)
        if parquet is not None:
            return Serialized("parquet", parquet, _frame_summary(value, len(parquet)))
    numpy = sys.modules.get("numpy")
    if numpy is not None and type(value) is numpy.ndarray and value.dtype != object:
        buf = io.BytesIO()
        numpy.save(buf, value, allow_pickle=False)
        data = buf.getvalue()
        return Serialized(
            "npy",
            data,
            {"type": "numpy.ndarray", "shape": list(value.shape), "dtype": str(value.dtype), "bytes": len(data)},
        )
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means "cannot store"
        raise Unstorable(f"{_type_name(value)} cannot be pickled: {exc}") from exc
    summary = {"type": _type_name(value), "bytes": len(data)}
    if frame is not None and isinstance(value, frame):
        summary.update(_frame_summary(value, len(data)))
    extras: dict[str, bytes] = {}
    figure = _figure_png(value)
    if figure is not None:
        extras["png"] = figure
        return Serialized("figure", data, summary, extras)
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        summary["shape"] = list(shape)
    return Serialized("pickle", data, summary, extras)


def _parquet(frame: Any) -> bytes | None:
    # NB: Parquet needs string column names and one type per column; anything else
    #     (e.g. columns 0, 1 or a column of mixed objects) falls back to pickle.
    if not all(isinstance(c, str) for c in frame.columns):
        return None
    try:
        buf = io.BytesIO()
        frame.to_parquet(buf, engine="pyarrow", index=True)
        data = buf.getvalue()
        # NB: some dtypes do not survive the round trip (a `category` column of ints comes
        #     back as int64 with pandas 3 / pyarrow 26); a stored value must load as it was
        import pandas

        back = pandas.read_parquet(io.BytesIO(data), engine="pyarrow")
        if list(back.dtypes.astype(str)) != list(frame.dtypes.astype(str)) or \
                str(back.index.dtype) != str(frame.index.dtype):
            return None
        return data
    except ImportError:
        return None
    except Exception:  # noqa: BLE001 - pyarrow refuses some object columns; pickle keeps them
        return None


def _frame_summary(frame: Any, size: int) -> dict[str, Any]:
    columns = [str(c) for c in frame.columns]
    return {
        "type": _type_name(frame),
        "rows": int(frame.shape[0]),
        "columns": len(columns),
        "column_names": columns[:50],
        "dtypes": {str(c): str(t) for c, t in list(frame.dtypes.items())[:50]},
        "bytes": size,
    }


def _figure_png(value: Any) -> bytes | None:
    if "matplotlib" not in sys.modules:
        return None
    from matplotlib.figure import Figure

    if not isinstance(value, Figure):
        return None
    buf = io.BytesIO()
    value.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def deserialize(kind: str, data: bytes) -> Any:
    """Decode bytes written by ``serialize``."""
    for _, custom_kind, _, load in _CUSTOM:
        if custom_kind == kind:
            return load(data)
    if kind == "json":
        return json.loads(data)
    if kind == "parquet":
        import pandas

        return pandas.read_parquet(io.BytesIO(data), engine="pyarrow")
    if kind == "npy":
        import numpy

        return numpy.load(io.BytesIO(data), allow_pickle=False)
    if kind in ("pickle", "figure"):
        return pickle.loads(data)  # noqa: S301 - objects are our own, verified by hash
    raise ValueError(f"unknown object kind {kind!r}")
