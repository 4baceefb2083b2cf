"""Values a notebook prints or shows are results: step outputs that verify compares.

Real kernels (nbclient + ipykernel): a few seconds each.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from distill.cli.main import cli
from distill.convert.project import convert
from distill.convert.verify import verify
from test_convert_golden import write_notebook

IMPORTS = ("import pandas as pd\nfrom sklearn import metrics\nfrom sklearn.linear_model import LogisticRegression\n"
           "from sklearn.model_selection import cross_val_score")
FRAME = ("df = pd.DataFrame({'x': [0.1, 0.5, 0.9, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4, 0.95] * 3,\n"
         "                   'y': [0, 1, 1, 0, 1, 0, 1, 1, 0, 1] * 3})\ndf.head()")
FIT = ("model = LogisticRegression(C=1.0)\nmodel.fit(df[['x']], df['y'])\np = model.predict(df[['x']])\n"
       "print(metrics.accuracy_score(df['y'], p))")
CV = "cross_val_score(LogisticRegression(C=0.5), df[['x']], df['y'], cv=3).mean()"


def _project(tmp_path: Path, *cells: str) -> tuple[Path, Path, str]:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (IMPORTS, *cells))
    project = tmp_path / "out"
    convert(notebook, project)
    return notebook, project, (project / "src" / "nb" / "pipeline.py").read_text()


def test_printed_metric_becomes_a_compared_output(tmp_path: Path) -> None:
    notebook, project, pipeline = _project(tmp_path, FRAME, FIT)
    assert "accuracy_score = metrics.accuracy_score(df['y'], p)" in pipeline
    assert 'metrics=("accuracy_score",)' in pipeline
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, [(r.name, r.detail) for r in result.rows if r.status != "equal"]
    row = next(r for r in result.rows if r.name == "accuracy_score")
    assert row.status == "equal" and "0.9" in row.notebook
    cell = next(c for c in result.cells if c.cell == 3)
    assert "accuracy_score" in cell.covered_by


def test_bare_last_expression_becomes_an_output(tmp_path: Path) -> None:
    notebook, project, pipeline = _project(tmp_path, FRAME, CV)
    assert f"cross_val_score_mean = {CV}" in pipeline
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0
    assert next(r for r in result.rows if r.name == "cross_val_score_mean").status == "equal"
    assert next(c for c in result.cells if c.cell == 3).covered_by == ("cross_val_score_mean",)


def test_redisplays_are_left_out_and_covered(tmp_path: Path) -> None:
    notebook, project, pipeline = _project(tmp_path, FRAME, "df", "acc = len(df) / 3\nprint(f'acc: {acc:.2f}')")
    assert "df.head()" not in pipeline and "print(" not in pipeline
    assert 'metrics=("acc",)' in pipeline
    report = (project / "CONVERSION.md").read_text()
    assert "a display of an existing value" in report
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0
    cells = {c.cell: c for c in result.cells}
    assert cells[2].covered_by == ("df",) and cells[2].reason == "display of an existing value"
    assert cells[3].covered_by == ("df",) and cells[3].reason == "display of an existing value"
    assert cells[4].covered_by == ("acc",)


def test_changed_constant_behind_a_printed_value_or_last_expression_fails(tmp_path: Path) -> None:
    notebook, project, pipeline = _project(tmp_path, FRAME, FIT, CV)
    path = project / "src" / "nb" / "pipeline.py"
    path.write_text(pipeline.replace("model = LogisticRegression(C=1.0)", "model = LogisticRegression(C=1e-6)")
                    .replace("LogisticRegression(C=0.5)", "LogisticRegression(C=1e-6)"))
    result = verify(notebook, project, record=False)
    assert result.exit_code == 1
    status = {r.name: r.status for r in result.rows}
    assert status["accuracy_score"] == "different" and status["cross_val_score_mean"] == "different"


def test_output_nothing_covers_is_missing(tmp_path: Path) -> None:
    # NB: shown with `display` (not printed text, which is compared) inside a loop: no value holds it
    notebook, project, _ = _project(tmp_path, FRAME, "for i in range(3):\n    display(i * 2)")
    result = verify(notebook, project, record=False)
    assert result.exit_code == 1
    row = next(r for r in result.rows if r.name == "cell 3")
    assert row.status == "missing" and row.detail == "cell 3 showed output that no compared value covers"
    assert next(c for c in result.cells if c.cell == 3).covered_by == ()
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["verify", str(notebook), str(project), "--json", "--no-record"]).stdout)
    assert {"cell": 3, "covered_by": [], "reason": None} in data["cells"]
    text = runner.invoke(cli, ["verify", str(notebook), str(project), "--no-record"]).stdout
    assert "cells with output" in text and "NOT COVERED" in text


def test_text_printed_in_a_loop_is_compared(tmp_path: Path) -> None:
    """Text a step prints (in a loop, from a derived value) is compared with what its cells printed.

    Left-out statements (a re-display, a shell command, a timed statement's timing) print in the
    notebook and not in the pipeline: they are set aside, so they make no difference.
    """
    loop = ("K = (2, 3)\nprint(df.shape)\n!echo from the shell\n%time doubled = df.x * 2\n"
            "for k in K:\n    print(k, round(df.x[df.y == k % 2].sum(), 4))")
    notebook, project, pipeline = _project(tmp_path, FRAME, loop)
    assert "for k in K:" in pipeline
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, [(r.name, r.detail) for r in result.rows if r.status != "equal"]
    printed = [r for r in result.rows if r.name.startswith("printed:")]
    assert [(r.status, r.notebook, r.pipeline) for r in printed] == [("equal", "2 lines printed", "2 lines printed")]
    assert printed[0].name in next(c for c in result.cells if c.cell == 3).covered_by

    path = project / "src" / "nb" / "pipeline.py"
    path.write_text(pipeline.replace("df.y == k % 2", "df.y != k % 2"))
    changed = verify(notebook, project, record=False)
    assert changed.exit_code == 1
    row = next(r for r in changed.rows if r.name.startswith("printed:"))
    assert row.status == "different" and row.detail.startswith("line 1: the notebook printed '2 ")


def test_printed_text_that_changes_between_notebook_runs_is_nondeterministic(tmp_path: Path) -> None:
    notebook, project, _ = _project(tmp_path, FRAME, "import random\nfor i in range(2):\n    print(random.random())")
    result = verify(notebook, project, record=False)
    row = next(r for r in result.rows if r.name.startswith("printed:"))
    assert row.status == "incomparable" and "prints different text on a second run" in row.detail, row
    assert result.exit_code == 3
