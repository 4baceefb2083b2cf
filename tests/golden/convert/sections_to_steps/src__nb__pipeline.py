"""Sales report: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    orders
    orders -> share
"""

import pandas as pd
from distill import step


@step
def orders():
    """Load the orders (from cell 4)."""
    orders = pd.DataFrame({'region': ['n', 's', 'n'], 'amount': [10.0, 5.0, 7.5]})
    return orders


@step
def share(orders):
    """Totals by region (from cells 6, 7)."""
    totals = orders.groupby('region')['amount'].sum()

    share = totals / totals.sum()
    return share
