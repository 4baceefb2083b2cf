"""``convert``: a notebook in, a complete distill project out, or a refusal and nothing written.

Responsibilities:
- the coordinator: read → transforms → IR → plan → emit → check → write;
- the project's other files: ``pyproject.toml`` with dependencies pinned to the versions
  installed here, ``params.yaml``, ``conftest.py``, the generated tests, ``CONVERSION.md``,
  ``.gitignore``, and the data files the notebook reads, copied beside the code;
- checking the result before it is written: every module parses, the step graph built from
  the generated source has no problem (no cycle, no missing input, no duplicate output);
- writing atomically: everything goes to a temporary folder beside ``DIR`` that is renamed
  into place at the end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DistillError
from ..lint.deps import KERNEL_MODULES, distributions_for, is_local, is_standard, normalize
from ..notebook.model import Notebook
from ..notebook.read import read_notebook
from . import emit
from .emit import quiet_parse
from .ir import NotebookIR, build_ir
from .plan import MAX_COPY_BYTES, ConversionPlan, plan_conversion, slug
from .report import conversion_report
from .tests_gen import lib_tests, pipeline_tests
from .transforms import TRANSFORMS, Log, Note, Refusal, apply

if TYPE_CHECKING:
    from ..lint.model import Finding

#: Distributions the generated project always needs.
BASE_REQUIREMENTS = ("distill",)


class ConversionRefused(DistillError):
    """The notebook cannot become a pipeline; ``refusals`` says where and why."""

    def __init__(self, path: Path, refusals: list[Refusal]) -> None:
        lines = [f"{path}: cannot convert this notebook ({len(refusals)} problem{'s' if len(refusals) != 1 else ''}):"]
        for r in refusals[:20]:
            where = "notebook" if not r.cell else f"cell {r.cell}" + (f", line {r.line}" if r.line else "")
            lines.append(f"  {where}: {r.reason}")
        if len(refusals) > 20:
            lines.append(f"  … and {len(refusals) - 20} more")
        super().__init__("\n".join(lines), hint=refusals[0].hint if refusals else None)
        self.refusals = refusals


@dataclass(frozen=True)
class Conversion:
    """What ``convert`` wrote."""

    notebook: Path
    output: Path
    package: str
    steps: tuple[str, ...]
    params: tuple[str, ...]
    helpers: tuple[str, ...]
    files: tuple[str, ...]
    notes: tuple[Note, ...] = field(default_factory=tuple)


def convert(notebook: str | os.PathLike[str], output: str | os.PathLike[str], *, name: str | None = None,
            force: bool = False) -> Conversion:
    """Convert ``notebook`` into a distill project in ``output``.

    Args:
        notebook: the ``.ipynb`` file.
        output: the project folder to create. It must not exist, or be empty, unless ``force``.
        name: the Python package name; by default derived from the notebook's file name.
        force: replace an existing ``output`` (only once the new project is complete).

    Raises:
        ConversionRefused: the notebook cannot be converted; nothing was written.
        NotebookError: the file is not a readable notebook.
        DistillError: ``output`` exists, or the package name is not an identifier.

    Example:
        >>> convert("analysis.ipynb", "analysis")  # doctest: +SKIP
    """
    source = Path(notebook)
    target = Path(output)
    if target.exists() and not force and (not target.is_dir() or any(target.iterdir())):
        raise DistillError(f"{target} already exists and is not empty",
                           hint=f"choose another folder, or pass --force to replace {target}")
    package = name or slug(source.stem, words=6) or "pipeline"
    if not package.isidentifier() or package in ("distill", "test", "tests", "lib"):
        raise DistillError(f"{package!r} cannot be the package name",
                           hint="pass --name with a Python identifier, e.g. --name churn")
    files, plan, notes = build_project(source, package)
    _write(target, files, force)
    return Conversion(source, target, package, tuple(s.name for s in plan.steps), tuple(sorted(plan.params)),
                      tuple(plan.helpers), tuple(sorted(files)), tuple(notes))


def build_project(source: Path, package: str) -> tuple[dict[str, str | bytes | Path], ConversionPlan, list[Note]]:
    """Every file of the project, by relative path; nothing is written.

    Raises:
        ConversionRefused: the notebook cannot be converted.
    """
    plan, log = plan_notebook(source)
    ir = plan.ir
    nb = ir.notebook
    folder = source.resolve().parent
    local_modules = _local_modules(ir, folder)
    title = _title(nb)
    files: dict[str, str | bytes | Path] = {}
    pipeline = emit.pipeline_module(plan, package, title, local_modules)
    lib = emit.lib_module(plan, title, local_modules)
    files[f"src/{package}/__init__.py"] = f'"""{title}, converted from {source.name} by distill."""\n'
    files[f"src/{package}/pipeline.py"] = pipeline
    files[f"src/{package}/lib.py"] = lib
    for module in sorted(local_modules):
        path = folder / f"{module}.py"
        if path.is_file():
            files[f"src/{module}.py"] = path
        elif (folder / module).is_dir():
            for file in sorted((folder / module).rglob("*.py")):
                files[f"src/{module}/{file.relative_to(folder / module).as_posix()}"] = file
    for step in plan.steps:
        query = step.statements[0].query if step.kind == "query" else None
        if query is not None:
            files[query.file] = f"-- {query.output}: from cell {step.statements[0].cell} of {source.name}\n{query.sql}"
    data_notes = _data_files(plan, files, folder)
    requirements, dep_notes = _requirements(plan, log, local_modules, pipeline + lib)
    files["pyproject.toml"] = _pyproject(package, title, requirements)
    files["params.yaml"] = _params_yaml(plan)
    files["conftest.py"] = CONFTEST
    files[".gitignore"] = ".distill/\n__pycache__/\n*.egg-info/\n"
    files["tests/__init__.py"] = ""
    files["tests/test_pipeline.py"] = pipeline_tests()
    files["tests/test_lib.py"] = lib_tests(plan, package)
    notes = [*log.notes, *data_notes, *dep_notes]
    files["CONVERSION.md"] = conversion_report(source, plan, notes, requirements, package, _lint(source))
    _check(files, package, source)
    return files, plan, notes


def plan_notebook(source: Path) -> tuple[ConversionPlan, Log]:
    """Read, transform, classify and plan ``source``; the log holds the notes on the way.

    Raises:
        ConversionRefused: the notebook cannot be converted.
    """
    nb = read_notebook(source)
    if not nb.is_python:
        raise ConversionRefused(source, [Refusal(0, None, f"the notebook's language is {nb.language}, not Python",
                                                 "distill converts Python notebooks")])
    code_cells = nb.code_cells
    log = Log([c.number for c in code_cells], [c.source for c in code_cells])
    sources = apply(TRANSFORMS, [c.source for c in code_cells], log)
    if log.refusals:
        raise ConversionRefused(source, log.refusals)
    ir = build_ir(nb, sources, log)
    plan = plan_conversion(ir, log, source.resolve().parent)
    if log.refusals:
        raise ConversionRefused(source, _unique(log.refusals))
    if not plan.steps:
        raise ConversionRefused(source, [Refusal(0, None, "no cell computes anything a pipeline could keep "
                                                 "(only imports, definitions and displayed values)",
                                                 "distill converts notebooks that compute values")])
    return plan, log


def _unique(refusals: list[Refusal]) -> list[Refusal]:
    return list(dict.fromkeys(refusals))



def _title(nb: Notebook) -> str:
    for cell in nb.cells:
        if cell.kind == "markdown":
            match = re.search(r"^\s{0,3}#\s+(.+?)\s*$", cell.source, re.MULTILINE)
            if match:
                return re.sub(r"[*_`\"]", "", match.group(1)).strip()
    return nb.path.stem.replace("_", " ").replace("-", " ").strip().capitalize() or "Notebook"


def _local_modules(ir: NotebookIR, folder: Path) -> set[str]:
    out = set()
    for s in ir.imports:
        for imp in s.analysis.imports:
            if not imp.level and is_local(imp.top, folder) and not is_standard(imp.top):
                out.add(imp.top)
    return out


def _data_files(plan: ConversionPlan, files: dict[str, str | bytes | Path], folder: Path) -> list[Note]:
    notes = []
    for param in plan.params.values():
        if not param.is_path:
            continue
        value = str(param.value)
        if value.startswith("queries/"):
            continue  # written with the project
        if param.source_file is None:
            notes.append(Note(param.cell, param.line, "data", value,
                              "the file was not found beside the notebook; put it at this path in the project"))
            continue
        size = param.source_file.stat().st_size
        relative = Path(value)
        if relative.is_absolute() or ".." in relative.parts:
            relative = Path("data") / param.source_file.name
        if size > MAX_COPY_BYTES:
            rel = os.path.relpath(param.source_file, start=Path.cwd())
            notes.append(Note(param.cell, param.line, "data", value,
                              f"{size // (1024 * 1024)} MiB: not copied; the default points at {rel}"))
            param.value = rel
            continue
        files[relative.as_posix()] = param.source_file
        param.value = relative.as_posix()
        notes.append(Note(param.cell, param.line, "data", value,
                          f"copied into the project as {relative.as_posix()} (a Path param: a change re-runs what reads it)"))
    return notes



def _requirements(plan: ConversionPlan, log: Log, local_modules: set[str], code: str) -> tuple[list[str], list[Note]]:
    tree = quiet_parse(code)
    tops: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                tops.setdefault(alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            tops.setdefault(node.module.split(".")[0], None)
    notes: list[Note] = []
    found: dict[str, str] = {}
    for top in tops:
        if top in local_modules or is_standard(top) or top in KERNEL_MODULES or top == "distill":
            continue
        dist = distributions_for(top)[0]
        found.setdefault(normalize(dist), _pin(dist, notes, f"import {top}"))
    for spec in log.requirements:
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$", spec)
        if not match:
            continue
        dist = normalize(match.group(1))
        if dist in found:
            continue
        found[dist] = spec if match.group(2) else _pin(dist, notes, "!pip install")
    if "pandas" in found and "pyarrow" not in found:
        found["pyarrow"] = _pin("pyarrow", notes, "DataFrames are stored as Parquet")
    if any(step.kind == "figure" for step in plan.steps) and "matplotlib" not in found:
        found["matplotlib"] = _pin("matplotlib", notes, "report steps return figures")
    return ["distill", *sorted(found.values(), key=str.lower)], notes


def _pin(dist: str, notes: list[Note], why: str) -> str:
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        notes.append(Note(0, None, "dependency", dist, f"{why}: not installed where convert ran, so not pinned"))
        return dist
    return f"{normalize(dist)}=={version}"


def _pyproject(package: str, title: str, requirements: list[str]) -> str:
    deps = "".join(f"    {json.dumps(r)},\n" for r in requirements)
    return (
        "[project]\n"
        f'name = "{package.replace("_", "-")}"\n'
        'version = "0.1.0"\n'
        f"description = {json.dumps(title + ' (converted from a notebook by distill)')}\n"
        f'requires-python = ">={emit.python_version()}"\n'
        f"dependencies = [\n{deps}]\n\n"
        "[tool.distill]\n"
        f'pipeline = "{package}.pipeline"\n\n'
        "[tool.pytest.ini_options]\n"
        'testpaths = ["tests"]\n'
    )


def _params_yaml(plan: ConversionPlan) -> str:
    lines = ["# Run parameters of the pipeline (defaults live in the step signatures).",
             "# Edit a value and `distill status` shows which steps are stale; `--set name=value`",
             "# overrides them for one run."]
    used = {name for step in plan.steps for name in step.params}
    for name in sorted(used):
        param = plan.params[name]
        lines.append(f"# {param.reason} (cell {param.cell})")
        lines.append(f"{name}: {json.dumps(param.value if not isinstance(param.value, tuple) else list(param.value))}")
    if not used:
        lines.append("{}")
    return "\n".join(lines) + "\n"


def _lint(source: Path) -> tuple[Finding, ...]:
    from ..lint.engine import LintConfig, lint_file

    try:
        return lint_file(source, LintConfig()).findings
    except DistillError:
        return ()


def _check(files: dict[str, str | bytes | Path], package: str, source: Path) -> None:
    """Every generated module parses and the step graph has no problem; else refuse."""
    from ..analysis.source import analyze_module
    from ..pipeline.graph import build_graph

    problems: list[Refusal] = []
    for path, text in files.items():
        if path.endswith(".py") and isinstance(text, str):
            try:
                quiet_parse(text)
            except SyntaxError as exc:
                problems.append(Refusal(0, None, f"generated {path} does not parse (line {exc.lineno}: {exc.msg})",
                                        "report this notebook to the distill developers"))
    if not problems:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the user's own string escapes
            info = analyze_module(str(files[f"src/{package}/pipeline.py"]), f"{package}.pipeline", "pipeline.py")
        graph_problems = list(info.problems)
        if not graph_problems:
            _, graph_problems = build_graph(info.steps)
        for p in graph_problems:
            problems.append(Refusal(0, None, f"the generated pipeline is invalid: {p.message}",
                                    "report this notebook to the distill developers"))
    if problems:
        raise ConversionRefused(source, problems)


def _write(target: Path, files: dict[str, str | bytes | Path], force: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for rel, content in sorted(files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, path)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


CONFTEST = '''"""Put ``src/`` on sys.path so tests can import the package without installing it."""

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
'''
