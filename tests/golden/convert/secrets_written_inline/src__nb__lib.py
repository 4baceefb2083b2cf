"""Helpers of Nb: the functions and classes the notebook defined.

The notebook variables a function used to read are now keyword-only parameters (of
`__init__` for a class, which keeps them as attributes).
"""

import os


def connect():
    options = {'password': os.environ["PASSWORD"]}
    return sorted(options)
