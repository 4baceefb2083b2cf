"""``distill lint``: the command line over ``distill.lint``.

Thin: options are parsed here, the work is ``lint.engine.lint_paths`` and the output is
``lint.formats.render``. Exit codes: 0 clean, 1 findings at or above ``--fail-on`` (with
``--execute``: findings the fresh-kernel run did not refute, or a cell that fails there),
2 unreadable input, a path that is not a notebook, or bad options. A notebook in another
language is a DL001 ``info`` finding and does not fail the default gate.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import fail

if TYPE_CHECKING:
    from ..lint.model import Finding, LintResult

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="Output format (sarif: GitHub code scanning; github: workflow annotations).")
@click.option("--select", multiple=True, metavar="CODES", help="Check only these codes, prefixes (DL1) or names (repeatable).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Do not check these (repeatable, comma-separated).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default=None,
              help="Lowest severity that fails the run (default: warning, or fail-on in [tool.distill.lint]).")
@click.option("--show-fixes", is_flag=True, help="Print why each finding matters and how to fix it.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write the report to FILE instead of stdout.")
@click.option("--list-rules", is_flag=True, help="List every rule and exit.")
@click.option("--execute", is_flag=True, help="Also run each notebook in a fresh kernel and confirm or refute the hidden-state findings.")
@click.option("--timeout", type=float, default=600.0, show_default=True, metavar="SECONDS", help="Time limit per notebook for --execute.")
def lint(paths: tuple[Path, ...], fmt: str, select: tuple[str, ...], ignore: tuple[str, ...], fail_on: str | None,
         show_fixes: bool, output: Path | None, list_rules: bool, execute: bool, timeout: float) -> None:
    """Find hidden state and production hazards in notebooks (files or folders, recursively).

    \b
    distill lint notebooks/                     every notebook under notebooks/
    distill lint nb.ipynb --show-fixes          why each finding matters, how to fix it
    distill lint . --format sarif -o lint.sarif for GitHub code scanning
    distill lint nb.ipynb --execute             confirm findings in a fresh kernel

    A cell silences rules for itself with `# distill: ignore[DL103]` (or `# distill: ignore`).
    """
    from ..errors import DistillError
    from ..lint.engine import lint_paths, load_config
    from ..lint.formats import render

    if list_rules:
        _list_rules()
        return
    if not paths:
        raise click.UsageError("give at least one notebook or folder, e.g. `distill lint notebooks/`")
    try:
        config = load_config(paths[0], select=select, ignore=ignore, fail_on=fail_on)
        result = lint_paths(paths, config)
    except DistillError as exc:
        fail(exc)
    color = fmt == "text" and output is None and sys.stdout.isatty()
    text = render(result, fmt, show_fixes=show_fixes, color=color, tool_version=_version())
    if output is not None:
        _write_atomically(output, text + "\n")
        click.echo(f"wrote {output} ({len(result.findings)} findings)", err=True)
    else:
        click.echo(text)
    code = result.exit_code
    if execute and code != 2:
        code = _execute(result, timeout)
    sys.exit(code)


def _execute(result: LintResult, timeout: float) -> int:
    """Run every analysed notebook in a fresh kernel; the gate is then what the run did not
    refute: 1 if a finding at or above ``--fail-on`` was confirmed or could not be judged, or
    a cell failed; 0 if every such finding was refuted and every cell ran."""
    from ..errors import DistillError
    from ..lint.execute import check_findings, render_check, run_fresh

    failed = False
    refuted: set[Finding] = set()
    for report in result.files:
        if report.status != "analysed":
            continue
        click.echo(f"\nrunning {report.path} in a fresh kernel (limit {timeout:g}s)...", err=True)
        try:
            execution = run_fresh(report.path, timeout=timeout)
        except DistillError as exc:
            click.echo(f"Error: {exc}", err=True)
            return exc.exit_code
        check = check_findings(report.findings, execution)
        click.echo(render_check(check))
        refuted.update(v.finding for v in check.verdicts if v.outcome == "refuted")
        failed = failed or execution.error is not None or any(cell.status != "ok" for cell in execution.cells)
    standing = [f for f in result.failing if f not in refuted]
    if failed or standing:
        return 1
    return 1 if result.exit_code == 1 and not result.failing else 0


def _list_rules() -> None:
    from ..lint.rules import RULES

    for rule in RULES.values():
        click.echo(f"{rule.code}  {rule.name:<26} {rule.severity:<8} {rule.summary}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("distill")
    except PackageNotFoundError:
        return "0.0.0"


def _write_atomically(path: Path, text: str) -> None:
    """Write the whole report or nothing: a CI step never uploads half a SARIF file."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
