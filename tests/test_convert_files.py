"""Files the notebook writes, settings, helpers' globals and figure steps, end to end with a real kernel.

These start Jupyter kernels (nbclient + ipykernel, in the test extra) and take a few seconds
each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import distill
from distill.convert.project import ConversionRefused, convert
from distill.convert.verify import Verification, verify
from test_convert_golden import write_notebook


def _pipeline(project: Path) -> Path:
    return next((project / "src").glob("*/pipeline.py"))


def _not_equal(result: Verification) -> list[tuple[str, str, str]]:
    return [(r.name, r.status, r.detail) for r in result.rows if r.status != "equal"]


def test_written_files_are_declared_and_verify_compares_them(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()  # the notebook relies on it being there
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import json\nimport pickle\nimport joblib\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
        "from sklearn.linear_model import LinearRegression",
        "frame = pd.DataFrame({'x': [1.0, 2.0, 3.0, 4.0], 'y': [2.0, 4.1, 6.2, 7.9]})",
        "frame.assign(z=frame['x'] * 3).to_csv('out/x.csv', index=False)",
        "model = LinearRegression().fit(frame[['x']], frame['y'])\njoblib.dump(model, 'model.pkl')",
        "pickle.dump({'rows': len(frame)}, open('counts.pkl', 'wb'))\n"
        "json.dump({'mean': float(frame['y'].mean())}, open('summary.json', 'w'))",
        "with open('report.txt', 'w') as f:\n    f.write(f'rows: {len(frame)}\\n')",
        "fig, ax = plt.subplots()\nax.plot(frame['x'], frame['y'])\nfig.savefig('fig.png')",
    ))
    project = tmp_path / "proj"
    convert(notebook, project)
    code = _pipeline(project).read_text()
    declared = "\n".join(line for line in code.split("\n") if line.startswith("@step(") and "writes=[" in line)
    assert 'writes=["counts.pkl", "summary.json"]' in declared
    for path in ("out/x.csv", "model.pkl", "report.txt", "fig.png"):
        assert f'writes=["{path}"]' in declared, path
    assert 'Path("out").mkdir(parents=True, exist_ok=True)' in code
    assert "return None" not in code

    result = verify(notebook, project, record=False)
    files = {r.name: r for r in result.rows if r.name.startswith("file:")}
    assert set(files) == {"file:out/x.csv", "file:model.pkl", "file:counts.pkl", "file:summary.json",
                          "file:report.txt", "file:fig.png"}
    assert result.exit_code == 0, _not_equal(result)
    assert files["file:out/x.csv"].how == "file (table)" and files["file:fig.png"].how == "image"

    # the constant the CSV depends on changes in the pipeline: the file differs, nothing else does
    pipeline = _pipeline(project)
    pipeline.write_text(pipeline.read_text().replace("* 3", "* 4"))
    changed = verify(notebook, project, record=False)
    assert changed.exit_code == 1
    assert [r.name for r in changed.rows if r.status != "equal"] == ["file:out/x.csv"]


def test_a_file_written_outside_the_notebook_folder_moves_into_the_project(tmp_path: Path) -> None:
    """`frame.to_csv('../shared/x.csv')`, read back later: the pipeline writes and reads
    `out/shared/x.csv` in its project, and verify compares it with the file the notebook wrote."""
    folder = tmp_path / "work"
    folder.mkdir()
    (tmp_path / "shared").mkdir()
    notebook = folder / "nb.ipynb"
    write_notebook(notebook, ("import pandas as pd", "frame = pd.DataFrame({'x': [1, 2]})",
                              "frame.to_csv('../shared/x.csv', index=False)",
                              "back = pd.read_csv('../shared/x.csv')\ntotal = int(back['x'].sum())"))
    project = tmp_path / "proj"
    result = convert(notebook, project)
    code = _pipeline(project).read_text()
    assert "'../shared/x.csv'" not in code and code.count("'out/shared/x.csv'") == 2
    assert '@step(writes=["out/shared/x.csv"])' in code
    assert any(note.action == "moved" for note in result.notes)
    verified = verify(notebook, project, record=False)
    assert verified.exit_code == 0, _not_equal(verified)
    assert {"file:out/shared/x.csv", "total"} <= {r.name for r in verified.rows}


def test_writing_a_folder_above_the_notebook_is_refused(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import pandas as pd", "frame = pd.DataFrame({'x': [1]})", "frame.to_csv('..')"))
    with pytest.raises(ConversionRefused) as caught:
        convert(notebook, tmp_path / "proj")
    refusal = caught.value.refusals[0]
    assert refusal.cell == 3 and "a folder above the notebook's folder" in refusal.reason


def test_chdir_is_refused_unless_it_stays(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import os", "os.chdir('data')", "x = 1\ny = x + 1"))
    with pytest.raises(ConversionRefused) as caught:
        convert(notebook, tmp_path / "proj")
    assert caught.value.refusals[0].cell == 2 and "changes the folder" in caught.value.refusals[0].reason

    write_notebook(notebook, ("import os", "os.chdir('.')", "x = 1\ny = x + 1"))
    convert(notebook, tmp_path / "proj2")
    assert "chdir" not in _pipeline(tmp_path / "proj2").read_text()


def test_settings_go_to_setup_and_no_step_returns_none(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import warnings\nimport numpy as np\nimport pandas as pd",
        "warnings.filterwarnings('ignore')\npd.set_option('display.precision', 2)\nnp.set_printoptions(precision=3)",
        "np.random.seed(0)",
        "noise = np.random.rand(4)",
        "text = str(pd.DataFrame({'v': noise}))",
    ))
    project = tmp_path / "proj"
    conversion = convert(notebook, project)
    code = _pipeline(project).read_text()
    head = code.split("@step")[0]
    for setting in ("warnings.filterwarnings('ignore')", "pd.set_option('display.precision', 2)",
                    "np.set_printoptions(precision=3)"):
        assert setting in head, setting
    assert "return None" not in code
    assert "np.random.seed(0)" in code.split("def noise")[1]  # merged into the step it seeds
    assert set(conversion.steps) == {"noise", "text"}
    assert "merged" in (project / "CONVERSION.md").read_text()

    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, _not_equal(result)


def test_helper_reads_globals_assigned_by_tuple_unpacking(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "t0, t1 = 5, 50",
        "def schedule(t):\n    return t0 / (t + t1)",
        "first = [schedule(i) for i in range(3)]",
        "t0, t1 = 200, 1000",
        "second = [schedule(i) for i in range(3)]",
    ))
    project = tmp_path / "proj"
    convert(notebook, project)
    assert distill.run(project=project).ok
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, _not_equal(result)
    assert {"first", "second"} <= {r.name for r in result.rows}


def test_figure_and_data_in_one_cell_become_a_step_and_a_figure(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import numpy as np\nimport matplotlib.pyplot as plt",
        "values = np.arange(20.0) ** 1.5",
        "fig, ax = plt.subplots()\nresid = values - values.mean()\nresid_std = resid / resid.std()\n"
        "ax.hist(resid_std, bins=5)\nax.set_title('Histogram of residuals')",
        "plt.close('all')",
        "total = float(resid_std.sum())",
    ))
    project = tmp_path / "proj"
    conversion = convert(notebook, project)
    figure = next(name for name in conversion.steps if name.endswith("_figure"))
    code = _pipeline(project).read_text()
    body = code.split(f"def {figure}")[1].split("@step")[0]
    assert "plt.subplots()" in body and "ax.hist" in body and "resid_std =" not in body
    assert "plt.close('all')" not in code  # a figure step that only closes figures draws nothing

    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, _not_equal(result)
    row = next(r for r in result.rows if r.name == figure)
    assert row.status == "equal" and row.how == "figure"


def test_a_file_written_then_read_is_an_edge_not_a_data_param(tmp_path: Path) -> None:
    """The notebook writes ``out/clean.csv`` and a later cell reads it back: the reading step
    depends on the writer's declared file, and the notebook's old copy is not data."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clean.csv").write_text("a,b,c\n9,9,9\n")  # a stale copy from an earlier run
    (tmp_path / "in.csv").write_text("a,b\n1,2\n3,4\n")
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import pandas as pd\nSCALE = 2",
        "df = pd.read_csv('in.csv')\ndf['c'] = df.a * SCALE",
        "df.to_csv('out/clean.csv', index=False)",
        "back = pd.read_csv('out/clean.csv')\ntotal = back.c.sum()\nprint(total)",
    ))
    project = tmp_path / "proj"
    convert(notebook, project)
    code = _pipeline(project).read_text()
    assert "pd.read_csv('out/clean.csv')" in code
    assert "clean_csv" not in code and "clean_csv" not in (project / "params.yaml").read_text()
    assert not (project / "out" / "clean.csv").exists()  # the stale copy was not taken as data
    assert "out/clean.csv -> total" in code  # the module's graph shows the file edge

    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, _not_equal(result)
    assert {"total", "file:out/clean.csv"} <= {r.name for r in result.rows}

    # the reader follows the writer: a change upstream of the file changes what is read back
    params = project / "params.yaml"
    assert "SCALE: 2" in params.read_text()
    params.write_text(params.read_text().replace("SCALE: 2", "SCALE: 3"))
    changed = verify(notebook, project, record=False)
    assert changed.exit_code == 1
    assert {"total", "file:out/clean.csv"} <= {name for name, status, _ in _not_equal(changed)}


def test_a_value_shown_mid_section_is_the_version_compared(tmp_path: Path) -> None:
    """Under one heading, `theta` is computed, shown, then updated: the step is cut where it is
    shown, so the value the notebook showed is an output verify compares (it was a "missing" row)."""
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import numpy as np",
        ("md", "## Gradient descent"),
        "X = np.arange(6.0).reshape(3, 2)\ntheta = np.ones(2)",
        "theta",
        "for _ in range(3):\n    theta = theta - 0.01 * X.T @ (X @ theta)",
        "theta",
    ))
    project = tmp_path / "proj"
    convert(notebook, project)
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, _not_equal(result)
    cells = {c.cell: c for c in result.cells}
    assert cells[4].covered_by and cells[6].covered_by
    assert cells[4].covered_by != cells[6].covered_by  # two versions of theta, each compared


def test_draws_stay_with_their_seed_when_a_figure_splits_the_cell(tmp_path: Path) -> None:
    """`np.random.seed`, a figure call, then a loop that draws and plots, in one cell: the draws
    stay in the seeding step, so no other step's draws can run between seed and draws."""
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import numpy as np\nimport matplotlib.pyplot as plt",
        "np.random.seed(42)\nstart = np.random.randn(2)\nplt.figure(figsize=(4, 3))\npath = []\n"
        "for i in range(20):\n    start = start + np.random.randn(2)\n    path.append(start.copy())\n"
        "    plt.plot(start[0], start[1], 'b.')",
        "noise = np.random.randn(5)\nprint(round(float(noise.sum()), 6))",
        "print(np.array(path).sum().round(6))",
    ))
    project = tmp_path / "proj"
    convert(notebook, project)
    code = _pipeline(project).read_text()
    seeding = next(block for block in code.split("@step") if "np.random.seed(42)" in block)
    assert "np.random.randn(2)\n" in seeding and "for i in range(20):" in seeding
    result = verify(notebook, project, record=False)
    assert result.exit_code in (0, 3), _not_equal(result)
    assert not [r for r in result.rows if r.status == "different"]
