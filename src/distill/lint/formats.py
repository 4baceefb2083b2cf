"""Output formats for ``distill lint``: one ``LintResult`` rendered as text, JSON, SARIF or
GitHub Actions annotations.

Responsibilities:
- ``render``: pick a format by name (one of ``FORMATS``);
- ``render_text``: one line per finding plus a summary, for a person at a terminal;
- ``render_json``: every file and finding as plain data, for scripts;
- ``render_sarif``: a SARIF 2.1.0 log that GitHub code scanning accepts;
- ``render_github``: workflow commands that annotate a pull request.

Files that could not be checked have no findings, but every format still shows them, as
rule ``DL000`` (unreadable notebook) or ``DL001`` (not a Python notebook): a run that skips a
file silently would look cleaner than it is. The renderers are pure: they return a string and
print nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from .model import FileReport, Finding, LintResult, Rule

FORMATS = ("text", "json", "sarif", "github")

UNREADABLE_CODE = "DL000"
NOT_PYTHON_CODE = "DL001"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/distill/"
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
# GitHub's own vocabulary for ``problem.severity``; it has no "info".
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "info": "recommendation"}
_COLORS = {"error": "red", "warning": "yellow", "info": "cyan"}
_PLURALS = {"info": "info"}  # "2 info", not "2 infos"


def render(
    result: LintResult,
    fmt: str,
    *,
    show_fixes: bool = False,
    color: bool = False,
    tool_version: str = "0.1.0",
) -> str:
    """Render ``result`` in the format named ``fmt``.

    Args:
        result: what lint found.
        fmt: one of ``FORMATS``.
        show_fixes: text only: print each rule's why and fix under its findings.
        color: text only: colour codes and severities with ANSI escapes.
        tool_version: the version SARIF reports for the tool.

    Returns:
        The rendered output, without a trailing newline.

    Raises:
        ValueError: ``fmt`` is not one of ``FORMATS``.

    Example:
        >>> render(LintResult(files=()), "text")
        'All checks passed: 0 notebooks.'
    """
    if fmt == "text":
        return render_text(result, show_fixes=show_fixes, color=color)
    if fmt == "json":
        return render_json(result)
    if fmt == "sarif":
        return render_sarif(result, tool_version=tool_version)
    if fmt == "github":
        return render_github(result)
    raise ValueError(f"unknown lint format {fmt!r}: choose one of {', '.join(FORMATS)}")


def _plural(count: int, word: str) -> str:
    return f"{count} {word if count == 1 else _PLURALS.get(word, word + 's')}"


def _problem(report: FileReport, rules: dict[str, Rule]) -> Finding | None:
    """The file-level finding (DL000/DL001) standing for a file that was not analysed.

    Its ``column`` is the column in the file (of the broken JSON), since it has no cell.
    """
    if report.status == "analysed":
        return None
    unreadable = report.status == "unreadable"
    code = UNREADABLE_CODE if unreadable else NOT_PYTHON_CODE
    rule = rules.get(code)
    return Finding(
        code=code,
        severity=rule.severity if rule else ("error" if unreadable else "info"),
        message=report.error or ("unreadable notebook" if unreadable else "not a Python notebook"),
        path=report.path,
        column=report.error_column,
        file_line=report.error_line,
    )


def _everything(result: LintResult) -> list[Finding]:
    """Findings and file-level problems together, in ``Finding.sort_key`` order."""
    problems = [_problem(report, result.rules) for report in result.files]
    found = [*result.findings, *(p for p in problems if p is not None)]
    return sorted(found, key=lambda f: f.sort_key)


def _file_column(finding: Finding) -> int | None:
    """The column in the ``.ipynb`` file, known only for file-level problems: a finding's
    column counts within its cell, which is not where it sits in the raw file."""
    if finding.code in (UNREADABLE_CODE, NOT_PYTHON_CODE) and finding.cell is None:
        return finding.column
    return None


def _where(finding: Finding) -> str:
    """`` (cell 3, line 2)``: where in the notebook, for readers of the raw ``.ipynb``."""
    if finding.cell is None:
        return ""
    line = f", line {finding.line}" if finding.line is not None else ""
    return f" (cell {finding.cell}{line})"


# --- text ----------------------------------------------------------------------------------


def render_text(result: LintResult, *, show_fixes: bool = False, color: bool = False) -> str:
    """One line per finding (``path:cell 3:2:5: DL103 [error] ...``), then a summary line."""
    lines: list[str] = []
    for finding in _everything(result):
        lines.append(_text_line(finding, color))
        rule = result.rules.get(finding.code)
        if show_fixes and rule is not None:
            lines += [f"    why: {rule.why}", f"    fix: {rule.fix}"]
    if lines:
        lines.append("")
    lines.append(_summary(result))
    return "\n".join(lines)


def _text_line(finding: Finding, color: bool) -> str:
    place = finding.path
    if finding.cell is not None:
        place += f":cell {finding.cell}"
        if finding.line is not None:
            place += f":{finding.line}"
            place += f":{finding.column}" if finding.column is not None else ""
    code, severity = finding.code, f"[{finding.severity}]"
    if color:
        import click  # only the coloured path needs it

        code = click.style(code, bold=True)
        severity = click.style(severity, fg=_COLORS.get(finding.severity))
    # Multi-line errors (a JSON parse error with context) stay visibly part of this record.
    message = finding.message.replace("\n", "\n    ")
    return f"{place}: {code} {severity} {message}"


def _summary(result: LintResult) -> str:
    findings = result.findings
    unreadable = sum(r.status == "unreadable" for r in result.files)
    not_python = sum(r.status == "not-python" for r in result.files)
    suppressed = sum(r.suppressed for r in result.files)
    hidden = f" ({suppressed} suppressed)" if suppressed else ""
    skipped = f"; {not_python} not Python (not checked)" if not_python else ""
    if not findings and not unreadable:
        analysed = len(result.files) - not_python
        if not analysed:
            return f"No Python notebooks to check{skipped}."
        return f"All checks passed: {_plural(analysed, 'notebook')}{hidden}{skipped}."
    if findings:
        counts = [
            _plural(n, sev)
            for sev in ("error", "warning", "info")
            if (n := sum(f.severity == sev for f in findings))
        ]
        with_findings = len({f.path for f in findings})
        head = (
            f"{_plural(len(findings), 'finding')} ({', '.join(counts)}) in {with_findings} of "
            f"{_plural(len(result.files), 'notebook')}{hidden}"
        )
    else:
        head = f"No findings{hidden}"
    broken = f"; {unreadable} unreadable" if unreadable else ""
    return f"{head}{broken}{skipped}. Failing at {result.fail_on} or above."


# --- json ----------------------------------------------------------------------------------


def render_json(result: LintResult) -> str:
    """Every file (in the order found) and its findings, plus a summary and the exit code."""
    findings = result.findings
    summary = {
        "files": len(result.files),
        "analysed": sum(r.status == "analysed" for r in result.files),
        "unreadable": sum(r.status == "unreadable" for r in result.files),
        "not_python": sum(r.status == "not-python" for r in result.files),
        "findings": len(findings),
        "by_severity": {
            sev: sum(f.severity == sev for f in findings) for sev in ("error", "warning", "info")
        },
        "suppressed": sum(r.suppressed for r in result.files),
        "fail_on": result.fail_on,
        "exit_code": result.exit_code,
    }
    files = [_json_file(report, result.rules) for report in result.files]
    return json.dumps({"version": 1, "summary": summary, "files": files}, indent=2)


def _json_file(report: FileReport, rules: dict[str, Rule]) -> dict[str, Any]:
    return {
        "path": report.path,
        "status": report.status,
        "language": report.language,
        "error": report.error,
        "error_line": report.error_line,
        "error_column": report.error_column,
        "suppressed": report.suppressed,
        "findings": [
            _json_finding(f, rules) for f in sorted(report.findings, key=lambda f: f.sort_key)
        ],
    }


def _json_finding(finding: Finding, rules: dict[str, Rule]) -> dict[str, Any]:
    # The path is the file entry's already; every other field, in the record's order.
    fields = {k: v for k, v in asdict(finding).items() if k not in ("code", "path")}
    rule = rules.get(finding.code)
    return {"code": finding.code, "name": rule.name if rule else None, **fields}


# --- sarif ---------------------------------------------------------------------------------


def render_sarif(result: LintResult, *, tool_version: str = "0.1.0") -> str:
    """A SARIF 2.1.0 log with one run, as GitHub code scanning reads it."""
    everything = _everything(result)
    # Every code a result names must be a rule, or ``ruleIndex`` would point nowhere.
    codes = sorted(set(result.rules) | {f.code for f in everything})
    index = {code: i for i, code in enumerate(codes)}
    driver = {
        "name": "distill",
        "informationUri": INFORMATION_URI,
        "version": tool_version,
        "semanticVersion": tool_version,
        "rules": [_sarif_rule(code, result.rules.get(code)) for code in codes],
    }
    broken = [r for r in result.files if r.status == "unreadable"]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{r.path}: {r.error or 'unreadable notebook'}"},
            "locations": [_sarif_location(r.path, r.error_line, r.error_column)],
            "associatedRule": {"id": UNREADABLE_CODE, "index": index[UNREADABLE_CODE]},
        }
        for r in broken
    ]
    run = {
        "tool": {"driver": driver},
        "invocations": [
            {"executionSuccessful": not broken, "toolExecutionNotifications": notifications}
        ],
        "results": [_sarif_result(f, index) for f in everything],
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2)


def _sarif_rule(code: str, rule: Rule | None) -> dict[str, Any]:
    if rule is None:
        return {"id": code}
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": f"{rule.summary}\n\nWhy: {rule.why}\n\nFix: {rule.fix}",
            "markdown": f"{rule.summary}\n\n**Why:** {rule.why}\n\n**Fix:** {rule.fix}",
        },
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {
            "tags": ["notebook", "jupyter"],
            "precision": "high",
            "problem.severity": PROBLEM_SEVERITY[rule.severity],
        },
    }


def _sarif_result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    key = "|".join([finding.path, finding.code, str(finding.cell or ""), finding.message])
    return {
        "ruleId": finding.code,
        "ruleIndex": index[finding.code],
        "level": SARIF_LEVEL[finding.severity],
        "message": {"text": finding.message + _where(finding)},
        "locations": [_sarif_location(finding.path, finding.file_line, _file_column(finding))],
        "partialFingerprints": {
            "distillFindingHash/v1": hashlib.sha256(key.encode("utf-8")).hexdigest()
        },
    }


def _sarif_location(path: str, line: int | None, column: int | None) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": line if line and line >= 1 else 1}
    if column is not None and column >= 1:
        region["startColumn"] = column
    return {"physicalLocation": {"artifactLocation": _artifact(path), "region": region}}


def _artifact(path: str) -> dict[str, str]:
    """A relative path stays relative (to ``%SRCROOT%``, the checkout); an absolute one
    becomes a ``file:`` URI. Spaces and the like are percent-encoded, as a URI needs."""
    if os.path.isabs(path):
        return {"uri": PurePath(path).as_uri()}
    return {"uri": quote(PurePath(path).as_posix(), safe="/"), "uriBaseId": "%SRCROOT%"}


# --- github --------------------------------------------------------------------------------


def render_github(result: LintResult) -> str:
    """One ``::error file=...,line=...,title=...::message`` workflow command per finding."""
    return "\n".join(_github_line(f, result) for f in _everything(result))


def _github_line(finding: Finding, result: LintResult) -> str:
    rule = result.rules.get(finding.code)
    title = f"{finding.code} {rule.name}" if rule else finding.code
    props = [f"file={_escape_property(finding.path)}", f"line={finding.file_line or 1}"]
    if (column := _file_column(finding)) is not None:
        props.append(f"col={column}")
    props.append(f"title={_escape_property(title)}")
    level = GITHUB_LEVEL[finding.severity]
    return f"::{level} {','.join(props)}::{_escape_data(finding.message + _where(finding))}"


def _escape_data(text: str) -> str:
    """Escape a workflow command's message, as GitHub's toolkit does (``%`` first)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape a workflow command's property value: also ``:`` and ``,``, its delimiters."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
