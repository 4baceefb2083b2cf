"""``distill convert`` over the notebooks corpus: every Python notebook converts or is refused.

Runs when ``../shared/corpus/notebooks`` exists (CI has it) and skips, saying so, otherwise.
A conversion counts only when the generated pipeline's graph validates (``build_project``
checks it); a refusal must name a cell and a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.convert.project import ConversionRefused, build_project
from distill.notebook.read import NotebookError

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "notebooks"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the notebooks corpus is not at {CORPUS}")


def test_every_notebook_converts_or_is_refused_with_a_reason() -> None:
    converted, refused, unreadable = [], [], []
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
        converted.append(path.name)
    assert len(converted) + len(refused) + len(unreadable) == 44
    assert len(unreadable) == 6  # the same six files `distill lint` reports as unreadable
    # figures measured at the time of writing; a change here is a change in behaviour
    assert (len(converted), len(refused)) == (17, 21), (converted, refused)
