"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    frame
    frame -> spread
    frame -> ranked
"""

import pandas as pd
from distill import step


@step
def frame():
    """From cell 2 of the notebook."""
    frame = pd.DataFrame({'x': [1.0, 2.0, 4.0], 'y': [3.0, 1.0, 2.0]})
    return frame


@step
def spread(frame):
    """Analysis (from cells 4, 6)."""
    summary = frame['x'].describe()

    spread = summary['max'] - summary['min']
    return spread


@step
def ranked(frame):
    """Analysis (from cell 5)."""
    scaled = frame[['y']] / frame['y'].max()
    ranked = scaled.rank()
    return ranked
