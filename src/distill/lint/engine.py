"""Linting files and folders: configuration, discovery, checks, suppression, the result.

Responsibilities:
- ``LintConfig``: what to check and when to fail, from ``[tool.distill.lint]`` of the nearest
  ``pyproject.toml`` and then the command line (the command line wins);
- finding notebooks under folders (recursively, skipping checkpoints, hidden and virtual
  environment folders and the configured ``exclude`` globs);
- one ``FileReport`` per file: unreadable files and non-Python notebooks get their message,
  Python notebooks their findings after ``select``/``ignore``, severity overrides and
  per-cell ``# distill: ignore[...]`` comments;
- ``LintResult`` for the formats and the exit code.

Configuration::

    [tool.distill.lint]
    select = ["ALL"]                 # codes, prefixes (DL1) or names
    ignore = ["DL603", "large-output"]
    fail-on = "warning"              # error | warning | info
    exclude = ["scratch/**"]
    severity = { DL601 = "info" }
    max-cell-output-kb = 500
    max-output-kb = 2048
    sql-min-length = 80

A cell silences rules for itself with a comment: ``# distill: ignore[DL103, unseeded-random]``,
or all rules with ``# distill: ignore``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DistillError
from ..notebook.flow import analyze_notebook
from ..notebook.model import Notebook
from ..notebook.read import NotebookError, read_notebook
from .checks import CHECKS, Context, Options
from .model import SEVERITIES, FileReport, Finding, LintResult, Severity
from .rules import RULES, resolve_codes

SKIP_FOLDERS = frozenset({".ipynb_checkpoints", "node_modules", "__pycache__", "site-packages", ".git", ".venv", "venv",
                          ".tox", ".nox", ".mypy_cache", ".pytest_cache", "build", "dist"})
_LANGUAGE_NAMES = {"r": "R", "julia": "Julia", "sas": "SAS", "swift": "Swift", "scala": "Scala", "bash": "Bash",
                   "javascript": "JavaScript", "typescript": "TypeScript", "c++": "C++", "matlab": "MATLAB"}
_SUPPRESS = re.compile(r"#\s*distill:\s*ignore(?:\[([^\]]*)\])?", re.IGNORECASE)


@dataclass(frozen=True)
class LintConfig:
    """What to check, how severe each finding is, and when the run fails."""

    codes: frozenset[str] = frozenset(RULES)
    fail_on: Severity = "warning"
    exclude: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    options: Options = field(default_factory=Options)
    source: Path | None = None  # the pyproject.toml read, if any


def load_config(start: Path, *, select: Sequence[str] = (), ignore: Sequence[str] = (),
                fail_on: str | None = None, extend_exclude: Sequence[str] = ()) -> LintConfig:
    """Read ``[tool.distill.lint]`` from the nearest ``pyproject.toml`` at or above ``start``, then apply
    the command line's ``select``/``ignore``/``fail_on``.

    Raises:
        DistillError: an unknown code, severity or option, naming the file and the key.
    """
    pyproject = _nearest_pyproject(start)
    table: dict[str, Any] = {}
    if pyproject is not None:
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DistillError(f"{pyproject}: cannot read [tool.distill.lint]: {exc}") from exc
        table = data.get("tool", {}).get("distill", {}).get("lint", {}) or {}
    where = f"{pyproject} [tool.distill.lint]" if pyproject else "[tool.distill.lint]"
    known = {"select", "ignore", "fail-on", "exclude", "severity", "max-cell-output-kb", "max-output-kb", "sql-min-length"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise DistillError(f"{where}: unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(sorted(known))}")
    codes = resolve_codes(select or _strings(table, "select", where) or ["ALL"], option="--select" if select else f"{where} select")
    codes -= resolve_codes(_strings(table, "ignore", where), option=f"{where} ignore")
    codes -= resolve_codes(list(ignore), option="--ignore")
    failing = fail_on or table.get("fail-on", "warning")
    if failing not in SEVERITIES:
        raise DistillError(f"{'--fail-on' if fail_on else where + ' fail-on'}: {failing!r} is not a severity",
                           hint="use error, warning or info")
    severity: dict[str, Severity] = {}
    for key, value in (table.get("severity") or {}).items():
        if value not in SEVERITIES:
            raise DistillError(f"{where} severity.{key}: {value!r} is not a severity", hint="use error, warning or info")
        for code in resolve_codes([key], option=f"{where} severity"):
            severity[code] = value
    options = Options(**{name.replace("-", "_"): _positive(table, name, where)
                         for name in ("max-cell-output-kb", "max-output-kb", "sql-min-length") if name in table})
    exclude = tuple(_strings(table, "exclude", where)) + tuple(extend_exclude)
    return LintConfig(frozenset(codes), failing, exclude, severity, options, pyproject)


def _nearest_pyproject(start: Path) -> Path | None:
    current = start.resolve()
    if not current.is_dir():
        current = current.parent
    for folder in (current, *current.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _strings(table: dict[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DistillError(f"{where} {key}: expected a list of strings, found {value!r}")
    return value


def _positive(table: dict[str, Any], key: str, where: str) -> int:
    value = table[key]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise DistillError(f"{where} {key}: expected a positive whole number, found {value!r}")
    return value


def discover(paths: Iterable[str | Path], exclude: Sequence[str] = ()) -> list[Path]:
    """The notebooks to lint: files as given, and ``*.ipynb`` under folders, sorted.

    Raises:
        DistillError: a path that does not exist.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if d not in SKIP_FOLDERS and not d.startswith("."))
                for name in sorted(files):
                    candidate = Path(folder) / name
                    if name.endswith(".ipynb") and not _excluded(candidate, path, exclude):
                        found.append(candidate)
        elif path.suffix == ".ipynb":
            found.append(path)  # NB: a named file is linted even when excluded; a missing one is reported as unreadable
        elif path.exists():
            raise DistillError(
                f"{raw}: not a notebook (expected a .ipynb file)",
                hint="give notebook files, or folders that contain them",
            )
        else:
            raise DistillError(f"{raw}: no such file or folder", hint="give notebook files or folders that contain them")
    return list(dict.fromkeys(found))


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    relative = path.relative_to(root).as_posix()
    return any(fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(path.as_posix(), pattern) for pattern in patterns)


def lint_file(path: Path, config: LintConfig) -> FileReport:
    """Lint one notebook; never raises for bad notebooks (the report carries the error)."""
    shown = str(path)
    try:
        notebook = read_notebook(path)
    except NotebookError as exc:
        message = exc.reason + (f"\nhint: {exc.hint}" if exc.hint else "")
        return FileReport(shown, "unreadable", error=message, error_line=exc.line, error_column=exc.column)
    if not notebook.is_python:
        kernel = f" (kernel {notebook.kernel!r})" if notebook.kernel else ""
        language = _LANGUAGE_NAMES.get(notebook.language, notebook.language)
        return FileReport(shown, "not-python", language=notebook.language,
                          error=f"the kernel language is {language}{kernel}: only Python notebooks are analysed")
    try:
        findings, suppressed = _findings(notebook, shown, config)
    except (RecursionError, MemoryError) as exc:
        # NB: a limit of this machine, not a bug to hide: the file gets a DL000 saying so and the
        # other files are still linted (cells nested too deeply are already DL002 findings)
        return FileReport(shown, "unreadable", error=f"cannot be analysed: too deeply nested or too large "
                                                     f"({type(exc).__name__})\nhint: split the largest cell")
    return FileReport(shown, "analysed", tuple(findings), suppressed=suppressed, language=notebook.language)


def _findings(notebook: Notebook, shown: str, config: LintConfig) -> tuple[list[Finding], int]:
    """The findings of every check, selected, suppressed and re-ranked as configured, and how many were suppressed."""
    analysis = analyze_notebook(notebook)
    context = Context(analysis, shown, config.options)
    suppressions = {cell.number: _suppressed_codes(cell.source) for cell in notebook.code_cells}
    findings: list[Finding] = []
    suppressed = 0
    for check in CHECKS:
        for finding in check(context):
            if finding.code not in config.codes:
                continue
            if finding.code in suppressions.get(finding.cell or 0, ()):
                suppressed += 1
                continue
            if finding.code in config.severity:
                finding = dataclasses.replace(finding, severity=config.severity[finding.code])
            findings.append(finding)
    findings.sort(key=lambda f: f.sort_key)
    return findings, suppressed


def _suppressed_codes(source: str) -> frozenset[str]:
    """The codes a cell silences: those named in ``# distill: ignore[...]``, or all for a bare comment."""
    codes: set[str] = set()
    for match in _SUPPRESS.finditer(source):
        if match.group(1) is None:
            return frozenset(RULES)
        try:
            codes |= resolve_codes([match.group(1)], option="# distill: ignore")
        except DistillError:
            continue  # an unknown code in a comment silences nothing rather than failing the run
    return frozenset(codes)


def lint_paths(paths: Sequence[str | Path], config: LintConfig | None = None) -> LintResult:
    """Lint files and folders.

    Example:
        >>> result = lint_paths(["notebooks/"])  # doctest: +SKIP
        >>> result.exit_code  # doctest: +SKIP
        1
    """
    if config is None:
        config = load_config(Path(paths[0]) if paths else Path.cwd())
    files = discover(paths, config.exclude)
    reports = tuple(lint_file(path, config) for path in files)
    rules = {code: rule for code, rule in RULES.items() if code in config.codes or code in ("DL000", "DL001")}
    rules = {code: dataclasses.replace(rule, severity=config.severity.get(code, rule.severity)) for code, rule in rules.items()}
    return LintResult(reports, config.fail_on, rules)

