"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_2 -> rooms_ix, households_ix
    households_ix, rooms_ix -> cell_5 -> added, only
"""

import numpy as np
from distill import step

from nb.lib import RatioAdder


@step(outputs=("rooms_ix", "households_ix"))
def cell_2():
    """From cell 2 of the notebook."""
    rooms_ix, households_ix = 0, 1
    return rooms_ix, households_ix


@step(outputs=("added", "only"))
def cell_5(households_ix, rooms_ix, SCALE: float = 2.0):
    """From cell 5 of the notebook."""
    X = np.array([[4.0, 2.0], [9.0, 3.0]])
    added = RatioAdder(SCALE=SCALE, households_ix=households_ix, rooms_ix=rooms_ix).transform(X)
    only = RatioAdder(keep=False, SCALE=SCALE, households_ix=households_ix, rooms_ix=rooms_ix).transform(X)
    return added, only
