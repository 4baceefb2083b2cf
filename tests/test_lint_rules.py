"""Each lint rule: small cells in, expected findings (code, cell, line) out.

Every rule has positives and near-miss negatives. Cell numbers are 1-based over all cells.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lint_helpers import Case, found, run_case

HIDDEN = ("DL103", "DL104")
ERROR_OUTPUT = {"output_type": "error", "ename": "NameError", "evalue": "name 'x' is not defined", "traceback": []}

CASES = [
    # DL002 syntax
    Case("syntax-error", ["x = (1,\n"], {("DL002", 1, 1)}, ("DL002",)),
    Case("magics-are-not-syntax-errors", ["!ls\n%matplotlib inline\nx = 1", "files = !ls\nx?"], set(), ("DL002",)),
    Case("automagic-is-not-a-syntax-error", ["timeit sum([1, 2])"], set(), ("DL002",)),
    Case("indented-magic", ["if True:\n    %time y = 1\n    !echo hi\nprint(y)"], set(), ("DL002", "DL104")),
    # DL101, DL102 execution order
    Case("out-of-order", ["a = 1", "b = 2", "c = 3"], {("DL101", 3, None)}, ("DL101",), counts=[1, 3, 2]),
    Case("gaps-are-in-order", ["a = 1", "b = 2", "c = 3"], set(), ("DL101",), counts=[1, 4, 9]),
    Case("skipped-cell", ["a = 1", "b = 2", "c = 3"], {("DL102", 2, None)}, ("DL102",), counts=[1, None, 2]),
    Case("unrun-tail-is-not-skipped", ["a = 1", "b = 2", "", "c = 3"], set(), ("DL102",), counts=[1, 2, None, None]),
    Case("empty-unrun-cell-is-not-skipped", ["a = 1", "", "c = 3"], set(), ("DL102",), counts=[1, None, 2]),
    # DL103, DL104 names
    Case("use-before-define", ["print(x)", "x = 1"], {("DL103", 1, 1)}, HIDDEN),
    Case("use-before-define-markdown-numbering", [("md", "# Title"), "print(x)", "x = 1"], {("DL103", 2, 1)}, HIDDEN),
    Case("undefined", ["y = 2", "print(z)"], {("DL104", 2, 1)}, HIDDEN),
    Case("defined-above", ["x = 1", "print(x)"], set(), HIDDEN),
    Case("builtins-and-ipython-names", ["print(len([1])); display(1); get_ipython(); In; Out"], set(), HIDDEN),
    Case("local-scopes", ["f = lambda a: a + 1\nys = [v * 2 for v in range(3)]\ndef g(p):\n    q = p\n    return q"],
         set(), HIDDEN),
    Case("class-body", ["class A:\n    k = 1\n    j = k + 1"], set(), HIDDEN),
    Case("star-import-may-define", ["from math import *", "print(pi)"], set(), HIDDEN),
    Case("call-reads-later-global", ["def f():\n    return k", "f()", "k = 1"], {("DL103", 2, 1)}, HIDDEN),
    Case("call-after-global-defined", ["def f():\n    return k", "k = 1", "f()"], set(), HIDDEN),
    Case("output-history", ["1 + 1", "_1 * 2"], {("DL104", 2, 1)}, HIDDEN),
    Case("except-name-is-gone", ["try:\n    pass\nexcept Exception as e:\n    print(e)", "print(e)"], {("DL104", 2, 1)}, HIDDEN),
    Case("for-target-survives", ["for i in range(3):\n    pass", "print(i)"], set(), HIDDEN),
    Case("capture-and-getoutput-define", ["%%capture out\nprint(1)", "out.show()", "files = !ls", "files"], set(), HIDDEN),
    Case("same-cell-order", ["y = x + 1\nx = 2"], {("DL103", 1, 1)}, HIDDEN),
    Case("dunder-file", ["print(__file__)"], {("DL104", 1, 1)}, HIDDEN),
    # DL105 self-update
    Case("self-update", ["x = 1", "x = x + 1"], {("DL105", 2, 1)}, ("DL105",)),
    Case("augmented", ["n = 0", "n += 1"], {("DL105", 2, 1)}, ("DL105",)),
    Case("rebuild-frame", ["df = make()", "df = df.dropna()"], {("DL105", 2, 1)}, ("DL105",)),
    Case("self-update-in-one-cell", ["x = 1\nx = x + 1"], set(), ("DL105",)),
    Case("new-name", ["x = 1", "y = x + 1"], set(), ("DL105",)),
    # DL106 cross-cell mutation
    Case("setitem", ["df = make()", "df['c'] = 1"], {("DL106", 2, 1)}, ("DL106",)),
    Case("append", ["lst = []", "\nlst.append(1)"], {("DL106", 2, 2)}, ("DL106",)),
    Case("inplace", ["df = make()", "df.dropna(inplace=True)"], {("DL106", 2, 1)}, ("DL106",)),
    Case("del-item", ["d = {}", "del d['k']"], {("DL106", 2, 1)}, ("DL106",)),
    Case("mutate-own-value", ["df = make()\ndf['c'] = 1"], set(), ("DL106",)),
    Case("derive-new-value", ["df = make()", "df2 = df.dropna()\ndf.dropna(inplace=False)"], set(), ("DL106",)),
    # DL201, DL202 dependencies
    Case("undeclared", ["import pandas as pd"], {("DL201", 1, 1)}, ("DL201",)),
    Case("declared-requirements", ["import pandas as pd"], set(), ("DL201",), files={"requirements.txt": "pandas==2.0\n"}),
    Case("stdlib-and-local", ["import os, json\nfrom collections import Counter", "import helpers"], set(), ("DL201",),
         files={"helpers.py": "X = 1\n", "requirements.txt": "numpy\n"}),
    Case("import-name-differs", ["import sklearn"], {("DL201", 1, 1)}, ("DL201",), files={"requirements.txt": "pandas\n"}),
    Case("import-name-mapped", ["import sklearn\nfrom PIL import Image"], set(), ("DL201",),
         files={"requirements.txt": "scikit-learn>=1\n-r more.txt\n", "more.txt": "Pillow\n"}),
    Case("pyproject", ["import numpy as np"], set(), ("DL201",),
         files={"pyproject.toml": "[project]\nname = 'x'\ndependencies = ['numpy>=1.26']\n"}),
    Case("environment-yml", ["import numpy\nimport requests"], set(), ("DL201",),
         files={"environment.yml": "dependencies:\n  - numpy=1.26\n  - pip:\n    - requests==2.31\n"}),
    Case("pip-install", ["!pip install requests", "%pip install -q numpy"], {("DL202", 1, 1), ("DL202", 2, 1)}, ("DL202",)),
    Case("pip-list-is-not-install", ["!pip list"], set(), ("DL202",)),
    # DL301 absolute paths
    Case("home-path", ['df = pd.read_csv("/home/alice/data.csv")'], {("DL301", 1, 1)}, ("DL301",)),
    Case("windows-path", ['p = r"C:\\Users\\bob\\x.csv"'], {("DL301", 1, 1)}, ("DL301",)),
    Case("relative-path-url-route", ['df = pd.read_csv("data/x.csv")\nurl = "https://example.com/home/x"\nroute = "/api/v1/items"'],
         set(), ("DL301",)),
    # DL302 secrets
    Case("password", ['password = "hunter2!"'], {("DL302", 1, 1)}, ("DL302",)),
    Case("aws-key", ['key = "AKIAABCDEFGHIJKLMNOP"'], {("DL302", 1, 1)}, ("DL302",)),
    Case("credential-url", ['engine = create_engine("postgresql://user:s3cr3t@db:5432/x")'], {("DL302", 1, 1)}, ("DL302",)),
    Case("keyword-and-dict", ['conn = connect(password="s3cr3t")', 'cfg = {"api_key": "abcd1234efgh"}'],
         {("DL302", 1, 1), ("DL302", 2, 1)}, ("DL302",)),
    Case("not-secrets", [('password = os.environ["DB_PASSWORD"]\npassword = ""\ntoken_path = "token.json"\n'
                         'api_key = "YOUR_API_KEY"\nengine = create_engine("postgresql://user:${PASSWORD}@db/x")')],
         set(), ("DL302",)),
    # DL303, DL304 shell
    Case("shell-escape", ["!ls -la", "files = !ls"], {("DL303", 1, 1), ("DL303", 2, 1)}, ("DL303",)),
    Case("shell-cell", ["%%bash\necho hi\nls"], {("DL304", 1, 1)}, ("DL303", "DL304")),
    Case("not-shell", ["x = 1  # !ls", "%matplotlib inline"], set(), ("DL303", "DL304")),
    # DL401, DL402 SQL
    Case("sql-magics", ["%%sql\nSELECT * FROM t", "%sql SELECT 1", "%%bigquery df\nSELECT a FROM b"],
         {("DL401", 1, 1), ("DL401", 2, 1), ("DL401", 3, 1)}, ("DL401",)),
    Case("long-sql-string", ['q = """\nSELECT region, SUM(amount) AS total\nFROM sales\nWHERE year = 2024\nGROUP BY region\n"""'],
         {("DL402", 1, 1)}, ("DL402",)),
    Case("short-sql-and-prose", [('q = "SELECT * FROM t"\n'
                                 'msg = "Select the best model from the list below and then report where it fails."')],
         set(), ("DL402",)),
    # DL501 randomness
    Case("numpy-global", ["import numpy as np", "x = np.random.rand(3)"], {("DL501", 2, 1)}, ("DL501",)),
    Case("numpy-seeded", ["import numpy as np", "np.random.seed(0)", "x = np.random.rand(3)"], set(), ("DL501",)),
    Case("default-rng", ["import numpy as np", "rng = np.random.default_rng()\nok = np.random.default_rng(42)"],
         {("DL501", 2, 1)}, ("DL501",)),
    Case("train-test-split", ["from sklearn.model_selection import train_test_split",
                              "a, b = train_test_split(X)\nc, d = train_test_split(X, random_state=0)"],
         {("DL501", 2, 1)}, ("DL501",)),
    Case("estimator", ["from sklearn.ensemble import RandomForestClassifier",
                       "m = RandomForestClassifier()\nn = RandomForestClassifier(random_state=1)"], {("DL501", 2, 1)}, ("DL501",)),
    Case("stdlib-random", ["import random", "random.choice([1, 2])", "random.seed(1)\nrandom.choice([1])"],
         {("DL501", 2, 1)}, ("DL501",)),
    Case("kfold", ["from sklearn.model_selection import KFold", "KFold(5)\nKFold(5, shuffle=True)"], {("DL501", 2, 2)}, ("DL501",)),
    Case("frame-sample", ["df.sample(5)\ndf.sample(5, random_state=0)"], {("DL501", 1, 1)}, ("DL501",)),
    # DL601, DL602, DL603 structure
    Case("function-reads-global", ["rate = 0.1", "def f(x):\n    return x * rate"], {("DL601", 2, 1)}, ("DL601",)),
    Case("function-uses-modules-functions-params", ["import numpy as np\nrate = 1", "def g(x):\n    return x",
                                                    "def f(x, rate):\n    return np.sum(g(x)) * rate"], set(), ("DL601",)),
    Case("star-import", ["from os.path import *", "from os.path import join"], {("DL602", 1, 1)}, ("DL602",)),
    Case("duplicated", ["a = load()\nb = clean(a)\nc = fit(b)", "x = 0\na = load()\nb = clean(a)\nc = fit(b)"],
         {("DL603", 2, 2)}, ("DL603",)),
    Case("two-statements-are-not-duplicated", ["a = load()\nb = clean(a)", "a = load()\nb = clean(a)"], set(), ("DL603",)),
    # DL701, DL702 outputs
    Case("error-output", ["print(x)", "y = 1"], {("DL701", 1, None)}, ("DL701",), outputs={0: [ERROR_OUTPUT]}),
    Case("stream-output", ["print(1)"], set(), ("DL701", "DL702"),
         outputs={0: [{"output_type": "stream", "name": "stdout", "text": "1\n"}]}),
    Case("large-output", ["print(1)"], {("DL702", 1, None)}, ("DL702",),
         outputs={0: [{"output_type": "stream", "name": "stdout", "text": "x" * 600_000}]}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(tmp_path: Path, case: Case) -> None:
    report = run_case(tmp_path, case)
    assert report.status == "analysed"
    assert found(report) == case.expected


def test_finding_names_the_subject_and_the_defining_cell(tmp_path: Path) -> None:
    report = run_case(tmp_path, Case("x", ["print(total)", "total = 1"], set(), HIDDEN))
    [finding] = report.findings
    assert finding.subject == "total"
    assert finding.message == "`total` is used before it is defined: only cell 2, below, defines it"
    assert (finding.line, finding.column, finding.severity) == (1, 7, "error")


def test_secret_is_masked_in_the_message(tmp_path: Path) -> None:
    report = run_case(tmp_path, Case("x", ['password = "hunter2-very-secret"'], set(), ("DL302",)))
    [finding] = report.findings
    assert "hunter2-very-secret" not in finding.message
    assert "hunt…(19 characters)" in finding.message


def test_file_line_points_into_the_ipynb(tmp_path: Path) -> None:
    report = run_case(tmp_path, Case("x", ["a = 1", "b = 2\nprint(zz)"], set(), HIDDEN))
    [finding] = report.findings
    lines = (tmp_path / "nb.ipynb").read_text().splitlines()
    assert "print(zz)" in lines[finding.file_line - 1]
