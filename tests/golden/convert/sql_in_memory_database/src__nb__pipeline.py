"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    rows
"""

from pathlib import Path

from distill import step

from nb.lib import run_query


@step
def rows(
    col: str = 'name',
    database_cell_2_sql: Path = Path("queries/database_cell_2.sql"),
    low: int = 1,
    rows_sql: Path = Path("queries/rows.sql"),
):
    """From cell 4 of the notebook."""
    rows = run_query(rows_sql, None, {"col": col, "low": low}, setup=database_cell_2_sql)
    return rows
