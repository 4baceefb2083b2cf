"""``verify``: run the notebook and the pipeline, and compare every step output.

Responsibilities:
- instrument a copy of the notebook: each code cell is split where a step ends and the
  values of that step's outputs are pickled there, so even names the notebook later
  rebinds are captured at the right moment; helpers are wrapped to record their first call;
- run that copy top to bottom in a fresh kernel (nbclient + ipykernel) in the notebook's
  folder, and the pipeline with ``distill run`` in the project folder;
- compare each output (``distill.testing.compare``): frames and arrays within tolerance,
  models by parameters, fitted state and predictions on the notebook's 2-D values, figures
  by existence;
- a value computed from unseeded randomness or the clock that differs is reported as not
  comparable, with the cell and line of its source, never as a pass;
- record the notebook's values in ``tests/expected/`` and the helpers' calls in
  ``tests/recorded/``, for the project's generated tests.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import DistillError
from ..notebook.kernel import NotebookNode, installed_kernel, new_code_cell, read_node
from .emit import is_show
from .ir import CLOCK_CALLS, NotebookIR
from .plan import ConversionPlan, StepPlan

Status = Literal["equal", "different", "incomparable", "missing"]


@dataclass(frozen=True, slots=True)
class Row:
    """One compared output."""

    name: str
    step: str
    notebook: str
    pipeline: str
    status: Status
    how: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CellCoverage:
    """A cell that printed or showed something when the notebook ran, and what covers it."""

    cell: int
    covered_by: tuple[str, ...]
    reason: str | None


@dataclass
class Verification:
    """The outcome of ``verify``."""

    rows: list[Row] = field(default_factory=list)
    notebook_seconds: float = 0.0
    pipeline_seconds: float = 0.0
    recorded: list[str] = field(default_factory=list)
    recorded_calls: list[str] = field(default_factory=list)
    cells: list[CellCoverage] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """What ``distill verify --json`` prints: every compared output, and the exit code."""
        return {
            "exit_code": self.exit_code,
            "outputs": [
                {"name": r.name, "step": r.step, "notebook": r.notebook, "pipeline": r.pipeline,
                 "status": r.status, "how": r.how, "detail": r.detail}
                for r in self.rows
            ],
            "notebook_seconds": round(self.notebook_seconds, 3),
            "pipeline_seconds": round(self.pipeline_seconds, 3),
            "recorded": self.recorded,
            "recorded_calls": self.recorded_calls,
            "cells": [{"cell": c.cell, "covered_by": list(c.covered_by), "reason": c.reason} for c in self.cells],
        }

    @property
    def exit_code(self) -> int:
        """0: all equal; 1: a value differs or is missing; 3: equal except values that cannot be compared.

        Values cannot be compared when they come from unseeded randomness or the clock and
        differ, or when neither side can be saved (pickled); each row says which.
        """
        if any(r.status in ("different", "missing") for r in self.rows):
            return 1
        if any(r.status == "incomparable" for r in self.rows):
            return 3
        return 0


class VerifyError(DistillError):
    """The pipeline could not be run to the end (a failed run: exit 1)."""

    exit_code = 1


class NotebookRunError(VerifyError):
    """The notebook itself fails in a fresh kernel: there is nothing to compare against, and
    the input is what must change (exit 2)."""

    exit_code = 2


def plan_for(notebook: Path) -> ConversionPlan:
    """The conversion plan of ``notebook``, as ``convert`` makes it (nothing is written)."""
    from .project import plan_notebook

    return plan_notebook(notebook)[0]


def verify(notebook: str | os.PathLike[str], project: str | os.PathLike[str], *, timeout: float = 600.0,
           record: bool = True, rtol: float = 1e-7, atol: float = 1e-9, log: Any = None) -> Verification:
    """Run ``notebook`` and the pipeline in ``project``, and compare every step output.

    Raises:
        VerifyError: the notebook or the pipeline failed; the message names the cell or step.
        ConversionRefused: the notebook cannot be converted (so there is nothing to compare).
    """
    from ..testing import compare, describe

    source = Path(notebook).resolve()
    root = Path(project).resolve()
    if not (root / "pyproject.toml").is_file():
        raise DistillError(f"{root} is not a distill project (no pyproject.toml)",
                           hint=f"convert first: distill convert {notebook} -o {project}")
    plan = plan_for(source)
    package = _package(root)
    result = Verification()
    with tempfile.TemporaryDirectory(prefix="distill-verify-") as tmp, _project_importable(root):
        capture = Path(tmp) / "values"
        capture.mkdir()
        started = time.monotonic()
        shown: set[int] = set()
        printed: dict[int, str] = {}
        drawn = _run_notebook(source, plan, capture, timeout, log, shown, printed)
        result.notebook_seconds = time.monotonic() - started
        started = time.monotonic()
        step_text = _run_pipeline(root, timeout, log, [step.name for step in plan.steps], Path(tmp) / "printed.json")
        result.pipeline_seconds = time.monotonic() - started
        statement_taint: dict[int, str] = {}
        taint = _taint(plan, source, statement_taint)
        notebook_values: dict[str, Any] = {}
        for step in plan.steps:
            for _, version in _outputs(step):
                notebook_values[version] = _load_capture(capture, version, package)
        probes = [v for v in notebook_values.values() if _two_dimensional(v)][:8]
        pipeline_values: dict[str, Any] = _load_outputs(root, [v for s in plan.steps for _, v in _outputs(s)])
        for step in plan.steps:
            for name, version in _outputs(step):
                expected = notebook_values.get(version, _MISSING)
                actual = pipeline_values.get(version, _MISSING)
                if isinstance(expected, _Unpicklable):
                    pass
                elif actual is _MISSING and any(isinstance(notebook_values.get(v), _Unpicklable)
                                                for _, v in _outputs(step)):
                    result.rows.append(Row(version, step.name, _describe(expected, describe), "—", "incomparable",
                                           detail="not comparable: another output of this step cannot be saved, "
                                                  "so the store keeps none of them"))
                    continue
                elif expected is _MISSING or actual is _MISSING:
                    missing = "notebook" if expected is _MISSING else "pipeline"
                    result.rows.append(Row(version, step.name, _describe(expected, describe),
                                           _describe(actual, describe), "missing",
                                           detail=f"no value from the {missing}"))
                    continue
                if isinstance(expected, _Unpicklable):
                    status: Status = "incomparable" if actual is _MISSING else "missing"
                    result.rows.append(Row(version, step.name, expected.type_name, _describe(actual, describe),
                                           status, detail=f"not comparable: the value cannot be saved "
                                                          f"({expected.error})"))
                    continue
                if step.kind == "figure":
                    # NB: Jupyter's inline backend closes figures when a cell ends, so a figure
                    #     step spread over two cells is seen by the images its cells displayed
                    expected = expected is True or any(cell in drawn for cell in step.cells)
                    ok = bool(expected) and type(actual).__name__ in ("Figure", "SubFigure")
                    result.rows.append(Row(version, step.name, "Figure" if expected else "no figure",
                                           describe(actual), "equal" if ok else "different", "figure",
                                           "" if ok else "the notebook drew no figure here" if not expected
                                           else "the step did not return a figure"))
                    continue
                comparison = compare(expected, actual, rtol=rtol, atol=atol, probes=probes)
                status = "equal" if comparison.equal else "different"
                detail = comparison.detail
                if not comparison.equal and name in taint.get(step.name, {}):
                    status = "incomparable"
                    detail = f"not comparable: {taint[step.name][name]}"
                result.rows.append(Row(version, step.name, describe(expected), describe(actual), status,
                                       comparison.how, detail))
        for step in plan.steps:
            for path in step.files:
                result.rows.append(_file_row(path, step.name, capture / "files" / path, root / path, package,
                                             rtol=rtol, atol=atol, probes=probes))
        result.rows += _printed_rows(plan, printed, step_text)
        result.cells = _coverage(plan, shown, result.rows, notebook_values, statement_taint, printed)
        result.rows += [Row(f"cell {c.cell}", "—", "printed or shown", "—", "missing", "coverage",
                            f"cell {c.cell} showed output that no compared value covers")
                        for c in result.cells if not c.covered_by and c.reason is None]
        if any(row.status == "different" for row in result.rows):
            result.rows = _second_run(source, plan, Path(tmp) / "again", timeout, log, package, result.rows,
                                      notebook_values, rtol=rtol, atol=atol, probes=probes,
                                      first_files=capture / "files", first_printed=printed)
        if record:
            from .project import record_in_manifest

            result.recorded = _record_values(root, plan, result.rows, notebook_values, probes)
            result.recorded_calls = _record_calls(root, capture, plan, package)
            record_in_manifest(root, ("tests/expected", "tests/recorded"))
    return result


def _coverage(plan: ConversionPlan, shown: set[int], rows: list[Row], values: dict[str, Any],
              taint: dict[int, str], printed: dict[int, str] | None = None) -> list[CellCoverage]:
    """For each cell that printed or showed something, the compared outputs covering it, or why none does.

    A new value a cell shows is its own output; a re-display (``df.head()``, ``print(acc)``) is
    covered by the output holding that name where the cell runs; output a statement prints
    otherwise (inside a loop, from a helper or a library) by the outputs it reads or writes.
    """
    ir = plan.ir
    compared = {row.name: row for row in rows}
    step_of = {s.position: step for step in plan.steps for s in step.statements}
    holders: list[tuple[int, str, str]] = []  # (position of the last write in its step, name, output)
    for step in plan.steps:
        for name, version in _outputs(step):
            writers = [s.position for s in step.statements if name in s.writes] or [s.position for s in step.statements]
            holders.append((max(writers), name, version))
    holders.sort()

    def holder(name: str, position: int) -> str | None:
        found = None
        for at, held, version in holders:
            if at > position:
                break
            if held == name and version in compared:
                found = version
        return found

    text_row = {c: row.name for row in rows if row.name.startswith("printed:") for c in _printed_cells(plan, row)}
    out: list[CellCoverage] = []
    for cell in sorted(shown):
        covered: list[str] = []
        again = new = text = False
        if cell in text_row and _text_lines((printed or {}).get(cell, "")):
            covered.append(text_row[cell])  # what the cell printed is compared as text
            new = True
        reason: str | None = None
        statements = [s for s in ir.statements if s.cell == cell]
        fallback = not any(s.shows for s in statements)  # output printed by statements that show nothing
        for s in statements:
            owner = step_of.get(s.position)
            if owner is not None and owner.kind == "figure":
                covered.append(owner.name)
                continue
            if s.position in taint:
                reason = reason or taint[s.position].split(" in cell")[0]
            for x in s.shows:
                if x.result:
                    held = dict(owner.outputs).get(x.result) if owner is not None else None
                    if held is not None and held in compared:
                        covered.append(held)
                        new = True
                elif x.covers:
                    held = holder(x.covers, s.position)
                    if held is not None:
                        covered.append(held)
                        again = True
                    elif x.covers in plan.params:
                        text = True
                else:
                    text = True
            if fallback and s.kind in ("code", "display"):
                names = (*s.reads, *s.writes) if s.kind == "code" else s.reads
                found = [v for v in (holder(n, s.position) for n in names) if v is not None]
                covered += found
                again |= bool(found)
            elif fallback:
                text = True
        covered = list(dict.fromkeys(covered))
        for version in covered:
            row, value = compared.get(version), values.get(version)
            if isinstance(value, _Unpicklable):
                reason = "unpicklable"
            elif row is not None and row.status == "incomparable":
                reason = reason or ("the clock" if "the clock" in row.detail else "unseeded randomness"
                                    if "randomness" in row.detail else "nondeterministic")
        if reason is None and covered and again and not new:
            reason = "display of an existing value"
        if reason is None and not covered and not any(s.kind in ("code", "display") for s in statements):
            reason = "no value of the notebook (imports, settings, magics or shell commands)"
        if reason is None and not covered and text:
            reason = "fixed text, or no value of the notebook"
        out.append(CellCoverage(cell, tuple(covered), reason))
    return out


def _second_run(source: Path, plan: ConversionPlan, folder: Path, timeout: float, log: Any, package: str,
                rows: list[Row], first: dict[str, Any], *, rtol: float, atol: float, probes: list[Any],
                first_files: Path, first_printed: dict[int, str]) -> list[Row]:
    """Run the notebook once more: a value that also differs between two runs of the notebook is
    nondeterministic (not comparable, with the cell computing it), whatever the cause — unseeded
    randomness, the clock, a library's own state; the rest are real differences."""
    from ..testing import compare

    if log:
        log("a value differs: running the notebook a second time to tell nondeterminism from a real difference")
    folder.mkdir()
    printed: dict[int, str] = {}
    _run_notebook(source, plan, folder, timeout, log, printed=printed)
    cells = _output_cells(plan)
    out = []
    for row in rows:
        if row.status == "different" and row.name.startswith("printed:"):
            changed = [c for c in _printed_cells(plan, row) if _text_lines(printed.get(c, "")) != _text_lines(first_printed.get(c, ""))]
            if changed:
                row = Row(row.name, row.step, row.notebook, row.pipeline, "incomparable", row.how,
                          f"not comparable: cell {changed[0]} prints different text on a second run of the notebook: "
                          "nondeterministic")
        elif row.status == "different" and row.name.startswith("file:"):
            path = row.name.removeprefix("file:")
            again_row = _file_row(path, row.step, first_files / path, folder / "files" / path, package,
                                  rtol=rtol, atol=atol, probes=probes)
            if again_row.status == "different":
                row = Row(row.name, row.step, row.notebook, row.pipeline, "incomparable", row.how,
                          "not comparable: the notebook writes a different file on a second run: nondeterministic")
        elif row.status == "different" and row.how != "figure":
            again = _load_capture(folder, row.name, package)
            expected = first.get(row.name, _MISSING)
            comparable = again is not _MISSING and expected is not _MISSING and not isinstance(again, _Unpicklable)
            if comparable and not compare(expected, again, rtol=rtol, atol=atol, probes=probes).equal:
                where = f" (computed in cell {cells[row.name]})" if row.name in cells else ""
                row = Row(row.name, row.step, row.notebook, row.pipeline, "incomparable", row.how,
                          f"not comparable: it differs between two runs of the notebook itself{where}: "
                          "nondeterministic")
        out.append(row)
    return out


def _printed_cells(plan: ConversionPlan, row: Row) -> list[int]:
    """The cells of the steps a ``printed:`` row compares (its ``step`` lists them, comma-separated)."""
    names = set(row.step.split(", "))
    return sorted({c for step in plan.steps if step.name in names for c in step.cells})


def _output_cells(plan: ConversionPlan) -> dict[str, int]:
    """Each output's cell: where the statement binding it last runs in its step."""
    cells: dict[str, int] = {}
    for step in plan.steps:
        for name, version in _outputs(step):
            binding = [stmt for stmt in step.statements if name in stmt.writes] or step.statements
            if binding:
                cells[version] = max(binding, key=lambda stmt: stmt.position).cell
    return cells


class _Unpicklable:
    def __init__(self, type_name: str, error: str) -> None:
        self.type_name = type_name
        self.error = error


_MISSING: Any = object()


def _describe(value: Any, describe: Any) -> str:
    return "—" if value is _MISSING else describe(value)


def _outputs(step: StepPlan) -> list[tuple[str, str]]:
    return [(step.name, step.name)] if step.kind == "figure" else list(step.outputs)


def _package(root: Path) -> str:
    import tomllib

    data = tomllib.loads((root / "pyproject.toml").read_text())
    pipeline = data.get("tool", {}).get("distill", {}).get("pipeline", "")
    return str(pipeline).split(".")[0]


def _two_dimensional(value: Any) -> bool:
    shape = getattr(value, "shape", None)
    return isinstance(shape, tuple) and len(shape) == 2 and type(value).__name__ in ("DataFrame", "ndarray")


# -- the notebook run ----------------------------------------------------------------------

CAPTURE_CODE = '''\
import time as __distill_time__
__distill_started__ = __distill_time__.time() - 1

def __distill_files__(paths):
    # paths: the file's path in the project -> where the notebook writes it (outside its folder: elsewhere)
    import os, shutil
    for name, path in paths.items():
        target = os.path.join({folder!r}, "files", name)
        try:
            if os.path.getmtime(path) < __distill_started__:
                continue  # left by an earlier run: this run did not write it
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.isdir(path):
                shutil.copytree(path, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(path, target)
        except OSError:
            pass

def __distill_capture__(names):
    import os, pickle
    namespace = get_ipython().user_ns
    for key, name in names.items():
        path = os.path.join({folder!r}, key + ".pkl")
        if name not in namespace:
            continue
        value = namespace[name]
        try:
            data = pickle.dumps(value, protocol=5)
        except Exception as exc:
            data = pickle.dumps(("__distill_unpicklable__", type(value).__name__, repr(exc)[:200]))
        with open(path, "wb") as file:
            file.write(data)

def __distill_figure__(key, names=()):
    import os, sys, pickle
    pyplot = sys.modules.get("matplotlib.pyplot")
    drawn = bool(pyplot is not None and pyplot.get_fignums())
    namespace = get_ipython().user_ns
    for name in names:
        value = namespace.get(name)
        kinds = {{c.__name__ for c in type(value).__mro__}}
        if kinds & {{"Figure", "Axes", "FacetGrid", "PairGrid", "JointGrid", "Artist"}}:
            drawn = True
    with open(os.path.join({folder!r}, key + ".pkl"), "wb") as file:
        file.write(pickle.dumps(drawn))

import ast as __distill_ast__


class __DistillAside__(__distill_ast__.NodeTransformer):
    # Statements the pipeline leaves out (re-displays, shell commands, line magics) print into
    # a sink, so the cell's printed text is what the pipeline's steps print. The cell names them
    # by line in a leading string; shell escapes and magics are found by their call.
    QUIET_LINE_MAGICS = {{"time", "timeit", "prun", "capture", "memit", "lprun", "mprun"}}

    def _escape(self, node):
        value = getattr(node, "value", None)
        if not isinstance(value, __distill_ast__.Call) or not isinstance(value.func, __distill_ast__.Attribute):
            return False
        owner = value.func.value
        if not (isinstance(owner, __distill_ast__.Call) and getattr(owner.func, "id", "") == "get_ipython"):
            return False
        name = value.args[0].value if value.args and isinstance(value.args[0], __distill_ast__.Constant) else ""
        if value.func.attr in ("system", "getoutput"):
            return True
        if value.func.attr == "run_line_magic":
            return name not in self.QUIET_LINE_MAGICS
        return value.func.attr == "run_cell_magic" and name not in {python_body!r}

    def visit_Module(self, node):
        body = list(node.body)
        lines = set()
        first = body[0] if body else None
        if isinstance(first, __distill_ast__.Expr) and isinstance(first.value, __distill_ast__.Constant) \
                and isinstance(first.value.value, str) and first.value.value.startswith("__distill_aside__:"):
            lines = {{int(n) for n in first.value.value.split(":", 1)[1].split(",") if n}}
            body = body[1:]
        out = []
        for index, stmt in enumerate(body):
            if stmt.lineno not in lines and not self._escape(stmt):
                out.append(stmt)
                continue
            last = index == len(body) - 1 and isinstance(stmt, __distill_ast__.Expr)
            inner = [__distill_ast__.Assign(targets=[__distill_ast__.Name("__distill_last__", __distill_ast__.Store())],
                                            value=stmt.value)] if last else [stmt]
            call = __distill_ast__.Call(__distill_ast__.Name("__distill_aside__", __distill_ast__.Load()), [], [])
            out.append(__distill_ast__.copy_location(
                __distill_ast__.With(items=[__distill_ast__.withitem(context_expr=call)], body=inner), stmt))
            if last:
                out.append(__distill_ast__.Expr(__distill_ast__.Name("__distill_last__", __distill_ast__.Load())))
        node.body = out
        return __distill_ast__.fix_missing_locations(node)


class __distill_aside__:
    # NB: the text is published as a display of its own, so the cell still counts as one that printed
    def __enter__(self):
        import contextlib, io
        self.buffer = io.StringIO()
        self.redirect = contextlib.redirect_stdout(self.buffer)
        self.redirect.__enter__()

    def __exit__(self, *exc):
        self.redirect.__exit__(*exc)
        if self.buffer.getvalue():
            from IPython.display import publish_display_data
            publish_display_data({{{aside_type!r}: self.buffer.getvalue()}})
        return False


get_ipython().ast_transformers.append(__DistillAside__())


def __distill_record__(function, name, needs):
    import functools, os, pickle
    done = []

    @functools.wraps(function)
    def recorded(*args, **kwargs):
        if done:
            return function(*args, **kwargs)
        done.append(True)
        namespace = get_ipython().user_ns
        try:
            before = pickle.dumps((args, {{**kwargs, **{{n: namespace[n] for n in needs if n in namespace}}}}))
        except Exception:
            before = None
        result = function(*args, **kwargs)
        if before is not None:
            try:
                call_args, call_kwargs = pickle.loads(before)
                data = pickle.dumps({{"args": call_args, "kwargs": call_kwargs, "result": result}})
                with open(os.path.join({folder!r}, "call." + name + ".pkl"), "wb") as file:
                    file.write(data)
            except Exception:
                pass
        return result
    return recorded
'''


def instrumented(notebook: Path, plan: ConversionPlan, folder: Path) -> tuple[NotebookNode, dict[int, int]]:
    """A copy of the notebook that saves each step's outputs where the step ends.

    Returns the nbformat node and, for each of its code cells, the original cell number.
    """
    node = read_node(notebook)
    after: dict[tuple[int, int], list[str]] = {}  # (cell, end line) -> code to run there
    for step in plan.steps:
        drawing = [s for s in step.statements if not (step.kind == "figure" and is_show(s, plan.ir))]
        last = max(drawing or step.statements, key=lambda s: s.position)
        if step.kind == "figure":
            names = sorted({n for s in step.statements for n in s.binds})
            code = f"__distill_figure__({step.name!r}, {names!r})"
        else:
            code = "__distill_capture__({" + ", ".join(f"{v!r}: {n!r}" for n, v in step.outputs) + "})"
        after.setdefault((last.cell, last.end_line), []).append(code)
        if step.files:
            where = {path: plan.moved.get(path, path) for path in step.files}
            after[(last.cell, last.end_line)].append(f"__distill_files__({where!r})")
    for helper in plan.helpers.values():
        if helper.kind == "function" and not helper.sets:  # NB: one that sets globals now returns them
            s = helper.stmt
            after.setdefault((s.cell, s.end_line), []).append(
                f"{helper.name} = __distill_record__({helper.name}, {helper.name!r}, {list(helper.needs)!r})")
    from ..notebook.magics import PYTHON_BODY_MAGICS

    in_steps = {s.position for step in plan.steps for s in step.statements}
    aside = {(s.cell, s.line) for s in plan.ir.statements
             if s.position not in in_steps and s.kind not in ("import", "helper", "param", "setup")}
    cells = [new_code_cell(CAPTURE_CODE.format(folder=str(folder), python_body=sorted(PYTHON_BODY_MAGICS),
                                               aside_type=ASIDE_TYPE))]
    origin = {0: 0}
    for number, cell in enumerate(node.cells, start=1):
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        cuts = sorted(end for (c, end) in after if c == number)
        magic = lines and any(line.lstrip().startswith("%%") for line in lines[:1] if line.strip())
        lines, tail = (lines, "") if magic else _bind_shown(plan, number, lines, cuts)
        first = len(cells)
        start = 0
        for end in cuts:
            chunk = lines[start:end] if not magic else lines
            extra = after[(number, end)]
            if magic:
                cells.append(new_code_cell("\n".join(chunk)))
                origin[len(cells) - 1] = number
                cells.append(new_code_cell("\n".join(extra)))
                origin[len(cells) - 1] = number
                start = len(lines)
                break
            cells.append(new_code_cell("\n".join([_aside_marker(aside, number, start, chunk), *chunk, *extra])))
            origin[len(cells) - 1] = number
            start = end
        if start < len(lines) and "\n".join(lines[start:]).strip():
            cells.append(new_code_cell("\n".join([_aside_marker(aside, number, start, lines[start:]), *lines[start:]])))
            origin[len(cells) - 1] = number
        if tail and len(cells) > first:
            cells[-1].source += "\n" + tail
    node.cells = cells
    return node, origin


#: The media type of text printed by statements the pipeline leaves out (see ``CAPTURE_CODE``).
ASIDE_TYPE = "text/x-distill-aside"


def _aside_marker(aside: set[tuple[int, int]], cell: int, start: int, chunk: list[str]) -> str:
    """The leading string naming, by line in the instrumented cell, the statements whose printed
    text is set aside (``__DistillAside__`` in ``CAPTURE_CODE``); the string itself is line 1.

    ``chunk`` is the cell's lines from ``start`` (0-based) on. NB: an item of it may hold two
    lines (a shown value bound to its output name, then shown), so lines are counted, not items.
    """
    physical, line = [], 2
    for item in chunk:
        physical.append(line)
        line += item.count("\n") + 1
    found = sorted(physical[at - 1 - start] for (c, at) in aside if c == cell and 0 <= at - 1 - start < len(chunk))
    return repr("__distill_aside__:" + ",".join(str(n) for n in found))


def _bind_shown(plan: ConversionPlan, number: int, lines: list[str], cuts: list[int]) -> tuple[list[str], str]:
    """The cell's lines with the new values its statements show bound to their output names (as
    in the pipeline), and the line that shows the cell's last value again after the capture code.

    NB: `model.fit(X, y)` ending a step at the end of a cell: the capture code would be the
        cell's last expression, so the model would no longer show; it is shown again after it
    """
    from .emit import result_code
    from .ir import _silenced

    ir = plan.ir
    statements = [s for s in ir.statements if s.cell == number]
    if not statements:
        return lines, ""
    converted = ir.cell_sources.get(number, "").split("\n")
    out = list(lines)
    tail = ""
    for s in statements:
        value = getattr(s.node, "value", None)
        shows_last = s is statements[-1] and isinstance(s.node, ast.Expr) and not _silenced(s, ir)
        if not s.results and not (shows_last and s.end_line in cuts):
            continue
        if out[s.first_line - 1:s.end_line] != converted[s.first_line - 1:s.end_line] or out[s.line - 1][:1].isspace():
            continue
        if s.results:
            out[s.first_line - 1:s.end_line] = [result_code(s, notebook=True)] + [""] * (s.end_line - s.first_line)
            if shows_last and len(s.results) == 1 and any(x.result and x.node is value for x in s.shows):
                tail = s.results[0]
        else:
            out[s.line - 1] = "__distill_shown__ = " + out[s.line - 1]
            tail = "__distill_shown__"
    return out, tail


def _run_notebook(notebook: Path, plan: ConversionPlan, folder: Path, timeout: float, log: Any,
                  shown: set[int] | None = None, printed: dict[int, str] | None = None) -> set[int]:
    """Run the instrumented copy; returns the original numbers of cells that displayed an image.

    ``shown``, when given, receives the cells that printed (stdout) or showed a value other than an image;
    ``printed`` the text each cell's statements kept in the pipeline printed (original cell → text).
    """
    try:
        import nbclient
    except ImportError as exc:
        raise DistillError("verify needs nbclient and ipykernel", hint='pip install "distill[execute]"') from exc

    node, origin = instrumented(notebook, plan, folder)
    if log:
        log(f"running {notebook.name} in a fresh kernel")
    client = nbclient.NotebookClient(node, timeout=max(1, int(timeout)), kernel_name=installed_kernel(node),
                                     allow_errors=False, resources={"metadata": {"path": str(notebook.parent)}})
    try:
        # NB: the kernel's own stderr (start-up banners, warnings) would land in our terminal
        with tempfile.TemporaryFile() as stderr, client.setup_kernel(stderr=stderr):
            for index, cell in enumerate(node.cells):
                client.execute_cell(cell, index)
    except nbclient.exceptions.CellExecutionError as exc:
        failed = _failed_index(node)
        cell = origin.get(failed, 0) if failed is not None else 0
        raise NotebookRunError(f"{notebook.name}: cell {cell} failed in a fresh kernel: {exc.ename}: "
                               f"{str(exc.evalue)[:300]}",
                               hint="the notebook must run top to bottom; `distill lint --execute` shows why") from exc
    except nbclient.exceptions.CellTimeoutError as exc:
        raise NotebookRunError(f"{notebook.name}: a cell ran longer than {timeout:g}s",
                               hint="pass --timeout with more seconds") from exc
    except Exception as exc:  # kernel start failures and deaths, reported as such
        raise NotebookRunError(f"{notebook.name}: the notebook could not be run: {type(exc).__name__}: {exc}") from exc
    drawn = set()
    for index, cell in enumerate(node.cells):
        for output in cell.get("outputs", []):
            if printed is not None and origin.get(index, 0) and output.get("output_type") == "stream" \
                    and output.get("name") == "stdout":
                text = output.get("text", "")
                printed[origin[index]] = printed.get(origin[index], "") + ("".join(text) if isinstance(text, list)
                                                                           else str(text))
            data = output.get("data", {})
            if any(kind.startswith("image/") for kind in data):
                drawn.add(origin.get(index, 0))
            elif shown is not None and origin.get(index, 0) and (
                    output.get("output_type") == "execute_result" or (output.get("output_type") == "display_data")
                    or (output.get("output_type") == "stream" and output.get("name") == "stdout")):
                shown.add(origin[index])
    return drawn


def _failed_index(node: Any) -> int | None:
    for index, cell in enumerate(node.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
    return None


def _load_capture(folder: Path, key: str, package: str) -> Any:
    path = folder / f"{key}.pkl"
    if not path.is_file():
        return _MISSING
    data = path.read_bytes()
    try:
        value = _MainUnpickler(io.BytesIO(data), package).load()
    except Exception as exc:  # noqa: BLE001 - an object we cannot rebuild here is not comparable
        return _Unpicklable("object", f"{type(exc).__name__}: {exc}")
    if isinstance(value, tuple) and len(value) == 3 and value[0] == "__distill_unpicklable__":
        return _Unpicklable(str(value[1]), str(value[2]))
    return value


class _MainUnpickler(pickle.Unpickler):
    """Classes and functions the notebook defined live in ``<package>.lib`` in the project."""

    def __init__(self, file: Any, package: str) -> None:
        super().__init__(file)
        self.package = package

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__":
            module = f"{self.package}.lib"
        try:
            return super().find_class(module, name)
        except ModuleNotFoundError:
            # A local module of the notebook's, copied into the project's package.
            return super().find_class(f"{self.package}.{module}", name)


# -- files the steps write ----------------------------------------------------------------

#: Files compared by existence and size: their bytes hold timestamps and renderer details.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".svg", ".pdf", ".gif", ".bmp", ".tif", ".tiff", ".webp",
                            ".eps", ".ps"})
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".sav", ".pck", ".pcl"})


def _file_row(path: str, step: str, expected: Path, actual: Path, package: str, *, rtol: float, atol: float,
              probes: list[Any]) -> Row:
    """``file:<path>``: the file the notebook wrote (copied where its step ended) against the
    one the pipeline wrote in the project: tables (CSV, Parquet, JSON) and pickles by value,
    images by existence and size, other files by bytes."""
    from ..testing import compare

    name = f"file:{path}"
    missing = [side for side, file in (("notebook", expected), ("pipeline", actual)) if not file.exists()]
    if missing:
        return Row(name, step, _file_text(expected), _file_text(actual), "missing", "file",
                   f"no file from the {' or the '.join(missing)}")
    if Path(path).suffix.lower() in IMAGE_SUFFIXES and expected.is_file() and actual.is_file():
        sizes = expected.stat().st_size, actual.stat().st_size
        ok = min(sizes) > 0
        return Row(name, step, _file_text(expected), _file_text(actual), "equal" if ok else "different", "image",
                   "" if ok else "an empty image")
    how, left = _load_file(expected, package)
    other, right = _load_file(actual, package)
    if how != other:  # NB: one side loads as a table and the other does not: compare what is on disk
        how, left, right = "bytes", _file_bytes(expected), _file_bytes(actual)
    comparison = compare(left, right, rtol=rtol, atol=atol, probes=probes)
    return Row(name, step, _file_text(expected), _file_text(actual), "equal" if comparison.equal else "different",
               f"file ({how})", comparison.detail)


def _load_file(file: Path, package: str) -> tuple[str, Any]:
    """How a written file is compared, and its value: a table, a pickled value, an array, or bytes."""
    suffix = file.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            import pandas as pd

            return "table", pd.read_csv(file, sep="\t" if suffix == ".tsv" else ",")
        if suffix in (".parquet", ".pq"):
            import pandas as pd

            return "table", pd.read_parquet(file)
        if suffix == ".json" and file.is_file():
            return "value", json.loads(file.read_text())
        if suffix in (".npy", ".npz") and file.is_file():
            import numpy as np

            with open(file, "rb") as handle:
                loaded = np.load(handle, allow_pickle=False)
                return "value", dict(loaded) if suffix == ".npz" else loaded
        if suffix in PICKLE_SUFFIXES and file.is_file():
            try:
                return "value", _MainUnpickler(io.BytesIO(file.read_bytes()), package).load()
            except Exception:  # noqa: BLE001 - a joblib file with its arrays stored apart
                import joblib  # type: ignore[import-untyped]

                return "value", joblib.load(file)
    except Exception:  # noqa: BLE001 - a file that does not load as its name says is compared by bytes
        pass
    return "bytes", _file_bytes(file)


def _file_bytes(file: Path) -> Any:
    if file.is_dir():
        return {p.relative_to(file).as_posix(): p.read_bytes() for p in sorted(file.rglob("*")) if p.is_file()}
    return file.read_bytes()


def _file_text(file: Path) -> str:
    if not file.exists():
        return "—"
    if file.is_dir():
        return "folder"
    return f"file ({file.stat().st_size} bytes)"


# -- the pipeline run ----------------------------------------------------------------------

def _run_pipeline(root: Path, timeout: float, log: Any, steps: list[str], texts: Path) -> dict[str, str]:
    """Run every step of the project (forced: a cached step prints nothing) in a process of its
    own; returns the text each step printed."""
    if log:
        log(f"running the pipeline in {root}")
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    command = [sys.executable, "-m", "distill.convert.printed", str(root), str(texts), json.dumps(steps)]
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise VerifyError(f"the pipeline ran longer than {timeout:g}s", hint="pass --timeout with more seconds") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().split("\n")[-12:])
        raise VerifyError(f"`distill run` failed in {root}:\n{tail}",
                          hint=f"run it yourself for the whole output: cd {root} && distill run")
    try:
        found = json.loads(texts.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


#: Lines IPython's timing magics print (``%time``, ``%%timeit``): the pipeline does not time its steps.
_TIMING = re.compile(r"^(CPU times:|Wall time:|[\d.]+ \S+ ± [\d.]+ \S+ per loop)")
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")


def _text_lines(text: str) -> list[str]:
    """Printed text as lines to compare: timing lines dropped, object addresses masked, trailing space cut."""
    return [_ADDRESS.sub("at 0x…", line.rstrip()) for line in text.split("\n")
            if line.strip() and not _TIMING.match(line.strip())]


def _printed_rows(plan: ConversionPlan, notebook: dict[int, str], pipeline: dict[str, str]) -> list[Row]:
    """One row per group of steps sharing cells: the text their cells printed in the notebook
    against the text the steps printed in the pipeline.

    A group is compared line for line; when the lines are the same but in another order (a cell
    split into a figure step and a code step prints in step order) it is equal too.
    """
    groups: list[tuple[list[StepPlan], set[int]]] = []
    for step in plan.steps:
        cells = set(step.cells)
        joined = [g for g in groups if g[1] & cells]
        merged_steps = [st for g in joined for st in g[0]] + [step]
        merged_cells = cells.union(*(g[1] for g in joined))
        groups = [g for g in groups if g not in joined] + [(merged_steps, merged_cells)]
    rows = []
    for steps, cells in groups:
        expected = _text_lines("".join(notebook.get(c, "") for c in sorted(cells)))
        actual = _text_lines("".join(pipeline.get(st.name, "") for st in sorted(steps, key=plan.steps.index)))
        if not expected and not actual:
            continue
        name = "printed:" + "+".join(st.name for st in steps)
        status: Status = "equal" if expected == actual or sorted(expected) == sorted(actual) else "different"
        detail = ""
        if status == "different":
            at = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
                      min(len(expected), len(actual)))
            want = expected[at] if at < len(expected) else "(nothing)"
            got = actual[at] if at < len(actual) else "(nothing)"
            detail = f"line {at + 1}: the notebook printed {want[:120]!r}, the pipeline {got[:120]!r}"
        rows.append(Row(name, ", ".join(st.name for st in steps), f"{len(expected)} lines printed",
                        f"{len(actual)} lines printed", status, "text", detail))
    return rows


def _load_outputs(root: Path, names: list[str]) -> dict[str, Any]:
    from ..cache.serialize import deserialize
    from ..execute.plan import plan as make_plan
    from ..session import open_session

    values: dict[str, Any] = {}
    session = open_session(str(root))
    try:
        plans = {p.step: p for p in make_plan(session)}
        for name in names:
            step = session.graph.provider.get(name)
            entry = plans[step].entry if step in plans else None
            if entry is None or name not in entry.outputs:
                continue
            meta = entry.outputs[name]
            values[name] = deserialize(meta["kind"], session.store.get(meta["hash"]))
    finally:
        session.close()
    return values


@contextlib.contextmanager
def _project_importable(root: Path) -> Iterator[None]:
    """The project's sources on ``sys.path`` while values are loaded: values of its own classes
    (its lib, the local modules copied into it) unpickle from there, on both sides."""
    added = [str(folder) for folder in (root / "src", root) if folder.is_dir() and str(folder) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)


# -- randomness ----------------------------------------------------------------------------

def _taint(plan: ConversionPlan, notebook: Path, statements: dict[int, str] | None = None) -> dict[str, dict[str, str]]:
    """For each step, its outputs computed from unseeded randomness or the clock, with the source.

    ``statements``, when given, receives each tainted statement's position and reason.
    """
    from ..lint.engine import LintConfig, lint_file

    sources: dict[tuple[int, int], str] = {}
    try:
        findings = lint_file(notebook, LintConfig()).findings
    except DistillError:
        findings = ()
    for f in findings:
        if f.code == "DL501" and f.cell is not None and f.line is not None:
            sources[(f.cell, f.line)] = f"unseeded randomness in cell {f.cell}, line {f.line}: {f.message}"
    ir: NotebookIR = plan.ir
    tainted: dict[str, str] = {}
    for s in ir.statements:
        reason = next((why for (cell, line), why in sources.items()
                       if cell == s.cell and s.line <= line <= s.end_line), None)
        if reason is None:
            for sub in ast.walk(s.node):
                if isinstance(sub, ast.Call):
                    name = ast.unparse(sub.func)
                    if ir.canonical(name) in CLOCK_CALLS:
                        reason = f"the clock in cell {s.cell}, line {s.line}: {name}()"
        if reason is None:
            reason = next((tainted[n] for n in s.reads if n in tainted), None)
        if reason is not None:
            if statements is not None:
                statements[s.position] = reason
            for name in s.writes:
                tainted[name] = reason
    out: dict[str, dict[str, str]] = {}
    for step in plan.steps:
        for name, _ in step.outputs:
            if name in tainted:
                out.setdefault(step.name, {})[name] = tainted[name]
    return out


# -- recording -----------------------------------------------------------------------------

def _record_values(root: Path, plan: ConversionPlan, rows: list[Row], values: dict[str, Any],
                   probes: list[Any]) -> list[str]:
    from ..cache.serialize import Unstorable, serialize

    folder = root / "tests" / "expected"
    staging = Path(tempfile.mkdtemp(prefix=".expected.", dir=root / "tests" if (root / "tests").is_dir() else root))
    index: dict[str, Any] = {"values": {}, "probes": []}
    suffix = {"parquet": ".parquet", "npy": ".npy", "json": ".json", "pickle": ".pkl", "figure": ".pkl"}
    try:
        for row in rows:
            if row.status != "equal" or row.name.startswith(("file:", "printed:")):
                continue
            if row.how == "figure":
                index["values"][row.name] = {"how": "figure", "file": None, "step": row.step}
                continue
            try:
                encoded = serialize(values[row.name])
            except Unstorable:
                continue
            file = f"{row.name}{suffix.get(encoded.kind, '.bin')}"
            (staging / file).write_bytes(encoded.data)
            index["values"][row.name] = {"how": row.how, "kind": encoded.kind, "file": file, "step": row.step}
        for name, value in values.items():
            if name in index["values"] and index["values"][name].get("file") and _two_dimensional(value):
                index["probes"].append(name)
        index["probes"] = index["probes"][:8]
        (staging / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(index["values"])


def _record_calls(root: Path, capture: Path, plan: ConversionPlan, package: str) -> list[str]:
    folder = root / "tests" / "recorded"
    recorded = []
    for helper in plan.helpers.values():
        path = capture / f"call.{helper.name}.pkl"
        if not path.is_file():
            continue
        try:
            _MainUnpickler(io.BytesIO(path.read_bytes()), package).load()
        except Exception:  # noqa: BLE001 - arguments we cannot rebuild outside the kernel are not recorded
            continue
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{helper.name}.pkl.tmp"
        tmp.write_bytes(path.read_bytes())
        os.replace(tmp, folder / f"{helper.name}.pkl")
        recorded.append(helper.name)
    return recorded
