"""Unit tests for the helpers in ``nb.lib``.

Each function is called on the arguments the notebook called it with, as ``distill verify``
recorded them in ``tests/recorded/``, and must give the same result.
"""

import inspect
import pickle
from pathlib import Path

import pytest
from distill.testing import assert_same

from nb.lib import RatioAdder, scaled

RECORDED = Path(__file__).resolve().parent / "recorded"


def recorded_call(name: str) -> dict:
    path = RECORDED / f"{name}.pkl"
    if not path.is_file():
        pytest.skip(f"no recorded call of {name}: run `distill verify NOTEBOOK .` in the project folder")
    with path.open("rb") as file:
        return pickle.load(file)


def test_scaled_gives_the_notebook_result() -> None:
    call = recorded_call("scaled")
    result = scaled(*call["args"], **call["kwargs"])
    assert_same(call["result"], result, name="scaled")


def test_scaled_takes_notebook_variables_as_parameters() -> None:
    parameters = inspect.signature(scaled).parameters
    for name in ("SCALE",):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY


def test_RatioAdder_is_a_class() -> None:
    assert isinstance(RatioAdder, type)
    assert RatioAdder.__module__.endswith(".lib")


def test_RatioAdder_takes_notebook_variables_in_init() -> None:
    parameters = inspect.signature(RatioAdder.__init__).parameters
    for name in ("SCALE", "households_ix", "rooms_ix",):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
