"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_4 -> labels, all_labels
"""

import functools

import pandas as pd
from distill import step

from nb.lib import label


@step(outputs=("labels", "all_labels"))
def cell_4(THRESHOLD: int = 2):
    """From cell 4 of the notebook."""
    frame = pd.DataFrame({'x': [1, 2, 3]})
    labels = label(frame, THRESHOLD=THRESHOLD)
    all_labels = list(map(functools.partial(label, THRESHOLD=THRESHOLD), [frame, frame]))
    return labels, all_labels
