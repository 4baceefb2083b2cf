"""``distill convert`` and ``distill verify``: the command line over ``distill.convert``.

Exit codes: convert 0 written, 2 refused or bad input (nothing written); verify 0 every
output equal, 1 a value differs or a run failed, 2 bad input, 3 equal except values that
cannot be compared: from unseeded randomness or the clock, or not savable (listed with why).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import fail

if TYPE_CHECKING:
    from ..convert.verify import Verification

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.command(context_settings=CONTEXT)
@click.argument("notebook", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The project folder to create.")
@click.option("--name", default=None, help="Python package name (default: from the notebook's file name).")
@click.option("--force", is_flag=True,
              help="Write to an existing OUTPUT (once the new project is complete): an unchanged earlier conversion "
                   "is replaced, anything else is moved aside to OUTPUT.old-<time>; nothing is deleted.")
def convert(notebook: Path, output: Path, name: str | None, force: bool) -> None:
    """Turn a notebook into a distill project of pure, tested steps.

    \b
    distill convert analysis.ipynb -o analysis      then: cd analysis && distill run
    distill verify analysis.ipynb analysis          proves the pipeline gives the notebook's values
    """
    from ..convert.project import convert as run_convert

    try:
        result = run_convert(notebook, output, name=name, force=force)
    except Exception as exc:  # noqa: BLE001 - fail re-raises what is not ours
        fail(exc)
    if result.moved_aside is not None:
        click.echo(f"moved the previous {result.output}/ to {result.moved_aside}/ (it held files convert did not "
                   "write, or changed ones)")
    click.echo(f"wrote {result.output}/ ({_count(len(result.files), 'file')}): {_count(len(result.steps), 'step')}, "
               f"{_count(len(result.helpers), 'helper')}, {_count(len(result.params), 'param')}")
    click.echo(f"  pipeline   {result.output}/src/{result.package}/pipeline.py")
    click.echo(f"  report     {result.output}/CONVERSION.md")
    for warning in result.warnings:
        click.echo(f"  warning    {warning}")
    if result.environment:
        click.echo("  secrets    read from the environment: set " + ", ".join(v for v, _ in result.environment)
                   + " before `distill run` (for " + ", ".join(p for _, p in result.environment) + ")")
    click.echo(f"next: distill verify {notebook} {output}")


@click.command(context_settings=CONTEXT)
@click.argument("notebook", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("project", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--timeout", type=float, default=900.0, show_default=True, metavar="SECONDS",
              help="Time limit for the notebook run and for the pipeline run.")
@click.option("--rtol", type=float, default=1e-7, show_default=True, help="Relative tolerance for numbers.")
@click.option("--atol", type=float, default=1e-9, show_default=True, help="Absolute tolerance for numbers.")
@click.option("--no-record", is_flag=True, help="Do not write tests/expected/ and tests/recorded/.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout (progress stays on stderr).")
def verify(notebook: Path, project: Path, timeout: float, rtol: float, atol: float, no_record: bool,
           as_json: bool) -> None:
    """Run the notebook (fresh kernel) and the pipeline, and compare every step output.

    Exit 0 every output equal; 1 a value differs or is missing, or the pipeline failed; 2 the
    notebook fails in a fresh kernel, or bad input; 3 equal except values that cannot be
    compared (nondeterministic: they differ between two runs of the notebook itself)."""
    from ..convert.verify import verify as run_verify

    try:
        result = run_verify(notebook, project, timeout=timeout, record=not no_record, rtol=rtol, atol=atol, log=_say)
    except Exception as exc:  # noqa: BLE001 - fail re-raises what is not ours
        fail(exc)
    click.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False) if as_json else render(result))
    sys.exit(result.exit_code)


def render(result: Verification) -> str:
    """The table of compared outputs, the details of those not equal, and a summary line."""
    rows = [("output", "step", "notebook", "pipeline", "equal?")]
    mark = {"equal": "yes", "different": "NO", "incomparable": "not comparable", "missing": "NO (missing)"}
    for row in result.rows:
        rows.append((row.name, row.step, row.notebook, row.pipeline, mark[row.status]))
    widths = [min(40, max(len(r[i]) for r in rows)) for i in range(5)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(cell[:widths[j]].ljust(widths[j]) for j, cell in enumerate(r)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    details = [r for r in result.rows if r.status != "equal"]
    if details:
        lines.append("")
        for row in details:
            lines.append(f"{row.name}: {row.detail}")
    if result.cells:
        lines += ["", "cells with output  covered by", "-----------------  ----------"]
        for c in result.cells:
            covered = ", ".join(c.covered_by) or "—"
            why = f" ({c.reason})" if c.reason else "" if c.covered_by else " (NOT COVERED)"
            lines.append(f"cell {c.cell}".ljust(17) + "  " + covered + why)
    counts = {s: sum(1 for r in result.rows if r.status == s) for s in mark}
    lines.append("")
    lines.append(f"{counts['equal']} equal, {counts['different']} different, {counts['missing']} missing, "
                 f"{counts['incomparable']} not comparable (unseeded randomness, the clock, or values that cannot be saved) "
                 f"- notebook {result.notebook_seconds:.1f}s, pipeline {result.pipeline_seconds:.1f}s")
    if result.recorded:
        lines.append(f"recorded {len(result.recorded)} values in tests/expected/ and "
                     f"{len(result.recorded_calls)} helper calls in tests/recorded/ for the project's tests")
    return "\n".join(lines)
