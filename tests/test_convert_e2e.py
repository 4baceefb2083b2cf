"""End to end with a real kernel: convert → run → the generated tests → verify.

These start Jupyter kernels (nbclient + ipykernel, in the test extra) and take a few seconds
each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import distill
from distill.cli.main import cli
from distill.convert.project import convert
from distill.convert.verify import VerifyError, verify
from test_convert_golden import write_notebook

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "notebook" / "churn.ipynb"
EXECUTABLE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "executable"


def project_pytest(project: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"], cwd=project,
                          capture_output=True, text=True, env=env, timeout=600)


def test_example_converts_runs_passes_its_tests_and_verifies(tmp_path: Path) -> None:
    notebook = tmp_path / "churn.ipynb"
    shutil.copytree(EXAMPLE.parent, tmp_path, dirs_exist_ok=True)
    project = tmp_path / "churn"
    conversion = convert(notebook, project)
    assert "cap_fee" in conversion.helpers and "customers_csv" in conversion.params

    run = distill.run(project=project)
    assert run.ok and set(run.steps) == set(conversion.steps)

    before = project_pytest(project)
    assert before.returncode == 0, before.stdout + before.stderr
    assert "skipped" in before.stdout  # nothing recorded yet: the recorded-value tests say so

    result = verify(notebook, project)
    assert result.exit_code == 0, [(r.name, r.detail) for r in result.rows if r.status != "equal"]
    names = {r.name for r in result.rows}
    assert {"df_load", "df", "X", "model", "accuracy", "summary", "churn_rate_by_plan_figure"} <= names
    assert all(r.status == "equal" for r in result.rows)
    assert {"cap_fee", "snake"} <= set(result.recorded_calls)
    assert (project / "tests" / "expected" / "index.json").is_file()

    after = project_pytest(project)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "skipped" not in after.stdout, after.stdout
    assert " passed" in after.stdout


def test_verify_reports_a_changed_value(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import pandas as pd", "frame = pd.DataFrame({'x': [1.0, 2.0, 3.0]})",
                              "total = frame['x'].sum() * 2"))
    project = tmp_path / "out"
    convert(notebook, project)
    pipeline = project / "src" / "nb" / "pipeline.py"
    pipeline.write_text(pipeline.read_text().replace("* 2", "* 2.5"))
    result = verify(notebook, project, record=False)
    assert result.exit_code == 1
    row = next(r for r in result.rows if r.name == "total")
    assert row.status == "different"
    assert "12.0" in row.detail or "12" in row.pipeline
    assert not (project / "tests" / "expected").exists()


def test_verify_says_unseeded_randomness_cannot_be_compared(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import numpy as np", "noise = np.random.rand(50)", "level = float(noise.mean())",
                              "rng = np.random.default_rng(3)\nfixed = rng.normal(size=5)"))
    project = tmp_path / "out"
    convert(notebook, project)
    result = verify(notebook, project)
    by_name = {r.name: r for r in result.rows}
    assert by_name["fixed"].status == "equal"
    assert by_name["noise"].status == "incomparable"
    assert "unseeded randomness in cell 2" in by_name["noise"].detail
    assert by_name["level"].status == "incomparable"
    assert result.exit_code == 3
    runner = CliRunner()
    out = runner.invoke(cli, ["verify", str(notebook), str(project), "--no-record"])
    assert out.exit_code == 3
    assert "not comparable" in out.output


def test_verify_names_the_failing_notebook_cell(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("values = [1, 2]", "ratio = values[0] / (values[1] - 2)"))
    project = tmp_path / "out"
    convert(notebook, project)
    with pytest.raises(VerifyError, match=r"cell 2 failed in a fresh kernel: ZeroDivisionError") as info:
        verify(notebook, project)
    assert info.value.exit_code == 2  # the notebook is what must change: nothing was compared
    out = CliRunner().invoke(cli, ["verify", str(notebook), str(project), "--no-record"])
    assert out.exit_code == 2
    assert "cell 2 failed in a fresh kernel: ZeroDivisionError" in out.output


def test_a_value_that_differs_between_two_notebook_runs_is_nondeterministic(tmp_path: Path) -> None:
    # No rule sees this as random or as the clock: only a second run of the notebook tells.
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import os", "process = os.getpid() * 1", "steady = 21 * 2"))
    project = tmp_path / "out"
    convert(notebook, project)
    result = verify(notebook, project, record=False)
    by_name = {r.name: r for r in result.rows}
    assert by_name["steady"].status == "equal"
    assert by_name["process"].status == "incomparable"
    assert "differs between two runs of the notebook itself (computed in cell 2)" in by_name["process"].detail
    assert result.exit_code == 3
    out = CliRunner().invoke(cli, ["verify", str(notebook), str(project), "--no-record", "--json"])
    assert out.exit_code == 3
    import json

    report = json.loads(out.stdout)
    assert report["exit_code"] == 3
    assert {o["name"]: o["status"] for o in report["outputs"]} == {"process": "incomparable", "steady": "equal"}


def test_verify_sql_query_step(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute("CREATE TABLE orders (customer TEXT, total REAL)")
        db.executemany("INSERT INTO orders VALUES (?, ?)", [("ann", 12.0), ("bob", 4.0), ("cy", 30.0)])
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import sqlite3\nimport pandas as pd",
        "MIN_TOTAL = 10",
        "big = pd.read_sql_query('SELECT customer, total FROM orders WHERE total >= ? ORDER BY total', "
        "sqlite3.connect('shop.db'), params=(MIN_TOTAL,))",
        "count = len(big)",
    ))
    project = tmp_path / "out"
    convert(notebook, project)
    result = verify(notebook, project)
    assert result.exit_code == 0, result.rows
    assert {r.name for r in result.rows} == {"big", "count"}


@pytest.mark.skipif(not EXECUTABLE.is_dir(), reason=f"the executable corpus is not at {EXECUTABLE}")
def test_executable_corpus_notebook_verifies(tmp_path: Path) -> None:
    pytest.importorskip("statsmodels", reason="statsmodels (the notebook's own dependency) is not installed")
    folder = EXECUTABLE / "statsmodels__statsmodels__tsa_filters"
    notebook = next(folder.glob("*.ipynb"))
    project = tmp_path / "tsa"
    convert(notebook, project, name="tsa")
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, [(r.name, r.detail) for r in result.rows if r.status != "equal"]
    assert len(result.rows) >= 5


def test_what_verify_records_is_in_the_manifest_so_force_replaces_it(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("base = 20", "total = base * 2 + 2"))
    project = tmp_path / "out"
    convert(notebook, project)
    result = verify(notebook, project)
    assert result.exit_code == 0 and (project / "tests" / "expected" / "index.json").is_file()
    convert(notebook, project, force=True)
    assert not list(tmp_path.glob("out.old-*")), "verify's recorded values made the folder look like the user's"
    assert (project / ".distill" / "index.db").is_file(), "the project's store is carried over"
    assert verify(notebook, project).exit_code == 0
    (project / "tests" / "expected" / "index.json").write_text("{}\n")  # edited by hand: kept
    convert(notebook, project, force=True)
    assert len(list(tmp_path.glob("out.old-*"))) == 1
