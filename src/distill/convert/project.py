"""``convert``: a notebook in, a complete distill project out, or a refusal and nothing written.

Responsibilities:
- the coordinator: read → transforms → IR → plan → emit → check → write;
- the project's other files: ``pyproject.toml`` with dependencies pinned to the versions
  installed here, ``params.yaml``, ``conftest.py``, the generated tests, ``CONVERSION.md``,
  ``.gitignore``, and the data files the notebook reads, copied beside the code;
- the package's name, which never shadows a standard-library, installed or neighbouring module;
- checking the result before it is written: every module parses, the step graph built from
  the generated source has no problem (no cycle, no missing input, no duplicate output), and
  no hard-coded secret of the notebook is in any generated file;
- writing atomically: everything goes to a temporary folder beside ``DIR`` that is renamed
  into place at the end, so a failure leaves nothing half-written; ``MANIFEST`` lists what
  was written, so ``--force`` replaces only an unchanged conversion and moves anything else
  aside, never deleting a file convert did not write.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import gc
import hashlib
import json
import keyword
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DistillError
from ..lint.deps import KERNEL_MODULES, distributions_for, is_local, is_standard, normalize
from ..notebook.model import Notebook
from ..notebook.read import read_notebook
from ..pipeline.secrets import mask
from . import emit
from .emit import quiet_parse
from .ir import build_ir, plain_text
from .plan import MAX_COPY_BYTES, ConversionPlan, plan_conversion, slug
from .report import conversion_report
from .tests_gen import lib_tests, pipeline_tests
from .tidy import tidy
from .transforms import TRANSFORMS, Log, Note, Refusal, apply

if TYPE_CHECKING:
    import yaml

    from ..lint.model import Finding

#: Distributions the generated project always needs.


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
    #: (variable, what reads it: ``param NAME`` or where an inline secret was) of each secret the pipeline reads
    environment: tuple[tuple[str, str], ...] = ()
    moved_aside: Path | None = None  # where the folder that was at ``output`` went (``--force``)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the project still lacks, in words: modules found nowhere, data files not found."""
        return tuple(("" if not n.cell else f"cell {n.cell}: ") + f"{n.text}: {n.why}"
                     for n in self.notes if n.action == "missing")


def convert(notebook: str | os.PathLike[str], output: str | os.PathLike[str], *, name: str | None = None,
            force: bool = False) -> Conversion:
    """Convert ``notebook`` into a distill project in ``output``.

    Args:
        notebook: the ``.ipynb`` file.
        output: the project folder to create. It must not exist, or be empty, unless ``force``.
        name: the Python package name; by default derived from the notebook's file name, with
            a suffix when that name is a standard-library or installed module.
        force: put the new project at an existing ``output`` (only once it is complete): a
            folder holding only an earlier conversion's files, unchanged (``MANIFEST``), is
            replaced; anything else is moved aside to ``output.old-<time>``. Nothing else is
            ever deleted.

    Raises:
        ConversionRefused: the notebook cannot be converted; nothing was written.
        NotebookError: the file is not a readable notebook.
        DistillError: ``output`` exists (without ``force``), or the package name is not an
            identifier or would shadow another module.

    Example:
        >>> convert("analysis.ipynb", "analysis")  # doctest: +SKIP
    """
    source = Path(notebook)
    target = Path(output)
    if target.name in ("", ".", ".."):
        target = Path(os.path.abspath(target))
    if not force and os.path.lexists(target) and not _empty_folder(target):
        raise DistillError(f"{target} already exists and is not empty",
                           hint=f"choose another folder, or pass --force: it replaces a folder that holds only an "
                                f"unchanged earlier conversion, and moves anything else aside to "
                                f"{target.name}.old-<time>")
    package = _package_name(source, name)
    # Conversion builds many small records and frees none until it ends: the cyclic collector
    # would only rescan them (a fifth of the time on large notebooks).
    collecting = gc.isenabled()
    gc.disable()
    try:
        files, plan, notes = build_project(source, package)
    finally:
        if collecting:
            gc.enable()
    moved = _write(target, files, force)
    used = {n for step in plan.steps for n in step.params}
    environment = tuple((p.env, f"param {p.name}") for p in sorted(plan.params.values(), key=lambda p: p.name)
                        if p.env is not None and p.name in used)
    environment += tuple((variable, f"`{what}` in cell {cell}") for variable, what, cell in plan.environment)
    return Conversion(source, target, package, tuple(s.name for s in plan.steps), tuple(sorted(plan.params)),
                      tuple(plan.helpers), tuple(sorted(files)), tuple(notes), environment, moved)


#: Package names distill keeps for itself or the generated project's own folders.
RESERVED_NAMES = frozenset({"distill", "test", "tests", "lib"})


def _package_name(source: Path, name: str | None) -> str:
    """The generated package's name: ``name``, or one derived from the notebook's file name.

    A derived name that would shadow a module (``secrets.ipynb``: the standard library's
    ``secrets``) takes a suffix (``secrets_pipeline``); a given one is refused.
    """
    folder = source.resolve().parent
    if name is not None:
        if not name.isidentifier() or keyword.iskeyword(name) or name in RESERVED_NAMES:
            raise DistillError(f"{name!r} cannot be the package name",
                               hint="pass --name with a Python identifier, e.g. --name churn")
        clash = shadows(name, folder)
        if clash:
            raise DistillError(f"the package name {name!r} would shadow the {clash}",
                               hint=f"pass another --name, e.g. --name {name}_pipeline")
        return name
    base = slug(source.stem, words=6, limit=40, terse=False) or "pipeline"
    if not base.isidentifier():
        raise DistillError(f"{base!r} cannot be the package name",
                           hint="pass --name with a Python identifier, e.g. --name churn")
    for candidate in (base, f"{base}_pipeline", f"{base}_project", *(f"{base}_pipeline_{n}" for n in range(2, 100))):
        if candidate not in RESERVED_NAMES and not keyword.iskeyword(candidate) and not shadows(candidate, folder):
            return candidate
    raise DistillError(f"no package name derived from {source.name} is free", hint="pass --name")


def shadows(name: str, folder: Path | None = None) -> str | None:
    """What a top-level package ``name`` would shadow, in words, else ``None``: a
    standard-library module, an installed module (found on ``sys.path`` or in the installed
    distributions' metadata, never by importing), or a module beside the notebook."""
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return f"standard-library module {name}"
    if name in _installed_modules():
        return f"installed module {name}"
    if folder is not None and is_local(name, folder):
        return f"module {name} beside the notebook"
    return None


@functools.lru_cache(maxsize=1)
def _installed_modules() -> frozenset[str]:
    import pkgutil

    here = os.getcwd()
    paths = [entry for entry in sys.path if entry and os.path.abspath(entry) != here]
    names = {module.name for module in pkgutil.iter_modules(paths)}
    return frozenset(names | set(metadata.packages_distributions()))


def build_project(source: Path, package: str) -> tuple[dict[str, str | bytes | Path], ConversionPlan, list[Note]]:
    """Every file of the project, by relative path; nothing is written.

    Raises:
        ConversionRefused: the notebook cannot be converted.
    """
    plan, log = plan_notebook(source)
    ir = plan.ir
    nb = ir.notebook
    folder = source.resolve().parent
    local = _local_modules(plan, folder)
    local_modules = set(local.found)
    title = _title(nb)
    files: dict[str, str | bytes | Path] = {}
    data_notes = _data_files(plan, files, folder)
    pipeline = tidy(emit.rewrite_local_imports(emit.pipeline_module(plan, package, title, local_modules), local.names,
                                               package))
    lib = tidy(emit.rewrite_local_imports(emit.lib_module(plan, title, local_modules), local.names, package))
    files[f"src/{package}/__init__.py"] = f'"""{title}, converted from {source.name} by distill."""\n'
    files[f"src/{package}/pipeline.py"] = pipeline
    files[f"src/{package}/lib.py"] = lib
    module_notes = _copy_modules(local, package, files)
    for step in plan.steps:
        query = step.statements[0].query if step.kind == "query" else None
        if query is not None:
            files[query.file] = f"-- {query.output}: from cell {step.statements[0].cell} of {source.name}\n{query.sql}"
    for rel, sql in plan.scripts.items():
        files[rel] = f"-- builds the in-memory database the queries after it run on, from these cells of {source.name}\n{sql}"
    requirements, dep_notes = _requirements(plan, log, local, pipeline + lib, package)
    files["pyproject.toml"] = _pyproject(package, title, requirements)
    files["params.yaml"] = _params_yaml(plan)
    files["conftest.py"] = CONFTEST
    files[".gitignore"] = ".distill/\n__pycache__/\n*.egg-info/\n"
    files["tests/__init__.py"] = ""
    files["tests/test_pipeline.py"] = pipeline_tests()
    files["tests/test_lib.py"] = lib_tests(plan, package)
    notes = [*log.notes, *data_notes, *module_notes, *dep_notes]
    secrets = _notebook_secrets(plan)
    findings = tuple(dataclasses.replace(f, message=mask(f.message, secrets)) for f in _lint(source))
    files["CONVERSION.md"] = conversion_report(source, plan, notes, requirements, package, findings)
    _check_secrets(files, secrets, source)
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
    log = Log([c.number for c in code_cells], [c.source for c in code_cells], folder=source.resolve().parent)
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
            match = re.search(r"^[ \t]{0,3}#[ \t]+(.+?)[ \t]*$", cell.source, re.MULTILINE)
            if match:
                return plain_text(match.group(1)).replace('"', "").strip() or "Notebook"
    return nb.path.stem.replace("_", " ").replace("-", " ").strip().capitalize() or "Notebook"


#: Names the generated package holds already: a local module of that name is copied as ``<name>_module``.
TAKEN_IN_PACKAGE = frozenset({"pipeline", "lib", "__init__", "__main__"})
#: How many folders above the notebook's are searched for its own modules (a repository's root stops it).
MAX_PARENTS = 3
_SKIP_FOLDERS = frozenset({"__pycache__", ".ipynb_checkpoints", ".git"})


@dataclass
class LocalModules:
    """The notebook's own modules, found by path and read with ``ast`` only (never imported).

    Attributes:
        found: top-level name → its file (``formats.py``) or package folder (``homemade/``).
        names: top-level name → its name inside the generated package.
        third_party: top-level names the copied modules import that are neither local nor
            standard: pinned like the notebook's own imports.
        missing: top-level name → who imports it, for modules found nowhere (not standard,
            not installed, not local): a warning, never a pin.
        unparsable: copied files that do not parse, copied as they are.
    """

    found: dict[str, Path] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    third_party: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    unparsable: list[Path] = field(default_factory=list)


def _module_at(folder: Path, top: str) -> Path | None:
    """``folder/top.py``, or the package ``folder/top/`` (with ``__init__.py`` or modules in it)."""
    try:
        if (folder / f"{top}.py").is_file():
            return folder / f"{top}.py"
        package = folder / top
        if package.is_dir() and ((package / "__init__.py").is_file() or any(package.glob("*.py"))):
            return package
    except OSError:
        return None
    return None


def _module_files(found: Path) -> list[Path]:
    if found.is_file():
        return [found]
    return [f for f in sorted(found.rglob("*.py"))
            if not _SKIP_FOLDERS.intersection(f.relative_to(found).parts) and f.is_file()]


def _search_folders(plan: ConversionPlan, folder: Path) -> tuple[list[Path], list[Path]]:
    """Where the notebook's own modules are looked for: before the installed packages (the
    notebook's folder, ``sys.path.insert``), and after them (``sys.path.append``, then the
    folders above the notebook's, up to a repository's root)."""
    front = [folder, *(path for path, first in plan.module_paths if first)]
    back = [path for path, first in plan.module_paths if not first]
    for parent in list(folder.parents)[:MAX_PARENTS]:
        back.append(parent)
        if (parent / ".git").exists():
            break
    return list(dict.fromkeys(front)), [p for p in dict.fromkeys(back) if p not in front]


def _local_modules(plan: ConversionPlan, folder: Path) -> LocalModules:
    """The notebook's own modules and, transitively, the modules they import: what is copied
    into the package, what the copies need installed, and what is found nowhere."""
    front, back = _search_folders(plan, folder)
    local = LocalModules()
    queue: list[tuple[str, str]] = []
    for s in plan.ir.statements:
        for imp in s.analysis.imports:
            if not imp.level and imp.module:
                queue.append((imp.top, "the notebook"))
    seen: set[str] = set()
    while queue:
        top, by = queue.pop(0)
        if top in seen or is_standard(top) or top in KERNEL_MODULES or top == "distill":
            continue
        seen.add(top)
        found = next((m for m in (_module_at(d, top) for d in front) if m is not None), None)
        if found is None and top not in _installed_modules():
            found = next((m for m in (_module_at(d, top) for d in back) if m is not None), None)
        if found is None:
            if top not in _installed_modules():
                local.missing.setdefault(top, by)
            elif by != "the notebook":
                local.third_party.setdefault(top, by)
            continue
        local.found[top] = found
        name = top if top not in TAKEN_IN_PACKAGE else f"{top}_module"
        local.names[top] = name
        for file in _module_files(found):
            try:
                tree = ast.parse(file.read_bytes())
            except (SyntaxError, ValueError, OSError):
                local.unparsable.append(file)
                continue
            for node in ast.walk(tree):
                tops = [a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module.split(".")[0]] if isinstance(node, ast.ImportFrom) and not node.level \
                    and node.module else []
                queue.extend((t, file.name) for t in tops if t != top)
    return local


def _copy_modules(local: LocalModules, package: str, files: dict[str, str | bytes | Path]) -> list[Note]:
    """Copy each local module into the package, its imports of the others rewritten to it."""
    notes: list[Note] = []
    for top, found in sorted(local.found.items()):
        name = local.names[top]
        for file in _module_files(found):
            rel = f"{name}.py" if found.is_file() else f"{name}/{file.relative_to(found).as_posix()}"
            target = f"src/{package}/{rel}"
            if file in local.unparsable:
                files[target] = file
                continue
            text = file.read_text(encoding="utf-8", errors="surrogateescape")
            rewritten = emit.rewrite_local_imports(text, local.names, package)
            files[target] = file if rewritten == text else rewritten
        where = found.name
        notes.append(Note(0, None, "module", f"import {top}",
                          f"the notebook's own module {where} (from {found.parent}) is copied into the package as "
                          f"src/{package}/{name}{'.py' if found.is_file() else '/'}; imports of it point there"))
    for top, by in sorted(local.missing.items()):
        notes.append(Note(0, None, "missing", f"import {top}",
                          f"imported by {by}, but found nowhere: not in the standard library, not installed, not "
                          f"beside the notebook nor in the folders it adds to sys.path; not a dependency. Add its "
                          f"distribution to pyproject.toml, or put the module beside the notebook and convert again"))
    return notes


def _data_files(plan: ConversionPlan, files: dict[str, str | bytes | Path], folder: Path) -> list[Note]:
    """The data files the plan placed (``plan.copies``) and the listings the notebook reads."""
    files.update(plan.copies)
    notes = list(plan.data_notes)
    notes.extend(_copy_listings(plan, files, folder))
    return notes


def _literal_prefix(pattern: str) -> str:
    """The folders of a glob pattern before its first wildcard (``logs/2024/*.csv`` → ``logs/2024``)."""
    parts = Path(pattern).parts
    for index, part in enumerate(parts):
        if any(c in part for c in "*?["):
            return Path(*parts[:index]).as_posix() if index else "."
    return Path(pattern).as_posix()


#: At most this many files of one listing (a glob, a folder) are copied.
MAX_LISTED_FILES = 1000


def _copy_listings(plan: ConversionPlan, files: dict[str, str | bytes | Path], folder: Path) -> list[Note]:
    """Every file a listing the notebook reads matches (``glob.glob("logs/*.csv")``, a
    folder), copied to the listing's place in the project."""
    import glob as globbing

    notes: list[Note] = []
    for listing in plan.globs:
        pattern = listing.pattern
        literal = _literal_prefix(pattern)
        target_base = Path(_literal_prefix(listing.target))
        base = folder / literal
        try:
            if base.is_file():
                matches = [literal]
                target_base = Path(listing.target).parent
                base = base.parent
            elif literal == pattern:  # a folder: the files in it
                matches = sorted(globbing.glob(os.path.join(globbing.escape(pattern), "*"), root_dir=folder))
            else:
                matches = sorted(globbing.glob(pattern, root_dir=folder, recursive=True))
        except OSError:
            matches = []
        copied = skipped = 0
        for match in matches:
            source = Path(match) if Path(match).is_absolute() else folder / match
            if not source.is_file() or copied >= MAX_LISTED_FILES:
                continue
            if source.stat().st_size > MAX_COPY_BYTES:
                skipped += 1
                continue
            files.setdefault((target_base / os.path.relpath(source, base)).as_posix(), source)
            copied += 1
        moved = f" (the code now reads {listing.target})" if listing.target != pattern else ""
        if not copied:
            notes.append(Note(listing.cell, listing.line, "missing", pattern,
                              f"nothing matches it where the notebook reads it: put the files at {listing.target} "
                              f"in the project"))
        else:
            extra = f"; {skipped} over {MAX_COPY_BYTES // (1024 * 1024)} MiB not copied" if skipped else ""
            notes.append(Note(listing.cell, listing.line, "data", pattern,
                              f"{copied} file{'s' if copied != 1 else ''} copied into the project under "
                              f"{target_base.as_posix()}/{moved}{extra}"))
    return notes



def _requirements(plan: ConversionPlan, log: Log, local: LocalModules, code: str,
                  package: str) -> tuple[list[str], list[Note]]:
    tree = quiet_parse(code)
    tops: dict[str, None] = dict.fromkeys(local.third_party)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                tops.setdefault(alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            tops.setdefault(node.module.split(".")[0], None)
    notes: list[Note] = []
    found: dict[str, str] = {}
    for top in tops:
        if top in local.found or top in ("distill", package) or (is_standard(top) and top != "IPython"):
            continue  # NB: the project never lists itself, nor the notebook's own modules (copied into it);
            #           IPython is a dependency when the generated code imports it (``display`` in a step)
        if top in local.missing or top not in _installed_modules():
            continue  # found nowhere: a warning (``_copy_modules``), never a pin
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
    from .. import __version__

    # NB: pinned like every other dependency: the generated code uses this version's API
    return [f"distill=={__version__}", *sorted(found.values(), key=str.lower)], notes


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
    used = {name for step in plan.steps for name in step.params}
    entries = []
    for name in sorted(used):
        param = plan.params[name]
        entries.append((name, param.value, f"{param.reason} (cell {param.cell})"))
    return params_yaml(entries)


PARAMS_HEADER = ("# Run parameters of the pipeline (defaults live in the step signatures; lists and secrets only here).",
                 "# Edit a value and `distill status` shows which steps are stale; `--set name=value`",
                 "# overrides them for one run.")


def params_yaml(entries: Sequence[tuple[str, object, str]]) -> str:
    """The text of ``params.yaml``: the header, then each ``(name, value, comment)`` in order,
    the comment on the line above its key.

    Keys and values are written by PyYAML with ``params_dumper``, so the file reads back
    through the params loader (``pipeline.params_text``) to the same values: text that a
    loader could read as a number, a bool or null (``true``, ``yes``, ``1e5``, ``0x10``,
    ``007``, ``""``) is quoted, keys included.
    """
    import yaml

    lines = list(PARAMS_HEADER)
    for name, value, comment in entries:
        lines.append("# " + " ".join(comment.split()))
        text = yaml.dump(_Block({name: value}), Dumper=params_dumper(), allow_unicode=True, default_flow_style=None,
                         sort_keys=False, width=1 << 30)
        lines.append(text.rstrip("\n"))
    if not entries:
        lines.append("{}")
    return "\n".join(lines) + "\n"


class _Block(dict[str, object]):
    """The top-level mapping of ``params.yaml``: always one ``key: value`` per line."""


_DUMPER: type[Any] | None = None


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # NB: a single-quoted scalar folds U+0085 (a YAML line break) into a space: escape it.
    #     Text of several lines is a literal block (`|`) where the emitter allows one.
    style = '"' if any(c in data for c in "\x85\u2028\u2029") else "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def params_dumper() -> type[yaml.SafeDumper]:
    """A ``yaml.SafeDumper`` that quotes every string a YAML 1.1 reader *or* the params loader
    (YAML 1.2 core, JSON numbers) would read as something else; tuples are lists."""
    global _DUMPER
    if _DUMPER is None:
        import yaml

        from ..pipeline.params_text import params_loader

        class ParamsDumper(yaml.SafeDumper):
            """``SafeDumper`` whose implicit types are YAML 1.1's and the params loader's together."""

        resolvers = {first: list(items) for first, items in yaml.SafeDumper.yaml_implicit_resolvers.items()}
        for first, items in params_loader().yaml_implicit_resolvers.items():
            resolvers.setdefault(first, []).extend(items)
        ParamsDumper.yaml_implicit_resolvers = resolvers
        ParamsDumper.add_representer(tuple, yaml.SafeDumper.represent_list)
        ParamsDumper.add_representer(str, _represent_str)
        ParamsDumper.add_representer(_Block, lambda dumper, data: dumper.represent_mapping(
            "tag:yaml.org,2002:map", data, flow_style=False))
        _DUMPER = ParamsDumper
    return _DUMPER


def _lint(source: Path) -> tuple[Finding, ...]:
    from ..lint.engine import LintConfig, lint_file

    try:
        return lint_file(source, LintConfig()).findings
    except DistillError:
        return ()


#: Shorter secret values are not searched for: a few characters match text anywhere.
MIN_SECRET_LENGTH = 6


def _notebook_secrets(plan: ConversionPlan) -> dict[str, tuple[int, int, str]]:
    """The notebook's hard-coded secrets, each with its cell, line and kind (never shown).

    The values of params now read from the environment (``plan._secrets``), every string
    literal lint's DL302 rule calls a secret, and the password of a URL that holds one.
    Values shorter than ``MIN_SECRET_LENGTH`` are left out: a few characters match text
    anywhere.
    """
    from ..lint.checks import _CREDENTIAL_URL, _TOKENS
    from .plan import secret_kind

    secrets: dict[str, tuple[int, int, str]] = {}
    env_params = {p.name for p in plan.params.values() if p.env is not None}
    for s in plan.ir.statements:
        found: list[tuple[str, int, str]] = []
        if s.kind == "param" and s.binds and s.binds[0] in env_params and isinstance(s.value, str):
            found.append((s.value, s.line, f"the value of `{s.binds[0]}`"))
        texts = [(string.context, string.value, string.line) for string in s.analysis.strings]
        texts += [(None, text, magic.line) for magic in s.analysis.magics for text in (magic.args, magic.body) if text]
        for context, value, line in texts:
            kind = secret_kind(context, value)
            if kind is not None:
                found.append((value, s.line + line - 1, kind))
        for value, line, kind in found:
            url = _CREDENTIAL_URL.search(value)
            parts = [value, url.group(2) if url else ""]
            parts += [match.group(0) for _, pattern in _TOKENS for match in pattern.finditer(value)]
            for text in parts:
                if len(text.strip()) >= MIN_SECRET_LENGTH:
                    secrets.setdefault(text, (s.cell, line, kind))
    return secrets


def _check_secrets(files: dict[str, str | bytes | Path], secrets: dict[str, tuple[int, int, str]],
                   source: Path) -> None:
    """No hard-coded secret of the notebook (``_notebook_secrets``) is written into the
    project; else refuse.

    A secret that did not become a param (written inline, assigned twice, a helper's
    default) would be copied with the code: the notebook is refused, naming the cell and
    line, never the value.
    """
    forms = {form: where for value, where in secrets.items()
             for form in {value, repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}}
    problems: dict[tuple[int, int], Refusal] = {}
    for rel, text in sorted(files.items()):
        if not isinstance(text, str):
            continue  # NB: the user's own files (data, modules beside the notebook) are copied as they are
        for form, (cell, line, kind) in forms.items():
            if form in text and (cell, line) not in problems:
                problems[(cell, line)] = Refusal(
                    cell, line, f"a hard-coded secret ({kind}) would be copied into the generated {rel}",
                    "assign it once, in a statement of its own (API_TOKEN = \"...\"), so that it becomes a param read "
                    "from the environment, or read it with os.environ, then convert again")
    if problems:
        raise ConversionRefused(source, [problems[key] for key in sorted(problems)])


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


#: Every file a conversion wrote, with its SHA-256: what ``--force`` may replace.
MANIFEST = ".distill-manifest.json"
#: The project's store, carried over by ``--force`` (never listed, never replaced).
STORE = ".distill"


def _write(target: Path, files: dict[str, str | bytes | Path], force: bool) -> Path | None:
    """Write the project to a staging folder, then rename it to ``target``.

    An existing ``target``: an empty folder is replaced; with ``force``, so is a folder whose
    every file is in its ``MANIFEST`` with the hash recorded there; anything else (the user's
    files, an edited generated file, no manifest, a file in place of the folder) is moved
    aside to ``target.old-YYYYmmdd-HHMMSS``, which is returned. Nothing else is deleted.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    moved: Path | None = None
    try:
        hashes: dict[str, str] = {}
        for rel, content in sorted(files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, path)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            hashes[rel] = _sha256(path)
        manifest = {"format": 1, "written_by": "distill convert", "files": hashes}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if not os.path.lexists(target):
            os.replace(staging, target)
            return None
        if _empty_folder(target) or (force and _only_conversion(target)):
            # The store (cache and run history) belongs to the project, not to the code
            # generated into it: it moves into the new conversion.
            store = target / STORE
            kept = os.path.isdir(store) and not os.path.islink(store)
            if kept:
                os.replace(store, staging / STORE)
            trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            try:
                os.replace(target, trash / target.name)
            except BaseException:
                if kept:
                    os.replace(staging / STORE, store)
                raise
            try:
                os.replace(staging, target)
            except BaseException:
                os.replace(trash / target.name, target)
                if kept:
                    os.replace(staging / STORE, store)
                raise
            if _only_conversion(trash / target.name) or _empty_folder(trash / target.name):
                shutil.rmtree(trash, ignore_errors=True)
            else:
                # NB: a file appeared between the check and the rename: keep it
                moved = _move_aside(trash / target.name, target)
                trash.rmdir()
            return moved
        if not force:
            raise DistillError(f"{target} already exists and is not empty",
                               hint="choose another folder, or pass --force")
        moved = _move_aside(target, target)
        try:
            os.replace(staging, target)
        except BaseException:
            os.replace(moved, target)
            raise
        return moved
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def record_in_manifest(root: Path, folders: Iterable[str]) -> None:
    """Add every file now under ``folders`` (relative to the project ``root``) to its
    ``MANIFEST``: what ``verify`` records is generated too, and a later ``convert --force``
    may replace it. A project without a readable manifest is left alone."""
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        listed = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not isinstance(listed, dict):
        return
    for folder in folders:
        prefix = folder.rstrip("/") + "/"
        for rel in [r for r in listed if r.startswith(prefix)]:
            del listed[rel]  # files of an earlier recording that are gone
        base = root / folder
        if base.is_dir():
            for file in sorted(base.rglob("*")):
                if file.is_file() and not file.is_symlink():
                    listed[file.relative_to(root).as_posix()] = _sha256(file)
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _only_conversion(folder: Path) -> bool:
    """Whether every file in ``folder`` is one its ``MANIFEST`` lists, unchanged (same
    SHA-256), and every folder in it holds one of them."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        listed = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not isinstance(listed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in listed.items()):
        return False
    needed = {Path(rel).parent.as_posix() for rel in listed}
    needed = {parent for rel in needed for parent in [rel, *(p.as_posix() for p in Path(rel).parents)]}
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        if here == folder and STORE in dirs and not (folder / STORE).is_symlink():
            dirs.remove(STORE)  # carried over, not replaced
        for name in dirs:
            path = here / name
            if path.is_symlink() or path.relative_to(folder).as_posix() not in needed:
                return False
        for name in names:
            path = here / name
            rel = path.relative_to(folder).as_posix()
            if rel == MANIFEST:
                continue
            if path.is_symlink() or not path.is_file() or listed.get(rel) != _sha256(path):
                return False
    return True


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _move_aside(path: Path, target: Path) -> Path:
    """Rename ``path`` to ``target.old-YYYYmmdd-HHMMSS`` (``-2``, ``-3``… if taken); the new name."""
    base = f"{target.name}.old-{_timestamp()}"
    for n in range(1, 10_000):
        candidate = target.with_name(base if n == 1 else f"{base}-{n}")
        if os.path.lexists(candidate):
            continue
        try:
            os.rename(path, candidate)
        except OSError:
            if os.path.lexists(candidate):
                continue  # NB: taken between the check and the rename
            raise
        return candidate
    raise DistillError(f"cannot move {target} aside: every {base}-N name is taken", hint="clean up old copies")


CONFTEST = '''"""Put ``src/`` on sys.path so tests can import the package without installing it."""

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
'''
