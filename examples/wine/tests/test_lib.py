"""Unit tests for the plain helpers in ``wine.lib``."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from wine.lib import (
    SCHEMA,
    TARGET,
    classification_scores,
    enforce_dtypes,
    normalise_columns,
    plot_confusion,
    ratio,
    require_no_missing,
    split_xy,
    to_snake_case,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("alcohol", "alcohol"),
        ("od280/od315_of_diluted_wines", "od280_od315_of_diluted_wines"),
        ("Color Intensity", "color_intensity"),
        ("  Malic-Acid  ", "malic_acid"),
        ("totalPhenols", "total_phenols"),
        ("OD280", "od280"),
        ("a__b", "a_b"),
    ],
)
def test_to_snake_case(header: str, expected: str) -> None:
    assert to_snake_case(header) == expected


def test_to_snake_case_rejects_empty_result() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        to_snake_case("//")


def test_normalise_columns_renames_and_keeps_values() -> None:
    df = pd.DataFrame({"Color Intensity": [1.0, 2.0], "od280/od315": [3.0, 4.0]})
    out = normalise_columns(df)
    assert list(out.columns) == ["color_intensity", "od280_od315"]
    assert out["color_intensity"].tolist() == [1.0, 2.0]
    assert list(df.columns) == ["Color Intensity", "od280/od315"]  # input untouched


def test_normalise_columns_refuses_collisions() -> None:
    df = pd.DataFrame({"Total Phenols": [1], "total_phenols": [2]})
    with pytest.raises(ValueError, match="both normalise to 'total_phenols'"):
        normalise_columns(df)


def test_require_no_missing_passes_on_complete_frame() -> None:
    require_no_missing(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))


def test_require_no_missing_names_offending_columns() -> None:
    df = pd.DataFrame({"a": [1.0, np.nan, np.nan], "b": [1, 2, 3], "c": [None, "x", "y"]})
    with pytest.raises(ValueError) as excinfo:
        require_no_missing(df)
    message = str(excinfo.value)
    assert "a (2)" in message
    assert "c (1)" in message
    assert "b (" not in message


def test_enforce_dtypes_casts_and_reorders() -> None:
    df = pd.DataFrame({"label": [0.0, 2.0], "x": ["1.5", "2"]})
    out = enforce_dtypes(df, {"x": "float64", "label": "int64"})
    assert list(out.columns) == ["x", "label"]
    assert out["x"].dtype == np.float64
    assert out["label"].dtype == np.int64
    assert out["label"].tolist() == [0, 2]


def test_enforce_dtypes_refuses_to_truncate_floats() -> None:
    df = pd.DataFrame({"label": [0.0, 1.5]})
    with pytest.raises(ValueError, match="non-integer"):
        enforce_dtypes(df, {"label": "int64"})


def test_enforce_dtypes_reports_missing_and_extra_columns() -> None:
    df = pd.DataFrame({"x": [1.0], "surprise": [2.0]})
    with pytest.raises(ValueError) as excinfo:
        enforce_dtypes(df, {"x": "float64", "y": "float64"})
    assert "missing=['y']" in str(excinfo.value)
    assert "unexpected=['surprise']" in str(excinfo.value)


def test_schema_has_target_as_integer() -> None:
    assert SCHEMA[TARGET] == "int64"
    assert all(to_snake_case(column) == column for column in SCHEMA)


def test_ratio_divides_elementwise() -> None:
    out = ratio(pd.Series([1.0, 3.0]), pd.Series([2.0, 4.0], name="d"))
    assert out.tolist() == [0.5, 0.75]


def test_ratio_rejects_zero_denominator() -> None:
    denominator = pd.Series([2.0, 0.0, 1.0], name="hue", index=[10, 11, 12])
    with pytest.raises(ValueError, match=r"'hue' at rows \[11\]"):
        ratio(pd.Series([1.0, 1.0, 1.0]), denominator)


def test_split_xy_separates_label() -> None:
    df = pd.DataFrame({"a": [1, 2], TARGET: [0, 1], "b": [3, 4]})
    x, y = split_xy(df)
    assert list(x.columns) == ["a", "b"]
    assert y.name == TARGET
    assert y.tolist() == [0, 1]


def test_split_xy_requires_label() -> None:
    with pytest.raises(KeyError):
        split_xy(pd.DataFrame({"a": [1]}))


def test_classification_scores_are_plain_floats() -> None:
    scores = classification_scores([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2])
    assert set(scores) == {"accuracy", "macro_f1"}
    assert all(type(value) is float for value in scores.values())
    assert scores["accuracy"] == pytest.approx(5 / 6)
    # per-class F1: 1.0, 2/3, 0.8 -> mean 0.8222...
    assert scores["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.8) / 3)


def test_plot_confusion_draws_every_cell() -> None:
    matrix = np.array([[5, 1], [0, 4]])
    fig = plot_confusion(matrix, ["a", "b"], title="demo")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "demo"
    assert sorted(text.get_text() for text in ax.texts) == ["0", "1", "4", "5"]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["a", "b"]


def test_plot_confusion_checks_shape() -> None:
    with pytest.raises(ValueError, match="does not match 3 labels"):
        plot_confusion(np.zeros((2, 2), dtype=int), ["a", "b", "c"], title="bad")
