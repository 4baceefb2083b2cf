"""The Sales report 2024: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    orders
"""

import pandas as pd
from distill import step


@step
def orders():
    """Load the orders from the shop with $alpha$ (from cell 4)."""
    orders = pd.DataFrame({'amount': [10.0, 5.0]})
    return orders
