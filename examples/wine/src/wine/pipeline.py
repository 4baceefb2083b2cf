"""Wine cultivar classification: load, clean, engineer features, train, evaluate.

Step graph (an edge is a parameter named after another step's output)::

    raw -> clean -> features -> split -> (train, test)
    train -> model
    model, test -> metrics
    model, test -> confusion_figure
    model -> feature_importance

Run parameters: data_path, test_size, seed (shared by split and model),
n_estimators, criterion.
"""

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from distill import step
from matplotlib.figure import Figure
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

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
)


@step
def raw(data_path: Path = Path("data/wine.csv")) -> pd.DataFrame:
    """Load the wine measurements CSV exactly as it is on disk."""
    return pd.read_csv(data_path)


@step
def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalise column names, drop duplicate rows, reject gaps, fix dtypes."""
    df = normalise_columns(raw)
    df = df.drop_duplicates().reset_index(drop=True)
    require_no_missing(df)
    return enforce_dtypes(df, SCHEMA)


@step
def features(clean: pd.DataFrame) -> pd.DataFrame:
    """Add engineered features on top of the cleaned measurements.

    - ``flavanoid_share``: fraction of the total phenols that are flavanoids.
    - ``color_hue_ratio``: colour intensity relative to hue.
    - ``log_proline``: proline spans roughly 280-1700, so log-compress it.
    """
    df = clean.copy()
    df["flavanoid_share"] = ratio(df["flavanoids"], df["total_phenols"])
    df["color_hue_ratio"] = ratio(df["color_intensity"], df["hue"])
    if (df["proline"] <= 0).any():
        raise ValueError("proline must be positive to take its log")
    df["log_proline"] = np.log(df["proline"])
    require_no_missing(df)
    return df


@step(outputs=("train", "test"))
def split(
    features: pd.DataFrame, test_size: float = 0.25, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split, so each cultivar keeps its share in both."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    train, test = train_test_split(
        features,
        test_size=test_size,
        random_state=seed,
        stratify=features[TARGET],
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


@step
def model(
    train: pd.DataFrame,
    n_estimators: int = 200,
    criterion: Literal["gini", "entropy", "log_loss"] = "gini",
    seed: int = 42,
) -> RandomForestClassifier:
    """Fit a random forest on the training rows (deterministic for a given seed)."""
    x, y = split_xy(train)
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        criterion=criterion,
        random_state=seed,
        n_jobs=1,
    )
    return forest.fit(x, y)


@step
def metrics(model: RandomForestClassifier, test: pd.DataFrame) -> dict[str, float]:
    """Accuracy and macro F1 of the model on the held-out rows."""
    x, y = split_xy(test)
    return classification_scores(y.tolist(), model.predict(x).tolist())


@step
def confusion_figure(model: RandomForestClassifier, test: pd.DataFrame) -> Figure:
    """Confusion matrix of the held-out predictions, as a figure."""
    x, y = split_xy(test)
    classes = list(model.classes_)
    matrix = confusion_matrix(y, model.predict(x), labels=classes)
    labels = [f"cultivar {c}" for c in classes]
    return plot_confusion(matrix, labels, title=f"Test set (n={len(y)})")


@step
def feature_importance(model: RandomForestClassifier) -> pd.DataFrame:
    """Impurity-based importance of each feature, most important first."""
    table = pd.DataFrame(
        {
            "feature": list(model.feature_names_in_),
            "importance": model.feature_importances_,
        }
    )
    return table.sort_values("importance", ascending=False, ignore_index=True)
