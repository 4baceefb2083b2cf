"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_2 -> place, link, unused, listed
"""

import os

from distill import step

from nb.lib import where


@step(outputs=("place", "link", "unused", "listed"))
def cell_2(ROOT: str = 'data'):
    """From cells 2, 4 of the notebook."""
    place, link = where('a.csv')
    unused = os.path.join(ROOT, 'b')
    listed = os.listdir('.')
    return place, link, unused, listed
