"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    frame
"""

import pandas as pd
from distill import step


@step
def frame(FEATURES: list[str], TARGET: str = 'c'):
    """From cell 3 of the notebook."""
    frame = pd.DataFrame({'a': [1, 2], 'b': [3, 4], 'c': [5, 6]})[FEATURES + [TARGET]]
    return frame
