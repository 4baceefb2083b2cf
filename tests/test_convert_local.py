"""Conversions of notebooks that import their repository's own modules and read files by
computed paths: each converts, runs, and (with a real kernel) verifies.

The notebook's own modules are copied into the generated package (read with ``ast``, never
imported) and its imports of them point there; their third-party imports are pinned; a
module found nowhere is a warning, never a pin. Files read through ``os.path.join``,
``Path / ...``, f-strings of constants and globs are copied into the project.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from distill.cli.main import cli
from distill.convert.project import convert
from distill.convert.verify import Verification, verify
from test_convert_golden import write_notebook


def _convert(notebook: Path, project: Path) -> str:
    result = CliRunner().invoke(cli, ["convert", str(notebook), "-o", str(project)])
    assert result.exit_code == 0, result.output
    return result.output


def _run(project: Path) -> None:
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "distill", "run", "-q"], cwd=project, capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _verify(notebook: Path, project: Path) -> Verification:
    result = verify(notebook, project, record=False)
    assert result.exit_code == 0, [(r.name, r.status, r.detail) for r in result.rows if r.status != "equal"]
    return result


def _dependencies(project: Path, package: str) -> list[str]:
    data = tomllib.loads((project / "pyproject.toml").read_text())
    deps: list[str] = data["project"]["dependencies"]
    names = [d.split("==")[0].split(">")[0].split("<")[0].lower() for d in deps]
    assert package not in names and package.replace("_", "-") not in names, deps  # never itself
    return names


def test_module_beside_the_notebook_is_copied_into_the_package(tmp_path: Path) -> None:
    (tmp_path / "formats.py").write_text("import numpy as np\n\n\ndef double(values):\n"
                                         "    return np.asarray(values) * 2\n")
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("from formats import double", "values = double([1, 2, 3])",
                              "total = float(values.sum())"))
    project = tmp_path / "out"
    _convert(notebook, project)
    pipeline = (project / "src" / "nb" / "pipeline.py").read_text()
    assert "from nb.formats import double" in pipeline
    assert (project / "src" / "nb" / "formats.py").read_text() == (tmp_path / "formats.py").read_text()
    assert not (project / "src" / "formats.py").exists()
    names = _dependencies(project, "nb")
    assert "numpy" in names and "formats" not in names  # the module's own import is pinned; the module is not
    _run(project)
    _verify(notebook, project)


def test_package_two_folders_up_added_with_sys_path(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "homemade").mkdir(parents=True)
    (repo / "homemade" / "__init__.py").write_text("")
    (repo / "homemade" / "k_means.py").write_text(
        "import numpy as np\nfrom homemade.utils import centre\n\n\nclass KMeans:\n    def __init__(self, k):\n"
        "        self.k = k\n\n    def fit(self, x):\n        return centre(np.asarray(x, dtype=float))\n")
    (repo / "homemade" / "utils.py").write_text("from .consts import SCALE\n\n\ndef centre(x):\n"
                                                "    return (x - x.mean()) * SCALE\n")
    (repo / "homemade" / "consts.py").write_text("SCALE = 2.0\n")
    folder = repo / "notebooks" / "k_means"
    folder.mkdir(parents=True)
    notebook = folder / "demo.ipynb"
    write_notebook(notebook, ("import sys\nsys.path.append('../..')", "from homemade.k_means import KMeans",
                              "model = KMeans(2)\ncentred = model.fit([1.0, 2.0, 4.0])",
                              "total = float(centred.sum())"))
    project = tmp_path / "out"
    _convert(notebook, project)
    package = project / "src" / "demo"
    assert {p.name for p in (package / "homemade").iterdir()} >= {"__init__.py", "k_means.py", "utils.py", "consts.py"}
    assert "from demo.homemade.utils import centre" in (package / "homemade" / "k_means.py").read_text()
    assert "from .consts import SCALE" in (package / "homemade" / "utils.py").read_text()
    pipeline = (package / "pipeline.py").read_text()
    assert "from demo.homemade.k_means import KMeans" in pipeline and "sys.path" not in pipeline
    report = (project / "CONVERSION.md").read_text()
    assert "sys.path.append('../..')" in report
    names = _dependencies(project, "demo")
    assert "numpy" in names and "homemade" not in names
    _run(project)
    result = _verify(notebook, project)
    # An instance of the local module's class is compared too, from the copied module.
    assert any(r.name == "model" and r.status == "equal" for r in result.rows), result.rows


def test_module_found_nowhere_is_a_warning_not_a_pin(tmp_path: Path) -> None:
    # Decision: a module found nowhere may still be installed where the pipeline runs (a private
    # index), so the project is written; the warning says what to do.
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import numpy as np\nimport nowhere_to_be_found_xyz",
                              "values = np.arange(4)", "total = int(values.sum())"))
    project = tmp_path / "out"
    conversion = convert(notebook, project)
    assert any("nowhere_to_be_found_xyz" in w and "found nowhere" in w for w in conversion.warnings)
    assert "nowhere_to_be_found_xyz" in (project / "CONVERSION.md").read_text()
    names = _dependencies(project, "nb")
    assert "nowhere-to-be-found-xyz" not in names and "nowhere_to_be_found_xyz" not in names
    _run(project)


def test_the_example_does_not_depend_on_itself(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "notebook" / "churn.ipynb"
    files = convert(example, tmp_path / "churn")
    assert files.package == "churn"
    names = _dependencies(tmp_path / "churn", "churn")
    assert "churn" not in names


@pytest.fixture
def data_notebook(tmp_path: Path) -> Path:
    (tmp_path / "datasets" / "sms").mkdir(parents=True)
    (tmp_path / "datasets" / "sms" / "SMS.txt").write_text("ham\thello\nspam\twin now\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n1\n2\n")
    (tmp_path / "data" / "y.csv").write_text("b\n10\n20\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "one.csv").write_text("v\n1\n")
    (tmp_path / "logs" / "two.csv").write_text("v\n2\n3\n")
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "import glob\nimport os\nfrom pathlib import Path\n\nimport pandas as pd",
        'DATA = "data"',
        'with open(os.path.join("datasets", "sms", "SMS.txt")) as handle:\n    sms = handle.read().splitlines()',
        'x = pd.read_csv(Path("data") / "x.csv")',
        'y = pd.read_csv(f"{DATA}/y.csv")',
        'logs = sorted(glob.glob("logs/*.csv"))\nlog_rows = sum(len(pd.read_csv(p)) for p in logs)',
        'total = len(sms) + int(x["a"].sum()) + int(y["b"].sum()) + log_rows',
    ))
    return notebook


def test_computed_paths_are_params_and_their_files_are_copied(data_notebook: Path, tmp_path: Path) -> None:
    project = tmp_path / "out"
    _convert(data_notebook, project)
    for rel in ("datasets/sms/SMS.txt", "data/x.csv", "data/y.csv", "logs/one.csv", "logs/two.csv"):
        assert (project / rel).is_file(), rel
    pipeline = (project / "src" / "nb" / "pipeline.py").read_text()
    assert "open(sms_txt)" in pipeline and "pd.read_csv(x_csv)" in pipeline and "pd.read_csv(y_csv)" in pipeline
    assert 'sms_txt: Path = Path("datasets/sms/SMS.txt")' in pipeline
    params = (project / "params.yaml").read_text()
    assert "sms_txt: datasets/sms/SMS.txt" in params and "x_csv: data/x.csv" in params
    _run(project)
    _verify(data_notebook, project)


def test_a_file_above_the_notebook_gets_one_path_everywhere(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "iris.csv").write_text("a,b\n1,2\n3,4\n")
    folder = tmp_path / "notebooks" / "iris"
    folder.mkdir(parents=True)
    notebook = folder / "nb.ipynb"
    write_notebook(notebook, ("import pandas as pd", 'frame = pd.read_csv("../../data/iris.csv")',
                              "total = int(frame['a'].sum())"))
    project = tmp_path / "out"
    _convert(notebook, project)
    assert (project / "data" / "iris.csv").is_file()
    assert "iris_csv: data/iris.csv" in (project / "params.yaml").read_text()
    pipeline = (project / "src" / "nb" / "pipeline.py").read_text()
    assert 'iris_csv: Path = Path("data/iris.csv")' in pipeline and "../../" not in pipeline
    _run(project)


def test_a_file_not_found_says_where_to_put_it(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = folder / "nb.ipynb"
    write_notebook(notebook, ("import os\nimport pandas as pd",
                              'frame = pd.read_csv(os.path.join("..", "raw", "gone.csv"))', "rows = len(frame)"))
    conversion = convert(notebook, tmp_path / "out")
    assert any("data/raw/gone.csv" in w and "gone_csv" in w for w in conversion.warnings), conversion.warnings
    pipeline = (tmp_path / "out" / "src" / "nb" / "pipeline.py").read_text()
    assert 'gone_csv: Path = Path("data/raw/gone.csv")' in pipeline
    assert "data/raw/gone.csv" in (tmp_path / "out" / "CONVERSION.md").read_text()


def test_imports_of_local_modules_are_rewritten_in_place() -> None:
    from distill.convert.emit import rewrite_local_imports

    code = ("import os, formats as f, homemade.k_means\nfrom homemade.k_means import (KMeans,\n    X)\n"
            "def g():\n    from formats import a\n    import lib\n")
    out = rewrite_local_imports(code, {"formats": "formats", "homemade": "homemade", "lib": "lib_module"}, "nb")
    assert out.split("\n")[0] == ("import os; from nb import formats as f; import nb.homemade.k_means; "
                                  "from nb import homemade")
    assert "from nb.homemade.k_means import (KMeans," in out and "from nb.formats import a" in out
    assert "from nb import lib_module as lib" in out
    assert out.count("\n") == code.count("\n")  # lines stay where they were


def test_a_loop_over_a_listing_reads_what_it_lists() -> None:
    import ast

    from distill.analysis.reads import find_reads

    tree = ast.parse("def f():\n    paths = sorted(glob.glob('in/*.csv'))\n"
                     "    return [pd.read_csv(p) for p in paths]\n")
    refs = find_reads(tree.body[0], constants={}, modules={"glob": "glob", "pd": "pandas"}, imported=frozenset())
    assert [(r.kind, r.value) for r in refs] == [("glob", "in/*.csv")]


def test_a_glob_outside_the_folder_is_copied_under_data(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    for name in ("a.csv", "b.csv"):
        (tmp_path / "logs" / name).write_text("v\n1\n")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = folder / "nb.ipynb"
    write_notebook(notebook, ("import glob", "logs = glob.glob('../logs/*.csv')\ncount = len(logs)"))
    convert(notebook, tmp_path / "out")
    assert (tmp_path / "out" / "data" / "logs" / "a.csv").is_file()
    assert (tmp_path / "out" / "data" / "logs" / "b.csv").is_file()
    assert "glob.glob('data/logs/*.csv')" in (tmp_path / "out" / "src" / "nb" / "pipeline.py").read_text()
    _run(tmp_path / "out")
