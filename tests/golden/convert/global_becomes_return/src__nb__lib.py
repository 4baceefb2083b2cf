"""Helpers of Nb: the functions and classes the notebook defined.

The notebook variables a function used to read are now keyword-only parameters (of
`__init__` for a class, which keeps them as attributes).
A function that assigned notebook variables with `global` returns them instead.
"""


def add(v, *, total):
    total += v
    return total


def pick(v):
    chosen = v * 2
    if v > 5:
        return 'big', chosen
    return 'small', chosen
