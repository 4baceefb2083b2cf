"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    raw
    raw -> cell_3 -> summary.csv
"""

from pathlib import Path

import pandas as pd
from distill import step


@step
def raw(input_csv: Path = Path("data/input.csv")):
    """From cell 2 of the notebook."""
    raw = pd.read_csv(input_csv)
    return raw


@step(writes=["summary.csv"])
def cell_3(raw, OUT: str = 'summary.csv'):
    """From cell 3 of the notebook."""
    raw.describe().to_csv(OUT)
