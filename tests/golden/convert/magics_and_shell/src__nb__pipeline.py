"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    frame
    frame -> total
"""

import pandas as pd
from distill import step


@step
def frame():
    """From cell 3 of the notebook."""
    frame = pd.DataFrame({'x': [1, 2]})
    return frame


@step
def total(frame):
    """From cell 4 of the notebook."""
    total = frame['x'].sum()
    return total
