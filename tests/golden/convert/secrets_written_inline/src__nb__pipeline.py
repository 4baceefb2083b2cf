"""Nb: the notebook as a pipeline.

Step graph (an edge is an output another step makes, or a file it writes)::

    cell_3 -> config, keys
"""

import os
import types

from distill import step

from nb.lib import connect


@step(outputs=("config", "keys"))
def cell_3():
    """From cell 3 of the notebook."""
    config = types.SimpleNamespace()
    config.api_key = os.environ["CONFIG_API_KEY"]
    keys = connect()
    return config, keys
