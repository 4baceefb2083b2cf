"""The streaming object store and ``write_value``/``read_value``.

Most tests run twice: with the store's real thresholds (small values are hashed inline) and
with tiny ones (``threaded``), so that the helper-thread paths (hashing on a thread, hashing a
file as it grows, verifying in parallel) are exercised with small values too.
"""

from __future__ import annotations

import io
import json
import pickle
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from distill.cache import serialize as serialize_module
from distill.cache import store as store_module
from distill.cache.serialize import (
    Stored,
    Unstorable,
    read_value,
    register,
    serialize,
    write_value,
)
from distill.cache.store import ObjectStore, content_hash
from distill.errors import StoreError


@pytest.fixture(params=["inline", "threaded"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ObjectStore]:
    if request.param == "threaded":
        monkeypatch.setattr(store_module, "_THREAD_AFTER", 1000)
        monkeypatch.setattr(store_module, "_SLICE", 4096)
        monkeypatch.setattr(store_module, "_COPY_BELOW", 512)
        monkeypatch.setattr(serialize_module, "_NATIVE_AFTER", 1000)
    threads = threading.active_count()
    yield ObjectStore(tmp_path)
    assert threading.active_count() == threads, "a hashing thread outlived its object"


def leftovers(store: ObjectStore) -> list[str]:
    tmp = store.root / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def objects(store: ObjectStore) -> list[str]:
    return sorted(p.parent.name + p.name for p in store.root.glob("??/*"))


def flip_one_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


# -- the streaming writer ------------------------------------------------------------------


def test_writer_digest_is_the_content_hash_of_what_was_written(store: ObjectStore) -> None:
    np = pytest.importorskip("numpy")
    grid = np.arange(3000, dtype="float64").reshape(30, 100)
    reused = bytearray(b"abc" * 300)
    parts: list[bytes] = [b"header", bytes(reused), grid.tobytes(), b"", b"x" * 10_000]
    with store.writer() as out:
        out.write(b"header")
        out.write(reused)
        reused[:] = b"z" * len(reused)  # a library reusing its small buffer right away
        out.write(memoryview(grid))  # a 2-D float view: counted in bytes, not rows
        out.write(b"")
        out.write(b"x" * 10_000)
    expected = b"".join(parts)
    assert out.digest == content_hash(expected) == store.put(expected)
    assert out.size == len(expected) == out.tell()
    assert store.get(out.digest) == expected
    assert objects(store) == [out.digest] and leftovers(store) == []


def test_writer_stores_the_same_content_once(store: ObjectStore) -> None:
    for _ in range(2):
        with store.writer() as out:
            out.write(b"same" * 1000)
    assert objects(store) == [content_hash(b"same" * 1000)]
    assert leftovers(store) == []


def test_an_exception_in_the_writer_leaves_no_object_and_no_temp_file(store: ObjectStore) -> None:
    with pytest.raises(ZeroDivisionError), store.writer() as out:
        out.write(b"partial" * 1000)
        1 / 0  # noqa: B018 - the failure under test
    assert objects(store) == [] and leftovers(store) == []
    with pytest.raises(RuntimeError, match="after its `with` block"):
        _ = out.digest


def test_native_path_writer_hashes_the_file_as_it_grows(store: ObjectStore) -> None:
    chunks = [bytes([i]) * 3001 for i in range(20)]
    with store.writer() as out, out.native_path() as path, open(path, "ab") as handle:
        for chunk in chunks:
            handle.write(chunk)
            handle.flush()
    assert out.digest == content_hash(b"".join(chunks)) and out.size == 20 * 3001
    with pytest.raises(ValueError, match="written one way only"), store.writer() as again:
        with again.native_path():
            pass
        again.write(b"more")
    assert leftovers(store) == []


def test_an_exception_in_native_path_leaves_nothing(store: ObjectStore) -> None:
    with pytest.raises(OSError, match="disk full"), store.writer() as out, out.native_path() as path:
        Path(path).write_bytes(b"half" * 5000)
        raise OSError("disk full")
    assert objects(store) == [] and leftovers(store) == []


# -- the verified reader ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["get", "in order", "random access"])
def test_reader_rejects_and_removes_a_corrupted_object(store: ObjectStore, how: str) -> None:
    data = bytes(range(256)) * 40
    digest = store.put(data)
    flip_one_byte(store.path(digest))
    with pytest.raises(StoreError, match=f"object {digest} is corrupted: .*it was removed"):
        if how == "get":
            store.get(digest)
        elif how == "in order":
            with store.reader(digest) as obj:
                obj.read(10)  # the rest is hashed on leaving the block
        else:
            with store.reader(digest, random_access=True) as obj:
                obj.file.seek(-10, io.SEEK_END)
                obj.file.read()
    assert not store.path(digest).exists()
    with pytest.raises(StoreError, match="missing"):
        store.get(digest)


def test_reader_returns_intact_objects_and_lets_their_parse_errors_through(store: ObjectStore) -> None:
    data = b"0123456789" * 1000
    digest = store.put(data)
    with store.reader(digest) as obj:
        head = obj.read(5)
        buffer = bytearray(100)
        count = obj.readinto(buffer)
        assert obj.tell() == 105
    assert head + bytes(buffer[:count]) == data[:105]
    with store.reader(digest, random_access=True) as obj:
        assert Path(obj.native_path).read_bytes() == data
    # A failure inside the block, on an intact object, is the caller's own: not a StoreError.
    with pytest.raises(KeyError), store.reader(digest, random_access=True):
        raise KeyError("parse error")
    assert store.path(digest).exists()
    # The same failure on a damaged object reports the damage.
    flip_one_byte(store.path(digest))
    with pytest.raises(StoreError, match="corrupted") as info, store.reader(digest):
        raise KeyError("parse error")
    assert isinstance(info.value.__cause__, KeyError)


# -- write_value / read_value ------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    make: Any  # () -> value
    kind: str


def _frame() -> Any:
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({"a": [1.5, 2.5, None], "b": ["x", "y", "z"], "n": [1, 2, 3]}, index=[10, 20, 30])


def _category_of_ints() -> Any:
    pd = pytest.importorskip("pandas")
    # NB: Parquet brings a `category` of ints back as int64: the frame must go to pickle.
    return pd.DataFrame({"c": pd.Categorical([1, 2, 1]), "x": [0.5, 1.5, 2.5]})


def _numpy() -> Any:
    return pytest.importorskip("numpy")


VALUE_CASES = [
    Case("frame", _frame, "parquet"),
    Case("frame with attrs", lambda: _frame().pipe(_with_attrs), "parquet"),
    Case("category of ints", _category_of_ints, "pickle"),
    Case("integer column names", lambda: _frame().set_axis([0, 1, 2], axis=1), "pickle"),
    Case("array", lambda: _numpy().arange(12.0).reshape(3, 4), "npy"),
    Case("array fortran", lambda: _numpy().asfortranarray(_numpy().arange(12.0).reshape(3, 4)), "npy"),
    Case("array non-contiguous", lambda: _numpy().arange(60).reshape(6, 10)[::2, 1::3], "npy"),
    Case("array 0-d", lambda: _numpy().array(3.25), "npy"),
    Case("array empty", lambda: _numpy().zeros((0, 4), dtype="int8"), "npy"),
    Case("array structured", lambda: _numpy().zeros(3, dtype=[("a", "<i4"), ("b", ">f8")]), "npy"),
    Case("array datetime", lambda: _numpy().arange(4).astype("M8[D]"), "npy"),
    Case("array big", lambda: _numpy().linspace(0, 1, 300_000), "npy"),
    Case("array of objects", lambda: _numpy().array([{"a": 1}, None], dtype=object), "pickle"),
    Case("json int", lambda: 3, "json"),
    Case("json dict", lambda: {"a": [1, 2.5, None], "b": {"c": "d"}}, "json"),
    Case("json list", lambda: list(range(5000)), "json"),
    Case("tuple", lambda: (1, "two", 3.0), "pickle"),
    Case("set", lambda: {1, 2}, "pickle"),
    Case("big bytes", lambda: {"blob": bytes(range(256)) * 20_000}, "pickle"),
]


def _with_attrs(frame: Any) -> Any:
    frame.attrs = {"source": "sensor", "version": 2}
    return frame


def _same(back: Any, value: Any) -> None:
    if type(value).__name__ == "DataFrame":
        import pandas as pd

        pd.testing.assert_frame_equal(back, value, check_index_type=False)
        assert list(back.dtypes.astype(str)) == list(value.dtypes.astype(str))
        assert back.attrs == value.attrs
    elif type(value).__name__ == "ndarray":
        np = _numpy()
        assert back.dtype == value.dtype and back.shape == value.shape
        assert np.array_equal(back, value) if value.dtype != object else list(back) == list(value)
        assert back.flags.writeable
        if value.flags.f_contiguous and not value.flags.c_contiguous:
            assert back.flags.f_contiguous
    else:
        assert back == value and type(back) is type(value)


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c.id for c in VALUE_CASES])
def test_write_value_round_trips(store: ObjectStore, case: Case) -> None:
    value = case.make()
    stored = write_value(value, store)
    assert isinstance(stored, Stored) and stored.kind == case.kind
    assert stored.size == store.path(stored.digest).stat().st_size == stored.summary["bytes"]
    assert store.has(stored.digest, stored.size)
    _same(read_value(stored.kind, stored.digest, store), value)
    assert leftovers(store) == []


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c.id for c in VALUE_CASES])
def test_write_value_stores_what_serialize_encodes(store: ObjectStore, case: Case) -> None:
    value = case.make()
    stored = write_value(value, store)
    packed = serialize(value)
    assert (stored.kind, stored.digest, stored.size) == (packed.kind, content_hash(packed.data), len(packed.data))
    assert stored.summary == packed.summary


def test_digests_match_the_format_written_before_streaming(store: ObjectStore) -> None:
    """Objects stored before streaming keep their names: early cutoff and old caches still hit."""
    pd = pytest.importorskip("pandas")
    np = _numpy()
    frame = _frame()
    before = io.BytesIO()
    frame.to_parquet(before, engine="pyarrow", index=True)
    assert write_value(frame, store).digest == content_hash(before.getvalue())
    array = np.asfortranarray(np.arange(20.0).reshape(4, 5))
    before = io.BytesIO()
    np.save(before, array, allow_pickle=False)
    assert write_value(array, store).digest == content_hash(before.getvalue())
    value = {"b": [1, 2], "a": None}
    assert write_value(value, store).digest == content_hash(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())
    assert write_value((1, 2), store).digest == content_hash(pickle.dumps((1, 2), protocol=5))
    # An object written the old way (serialize + put) is read by read_value.
    big = pd.DataFrame({"x": np.linspace(0, 1, 50_000)})
    digest = store.put(serialize(big).data)
    pd.testing.assert_frame_equal(read_value("parquet", digest, store), big, check_index_type=False)


def test_a_large_frame_is_read_row_group_by_row_group_into_one_block(store: ObjectStore) -> None:
    """Over a million rows: more than one row group, so the dense reader fills one block."""
    pd = pytest.importorskip("pandas")
    np = _numpy()
    rows = (1 << 20) + 1000
    frame = pd.DataFrame({"a": np.arange(rows, dtype="float64"), "b": np.ones(rows)})
    frame.index.name = "row"
    stored = write_value(frame, store)
    before = io.BytesIO()
    frame.to_parquet(before, engine="pyarrow", index=True)
    assert stored.digest == content_hash(before.getvalue())
    back = read_value("parquet", stored.digest, store)
    reference = pd.read_parquet(io.BytesIO(before.getvalue()), engine="pyarrow")
    pd.testing.assert_frame_equal(back, reference, check_exact=True)
    assert back._mgr.nblocks == reference._mgr.nblocks == 1
    assert back.columns.equals(reference.columns) and type(back.index) is type(reference.index)
    back.iloc[0, 0] = -1.0  # writeable, like any frame read_parquet gives


DENSE_CASES = {
    "floats": lambda pd, np: pd.DataFrame({"a": np.arange(450.0), "b": np.arange(450.0) / 3}),
    "ints, named index": lambda pd, np: pd.DataFrame({"a": np.arange(450), "b": -np.arange(450)}, index=pd.Index(np.arange(450) * 2, name="k")),
    "bools": lambda pd, np: pd.DataFrame({"a": np.arange(450) % 2 == 0}),
    "floats with NaN": lambda pd, np: pd.DataFrame({"a": np.where(np.arange(450) > 400, np.nan, 1.0)}),
    "mixed dtypes": lambda pd, np: pd.DataFrame({"a": np.arange(450), "b": np.arange(450.0)}),
    "strings": lambda pd, np: pd.DataFrame({"s": [str(i) for i in range(450)]}),
    "nullable ints": lambda pd, np: pd.DataFrame({"a": pd.array([1] * 440 + [None] * 10, dtype="Int64")}),
    "datetime index": lambda pd, np: pd.DataFrame({"a": np.arange(450.0)}, index=pd.date_range("2020", periods=450)),
}


@pytest.mark.parametrize("name", list(DENSE_CASES))
def test_dense_reader_gives_what_read_parquet_gives(name: str) -> None:
    pd = pytest.importorskip("pandas")
    np = _numpy()
    frame = DENSE_CASES[name](pd, np)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=True, row_group_size=100)
    data = buffer.getvalue()
    reference = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    back = serialize_module._frame_from_parquet(io.BytesIO(data))
    pd.testing.assert_frame_equal(back, reference, check_exact=True)
    assert back.columns.equals(reference.columns) and back.index.equals(reference.index)
    assert type(back.index) is type(reference.index) and back._mgr.nblocks == reference._mgr.nblocks
    dense = serialize_module._dense_frame(io.BytesIO(data)) is not None
    assert dense == (name in ("floats", "ints, named index", "bools", "floats with NaN"))


def test_a_figure_is_stored_with_a_png_extra(store: ObjectStore) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([1, 2, 3])
    stored = write_value(fig, store)
    assert stored.kind == "figure" and set(stored.extras) == {"png"}
    assert store.get(stored.extras["png"]).startswith(b"\x89PNG")
    assert isinstance(read_value("figure", stored.digest, store), Figure)


def test_an_unpicklable_value_is_unstorable_and_leaves_nothing(store: ObjectStore) -> None:
    with pytest.raises(Unstorable, match="dict cannot be pickled: cannot pickle '_thread.lock'"):
        write_value({"before": b"x" * 5000, "lock": threading.Lock()}, store)
    with pytest.raises(Unstorable, match="_thread.lock cannot be pickled"):
        write_value(threading.Lock(), store)
    assert objects(store) == [] and leftovers(store) == []


@pytest.mark.parametrize("kind", ["npy", "parquet", "pickle", "json"])
def test_read_value_rejects_and_removes_a_corrupted_object(store: ObjectStore, kind: str) -> None:
    np = _numpy()
    pd = pytest.importorskip("pandas")
    values = {
        "npy": np.arange(5000.0),
        "parquet": pd.DataFrame({"x": np.arange(5000.0)}),
        "pickle": (1, np.arange(5000.0)),
        "json": list(range(2000)),
    }
    stored = write_value(values[kind], store)
    assert stored.kind == kind
    flip_one_byte(store.path(stored.digest), at=stored.size - 3)  # in a Parquet footer: a parse error
    with pytest.raises(StoreError, match="corrupted"):
        read_value(kind, stored.digest, store)
    assert not store.path(stored.digest).exists()


def test_read_value_of_a_truncated_array_is_a_store_error(store: ObjectStore) -> None:
    np = _numpy()
    stored = write_value(np.arange(5000.0), store)
    path = store.path(stored.digest)
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(StoreError, match="corrupted"):
        read_value("npy", stored.digest, store)


def test_registered_formats_go_through_the_store(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serialize_module, "_CUSTOM", [])

    @dataclass(frozen=True)
    class Point:
        x: int
        y: int

    register(
        lambda v: isinstance(v, Point),
        "point",
        lambda p: f"{p.x},{p.y}".encode(),
        lambda b: Point(*map(int, b.decode().split(","))),
    )
    stored = write_value(Point(3, 4), store)
    assert stored.kind == "point" and stored.digest == content_hash(b"3,4")
    assert read_value("point", stored.digest, store) == Point(3, 4)


def test_read_value_of_an_unknown_kind_is_a_value_error(store: ObjectStore) -> None:
    digest = store.put(b"x")
    with pytest.raises(ValueError, match="unknown object kind 'nope'"):
        read_value("nope", digest, store)


def test_a_figure_that_cannot_be_pickled_is_stored_as_its_image(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from distill.cache.serialize import read_value, write_value
    from distill.cache.store import ObjectStore

    class Local:  # a local class, as a plotting helper may attach one: pickle cannot find it
        pass

    figure = Figure(figsize=(2, 1), dpi=100)
    figure.add_subplot().plot([1, 3, 2])
    figure.holder = Local()
    store = ObjectStore(tmp_path)
    stored = write_value(figure, store)
    assert stored.kind == "figure-image"
    assert "as its image" in stored.summary["stored"]
    loaded = read_value(stored.kind, stored.digest, store)
    assert type(loaded).__name__ == "Figure"
    assert loaded.get_size_inches().tolist() == [2.0, 1.0]
