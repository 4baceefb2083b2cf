"""Every cache invalidation rule, through real files and real `distill` subprocesses."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import cli, ran_steps, status_json, write

PIPE = '''
from pathlib import Path
from distill import step
from lib import clean_text, SCALE

@step
def raw(path: Path = Path("data/in.txt")) -> str:
    """Read the input."""
    return path.read_text()

@step
def cleaned(raw: str) -> str:
    return clean_text(raw)

@step
def length(cleaned: str, factor: int = 2) -> int:
    return len(cleaned) * factor

@step
def scaled(length: int) -> int:
    return length * SCALE

@step
def unrelated() -> str:
    return "independent"
'''

LIB = '''
SCALE = 10

def clean_text(text):
    """Strip and lower."""
    return text.strip().lower()
'''


@pytest.fixture
def project(make_project):
    root = make_project({"pipe.py": PIPE, "lib.py": LIB, "data/in.txt": "  Hello World  \n"})
    cli(root, "run", check=0)
    return root


def stale(project: Path, *args: str) -> dict[str, list[str]]:
    return {s: item["reasons"] for s, item in status_json(project, *args).items() if item["state"] == "stale"}


def test_first_run_then_everything_fresh(project):
    assert stale(project) == {}
    proc = cli(project, "run", check=0)
    assert ran_steps(proc) == set()
    assert "5 cached" in proc.stderr


def test_helper_in_other_module_edited_names_the_helper(project):
    write(project / "lib.py", LIB.replace("text.strip().lower()", "text.strip().upper()"))
    reasons = stale(project)
    assert reasons["cleaned"] == ["function lib.clean_text changed"]
    assert set(reasons) == {"cleaned"}
    states = status_json(project)
    # Nothing of their own changed: they run only if what they read comes back different.
    assert states["length"]["state"] == "recheck"
    assert states["length"]["reasons"] == ["upstream step cleaned is stale; runs only if its output changes"]
    assert states["scaled"]["state"] == "recheck"
    assert states["scaled"]["reasons"] == ["upstream step length may re-run; runs only if its output changes"]
    proc = cli(project, "run", check=0)
    assert ran_steps(proc) == {"cleaned", "length"}  # scaled: same length -> early cutoff


def test_comment_docstring_and_formatting_edits_change_nothing(project):
    edited = LIB.replace('"""Strip and lower."""', '"""Strip, then lower-case (reworded)."""')
    edited = edited.replace("return text.strip().lower()", "# a new comment\n    return text.strip(  ).lower()  # trailing")
    write(project / "lib.py", "# header comment\n" + edited)
    write(project / "pipe.py", PIPE.replace('"""Read the input."""', '"""Read the raw input file."""'))
    assert stale(project) == {}


def test_module_constant_edited_makes_its_users_stale(project):
    write(project / "lib.py", LIB.replace("SCALE = 10", "SCALE = 11"))
    reasons = stale(project)
    assert reasons == {"scaled": ["constant lib.SCALE changed"]}
    proc = cli(project, "run", check=0)
    assert ran_steps(proc) == {"scaled"}
    import distill

    assert distill.load("scaled", project=project) == len("hello world") * 2 * 11


def test_set_reruns_only_the_steps_using_the_param(project):
    reasons = stale(project, "--set", "factor=3")
    assert reasons["length"] == ["param factor: 2 → 3"]
    proc = cli(project, "run", "--set", "factor=3", check=0)
    assert ran_steps(proc) == {"length", "scaled"}
    # Back to the default: every key is in the cache already.
    proc = cli(project, "run", check=0)
    assert ran_steps(proc) == set()


def test_data_file_touched_but_unchanged_is_fresh(project):
    data = project / "data" / "in.txt"
    os.utime(data, None)  # mtime = now, same content
    assert stale(project) == {}
    proc = cli(project, "run", check=0)
    assert ran_steps(proc) == set()


def test_data_file_edited_is_stale(project):
    write(project / "data" / "in.txt", "  Hello Distill  \n")
    reasons = stale(project)
    assert reasons["raw"] == ["data file data/in.txt changed (param path)"]
    proc = cli(project, "run", check=0)
    assert {"raw", "cleaned", "length"} <= ran_steps(proc)


def test_same_size_edit_within_clock_resolution_is_seen(project):
    # A same-size edit made right now (inside the racy window) must never be hidden by a memo.
    write(project / "data" / "in.txt", "  HELLO world  \n", age=False)
    assert "raw" in stale(project)


def test_upstream_change_with_identical_output_cuts_off(project):
    # `cleaned` re-runs (its helper changed) but returns the same string: `length` stays cached.
    write(project / "lib.py", LIB.replace("text.strip().lower()", "text.lower().strip()"))
    proc = cli(project, "run", check=0)
    assert ran_steps(proc) == {"cleaned"}
    assert stale(project) == {}


def test_failing_step_keeps_finished_steps_and_resumes(make_project):
    pipe = PIPE.replace("return len(cleaned) * factor", "raise ValueError('boom')")
    root = make_project({"pipe.py": pipe, "lib.py": LIB, "data/in.txt": "abc"})
    proc = cli(root, "run")
    assert proc.returncode == 1
    assert "ValueError: boom" in proc.stderr
    assert "length" in proc.stderr and "failed" in proc.stderr
    assert ran_steps(proc) == {"raw", "cleaned", "unrelated"}
    assert "scaled skipped" in proc.stderr
    write(root / "pipe.py", PIPE)
    proc = cli(root, "run", check=0)
    assert ran_steps(proc) == {"length", "scaled"}


def test_retries_call_the_step_again(make_project, tmp_path):
    counter = tmp_path / "count.txt"
    pipe = f'''
from distill import step

@step(retries=2)
def flaky() -> int:
    import pathlib
    p = pathlib.Path({str(counter)!r})
    n = int(p.read_text()) if p.exists() else 0
    p.write_text(str(n + 1))
    if n < 2:
        raise RuntimeError("transient")
    return n
'''
    root = make_project({"pipe.py": pipe})
    proc = cli(root, "run", check=0)
    assert "attempts: 3" in proc.stderr
    assert counter.read_text() == "3"


def _object_of(project: Path, output: str) -> Path:
    import distill

    (info,) = distill.show(output, project=project)
    return project / ".distill" / "objects" / info.hash[:2] / info.hash[2:]


def test_corrupted_object_is_detected_and_recomputed(project):
    obj = _object_of(project, "cleaned")
    data = obj.read_bytes()
    obj.write_bytes(data[:-2] + b'x"')  # same name and size, other content
    # `length` must re-run (param change) and so must read `cleaned`.
    proc = cli(project, "run", "--set", "factor=5", check=0)
    assert "corrupted" in proc.stderr
    assert "cleaned" in ran_steps(proc)
    import distill

    assert distill.load("length", project=project, params={"factor": 5}) == len("hello world") * 5


def test_corrupted_object_is_never_loaded(project):
    import distill
    from distill.errors import StoreError

    obj = _object_of(project, "scaled")
    data = obj.read_bytes()
    obj.write_bytes(data[:-1] + (b"9" if data[-1:] != b"9" else b"8"))  # same size, other bytes
    with pytest.raises(StoreError, match="corrupted"):
        distill.load("scaled", project=project)


def test_missing_object_makes_the_step_stale_and_is_recomputed(project):
    _object_of(project, "scaled").unlink()
    reasons = stale(project)
    assert reasons == {"scaled": ["cached output scaled is missing from the store"]}
    proc = cli(project, "run", check=0)
    assert ran_steps(proc) == {"scaled"}


def test_force_reruns_a_fresh_step(project):
    proc = cli(project, "run", "--force", "raw", check=0)
    assert ran_steps(proc) == {"raw"}  # same output: nothing downstream runs


def test_explain_prints_reasons_before_running(project):
    proc = cli(project, "run", "--explain", "--set", "factor=4", check=0)
    assert "param factor: 2 → 4" in proc.stdout


def test_targets_run_only_what_they_need(make_project):
    root = make_project({"pipe.py": PIPE, "lib.py": LIB, "data/in.txt": "x"})
    proc = cli(root, "run", "length", check=0)
    assert ran_steps(proc) == {"raw", "cleaned", "length"}


def test_load_raises_stale_error_with_reasons(project):
    import distill

    assert distill.load("length", project=project) == len("hello world") * 2
    with pytest.raises(distill.StaleError, match=r"param factor: 2 → 9") as info:
        distill.load("length", project=project, params={"factor": 9})
    assert info.value.reasons == ["param factor: 2 → 9"]


def test_show_prints_provenance(project):
    proc = cli(project, "show", "cleaned", check=0)
    assert "step:     cleaned" in proc.stdout
    assert "pipe.py:" in proc.stdout
    assert "state:    fresh" in proc.stdout
    assert "json object" in proc.stdout
    assert "'hello world'" in proc.stdout


def test_planning_imports_no_user_code(make_project, tmp_path):
    marker = tmp_path / "imported.txt"
    pipe = f'''
import pathlib
pathlib.Path({str(marker)!r}).write_text("imported")
from distill import step

@step
def a() -> int:
    return 1
'''
    root = make_project({"pipe.py": pipe})
    cli(root, "run", check=0)
    marker.unlink()
    cli(root, "status", check=0)
    cli(root, "run", check=0)
    assert not marker.exists()


def test_unchanged_sources_are_not_parsed_again(project):
    from distill.session import open_session

    first = open_session(str(project))
    first.close()
    second = open_session(str(project))
    assert second.sources.parsed == []
    second.close()
    write(project / "lib.py", LIB + "\nEXTRA = 1\n")
    third = open_session(str(project))
    assert third.sources.parsed == ["lib.py"]
    third.close()


def test_package_version_change_is_named(make_project, tmp_path):
    site = tmp_path / "site"
    write(site / "fakepkg" / "__init__.py", "VALUE = 1\n")
    dist = site / "fakepkg-1.0.dist-info"
    write(dist / "METADATA", "Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
    write(dist / "top_level.txt", "fakepkg\n")
    pipe = '''
import fakepkg
from distill import step

@step
def uses() -> int:
    return fakepkg.VALUE

@step
def plain() -> int:
    return 2
'''
    root = make_project({"pipe.py": pipe})
    env = {**os.environ, "PYTHONPATH": str(site)}
    import subprocess

    def run(*args):
        return subprocess.run([sys.executable, "-m", "distill", *args, "-C", str(root)], env=env, capture_output=True, text=True)

    assert run("run").returncode == 0
    newer = site / "fakepkg-2.0.dist-info"
    shutil.move(dist, newer)
    write(newer / "METADATA", "Metadata-Version: 2.1\nName: fakepkg\nVersion: 2.0\n")
    import json

    items = {i["step"]: i for i in json.loads(run("status", "--json").stdout)}
    assert items["uses"]["reasons"] == ["package fakepkg 1.0 → 2.0"]
    assert items["plain"]["state"] == "fresh"


def test_function_reaching_helper_through_module_attribute(make_project):
    pipe = '''
from distill import step
import helpers

@step
def a() -> int:
    return helpers.one()
'''
    helpers = '''
def one():
    return 1

def two():
    return 2
'''
    root = make_project({"pipe.py": pipe, "helpers.py": helpers})
    cli(root, "run", check=0)
    write(root / "helpers.py", helpers.replace("return 2", "return 3"))
    assert stale(root) == {}  # `two` is not reached
    write(root / "helpers.py", helpers.replace("return 1", "return 4"))
    assert stale(root) == {"a": ["function helpers.one changed"]}


def test_transitive_helper_and_class_are_tracked(make_project):
    pipe = '''
from distill import step
from model import Scaler

@step
def a() -> float:
    return Scaler().apply(2.0)
'''
    model = '''
from util import factor

class Scaler:
    def apply(self, x):
        return x * factor()
'''
    util = '''
def factor():
    return 3.0
'''
    root = make_project({"pipe.py": pipe, "model.py": model, "util.py": util})
    cli(root, "run", check=0)
    write(root / "util.py", util.replace("3.0", "4.0"))
    assert stale(root) == {"a": ["function util.factor changed"]}
