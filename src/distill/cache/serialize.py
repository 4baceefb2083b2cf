"""Turning step outputs into stored objects and back, by type.

Responsibilities:
- ``write_value(value, store) -> Stored``: pick a format for ``value`` and stream it straight
  into the object store: pandas DataFrames → Parquet, NumPy arrays → ``.npy``, JSON-able
  plain data → JSON, matplotlib figures → pickle plus a PNG rendering (an extra object), the
  rest → pickle; falls back to pickle when a faster format cannot hold the value exactly;
- ``read_value(kind, digest, store)``: the inverse; Parquet and ``.npy`` objects are parsed
  while the store checks their hash, pickles only once it has;
- ``serialize(value) -> Serialized`` and ``deserialize(kind, data)``: the same formats in
  memory; ``serialize(value).data`` is byte for byte what ``write_value`` stores;
- ``summary``: what ``distill show`` prints (type, rows, columns, shape, dtype, bytes).

A format is a function that writes the value to a binary file-like object: the same function
feeds a ``BytesIO`` (``serialize``) or a hashing store writer (``write_value``), so both give
the same bytes and nothing large is copied into memory on the way to the store.

Heavy libraries are never imported here unless the value is already one of their types.
Users register their own formats with ``register(type_check, kind, dump, load)``.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ..errors import StoreError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from .store import ObjectStore


class Unstorable(Exception):
    """A value that no serializer can store (pickling failed)."""


@dataclass(frozen=True, slots=True)
class Serialized:
    kind: str
    data: bytes
    summary: dict[str, Any]
    extras: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stored:
    """One value written to the store by ``write_value``.

    Attributes:
        kind: the format (``parquet``, ``npy``, ``json``, ``pickle``, ``figure`` or a
            registered kind); ``read_value`` needs it back.
        digest: the object's content hash, its name in the store.
        size: the object's size in bytes.
        summary: what ``distill show`` prints.
        extras: more objects stored with the value, name → digest (``png`` for a figure).
    """

    kind: str
    digest: str
    size: int
    summary: dict[str, Any]
    extras: dict[str, str] = field(default_factory=dict)


_CUSTOM: list[tuple[Callable[[Any], bool], str, Callable[[Any], bytes], Callable[[bytes], Any]]] = []

# Today's Parquet objects are pandas' `to_parquet(index=True)` defaults: Snappy compression.
_PARQUET_COMPRESSION = "snappy"
# Tables at least this large are written by pyarrow natively into the store's temp file.
_NATIVE_AFTER = 8 << 20


def register(
    check: Callable[[Any], bool], kind: str, dump: Callable[[Any], bytes], load: Callable[[bytes], Any]
) -> None:
    """Register a format: ``check(value)`` selects it, ``dump``/``load`` convert."""
    _CUSTOM.insert(0, (check, kind, dump, load))


class _Sink(Protocol):
    def write(self, data: ReadableBuffer, /) -> int: ...


_Ref = TypeVar("_Ref")
_Dump = Callable[[_Sink], object]


@dataclass(frozen=True, slots=True)
class _Encoded(Generic[_Ref]):
    kind: str
    ref: _Ref
    size: int
    summary: dict[str, Any]
    extras: dict[str, _Ref]


# -- writing -------------------------------------------------------------------------------


def write_value(value: Any, store: ObjectStore) -> Stored:
    """Pick a format for ``value`` and stream it into ``store``.

    The value is never encoded into one ``bytes`` first: the format writes to the store's
    hashing writer, which names the object by its content when it is complete.

    Raises:
        Unstorable: the value cannot be pickled either (nothing is left in the store).
        StoreError: the store could not be written (disk full, permissions).

    Example:
        >>> stored = write_value(frame, store)
        >>> stored.kind, stored.size
        ('parquet', 1180557424)
        >>> read_value(stored.kind, stored.digest, store).equals(frame)
        True
    """

    def emit(dump: _Dump) -> tuple[str, int]:
        with store.writer() as out:
            dump(out)
        return out.digest, out.size

    encoded = _encode(value, emit)
    return Stored(encoded.kind, encoded.ref, encoded.size, encoded.summary, encoded.extras)


def serialize(value: Any) -> Serialized:
    """Pick a format for ``value`` and encode it in memory (the bytes ``write_value`` stores).

    Raises:
        Unstorable: the value cannot be pickled either.
    """

    def emit(dump: _Dump) -> tuple[bytes, int]:
        buffer = io.BytesIO()
        dump(buffer)
        data = buffer.getvalue()
        return data, len(data)

    encoded = _encode(value, emit)
    return Serialized(encoded.kind, encoded.ref, encoded.summary, encoded.extras)


def _encode(value: Any, emit: Callable[[_Dump], tuple[_Ref, int]]) -> _Encoded[_Ref]:
    """Choose the format and write ``value`` through ``emit`` (one call per object)."""
    for check, kind, dump, _ in _CUSTOM:
        if check(value):
            ref, size = emit(partial(_write_bytes, dump(value)))
            return _Encoded(kind, ref, size, {"type": _type_name(value), "bytes": size}, {})
    if _is_json_plain(value):
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        ref, size = emit(partial(_write_bytes, data))
        summary: dict[str, Any] = {"type": _type_name(value), "bytes": size}
        if isinstance(value, (list, dict)):
            summary["length"] = len(value)
        if size <= 200:
            summary["value"] = value
        return _Encoded("json", ref, size, summary, {})
    frame = _dataframe_type()
    is_frame = frame is not None and isinstance(value, frame)
    if is_frame:
        table = _parquet_table(value)
        if table is not None:
            try:
                ref, size = emit(partial(_write_parquet, table))
            except StoreError:
                raise
            except Exception:  # noqa: BLE001 - pyarrow refuses some columns; pickle keeps them
                pass
            else:
                return _Encoded("parquet", ref, size, _frame_summary(value, size), {})
    numpy = sys.modules.get("numpy")
    if numpy is not None and type(value) is numpy.ndarray and not value.dtype.hasobject:
        try:
            ref, size = emit(partial(_write_npy, value))
        except ValueError:
            pass  # a dtype .npy cannot hold without pickle (e.g. a user-defined one)
        else:
            summary = {"type": "numpy.ndarray", "shape": list(value.shape), "dtype": str(value.dtype), "bytes": size}
            return _Encoded("npy", ref, size, summary, {})
    try:
        ref, size = emit(partial(_write_pickle, value))
    except StoreError:
        raise
    except Exception as exc:  # any pickling failure means "cannot store"
        if _is_figure(value):
            # A figure holding something unpicklable (a library's local class) is still a
            # picture: it is stored as its PNG and loads as a figure showing that image.
            ref, size = emit(partial(_write_png, value))
            summary = {"type": _type_name(value), "bytes": size, "stored": f"as its image: {exc}"[:200]}
            return _Encoded("figure-image", ref, size, summary, {})
        raise Unstorable(f"{_type_name(value)} cannot be pickled: {exc}") from exc
    summary = {"type": _type_name(value), "bytes": size}
    if is_frame:
        summary.update(_frame_summary(value, size))
    if _is_figure(value):
        png, _ = emit(partial(_write_png, value))
        return _Encoded("figure", ref, size, summary, {"png": png})
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        summary["shape"] = list(shape)
    return _Encoded("pickle", ref, size, summary, {})


def _write_bytes(data: bytes, out: _Sink) -> None:
    out.write(data)


def _write_pickle(value: Any, out: _Sink) -> None:
    # NB: pickle.dump frames exactly as pickle.dumps does (large buffers go straight to the
    #     file, unframed, in both), so a streamed pickle has the same bytes and hash.
    pickle.dump(value, out, protocol=5)


def _write_png(figure: Any, out: _Sink) -> None:
    figure.savefig(out, format="png", dpi=100)


def _figure_of_image(data: bytes) -> Any:
    """A figure whose one full-size axes shows the PNG ``data`` (a figure stored as its image)."""
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    image = imread(io.BytesIO(data), format="png")
    height, width = image.shape[:2]
    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.imshow(image)
    axes.set_axis_off()
    return figure


def _write_npy(array: Any, out: _Sink) -> None:
    """``numpy.save(out, array)``, without copying a contiguous array's memory.

    Given a file-like object, ``numpy.save`` copies the data 16 MiB at a time; the header it
    would write followed by the array's own memory are the same bytes.
    """
    import numpy

    fmt = numpy.lib.format
    if array.dtype.kind not in "biufcmMSUV" or not (array.flags.c_contiguous or array.flags.f_contiguous):
        numpy.save(out, array, allow_pickle=False)  # non-contiguous: numpy copies in chunks
        return
    header = io.BytesIO()
    try:
        fmt.write_array_header_1_0(header, fmt.header_data_from_array_1_0(array))
    except (ValueError, UnicodeError):
        # NB: numpy.save moves to format 2.0/3.0 for huge or non-Latin-1 headers
        #     (structured dtypes with many or unicode field names): let it decide.
        numpy.save(out, array, allow_pickle=False)
        return
    out.write(header.getvalue())
    if array.nbytes:
        # An F-ordered array is stored in F order: its transpose's C-order memory.
        memory = array.T if not array.flags.c_contiguous else array
        out.write(memory.reshape(-1).view(numpy.uint8))


def _parquet_table(frame: Any) -> Any | None:
    """The Arrow table pandas' ``to_parquet(index=True)`` writes, or None to use pickle."""
    # NB: Parquet needs string column names and one type per column; anything else
    #     (e.g. columns 0, 1 or a column of mixed objects) falls back to pickle.
    if not all(isinstance(c, str) for c in frame.columns):
        return None
    try:
        import pyarrow
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            # The warning pandas silences around the same call.
            warnings.filterwarnings(
                "ignore", r"(Series|DatetimeIndex)\.values returning an ndarray that drops timezone"
            )
            table = pyarrow.Table.from_pandas(frame, schema=None, preserve_index=True)
        if frame.attrs:
            metadata = {**table.schema.metadata, "PANDAS_ATTRS": json.dumps(frame.attrs)}
            table = table.replace_schema_metadata(metadata)
        return table if _survives_parquet(frame, table) else None
    except Exception:  # noqa: BLE001 - pyarrow refuses some object columns; pickle keeps them
        return None


def _survives_parquet(frame: Any, table: Any) -> bool:
    """Whether the frame's dtypes come back from Parquet as they are.

    Checked on a zero-row slice of the table: dtypes come from the schema alone, so this
    costs the same for ten rows or a billion.
    """
    # NB: some dtypes do not survive the round trip (a `category` column of ints comes
    #     back as int64 with pandas 3 / pyarrow 26); a stored value must load as it was.
    #     `table.slice(0, 0).to_pandas()` alone would miss that: it is Parquet that drops it.
    import pyarrow.parquet

    buffer = io.BytesIO()
    pyarrow.parquet.write_table(table.slice(0, 0), buffer, compression=_PARQUET_COMPRESSION)
    back = _frame_from_parquet(io.BytesIO(buffer.getvalue()))
    return list(back.dtypes.astype(str)) == list(frame.dtypes.astype(str)) and str(
        back.index.dtype
    ) == str(frame.index.dtype)


def _write_parquet(table: Any, out: _Sink) -> None:
    # NB: what `frame.to_parquet(out, engine="pyarrow", index=True)` does after building the
    #     table, so the bytes are the same as the objects written before streaming.
    import pyarrow
    import pyarrow.parquet

    native = getattr(out, "native_path", None)
    if native is None or table.nbytes < _NATIVE_AFTER:
        pyarrow.parquet.write_table(table, out, compression=_PARQUET_COMPRESSION)
        return
    # A large table: pyarrow writes the store's temp file itself, without a Python call and
    # a copy per page; the store hashes the file as it grows.
    with native() as path, pyarrow.OSFile(path, "wb") as sink:
        pyarrow.parquet.write_table(table, sink, compression=_PARQUET_COMPRESSION)


# -- reading -------------------------------------------------------------------------------


def read_value(kind: str, digest: str, store: ObjectStore) -> Any:
    """Load the value ``write_value`` stored as ``kind`` under ``digest``.

    Parquet and ``.npy`` objects are parsed while a helper thread checks their hash; the
    value is returned only if it matches. Pickles (which may run code when loaded) and the
    other kinds are decoded only after the check.

    Raises:
        StoreError: the object is missing, or corrupted (it is then removed).
        ValueError: ``kind`` is not a known format.
    """
    for _, custom_kind, _, load in _CUSTOM:
        if custom_kind == kind:
            return load(store.get(digest))
    if kind == "parquet":
        with store.reader(digest, random_access=True) as obj:
            frame = _frame_from_parquet(obj.native_path)
        return frame
    if kind == "npy":
        return _read_npy(digest, store)
    if kind in ("json", "pickle", "figure", "figure-image"):
        return deserialize(kind, store.get(digest))
    raise ValueError(f"unknown object kind {kind!r}")


def deserialize(kind: str, data: bytes) -> Any:
    """Decode bytes written by ``serialize``."""
    for _, custom_kind, _, load in _CUSTOM:
        if custom_kind == kind:
            return load(data)
    if kind == "json":
        return json.loads(data)
    if kind == "parquet":
        import pyarrow

        return _frame_from_parquet(pyarrow.BufferReader(data))
    if kind == "npy":
        import numpy

        return numpy.load(io.BytesIO(data), allow_pickle=False)
    if kind in ("pickle", "figure"):
        return pickle.loads(data)  # objects are our own, verified by hash
    if kind == "figure-image":
        return _figure_of_image(data)
    raise ValueError(f"unknown object kind {kind!r}")


def _frame_from_parquet(source: Any) -> Any:
    import pandas

    frame = _dense_frame(source)
    if frame is None:
        frame = pandas.read_parquet(source, engine="pyarrow")
    return frame


def _dense_frame(source: Any) -> Any | None:
    """Read a frame of one plain NumPy dtype row group by row group into its final block.

    ``read_parquet`` holds the whole decoded Arrow table and the frame copied out of it at
    the same time, over twice the frame's size; filling the frame's one block a row group at
    a time holds the frame and one row group. It gives the frame ``read_parquet`` gives (one
    consolidated block, same index, columns and attrs). Returns None for anything else:
    other dtypes, mixed dtypes, a dtype that changes between row groups (an int column
    with nulls further on), or a single row group (nothing to gain).
    """
    import numpy
    import pandas
    import pyarrow.parquet

    with pyarrow.parquet.ParquetFile(source) as parquet:
        return _fill_dense_frame(parquet, numpy, pandas)


def _fill_dense_frame(parquet: Any, numpy: Any, pandas: Any) -> Any | None:
    metadata = parquet.metadata
    if metadata.num_row_groups < 2 or not metadata.num_columns:
        return None
    rows = metadata.num_rows
    first: Any = None
    block: Any = None
    index: Any = None
    offset = 0
    for group in range(metadata.num_row_groups):
        part = parquet.read_row_group(group, use_pandas_metadata=True).to_pandas()
        if first is None:
            if not _is_dense(part, numpy, pandas):
                return None
            first = part
            block = numpy.empty((part.shape[1], rows), dtype=part.dtypes.iloc[0])
            index = numpy.empty(rows, dtype=part.index.dtype)
        elif not (
            list(part.dtypes) == list(first.dtypes)
            and part.index.dtype == first.index.dtype
            and type(part.index) is type(first.index)
            and part.columns.equals(first.columns)
        ):
            return None
        size = len(part)
        if offset + size > rows:
            return None
        block[:, offset : offset + size] = part.to_numpy(copy=False).T
        index[offset : offset + size] = part.index.to_numpy(copy=False)
        offset += size
        del part
    if offset != rows:
        return None
    frame = pandas.DataFrame(
        block.T,
        index=pandas.Index(index, name=first.index.name, copy=False),
        columns=first.columns,
        copy=False,
    )
    attrs = (parquet.schema_arrow.metadata or {}).get(b"PANDAS_ATTRS")
    if attrs is not None:
        frame.attrs = json.loads(attrs)
    return frame


def _is_dense(part: Any, numpy: Any, pandas: Any) -> bool:
    dtypes = list(part.dtypes)
    return (
        bool(dtypes)
        and all(isinstance(d, numpy.dtype) and d.kind in "biuf" and d == dtypes[0] for d in dtypes)
        and type(part.index) is pandas.Index
        and isinstance(part.index.dtype, numpy.dtype)
        and part.index.dtype.kind in "biuf"
    )


def _read_npy(digest: str, store: ObjectStore) -> Any:
    """``numpy.load`` of an object, read straight into the array while it is hashed."""
    import numpy

    fmt = numpy.lib.format
    with store.reader(digest) as obj:
        version = fmt.read_magic(obj)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(obj)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(obj)
        else:
            shape = None
        if shape is not None and not dtype.hasobject:
            count = math.prod(shape)
            array = _read_npy_data(obj, shape, fortran, dtype, count, numpy)
        else:
            array = None
    if array is None:
        # Rare layouts (format 3.0; a size that disagrees with the header): numpy reads them.
        return numpy.load(io.BytesIO(store.get(digest)), allow_pickle=False)
    return array


def _read_npy_data(obj: Any, shape: tuple[int, ...], fortran: bool, dtype: Any, count: int, numpy: Any) -> Any:
    # NB: the header is read before the hash is checked: a damaged one must not make us
    #     allocate whatever it says, so its size is checked against the file first.
    offset = obj.tell()
    if count * dtype.itemsize != obj.size - offset:
        return None
    array = numpy.empty(shape, dtype=dtype, order="F" if fortran else "C")
    if array.nbytes:
        memory = (array.T if fortran else array).reshape(-1).view(numpy.uint8)
        view = memoryview(memory)
        step = 16 << 20
        for start in range(0, len(view), step):
            if obj.readinto(view[start : start + step]) < min(step, len(view) - start):
                return None
    return array


# -- summaries -----------------------------------------------------------------------------


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


def _is_figure(value: Any) -> bool:
    if "matplotlib" not in sys.modules:
        return False
    from matplotlib.figure import Figure

    return isinstance(value, Figure)
