"""Tests for ``distill.testing``: ``compare`` by type, ``assert_same`` messages, ``describe``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import (
    Figure,  # figures made directly, without pyplot: no backend, no global state
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from distill.testing import Comparison, assert_same, compare, describe

# --- values --------------------------------------------------------------------------------------


def frame() -> pd.DataFrame:
    """120 rows: a float column, an int column, a string column."""
    return pd.DataFrame(
        {
            "fee": np.linspace(1.0, 120.0, 120),
            "n": np.arange(120),
            "s": [f"x{i}" for i in range(120)],
        }
    )


def bumped(rows: list[int], by: float) -> pd.DataFrame:
    df = frame()
    df.loc[rows, "fee"] += by
    return df


def with_nan(value: float = np.nan) -> pd.DataFrame:
    df = frame()
    df.loc[5, "fee"] = value
    return df


RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 3))
Y = (X[:, 0] + 0.5 * RNG.normal(size=80) > 0).astype(int)
XF = pd.DataFrame(X, columns=["a", "b", "c"])


def logistic(rows: int = 80, c: float = 1.0, frame_input: bool = False) -> LogisticRegression:
    x = XF.iloc[:rows] if frame_input else X[:rows]
    return LogisticRegression(C=c).fit(x, Y[:rows])


def pipeline(rows: int = 80) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X[:rows], Y[:rows])


class Memoriser:
    """A scikit-learn-style model whose learnt state is private: only predictions reveal it."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"scale": self.scale}

    def fit(self, x: Any, offset: float) -> Memoriser:
        self.n_features_in_ = x.shape[1]
        self._offset = offset
        return self

    def predict(self, x: Any) -> Any:
        return np.asarray(x).sum(axis=1) * self.scale + self._offset


class Results:
    """Looks like a statsmodels results object: ``params`` and ``bse`` as Series."""

    def __init__(self, params: list[float], bse: list[float]) -> None:
        self.params = pd.Series(params, index=["const", "x"])
        self.bse = pd.Series(bse, index=["const", "x"])


def ols_pair(same: bool) -> tuple[object, object]:
    sm = pytest.importorskip("statsmodels.api")
    exog = sm.add_constant(X[:, :2])
    first = sm.OLS(X[:, 2], exog).fit()
    second = sm.OLS(X[:, 2] + (0.0 if same else 0.5), exog).fit()
    return first, second


@dataclass(frozen=True)
class Point:
    x: float
    y: float


class Plain:
    """No ``__eq__``: compared by pickled bytes."""

    def __init__(self, value: object) -> None:
        self.value = value


class Unpicklable:
    """No ``__eq__`` and no pickling: compared by repr, addresses normalised."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __reduce__(self) -> Any:
        raise TypeError("not picklable")

    def __repr__(self) -> str:
        return f"<Unpicklable {self.tag} at {hex(id(self))}>"


class ElementwiseEq(Plain):
    """An ``__eq__`` that does not answer with a bool: falls back to pickled bytes."""

    def __eq__(self, other: object) -> Any:
        return [True]

    __hash__ = None  # type: ignore[assignment]


class RaisingEq(Plain):
    def __eq__(self, other: object) -> bool:
        raise ValueError("cannot compare")

    __hash__ = None  # type: ignore[assignment]


class BrokenModel:
    """``get_params`` raises: compare must report it, not raise."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        raise RuntimeError("broken get_params")


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def figure_and_axes() -> tuple[object, object]:
    fig = Figure()
    return fig, fig.add_subplot()


# --- compare: the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], tuple[object, object]]
    equal: bool
    how: str
    detail: str = ""  # a part of the detail, when not equal
    probes: Callable[[], tuple[object, ...]] = tuple


CASES = [
    # pandas DataFrame
    Case("frame-same", lambda: (frame(), frame()), True, "frame"),
    Case("frame-noise-below-tolerance", lambda: (frame(), bumped([7, 9], 1e-9)), True, "frame"),
    Case(
        "frame-noise-above-tolerance",
        lambda: (frame(), bumped([7, 9, 50], 0.25)),
        False,
        "frame",
        "column 'fee': 3 of 120 values differ, first at row 7: 8.0 vs 8.25",
    ),
    Case("frame-nan-equals-nan", lambda: (with_nan(), with_nan()), True, "frame"),
    Case("frame-nan-vs-number", lambda: (with_nan(), frame()), False, "frame", "first at row 5: nan vs 6.0"),
    Case(
        "frame-dtype-kind-change",
        lambda: (frame(), frame().astype({"n": "float64"})),
        False,
        "frame",
        "column 'n': dtype int64 vs float64",
    ),
    Case("frame-dtype-same-kind", lambda: (frame(), frame().astype({"n": "int32"})), True, "frame"),
    Case(
        "frame-column-order",
        lambda: (frame(), frame()[["n", "fee", "s"]]),
        False,
        "frame",
        "column order ['fee', 'n', 's'] vs ['n', 'fee', 's']",
    ),
    Case(
        "frame-column-renamed",
        lambda: (frame(), frame().rename(columns={"s": "t"})),
        False,
        "frame",
        "missing in actual: ['s']; extra in actual: ['t']",
    ),
    Case("frame-shape", lambda: (frame(), frame().iloc[:118]), False, "frame", "shape (120, 3) vs (118, 3)"),
    Case(
        "frame-index-labels",
        lambda: (frame(), frame().rename(index={3: 300})),
        False,
        "frame",
        "index differs, first at position 3: 3 vs 300",
    ),
    Case("frame-index-name", lambda: (frame(), frame().rename_axis("id")), False, "frame", "names"),
    Case("frame-strings", lambda: (frame(), frame().replace("x3", "zzz")), False, "frame", "'x3' vs 'zzz'"),
    Case("frame-vs-series", lambda: (frame(), frame()["fee"]), False, "frame", "type DataFrame vs Series"),
    # pandas Series and Index
    Case("series-same", lambda: (frame()["fee"], frame()["fee"] * (1 + 1e-10)), True, "series"),
    Case(
        "series-values",
        lambda: (frame()["fee"], bumped([4], 1.0)["fee"]),
        False,
        "series",
        "1 of 120 values differ, first at row 4: 5.0 vs 6.0",
    ),
    Case(
        "series-name",
        lambda: (frame()["fee"], frame()["fee"].rename("x")),
        False,
        "series",
        "name 'fee' vs 'x'",
    ),
    Case("series-nan", lambda: (pd.Series([1.0, np.nan]), pd.Series([1.0, np.nan])), True, "series"),
    Case("series-str-vs-object", lambda: (pd.Series(["a"]), pd.Series(["a"], dtype=object)), True, "series"),
    Case("index-same", lambda: (pd.Index([1, 2, 3]), pd.Index([1, 2, 3])), True, "series"),
    Case(
        "index-values", lambda: (pd.Index([1, 2, 3]), pd.Index([1, 2, 4])), False, "series", "first at row 2"
    ),
    # numpy arrays
    Case("array-noise", lambda: (np.ones((3, 2)), np.ones((3, 2)) + 1e-12), True, "array"),
    Case(
        "array-values",
        lambda: (np.arange(4.0).reshape(2, 2), np.array([[0.0, 1.0], [2.0, 3.5]])),
        False,
        "array",
        "1 of 4 values differ, first at (1, 1): 3.0 vs 3.5",
    ),
    Case("array-nan", lambda: (np.array([1.0, np.nan]), np.array([1.0, np.nan])), True, "array"),
    Case(
        "array-shape", lambda: (np.zeros((3, 2)), np.zeros((2, 3))), False, "array", "shape (3, 2) vs (2, 3)"
    ),
    Case(
        "array-dtype-kind", lambda: (np.arange(3), np.arange(3.0)), False, "array", "dtype int64 vs float64"
    ),
    Case(
        "array-strings",
        lambda: (np.array(["a", "b"]), np.array(["a", "c"])),
        False,
        "array",
        "1 of 2 values differ, first at 1: 'b' vs 'c'",
    ),
    Case(
        "array-bool", lambda: (np.array([True, False]), np.array([True, True])), False, "array", "first at 1"
    ),
    Case(
        "array-nat",
        lambda: (np.array(["NaT", "2020-01-01"], "M8[D]"), np.array(["NaT", "2020-01-01"], "M8[D]")),
        True,
        "array",
    ),
    Case(
        "array-objects",
        lambda: (np.array([1, {"k": 1.0}], dtype=object), np.array([1, {"k": 1.0 + 1e-12}], dtype=object)),
        True,
        "array",
    ),
    # numbers and plain values
    Case("float-noise", lambda: (0.1 + 0.2, 0.3), True, "float"),
    Case("float-differs", lambda: (0.5, 0.75), False, "float", "0.5 vs 0.75"),
    Case("float-nan", lambda: (float("nan"), float("nan")), True, "float"),
    Case("float-vs-int", lambda: (3.0, 3), True, "float"),
    Case("numpy-float-vs-float", lambda: (np.float64(0.1) * 3, 0.3), True, "float"),
    Case("numpy-float32", lambda: (np.float32(0.5), 0.5), True, "float"),
    Case("numpy-int-vs-int", lambda: (np.int64(3), 3), True, "exact"),
    Case("numpy-int-vs-float", lambda: (np.int64(3), 3.5), False, "float", "3 vs 3.5"),
    Case("numpy-bool-vs-bool", lambda: (np.True_, True), True, "exact"),
    Case("bool-vs-int", lambda: (True, 1), False, "exact", "type bool vs int"),
    Case("int-differs", lambda: (1, 2), False, "exact", "1 vs 2"),
    Case("str-same", lambda: ("abc", "abc"), True, "exact"),
    Case("str-differs", lambda: ("abc", "abd"), False, "exact", "'abc' vs 'abd'"),
    Case("str-long", lambda: ("a" * 100, "a" * 60 + "b"), False, "exact", "first difference at position 60"),
    Case("str-vs-bytes", lambda: ("a", b"a"), False, "exact", "type str vs bytes"),
    Case("none", lambda: (None, None), True, "exact"),
    Case("none-vs-zero", lambda: (None, 0), False, "exact", "type NoneType vs int"),
    # containers
    Case("dict-nested", lambda: ({"a": [1, {"b": 2.0}]}, {"a": [1, {"b": 2.0 + 1e-12}]}), True, "mapping"),
    Case(
        "dict-nested-differs",
        lambda: ({"a": [1, {"b": 2.0}]}, {"a": [1, {"b": 2.5}]}),
        False,
        "mapping",
        "at ['a'][1]['b']: 2.0 vs 2.5",
    ),
    Case(
        "dict-missing-key",
        lambda: ({"a": 1, "b": 2}, {"a": 1}),
        False,
        "mapping",
        "key 'b' missing in actual",
    ),
    Case("dict-extra-key", lambda: ({"a": 1}, {"a": 1, "c": 2}), False, "mapping", "extra key 'c' in actual"),
    Case("dict-key-order", lambda: ({"a": 1, "b": 2}, {"b": 2, "a": 1}), True, "mapping"),
    Case(
        "dict-of-frames",
        lambda: ({"t": frame()}, {"t": bumped([2], 1.0)}),
        False,
        "mapping",
        "at ['t']: column",
    ),
    Case("list-vs-tuple", lambda: ([1, 2], (1, 2)), False, "sequence", "type list vs tuple"),
    Case("list-length", lambda: ([1], [1, 2]), False, "sequence", "length 1 vs 2"),
    Case("tuple-item", lambda: ((1, "x", 0.5), (1, "y", 0.5)), False, "sequence", "at [1]: 'x' vs 'y'"),
    Case("too-deep", lambda: (nested(60), nested(60)), False, "sequence", "nested deeper than 50 levels"),
    # figures
    Case("figure-vs-figure", lambda: (Figure(), Figure()), True, "figure"),
    Case("figure-vs-axes", figure_and_axes, True, "figure"),
    Case("figure-vs-none", lambda: (Figure(), None), False, "figure", "type Figure vs NoneType"),
    Case("none-vs-figure", lambda: (None, Figure()), False, "exact", "type NoneType vs Figure"),
    # scikit-learn models
    Case("model-same-data", lambda: (logistic(), logistic()), True, "model"),
    Case("model-same-data-probed", lambda: (logistic(), logistic()), True, "model", probes=lambda: (X,)),
    Case("model-different-data", lambda: (logistic(), logistic(rows=50)), False, "model", "fitted attribute"),
    Case(
        "model-different-params",
        lambda: (logistic(), logistic(c=0.5)),
        False,
        "model",
        "param 'C': 1.0 vs 0.5",
    ),
    Case("model-unfitted", lambda: (LogisticRegression(), LogisticRegression()), True, "model"),
    Case(
        "model-fitted-vs-unfitted",
        lambda: (logistic(), LogisticRegression()),
        False,
        "model",
        "missing in actual",
    ),
    Case(
        "model-feature-names-probed",
        lambda: (logistic(frame_input=True), logistic(frame_input=True)),
        True,
        "model",
        probes=lambda: (XF, X, XF[["b", "a", "c"]]),
    ),
    Case("pipeline-same", lambda: (pipeline(), pipeline()), True, "model"),
    Case(
        "pipeline-different-data",
        lambda: (pipeline(), pipeline(rows=50)),
        False,
        "model",
        "param 'steps'[0][1]",
    ),
    Case(
        "model-private-state-no-probe",
        lambda: (Memoriser().fit(X, 0.0), Memoriser().fit(X, 1.0)),
        True,
        "model",
    ),
    Case(
        "model-private-state-probed",
        lambda: (Memoriser().fit(X, 0.0), Memoriser().fit(X, 1.0)),
        False,
        "model",
        "predictions on probe 1: 80 of 80 values differ",
        probes=lambda: (X[:, :2], X),  # the first does not fit 3 features: skipped
    ),
    Case(
        "model-broken",
        lambda: (BrokenModel(), BrokenModel()),
        False,
        "model",
        "RuntimeError: broken get_params",
    ),
    # statsmodels-like results
    Case(
        "params-same",
        lambda: (Results([1.0, 2.0], [0.1, 0.2]), Results([1.0, 2.0], [0.1, 0.2])),
        True,
        "params",
    ),
    Case(
        "params-differ",
        lambda: (Results([1.0, 2.0], [0.1, 0.2]), Results([1.0, 2.5], [0.1, 0.2])),
        False,
        "params",
        "params: 1 of 2 values differ, first at row 'x': 2.0 vs 2.5",
    ),
    Case(
        "params-bse-differ",
        lambda: (Results([1.0, 2.0], [0.1, 0.2]), Results([1.0, 2.0], [0.1, 0.3])),
        False,
        "params",
        "bse: ",
    ),
    Case("statsmodels-ols-same", lambda: ols_pair(True), True, "params"),
    Case("statsmodels-ols-differs", lambda: ols_pair(False), False, "params", "params: "),
    # other objects
    Case("eq-same", lambda: (Point(1.0, 2.0), Point(1.0, 2.0)), True, "exact"),
    Case("eq-differs", lambda: (Point(1.0, 2.0), Point(1.0, 3.0)), False, "exact", "Point(x=1.0, y=2.0) vs"),
    Case("set", lambda: ({1, 2}, {2, 1}), True, "exact"),
    Case("no-eq-same", lambda: (Plain([1, 2]), Plain([1, 2])), True, "pickle"),
    Case("no-eq-differs", lambda: (Plain([1, 2]), Plain([1, 3])), False, "pickle", "pickled bytes differ"),
    Case(
        "eq-not-bool", lambda: (ElementwiseEq(1), ElementwiseEq(2)), False, "pickle", "pickled bytes differ"
    ),
    Case("eq-not-bool-same", lambda: (ElementwiseEq(1), ElementwiseEq(1)), True, "pickle"),
    Case("eq-raises", lambda: (RaisingEq(1), RaisingEq(1)), True, "pickle"),
    Case("unpicklable-same", lambda: (Unpicklable("a"), Unpicklable("a")), True, "repr"),
    Case(
        "unpicklable-differs",
        lambda: (Unpicklable("a"), Unpicklable("b")),
        False,
        "repr",
        "<Unpicklable a at 0x…>",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_compare(case: Case) -> None:
    expected, actual = case.make()
    result = compare(expected, actual, probes=case.probes())
    assert (result.equal, result.how) == (case.equal, case.how), result
    if case.equal:
        assert result.detail == ""
    else:
        assert case.detail in result.detail, result.detail
        assert len(result.detail) <= 300


def test_identical_objects_are_equal() -> None:
    value = [frame(), np.zeros(3)]
    assert compare(value, value) == Comparison(True, "sequence")


def test_tolerances_are_used_everywhere() -> None:
    assert not compare(1.0, 1.001).equal
    assert compare(1.0, 1.001, rtol=1e-2).equal
    assert compare(0.0, 1e-6, atol=1e-5).equal
    assert compare(frame(), bumped([0], 1e-3), rtol=1e-2).equal
    assert compare(np.ones(3), np.ones(3) * 1.001, rtol=1e-2).equal
    assert compare({"m": [0.5]}, {"m": [0.5001]}, rtol=1e-2).equal


def test_model_predictions_on_first_rows_only() -> None:
    first, second = Memoriser().fit(X, 0.0), Memoriser().fit(X, 0.0)
    second.predict = lambda x: np.asarray(x).sum(axis=1) + (np.arange(len(x)) >= 1000)  # type: ignore[method-assign]
    big = np.zeros((1500, 3))
    assert compare(first, second, probes=[big]).equal


def test_transformer_is_probed_with_transform() -> None:
    first, second = StandardScaler().fit(X), StandardScaler().fit(X)
    assert compare(first, second, probes=[X]) == Comparison(True, "model")


def test_probe_failing_in_one_model_only() -> None:
    def refuse(x: Any) -> Any:
        raise ValueError("no")

    picky = Memoriser().fit(X, 0.0)
    picky.predict = refuse  # type: ignore[method-assign]
    result = compare(Memoriser().fit(X, 0.0), picky, probes=[X])
    assert not result.equal and "predict raised in actual only: ValueError('no')" in result.detail
    both = Memoriser().fit(X, 0.0)
    both.predict = refuse  # type: ignore[method-assign]
    assert compare(picky, both, probes=[X]).equal  # a probe neither model takes judges nothing


def test_compare_never_raises_on_broken_repr() -> None:
    class BadRepr:
        def __reduce__(self) -> Any:
            raise TypeError("nope")

        def __repr__(self) -> str:
            raise RuntimeError("bad repr")

    result = compare(BadRepr(), BadRepr())
    assert not result.equal and "RuntimeError: bad repr" in result.detail


# --- assert_same -----------------------------------------------------------------------------------


def test_assert_same_passes_silently() -> None:
    assert_same(frame(), bumped([1], 1e-12), name="table")


def test_assert_same_message() -> None:
    with pytest.raises(AssertionError) as info:
        assert_same({"auc": 0.81}, {"auc": 0.79}, name="metrics")
    assert str(info.value) == "metrics: at ['auc']: 0.81 vs 0.79 (compared as mapping)"


def test_assert_same_default_name_and_tolerance() -> None:
    with pytest.raises(AssertionError, match=r"^value: 1\.0 vs 1\.1 \(compared as float\)$"):
        assert_same(1.0, 1.1)
    assert_same(1.0, 1.1, rtol=0.2)


# --- describe --------------------------------------------------------------------------------------

DESCRIBE = [
    ("frame", frame, "DataFrame 120×3"),
    ("series", lambda: frame()["fee"], "Series float64 120"),
    ("array", lambda: np.zeros((3, 2)), "ndarray float64 (3, 2)"),
    ("float", lambda: 0.8125, "float 0.8125"),
    ("numpy-float", lambda: np.float64(0.8125), "float64 0.8125"),
    ("int", lambda: 3, "int 3"),
    ("bool", lambda: True, "bool True"),
    ("none", lambda: None, "None"),
    ("str", lambda: "abc", "str 'abc'"),
    ("str-long", lambda: "abc" * 30, "str 'abcabcabcabcabcabcabcabcabcabcabcabca…'"),
    ("bytes", lambda: b"xyz", "bytes (3 bytes)"),
    ("dict", lambda: {"a": 1, "b": 2}, "dict (2 keys)"),
    ("list", lambda: [1], "list (1 item)"),
    ("model", logistic, "LogisticRegression"),
    ("figure", Figure, "Figure"),
    ("params", lambda: Results([1.0, 2.0], [0.1, 0.2]), "Results (2 params)"),
    ("dataclass", lambda: Point(1.0, 2.0), "Point(x=1.0, y=2.0)"),
    ("set", lambda: {1}, "set {1}"),
    ("plain-object", lambda: Plain(1), "Plain"),
]


@pytest.mark.parametrize(("make", "text"), [(m, t) for _, m, t in DESCRIBE], ids=[i for i, _, _ in DESCRIBE])
def test_describe(make: Callable[[], object], text: str) -> None:
    assert describe(make()) == text


def test_describe_is_short_and_never_raises() -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("bad repr")

    assert describe(BadRepr()) == "BadRepr"
    assert len(describe(list(range(10_000)))) < 60
    assert len(describe(Point(1.0, "y" * 500))) <= 40  # type: ignore[arg-type]


# --- imports ---------------------------------------------------------------------------------------


def test_importing_and_plain_comparisons_do_not_load_heavy_libraries() -> None:
    code = textwrap.dedent(
        """
        import sys
        from distill.testing import compare, describe
        assert compare({"a": [1.0, "x"]}, {"a": [1.0, "x"]}).equal
        describe("text"), describe(3.5), describe(object())
        heavy = [m for m in ("numpy", "pandas", "matplotlib", "sklearn") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
