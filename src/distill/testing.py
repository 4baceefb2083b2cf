"""Comparing two results of the same computation: "are these the same, and if not, where do they differ?"

Responsibilities:
- ``compare(expected, actual)``: a ``Comparison`` (equal, how it was compared, the first difference in
  a short human sentence), by type: pandas frames, series and indexes; NumPy arrays and scalars;
  floats within a tolerance; exact plain values; mappings and sequences item by item; matplotlib
  figures by existence; scikit-learn estimators by params, fitted attributes and predictions on
  probe inputs; statsmodels-like results by ``params``; anything else by ``==``, pickled bytes or
  repr;
- ``assert_same``: the same, raising an ``AssertionError`` whose message is the first difference,
  for the tests ``distill convert`` writes into user projects;
- ``describe(value)``: a one-line summary of a value for a table (``distill verify``).

``compare`` never raises: a comparison that fails with an exception is "not equal", with the
exception in the detail. Heavy libraries (numpy, pandas, matplotlib, scikit-learn) are never
imported here unless a value being compared is already one of their types, so importing this
module stays cheap.
"""

from __future__ import annotations

import cmath
import importlib
import math
import pickle
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Comparison", "assert_same", "compare", "describe"]

MAX_DEPTH = 50
"""How deep ``compare`` follows nested containers before giving up (also stops self-references)."""

PROBE_ROWS = 1000
"""How many rows of each probe a model predicts on."""

_SHORT = 40  # characters of a value shown in a detail or a description
_DETAIL = 200  # characters of a library's error message kept in a detail
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
# NB: search-CV timings are never reproducible; comparing them would fail every fitted search.
_TIMING = re.compile(r"(^|_)(fit|score)_time$|^refit_time_$")


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of ``compare``.

    Attributes:
        equal: whether the values are the same (within tolerance where that applies).
        how: how they were compared: ``"frame"``, ``"series"``, ``"array"``, ``"float"``,
            ``"exact"``, ``"sequence"``, ``"mapping"``, ``"model"``, ``"figure"``, ``"params"``,
            ``"repr"`` or ``"pickle"``.
        detail: when not equal, the first difference, short and human; empty when equal.
    """

    equal: bool
    how: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A comparison inside the recursion: ``path`` (``['a'][0]``) is where the difference is."""

    equal: bool
    how: str
    detail: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class _Tolerance:
    rtol: float
    atol: float
    probes: tuple[Any, ...]


def compare(
    expected: object,
    actual: object,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    probes: Sequence[object] = (),
) -> Comparison:
    """Compare two values by type and report the first difference.

    Args:
        expected: the reference value (e.g. what the notebook computed).
        actual: the value to check (e.g. what the pipeline computed).
        rtol: relative tolerance for floating-point values.
        atol: absolute tolerance for floating-point values.
        probes: 2-D inputs (arrays or DataFrames) that fitted models found anywhere in the values
            must predict (or transform) the same on; a probe whose columns do not fit a model is
            skipped for that model.

    Returns:
        A ``Comparison``; ``detail`` names where the first difference is (a key path, a column, a
        fitted attribute...). Never raises.
    """
    tol = _Tolerance(float(rtol), float(atol), tuple(probes))
    out = _compare(expected, actual, tol, 0)
    if out.equal:
        return Comparison(True, out.how)
    detail = f"at {_clip(out.path, _DETAIL // 2)}: {out.detail}" if out.path else out.detail
    return Comparison(False, out.how, detail)


def assert_same(
    expected: object,
    actual: object,
    *,
    name: str = "value",
    rtol: float = 1e-7,
    atol: float = 1e-9,
    probes: Sequence[object] = (),
) -> None:
    """Assert that ``compare(expected, actual)`` finds the values equal.

    Args:
        expected: the reference value.
        actual: the value to check.
        name: what the value is called in the failure message.
        rtol: relative tolerance for floating-point values.
        atol: absolute tolerance for floating-point values.
        probes: inputs fitted models must predict the same on (see ``compare``).

    Raises:
        AssertionError: ``"{name}: {detail} (compared as {how})"``.
    """
    __tracebackhide__ = True  # pytest hides this frame in failure reports
    result = compare(expected, actual, rtol=rtol, atol=atol, probes=probes)
    if not result.equal:
        raise AssertionError(f"{name}: {result.detail} (compared as {result.how})")


def describe(value: object) -> str:
    """Summarise a value in a few words, for a table.

    Examples: ``"DataFrame 120×4"``, ``"Series float64 120"``, ``"ndarray float64 (3, 2)"``,
    ``"float 0.8125"``, ``"LogisticRegression"``, ``"Figure"``, ``"str 'abc…'"``,
    ``"dict (3 keys)"``. Never raises.
    """
    try:
        return _describe(value)
    except Exception:  # noqa: BLE001 - a summary must not fail on a strange value
        return _type_name(value)


# --- dispatch --------------------------------------------------------------------------------------


def _compare(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    try:
        how = _category(expected)
    except Exception:  # noqa: BLE001 - a broken __getattr__ or property; fall back to repr
        how = "repr"
    try:
        return _compare_as(how, expected, actual, tol, depth)
    except RecursionError:
        return _Outcome(False, how, "nested too deeply to compare")
    except Exception as exc:  # noqa: BLE001 - compare never raises; the failure is the detail
        return _Outcome(False, how, f"comparison failed: {_clip(f'{type(exc).__name__}: {exc}', _DETAIL)}")


def _compare_as(how: str, expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    if depth > MAX_DEPTH:
        return _Outcome(False, how, f"nested deeper than {MAX_DEPTH} levels")
    if how == "figure":
        if _is_figure(actual):
            return _Outcome(True, how)
        return _Outcome(False, how, f"type {_type_name(expected)} vs {_type_name(actual)}")
    e_num, a_num = _number_kind(expected), _number_kind(actual)
    if e_num is not None and a_num is not None:
        return _compare_numbers(expected, actual, e_num, a_num, tol)
    if _is_bool(expected) and _is_bool(actual):  # bool and numpy.bool_
        same = bool(expected) == bool(actual)
        return _Outcome(same, "exact", "" if same else f"{_show(expected)} vs {_show(actual)}")
    if type(expected) is not type(actual):
        return _Outcome(False, how, f"type {_type_names(expected, actual)}")
    if expected is actual:
        return _Outcome(True, how)
    handler = _HANDLERS.get(how)
    if handler is not None:
        return handler(expected, actual, tol, depth)
    return _compare_other(expected, actual, tol, depth)


def _category(value: Any) -> str:
    """How ``value`` is compared: the ``how`` of the comparison."""
    if value is None or type(value) in (bool, str, bytes, bytearray):
        return "exact"
    number = _number_kind(value)
    if number is not None:
        return "exact" if number == "int" else "float"
    top = _top_module(value)
    if top == "pandas":
        pandas = _lib("pandas")
        if isinstance(value, pandas.DataFrame):
            return "frame"
        if isinstance(value, (pandas.Series, pandas.Index)):
            return "series"
    if top == "numpy" and isinstance(value, _lib("numpy").ndarray):
        return "array"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "sequence"
    if _is_figure(value):
        return "figure"
    if _is_model(value):
        return "model"
    if _params_of(value) is not None:
        return "params"
    if _has_own_eq(value):
        return "exact"
    return "pickle"


# --- numbers and plain values ----------------------------------------------------------------------


def _number_kind(value: Any) -> str | None:
    """``"int"``, ``"float"`` or ``"complex"`` for Python and NumPy numbers; ``None`` otherwise.

    Booleans are not numbers here: ``True`` vs ``1`` is a type difference.
    """
    kind = type(value)
    if kind is int:
        return "int"
    if kind is float:
        return "float"
    if kind is complex:
        return "complex"
    if _top_module(value) == "numpy":
        numpy = _lib("numpy")
        if isinstance(value, numpy.integer):
            return "int"
        if isinstance(value, numpy.floating):
            return "float"
        if isinstance(value, numpy.complexfloating):
            return "complex"
    return None


def _compare_numbers(expected: Any, actual: Any, e_kind: str, a_kind: str, tol: _Tolerance) -> _Outcome:
    if e_kind == "int" and a_kind == "int":
        if int(expected) == int(actual):
            return _Outcome(True, "exact")
        return _Outcome(False, "exact", f"{_show(expected)} vs {_show(actual)}")
    if "complex" in (e_kind, a_kind):
        e, a = complex(expected), complex(actual)
        same = cmath.isclose(e, a, rel_tol=tol.rtol, abs_tol=tol.atol) or (cmath.isnan(e) and cmath.isnan(a))
    else:
        try:
            x, y = float(expected), float(actual)
        except OverflowError:  # an int beyond float range: Python compares int with float exactly
            same = bool(expected == actual)
        else:
            same = math.isclose(x, y, rel_tol=tol.rtol, abs_tol=tol.atol) or (math.isnan(x) and math.isnan(y))
    if same:
        return _Outcome(True, "float")
    return _Outcome(False, "float", f"{_show(expected)} vs {_show(actual)}")


def _compare_exact(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    del tol, depth
    try:
        same = expected == actual
    except Exception:  # noqa: BLE001 - an __eq__ that raises: judge by pickled bytes instead
        return _compare_pickled(expected, actual)
    if not _is_bool(same):
        # NB: an __eq__ that answers elementwise (arrays, pandas.NA) says nothing about the whole.
        return _compare_pickled(expected, actual)
    if same or (_is_missing(expected) and _is_missing(actual)):  # NaT != NaT, yet they match
        return _Outcome(True, "exact")
    if isinstance(expected, (str, bytes, bytearray)):
        return _Outcome(False, "exact", _text_difference(expected, actual))
    return _Outcome(False, "exact", f"{_show(expected)} vs {_show(actual)}")


def _text_difference(expected: str | bytes | bytearray, actual: str | bytes | bytearray) -> str:
    if len(expected) <= _SHORT and len(actual) <= _SHORT:
        return f"{expected!r} vs {actual!r}"
    at = next(
        (i for i, (x, y) in enumerate(zip(expected, actual, strict=False)) if x != y), min(len(expected), len(actual))
    )
    start = max(0, at - 10)
    left, right = expected[start : at + 20], actual[start : at + 20]
    lengths = f" (length {len(expected)} vs {len(actual)})" if len(expected) != len(actual) else ""
    return f"first difference at position {at}: {_clip(repr(left), _SHORT)} vs {_clip(repr(right), _SHORT)}{lengths}"


def _is_bool(value: Any) -> bool:
    if type(value) is bool:
        return True
    return _top_module(value) == "numpy" and isinstance(value, _lib("numpy").bool_)


# --- containers ------------------------------------------------------------------------------------


def _compare_mapping(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    missing = [k for k in expected if k not in actual]
    if missing:
        return _Outcome(False, "mapping", f"key {_show(missing[0])} missing in actual")
    extra = [k for k in actual if k not in expected]
    if extra:
        return _Outcome(False, "mapping", f"extra key {_show(extra[0])} in actual")
    for key in expected:
        inner = _compare(expected[key], actual[key], tol, depth + 1)
        if not inner.equal:
            return _Outcome(False, "mapping", inner.detail, f"[{_show(key)}]{inner.path}")
    return _Outcome(True, "mapping")


def _compare_sequence(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    if len(expected) != len(actual):
        return _Outcome(False, "sequence", f"length {len(expected)} vs {len(actual)}")
    for i, (x, y) in enumerate(zip(expected, actual, strict=False)):  # user types: len and iter may disagree
        inner = _compare(x, y, tol, depth + 1)
        if not inner.equal:
            return _Outcome(False, "sequence", inner.detail, f"[{i}]{inner.path}")
    return _Outcome(True, "sequence")


# --- numpy -----------------------------------------------------------------------------------------


def _compare_array(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    if expected.shape != actual.shape:
        return _Outcome(False, "array", f"shape {expected.shape} vs {actual.shape}")
    if expected.dtype.kind != actual.dtype.kind:
        return _Outcome(False, "array", f"dtype {expected.dtype} vs {actual.dtype}")
    same = _same_elements(expected, actual, tol, depth)
    if bool(same.all()):
        return _Outcome(True, "array")
    numpy = _lib("numpy")
    wrong = numpy.argwhere(~same)
    first = tuple(int(i) for i in wrong[0])
    shown = f"{_show(expected[first])} vs {_show(actual[first])}"
    if expected.ndim == 0:
        return _Outcome(False, "array", shown)
    where = first if len(first) > 1 else first[0]
    return _Outcome(
        False, "array", f"{len(wrong)} of {expected.size} values differ, first at {where}: {shown}"
    )


def _same_elements(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> Any:
    """A boolean array: which elements of two same-shape, same-kind arrays are the same."""
    numpy = _lib("numpy")
    kind = expected.dtype.kind
    if kind in "iufc":
        return numpy.isclose(expected, actual, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
    if kind in "mM":
        return numpy.asarray((expected == actual) | (numpy.isnat(expected) & numpy.isnat(actual)))
    if kind in "bUS":
        return numpy.asarray(expected == actual)
    same = numpy.zeros(expected.shape, dtype=bool)
    for index in numpy.ndindex(expected.shape):
        x, y = expected[index], actual[index]
        same[index] = (_is_missing(x) and _is_missing(y)) or _compare(x, y, tol, depth + 1).equal
    return same


def _is_missing(value: Any) -> bool:
    """NaN, None, NaT or pandas.NA: the values that should match each other."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    top = _top_module(value)
    if top == "pandas":
        return bool(_lib("pandas").isna(value) is True)
    if top == "numpy":
        numpy = _lib("numpy")
        if isinstance(value, numpy.floating):
            return bool(numpy.isnan(value))
        if isinstance(value, (numpy.datetime64, numpy.timedelta64)):
            return bool(numpy.isnat(value))
    return False


# --- pandas ----------------------------------------------------------------------------------------


def _compare_frame(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    del depth
    if expected.shape != actual.shape:
        return _Outcome(False, "frame", f"shape {expected.shape} vs {actual.shape}")
    if not expected.columns.equals(actual.columns):
        return _Outcome(False, "frame", _label_difference("columns", expected.columns, actual.columns))
    index = _index_difference(expected.index, actual.index)
    if index:
        return _Outcome(False, "frame", index)
    for i, (e_type, a_type) in enumerate(zip(expected.dtypes, actual.dtypes, strict=True)):
        if e_type.kind != a_type.kind:
            return _Outcome(
                False, "frame", f"column {_show(expected.columns[i])}: dtype {e_type} vs {a_type}"
            )
    try:
        _lib("pandas.testing").assert_frame_equal(
            expected, actual, check_column_type=False, **_pandas_options(tol)
        )
    except AssertionError as exc:
        for i in range(expected.shape[1]):
            values = _values_difference(expected.iloc[:, i], actual.iloc[:, i], tol)
            if values:
                return _Outcome(False, "frame", f"column {_show(expected.columns[i])}: {values}")
        return _Outcome(False, "frame", _pandas_message(exc))
    return _Outcome(True, "frame")


def _compare_series(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    del depth
    if expected.shape != actual.shape:
        return _Outcome(False, "series", f"shape {expected.shape} vs {actual.shape}")
    if expected.dtype.kind != actual.dtype.kind:
        return _Outcome(False, "series", f"dtype {expected.dtype} vs {actual.dtype}")
    if isinstance(expected, _lib("pandas").Index):
        if list(expected.names) != list(actual.names):
            return _Outcome(
                False, "series", f"names {_show(list(expected.names))} vs {_show(list(actual.names))}"
            )
        if expected.equals(actual):
            return _Outcome(True, "series")
        try:
            _lib("pandas.testing").assert_index_equal(
                expected, actual, exact=False, check_exact=False, rtol=tol.rtol, atol=tol.atol
            )
        except AssertionError as exc:
            return _Outcome(
                False, "series", _values_difference(expected, actual, tol) or _pandas_message(exc)
            )
        return _Outcome(True, "series")
    if not _same_label(expected.name, actual.name):
        return _Outcome(False, "series", f"name {_show(expected.name)} vs {_show(actual.name)}")
    index = _index_difference(expected.index, actual.index)
    if index:
        return _Outcome(False, "series", index)
    try:
        _lib("pandas.testing").assert_series_equal(expected, actual, **_pandas_options(tol))
    except AssertionError as exc:
        return _Outcome(False, "series", _values_difference(expected, actual, tol) or _pandas_message(exc))
    return _Outcome(True, "series")


def _pandas_options(tol: _Tolerance) -> dict[str, Any]:
    # NB: dtypes are compared by kind above (int32 ≈ int64, object ≈ str, datetime units): a
    #     Parquet round trip may change the exact dtype, index class or frequency of equal data.
    return {
        "check_exact": False,
        "rtol": tol.rtol,
        "atol": tol.atol,
        "check_dtype": False,
        "check_index_type": False,
        "check_freq": False,
    }


def _index_difference(expected: Any, actual: Any) -> str:
    if expected.dtype.kind != actual.dtype.kind:
        return f"index dtype {expected.dtype} vs {actual.dtype}"
    if expected.equals(actual):
        return ""
    return _label_difference("index", expected, actual)


def _label_difference(what: str, expected: Any, actual: Any) -> str:
    e_labels, a_labels = list(expected), list(actual)
    e_known, a_known = _lookup(e_labels), _lookup(a_labels)
    missing = [x for x in e_labels if x not in a_known]
    extra = [x for x in a_labels if x not in e_known]
    if what == "columns" and (missing or extra):
        parts = [f"missing in actual: {_clip(repr(missing), _SHORT)}"] if missing else []
        parts += [f"extra in actual: {_clip(repr(extra), _SHORT)}"] if extra else []
        return f"columns {'; '.join(parts)}"
    if what == "columns" and len(e_labels) == len(a_labels):
        return f"column order {_clip(repr(e_labels), _SHORT)} vs {_clip(repr(a_labels), _SHORT)}"
    at = next((i for i, (x, y) in enumerate(zip(e_labels, a_labels, strict=False)) if not _same_label(x, y)), None)
    if at is None:
        return f"{what} {_clip(repr(e_labels), _SHORT)} vs {_clip(repr(a_labels), _SHORT)}"
    return f"{what} differs, first at position {at}: {_show(e_labels[at])} vs {_show(a_labels[at])}"


def _lookup(labels: list[Any]) -> set[Any] | list[Any]:
    """``labels`` as a set for fast membership tests, or as they are if some are unhashable."""
    try:
        return set(labels)
    except TypeError:
        return labels


def _same_label(x: Any, y: Any) -> bool:
    if _is_missing(x) and _is_missing(y):
        return True
    try:
        return bool(x == y)
    except Exception:  # noqa: BLE001 - labels that cannot be compared are different
        return False


def _values_difference(expected: Any, actual: Any, tol: _Tolerance) -> str:
    """``"3 of 120 values differ, first at row 7: 10.5 vs 10.25"`` for two aligned series; ``""``."""
    numpy = _lib("numpy")
    kind = expected.dtype.kind
    if kind in "iuf":
        left = expected.to_numpy(dtype="float64", na_value=numpy.nan)
        right = actual.to_numpy(dtype="float64", na_value=numpy.nan)
        same = numpy.isclose(left, right, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
    else:
        left, right = expected.to_numpy(), actual.to_numpy()
        same = numpy.array(
            [
                (_is_missing(x) and _is_missing(y)) or _compare(x, y, tol, 1).equal
                for x, y in zip(left, right, strict=False)
            ],
            dtype=bool,
        )
    wrong = numpy.flatnonzero(~same)
    if not len(wrong):
        return ""
    at = int(wrong[0])
    label = expected.index[at] if hasattr(expected, "index") else at
    shown = f"{_show(expected.iloc[at] if hasattr(expected, 'iloc') else expected[at])} vs "
    shown += _show(actual.iloc[at] if hasattr(actual, "iloc") else actual[at])
    return f"{len(wrong)} of {len(expected)} values differ, first at row {_show(label)}: {shown}"


def _pandas_message(exc: AssertionError) -> str:
    lines = [" ".join(line.split()) for line in str(exc).splitlines()]
    return _clip("; ".join(line for line in lines if line), _DETAIL)


# --- figures, models, fitted results ---------------------------------------------------------------


def _is_figure(value: Any) -> bool:
    """A matplotlib figure or axes, or a seaborn grid (anything from them with a ``.figure``)."""
    top = _top_module(value)
    if top not in ("matplotlib", "seaborn") or "matplotlib" not in sys.modules:
        return False
    figure_base = _lib("matplotlib.figure").FigureBase
    if isinstance(value, (figure_base, _lib("matplotlib.axes").Axes)):
        return True
    return isinstance(getattr(value, "figure", None), figure_base)


def _is_model(value: Any) -> bool:
    """A scikit-learn-style estimator: an instance with a callable ``get_params``."""
    return not isinstance(value, type) and callable(getattr(value, "get_params", None))


def _params_of(value: Any) -> Any:
    """The ``params`` of a statsmodels-like result (a pandas Series or NumPy array), else ``None``."""
    if isinstance(value, type):
        return None
    params = getattr(value, "params", None)
    top = _top_module(params)
    if top == "pandas" and isinstance(params, _lib("pandas").Series):
        return params
    if top == "numpy" and isinstance(params, _lib("numpy").ndarray):
        return params
    return None


def _compare_model(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    e_params, a_params = _param_view(expected, depth), _param_view(actual, depth)
    for name in e_params:
        if name not in a_params:
            return _Outcome(False, "model", f"param {name!r} missing in actual")
    for name in a_params:
        if name not in e_params:
            return _Outcome(False, "model", f"extra param {name!r} in actual")
    for name, value in e_params.items():
        inner = _compare(value, a_params[name], tol, depth + 1)
        if not inner.equal:
            return _Outcome(False, "model", f"param {name!r}{inner.path}: {inner.detail}")
    e_fitted, a_fitted = _fitted(expected), _fitted(actual)
    for name in e_fitted:
        if name not in a_fitted:
            return _Outcome(False, "model", f"fitted attribute {name!r} missing in actual")
    for name in a_fitted:
        if name not in e_fitted:
            return _Outcome(False, "model", f"extra fitted attribute {name!r} in actual")
    for name, value in e_fitted.items():
        inner = _compare(value, a_fitted[name], tol, depth + 1)
        if not inner.equal:
            return _Outcome(False, "model", f"fitted attribute {name!r}{inner.path}: {inner.detail}")
    for k, probe in enumerate(tol.probes):
        probed = _compare_on_probe(expected, actual, probe, tol, depth)
        if probed is not None and not probed.equal:
            method = "predictions" if hasattr(expected, "predict") else "transform"
            return _Outcome(False, "model", f"{method} on probe {k}{probed.path}: {probed.detail}")
    return _Outcome(True, "model")


def _param_view(model: Any, depth: int) -> dict[str, Any]:
    """``get_params(deep=False)`` as plain data (see ``_plain_param``)."""
    return {name: _plain_param(param, depth + 1) for name, param in model.get_params(deep=False).items()}


def _plain_param(value: Any, depth: int) -> Any:
    """A param value with the estimators inside replaced by plain data: class name, params, fitted.

    An estimator given as a param is compared by class name and its own params, plus whatever
    fitted attributes it has: a pipeline's steps are fitted in place, so that is where a
    pipeline's learnt state lives (an unfitted template, like a search's ``estimator``, has none).
    Param names never end in ``_``, fitted attribute names always do, so the two cannot clash.
    """
    if depth > MAX_DEPTH:
        return value
    if _is_model(value):
        return {"<class>": type(value).__name__, **_param_view(value, depth), **_fitted(value)}
    if type(value) in (list, tuple):
        return type(value)(_plain_param(v, depth + 1) for v in value)
    if type(value) is dict:
        return {k: _plain_param(v, depth + 1) for k, v in value.items()}
    return value


def _fitted(model: Any) -> dict[str, Any]:
    """The fitted attributes of an estimator: public instance attributes ending in ``_``."""
    try:
        attributes = vars(model)
    except TypeError:
        return {}
    fitted: dict[str, Any] = {}
    for name, value in attributes.items():
        if not name.endswith("_") or name.startswith("_") or _TIMING.search(name):
            continue
        if name == "cv_results_" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if not _TIMING.search(k)}
        fitted[name] = value
    return fitted


def _compare_on_probe(expected: Any, actual: Any, probe: Any, tol: _Tolerance, depth: int) -> _Outcome | None:
    """Predictions (or transforms) of two models on one probe; ``None`` when the probe does not fit."""
    x = _probe_input(expected, probe)
    if x is None:
        return None
    method = (
        "predict" if hasattr(expected, "predict") else "transform" if hasattr(expected, "transform") else ""
    )
    if not method:
        return None
    e_out, e_error = _call(getattr(expected, method), x)
    a_out, a_error = _call(getattr(actual, method), x)
    if e_error is not None and a_error is not None and type(e_error) is type(a_error):
        return None  # the probe does not suit this model; neither side can be judged by it
    if e_error is not None or a_error is not None:
        which, error = ("expected", e_error) if e_error is not None else ("actual", a_error)
        return _Outcome(False, "model", f"{method} raised in {which} only: {_clip(repr(error), _SHORT * 2)}")
    return _compare(e_out, a_out, tol, depth + 1)


def _probe_input(model: Any, probe: Any) -> Any:
    """The first ``PROBE_ROWS`` rows of ``probe`` if it fits ``model``'s inputs, else ``None``."""
    n_features: Any = getattr(model, "n_features_in_", None)
    if _number_kind(n_features) != "int":
        return None
    top = _top_module(probe)
    is_frame = top == "pandas" and isinstance(probe, _lib("pandas").DataFrame)
    is_array = top == "numpy" and isinstance(probe, _lib("numpy").ndarray)
    if not (is_frame or is_array) or probe.ndim != 2 or probe.shape[1] != int(n_features):
        return None
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        if not is_frame or [str(c) for c in probe.columns] != [str(c) for c in names]:
            return None
        return probe.iloc[:PROBE_ROWS]
    # NB: a model fitted without feature names warns when given a DataFrame; give it the values.
    return probe.iloc[:PROBE_ROWS].to_numpy() if is_frame else probe[:PROBE_ROWS]


def _call(method: Callable[[Any], Any], x: Any) -> tuple[Any, BaseException | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return method(x), None
    except Exception as exc:  # noqa: BLE001 - a model that cannot take the probe is reported, not raised
        return None, exc


def _compare_params(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> _Outcome:
    for name in ("params", "bse"):
        e_value, a_value = _attribute(expected, name), _attribute(actual, name)
        if name == "bse" and (e_value is None or a_value is None):
            if e_value is None and a_value is None:
                continue  # neither side has (computable) standard errors
            return _Outcome(False, "params", f"bse: {_show(e_value)} vs {_show(a_value)}")
        inner = _compare(e_value, a_value, tol, depth + 1)
        if not inner.equal:
            return _Outcome(False, "params", f"{name}{inner.path}: {inner.detail}")
    return _Outcome(True, "params")


def _attribute(value: Any, name: str) -> Any:
    try:
        return getattr(value, name, None)
    except Exception:  # noqa: BLE001 - statsmodels computes some attributes lazily; may fail
        return None


# --- anything else ---------------------------------------------------------------------------------


def _compare_other(expected: Any, actual: Any, tol: _Tolerance | None = None, depth: int = 0) -> _Outcome:
    if _has_own_eq(expected):
        return _compare_exact(expected, actual, _NO_TOLERANCE, 0)
    pickled = _compare_pickled(expected, actual)
    if pickled.equal or tol is None:
        return pickled
    # NB: equal objects can pickle to other bytes (memo order, interned strings, a cached
    #     attribute computed on one side only); their attributes, compared as values, decide
    e_vars, a_vars = getattr(expected, "__dict__", None), getattr(actual, "__dict__", None)
    if isinstance(e_vars, dict) and isinstance(a_vars, dict) and depth < MAX_DEPTH:
        keys = sorted(k for k in e_vars.keys() & a_vars.keys() if not str(k).startswith("_"))
        missing = sorted(set(map(str, e_vars)) ^ set(map(str, a_vars)))
        if not missing:
            for key in keys:
                inner = _compare(e_vars[key], a_vars[key], tol, depth + 1)
                if not inner.equal:
                    return pickled
            return _Outcome(True, "attributes")
    return pickled


def _compare_pickled(expected: Any, actual: Any) -> _Outcome:
    try:
        e_bytes = pickle.dumps(expected, protocol=5)
        a_bytes = pickle.dumps(actual, protocol=5)
    except Exception:  # noqa: BLE001 - unpicklable: compare what they print as instead
        e_repr, a_repr = _normal_repr(expected), _normal_repr(actual)
        if e_repr == a_repr:
            return _Outcome(True, "repr")
        return _Outcome(False, "repr", f"{_clip(e_repr, _SHORT)} vs {_clip(a_repr, _SHORT)}")
    if e_bytes == a_bytes:
        return _Outcome(True, "pickle")
    e_repr, a_repr = _normal_repr(expected), _normal_repr(actual)
    if e_repr != a_repr:
        return _Outcome(False, "pickle", f"{_clip(e_repr, _SHORT)} vs {_clip(a_repr, _SHORT)}")
    return _Outcome(
        False, "pickle", f"pickled bytes differ ({len(e_bytes)} vs {len(a_bytes)} bytes), same repr"
    )


def _normal_repr(value: Any) -> str:
    """``repr`` with memory addresses blanked, so equal objects at different places match."""
    return _ADDRESS.sub("0x…", repr(value))


_NO_TOLERANCE = _Tolerance(0.0, 0.0, ())

_HANDLERS: dict[str, Callable[[Any, Any, _Tolerance, int], _Outcome]] = {
    "exact": _compare_exact,
    "mapping": _compare_mapping,
    "sequence": _compare_sequence,
    "array": _compare_array,
    "frame": _compare_frame,
    "series": _compare_series,
    "model": _compare_model,
    "params": _compare_params,
}


# --- describing ------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    name = type(value).__name__
    if value is None:
        return "None"
    if isinstance(value, str):
        return f"str {_clip(repr(value), _SHORT)}"
    if isinstance(value, (bytes, bytearray)):
        return f"{name} ({len(value)} bytes)"
    if type(value) is bool or _number_kind(value) is not None or _is_bool(value):
        return f"{name} {_show(value)}"
    how = _category(value)
    if how == "frame":
        rows, columns = value.shape
        return f"{name} {rows}×{columns}"
    if how == "series":
        return f"{name} {value.dtype} {len(value)}"
    if how == "array":
        return f"{name} {value.dtype} {value.shape}"
    if how == "mapping":
        return f"{name} ({_count(len(value), 'key')})"
    if how == "sequence":
        return f"{name} ({_count(len(value), 'item')})"
    if how in ("figure", "model"):
        return name
    if how == "params":
        return f"{name} ({_count(len(_params_of(value)), 'param')})"
    text = _normal_repr(value)
    if text.startswith("<") or how == "pickle":
        return name
    return _clip(text, _SHORT) if text.startswith(name) else f"{name} {_clip(text, _SHORT)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- small helpers ---------------------------------------------------------------------------------


def _lib(name: str) -> Any:
    """An already-imported heavy module (or a submodule of one), typed loosely.

    Only called once a value of that library's types is in hand, so its package is in
    ``sys.modules`` and this costs a dictionary look-up (or a submodule's first import).
    """
    module = sys.modules.get(name)
    return module if module is not None else importlib.import_module(name)


def _top_module(value: Any) -> str:
    """The top-level package a value's type comes from (``"pandas"`` for a DataFrame)."""
    module = type(value).__module__
    return module.partition(".")[0] if isinstance(module, str) else ""


def _has_own_eq(value: Any) -> bool:
    """Whether ``value``'s class defines equality (rather than identity, ``object.__eq__``)."""
    eq: object = type(value).__eq__
    return eq is not object.__eq__


def _type_name(value: Any) -> str:
    return type(value).__name__


def _type_names(expected: Any, actual: Any) -> str:
    e_name, a_name = _type_name(expected), _type_name(actual)
    if e_name == a_name:
        e_name = f"{type(expected).__module__}.{type(expected).__qualname__}"
        a_name = f"{type(actual).__module__}.{type(actual).__qualname__}"
    return f"{e_name} vs {a_name}"


def _show(value: Any) -> str:
    """A value in a detail: its repr (NumPy scalars as plain Python), cut to a few dozen characters."""
    if _top_module(value) == "numpy":
        numpy = _lib("numpy")
        if isinstance(value, (numpy.number, numpy.bool_, numpy.str_, numpy.bytes_)) or (
            isinstance(value, numpy.ndarray) and value.ndim == 0 and value.dtype.kind in "biufc"
        ):
            value = value.item()
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ still needs a name in the detail
        text = f"<{_type_name(value)}>"
    return _clip(text, _SHORT)


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, keeping a closing quote so strings still read as strings."""
    if len(text) <= limit:
        return text
    if len(text) >= 2 and text[-1] in "'\"" and text[0] in "'\"bB":
        return text[: limit - 2] + "…" + text[-1]
    return text[: limit - 1] + "…"


def load_expected(folder: Path | str, entry: Mapping[str, Any]) -> Any:
    """A value ``distill verify`` recorded: ``entry`` is its record in ``tests/expected/index.json``.

    Example:
        >>> index = json.loads(Path("tests/expected/index.json").read_text())  # doctest: +SKIP
        >>> load_expected("tests/expected", index["values"]["model"])  # doctest: +SKIP
    """
    from .cache.serialize import deserialize

    return deserialize(str(entry["kind"]), (Path(folder) / str(entry["file"])).read_bytes())
