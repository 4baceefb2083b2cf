"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    adult_df_discretization
    adult_df_discretization -> equal_frequency_bins -> adult_df, older
    adult_df -> understanding_data -> bands, youngest
"""

import copy

import pandas as pd
from distill import step


@step
def adult_df_discretization():
    """Example 3: discretization of numerical attributes into equal-width bins (from cell 3)."""
    adult_df = pd.DataFrame({'age': [23, 45, 31, 60]})
    adult_df['band'] = pd.cut(adult_df['age'], 2)
    return adult_df


@step(outputs=("adult_df", "older"))
def equal_frequency_bins(adult_df_discretization):
    """Example 3: discretization of numerical attributes into equal-frequency bins (from cell 5)."""
    adult_df = copy.deepcopy(adult_df_discretization)
    adult_df['band'] = pd.qcut(adult_df['age'], 2)
    older = int((adult_df['age'] > 40).sum())
    return adult_df, older


@step(outputs=("bands", "youngest"))
def understanding_data(adult_df):
    """Understanding the data's distribution of numerical attributes (from cell 7)."""
    bands = adult_df['band'].astype(str).tolist()
    youngest = adult_df['age'].min()
    return bands, youngest
