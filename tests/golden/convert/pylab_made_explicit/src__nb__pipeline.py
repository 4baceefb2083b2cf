"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_2 -> x, y, z
    x, y -> sine_figure
"""

import matplotlib.pyplot as plt
import numpy as np
from distill import step
from matplotlib.pyplot import figure, plot, title
from numpy import linspace, sin
from numpy.random import rand


@step(outputs=("x", "y", "z"))
def cell_2():
    """From cell 2 of the notebook."""
    x = linspace(0, 1, 5)
    y = sin(x) + rand(5) * 0
    z = np.pi
    return x, y, z


@step
def sine_figure(x, y):
    """Figure drawn in cell 4 (Sine)."""
    figure()
    plot(x, y)
    title('sine')
    drawn = plt.gcf()
    plt.close(drawn)
    return drawn
