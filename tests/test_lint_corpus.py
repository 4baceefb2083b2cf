"""`distill lint` over the shared corpus of real notebooks written by other people.

Runs when ``../shared/corpus/notebooks`` exists (CI has it); skips with the reason otherwise.
Each file has its expected outcome: which error, not Python, clean, or the hidden-state
findings a fresh kernel would hit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distill.lint.engine import lint_paths, load_config
from distill.lint.model import LintResult

CORPUS = Path(os.environ.get("DISTILL_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")) / "notebooks"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the notebook corpus is absent: {CORPUS} does not exist")

UNREADABLE = {
    "ageron__handson-ml2__19_training_and_deploying_at_scale.ipynb": "is not valid JSON: Expecting ',' delimiter at line 244, column 17",
    "guipsamora__pandas_exercises__Students_Alcohol_Consumption_Exercises.ipynb": "is not valid JSON: Expecting ',' delimiter at line 28",
    "kynan__nbstripout__test_invalid_json.ipynb": "is not valid JSON: a trailing comma before the closing '}' at line 32, column 21",
    "kynan__nbstripout__test_missing_nbformat.ipynb": "has no 'nbformat' key",
    "jupyter__nbformat__invalid.ipynb": "fails the nbformat schema: at cells[0]: 'source' is a required property",
    "jupyter__nbformat__test3_worksheet_with_no_cells.ipynb": "fails the nbformat 3 schema: at worksheets[0]: 'cells' is a required property",
}
NOT_PYTHON = {
    "fastai__course-v3__swift_01_matmul.ipynb": "swift",
    "jupyter__nbconvert__notebook_jl.ipynb": "julia",
    "mwouts__jupytext__R_notebook_with_invalid_cell_keys.ipynb": "r",
    "mwouts__jupytext__julia_benchmark_plotly_barchart.ipynb": "julia",
    "mwouts__jupytext__sas.ipynb": "sas",
}
#: (code, cell, name) of the findings that say a fresh kernel fails: DL002, DL103, DL104.
FRESH_KERNEL_FAILURES = {
    "WillKoehrsen__Data-Analysis__Stock_Explorer_Stocker_Class.ipynb": {("DL103", 3, "Stocker")},
    "WillKoehrsen__Data-Analysis__military-data.ipynb": {("DL103", 3, "pd")},
    "WillKoehrsen__Data-Analysis__validate-merges.ipynb": {("DL104", 1, "cf")},
    "WillKoehrsen__Data-Analysis__Untitled09.ipynb": {("DL002", 5, None), ("DL104", 2, "load_some_dataset10"),
                                                      ("DL104", 4, "algorithms"), ("DL104", 6, "X_with_labels"),
                                                      ("DL104", 6, "formula"), ("DL104", 6, "pm")},
    "donnemartin__data-science-ipython-notebooks__misc.ipynb": {("DL002", 8, None), ("DL002", 14, None), ("DL002", 29, None)},
    "donnemartin__data-science-ipython-notebooks__titanic.ipynb": {("DL002", 49, None), ("DL104", 63, "nan"),
                                                                   ("DL104", 84, "passenger_classes"), ("DL104", 117, "nan")},
    "jupyter__nbconvert__notebook2.ipynb": {("DL104", 5, "ip")},
    "jupyter__nbformat__test2.ipynb": {("DL002", 6, None), ("DL002", 13, None)},
    "jupyter__nbformat__test4plus.ipynb": {("DL104", 11, "future_output")},
    "nbQA-dev__nbQA__invalid_syntax.ipynb": {("DL002", 1, None)},
}
#: Other findings each of these must have (a sample: the point is that they are found).
MUST_FIND = {
    "WillKoehrsen__Data-Analysis__military-data.ipynb": {"DL101", "DL102", "DL301"},
    "WillKoehrsen__Data-Analysis__Stock_Explorer_Class.ipynb": {"DL302"},
    "catherinedevlin__ipython-sql__writers.ipynb": {"DL401"},
    "donnemartin__data-science-ipython-notebooks__misc.ipynb": {"DL202", "DL303"},
    "nbQA-dev__nbQA__notebook_with_indented_magics.ipynb": {"DL303", "DL304"},
    "chris1610__pbpython__Monte_Carlo_Simulationv2.ipynb": {"DL501"},
    "fastai__course-v3__dl2_01_matmul.ipynb": {"DL602"},
    "ageron__handson-ml2__02_end_to_end_machine_learning_project.ipynb": {"DL601", "DL106"},
    "WillKoehrsen__Data-Analysis__magic.ipynb": {"DL701"},
}
CLEAN = {"nbQA-dev__nbQA__empty_notebook.ipynb"}


@pytest.fixture(scope="module")
def result() -> LintResult:
    return lint_paths([CORPUS], load_config(CORPUS))


def test_every_notebook_gets_a_report(result: LintResult) -> None:
    assert len(result.files) == len(list(CORPUS.glob("*.ipynb"))) == 44
    assert result.exit_code == 2  # some files are unreadable


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_broken_files_get_their_clear_error(result: LintResult, name: str) -> None:
    [report] = [r for r in result.files if r.path.endswith(name)]
    assert report.status == "unreadable"
    assert UNREADABLE[name] in (report.error or "")
    assert "hint:" in (report.error or "")


@pytest.mark.parametrize("name", sorted(NOT_PYTHON))
def test_non_python_notebooks_are_named_not_analysed(result: LintResult, name: str) -> None:
    [report] = [r for r in result.files if r.path.endswith(name)]
    assert (report.status, report.language) == ("not-python", NOT_PYTHON[name])
    assert "only Python notebooks are analysed" in (report.error or "")


def test_fresh_kernel_failures_are_exactly_the_expected_ones(result: LintResult) -> None:
    found = {}
    for report in result.files:
        hits = {(f.code, f.cell, f.subject) for f in report.findings if f.code in ("DL002", "DL103", "DL104")}
        if hits:
            found[Path(report.path).name] = hits
    assert found == FRESH_KERNEL_FAILURES


@pytest.mark.parametrize("name", sorted(MUST_FIND))
def test_hazards_are_found(result: LintResult, name: str) -> None:
    [report] = [r for r in result.files if r.path.endswith(name)]
    assert MUST_FIND[name] <= {f.code for f in report.findings}


def test_clean_and_analysed(result: LintResult) -> None:
    analysed = {Path(r.path).name: r for r in result.files if r.status == "analysed"}
    assert len(analysed) == 44 - len(UNREADABLE) - len(NOT_PYTHON)
    assert {name for name, r in analysed.items() if not r.findings} >= CLEAN
