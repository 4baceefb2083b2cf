"""Shared helpers for test_validation.py and test_params.py.

- ``make_project``: a throwaway distill project (pyproject.toml, pipe.py, params files);
- ``run_cli``: ``python -m distill ...`` as a real subprocess;
- ``line_of``: the line number of ``def name`` in a source text, to pin ``pipe.py:N``;
- ``isolated_imports``: a fixture that forgets the user module ``pipe`` and restores
  ``sys.path`` after each test, because every project here has a module named ``pipe`` and
  the in-process API imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PYPROJECT = '[tool.distill]\npipeline = "pipe"\n'


def make_project(
    root: Path,
    pipe: str | None,
    *,
    params: str | None = None,
    env_params: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    pyproject: str | None = PYPROJECT,
) -> Path:
    """Write a project under ``root`` and return ``root``.

    Args:
        root: the project folder (created if needed).
        pipe: source of ``pipe.py`` (dedented), or ``None`` for no module.
        params: text of ``params.yaml`` (dedented), or ``None`` for no file.
        env_params: ``{env: text}`` for ``params.<env>.yaml`` files.
        files: other files, ``{relative path: text}``.
        pyproject: text of ``pyproject.toml``, or ``None`` for no file.
    """
    root.mkdir(parents=True, exist_ok=True)
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    if pipe is not None:
        (root / "pipe.py").write_text(textwrap.dedent(pipe).lstrip("\n"), encoding="utf-8")
    if params is not None:
        (root / "params.yaml").write_text(textwrap.dedent(params).lstrip("\n"), encoding="utf-8")
    for env, text in (env_params or {}).items():
        (root / f"params.{env}.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m distill ARGS`` and capture its output."""
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "distill", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=60,
    )


def line_of(project: Path, name: str) -> int:
    """1-based line of ``def name(`` in the project's pipe.py."""
    lines = (project / "pipe.py").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if line.startswith(f"def {name}("):
            return number
    raise AssertionError(f"no def {name} in pipe.py")


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    saved_path = list(sys.path)
    yield
    for name in [m for m in sys.modules if m == "pipe" or m.startswith("pipe.")]:
        del sys.modules[name]
    sys.path[:] = saved_path
