"""The environment a run records: interpreter, packages (memoised by sys.path stats), git."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from distill.runs import environment
from distill.runs.environment import Environment, capture


@pytest.fixture(scope="module")
def warm_memo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A memo filled once, so tests about other fields don't each read all the metadata."""
    memo: dict[str, Any] = {}
    capture(tmp_path_factory.mktemp("warm"), memo=memo)
    return memo


@pytest.fixture
def memo(warm_memo: dict[str, Any]) -> dict[str, Any]:
    return dict(warm_memo)


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Git sees neither the user's config nor a repository above ``tmp_path``."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit of ``data.txt``."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    (root / "data.txt").write_text("one\n")
    git(root, "add", "data.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


def dist_info(folder: Path, name: str, version: str) -> None:
    """Install a fake distribution: the ``*.dist-info`` folder ``importlib.metadata`` reads."""
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


# --- interpreter and platform ---------------------------------------------------------------


def test_python_and_platform_fields(memo: dict[str, Any], tmp_path: Path) -> None:
    env = capture(tmp_path, memo=memo)
    assert env.python == platform.python_version()
    assert env.python.startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert env.implementation == platform.python_implementation()
    assert env.executable == sys.executable
    assert env.platform == platform.platform()
    assert env.machine == platform.machine()


def test_platform_is_memoised_by_the_kernel(memo: dict[str, Any], tmp_path: Path) -> None:
    memo[environment._PLATFORM] = (("another", "kernel"), "Elsewhere-1.0")
    assert capture(tmp_path, memo=memo).platform == platform.platform()
    key, _ = memo[environment._PLATFORM]
    memo[environment._PLATFORM] = (key, "Memoised-1.0")
    assert capture(tmp_path, memo=memo).platform == "Memoised-1.0"


def test_record_is_frozen_and_as_json_is_plain(memo: dict[str, Any], tmp_path: Path) -> None:
    env = capture(tmp_path, memo=memo)
    with pytest.raises(AttributeError):
        env.python = "2.7"  # type: ignore[misc]
    with pytest.raises(TypeError):
        env.packages["pytest"] = "0"  # type: ignore[index]
    data = env.as_json()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == set(Environment.__slots__)
    assert type(data["packages"]) is dict
    assert data["packages"] == dict(env.packages)


# --- packages -------------------------------------------------------------------------------


def test_packages_include_pytest_with_its_version(memo: dict[str, Any], tmp_path: Path) -> None:
    env = capture(tmp_path, memo=memo)
    assert env.packages["pytest"] == importlib.metadata.version("pytest")


def test_packages_are_sorted_and_normalised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    dist_info(site, "Demo_Pkg.Extra", "1.2.0")
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    packages = capture(tmp_path).packages
    assert packages["demo-pkg-extra"] == "1.2.0"
    assert list(packages) == sorted(packages)
    assert all(name == name.lower() and "_" not in name and "." not in name for name in packages)


def test_first_distribution_on_sys_path_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist_info(first, "twice", "2.0")
    dist_info(second, "twice", "1.0")
    monkeypatch.setattr(sys, "path", [str(first), *sys.path, str(second)])
    assert capture(tmp_path).packages["twice"] == "2.0" == importlib.metadata.version("twice")


# --- the memo -------------------------------------------------------------------------------


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts ``importlib.metadata.distributions()`` calls; one entry per call."""
    calls: list[int] = []
    real = importlib.metadata.distributions

    def counting(**kwargs: Any) -> Iterator[importlib.metadata.Distribution]:
        calls.append(1)
        return iter(real(**kwargs))

    monkeypatch.setattr(importlib.metadata, "distributions", counting)
    return calls


def test_memo_is_reused_when_sys_path_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    memo: dict[str, Any] = {}
    first = capture(tmp_path, memo=memo)

    def fail(**kwargs: Any) -> Any:
        raise AssertionError("distributions() was called on a memo hit")

    monkeypatch.setattr(importlib.metadata, "distributions", fail)
    second = capture(tmp_path, memo=memo)
    assert second.packages == first.packages
    assert second.packages["pytest"] == importlib.metadata.version("pytest")


def test_memo_is_recomputed_when_a_sys_path_folder_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, count_reads: list[int]
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(folder)])
    memo: dict[str, Any] = {}
    capture(tmp_path, memo=memo)
    capture(tmp_path, memo=memo)
    assert len(count_reads) == 1
    stamp = folder.stat().st_mtime_ns + 10**9
    os.utime(folder, ns=(stamp, stamp))
    capture(tmp_path, memo=memo)
    assert len(count_reads) == 2
    assert (str(folder), stamp) in memo[environment._SIGNATURE]


def test_an_install_into_a_sys_path_folder_is_seen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    # Dated back, so the install below changes the mtime even on a coarse-clock file system.
    os.utime(folder, (1_000_000, 1_000_000))
    monkeypatch.setattr(sys, "path", [*sys.path, str(folder)])
    memo: dict[str, Any] = {}
    assert "late-package" not in capture(tmp_path, memo=memo).packages
    dist_info(folder, "late_package", "0.3")
    assert capture(tmp_path, memo=memo).packages["late-package"] == "0.3"


def test_a_folder_appearing_on_sys_path_invalidates_the_memo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, count_reads: list[int]
) -> None:
    folder = tmp_path / "user-site"
    monkeypatch.setattr(sys, "path", [*sys.path, str(folder)])
    memo: dict[str, Any] = {}
    capture(tmp_path, memo=memo)
    folder.mkdir()  # e.g. the first ``pip install --user`` creates the user site folder
    capture(tmp_path, memo=memo)
    assert len(count_reads) == 2


def test_memo_survives_pickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count_reads: list[int]
) -> None:
    memo: dict[str, Any] = {}
    first = capture(tmp_path, memo=memo)
    reloaded = pickle.loads(pickle.dumps(memo))
    assert reloaded == memo
    assert capture(tmp_path, memo=reloaded) == first
    assert len(count_reads) == 1


def test_a_corrupt_memo_is_refilled(tmp_path: Path, count_reads: list[int]) -> None:
    memo: dict[str, Any] = {}
    capture(tmp_path, memo=memo)
    memo[environment._PACKAGES] = "not a mapping"
    memo[environment._PLATFORM] = "not a pair"
    env = capture(tmp_path, memo=memo)
    assert env.packages["pytest"] == importlib.metadata.version("pytest")
    assert env.platform == platform.platform()
    assert len(count_reads) == 2


def test_without_a_memo_metadata_is_read_every_time(
    tmp_path: Path, count_reads: list[int]
) -> None:
    capture(tmp_path)
    capture(tmp_path)
    assert len(count_reads) == 2


# --- git ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[Path], object]
    dirty: bool


def _touch(root: Path) -> None:
    stamp = (root / "data.txt").stat().st_mtime_ns + 10 * 10**9
    os.utime(root / "data.txt", ns=(stamp, stamp))
    # Without ``update-index --refresh`` this alone would read as dirty.
    done = subprocess.run(["git", "diff-index", "--quiet", "HEAD", "--"], cwd=root, check=False)
    assert done.returncode == 1


DIRTY_CASES = [
    Case("clean", lambda root: None, False),
    Case("modified", lambda root: (root / "data.txt").write_text("one\ntwo\n"), True),
    Case("touched but unchanged", _touch, False),
    Case("staged", lambda root: ((root / "data.txt").write_text("2\n"), git(root, "add", "-u")), True),
    Case("deleted", lambda root: (root / "data.txt").unlink(), True),
    Case("untracked file only", lambda root: (root / "new.txt").write_text("x\n"), False),
]


@pytest.mark.parametrize("case", DIRTY_CASES, ids=[c.id for c in DIRTY_CASES])
def test_git_commit_and_dirty(case: Case, repo: Path, memo: dict[str, Any]) -> None:
    case.change(repo)
    env = capture(repo, memo=memo)
    assert env.git_commit == git(repo, "rev-parse", "HEAD")
    assert env.git_dirty is case.dirty


def test_git_in_a_subfolder_of_the_repository(repo: Path, memo: dict[str, Any]) -> None:
    (repo / "project").mkdir()
    env = capture(repo / "project", memo=memo)
    assert (env.git_commit, env.git_dirty) == (git(repo, "rev-parse", "HEAD"), False)


def test_git_not_a_repository(tmp_path: Path, memo: dict[str, Any]) -> None:
    env = capture(tmp_path, memo=memo)
    assert (env.git_commit, env.git_dirty) == (None, None)


def test_git_repository_without_commits(tmp_path: Path, memo: dict[str, Any]) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "data.txt").write_text("one\n")
    env = capture(tmp_path, memo=memo)
    assert (env.git_commit, env.git_dirty) == (None, None)


def test_git_missing(monkeypatch: pytest.MonkeyPatch, repo: Path, memo: dict[str, Any]) -> None:
    empty = repo.parent / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    env = capture(repo, memo=memo)
    assert (env.git_commit, env.git_dirty) == (None, None)


def test_git_timeout(monkeypatch: pytest.MonkeyPatch, repo: Path, memo: dict[str, Any]) -> None:
    # A git that never answers: the run's record gets no git fields, after GIT_TIMEOUT.
    slow = repo / "slow-git"
    slow.mkdir()
    (slow / "git").write_text("#!/bin/sh\nsleep 30\n")
    (slow / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow}:{os.environ['PATH']}")
    monkeypatch.setattr(environment, "GIT_TIMEOUT", 0.3)
    started = time.monotonic()
    env = capture(repo, memo=memo)
    assert (env.git_commit, env.git_dirty) == (None, None)
    assert time.monotonic() - started < 5


def test_git_project_folder_gone(tmp_path: Path, memo: dict[str, Any]) -> None:
    env = capture(tmp_path / "missing", memo=memo)
    assert (env.git_commit, env.git_dirty) == (None, None)


def test_git_runs_without_optional_locks(
    monkeypatch: pytest.MonkeyPatch, repo: Path, memo: dict[str, Any]
) -> None:
    seen: list[dict[str, Any]] = []
    real = subprocess.Popen

    def spy(args: list[str], **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    capture(repo, memo=memo)
    assert len(seen) == 1  # one `git status` gives the commit and the dirty flag
    (kwargs,) = seen
    assert kwargs["env"]["GIT_OPTIONAL_LOCKS"] == "0"
    assert kwargs["cwd"] == repo
    assert kwargs["stdin"] is subprocess.DEVNULL




def test_package_maps_of_two_sys_paths_are_both_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook's process and the command line see different sys.path: alternating between
    them reads installed metadata once per sys.path, not on every switch."""
    from distill.cache.fingerprint import EnvIndex
    from distill.memo import load_state

    scans = []
    real = importlib.metadata.packages_distributions
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: scans.append(1) or real())
    state = load_state(tmp_path / "store")
    base = list(sys.path)
    other = [*base, str(tmp_path)]
    for path in (base, other, base, other, base):
        monkeypatch.setattr(sys, "path", list(path))
        assert "pytest" in EnvIndex(state)._mapping()
    assert len(scans) == 2
