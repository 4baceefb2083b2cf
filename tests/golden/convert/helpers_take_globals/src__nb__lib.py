"""Helpers of Nb: the functions and classes the notebook defined.

The notebook variables a function used to read are now keyword-only parameters (of
`__init__` for a class, which keeps them as attributes).
"""


def flag(frame, *, THRESHOLD):
    return frame.assign(high=frame['x'] > THRESHOLD)


def label(frame, *, THRESHOLD):
    return flag(frame, THRESHOLD=THRESHOLD)['high'].map({True: 'high', False: 'low'})
