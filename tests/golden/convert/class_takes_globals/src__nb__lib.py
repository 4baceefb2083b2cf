"""Helpers of Nb: the functions and classes the notebook defined.

The notebook variables a function used to read are now keyword-only parameters (of
`__init__` for a class, which keeps them as attributes).
"""

import numpy as np


def scaled(x, *, SCALE):
    return x * SCALE


class RatioAdder:
    """Adds rooms per household."""

    def __init__(self, keep=True, *, SCALE, households_ix, rooms_ix):
        """Keep the input columns or not."""
        self.SCALE = SCALE
        self.households_ix = households_ix
        self.rooms_ix = rooms_ix
        self.keep = keep

    def transform(self, X):
        ratio = scaled(X[:, self.rooms_ix] / X[:, self.households_ix], SCALE=self.SCALE)
        return np.c_[X, ratio] if self.keep else ratio[:, None]
