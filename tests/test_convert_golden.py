"""Golden files: the code ``distill convert`` generates for small notebooks, one per transform.

Each case is a notebook written here (cells as text) and the files expected from it in
``tests/golden/convert/<case>/``. Regenerate after an intended change with
``DISTILL_UPDATE_GOLDEN=1 python -m pytest tests/test_convert_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from distill.convert.project import build_project

GOLDEN = Path(__file__).parent / "golden" / "convert"
UPDATE = os.environ.get("DISTILL_UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Case:
    name: str
    cells: tuple[str | tuple[str, str], ...]  # code, or ("md", text), or ("parameters", code)
    files: tuple[str, ...] = ("src/nb/pipeline.py",)
    data: tuple[tuple[str, str], ...] = ()


CASES = [
    Case("sections_to_steps", (
        ("md", "# Sales report"),
        "import pandas as pd",
        ("md", "## Load the orders"),
        "orders = pd.DataFrame({'region': ['n', 's', 'n'], 'amount': [10.0, 5.0, 7.5]})",
        ("md", "## Totals by region"),
        "totals = orders.groupby('region')['amount'].sum()",
        "share = totals / totals.sum()",
    )),
    Case("versions_and_mutation", (
        "import pandas as pd",
        ("md", "## Load"),
        "df = pd.DataFrame({'a': [3, 1, 2], 'b': [1.0, None, 2.0]})",
        ("md", "## Clean"),
        "df = df.dropna()\ndf['c'] = df['a'] * 2",
        ("md", "## Enrich"),
        "df['d'] = df['c'] + 1\ndf.sort_values('a', inplace=True)",
        ("md", "## Report"),
        "total = df['d'].sum()",
    )),
    Case("helpers_take_globals", (
        "import pandas as pd",
        "THRESHOLD = 2",
        "def flag(frame):\n    return frame.assign(high=frame['x'] > THRESHOLD)\n\n\ndef label(frame):\n"
        "    return flag(frame)['high'].map({True: 'high', False: 'low'})",
        "frame = pd.DataFrame({'x': [1, 2, 3]})\nlabels = label(frame)\nall_labels = list(map(label, [frame, frame]))",
    ), files=("src/nb/pipeline.py", "src/nb/lib.py")),
    Case("class_takes_globals", (
        "import numpy as np",
        "rooms_ix, households_ix = 0, 1\nSCALE = 2.0",
        "def scaled(x):\n    return x * SCALE",
        "class RatioAdder:\n    \"\"\"Adds rooms per household.\"\"\"\n\n    def __init__(self, keep=True):\n"
        "        \"\"\"Keep the input columns or not.\"\"\"\n        self.keep = keep\n\n"
        "    def transform(self, X):\n        ratio = scaled(X[:, rooms_ix] / X[:, households_ix])\n"
        "        return np.c_[X, ratio] if self.keep else ratio[:, None]",
        "X = np.array([[4.0, 2.0], [9.0, 3.0]])\nadded = RatioAdder().transform(X)\nonly = RatioAdder(keep=False).transform(X)",
    ), files=("src/nb/pipeline.py", "src/nb/lib.py", "tests/test_lib.py")),
    Case("defaults_read_constants", (
        "import os",
        "ROOT = 'data'\nHOUSING_PATH = os.path.join(ROOT, 'housing')\nURL = ROOT + '/housing.tgz'",
        "def where(name, folder=HOUSING_PATH, url=URL):\n    return os.path.join(folder, name), url",
        "place, link = where('a.csv')\nunused = os.path.join(ROOT, 'b')\nlisted = os.listdir('.')",
    ), files=("src/nb/pipeline.py", "src/nb/lib.py")),
    Case("secrets_written_inline", (
        "import types",
        "def connect():\n    options = {'password': 'Xk29fLq7Zp'}\n    return sorted(options)",
        "config = types.SimpleNamespace()\nconfig.api_key = 'rFsSehe51RLzREtYhLfo'\nkeys = connect()",
    ), files=("src/nb/pipeline.py", "src/nb/lib.py")),
    Case("sql_in_memory_database", (
        "%load_ext sql\n%sql sqlite://",
        "%%sql\nCREATE TABLE t (name, n);\nINSERT INTO t VALUES ('a', 1);\nINSERT INTO t VALUES ('b', 2);",
        "col = 'name'\nlow = 1",
        "%%sql rows <<\nSELECT * FROM t WHERE {col} = 'b' AND n > :low",
    ), files=("src/nb/pipeline.py", "queries/database_cell_2.sql", "queries/rows.sql")),
    Case("global_becomes_return", (
        "total = 0",
        "def add(v):\n    global total\n    total += v",
        "def pick(v):\n    global chosen\n    chosen = v * 2\n    if v > 5:\n        return 'big'\n    return 'small'",
        "add(1)\nfor v in [2, 3]:\n    add(v)\nsize = pick(1)\npick(9)\nreport = (total, chosen, size)",
    ), files=("src/nb/pipeline.py", "src/nb/lib.py")),
    Case("pylab_made_explicit", (
        "%pylab inline",
        "x = linspace(0, 1, 5)\ny = sin(x) + rand(5) * 0\nz = np.pi",
        ("md", "## Sine"),
        "fig = figure()\nplot(x, y)\ntitle('sine')\nshow()",
    )),
    Case("markdown_headings_plain", (
        ("md", "# The *Sales* [report](https://example.org/sales) <small>2024</small>"),
        "import pandas as pd",
        ("md", "## Load the `orders` from **the** [shop](https://example.org) with $\\alpha$"),
        "orders = pd.DataFrame({'amount': [10.0, 5.0]})",
    )),
    Case("figure_drawn_again_later", (
        "import matplotlib.pyplot as plt\nimport pandas as pd",
        "frame = pd.DataFrame({'x': [1, 2, 3]})\nfig, ax = plt.subplots()",
        "frame['y'] = frame['x'] * 2",
        "ax.plot(frame['x'], frame['y'])\nax.set_title('Doubled')",
        "lines = frame.plot()\ncount = len(frame)",
        "lines.set_xlabel('x')",
    )),
    Case("params", (
        ("parameters", "alpha = 0.5\nname = 'north'\nyears = [2020, 2021]"),
        "LIMIT = 10",
        "values = [v * alpha for v in range(LIMIT)]\ntitle = f'{name}: {len(values)} values'\ncount = len(years)",
    ), files=("src/nb/pipeline.py", "params.yaml")),
    Case("data_paths", (
        "import pandas as pd",
        "raw = pd.read_csv('data/input.csv')",
        "OUT = 'summary.csv'\nraw.describe().to_csv(OUT)",
    ), data=(("data/input.csv", "a,b\n1,2\n3,4\n"),)),
    Case("magics_and_shell", (
        "!pip install -q 'pandas>=2' tabulate\n%matplotlib inline\n%load_ext autoreload\n%autoreload 2",
        "import pandas as pd",
        "%time frame = pd.DataFrame({'x': [1, 2]})\n!ls -la",
        "%%time\ntotal = frame['x'].sum()",
    ), files=("src/nb/pipeline.py", "pyproject.toml")),
    Case("display_left_out", (
        "import pandas as pd",
        "frame = pd.DataFrame({'x': [1, 2, 3]})\nframe.head()",
        "frame.describe()\nprint(frame.shape)\nlen(frame)",
        "doubled = frame * 2\ndoubled",
    )),
    Case("figure_to_report_step", (
        "import matplotlib.pyplot as plt\nimport pandas as pd",
        "frame = pd.DataFrame({'x': [1, 2, 3], 'y': [2, 4, 8]})",
        ("md", "## Growth"),
        "fig, ax = plt.subplots()\nax.plot(frame['x'], frame['y'])\nax.set_title('Growth of y')\nplt.show()",
    )),
    Case("star_import_made_explicit", (
        "from math import *",
        "radius = 2.0\narea = pi * radius ** 2\nroot = sqrt(area)",
    )),
    Case("sql_to_query_step", (
        "%load_ext sql\n%sql sqlite:///shop.db",
        "MIN_TOTAL = 10",
        "%%sql big <<\nSELECT customer, total FROM orders WHERE total >= :MIN_TOTAL ORDER BY total",
        "count = len(big)",
    ), files=("src/nb/pipeline.py", "src/nb/lib.py", "queries/big.sql")),
    Case("long_headings_make_short_names", (
        "import pandas as pd",
        ("md", "## Example 3: discretization of numerical attributes into equal-width bins"),
        "adult_df = pd.DataFrame({'age': [23, 45, 31, 60]})\nadult_df['band'] = pd.cut(adult_df['age'], 2)",
        ("md", "## Example 3: discretization of numerical attributes into equal-frequency bins"),
        "adult_df['band'] = pd.qcut(adult_df['age'], 2)\nolder = int((adult_df['age'] > 40).sum())",
        ("md", "## Understanding the data's distribution of numerical attributes"),
        "bands = adult_df['band'].astype(str).tolist()\nyoungest = adult_df['age'].min()",
    )),
    Case("list_params_have_no_default", (
        "import pandas as pd",
        "FEATURES = ['a', 'b']\nTARGET = 'c'",
        "frame = pd.DataFrame({'a': [1, 2], 'b': [3, 4], 'c': [5, 6]})[FEATURES + [TARGET]]",
    ), files=("src/nb/pipeline.py", "params.yaml")),
    Case("shell_values_in_python", (
        "import pandas as pd",
        "files = !ls data/*.csv\nhere = !pwd\npandas_line = !pip list 2>&1 | grep -i pandas",
        "frames = [pd.read_csv(f) for f in files]\nrows = sum(len(f) for f in frames)",
    ), data=(("data/a.csv", "x\n1\n2\n"), ("data/b.csv", "x\n3\n"))),
    Case("independent_results_split", (
        "import pandas as pd",
        "frame = pd.DataFrame({'x': [1.0, 2.0, 4.0], 'y': [3.0, 1.0, 2.0]})",
        ("md", "## Analysis"),
        "summary = frame['x'].describe()",
        "scaled = frame[['y']] / frame['y'].max()\nranked = scaled.rank()",
        "spread = summary['max'] - summary['min']",
    )),
    Case("library_settings", (
        "import seaborn as sns\nimport warnings\nimport pandas as pd",
        "sns.set_style('whitegrid')\nwarnings.filterwarnings('ignore')\npd.set_option('display.max_columns', 50)",
        "frame = pd.DataFrame({'x': [1]})",
    )),
]


def write_notebook(path: Path, cells: tuple[str | tuple[str, str], ...]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    for cell in cells:
        if isinstance(cell, tuple) and cell[0] == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
        elif isinstance(cell, tuple):
            nb.cells.append(nbformat.v4.new_code_cell(cell[1], metadata={"tags": [cell[0]]}))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(cell))
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
    nbformat.write(nb, path)


def build(case: Case, folder: Path) -> dict[str, str]:
    for rel, text in case.data:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    if case.name == "sql_to_query_step":
        with sqlite3.connect(folder / "shop.db") as db:
            db.execute("CREATE TABLE orders (customer TEXT, total REAL)")
            db.executemany("INSERT INTO orders VALUES (?, ?)", [("ann", 12.0), ("bob", 4.0), ("cy", 30.0)])
    path = folder / "nb.ipynb"
    write_notebook(path, case.cells)
    files, _, _ = build_project(path, "nb")
    # NB: pins are the versions installed where the test runs, and requires-python is the
    # Python it runs on; the golden files say VERSION and PYTHON. Only the running Python's
    # own version is replaced, so a project that names another one still differs.
    running = f'requires-python = ">={sys.version_info.major}.{sys.version_info.minor}"'
    return {rel: re.sub(r'==[0-9][^"]*"', '==VERSION"', text).replace(running, 'requires-python = ">=PYTHON"')
            for rel, text in files.items() if isinstance(text, str)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_generated_code_matches_golden(case: Case, tmp_path: Path) -> None:
    files = build(case, tmp_path)
    for rel in case.files:
        golden = GOLDEN / case.name / rel.replace("/", "__")
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(files[rel])
        assert golden.is_file(), f"no golden file {golden}: run with DISTILL_UPDATE_GOLDEN=1 and review it"
        assert files[rel] == golden.read_text(), f"{case.name}: {rel} differs from {golden}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_generation_is_deterministic(case: Case, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert build(case, tmp_path / "a") == build(case, tmp_path / "b")
