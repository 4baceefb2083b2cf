"""Helpers of Nb: the functions and classes the notebook defined.

The notebook variables a function used to read are now keyword-only parameters (of
`__init__` for a class, which keeps them as attributes).
"""

import os

ROOT = 'data'
HOUSING_PATH = os.path.join(ROOT, 'housing')
URL = ROOT + '/housing.tgz'


def where(name, folder=HOUSING_PATH, url=URL):
    return os.path.join(folder, name), url
