"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_2 -> files, here, pandas_line
    files -> rows
"""

import glob
import os
import subprocess

import pandas as pd
from distill import step


@step(outputs=("files", "here", "pandas_line"))
def cell_2():
    """From cell 2 of the notebook."""
    files = sorted(glob.glob('data/*.csv'))
    here = [os.getcwd()]
    pandas_line = [line for line in subprocess.run(['pip', 'list'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=True).stdout.splitlines() if 'pandas' in line.lower()]
    return files, here, pandas_line


@step
def rows(files):
    """From cell 3 of the notebook."""
    frames = [pd.read_csv(f) for f in files]
    rows = sum(len(f) for f in frames)
    return rows
