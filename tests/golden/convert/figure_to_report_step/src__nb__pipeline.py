"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    frame
    frame -> growth_y_figure
"""

import matplotlib.pyplot as plt
import pandas as pd
from distill import step


@step
def frame():
    """From cell 2 of the notebook."""
    frame = pd.DataFrame({'x': [1, 2, 3], 'y': [2, 4, 8]})
    return frame


@step
def growth_y_figure(frame):
    """Figure drawn in cell 4 (Growth)."""
    _fig, ax = plt.subplots()
    ax.plot(frame['x'], frame['y'])
    ax.set_title('Growth of y')
    figure = plt.gcf()
    plt.close(figure)
    return figure
