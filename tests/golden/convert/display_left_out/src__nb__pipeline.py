"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    frame
    frame -> len_frame
    frame -> doubled
"""

import pandas as pd
from distill import step


@step
def frame():
    """From cell 2 of the notebook."""
    frame = pd.DataFrame({'x': [1, 2, 3]})
    return frame


@step(metrics=("len_frame",))
def len_frame(frame):
    """From cell 3 of the notebook."""
    len_frame = len(frame)
    return len_frame


@step
def doubled(frame):
    """From cell 4 of the notebook."""
    doubled = frame * 2
    return doubled
