"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    big
    big -> count
"""

from pathlib import Path

from distill import step

from nb.lib import run_query


@step
def big(
    MIN_TOTAL: int = 10,
    big_sql: Path = Path("queries/big.sql"),
    database: Path = Path("shop.db"),
):
    """From cell 3 of the notebook."""
    big = run_query(big_sql, database, {"MIN_TOTAL": MIN_TOTAL})
    return big


@step
def count(big):
    """From cell 4 of the notebook."""
    count = len(big)
    return count
