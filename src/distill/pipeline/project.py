"""Finding a project and reading its configuration.

Responsibilities:
- ``find_project(start)``: the nearest folder at or above ``start`` whose ``pyproject.toml``
  has a ``[tool.distill]`` table, read into a frozen ``Project``;
- where the project's code lives (``src/`` or the root) and where its store is.

A project is never installed or imported to be found: this reads one TOML file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProjectError

CONFIG_HINT = 'add to pyproject.toml:\n\n    [tool.distill]\n    pipeline = "mypackage.pipeline"\n'


@dataclass(frozen=True, slots=True)
class Project:
    """A distill project.

    Attributes:
        root: the folder holding ``pyproject.toml``.
        pipeline: dotted names of the pipeline modules or packages.
        source_roots: folders searched for modules, ``src/`` first when it exists.
        store: the folder of the local store (``.distill`` unless configured).
        config: the ``[tool.distill]`` table as read.
    """

    root: Path
    pipeline: tuple[str, ...]
    source_roots: tuple[Path, ...]
    store: Path
    config: dict[str, object]

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the project root when inside it, for messages and keys."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def find_project(start: str | os.PathLike[str] | None = None) -> Project:
    """Find and read the project at or above ``start`` (the current folder by default).

    Raises:
        ProjectError: no such folder, no configured pyproject.toml, or a bad configuration.
    """
    begin = Path(start if start is not None else os.getcwd()).resolve()
    if not begin.exists():
        raise ProjectError(f"project folder {begin} does not exist", hint="check the path given to -C")
    folder = begin if begin.is_dir() else begin.parent
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            table = _distill_table(pyproject)
            if table is not None:
                return _project_from(candidate, pyproject, table)
    raise ProjectError(
        f"no pyproject.toml with a [tool.distill] table in {folder} or any folder above it",
        hint=CONFIG_HINT,
    )


def _distill_table(pyproject: Path) -> dict[str, object] | None:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{pyproject}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{pyproject}: not UTF-8 text: {exc}") from exc
    tool = data.get("tool")
    table = tool.get("distill") if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else None


def _project_from(root: Path, pyproject: Path, table: dict[str, object]) -> Project:
    pipeline = table.get("pipeline")
    names: list[str]
    if isinstance(pipeline, str):
        names = [pipeline]
    elif isinstance(pipeline, list) and all(isinstance(p, str) for p in pipeline):
        names = list(pipeline)
    else:
        raise ProjectError(
            f"{pyproject}: [tool.distill] pipeline must be a module name such as "
            f'"mypackage.pipeline", found {pipeline!r}',
            hint=CONFIG_HINT,
        )
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ProjectError(
                f"{pyproject}: [tool.distill] pipeline {name!r} is not a dotted module name",
                hint=CONFIG_HINT,
            )
    roots = tuple(p for p in (root / "src", root) if p.is_dir())
    store_setting = table.get("store", ".distill")
    if not isinstance(store_setting, str):
        raise ProjectError(f"{pyproject}: [tool.distill] store must be a folder path, found {store_setting!r}")
    # The environment wins over the file: a CI job or a read-only checkout points the store
    # elsewhere without editing the project. A relative path is taken from the project root.
    store_setting = os.environ.get("DISTILL_STORE") or store_setting
    store = (root / os.path.expanduser(store_setting)).resolve()
    return Project(root, tuple(names), roots, store, dict(table))
