"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_4 -> chosen, report
"""

from distill import step

from nb.lib import add, pick


@step(outputs=("chosen", "report"))
def cell_4(total: int = 0):
    """From cell 4 of the notebook."""
    total = add(1, total=total)
    for v in [2, 3]:
        total = add(v, total=total)
    size, chosen = pick(1)
    _, chosen = pick(9)
    report = (total, chosen, size)
    return chosen, report
