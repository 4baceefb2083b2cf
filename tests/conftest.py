"""Shared fixtures: small projects written to temp folders, and the CLI run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

PAST = time.time() - 3600


@pytest.fixture(autouse=True, scope="session")
def _own_store_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests make their store key under a folder of their own, never in the user's home."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    os.environ.pop("DISTILL_STORE_KEY", None)
    os.environ.pop("DISTILL_STORE", None)

_clock = [PAST]


def write(path: Path, text: str, *, age: bool = True) -> Path:
    """Write ``text`` (dedented) and, by default, date the file an hour back.

    Dating files back keeps them out of distill's racy-timestamp window, so a test sees the
    memoised (fast) path the way a user re-running later would.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    if age:
        _clock[0] += 1.0  # every write gets its own (past) mtime, as real edits do
        os.utime(path, (_clock[0], _clock[0]))
    return path


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """``make_project(files={"pipe.py": ..., "lib.py": ...}, pipeline="pipe")`` -> project dir."""

    def make(files: dict[str, str], pipeline: str = "pipe") -> Path:
        root = tmp_path / "proj"
        write(root / "pyproject.toml", f'[tool.distill]\npipeline = "{pipeline}"\n')
        for name, text in files.items():
            write(root / name, text)
        return root

    return make


def cli(project: Path, *args: str, check: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``distill ARGS -C project`` in a fresh interpreter."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "distill", *args, "-C", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def status_json(project: Path, *args: str) -> dict[str, dict[str, object]]:
    proc = cli(project, "status", "--json", *args, check=0)
    return {item["step"]: item for item in json.loads(proc.stdout)}


def ran_steps(proc: subprocess.CompletedProcess[str]) -> set[str]:
    """Steps a `distill run` printed as executed (`[i/n] ✓ step ran in ...`)."""
    out = set()
    for line in proc.stderr.splitlines():
        if "] ✓ " in line and " ran in " in line:
            out.add(line.split("] ✓ ", 1)[1].split(" ran in ")[0])
    return out
