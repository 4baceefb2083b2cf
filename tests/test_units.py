"""Unit tests: source analysis, serializers, the object store, the public API."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import distill
from distill.analysis.source import analyze_module
from distill.cache.serialize import deserialize, serialize
from distill.cache.store import ObjectStore
from distill.errors import StoreError


@dataclass(frozen=True)
class Case:
    id: str
    before: str
    after: str
    same: bool


HASH_CASES = [
    Case("comment", "def f(x):\n    return x + 1\n", "def f(x):\n    # add one\n    return x + 1\n", True),
    Case("docstring", "def f(x):\n    '''A.'''\n    return x\n", "def f(x):\n    '''B.'''\n    return x\n", True),
    Case("formatting", "def f(x):\n    return (x+1)\n", "def f( x ):\n    return x + 1\n", True),
    Case("body", "def f(x):\n    return x + 1\n", "def f(x):\n    return x + 2\n", False),
    Case("constant", "K = 1\n", "K = 2\n", False),
    Case("class method", "class A:\n    def m(self):\n        return 1\n", "class A:\n    def m(self):\n        return 2\n", False),
]


@pytest.mark.parametrize("case", HASH_CASES, ids=[c.id for c in HASH_CASES])
def test_normalised_hashes(case: Case) -> None:
    a = analyze_module(case.before, "m", "m.py")
    b = analyze_module(case.after, "m", "m.py")
    name = next(iter(a.defs))
    assert (a.defs[name].hash == b.defs[name].hash) is case.same


def test_step_default_and_decorator_are_not_code() -> None:
    base = "from distill import step\n@step\ndef f(x: int = 1):\n    return x\n"
    other = "from distill import step\n@step(retries=3)\ndef f(x: int = 2):\n    return x\n"
    a, b = analyze_module(base, "m", "m.py"), analyze_module(other, "m", "m.py")
    assert a.defs["f"].hash == b.defs["f"].hash
    assert a.steps[0].params[0].default == 1 and b.steps[0].params[0].default == 2
    assert b.steps[0].retries == 3


def test_step_declarations_are_read_from_source() -> None:
    src = (
        "import distill as d\nfrom pathlib import Path\nRAW = 'data/x.csv'\n"
        "@d.step(outputs=('a', 'b'))\ndef s(p: Path = Path(RAW), n: int = 3):\n    return 1, 2\n"
    )
    (decl,) = analyze_module(src, "pkg.m", "pkg/m.py").steps
    assert decl.outputs == ("a", "b") and decl.multi
    assert [(p.name, p.default_kind, p.default) for p in decl.params] == [
        ("p", "path", "data/x.csv"),
        ("n", "literal", 3),
    ]
    assert decl.where == "pkg/m.py:5"


def test_params_and_locals_are_not_global_refs() -> None:
    src = "K = 1\ndef f(K):\n    y = K\n    return y\ndef g():\n    return K\n"
    info = analyze_module(src, "m", "m.py")
    assert "K" not in info.defs["f"].names
    assert "K" in info.defs["g"].names


def test_syntax_error_is_a_problem_not_a_crash() -> None:
    info = analyze_module("def f(:\n", "m", "m.py")
    assert info.problems[0].code == "syntax"
    assert info.problems[0].where == "m.py:1"


def test_imports_inside_functions_are_recorded() -> None:
    info = analyze_module("def f():\n    import sklearn.linear_model\n    from .lib import g\n", "pkg.m", "m.py")
    modules = {(r.module, r.attr) for r in info.defs["f"].local_imports}
    assert ("sklearn.linear_model", None) in modules
    assert ("pkg.lib", "g") in modules


SERIAL_CASES = [
    ("int", 3, "json"),
    ("dict", {"a": [1, 2.5, None]}, "json"),
    ("tuple goes to pickle", (1, 2), "pickle"),
    ("nan goes to pickle", float("nan"), "pickle"),
    ("set", {1, 2}, "pickle"),
]


@pytest.mark.parametrize("name,value,kind", SERIAL_CASES, ids=[c[0] for c in SERIAL_CASES])
def test_serializers_pick_a_format_and_round_trip(name: str, value: object, kind: str) -> None:
    packed = serialize(value)
    assert packed.kind == kind
    back = deserialize(packed.kind, packed.data)
    if isinstance(value, float):
        assert back != back
    else:
        assert back == value and type(back) is type(value)


def test_dataframe_round_trips_through_parquet() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[10, 20])
    packed = serialize(frame)
    assert packed.kind == "parquet"
    assert packed.summary["rows"] == 2 and packed.summary["column_names"] == ["a", "b"]
    pd.testing.assert_frame_equal(deserialize("parquet", packed.data), frame)
    # Integer column names cannot go to Parquet: pickle keeps them exactly.
    odd = pd.DataFrame({0: [1.5]})
    assert serialize(odd).kind == "pickle"


def test_array_round_trips_through_npy() -> None:
    np = pytest.importorskip("numpy")
    arr = np.arange(6, dtype="float32").reshape(2, 3)
    packed = serialize(arr)
    assert packed.kind == "npy" and packed.summary["shape"] == [2, 3]
    assert (deserialize("npy", packed.data) == arr).all()


def test_figure_is_stored_with_a_png() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([1, 2, 3])
    packed = serialize(fig)
    assert packed.kind == "figure"
    assert packed.extras["png"].startswith(b"\x89PNG")


def test_store_is_content_addressed_and_verified(tmp_path) -> None:
    store = ObjectStore(tmp_path)
    digest = store.put(b"hello")
    assert store.put(b"hello") == digest
    assert store.get(digest) == b"hello"
    store.path(digest).write_bytes(b"hellO")
    with pytest.raises(StoreError, match="corrupted"):
        store.get(digest)
    assert not store.path(digest).exists()
    with pytest.raises(StoreError, match="missing"):
        store.get(digest)
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_exported_names_are_pinned() -> None:
    assert sorted(distill.__all__) == [
        "DistillError", "Pipeline", "Secret", "StaleError", "ValidationError", "load", "run", "show", "status", "step",
    ]
    for name in distill.__all__:
        assert getattr(distill, name) is not None


def test_step_leaves_the_function_callable() -> None:
    @distill.step(outputs=("a", "b"))
    def split(x: int) -> tuple[int, int]:
        return x, x + 1

    assert split(1) == (1, 2)
    with pytest.raises(ValueError, match="retries"):
        distill.step(retries=-1)


def test_pipeline_from_functions_runs_in_memory(tmp_path) -> None:
    @distill.step
    def a(n: int = 2) -> int:
        return n

    @distill.step(outputs=("b", "c"))
    def bc(a: int) -> tuple[int, int]:
        return a * 10, a * 100

    @distill.step
    def d(b: int, c: int) -> int:
        return b + c

    pipe = distill.Pipeline.from_functions([d, bc, a])
    assert pipe.run() == {"a": 2, "b": 20, "c": 200, "d": 220}
    assert pipe.run(["d"], params={"n": 3}) == {"d": 330}


def test_pipeline_rejects_plain_functions() -> None:
    def plain() -> int:
        return 1

    with pytest.raises(distill.DistillError, match="not decorated with @step"):
        distill.Pipeline.from_functions([plain])


def test_pipeline_with_cache_reuses_results(tmp_path, monkeypatch) -> None:
    import importlib
    import sys

    (tmp_path / "cachedpipe.py").write_text(
        "from distill import step\n"
        "CALLS = []\n"
        "@step\ndef a() -> int:\n    CALLS.append('a')\n    return 1\n"
        "@step\ndef b(a: int, k: int = 2) -> int:\n    CALLS.append('b')\n    return a * k\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("cachedpipe")
    pipe = distill.Pipeline.from_module(module)
    store = tmp_path / "store"
    assert pipe.run(cache=True, store=store) == {"a": 1, "b": 2}
    assert pipe.run(cache=True, store=store) == {"a": 1, "b": 2}
    assert module.CALLS == ["a", "b"]
    assert pipe.run(["b"], cache=True, store=store, params={"k": 5}) == {"b": 5}
    assert module.CALLS == ["a", "b", "b"]
    sys.modules.pop("cachedpipe", None)
