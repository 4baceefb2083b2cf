"""``CONVERSION.md``: what became of every cell, and why.

Responsibilities:
- the step graph and, for each step, its cells, inputs, outputs and params;
- where each code cell went (steps, ``lib.py``, params, imports, or left out and why);
- params, helpers, dependencies, data files;
- what was dropped, commented out or changed on the way, and the lint findings of the
  notebook, so a reviewer knows what to look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .plan import ConversionPlan
from .transforms import Note

if TYPE_CHECKING:
    from ..lint.model import Finding

_KIND_TEXT = {
    "import": "imports",
    "helper": "lib.py",
    "param": "params",
    "display": "left out (display only)",
    "blank": "left out (nothing to run)",
}


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def conversion_report(source: Path, plan: ConversionPlan, notes: Sequence[Note], requirements: Sequence[str],
                      package: str, findings: Sequence[Finding]) -> str:
    ir = plan.ir
    out = [f"# Conversion of `{source.name}`", "",
           f"`distill convert` turned the notebook into the package `{package}`: "
           f"{len(plan.steps)} steps in `src/{package}/pipeline.py`, {len(plan.helpers)} helpers in "
           f"`src/{package}/lib.py` and {len(plan.params)} params in `params.yaml`.",
           "", "Check it with `distill verify NOTEBOOK .`: it runs the notebook and the pipeline and compares "
           "every step output.", "", "## Steps", "",
           "| step | kind | cells | inputs | outputs | params |", "| --- | --- | --- | --- | --- | --- |"]
    missing = [n for n in notes if n.action == "missing"]  # modules found nowhere, data files not found
    if missing:
        at = out.index("## Steps")
        out[at:at] = ["## Before you run it", "", *(f"- {f'cell {n.cell}: ' if n.cell else ''}`{_cell(n.text)}`: "
                                                   f"{_cell(n.why)}" for n in missing), ""]
    for step in plan.steps:
        inputs = ", ".join(v if v == n else f"{v} (as {n})" for n, v in step.inputs) or "—"
        outputs = ", ".join(v for _, v in step.outputs) or ("the figure" if step.kind == "figure" else "—")
        kind = {"figure": "report (figure)", "query": "query"}.get(step.kind, "step")
        out.append(f"| `{step.name}` | {kind} | {', '.join(map(str, step.cells))} | {_cell(inputs)} | "
                   f"{_cell(outputs)} | {', '.join(sorted(step.params)) or '—'} |")
    renamed = [(n, v, step.name) for step in plan.steps for n, v in step.outputs if n != v]
    if renamed:
        out += ["", "Names the notebook rebinds or changes in place get one output per version; the last "
                "version keeps the notebook's name:", ""]
        out += [f"- `{v}`: `{n}` as step `{s}` leaves it" for n, v, s in renamed]
    copied = [(step.name, n) for step in plan.steps for n in sorted(step.copies)]
    if copied:
        out += ["", "Steps that change an input in place work on a deep copy, so cached values never change:", ""]
        out += [f"- `{s}` copies `{n}`" for s, n in copied]
    out += ["", "## Where each cell went", "", "| cell | went to |", "| --- | --- |"]
    where: dict[int, list[str]] = {}
    step_of = {id(s): step.name for step in plan.steps for s in step.statements}
    for s in ir.statements:
        target = f"step `{step_of[id(s)]}`" if id(s) in step_of else _KIND_TEXT.get(s.kind, s.kind)
        items = where.setdefault(s.cell, [])
        if target not in items:
            items.append(target)
    for cell in ir.notebook.code_cells:
        out.append(f"| {cell.number} | {', '.join(where.get(cell.number, ['left out (empty after conversion)']))} |")
    out += ["", "## Params", ""]
    if plan.params:
        out += ["| param | type | default | from |", "| --- | --- | --- | --- |"]
        for name in sorted(plan.params):
            p = plan.params[name]
            out.append(f"| `{name}` | `{p.annotation}` | `{_cell(repr(p.value))}` | cell {p.cell}: {p.reason} |")
    else:
        out.append("None.")
    used = {name for step in plan.steps for name in step.params}
    secrets = [p for name, p in sorted(plan.params.items()) if p.env is not None and name in used]
    if secrets:
        out += ["", "## Secrets", "", "The notebook holds these secrets in clear. The pipeline reads them from the "
                "environment (`${env:NAME}` in `params.yaml`; the steps take them as `Secret[str]`, never shown or "
                "stored) and their values are written nowhere in this project. Set them before `distill run`:", "",
                "| environment variable | param | cell |", "| --- | --- | --- |"]
        out += [f"| `{p.env}` | `{p.name}` | {p.cell} |" for p in secrets]
    if plan.environment:
        out += ["", "These secrets were written inline; the code now reads them with `os.environ`:", "",
                "| environment variable | given to | cell |", "| --- | --- | --- |"]
        out += [f"| `{variable}` | `{what}` | {cell} |" for variable, what, cell in plan.environment]
    out += ["", "## Helpers", ""]
    if plan.helpers:
        out += ["| helper | kind | cell | new keyword-only parameters |", "| --- | --- | --- | --- |"]
        for helper in plan.helpers.values():
            out.append(f"| `{helper.name}` | {helper.kind} | {helper.stmt.cell} | "
                       f"{', '.join(helper.needs) or '—'} |")
    else:
        out.append("None.")
    out += ["", "## Dependencies", "", "Pinned to the versions installed where `convert` ran:", ""]
    out += [f"- `{r}`" for r in requirements]
    displays = [s for s in ir.statements if s.kind == "display"]
    out += ["", "## Left out, changed or not converted", ""]
    rows = [(n.cell, n.line or 0, n.action, n.text, n.why) for n in notes]
    rows += [(s.cell, s.line, "display", s.code.split("\n")[-1].strip(),
              "a display of an existing value; verify compares that value" if s.reason == "a display of an existing "
              "value" else "shows a value; not part of the pipeline") for s in displays]
    if rows:
        out += ["| cell | line | what | source | why |", "| --- | --- | --- | --- | --- |"]
        for number, line, action, text, why in sorted(rows, key=lambda r: (r[0], r[1])):
            out.append(f"| {number or '—'} | {line or '—'} | {action} | `{_cell(text)[:80]}` | {_cell(why)} |")
    else:
        out.append("Nothing.")
    out += ["", "## Lint findings of the notebook", ""]
    if findings:
        for f in findings:
            where_text = f"cell {f.cell}" + (f":{f.line}" if f.line else "") if f.cell else "notebook"
            out.append(f"- {where_text}: {f.code} {_cell(f.message)}")
    else:
        out.append("None.")
    return "\n".join(out) + "\n"
