"""``distill convert``: refusals name the cell and leave nothing behind; the project's files."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml
from click.testing import CliRunner

import distill
from distill.cli.main import cli
from distill.convert.project import ConversionRefused, convert
from distill.errors import DistillError
from test_convert_golden import write_notebook


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (("x = (1,",), r"cell 1, line 1: the cell does not parse"),
        (("code = 'y = 1'\nexec(code)",), r"cell 1, line 2: `exec` runs code built at run time"),
        (("%run helpers.py", "y = 1"), r"cell 1, line 1: `%run helpers.py` runs code that distill cannot see"),
        (("files = !ls | sort -r", "n = len(files)"),
         r"cell 1, line 1: `files = !ls \| sort -r` uses the output of a magic"),
        (("y = x + 1", "x = 1"), r"cell 1, line 1: `x` is read before any cell above defines it \(cell 2"),
        (("y = undefined_name * 2",), r"`undefined_name` is never defined in the notebook"),
        (("K = 3", "class Scaler:\n    def apply(self, v):\n        return v * K", "s = Scaler().apply(2)"),
         r"cell 2, line 1: class `Scaler` reads the notebook variable\(s\) K"),
        (("total = 0", "def add(v):\n    global total\n    total += v\n    return total", "y = [add(1)]"),
         r"function `add` assigns the notebook variable\(s\) total with `global`, and cell 3 uses it other than"),
        (("from no_such_module_here import *", "y = thing()"), r"cannot be expanded: importing no_such_module_here"),
        (("%load_ext sql\n%sql sqlite://", "%%sql\nCREATE TABLE t (a);\nSELECT * FROM t"),
         r"cell 2, line 1: a cell that builds the in-memory SQLite database also queries it"),
        (("import os",), r"no cell computes anything"),
    ],
    ids=["syntax", "exec", "run-magic", "shell-value", "use-before-define", "undefined", "class-global",
         "global-write", "star-import", "sql-memory", "nothing"],
)
def test_refusal_names_cell_and_writes_nothing(tmp_path: Path, cells: tuple[str, ...], expected: str) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, cells)
    output = tmp_path / "out"
    with pytest.raises(ConversionRefused, match=expected):
        convert(notebook, output)
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["nb.ipynb"]  # no staging folder left behind


def test_non_python_notebook_is_refused(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "ir", "language": "R", "display_name": "R"}
    nb.cells.append(nbformat.v4.new_code_cell("x <- 1"))
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ConversionRefused, match="language is r, not Python"):
        convert(path, tmp_path / "out")


def test_existing_output_needs_force(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import pandas as pd", "frame = pd.DataFrame({'x': [1]})"))
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    with pytest.raises(DistillError, match="already exists and is not empty"):
        convert(notebook, output)
    assert (output / "keep.txt").read_text() == "mine"
    convert(notebook, output, force=True)
    assert not (output / "keep.txt").exists()
    assert (output / "src" / "nb" / "pipeline.py").is_file()


def test_bad_package_name(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("x = [1]",))
    with pytest.raises(DistillError, match="cannot be the package name"):
        convert(notebook, tmp_path / "out", name="not-an-identifier")


def test_project_files_and_report(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_text("a\n1\n2\n")
    write_notebook(notebook, (
        "!pip install tabulate\nimport pandas as pd",
        "SCALE = 3",
        "def scale(frame):\n    return frame * SCALE",
        "raw = pd.read_csv('data/in.csv')\nraw.head()",
        "scaled = scale(raw)",
    ))
    result = convert(notebook, tmp_path / "out")
    out = tmp_path / "out"
    assert set(result.files) >= {"pyproject.toml", "params.yaml", "CONVERSION.md", "conftest.py", ".gitignore",
                                 "src/nb/pipeline.py", "src/nb/lib.py", "tests/test_pipeline.py", "tests/test_lib.py",
                                 "data/in.csv"}
    assert (out / "data" / "in.csv").read_text() == "a\n1\n2\n"
    report = (out / "CONVERSION.md").read_text()
    assert "| `scaled` | step | 5 | raw | scaled | SCALE |" in report
    assert "| 3 | lib.py |" in report
    assert "| 4 | step `raw`, left out (display only) |" in report
    assert "`raw.head()`" in report
    assert "| `scale` | function | 3 | SCALE |" in report
    assert "DL202" in report  # the notebook's lint findings
    pyproject = (out / "pyproject.toml").read_text()
    assert '"tabulate"' in pyproject and f'"distill=={distill.__version__}"' in pyproject and '"pandas==' in pyproject
    assert "SCALE: 3" in (out / "params.yaml").read_text()


def test_cli_convert(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("values = [1, 2, 3]", "total = sum(values)"))
    runner = CliRunner()
    ok = runner.invoke(cli, ["convert", str(notebook), "-o", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    assert "1 step, 0 helpers, 1 param" in ok.output
    assert "next: distill verify" in ok.output
    again = runner.invoke(cli, ["convert", str(notebook), "-o", str(tmp_path / "out")])
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_generated_project_runs_and_validates(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import pandas as pd",
        "LIMIT = 2",
        "frame = pd.DataFrame({'x': [1, 2, 3, 4]})",
        "frame['y'] = frame['x'] * 10",
        "small = frame[frame['x'] <= LIMIT]",
    ))
    convert(notebook, tmp_path / "out")
    result = distill.run(project=tmp_path / "out")
    assert result.ok
    small = distill.load("small", project=tmp_path / "out")
    assert small["y"].tolist() == [10, 20]
    # a param override re-runs only what reads it
    distill.run(project=tmp_path / "out", params={"LIMIT": 3})
    assert distill.load("small", project=tmp_path / "out", params={"LIMIT": 3})["y"].tolist() == [10, 20, 30]
    assert yaml.safe_load((tmp_path / "out" / "params.yaml").read_text()) == {"LIMIT": 2}


def test_names_convert_makes_up_fit_in_thirty_characters() -> None:
    from distill.convert.plan import MAX_NAME, fit, slug, unique

    assert fit("understanding_the_data_s_distribution_figure") == "understanding_the_data_s"
    assert fit("a" * 40) == "a" * MAX_NAME  # one word alone is cut
    # no numbered prefix, no stop words, whole words within 30 characters
    assert slug("Example 3: discretization of numerical attributes") == "discretization_numerical"
    assert slug("Understanding the data's distribution") == "understanding_data"
    assert slug("Binning into equal-width bins", words=3, last=True) == "equal_width_bins"
    taken = {"example_3_discretization_of"}
    assert unique("example_3_discretization_of_numerical", taken) == "example_3_discretization_of_2"
    assert len(unique("example_3_discretization_of_numeric" + "x" * 10, taken | {"example_3_discretization_2"})) \
        <= MAX_NAME
    # one numeric suffix, never a chain: the suffix replaces the end of a long name
    taken = {"stochastic_gradient_descent", "stochastic_gradient_descent_2"}
    assert unique("stochastic_gradient_descent", taken) == "stochastic_gradient_descent_3"
