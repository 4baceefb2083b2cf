"""``distill convert`` over the notebooks corpus: every Python notebook converts or is refused.

Runs when ``../shared/corpus/notebooks`` exists (CI has it) and skips, saying so, otherwise.
A conversion counts only when the generated pipeline's graph validates (``build_project``
checks it); a refusal must name a cell and a reason.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

from distill.convert.emit import quiet_parse
from distill.convert.ir import FIGURE_MAKERS, PLOT_METHODS
from distill.convert.plan import MAX_NAME, ConversionPlan
from distill.convert.project import ConversionRefused, build_project, convert
from distill.notebook.read import NotebookError

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "notebooks"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the notebooks corpus is not at {CORPUS}")


def test_every_notebook_converts_or_is_refused_with_a_reason() -> None:
    converted, refused, unreadable = [], [], []
    long_names: list[str] = []
    mutable: list[str] = []
    figures: list[str] = []
    for path in sorted(CORPUS.glob("*.ipynb")):
        try:
            files, plan, _ = build_project(path, "nb")
        except ConversionRefused as exc:
            assert exc.refusals and all(r.reason for r in exc.refusals)
            assert "cannot convert this notebook" in str(exc) and "hint:" in str(exc)
            refused.append(path.name)
            continue
        except NotebookError:
            unreadable.append(path.name)
            continue
        assert plan.steps and "src/nb/pipeline.py" in files
        long_names.extend(f"{path.name}: {name}" for name in _made_up_names(plan) if len(name) > MAX_NAME)
        mutable.extend(f"{path.name}: {d}" for d in _mutable_defaults(str(files["src/nb/pipeline.py"])))
        figures.extend(f"{path.name}: {name}" for name in _figure_outputs(plan))
        converted.append(path.name)
    assert len(converted) + len(refused) + len(unreadable) == 44
    assert len(unreadable) == 6  # the same six files `distill lint` reports as unreadable
    # figures measured at the time of writing; a change here is a change in behaviour
    assert (len(converted), len(refused)) == (22, 16), (converted, refused)
    python3 = [name for name in converted + refused if name not in NOT_PYTHON_3]
    assert len(python3) == 28 and set(NOT_PYTHON_3) <= set(refused)
    # 22 of the 28 notebooks that are Python 3 convert (79%); the target is 90%: see REFUSED_WHY
    assert len([name for name in python3 if name in converted]) == 22
    assert {name for name in python3 if name in refused} == set(REFUSED_WHY), sorted(refused)
    assert not long_names, long_names  # names convert makes up are short; the notebook's own are kept
    assert not mutable, mutable
    assert not figures, figures  # a figure or its axes is never a value passed between steps


#: Refused because they are not Python 3 notebooks: the denominator of the conversion target leaves them out.
NOT_PYTHON_3 = {
    "WillKoehrsen__Data-Analysis__Untitled09.ipynb": "a cell does not parse ('(' never closed)",
    "donnemartin__data-science-ipython-notebooks__misc.ipynb": "Python 2 syntax (octal literals, print statements)",
    "donnemartin__data-science-ipython-notebooks__titanic.ipynb": "Python 2 print statements",
    "jupyter__nbformat__test2.ipynb": "Python 2 print statements and an unclosed '('",
    "nbQA-dev__nbQA__invalid_syntax.ipynb": "a test file of invalid syntax",
    "fastai__course-v3__swift_01_matmul.ipynb": "a Swift notebook",
    "jupyter__nbconvert__notebook_jl.ipynb": "a Julia notebook",
    "mwouts__jupytext__julia_benchmark_plotly_barchart.ipynb": "a Julia notebook",
    "mwouts__jupytext__R_notebook_with_invalid_cell_keys.ipynb": "an R notebook",
    "mwouts__jupytext__sas.ipynb": "a SAS notebook",
}
#: Python 3 notebooks still refused, and why (the first four cannot be made equal).
REFUSED_WHY = {
    "WillKoehrsen__Data-Analysis__validate-merges.ipynb": "`cf` is defined nowhere",
    "jupyter__nbformat__test4plus.ipynb": "a name is read before the cell defining it",
    "fastai__course-v3__dl2_01_matmul.ipynb": "`from exp.nb_00 import *`: the module is not in the corpus",
    "nbQA-dev__nbQA__empty_notebook.ipynb": "nothing to compute",
    "mwouts__jupytext__Notebook_with_R_magic.ipynb": "%%R cells: R code",
    "jrjohansson__scientific-python-lectures__Lecture-6A-Fortran-and-C.ipynb": "%%cython cells: Cython code",
}


def _made_up_names(plan: ConversionPlan) -> set[str]:
    """Step names, version names and params convert made up (not the notebook's own names)."""
    own = {name for s in plan.ir.statements for name in s.binds if not s.results or name not in s.results}
    names = {step.name for step in plan.steps} | set(plan.params)
    names |= {version for step in plan.steps for _, version in step.outputs}
    return {name for name in names if name not in own}


def _figure_outputs(plan: ConversionPlan) -> list[str]:
    """Outputs of data steps bound by a call that makes a figure or draws (``fig, ax = plt.subplots()``)."""
    found = []
    for step in plan.steps:
        outputs = {name for name, _ in step.outputs}
        for s in step.statements:
            value = getattr(s.node, "value", None)
            func = value.func if isinstance(value, ast.Call) else None
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if step.kind != "figure" and (called in FIGURE_MAKERS or called in PLOT_METHODS) and outputs & set(s.binds):
                found.append(f"{step.name}: {sorted(outputs & set(s.binds))}")
    return found


def _mutable_defaults(code: str) -> list[str]:
    """``def f(x=[...])``: a default list, dict or set is shared between calls."""
    found = []
    for node in ast.walk(quiet_parse(code)):  # NB: the authors' own "\s" escapes warn
        if isinstance(node, ast.FunctionDef):
            for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                if isinstance(default, (ast.List, ast.Dict, ast.Set)):
                    found.append(f"{node.name}: {ast.unparse(default)}")
    return found


#: Converted projects with ruff findings left, all in the authors' own code that no rewrite can change
#: without changing what it does: `except Exception` around a download, `'$%d' % profit` of a float.
RUFF_LEFT = {
    "WillKoehrsen__Data-Analysis__Stock_Explorer_Class.ipynb",
    "WillKoehrsen__Data-Analysis__Stock_Explorer_Stocker_Class.ipynb",
}


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (the dev extra has it)")
def test_converted_projects_pass_ruff_with_its_default_rules(tmp_path: Path) -> None:
    """The code a reviewer would see: ruff's default rules, from each project's own folder."""
    unclean: dict[str, str] = {}
    checked = 0
    for path in sorted(CORPUS.glob("*.ipynb")):
        project = tmp_path / path.stem
        try:
            convert(path, project, name="nb")
        except (ConversionRefused, NotebookError):
            continue
        checked += 1
        ruff = subprocess.run(["ruff", "check", "--isolated", "--no-cache", "-q", "."], cwd=project,
                              capture_output=True, text=True)
        if ruff.returncode != 0:
            unclean[path.name] = ruff.stdout[:300]
    assert checked == 22
    assert set(unclean) <= RUFF_LEFT, unclean
