"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    root
"""

from math import pi, sqrt

from distill import step


@step
def root(radius: float = 2.0):
    """From cell 2 of the notebook."""
    area = pi * radius ** 2
    root = sqrt(area)
    return root
