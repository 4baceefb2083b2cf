"""The records ``distill lint`` produces: rules, findings, per-file reports, the result.

Responsibilities:
- ``Severity`` and its order (``error`` > ``warning`` > ``info``);
- ``Rule``: the stable code, the slug, the default severity and the texts a reader needs
  (one-line summary, why it matters in production, how to fix it);
- ``Finding``: one rule firing at one place (file, cell, line);
- ``FileReport``: everything said about one file, including why it could not be analysed;
- ``LintResult``: all files, and the exit code the CLI derives from them.

Cells are numbered from 1 over *all* cells of the notebook (markdown included), which is the
position in the file's ``cells`` array plus one; lines are numbered from 1 within the cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}

FileStatus = Literal["analysed", "unreadable", "not-python"]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2


@dataclass(frozen=True, slots=True)
class Rule:
    """A lint rule's identity and its texts.

    Attributes:
        code: stable identifier, e.g. ``DL103``; never reused for another meaning.
        name: a kebab-case slug, e.g. ``use-before-define``; accepted wherever a code is.
        severity: the default severity of its findings.
        summary: what the rule detects, one line.
        why: why it matters when the notebook goes to production.
        fix: what to change.
    """

    code: str
    name: str
    severity: Severity
    summary: str
    why: str
    fix: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule firing at one place.

    Attributes:
        code: the rule's code.
        severity: the severity of this finding (the rule's, unless configured otherwise).
        message: one line saying what was found, naming the names, cells and values involved.
        path: the notebook's path as given on the command line (or found under a folder).
        cell: 1-based position of the cell in the notebook, ``None`` for notebook-wide findings.
        line: 1-based line within the cell, ``None`` when the finding is about the whole cell.
        column: 1-based column, when known.
        file_line: the line in the ``.ipynb`` file itself, for annotations on the raw file.
        execution_count: the cell's saved execution count, shown as ``[n]`` by Jupyter.
    """

    code: str
    severity: Severity
    message: str
    path: str
    cell: int | None = None
    line: int | None = None
    column: int | None = None
    file_line: int | None = None
    execution_count: int | None = None
    subject: str | None = None

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.cell or 0, self.line or 0, self.code)


@dataclass(frozen=True, slots=True)
class FileReport:
    """What lint says about one file.

    Attributes:
        path: the file as named to the user.
        status: ``analysed``, ``unreadable`` (not a notebook we can read: the error says why)
            or ``not-python`` (a notebook for another kernel language).
        findings: sorted by cell, line and code.
        error: for unreadable and non-Python files, the one clear message.
        error_line: for unreadable files, the line of the broken JSON when known.
        error_column: and its column.
        suppressed: how many findings a ``# distill: ignore`` comment silenced.
        language: the kernel language of the notebook, when known.
    """

    path: str
    status: FileStatus
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    error_line: int | None = None
    error_column: int | None = None
    suppressed: int = 0
    language: str | None = None


@dataclass(frozen=True, slots=True)
class LintResult:
    """The result of linting a set of files.

    Attributes:
        files: one report per file, in the order the files were found.
        fail_on: the lowest severity that makes the run fail.
        rules: the rules that were active, by code, for formats that describe them (SARIF).
    """

    files: tuple[FileReport, ...]
    fail_on: Severity = "warning"
    rules: dict[str, Rule] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [finding for report in self.files for finding in report.findings]

    @property
    def failing(self) -> list[Finding]:
        """Findings at or above ``fail_on``."""
        floor = RANK[self.fail_on]
        return [f for f in self.findings if RANK[f.severity] >= floor]

    @property
    def exit_code(self) -> int:
        """2 if a file was unreadable, else 1 if a finding reached ``fail_on``, else 0.

        A notebook in another language is a DL001 ``info`` finding: listed, so nothing is
        skipped silently, but it fails the gate only under ``--fail-on info``."""
        if any(report.status == "unreadable" for report in self.files):
            return EXIT_UNREADABLE
        if self.failing:
            return EXIT_FINDINGS
        if self.fail_on == "info" and any(report.status == "not-python" for report in self.files):
            return EXIT_FINDINGS  # DL001 is an info finding: it fails a gate that fails on info
        return EXIT_CLEAN
