"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    frame_cell_2
    frame_cell_2 -> frame
    frame -> doubled_figure
    frame -> count
    frame -> figure_cell_5
"""

import copy

import matplotlib.pyplot as plt
import pandas as pd
from distill import step


@step
def frame_cell_2():
    """From cell 2 of the notebook."""
    frame = pd.DataFrame({'x': [1, 2, 3]})
    return frame


@step
def frame(frame_cell_2):
    """From cell 3 of the notebook."""
    frame = copy.deepcopy(frame_cell_2)
    frame['y'] = frame['x'] * 2
    return frame


@step
def doubled_figure(frame):
    """Figure drawn in cells 2, 4."""
    _fig, ax = plt.subplots()

    ax.plot(frame['x'], frame['y'])
    ax.set_title('Doubled')
    figure = plt.gcf()
    plt.close(figure)
    return figure


@step
def count(frame):
    """From cell 5 of the notebook."""
    count = len(frame)
    return count


@step
def figure_cell_5(frame):
    """Figure drawn in cells 5, 6."""
    lines = frame.plot()

    lines.set_xlabel('x')
    figure = plt.gcf()
    plt.close(figure)
    return figure
