"""Plain helper functions used by the wine pipeline.

Nothing in here knows about distill: every function takes and returns ordinary
pandas / numpy / matplotlib objects, so it can be unit-tested on its own.
"""

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score, f1_score

TARGET = "cultivar"
"""Name of the label column (the grape cultivar, 0, 1 or 2)."""

# Column types after cleaning. Every measurement is a float; the label is an int.
SCHEMA: dict[str, str] = {
    "alcohol": "float64",
    "malic_acid": "float64",
    "ash": "float64",
    "alcalinity_of_ash": "float64",
    "magnesium": "float64",
    "total_phenols": "float64",
    "flavanoids": "float64",
    "nonflavanoid_phenols": "float64",
    "proanthocyanins": "float64",
    "color_intensity": "float64",
    "hue": "float64",
    "od280_od315_of_diluted_wines": "float64",
    "proline": "float64",
    TARGET: "int64",
}


def to_snake_case(name: str) -> str:
    """Turn a column header into a lower-case snake_case identifier.

    Camel-case humps become word breaks, and any run of characters that are
    not letters or digits collapses into a single underscore:
    ``"OD280/OD315 of diluted wines"`` -> ``"od280_od315_of_diluted_wines"``.
    """
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    snake = re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()
    if not snake:
        raise ValueError(f"column name {name!r} has no letters or digits")
    return snake


def normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with snake_case column names.

    Raises ``ValueError`` if two different headers map to the same name,
    rather than silently keeping one of them.
    """
    mapping = {column: to_snake_case(str(column)) for column in df.columns}
    seen: dict[str, str] = {}
    for original, new in mapping.items():
        if new in seen:
            raise ValueError(f"columns {seen[new]!r} and {original!r} both normalise to {new!r}")
        seen[new] = str(original)
    return df.rename(columns=mapping)


def require_no_missing(df: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming every column that holds a missing value."""
    counts = df.isna().sum()
    bad = counts[counts > 0]
    if not bad.empty:
        details = ", ".join(f"{column} ({n})" for column, n in bad.items())
        raise ValueError(f"missing values in: {details}")


def enforce_dtypes(df: pd.DataFrame, schema: Mapping[str, str]) -> pd.DataFrame:
    """Check ``df`` has exactly the columns in ``schema`` and cast them.

    Columns come back in schema order. A float column is only cast to an
    integer type when every value is a whole number, so that ``1.5`` is
    reported as an error instead of being truncated to ``1``.
    """
    missing = [column for column in schema if column not in df.columns]
    extra = [column for column in df.columns if column not in schema]
    if missing or extra:
        raise ValueError(f"schema mismatch: missing={missing}, unexpected={extra}")
    out = df.loc[:, list(schema)].copy()
    for column, dtype in schema.items():
        target = np.dtype(dtype)
        values = out[column]
        if target.kind in "iu" and values.dtype.kind == "f":
            if not np.all(np.mod(values.to_numpy(), 1) == 0):
                raise ValueError(f"column {column!r} has non-integer values")
        out[column] = values.astype(target)
    return out


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Element-wise ``numerator / denominator`` that refuses zero denominators.

    A zero would give ``inf`` and quietly poison the model input, so it is an
    error here instead.
    """
    zero = denominator == 0
    if zero.any():
        rows = list(denominator.index[zero][:5])
        raise ValueError(f"zero denominator in {denominator.name!r} at rows {rows}")
    return numerator / denominator


def split_xy(df: pd.DataFrame, target: str = TARGET) -> tuple[pd.DataFrame, pd.Series]:
    """Split a frame into its feature columns and its label column."""
    if target not in df.columns:
        raise KeyError(f"label column {target!r} not in frame")
    return df.drop(columns=[target]), df[target]


def classification_scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro-averaged F1 as plain Python floats (JSON-friendly)."""
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], title: str) -> Figure:
    """Draw a confusion matrix (rows = true class, columns = predicted class).

    Uses the object API (no pyplot), so it needs no display and leaves no
    global figure state behind.
    """
    n = len(labels)
    if matrix.shape != (n, n):
        raise ValueError(f"matrix shape {matrix.shape} does not match {n} labels")
    fig = Figure(figsize=(4.5, 4))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > threshold else "black",
            )
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig
