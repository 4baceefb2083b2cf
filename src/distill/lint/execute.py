"""Ground truth for the lint rules a fresh kernel can check: run the notebook, compare.

Responsibilities:
- ``run_fresh``: execute a copy of a notebook top to bottom in a new kernel (nbclient), in the
  notebook's folder, under a total time budget and an optional per-cell limit, recording for
  each code cell whether it ran, raised (which exception), timed out or never ran;
- ``check_findings``: turn each confirmable static finding (DL002, DL103, DL104) into a
  ``Verdict`` (confirmed, refuted or undetermined, with the reason), and list the cells that
  failed in a way a rule should have predicted but none did;
- ``render_check``: the plain-text table and summary line shown in the terminal.

Why these three rules: each predicts an exception a fresh kernel raises at a known cell.
DL002 (the cell does not parse) predicts ``SyntaxError``; DL103 (used before the cell that
defines it) and DL104 (defined by no cell) predict ``NameError`` naming ``finding.subject``.
Other rules describe hidden state that a single run cannot show, so they are ignored here.

Cells are numbered as everywhere in lint: 1-based over *all* cells, markdown included. Only
code cells get a ``CellRun``. The file on disk is only read, never written; nbclient and
nbformat are imported when a notebook is run, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import DistillError
from ..notebook.kernel import NotebookNode, import_runtime, installed_kernel, read_node
from ..notebook.read import NotebookError, read_notebook
from .model import Finding

CellStatus = Literal["ok", "error", "not-run", "timeout"]
Outcome = Literal["confirmed", "refuted", "undetermined"]
STATUSES: tuple[CellStatus, ...] = ("ok", "error", "timeout", "not-run")

CONFIRMABLE = frozenset({"DL002", "DL103", "DL104"})
"""The rules whose findings a fresh kernel can confirm or refute."""

SYNTAX_ERRORS = frozenset({"SyntaxError", "IndentationError", "TabError"})
NAME_ERRORS = frozenset({"NameError", "UnboundLocalError"})
EVALUE_LIMIT = 200
SKIP_TAG = "skip-execution"  # nbclient's default ``skip_cells_with_tag``

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CellRun:
    """What happened to one code cell in the fresh kernel.

    Attributes:
        number: 1-based position among all cells of the notebook (markdown included).
        status: ``ok`` (ran without raising), ``error`` (raised), ``timeout`` (stopped after
            its time limit) or ``not-run`` (never started: an earlier cell timed out, the
            kernel died or did not start, or the cell is tagged ``skip-execution``).
        ename: for ``error``, the exception's class name, e.g. ``NameError``.
        evalue: for ``error``, its message, cut to 200 characters.
    """

    number: int
    status: CellStatus
    ename: str | None = None
    evalue: str | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    """One top-to-bottom run of a notebook in a fresh kernel.

    Attributes:
        path: the notebook, as given to ``run_fresh``.
        cells: one record per code cell, in document order.
        elapsed: wall-clock seconds, kernel start and shutdown included.
        error: why the run as a whole failed (the kernel did not start or died, the total
            budget ran out), or ``None``. Cells that ran before the failure keep their status.
    """

    path: str
    cells: tuple[CellRun, ...]
    elapsed: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the fresh run says about one static finding.

    Attributes:
        finding: the finding judged.
        outcome: ``confirmed`` (the predicted exception happened at that cell), ``refuted``
            (the run shows the prediction wrong, e.g. the cell ran without error) or
            ``undetermined`` (the run cannot tell: the cell did not run, timed out, or raised
            something else first).
        detail: one line saying why, quoting the exception when there was one.
    """

    finding: Finding
    outcome: Outcome
    detail: str


@dataclass(frozen=True, slots=True)
class Check:
    """The static findings of one notebook held against one fresh run of it.

    Attributes:
        execution: the run.
        verdicts: one per confirmable finding, sorted by cell, line and code.
        missed: cells that raised ``NameError``/``SyntaxError`` (or a subclass) although no
            confirmable finding points at them: failures no rule predicted.
        cascades: ``NameError`` cells whose name a cell above binds, but that cell failed
            or did not run: consequences of an earlier failure, not missed predictions.
    """

    execution: Execution
    verdicts: tuple[Verdict, ...]
    missed: tuple[CellRun, ...]
    cascades: tuple[CellRun, ...] = ()

    @property
    def counts(self) -> dict[Outcome, int]:
        """How many verdicts of each outcome, every outcome present."""
        counts: dict[Outcome, int] = {"confirmed": 0, "refuted": 0, "undetermined": 0}
        for verdict in self.verdicts:
            counts[verdict.outcome] += 1
        return counts

    @property
    def precision(self) -> float | None:
        """confirmed / (confirmed + refuted); ``None`` when no verdict was decided."""
        counts = self.counts
        decided = counts["confirmed"] + counts["refuted"]
        return counts["confirmed"] / decided if decided else None


# --------------------------------------------------------------------------- running


def run_fresh(path: str | Path, *, timeout: float = 120.0, cell_timeout: float | None = None,
              kernel_name: str | None = None) -> Execution:
    """Run a notebook top to bottom in a new kernel, recording what each code cell did.

    Every cell runs even after others raised (as "Restart & Run All" would if it did not stop
    at the first error), so each cell's own exception is known. The kernel starts in the
    notebook's folder, so relative paths resolve as they do for its author; it is shut down
    before returning, whatever happened.

    Args:
        path: an ``.ipynb`` file. It is read, never written.
        timeout: total budget in seconds for the whole run, kernel start included. When it
            runs out the current cell is ``timeout``, the rest ``not-run`` and
            ``Execution.error`` says so.
        cell_timeout: limit in seconds for any one cell; defaults to ``timeout``. A cell that
            exceeds it is ``timeout`` and the cells after it ``not-run`` (the kernel is still
            busy with it), but this is not a failure of the run as a whole.
        kernel_name: the kernelspec to start; by default the one the notebook names when it
            is installed here, else, for a Python notebook, ``python3``.

    Returns:
        The run. Kernel start failures and kernel deaths are reported in ``Execution.error``
        rather than raised, so a batch of notebooks can go on.

    Raises:
        DistillError: nbclient or ipykernel is not installed, or a timeout is not positive.
        NotebookError: the file cannot be read as a notebook.

    Example:
        >>> execution = run_fresh("analysis.ipynb", cell_timeout=30)  # doctest: +SKIP
        >>> [(run.number, run.status, run.ename) for run in execution.cells]  # doctest: +SKIP
        [(2, 'ok', None), (3, 'error', 'NameError'), (5, 'ok', None)]
    """
    nbclient, _ = import_runtime()
    for label, value in (("timeout", timeout), ("cell_timeout", cell_timeout)):
        if value is not None and not value > 0:
            raise DistillError(f"{label} must be a positive number of seconds, got {value!r}",
                               hint=f"pass {label}=60, say, or leave it out for the default")
    source = Path(path)
    node = _read(source)
    code = [(index, cell) for index, cell in enumerate(node.cells) if cell.cell_type == "code"]
    per_cell = cell_timeout if cell_timeout is not None else timeout
    replies: dict[int, dict[str, Any]] = {}

    def on_cell_executed(*, cell: Any, cell_index: int, execute_reply: Any) -> None:
        if execute_reply is not None:
            replies[cell_index] = execute_reply.get("content") or {}

    started = time.monotonic()
    deadline = started + timeout
    client = nbclient.NotebookClient(
        node,
        kernel_name=kernel_name or installed_kernel(node),
        allow_errors=True,
        # NB: nbclient's own `timeout` trait is an Integer (0.5 would become "no limit");
        # `timeout_func` may return a float, so the per-cell limit is set through it below.
        startup_timeout=max(1, math.ceil(timeout)),
        resources={"metadata": {"path": str(source.resolve().parent)}},
        on_cell_executed=on_cell_executed,
        log=_LOG,
    )
    runs: list[CellRun] = []
    error: str | None = None
    # NB: the kernel's own stderr (ipykernel's start-up banner and warnings, tracebacks of a
    # kernel that crashes) would otherwise land in our terminal; keep it to explain failures.
    with tempfile.TemporaryFile() as stderr, contextlib.ExitStack() as stack:
        try:
            stack.enter_context(client.setup_kernel(stderr=stderr))
        except Exception as exc:  # noqa: BLE001 - a start failure is a result, not a crash
            error = _start_error(source, client.kernel_name, exc, stderr)
        for position, (index, cell) in enumerate(code):
            number = index + 1
            if error is not None:
                runs.append(CellRun(number, "not-run"))
                continue
            if SKIP_TAG in (cell.get("metadata", {}).get("tags") or ()):
                runs.append(CellRun(number, "not-run"))
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                error = f"the {timeout:g}s budget ran out before cell {number}"
                runs.append(CellRun(number, "not-run"))
                continue
            limit = min(per_cell, remaining)
            client.timeout_func = lambda _cell, limit=limit: limit
            try:
                client.execute_cell(cell, index, execution_count=position + 1)
            except nbclient.exceptions.CellTimeoutError:
                runs.append(CellRun(number, "timeout"))
                if limit < per_cell:
                    error = f"the {timeout:g}s budget ran out in cell {number}"
                # NB: the kernel is still busy with the cell, so later cells would only queue
                # behind it; and a graceful shutdown would wait for it, so kill it instead.
                client.shutdown_kernel = "immediate"
                runs.extend(CellRun(i + 1, "not-run") for i, _ in code[position + 1:])
                break
            except nbclient.exceptions.DeadKernelError:
                tail = _tail(stderr)
                runs.append(CellRun(number, "error", "DeadKernelError", _cut(
                    "the kernel died while running this cell" + (f": {tail}" if tail else ""))))
                error = (f"the kernel died in cell {number} (the cell may have exhausted memory, "
                         "crashed an extension or called os._exit)")
                runs.extend(CellRun(i + 1, "not-run") for i, _ in code[position + 1:])
                break
            except Exception as exc:  # noqa: BLE001 - e.g. a lost ZeroMQ channel; keep results
                error = f"running cell {number} failed: {type(exc).__name__}: {exc}"
                runs.append(CellRun(number, "not-run"))
                continue
            runs.append(_cell_run(number, cell, replies.get(index)))
    return Execution(path=str(path), cells=tuple(runs), elapsed=time.monotonic() - started,
                     error=error)


def _read(path: Path) -> NotebookNode:
    """The notebook as an nbformat v4 node, or the clear error ``read_notebook`` gives."""
    try:
        with warnings.catch_warnings():
            # NB: nbformat warns about repairs (missing cell ids...) it makes in memory; lint
            # reports the notebook's shape elsewhere, the run only needs the cells.
            warnings.simplefilter("ignore")
            return read_node(path)
    except Exception as exc:  # nbformat raises many types; read_notebook explains them
        read_notebook(path)  # raises NotebookError naming the problem and where
        raise NotebookError(path, f"cannot be read by nbformat: {type(exc).__name__}: {exc}",
                            hint="open it in Jupyter and save it again") from exc


def _cell_run(number: int, cell: Any, reply: dict[str, Any] | None) -> CellRun:
    """One cell's outcome, from the kernel's execute reply and the cell's outputs.

    The reply's status is what happened: a cell that catches an exception and shows its
    traceback (``get_ipython().showtraceback()``) has an error output but did not fail, and
    a magic's ``UsageError`` fails with no error output. The first error output is used
    only when there is no reply.
    """
    shown = next((o for o in cell.get("outputs", ()) if o.get("output_type") == "error"), None)
    if reply is not None:
        status = reply.get("status")
        if status == "ok":
            return CellRun(number, "ok")
        if status == "aborted":  # only when an earlier error stops the queue
            return CellRun(number, "not-run")
        ename = reply.get("ename") or (shown or {}).get("ename") or "Error"
        evalue = reply.get("evalue") or (shown or {}).get("evalue") or ""
        return CellRun(number, "error", str(ename), _cut(str(evalue)))
    if shown is not None:
        return CellRun(number, "error", str(shown.get("ename")), _cut(str(shown.get("evalue"))))
    return CellRun(number, "ok")  # NB: nbclient skips empty cells without asking the kernel


def _start_error(path: Path, kernel: str, exc: Exception, stderr: IO[bytes]) -> str:
    """``analysis.ipynb: the kernel 'py' could not start: ...`` with what to do next."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = repr(kernel) if kernel else "(default)"
    if isinstance(exc, NoSuchKernel):
        installed = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
        return (f"{path}: the kernel {name} is not installed (installed: {installed}); "
                "pass another kernel name, or install it with "
                "`python -m ipykernel install --user --name NAME`")
    tail = _tail(stderr)
    return (f"{path}: the kernel {name} could not start: {type(exc).__name__}: {exc}"
            + (f"; its last output: {tail}" if tail else "")
            + "; check that `jupyter kernelspec list` shows it and that its Python has ipykernel")


def _tail(stream: IO[bytes], lines: int = 3) -> str:
    """The last few non-blank lines the kernel wrote to stderr, joined with `` | ``."""
    try:
        stream.flush()
        stream.seek(0)
        text = stream.read().decode("utf-8", "replace")
    except (OSError, ValueError):  # closed or unreadable: the tail is only a nicety
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()
            and "without encryption" not in line]  # ipykernel's routine TCP warning
    return _cut(" | ".join(kept[-lines:]))


def _cut(text: str, limit: int = EVALUE_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- judging


def check_findings(findings: Sequence[Finding], execution: Execution) -> Check:
    """Judge each confirmable finding against a fresh run of the same notebook.

    Args:
        findings: lint findings for the notebook that was run; codes outside
            ``CONFIRMABLE`` are ignored.
        execution: the result of ``run_fresh`` on that notebook.

    Returns:
        The verdicts, sorted by cell, line and code, and the failures no finding predicted.

    Example:
        >>> check = check_findings(report.findings, run_fresh(report.path))  # doctest: +SKIP
        >>> [(v.finding.code, v.outcome) for v in check.verdicts]  # doctest: +SKIP
        [('DL103', 'confirmed'), ('DL104', 'refuted')]
    """
    runs = {run.number: run for run in execution.cells}
    judged = sorted((f for f in findings if f.code in CONFIRMABLE), key=lambda f: f.sort_key)
    verdicts = tuple(_judge(finding, execution, runs) for finding in judged)
    predicted = {f.cell for f in judged if _same_file(f.path, execution.path)}
    failures = [run for run in execution.cells if run.status == "error"
                and run.ename in SYNTAX_ERRORS | NAME_ERRORS and run.number not in predicted]
    definers = _definers(execution.path)
    # NB: cell 3 fails, so `df` it would have bound is missing in cell 5: cell 5's NameError is
    # a consequence of cell 3's failure, which is where a rule had to point, not a miss.
    cascades = tuple(run for run in failures if _is_cascade(run, definers, runs))
    missed = tuple(run for run in failures if run not in cascades)
    return Check(execution=execution, verdicts=verdicts, missed=missed, cascades=cascades)


def _definers(path: str) -> dict[str, tuple[int, ...]]:
    from ..notebook.flow import analyze_notebook

    try:
        return analyze_notebook(read_notebook(path)).definers
    except NotebookError:
        return {}


def _is_cascade(run: CellRun, definers: dict[str, tuple[int, ...]], runs: dict[int, CellRun]) -> bool:
    name = _missing_name(run.evalue or "") if run.ename in NAME_ERRORS else None
    if name is None:
        return False
    above = [number for number in definers.get(name, ()) if number < run.number]
    return bool(above) and all(runs[n].status != "ok" for n in above if n in runs)


def _judge(finding: Finding, execution: Execution, runs: dict[int, CellRun]) -> Verdict:
    def verdict(outcome: Outcome, detail: str) -> Verdict:
        return Verdict(finding=finding, outcome=outcome, detail=detail)

    if not _same_file(finding.path, execution.path):
        return verdict("undetermined", f"the finding is about {finding.path}, "
                                       f"the run was of {execution.path}")
    if finding.cell is None:
        return verdict("undetermined", "the finding names no cell")
    run = runs.get(finding.cell)
    if run is None:
        return verdict("undetermined", f"cell {finding.cell} is not a code cell of the run")
    if run.status == "not-run":
        why = execution.error or "an earlier cell timed out, or it is tagged skip-execution"
        return verdict("undetermined", f"the cell did not run: {why}")
    if run.status == "timeout":
        return verdict("undetermined", "the cell timed out before finishing")
    if run.status == "ok":
        return verdict("refuted", "cell ran without error in a fresh kernel"
                       + _elsewhere(finding, execution))
    raised = f"{run.ename}: {run.evalue}"
    if finding.code == "DL002":
        if run.ename in SYNTAX_ERRORS:
            return verdict("confirmed", raised)
        if run.ename == "DeadKernelError":
            return verdict("undetermined", raised)
        # NB: IPython compiles the whole cell before running any of it, so a run-time error
        # means the cell parsed (often an IPython-only construct such as `!ls` or `%time`).
        return verdict("refuted", f"the cell parsed and ran; it raised {raised}")
    if run.ename in SYNTAX_ERRORS:
        return verdict("undetermined", f"the cell did not parse ({raised}), so none of it ran")
    if run.ename in NAME_ERRORS:
        name = _missing_name(run.evalue or "")
        if finding.subject is not None and name == finding.subject:
            return verdict("confirmed", raised)
        if finding.subject is None:
            return verdict("undetermined", f"the finding names no subject; the cell raised {raised}")
        return verdict("undetermined", f"the cell raised {raised}; a cell raises one exception, "
                                       f"so whether {finding.subject!r} is defined was not seen")
    return verdict("undetermined", f"the cell raised {raised}; no NameError for "
                                   f"{finding.subject!r} was seen")


def _missing_name(evalue: str) -> str | None:
    """The name a NameError is about: the first quoted name in its message.

    NB: Python 3.10+ appends a suggestion that names another identifier, so a plain
    substring test would confirm the wrong name:
        name 'x' is not defined. Did you mean: 'xs'?   -> 'x', not 'xs'
    The same position holds for ``cannot access local variable 'x' ...`` (UnboundLocalError)
    and ``cannot access free variable 'x' ...``.
    """
    match = re.search(r"'([^']+)'", evalue)
    return match.group(1) if match else None


def _elsewhere(finding: Finding, execution: Execution) -> str:
    """``; NameError for 'y' surfaced in cell 7`` when the subject failed at another cell."""
    if finding.code == "DL002" or finding.subject is None:
        return ""
    for run in execution.cells:
        if (run.status == "error" and run.ename in NAME_ERRORS and run.number != finding.cell
                and _missing_name(run.evalue or "") == finding.subject):
            return f"; {run.ename} for {finding.subject!r} surfaced in cell {run.number}"
    return ""


def _same_file(a: str, b: str) -> bool:
    return a == b or os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


# --------------------------------------------------------------------------- rendering


def render_check(check: Check) -> str:
    """A plain-text table of verdicts and missed failures, then one summary line.

    Example:
        >>> print(render_check(check))  # doctest: +SKIP
        analysis.ipynb: 5 code cells run in a fresh kernel in 2.1s (3 ok, 2 error)
        cell  code   subject  outcome    detail
           3  DL103  x        confirmed  NameError: name 'x' is not defined
           7  -      y        missed     NameError: name 'y' is not defined
        1 confirmed, 0 refuted, 0 undetermined; precision 100%; 1 failure no rule predicted
    """
    execution = check.execution
    statuses = [run.status for run in execution.cells]
    tally = ", ".join(f"{statuses.count(status)} {status}" for status in STATUSES
                      if status in statuses)
    cells = len(execution.cells)
    lines = [f"{execution.path}: {cells} code cell{'' if cells == 1 else 's'} run in a fresh "
             f"kernel in {execution.elapsed:.1f}s" + (f" ({tally})" if tally else "")]
    if execution.error:
        lines.append(f"error: {execution.error}")
    rows: list[tuple[str, str, str, str, str]] = [
        (str(v.finding.cell or "-"), v.finding.code, v.finding.subject or "-", v.outcome,
         v.detail) for v in check.verdicts]
    rows += [(str(run.number), "-", _missing_name(run.evalue or "") or "-", "missed",
              f"{run.ename}: {run.evalue}") for run in check.missed]
    if rows:
        header = ("cell", "code", "subject", "outcome", "detail")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            cell = row[0].rjust(widths[0])
            middle = "  ".join(value.ljust(width) for value, width in zip(row[1:4], widths[1:], strict=True))
            lines.append(f"{cell}  {middle}  {_cut(row[4], 120)}".rstrip())
    else:
        lines.append("no confirmable findings (DL002, DL103, DL104) and no unpredicted failures")
    counts = check.counts
    precision = check.precision
    missed = len(check.missed)
    cascades = f"; {len(check.cascades)} caused by an earlier failing cell" if check.cascades else ""
    lines.append(
        f"{counts['confirmed']} confirmed, {counts['refuted']} refuted, "
        f"{counts['undetermined']} undetermined; "
        f"precision {'n/a' if precision is None else f'{precision:.0%}'}; "
        f"{missed} failure{'' if missed == 1 else 's'} no rule predicted{cascades}")
    return "\n".join(lines)
