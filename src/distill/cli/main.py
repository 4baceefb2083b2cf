"""``distill`` commands.

Wiring (click) and thin commands; logic lives in ``distill.api``. Imports inside command
bodies keep ``distill --help`` instant. Exit codes: 0 success, 1 a step failed, 2 bad input.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from .errors import fail as _fail

if TYPE_CHECKING:
    from ..execute.runner import RunResult

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

project_option = click.option(
    "-C", "--project", "project", default=None, metavar="DIR", help="Project folder (default: the current one)."
)
set_option = click.option("--set", "overrides", multiple=True, metavar="K=V", help="Override a param (repeatable).")
env_option = click.option("--env", default=None, metavar="NAME", help="Overlay params.NAME.yaml on params.yaml.")


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="distill", message="distill %(version)s")
def cli() -> None:
    """distill: notebooks into tested, cached, reproducible pipelines.

    \b
    distill run       run what is stale, reuse what is cached
    distill status    every step fresh or stale, and why
    distill show      where an output came from, and what it holds
    distill doctor    check the store, repair what is damaged
    distill lint      hidden state and production hazards in notebooks
    distill convert   a notebook becomes a project of pure, tested steps
    distill verify    run notebook and pipeline, compare every output
    """


def _register() -> None:
    from .convert import convert, verify
    from .lint import lint

    cli.add_command(lint)
    cli.add_command(convert)
    cli.add_command(verify)


def _print_plans(plans: list[dict[str, Any]], *, err: bool = False) -> None:
    width = max((len(p["step"]) for p in plans), default=4)
    counts = {"fresh": 0, "stale": 0, "recheck": 0}
    for p in plans:
        counts[p["state"]] += 1
        if p["state"] == "fresh":
            click.echo(f"  {p['step']:<{width}}  fresh", err=err)
            continue
        label = f"{p['state']}: "
        click.echo(f"  {p['step']:<{width}}  {label}{p['reasons'][0]}", err=err)
        for reason in p["reasons"][1:]:
            click.echo(f"  {'':<{width}}  {'':<{len(label)}}{reason}", err=err)
    summary = f"{counts['fresh']} fresh, {counts['stale']} stale"
    if counts["recheck"]:
        summary += f", {counts['recheck']} to recheck"
    click.echo(summary, err=err)


class _Explain:
    """Prints the plan before the run starts (``--explain``); to stderr when stdout is JSON."""

    def __init__(self, *, err: bool = False) -> None:
        self.err = err

    def on_plan(self, *, decisions: list[dict[str, Any]], **extra: object) -> None:
        _print_plans(decisions, err=self.err)


def _run_json(result: RunResult) -> dict[str, Any]:
    """``distill run --json``: the run and every step's result, in the order they finished."""
    counts = dict.fromkeys(("ran", "cached", "failed", "skipped"), 0)
    counts.update(result.counts())
    fields = ("step", "status", "duration", "attempts", "key", "error", "reason", "metrics")
    return {
        "run_id": result.run_id,
        "status": result.status,
        "duration": result.duration,
        "counts": counts,
        "steps": [{f: getattr(r, f) for f in fields} for r in result.steps.values()],
    }


@cli.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@project_option
@set_option
@env_option
@click.option("--force", multiple=True, metavar="STEP", help="Re-run STEP even if cached (repeatable).")
@click.option("--explain", is_flag=True, help="Print why each step is stale before running.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures, warnings and the summary.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON object on stdout (progress stays on stderr)."
)
def run(
    targets: tuple[str, ...],
    project: str | None,
    overrides: tuple[str, ...],
    env: str | None,
    force: tuple[str, ...],
    explain: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the pipeline (or TARGETS and what they need), reusing cached results.

    Progress goes to stderr: a live display on a terminal, one line per event otherwise.
    """
    from ..api import run as run_api
    from ..execute.runner import RunInterrupted
    from ..pipeline.params import parse_set
    from .progress import make_progress

    progress = make_progress(quiet=quiet)
    hooks: list[object] = [_Explain(err=as_json), progress] if explain else [progress]
    try:
        try:
            result = run_api(
                targets,
                project=project,
                params=parse_set(list(overrides)),
                env=env,
                force=force,
                hooks=hooks,
                command="distill run " + " ".join(sys.argv[2:]),
            )
        finally:
            # However the run ends (a failure, a bad input, Ctrl-C), the live display goes
            # before anything else is printed.
            progress.close()
    except RunInterrupted as stop:
        done = stop.result.counts()
        kept = done.get("ran", 0) + done.get("cached", 0)
        click.echo(
            f"\ninterrupted: run {stop.result.run_id} stopped; {kept} step(s) finished and were kept "
            f"({done.get('ran', 0)} ran, {done.get('cached', 0)} cached); nothing half-written was stored.\n"
            "  hint: run `distill run` again to go on from there.",
            err=True,
        )
        if as_json:
            click.echo(json.dumps(_run_json(stop.result), indent=2, ensure_ascii=False))
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("\ninterrupted before any step ran; nothing was stored.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - _fail re-raises what is not ours
        _fail(exc)
        return
    counts = result.counts()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    click.echo(f"run {result.run_id}: {summary} in {result.duration:.2f}s", err=True)
    if as_json:
        click.echo(json.dumps(_run_json(result), indent=2, ensure_ascii=False))
    if not result.ok:
        for step, error in progress.failures:
            click.echo(f"\nstep {step} failed:\n{error.rstrip()}", err=True)
        failed = [s for s, r in result.steps.items() if r.status == "failed"]
        click.echo(
            f"\nError: {len(failed)} step(s) failed: {', '.join(failed)}; finished steps are cached.\n"
            "  hint: fix the step and run `distill run` again: only the failed steps and what "
            "depends on them will run.",
            err=True,
        )
        sys.exit(1)


@cli.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@project_option
@set_option
@env_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list of {step, state, reasons}; state is fresh, stale or recheck."
)
def status(targets: tuple[str, ...], project: str | None, overrides: tuple[str, ...], env: str | None, as_json: bool) -> None:
    """Every step fresh or stale, and for each stale step why. Runs nothing."""
    from ..api import status as plan_status
    from ..pipeline.params import parse_set

    try:
        plans = plan_status(targets, project=project, params=parse_set(list(overrides)), env=env)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    records = [p.as_json() for p in plans]
    if as_json:
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        _print_plans(records)


@cli.command(context_settings=CONTEXT)
@click.argument("name")
@project_option
@set_option
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name: str, project: str | None, overrides: tuple[str, ...], env: str | None, as_json: bool) -> None:
    """Where output NAME came from, and a summary of what it holds."""
    from ..api import show as show_api
    from ..pipeline.params import parse_set

    try:
        infos = show_api(name, project=project, params=parse_set(list(overrides)), env=env)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(i) for i in infos], indent=2, default=str))
        return
    for info in infos:
        click.echo(f"{info.name}")
        click.echo(f"  step:     {info.step}  ({info.where})")
        click.echo(f"  state:    {'fresh' if info.fresh else info.state + ': ' + '; '.join(info.reasons)}")
        if info.hash is None:
            click.echo("  value:    never computed; run `distill run " + info.step + "`")
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.created)) if info.created else "?"
        click.echo(f"  computed: {when} by run {info.run_id} in {info.duration or 0:.2f}s")
        click.echo(f"  stored:   {info.kind} object {info.hash[:16]}…, {info.summary.get('bytes', '?')} bytes")
        summary = info.summary
        click.echo(f"  type:     {summary.get('type', '?')}")
        if "rows" in summary:
            click.echo(f"  shape:    {summary['rows']} rows × {summary['columns']} columns")
            cols = ", ".join(f"{c}: {summary.get('dtypes', {}).get(c, '?')}" for c in summary.get("column_names", [])[:12])
            click.echo(f"  columns:  {cols}{' …' if summary.get('columns', 0) > 12 else ''}")
        elif "shape" in summary:
            click.echo(f"  shape:    {tuple(summary['shape'])}  dtype: {summary.get('dtype', '?')}")
        if "value" in summary:
            click.echo(f"  value:    {summary['value']!r}")
        elif "length" in summary:
            click.echo(f"  length:   {summary['length']}")


@cli.command(context_settings=CONTEXT)
@project_option
@click.option("--store", "store", default=None, metavar="DIR", help="The store folder (default: the project's).")
@click.option("--check", "check_only", is_flag=True, help="Only report; repair nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(project: str | None, store: str | None, check_only: bool, as_json: bool) -> None:
    """Check the store and repair it: damaged objects, a damaged index (its readable rows are
    kept), memos, temp files of killed runs. Exit 0 when healthy afterwards, 1 when not."""
    from pathlib import Path

    from ..doctor import check
    from ..pipeline.project import find_project

    try:
        folder = Path(store).resolve() if store else find_project(project).store
        report = check(folder, repair=not check_only)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        for finding in report.findings:
            mark = "repaired" if finding.repaired else ("problem" if finding.problem else "note")
            click.echo(f"  {mark:<8}  {finding.path}: {finding.message}")
        salvaged = sum(report.salvaged.values())
        tail = f", {salvaged} index rows salvaged" if report.salvaged else ""
        verdict = "healthy" if report.healthy else "NOT healthy"
        click.echo(f"store {report.store}: {report.objects} objects checked{tail}; {verdict}")
    sys.exit(0 if report.healthy else 1)


_register()


def main() -> None:
    cli(prog_name="distill")


if __name__ == "__main__":
    main()
