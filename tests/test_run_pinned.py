"""Behaviours of `distill run`, `status` and `load` pinned before the run loop is redesigned.

These tests use only what a rewrite keeps: the public API (``distill.run``, ``distill.status``,
``distill.load``, ``distill.step`` and the public fields of their results) and the CLI as a
subprocess. Where a step is stale only because an upstream step is, they check
``state != "fresh"`` and the reason, never ``state == "stale"``: a third state is coming.

- folder data inputs, and a pipeline that is a package of modules;
- every reason ``status`` gives, one case each, in one table;
- a step returning the wrong number of outputs, and an output that cannot be stored;
- a step changing its input in place;
- issue 9: misreports the redesign fixed: a docstring under a constant, a stale step's own
  reasons, the ``recheck`` state, planning that imports nothing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import distill
from conftest import ran_steps, write

# The folder holding the distill under test: subprocesses import that one too.
DISTILL_CODE = Path(distill.__file__).resolve().parents[1]
YAML_VERSION = importlib.metadata.version("PyYAML")


# -- helpers ------------------------------------------------------------------------------------


def cli(project: Path, *args: str, check: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``distill ARGS -C project`` in a fresh interpreter, on the distill imported here."""
    env = {
        **os.environ,
        "PYTHONPATH": str(DISTILL_CODE),
        "NO_COLOR": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "distill", *args, "-C", str(project)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )
    if check is not None:
        assert proc.returncode == check, (
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def forget_modules(folder: Path) -> None:
    """Drop every module imported from ``folder``, so the next import reads the code as it is now.

    NB: an in-process run imports the project's modules once; a test that edits a step and
        runs again must not execute the module imported before the edit.
    """
    prefix = str(folder.resolve()) + os.sep
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and str(Path(file).resolve()).startswith(prefix):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(autouse=True)
def own_imports(tmp_path: Path) -> Iterator[None]:
    saved = list(sys.path)
    yield
    forget_modules(tmp_path)
    sys.path[:] = saved


def run(root: Path, targets: tuple[str, ...] = (), **kwargs: Any) -> Any:
    forget_modules(root)
    return distill.run(targets, project=root, **kwargs)


def waiting(upstream: str) -> str:
    """The reason of a step that is not fresh only because ``upstream`` is stale (one place)."""
    return f"upstream step {upstream} is stale; runs only if its output changes"


def statuses(result: Any) -> dict[str, str]:
    return {name: step.status for name, step in result.steps.items()}


def ran(result: Any) -> set[str]:
    return {name for name, step in result.steps.items() if step.status == "ran"}


def plans(root: Path, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {
        item["step"]: item for item in (p.as_json() for p in distill.status(project=root, **kwargs))
    }


def not_fresh(root: Path, **kwargs: Any) -> dict[str, list[str]]:
    return {
        s: item["reasons"] for s, item in plans(root, **kwargs).items() if item["state"] != "fresh"
    }


def edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    """An edit replacing ``old`` (which must be there) by ``new`` in the project file ``path``."""

    def apply(root: Path) -> None:
        text = (root / path).read_text()
        assert old in text, f"{old!r} not in {path}"
        write(root / path, text.replace(old, new))

    return apply


def only_object(root: Path) -> Path:
    """The one stored object of a project with a single stored output."""
    (found,) = [p for p in (root / ".distill" / "objects").rglob("*") if p.is_file()]
    return found


# -- 1. folder data inputs ----------------------------------------------------------------------

FOLDER_PIPE = """
from pathlib import Path
from distill import step

@step
def listing(folder: Path = Path("inputs")) -> list:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [f"{p.relative_to(folder).as_posix()}={p.read_text()}" for p in files]

@step
def count(listing: list) -> int:
    return len(listing)

@step
def summary(count: int) -> str:
    return f"{count} files"
"""


@pytest.fixture
def folder_project(make_project: Callable[..., Path]) -> Path:
    root = make_project({"pipe.py": FOLDER_PIPE, "inputs/a.txt": "1", "inputs/sub/b.txt": "2"})
    assert run(root).ok
    return root


def _delete_a(root: Path) -> None:
    (root / "inputs" / "a.txt").unlink()


FOLDER_EDITS = [
    # id, edit, listing after the edit, steps that re-run (`summary` cuts off on the same count)
    (
        "top-file-edited",
        lambda r: write(r / "inputs/a.txt", "one"),
        ["a.txt=one", "sub/b.txt=2"],
        {"listing", "count"},
    ),
    (
        "nested-file-edited",
        lambda r: write(r / "inputs/sub/b.txt", "two"),
        ["a.txt=1", "sub/b.txt=two"],
        {"listing", "count"},
    ),
    (
        "file-added",
        lambda r: write(r / "inputs/sub/c.txt", "3"),
        ["a.txt=1", "sub/b.txt=2", "sub/c.txt=3"],
        {"listing", "count", "summary"},
    ),
    ("file-deleted", _delete_a, ["sub/b.txt=2"], {"listing", "count", "summary"}),
]


@pytest.mark.parametrize(
    ("change", "listing", "reran"), [c[1:] for c in FOLDER_EDITS], ids=[c[0] for c in FOLDER_EDITS]
)
def test_folder_input_content_change_makes_its_step_stale_and_rerun(
    folder_project, change, listing, reran
):
    change(folder_project)
    stale = not_fresh(folder_project)
    assert set(stale) == {"listing", "count", "summary"}
    (reason,) = stale["listing"]
    assert re.fullmatch(r"data (file|folder) inputs changed \(param folder\)", reason), reason
    assert stale["count"] == [waiting("listing")]
    result = run(folder_project)
    assert result.ok
    assert ran(result) == reran
    assert distill.load("listing", project=folder_project) == listing
    assert distill.load("count", project=folder_project) == len(listing)
    assert not_fresh(folder_project) == {}


@pytest.mark.parametrize("name", ["a.txt", "sub/b.txt", "sub"])
def test_folder_input_touched_but_unchanged_is_fresh(folder_project, name):
    os.utime(folder_project / "inputs" / name, None)  # mtime = now, same content
    assert not_fresh(folder_project) == {}
    result = run(folder_project)
    assert statuses(result) == {"listing": "cached", "count": "cached", "summary": "cached"}


# -- 2. a pipeline that is a package of modules -------------------------------------------------

PKG_INIT = '''
"""Steps may live in the package's __init__ too."""
from distill import step

@step
def report(doubled: int, tripled: int, label: str) -> str:
    return f"{label}: {doubled} {tripled}"
'''

PKG_A = """
from distill import step

def factor() -> int:
    return 2

@step
def raw() -> int:
    return 21

@step
def label() -> str:
    return "total"
"""

PKG_B = """
from distill import step
from .a import factor

@step
def doubled(raw: int) -> int:
    return raw * factor()

@step
def tripled(raw: int) -> int:
    return raw * 3
"""

PKG_STEPS = {"report", "raw", "label", "doubled", "tripled"}


@pytest.fixture
def package_project(make_project: Callable[..., Path]) -> Path:
    files = {"src/pkg/__init__.py": PKG_INIT, "src/pkg/a.py": PKG_A, "src/pkg/b.py": PKG_B}
    root = make_project(files, pipeline="pkg")
    result = run(root)
    assert result.ok, {n: s.error for n, s in result.steps.items()}
    assert ran(result) == PKG_STEPS
    return root


def test_package_pipeline_runs_and_caches(package_project):
    assert distill.load("report", project=package_project) == "total: 42 63"
    assert not_fresh(package_project) == {}
    result = run(package_project)
    assert statuses(result) == dict.fromkeys(PKG_STEPS, "cached")


PKG_EDITS = [
    # id, edit, changed step, its reason, steps not fresh, steps that re-run, report after
    (
        "step-in-b",
        edit("src/pkg/b.py", "return raw * factor()", "return raw * factor() + 1"),
        "doubled",
        "step function pkg.b.doubled changed",
        {"doubled", "report"},
        {"doubled", "report"},
        "total: 43 63",
    ),
    (
        "step-in-a",
        edit("src/pkg/a.py", "return 21", "return 10"),
        "raw",
        "step function pkg.a.raw changed",
        {"raw", "doubled", "tripled", "report"},
        {"raw", "doubled", "tripled", "report"},
        "total: 20 30",
    ),
    (
        "helper-in-a-used-by-b",
        edit("src/pkg/a.py", "return 2\n", "return 4\n"),
        "doubled",
        "function pkg.a.factor changed",
        {"doubled", "report"},
        {"doubled", "report"},
        "total: 84 63",
    ),
    (
        "step-in-init",
        edit("src/pkg/__init__.py", 'f"{label}: ', 'f"{label} = '),
        "report",
        "step function pkg.report changed",
        {"report"},
        {"report"},
        "total = 42 63",
    ),
]


@pytest.mark.parametrize(
    ("change", "step", "reason", "stale", "reran", "report"),
    [c[1:] for c in PKG_EDITS],
    ids=[c[0] for c in PKG_EDITS],
)
def test_package_pipeline_change_reruns_only_the_step_and_its_dependents(
    package_project, change, step, reason, stale, reran, report
):
    change(package_project)
    reasons = not_fresh(package_project)
    assert set(reasons) == stale
    assert reasons[step] == [reason]
    result = run(package_project)
    assert result.ok
    assert ran(result) == reran
    assert {n for n, s in statuses(result).items() if s == "cached"} == PKG_STEPS - reran
    assert distill.load("report", project=package_project) == report


# -- 3. every reason status gives ---------------------------------------------------------------

HEAD = """
import yaml
from pathlib import Path
from distill import step

X = 10

def helper() -> int:
    return 100

class K:
    v = 1
"""

ONE = (
    HEAD
    + """
@step
def s(n: int = 1) -> int:
    return BODY
"""
)

TWO = (
    HEAD
    + """
@step
def a(n: int = 1) -> int:
    return n

@step
def b(a: int) -> int:
    return a + 1
"""
)


def one(body: str) -> str:
    return ONE.replace("BODY", body)


def _run_a_alone_with_n_2(root: Path) -> None:
    assert run(root, ("a",), params={"n": 2}).ok


def _delete_object(root: Path) -> None:
    only_object(root).unlink()


def _grow_object(root: Path) -> None:
    obj = only_object(root)
    obj.write_bytes(obj.read_bytes() + b" ")


def _no_edit(root: Path) -> None:
    pass


@dataclass(frozen=True)
class Case:
    """Run ``pipe`` once, apply ``change``: ``status`` must give ``reasons`` for ``step``."""

    id: str
    pipe: str
    change: Callable[[Path], None]
    reasons: tuple[str, ...]
    step: str = "s"
    files: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    force: tuple[str, ...] = ()


CASES = [
    Case(
        "function-now-used",
        one("n"),
        edit("pipe.py", "return n", "return n + helper()"),
        ("function pipe.helper is now used", "step function pipe.s changed"),
    ),
    Case(
        "function-no-longer-used",
        one("n + helper()"),
        edit("pipe.py", "return n + helper()", "return n"),
        ("function pipe.helper is no longer used", "step function pipe.s changed"),
    ),
    Case(
        "function-changed",
        one("n + helper()"),
        edit("pipe.py", "return 100", "return 200"),
        ("function pipe.helper changed",),
    ),
    Case(
        "constant-now-used",
        one("n"),
        edit("pipe.py", "return n", "return n + X"),
        ("constant pipe.X is now used", "step function pipe.s changed"),
    ),
    Case(
        "constant-no-longer-used",
        one("n + X"),
        edit("pipe.py", "return n + X", "return n"),
        ("constant pipe.X is no longer used", "step function pipe.s changed"),
    ),
    Case(
        "constant-changed",
        one("n + X"),
        edit("pipe.py", "X = 10", "X = 11"),
        ("constant pipe.X changed",),
    ),
    Case(
        "class-changed",
        one("n + K.v"),
        edit("pipe.py", "v = 1", "v = 2"),
        ("class pipe.K changed",),
    ),
    Case(
        "step-changed",
        one("n"),
        edit("pipe.py", "return n", "return n * 1"),
        ("step function pipe.s changed",),
    ),
    Case(
        "package-now-imported",
        one("n"),
        edit("pipe.py", "return n", "return n + len(yaml.__name__)"),
        ("step function pipe.s changed", f"package PyYAML is now imported ({YAML_VERSION})"),
    ),
    Case(
        "package-no-longer-imported",
        one("n + len(yaml.__name__)"),
        edit("pipe.py", "return n + len(yaml.__name__)", "return n"),
        ("step function pipe.s changed", "package PyYAML is no longer imported"),
    ),
    Case(
        "param-new",
        one("n"),
        edit("pipe.py", "def s(n: int = 1)", "def s(n: int = 1, m: int = 2)"),
        ("step function pipe.s changed", "param m is new (2)"),
    ),
    Case(
        "param-removed",
        one("n").replace("def s(n: int = 1)", "def s(n: int = 1, m: int = 2)"),
        edit("pipe.py", "def s(n: int = 1, m: int = 2)", "def s(n: int = 1)"),
        ("step function pipe.s changed", "param m was removed"),
    ),
    Case(
        "param-default-changed",
        one("n"),
        edit("pipe.py", "n: int = 1", "n: int = 2"),
        ("param n: 1 → 2",),
    ),
    Case("param-set", one("n"), _no_edit, ("param n: 1 → 2",), params={"n": 2}),
    Case(
        "data-file-changed",
        one("len(path.read_text())").replace("n: int = 1", 'path: Path = Path("in.txt")'),
        lambda root: write(root / "in.txt", "bb"),
        ("data file in.txt changed (param path)",),
        files={"in.txt": "a"},
    ),
    Case(
        "data-input-new",
        one("n"),
        edit("pipe.py", "n: int = 1", 'n: int = 1, path: Path = Path("in.txt")'),
        (
            "step function pipe.s changed",
            'param path is new ("in.txt")',
            "data input path is new (in.txt)",
        ),
        files={"in.txt": "a"},
    ),
    Case(
        "upstream-output-changed",
        TWO,
        _run_a_alone_with_n_2,
        ("upstream output a changed",),
        "b",
        params={"n": 2},
    ),
    Case(
        "upstream-step-stale",
        TWO,
        edit("pipe.py", "return n\n", "return n * 3\n"),
        (waiting("a"),),
        "b",
    ),
    Case(
        "input-new",
        TWO.replace("def b(a: int)", "def b()").replace("return a + 1", "return 2"),
        edit("pipe.py", "def b()", "def b(a: int)"),
        ("step function pipe.b changed", "input a is new"),
        "b",
    ),
    Case(
        "input-removed",
        TWO.replace("return a + 1", "return 2"),
        edit("pipe.py", "def b(a: int)", "def b()"),
        ("step function pipe.b changed", "input a was removed"),
        "b",
    ),
    Case(
        "outputs-changed",
        one("n").replace(
            "@step\ndef s(n: int = 1) -> int:\n    return n",
            '@step(outputs=("x", "y"))\ndef s(n: int = 1):\n    return n, n',
        ),
        edit("pipe.py", '("x", "y")', '("x", "z")'),
        ("outputs changed: (x, y) → (x, z)",),
    ),
    Case(
        "never-ran",
        one("n"),
        lambda root: write(
            root / "pipe.py",
            (root / "pipe.py").read_text() + "\n@step\ndef t() -> int:\n    return 5\n",
        ),
        ("never ran",),
        "t",
    ),
    Case(
        "cache-off",
        one("n").replace("@step\ndef s", "@step(cache=False)\ndef s"),
        _no_edit,
        ("cache=False: runs every time",),
    ),
    Case("forced", one("n"), _no_edit, ("forced with --force",), force=("s",)),
    Case(
        "object-missing", one("n"), _delete_object, ("cached output s is missing from the store",)
    ),
    Case(
        "object-corrupted",
        one("n"),
        _grow_object,
        ("cached output s is corrupted in the store (its size changed)",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_status_gives_the_reason(make_project, case):
    root = make_project({"pipe.py": case.pipe, **case.files})
    first = run(root)
    assert first.ok, {n: s.error for n, s in first.steps.items()}
    case.change(root)
    item = plans(root, params=dict(case.params), force=case.force)[case.step]
    assert item["state"] != "fresh"
    assert item["reasons"] == list(case.reasons)


def test_status_cli_prints_the_reasons_of_the_api(make_project):
    root = make_project({"pipe.py": one("n")})
    assert run(root).ok
    edit("pipe.py", "return n", "return n + helper()")(root)
    proc = cli(root, "status", "--json", check=0)
    assert json.loads(proc.stdout) == [p.as_json() for p in distill.status(project=root)]
    text = cli(root, "status", check=0).stdout
    assert "stale: function pipe.helper is now used" in text
    assert "step function pipe.s changed" in text


def test_run_explain_says_a_step_is_forced(make_project):
    root = make_project({"pipe.py": one("n")})
    assert run(root).ok
    proc = cli(root, "run", "--explain", "--force", "s", check=0)
    assert "forced with --force" in proc.stdout
    assert ran_steps(proc) == {"s"}


# -- 4. a step returning the wrong number of outputs --------------------------------------------

WRONG_OUTPUTS = """
from distill import step

@step(outputs=("a", "b"))
def pair():
    return RETURNED

@step
def uses(a: int, b: int) -> int:
    return a + b

@step
def alone() -> int:
    return 7
"""

WRONG = [
    # id, returned, how the message describes it
    ("three-values", "1, 2, 3", "tuple of length 3"),
    ("list-of-one", "[1]", "list of length 1"),
    ("not-a-tuple", "12", "int"),
    ("none", "None", "NoneType"),
]


@pytest.mark.parametrize(("returned", "found"), [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_wrong_number_of_outputs_fails_that_step_only(make_project, returned, found):
    root = make_project({"pipe.py": WRONG_OUTPUTS.replace("RETURNED", returned)})
    result = run(root)
    assert not result.ok
    assert result.status == "failed"
    assert statuses(result) == {"pair": "failed", "uses": "skipped", "alone": "ran"}
    error = result.steps["pair"].error
    assert "outputs (a, b)" in error and "2 values" in error and found in error, error
    assert result.steps["uses"].reason == "upstream step pair failed"
    assert distill.load("alone", project=root) == 7
    assert not_fresh(root)["pair"] == ["never ran"]


def test_wrong_number_of_outputs_exits_1_from_the_cli(make_project):
    root = make_project({"pipe.py": WRONG_OUTPUTS.replace("RETURNED", "1, 2, 3")})
    proc = cli(root, "run", check=1)
    assert "outputs (a, b)" in proc.stderr and "tuple of length 3" in proc.stderr
    assert "step(s) failed: pair" in proc.stderr
    assert ran_steps(proc) == {"alone"}


# -- 5. an output that cannot be stored ---------------------------------------------------------

UNSTORABLE = """
from pathlib import Path
from distill import step

HERE = Path(__file__).parent

@step
def numbers():
    with open(HERE / "calls.log", "a") as log:
        log.write("numbers\\n")
    return (i for i in range(4))  # a generator: pickle refuses it

@step
def total(numbers) -> int:
    value = sum(numbers)
    (HERE / "total.txt").write_text(str(value))
    return value

@step
def doubled(total: int) -> int:
    return total * 2

@step
def unrelated() -> int:
    return 1
"""


NOT_STORED = "its last run was not cached: an input or output could not be stored"


def test_unstorable_output_is_passed_on_but_not_cached(make_project):
    root = make_project({"pipe.py": UNSTORABLE})
    proc = cli(root, "run", check=0)
    (warning,) = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: numbers: output numbers is not cached: ")
    assert "cannot be pickled" in warning
    assert ran_steps(proc) == {"numbers", "total", "doubled", "unrelated"}
    assert (root / "total.txt").read_text() == "6"  # `total` got the generator in the same run

    assert not_fresh(root) == {
        "numbers": [NOT_STORED],
        "total": [NOT_STORED],
        "doubled": [waiting("total")],
    }
    with pytest.raises(distill.StaleError, match=re.escape(NOT_STORED)):
        distill.load("total", project=root)

    (root / "total.txt").unlink()
    second = run(root)
    assert second.ok
    # The producer re-runs (nothing was cached), so does its consumer; `doubled` gets the same
    # stored total and is reused.
    assert statuses(second) == {
        "numbers": "ran",
        "total": "ran",
        "doubled": "cached",
        "unrelated": "cached",
    }
    assert (root / "total.txt").read_text() == "6"
    assert (root / "calls.log").read_text() == "numbers\nnumbers\n"
    with pytest.raises(distill.StaleError):
        distill.load("numbers", project=root)


# -- 6. a step changing its input in place ------------------------------------------------------

IN_PLACE = """
from distill import step

@step
def a():
    return ORIGINAL

@step
def grow(a) -> int:
    CHANGE
    return len(a)

@step
def reader(a, grow: int):  # reads `a` after `grow` changed its copy
    return a
"""

CHANGES = [
    # id, value of `a`, in-place change made by `grow`
    ("list", [1, 2, 3], "a.append(4)"),
    ("dict", {"x": 1, "y": 2, "z": 3}, 'a["w"] = 4'),
    ("nested-list", [[1], [2], [3]], "a.append([4]); a[0].append(9)"),
]


def in_place_project(make_project: Callable[..., Path], original: Any, change: str) -> Path:
    pipe = IN_PLACE.replace("ORIGINAL", repr(original)).replace("CHANGE", change)
    return make_project({"pipe.py": pipe})


@pytest.mark.parametrize(
    ("original", "change"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_step_changing_its_input_leaves_the_stored_value_unchanged(make_project, original, change):
    root = in_place_project(make_project, original, change)
    assert run(root).ok
    assert distill.load("a", project=root) == original
    assert distill.load("grow", project=root) == len(original) + 1
    # Re-running `grow` alone reads `a` from the cache: the original again, not the grown one.
    again = run(root, force=["grow"])
    assert statuses(again)["grow"] == "ran"
    assert distill.load("grow", project=root) == len(original) + 1
    assert distill.load("a", project=root) == original


@pytest.mark.parametrize(
    ("original", "change"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_step_changing_its_input_is_not_seen_by_another_reader(make_project, original, change):
    root = in_place_project(make_project, original, change)
    assert run(root).ok
    assert distill.load("reader", project=root) == original


# -- 7. issue 9: misreports the redesign must fix -----------------------------------------------

DOCSTRING_PIPE = '''
from distill import step

X = 1
"""What X is."""

@step
def uses_x() -> int:
    return X

@step
def plain() -> int:
    return 2
'''


def test_docstring_under_a_constant_changes_nothing(make_project):
    root = make_project({"pipe.py": DOCSTRING_PIPE})
    assert run(root).ok
    edit("pipe.py", '"""What X is."""', '"""What X is, reworded."""')(root)
    assert not_fresh(root) == {}


CHAIN = """
from distill import step

@step
def a(k: int = 1) -> int:
    return k

@step
def b(a: int, n: int = 1) -> int:
    return a + n
"""


def test_step_below_a_stale_step_lists_its_own_reasons(make_project):
    root = make_project({"pipe.py": CHAIN})
    assert run(root).ok
    reasons = not_fresh(root, params={"k": 2, "n": 2})
    assert reasons["a"] == ["param k: 1 → 2"]
    assert "param n: 1 → 2" in reasons["b"]


CUTOFF = """
from distill import step

@step
def a() -> int:
    return 1

@step
def b(a: int) -> int:
    return a + 1
"""


def test_step_below_a_changed_step_is_to_be_rechecked(make_project):
    root = make_project({"pipe.py": CUTOFF})
    assert run(root).ok
    edit("pipe.py", "return 1\n", "return 2 - 1\n")(root)
    items = {
        item["step"]: item for item in json.loads(cli(root, "status", "--json", check=0).stdout)
    }
    assert items["a"]["state"] == "stale"
    assert items["b"]["state"] == "recheck"
    assert statuses(run(root)) == {"a": "ran", "b": "cached"}


PROJECT_TYPE_PIPE = """
import enum
import pathlib

from distill import step

pathlib.Path(__file__).with_name("imported.flag").write_text("imported")


class Mode(str, enum.Enum):
    A = "a"
    B = "b"


@step
def pick(mode: Mode = "a") -> str:
    return str(mode)
"""


@pytest.mark.parametrize("surface", ["cli", "api"])
def test_planning_with_a_project_type_imports_nothing(make_project, surface):
    root = make_project({"pipe.py": PROJECT_TYPE_PIPE})
    marker = root / "imported.flag"
    if surface == "cli":
        cli(root, "status", check=0)
    else:
        distill.status(project=root)
    assert not marker.exists()
    assert run(root).ok
    assert marker.exists()  # the module does write the marker when it is imported
