"""The tests a converted project starts with.

Responsibilities:
- ``pipeline_tests``: ``tests/test_pipeline.py``, which runs the pipeline (``distill.run``,
  the project's own store and ``params.yaml``) and compares every output with the value
  the notebook held, as ``distill verify`` recorded it in ``tests/expected/``;
- ``lib_tests``: ``tests/test_lib.py``, one test per helper function that calls it on the
  arguments the notebook called it with (recorded by ``verify`` in ``tests/recorded/``)
  and checks the result, plus a check that notebook variables became keyword-only
  parameters.

Until ``verify`` has recorded values the recorded-value tests skip, saying which command
records them.
"""

from __future__ import annotations

from .emit import wrap_import
from .plan import ConversionPlan

EXPECTED_INDEX = "tests/expected/index.json"
RECORDED_DIR = "tests/recorded"


def pipeline_tests() -> str:
    return '''"""The pipeline gives the values the notebook gave.

``distill verify NOTEBOOK .`` runs the notebook in a fresh kernel and records the value of
every step output in ``tests/expected/``; this test runs the pipeline and compares each
output with that record (DataFrames and arrays within tolerance, models by their
parameters, fitted attributes and predictions, figures by existence).
"""

import json
from pathlib import Path

import distill
import pytest
from distill.testing import assert_same, load_expected

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "tests" / "expected" / "index.json"
RECORDED = json.loads(INDEX.read_text()) if INDEX.is_file() else {"values": {}}
NAMES = sorted(RECORDED["values"])


@pytest.fixture(scope="module")
def run() -> None:
    distill.run(project=ROOT)


def test_values_were_recorded() -> None:
    if not NAMES:
        pytest.skip("no values recorded yet: run `distill verify NOTEBOOK .` in this folder")
    files = [entry["file"] for entry in RECORDED["values"].values() if entry["file"]]
    assert all((INDEX.parent / file).is_file() for file in files)


@pytest.mark.parametrize("name", NAMES)
def test_output_matches_notebook(run: None, name: str) -> None:
    entry = RECORDED["values"][name]
    actual = distill.load(name, project=ROOT)
    if entry["how"] == "figure":
        assert type(actual).__name__ in ("Figure", "SubFigure"), f"{name} is not a figure"
        return
    expected = load_expected(INDEX.parent, entry)
    probes = [load_expected(INDEX.parent, RECORDED["values"][p]) for p in RECORDED.get("probes", [])]
    assert_same(expected, actual, name=name, rtol=entry.get("rtol", 1e-7), atol=entry.get("atol", 1e-9), probes=probes)
'''


def lib_tests(plan: ConversionPlan, package: str) -> str:
    functions = [h for h in plan.helpers.values() if h.kind == "function"]
    classes = [h for h in plan.helpers.values() if h.kind == "class"]
    names = sorted(h.name for h in plan.helpers.values())
    # NB: a helper named `test_*` imported as it is would be collected by pytest as a test
    local = {name: f"helper_{name}" if name.startswith("test") else name for name in names}
    plain = [name for name in names if local[name] == name]
    # NB: the import sorters keep an aliased import in a statement of its own, after the plain ones
    from_lib = [wrap_import(f"from {package}.lib import {', '.join(plain)}")] if plain else []
    from_lib += [f"from {package}.lib import {name} as {local[name]}" for name in names if local[name] != name]
    head = f'''"""Unit tests for the helpers in ``{package}.lib``.

Each function is called on the arguments the notebook called it with, as ``distill verify``
recorded them in ``tests/recorded/``, and must give the same result.
"""
'''
    if not names:
        made = ["run_query"] if any(step.kind == "query" for step in plan.steps) else []
        return head + '''

def test_no_helpers() -> None:
    """The notebook defined no function or class, so ``lib.py`` holds none of its own."""
    import importlib

    module = importlib.import_module("''' + package + '''.lib")
    defined = [name for name, value in vars(module).items() if callable(value) and getattr(value, "__module__", "") == module.__name__]
    assert defined == ''' + repr(made) + ("  # the pipeline's own, for its SQL steps" if made else "") + '''
'''
    imports = ["import inspect", "import pickle", "from pathlib import Path", "", "import pytest",
               "from distill.testing import assert_same", "", *from_lib]
    if not any(h.needs or h.sets for h in (*functions, *classes)):
        imports.remove("import inspect")
    if all(h.sets for h in functions):  # NB: nothing is compared, and an unused import fails `ruff check`
        imports.remove("from distill.testing import assert_same")
    parts = [head, "\n".join(imports), "", 'RECORDED = Path(__file__).resolve().parent / "recorded"', "", "",
             '''def recorded_call(name: str) -> dict:
    path = RECORDED / f"{name}.pkl"
    if not path.is_file():
        pytest.skip(f"no recorded call of {name}: run `distill verify NOTEBOOK .` in the project folder")
    with path.open("rb") as file:
        return pickle.load(file)''']
    for helper in sorted(functions, key=lambda h: h.stmt.position):
        if helper.sets:
            # NB: it returns what it assigned with `global` in the notebook: no recorded call to compare
            listed = ", ".join(f'"{n}"' for n in helper.sets)
            parts.append(f'''

def test_{helper.name}_returns_what_it_set() -> None:
    source = inspect.getsource({local[helper.name]})
    assert "global " not in source
    for name in ({listed},):
        assert name in source.rsplit("return", 1)[-1]''')
            continue
        parts.append(f'''

def test_{helper.name}_gives_the_notebook_result() -> None:
    call = recorded_call("{helper.name}")
    result = {local[helper.name]}(*call["args"], **call["kwargs"])
    assert_same(call["result"], result, name="{helper.name}")''')
        if helper.needs:
            listed = ", ".join(f'"{n}"' for n in helper.needs)
            parts.append(f'''

def test_{helper.name}_takes_notebook_variables_as_parameters() -> None:
    parameters = inspect.signature({local[helper.name]}).parameters
    for name in ({listed},):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY''')
    for helper in sorted(classes, key=lambda h: h.stmt.position):
        parts.append(f'''

def test_{helper.name}_is_a_class() -> None:
    assert isinstance({local[helper.name]}, type)
    assert {local[helper.name]}.__module__.endswith(".lib")''')
        if helper.needs:
            listed = ", ".join(f'"{n}"' for n in helper.needs)
            parts.append(f'''

def test_{helper.name}_takes_notebook_variables_in_init() -> None:
    parameters = inspect.signature({local[helper.name]}.__init__).parameters
    for name in ({listed},):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY''')
    return "\n".join(parts) + "\n"
