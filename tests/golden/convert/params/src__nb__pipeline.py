"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_3 -> title, count
"""

from distill import step


@step(outputs=("title", "count"))
def cell_3(years: list[int], LIMIT: int = 10, alpha: float = 0.5, name: str = 'north'):
    """From cell 3 of the notebook."""
    values = [v * alpha for v in range(LIMIT)]
    title = f'{name}: {len(values)} values'
    count = len(years)
    return title, count
