"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    frame
"""

import warnings

import pandas as pd
import seaborn as sns
from distill import step

# Library settings from the notebook; they apply to every step.
sns.set_style('whitegrid')
warnings.filterwarnings('ignore')
pd.set_option('display.max_columns', 50)


@step
def frame():
    """From cell 3 of the notebook."""
    frame = pd.DataFrame({'x': [1]})
    return frame
