"""Nothing a step reads escapes its key: files its code opens, globs, environment variables.

Each case edits what a step reads behind distill's back and checks, through the CLI, that
``status`` names the change and ``run`` re-runs the step with the new value; a read the
analysis cannot resolve makes the step run every time, with one warning saying where and
how to declare it.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from conftest import cli, ran_steps, status_json, write
from distill.analysis.reads import ReadRef, find_reads


def _reads(source: str, *, modules: dict[str, str] | None = None, imported: frozenset[str] = frozenset()) -> set[ReadRef]:
    tree = ast.parse(source)
    constants = {
        s.targets[0].id: s.value
        for s in tree.body
        if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)
    }
    found: set[ReadRef] = set()
    for stmt in tree.body:
        found.update(find_reads(stmt, constants=constants, modules=modules or {}, imported=imported, file="pkg/mod.py"))
    return found


READ_CASES = [
    ("open-literal", "def f():\n    return open('conf/a.json').read()\n", {}, {("file", "conf/a.json")}),
    ("open-for-writing", "def f():\n    open('out.txt', 'w').write('x')\n", {}, set()),
    ("constant-path", "P = 'data/x.csv'\ndef f():\n    return open(P).read()\n", {}, {("file", "data/x.csv")}),
    ("path-join", "from pathlib import Path\nB = Path('data')\ndef f():\n    return (B / 'x.txt').read_text()\n", {}, {("file", "data/x.txt")}),
    ("file-relative", "from pathlib import Path\nB = Path(__file__).parent / 'd.csv'\ndef f():\n    return B.read_text()\n", {}, {("file", "pkg/d.csv")}),
    ("pandas", "import pandas as pd\ndef f():\n    return pd.read_csv('in.csv')\n", {"pd": "pandas"}, {("file", "in.csv")}),
    ("numpy", "import numpy as np\ndef f():\n    return np.load('a.npy')\n", {"np": "numpy"}, {("file", "a.npy")}),
    ("glob", "import glob\ndef f():\n    return glob.glob('inputs/*.csv')\n", {"glob": "glob"}, {("glob", "inputs/*.csv")}),
    ("path-glob", "from pathlib import Path\ndef f():\n    return list(Path('inputs').glob('*.txt'))\n", {}, {("glob", "inputs/*.txt")}),
    ("sqlite", "import sqlite3\ndef f():\n    return sqlite3.connect('db.sqlite')\n", {"sqlite3": "sqlite3"}, {("file", "db.sqlite")}),
    ("sqlite-memory", "import sqlite3\ndef f():\n    return sqlite3.connect(':memory:')\n", {"sqlite3": "sqlite3"}, set()),
    ("env-subscript", "import os\ndef f():\n    return os.environ['FACTOR']\n", {"os": "os"}, {("env", "FACTOR")}),
    ("env-get", "import os\ndef f():\n    return os.environ.get('A', '1'), os.getenv('B')\n", {"os": "os"}, {("env", "A"), ("env", "B")}),
    ("env-write", "import os\ndef f():\n    os.environ['X'] = '1'\n", {"os": "os"}, set()),
    ("param-path", "def f(path):\n    return open(path).read()\n", {}, set()),
    ("param-default-path", "D = 'data/x.csv'\ndef f(path=D, n=None):\n    return open(path).read()\n", {},
     {("file", "data/x.csv")}),
    ("param-default-none", "def f(path=None):\n    return open(path).read()\n", {}, set()),
    ("computed-path", "def f():\n    return open('conf/' + name()).read()\n", {}, {("unresolved", "open('conf/' + name())")}),
    ("f-string-of-call", "def f():\n    return open(f'conf/{name()}.json')\n", {}, {("unresolved", "open(f'conf/{name()}.json')")}),
    ("environ-whole", "import os\ndef f():\n    return dict(os.environ)\n", {"os": "os"}, {("unresolved", "os.environ as a whole")}),
    ("env-computed", "import os\ndef f(k):\n    return os.environ[k]\n", {"os": "os"}, {("unresolved", "os.environ[...] with a computed name (k)")}),
    ("module-level", "import json\nCONFIG = json.load(open('conf.json'))\n", {"json": "json"}, {("file", "conf.json")}),
]


@pytest.mark.parametrize(("source", "modules", "expected"), [c[1:] for c in READ_CASES], ids=[c[0] for c in READ_CASES])
def test_find_reads(source: str, modules: dict[str, str], expected: set[tuple[str, str]]) -> None:
    assert {(r.kind, r.value) for r in _reads(source, modules=modules)} == expected


# -- end to end --------------------------------------------------------------------------------

HELPER_READS = """
import json

from distill import step


def settings():
    with open("conf/settings.json") as handle:
        return json.load(handle)


@step
def factor() -> int:
    return settings()["factor"]


@step
def scaled(factor: int) -> int:
    return factor * 10
"""


def test_a_file_a_helper_opens_is_part_of_the_key(make_project) -> None:
    root = make_project({"pipe.py": HELPER_READS, "conf/settings.json": '{"factor": 2}'})
    cli(root, "run", check=0)

    write(root / "conf" / "settings.json", '{"factor": 3}')

    states = status_json(root)
    assert states["factor"]["reasons"] == ["file conf/settings.json changed"]
    assert ran_steps(cli(root, "run", check=0)) == {"factor", "scaled"}
    import distill

    assert distill.load("scaled", project=root) == 30


DEFAULT_READS = """
import pandas as pd

from distill import step

DATA = "data.csv"


def load(path=DATA):
    return pd.read_csv(path)


@step
def total() -> int:
    return int(load()["a"].sum())
"""


def test_a_file_a_helper_reads_through_its_default_is_part_of_the_key(make_project) -> None:
    """A helper whose parameter defaults to a path (what convert writes for `def f(path=DATA)`)
    reads that file when called without one: a changed file re-runs the step."""
    root = make_project({"pipe.py": DEFAULT_READS, "data.csv": "a\n1\n2\n"})
    cli(root, "run", check=0)
    write(root / "data.csv", "a\n5\n")
    assert status_json(root)["total"]["reasons"] == ["file data.csv changed"]
    assert ran_steps(cli(root, "run", check=0)) == {"total"}
    import distill

    assert distill.load("total", project=root) == 5


MODULE_LEVEL = """
import json

from distill import step

CONFIG = json.load(open("conf.json"))


@step
def value() -> int:
    return CONFIG["n"]
"""


def test_a_file_read_when_the_module_is_imported_is_part_of_the_key(make_project) -> None:
    root = make_project({"pipe.py": MODULE_LEVEL, "conf.json": '{"n": 1}'})
    cli(root, "run", check=0)
    write(root / "conf.json", '{"n": 5}')
    assert status_json(root)["value"]["reasons"] == ["file conf.json changed"]
    cli(root, "run", check=0)
    import distill

    assert distill.load("value", project=root) == 5


GLOB = """
import glob

from distill import step


@step
def total() -> int:
    return sum(int(open(p).read()) for p in sorted(glob.glob("inputs/*.txt")))
"""


def test_a_glob_over_a_folder_is_part_of_the_key(make_project) -> None:
    root = make_project({"pipe.py": GLOB, "inputs/a.txt": "1", "inputs/b.txt": "2"})
    cli(root, "run", check=0)
    write(root / "inputs" / "c.txt", "4")
    assert status_json(root)["total"]["reasons"] == ["file inputs/*.txt changed"]
    cli(root, "run", check=0)
    import distill

    assert distill.load("total", project=root) == 7


ENV = """
import os

from distill import step


@step
def factor() -> int:
    return int(os.environ.get("FACTOR", "1"))
"""


def test_an_environment_variable_is_part_of_the_key(make_project, monkeypatch) -> None:
    root = make_project({"pipe.py": ENV})
    monkeypatch.setenv("FACTOR", "2")
    cli(root, "run", check=0)
    assert status_json(root)["factor"]["state"] == "fresh"

    monkeypatch.setenv("FACTOR", "3")
    assert status_json(root)["factor"]["reasons"] == ['environment variable FACTOR: "2" → "3"']
    monkeypatch.delenv("FACTOR")
    assert status_json(root)["factor"]["reasons"] == ['environment variable FACTOR: "2" → null']
    assert ran_steps(cli(root, "run", check=0)) == {"factor"}


UNRESOLVED = """
from distill import step


def name() -> str:
    return "a"


@step
def data() -> str:
    return open("conf/" + name() + ".txt").read()
"""


def test_a_read_the_analysis_cannot_resolve_runs_every_time_and_says_how_to_declare_it(make_project) -> None:
    root = make_project({"pipe.py": UNRESOLVED, "conf/a.txt": "x"})
    first = cli(root, "run", check=0)
    warnings = [line for line in first.stderr.splitlines() if line.startswith("warning: data:")]
    assert len(warnings) == 1
    assert "open('conf/' + name() + '.txt') at pipe.py:10" in warnings[0]
    assert "@step(reads=[...])" in warnings[0]
    assert ran_steps(cli(root, "run", check=0)) == {"data"}  # never reused: it could be stale

    declared = UNRESOLVED.replace("@step\ndef data", '@step(reads=["conf/*.txt"])\ndef data')
    write(root / "pipe.py", declared)
    cli(root, "run", check=0)
    assert status_json(root)["data"]["state"] == "fresh"
    write(root / "conf" / "a.txt", "y")
    assert status_json(root)["data"]["reasons"] == ["file conf/*.txt changed"]


def test_steps_run_in_the_project_folder_and_the_callers_folder_is_kept(make_project, tmp_path: Path) -> None:
    root = make_project({"pipe.py": HELPER_READS, "conf/settings.json": '{"factor": 4}'})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = os.getcwd()
    os.chdir(elsewhere)
    try:
        import distill

        assert distill.run(project=root).ok
        assert os.getcwd() == str(elsewhere)
        assert distill.load("scaled", project=root) == 40
    finally:
        os.chdir(before)


# -- declared written files -------------------------------------------------------------------

WRITES = """
from pathlib import Path

from distill import step


@step(writes=["outputs/report.csv"])
def report(n: int = 2) -> int:
    Path("outputs").mkdir(exist_ok=True)
    Path("outputs/report.csv").write_text("a,b\\n" + "1,2\\n" * n)
    return n


@step
def lines() -> int:
    return len(open("outputs/report.csv").read().splitlines())
"""


def test_declared_written_files_are_restored_on_a_cache_hit(make_project) -> None:
    root = make_project({"pipe.py": WRITES})
    cli(root, "run", check=0)
    report = root / "outputs" / "report.csv"
    original = report.read_text()

    report.unlink()
    states = status_json(root)
    assert states["report"]["state"] == "fresh"
    assert states["report"]["missing_files"] == ["outputs/report.csv"]
    proc = cli(root, "run", check=0)
    assert ran_steps(proc) == set()
    assert "restored outputs/report.csv from the store" in proc.stderr
    assert report.read_text() == original

    report.write_text("tampered")
    cli(root, "run", check=0)
    assert report.read_text() == original


def test_a_step_reading_a_written_file_depends_on_its_writer(make_project) -> None:
    root = make_project({"pipe.py": WRITES})
    cli(root, "run", check=0)
    import distill

    assert distill.load("lines", project=root) == 3
    proc = cli(root, "run", "--set", "n=5", check=0)
    # The writer ran first and the reader saw the new file, with no declared edge.
    assert ran_steps(proc) == {"report", "lines"}
    assert distill.load("lines", project=root, params={"n": 5}) == 6
    # Back to n=2: both results are cached; the file on disk is the n=5 one, restored by the
    # run before the reader is decided again from the file as restored.
    states = status_json(root)
    assert states["report"]["missing_files"] == ["outputs/report.csv"]
    proc = cli(root, "run", check=0)
    assert ran_steps(proc) == set(), proc.stderr
    assert (root / "outputs" / "report.csv").read_text().count("\n") == 3


def test_a_declared_file_not_written_fails_the_step(make_project) -> None:
    root = make_project({"pipe.py": WRITES.replace('Path("outputs/report.csv").write_text', 'str')})
    proc = cli(root, "run", check=1)
    assert "declares writes=['outputs/report.csv'] but outputs/report.csv does not exist after it ran" in proc.stderr


GLOB_WRITES = """
from pathlib import Path

from distill import step


@step(writes=["data/*.csv"])
def export(n: int = 1) -> int:
    Path("data/out.csv").write_text(f"x\\n{n}\\n")
    return n


@step
def lookup() -> str:
    return open("data/lookup.csv").read()


@step
def listing(export: int) -> list:
    import glob

    return sorted(glob.glob("data/*.csv"))
"""


def test_a_users_file_matching_a_declared_glob_is_never_recorded_nor_restored(make_project) -> None:
    root = make_project({"pipe.py": GLOB_WRITES, "data/lookup.csv": "k\nA\n"})
    cli(root, "run", check=0)
    write(root / "data" / "lookup.csv", "k\nB\n")

    states = status_json(root)
    assert states["lookup"]["reasons"] == ["file data/lookup.csv changed"]
    assert states["export"]["missing_files"] == []
    proc = cli(root, "run", check=0)
    assert "restored data/lookup.csv" not in proc.stderr
    assert (root / "data" / "lookup.csv").read_text() == "k\nB\n"  # the user's edit is kept
    import distill

    assert distill.load("lookup", project=root) == "k\nB\n"


def test_a_glob_over_written_files_also_sees_files_no_step_writes(make_project) -> None:
    root = make_project({"pipe.py": GLOB_WRITES, "data/lookup.csv": "k\nA\n"})
    cli(root, "run", check=0)
    write(root / "data" / "extra.csv", "e\n")
    assert status_json(root)["listing"]["state"] != "fresh"
    cli(root, "run", check=0)
    import distill

    assert distill.load("listing", project=root) == ["data/extra.csv", "data/lookup.csv", "data/out.csv"]


def test_readers_imported_by_name_and_modules_imported_inside_a_function() -> None:
    from distill.analysis.source import analyze_module

    source = (
        "from pandas import read_csv\nfrom os import getenv\nfrom glob import glob\n"
        "def f():\n    import numpy as np\n"
        "    return read_csv('t1.csv'), getenv('MYVAR'), glob('in/*.txt'), np.load('a.npy')\n"
    )
    reads = {(r.kind, r.value) for r in analyze_module(source, "m", "m.py").defs["f"].reads}
    assert reads == {("file", "t1.csv"), ("env", "MYVAR"), ("glob", "in/*.txt"), ("file", "a.npy")}
