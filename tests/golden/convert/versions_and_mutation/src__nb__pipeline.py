"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    df_load
    df_load -> df_clean
    df_clean -> df
    df -> total
"""

import copy

import pandas as pd
from distill import step


@step
def df_load():
    """Load (from cell 3)."""
    df = pd.DataFrame({'a': [3, 1, 2], 'b': [1.0, None, 2.0]})
    return df


@step
def df_clean(df_load):
    """Clean (from cell 5)."""
    df = df_load
    df = df.dropna()
    df['c'] = df['a'] * 2
    return df


@step
def df(df_clean):
    """Enrich (from cell 7)."""
    df = copy.deepcopy(df_clean)
    df['d'] = df['c'] + 1
    df.sort_values('a', inplace=True)
    return df


@step
def total(df):
    """Report (from cell 9)."""
    total = df['d'].sum()
    return total
