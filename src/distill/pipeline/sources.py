"""The project's modules, read from source and memoised by file stat.

Responsibilities:
- resolve a dotted module name to a file under the project's source roots (never importing);
- analyse each module once per change (``analysis.source.analyze_module``), reusing the
  record kept in the state file while the file is unchanged;
- list the pipeline modules (a module, or every module of a package).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..analysis.source import ModuleInfo, analyze_module
from ..errors import ProjectError
from ..memo import State, stat_key, trusted
from .project import Project

TABLE = "modules"


class Sources:
    """Module records of one project, loaded lazily."""

    def __init__(self, project: Project, state: State) -> None:
        self.project = project
        self.state = state
        self._located: dict[str, tuple[str, bool] | None] = {}
        self._modules: dict[str, ModuleInfo | None] = {}
        self.parsed: list[str] = []  # files actually parsed in this process (for tests, benchmarks)

    def locate(self, name: str) -> tuple[str, bool] | None:
        """``(path, is_package)`` of a project module, or ``None`` for anything else."""
        if name in self._located:
            return self._located[name]
        found: tuple[str, bool] | None = None
        parts = name.split(".")
        for root in self.project.source_roots:
            base = root.joinpath(*parts)
            init = base / "__init__.py"
            if init.is_file():
                found = (str(init), True)
                break
            module = base.with_suffix(".py")
            if module.is_file():
                found = (str(module), False)
                break
            if base.is_dir() and len(parts) >= 1 and root != self.project.root:
                # NB: a namespace package (a folder without __init__.py) under src/:
                #     src/pkg/steps.py with no src/pkg/__init__.py
                found = ("", True)
                break
        self._located[name] = found
        return found

    def module(self, name: str) -> ModuleInfo | None:
        """The record of project module ``name``, or ``None`` if it is not a project module."""
        if name in self._modules:
            return self._modules[name]
        located = self.locate(name)
        info: ModuleInfo | None = None
        if located is not None:
            path, is_package = located
            info = self._analyse(name, path, is_package) if path else ModuleInfo(name, "", True)
        self._modules[name] = info
        return info

    def _analyse(self, name: str, path: str, is_package: bool) -> ModuleInfo:
        table = self.state.table(TABLE)
        st = os.stat(path)
        entry = table.get((path, name))
        if entry is not None and trusted(st, entry[0], entry[1]):
            return entry[2]  # type: ignore[no-any-return]
        recorded = time.time_ns()
        with open(path, "rb") as handle:
            raw = handle.read()
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProjectError(f"{path}: not UTF-8 text ({exc})") from exc
        rel = self.project.relative(path)
        info = analyze_module(source, name, rel, is_package=is_package)
        self.parsed.append(rel)
        self.state.put(TABLE, (path, name), (stat_key(st), recorded, info))
        return info

    def located(self) -> list[str]:
        """The name of every project module located so far."""
        return [name for name, found in self._located.items() if found is not None]

    def files(self) -> list[str]:
        """The file of every project module located so far."""
        return [found[0] for found in self._located.values() if found is not None and found[0]]

    def pipeline_modules(self) -> list[ModuleInfo]:
        """Every module that may hold steps, in a stable order.

        Raises:
            ProjectError: a configured pipeline module does not exist.
        """
        names: list[str] = []
        for configured in self.project.pipeline:
            located = self.locate(configured)
            if located is None:
                roots = ", ".join(self.project.relative(r) or "." for r in self.project.source_roots)
                raise ProjectError(
                    f"pipeline module {configured!r} (from [tool.distill] in pyproject.toml) "
                    f"was not found under {roots or 'the project folder'}",
                    hint=f"create {configured.replace('.', '/')}.py under src/ or the project root, "
                    "or fix the name in pyproject.toml",
                )
            names.append(configured)
            path, is_package = located
            if is_package:
                folder = Path(path).parent if path else self._package_dir(configured)
                names.extend(_submodules(folder, configured))
        modules = []
        for name in names:
            info = self.module(name)
            if info is not None:
                modules.append(info)
        return modules

    def _package_dir(self, name: str) -> Path:
        for root in self.project.source_roots:
            folder = root.joinpath(*name.split("."))
            if folder.is_dir():
                return folder
        raise ProjectError(f"package {name!r} not found")


def _submodules(folder: Path, package: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith((".", "_")) and entry.name != "__init__.py":
            continue
        if entry.is_dir() and entry.name.isidentifier() and entry.name != "__pycache__":
            sub = f"{package}.{entry.name}"
            if (Path(entry.path) / "__init__.py").is_file():
                found.append(sub)
                found.extend(_submodules(Path(entry.path), sub))
        elif entry.is_file() and entry.name.endswith(".py") and entry.name != "__init__.py":
            stem = entry.name[:-3]
            if stem.isidentifier():
                found.append(f"{package}.{stem}")
    return found
