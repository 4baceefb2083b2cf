"""A session: one project read, validated and ready to plan or run.

Responsibilities (the coordinator that wires the pure parts together):
- find the project, load the memo state, read module records from source;
- build the graph, resolve params, hash data inputs, and raise one ``ValidationError``
  holding every problem found;
- ``Session``: a frozen value holding what planning needs (graph, params, data hashes, the
  memoised static key parts of each step, a read-only view of the cache) and what running
  needs (the store, the cache index, the step functions, imported only when a step runs).

Nothing here imports user code to plan: the graph, params and keys come from source.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis.source import StepDecl
from .cache.fingerprint import CodeIndex, EnvIndex, Read, hash_data
from .cache.key import KeyParts
from .cache.store import ObjectStore, check_store
from .errors import DistillError, Problem, ProjectError, ValidationError
from .memo import RACY_NS, State, load_state, stat_key
from .pipeline.graph import FILE_PREFIX, Graph, build_graph, paths_overlap
from .pipeline.params import ParamValue, reads_environment, resolve_params
from .pipeline.project import Project, find_project
from .pipeline.sources import Sources
from .runs.registry import CacheEntry, Registry


class StaticKeys:
    """The static key parts of each step, computed on first use and kept for the session.

    Not a record: a memo over immutable inputs (graph, params, data hashes, code and
    package indexes), so asking twice costs a dictionary lookup.
    """

    def __init__(
        self,
        graph: Graph,
        params: Mapping[str, Mapping[str, ParamValue]],
        data_hashes: Mapping[str, str],
        code_index: CodeIndex,
        env_index: EnvIndex,
        root: str,
        state: State,
    ) -> None:
        self._root = root
        self._state = state
        self._graph = graph
        self._params = params
        self._data_hashes = data_hashes
        self.code_index = code_index
        self.env_index = env_index
        self._memo: dict[str, KeyParts] = {}
        self._writes: list[tuple[str, str]] | None = None
        self._volatile: frozenset[str] | None = None

    def __getitem__(self, step: str) -> KeyParts:
        parts = self._memo.get(step)
        if parts is None:
            decl = self._graph.steps[step]
            closure = self.code_index.closure_digest(decl)
            values = self._params[step]
            data = {
                n: (v.value, self._data_hashes[v.absolute])
                for n, v in values.items()
                if v.is_path and v.absolute is not None
            }
            environ: dict[str, str | None] = {}
            for read in self.reads(step):
                if read.kind == "env":
                    environ[read.value] = os.environ.get(read.value)
                elif read.kind in ("file", "glob"):
                    data[f"read {read.value}"] = (read.value, self._read_hash(read.kind, read.value))
            parts = KeyParts.build(
                step=step,
                outputs=decl.outputs,
                code=closure.code,
                code_digest=closure.digest,
                packages=self.env_index.versions(closure.packages),
                params={n: v.key_value for n, v in values.items()},
                data=data,
                environ=environ,
            )
            if step not in self.volatile():
                self._memo[step] = parts
        return parts

    def volatile(self) -> frozenset[str]:
        """Steps reading files that another step of the graph writes: their read hashes are
        taken anew each time they are asked for, since a writer may change them mid-run.

        NB: the file is hashed from disk, not taken from the writer's output alone: a glob may
            also match files no step writes (the user's), and those count too:
                @step(writes=["out/a.csv"]) def w(): ...;  @step def r(): glob("out/*.csv")
        """
        if self._volatile is None:
            written = self._written()
            self._volatile = frozenset(
                step
                for step in self._graph.steps
                if written
                and any(
                    paths_overlap(read.value, pattern)
                    for read in self.reads(step)
                    if read.kind in ("file", "glob")
                    for pattern, producer in written
                    if producer != step
                )
            )
        return self._volatile

    def _written(self) -> list[tuple[str, str]]:
        """``(pattern, step)`` of every declared written file (computed once)."""
        if self._writes is None:
            self._writes = [
                (o[len(FILE_PREFIX) :], producer)
                for o, producer in self._graph.provider.items()
                if o.startswith(FILE_PREFIX)
            ]
        return self._writes

    def refreshed(self) -> StaticKeys:
        """A copy for a new run in this process: parts that hold what the code reads from
        files or the environment are computed again (they may have changed since)."""
        copy = StaticKeys(
            self._graph, self._params, self._data_hashes, self.code_index, self.env_index, self._root, self._state
        )
        copy._memo = {
            step: parts
            for step, parts in self._memo.items()
            if not parts.environ and not any(name.startswith("read ") for name, _, _ in parts.data)
        }
        return copy

    def reads(self, step: str) -> list[Read]:
        """What the step reads outside Python: found in its code, and declared with ``@step``."""
        decl = self._graph.steps[step]
        where = f"{decl.where} (declared)"
        found = list(self.code_index.closure_digest(decl).reads)
        found.extend(Read("glob" if any(c in r for c in "*?[") else "file", r, where) for r in decl.reads)
        found.extend(Read("env", name, where) for name in decl.env)
        return found

    def unresolved(self, step: str) -> list[Read]:
        """Reads the analysis cannot resolve, unless the step declares what it reads."""
        decl = self._graph.steps[step]
        if decl.reads or decl.env:
            return []
        return [r for r in self.code_index.closure_digest(decl).reads if r.kind == "unresolved"]

    def _read_hash(self, kind: str, value: str) -> str:
        """Content hash of a file, folder or glob the code reads ("missing" if there is none)."""
        root = self._root
        if kind == "file":
            target = os.path.join(root, value)
            return hash_data(target, self._state) or "missing"
        matches = sorted(glob.glob(os.path.join(root, value), recursive=True))
        h = hashlib.blake2b(digest_size=20)
        for match in matches:
            rel = os.path.relpath(match, root).replace(os.sep, "/")
            h.update(f"{rel}\0{hash_data(match, self._state) or 'missing'}\n".encode())
        return f"glob:{len(matches)}:{h.hexdigest()}"


class Functions:
    """Step functions, imported from the user's modules only when a step must run."""

    def __init__(
        self,
        project: Project,
        sources: Sources,
        preloaded: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        self._project = project
        self._sources = sources
        self._loaded: dict[str, Callable[..., Any]] = dict(preloaded or {})
        self._fresh = False

    def __call__(self, decl: StepDecl) -> Callable[..., Any]:
        loaded = self._loaded.get(decl.name)
        if loaded is not None:
            return loaded
        if not self._fresh:
            _forget_changed_modules(self._sources)
            self._fresh = True
        module = import_user_module(self._project, decl.module)
        _note_imported(self._sources)
        fn = getattr(module, decl.name, None)
        if fn is None or not callable(fn):
            raise ProjectError(
                f"step {decl.name!r} is in the source of {decl.module} ({decl.where}) but not "
                "in the imported module",
                hint="define steps at the top level of the module, not inside if/try blocks",
            )
        self._loaded[decl.name] = fn
        return fn  # type: ignore[no-any-return]


class IndexView:
    """The cache index and store as planning sees them: read only, latest entries read once."""

    def __init__(self, registry: Registry, store: ObjectStore, root: Path, state: State) -> None:
        self._registry = registry
        self._store = store
        self._root = root
        self._state = state
        self.data_version = registry.data_version()  # read first: what follows is at least as new
        self.latest_entries: dict[str, CacheEntry] = registry.latest()
        self._last_statuses: dict[str, str] | None = None
        self._unverified: set[str] | None = None

    def latest(self, step: str) -> CacheEntry | None:
        return self.latest_entries.get(step)

    def lookup(self, step: str, key: str) -> CacheEntry | None:
        latest = self.latest_entries.get(step)
        if latest is not None and latest.key == key:
            return latest
        return self._registry.entries([key]).get(key)

    def missing_files(self, entry: CacheEntry) -> list[str]:
        from .execute.files import changed

        out: list[str] = []
        for meta in entry.outputs.values():
            if meta.get("kind") == "files":
                out.extend(changed(self._root, meta["summary"]["files"], self._state))
        return out

    def unverified(self, step: str) -> bool:
        if self._unverified is None:
            self._unverified = self._registry.rejected_steps()
        return step in self._unverified

    def ran_uncached(self, step: str) -> bool:
        if self._last_statuses is None:
            self._last_statuses = self._registry.last_statuses()
        return self._last_statuses.get(step) == "ran"

    def damage(self, entry: CacheEntry) -> list[str]:
        problems = []
        for name, digest, size in entry.objects():
            if not self._store.has(digest, size):
                if self._store.has(digest):
                    problems.append(f"cached output {name} is corrupted in the store (its size changed)")
                else:
                    problems.append(f"cached output {name} is missing from the store")
        return problems


@dataclass(frozen=True, slots=True)
class Session:
    """One validated project. Build it with ``open_session``; narrow it with ``with_graph``.

    Attributes:
        project: the project.
        graph: the steps to plan or run (all of them, or a selection).
        params: step → param → checked value.
        data_hashes: absolute path → content hash of every data input.
        keys: step → static key parts (memoised).
        store: the object store.
        registry: the cache index and run history.
        functions: imports step functions on demand.
        state: the memo tables, saved on ``close``.
        sources: the module records read from source.
    """

    project: Project
    graph: Graph
    params: Mapping[str, Mapping[str, ParamValue]]
    data_hashes: Mapping[str, str]
    keys: StaticKeys
    store: ObjectStore
    registry: Registry
    functions: Functions
    state: State
    sources: Sources

    def uncached(self) -> dict[str, str]:
        """Steps that read what the analysis cannot resolve, and why each runs every time."""
        out: dict[str, str] = {}
        for step in self.graph.steps:
            unresolved = self.keys.unresolved(step)
            if unresolved:
                first = unresolved[0]
                more = f" (and {len(unresolved) - 1} more)" if len(unresolved) > 1 else ""
                out[step] = (
                    f"reads {first.value} at {first.where}{more}, which distill cannot resolve: "
                    f"runs every time; declare what it reads with @step(reads=[...]) or "
                    f"@step(env=[...]) to cache it"
                )
        return out

    def with_graph(self, graph: Graph) -> Session:
        """The same session over another graph (a subset of this one)."""
        return dataclasses.replace(self, graph=graph)

    def cache_view(self) -> IndexView:
        return IndexView(self.registry, self.store, self.project.root, self.state)

    def function(self, decl: StepDecl) -> Callable[..., Any]:
        return self.functions(decl)

    def close(self) -> None:
        self.keys.code_index.save_memo()
        self.state.save()
        self.registry.close()


# Project module → hash of its source when this process last imported it through distill.
_IMPORTED: dict[str, str] = {}


def _project_modules(sources: Sources) -> list[str]:
    """Project modules the pipeline reaches that this process has imported."""
    return [name for name in sources.located() if name in sys.modules]


def _forget_changed_modules(sources: Sources) -> None:
    """Make the next import read the project's code as it is now.

    NB: in a long-lived process (a notebook, a test session) a project module may have been
        imported before its file was edited, or by the user rather than by distill; running
        that old code would store its results under the new code's key:
            import pipe; <edit pipe.py>; distill.run()   # must run the edited pipe
    When any project module is not known to match its file, every project module is
    forgotten, so modules that import from each other are re-imported together.
    """
    loaded = _project_modules(sources)
    foreign = _foreign_packages(sources)
    if foreign or any(
        (info := sources.module(name)) is None
        or _IMPORTED.get(name) != info.source_hash
        or not _same_file(getattr(sys.modules[name], "__file__", None), os.path.join(sources.project.root, info.path))
        for name in loaded
    ):
        for name in [*loaded, *foreign]:
            sys.modules.pop(name, None)
            _IMPORTED.pop(name, None)
        importlib.invalidate_caches()


def _foreign_packages(sources: Sources) -> list[str]:
    """Packages above the project's modules that this process imported from elsewhere (another
    project with the same package name): importing under them would load the other's files."""
    roots = [os.path.realpath(root) + os.sep for root in sources.project.source_roots]
    out = []
    for name in sources.located():
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            file = getattr(sys.modules.get(parent), "__file__", None)
            if file and not os.path.realpath(file).startswith(tuple(roots)) and parent not in out:
                out.append(parent)
    return out


def _same_file(loaded: str | None, located: str) -> bool:
    """Whether an imported module came from the file the project's sources locate (another
    project with the same package name, imported earlier in this process, did not)."""
    if loaded is None:
        return False
    try:
        return os.path.samefile(loaded, located)
    except OSError:
        return False


def _note_imported(sources: Sources) -> None:
    for name in _project_modules(sources):
        if name not in _IMPORTED:
            info = sources.module(name)
            if info is not None:
                _IMPORTED[name] = info.source_hash


def import_user_module(project: Project, name: str) -> Any:
    for root in reversed(project.source_roots):
        text = str(root)
        if text not in sys.path:
            sys.path.insert(0, text)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        raise DistillError(
            f"importing {name} failed: no module named {missing!r}",
            hint=f"install it (pip install {missing.split('.')[0]}) or add it to the project's dependencies",
        ) from exc
    except DistillError:
        raise
    except Exception as exc:
        raise DistillError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc


# -- reuse within one process -------------------------------------------------------------

Stamp = tuple[tuple[str, tuple[int, int, int] | None], ...]


@dataclass(frozen=True, slots=True)
class _Warm:
    """What ``open_session`` built, kept for the next call in this process while no file it
    read has changed (a notebook, a test or a server running the same pipeline again)."""

    stamp: Stamp
    session: Session


_WARM: dict[tuple[object, ...], _Warm] = {}


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat_key(st)


def _stamp(project: Project, sources: Sources, env: str | None) -> Stamp | None:
    """The stats of every file and folder a session was built from, or ``None`` when one of
    them changed too recently to be trusted (a same-size edit within the clock's resolution)."""
    paths = {str(project.root / "pyproject.toml"), str(project.root / "params.yaml")}
    if env:
        paths.add(str(project.root / f"params.{env}.yaml"))
    # NB: folders too: a new module file in a package, or one that now shadows a library,
    #     changes what names resolve to, and only its folder's mtime says so.
    paths.update(str(root) for root in project.source_roots)
    for path in sources.files():
        paths.add(path)
        paths.add(os.path.dirname(path))
    paths.update(entry or "." for entry in sys.path)
    now = time.time_ns()
    stamp = tuple(sorted((path, _stat(path)) for path in paths))
    for path, stats in stamp:
        # NB: only a file's content can change without its stat changing (a same-size edit
        #     within the clock's resolution); a folder's entries cannot, so a folder written
        #     a moment ago (a __pycache__ appearing) is as trustworthy as any.
        if stats is not None and stats[1] >= now - RACY_NS and not os.path.isdir(path):
            return None
    return stamp


def _warm_session(
    key: tuple[object, ...], project: Project, store: ObjectStore | None, registry: Registry | None,
    functions: Mapping[str, Callable[..., Any]] | None,
) -> Session | None:
    warm = _WARM.get(key)
    if warm is None:
        return None
    if tuple((path, _stat(path)) for path, _ in warm.stamp) != warm.stamp:
        del _WARM[key]
        return None
    cached = warm.session
    if {path: hash_data(path, cached.state) for path in cached.data_hashes} != cached.data_hashes:
        del _WARM[key]
        return None
    return dataclasses.replace(
        cached,
        project=project,
        keys=cached.keys.refreshed(),
        store=store or ObjectStore(project.store),
        registry=registry or Registry(project.store),
        functions=Functions(project, cached.sources, functions),
    )


def open_session(
    project_dir: str | None = None,
    *,
    env: str | None = None,
    overrides: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    targets: Sequence[str] = (),
    project: Project | None = None,
    only: set[tuple[str, str]] | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    store: ObjectStore | None = None,
    registry: Registry | None = None,
    readonly: bool = False,
) -> Session:
    """Read and validate a project.

    Args:
        project_dir: a folder at or below the project root (current folder by default).
        env: params overlay name (``params.<env>.yaml``).
        overrides: raw ``--set`` values (text).
        values: typed param values given from Python.
        targets: restrict to these steps or outputs and what they need.
        project: an already-built project (used by ``Pipeline``).
        only: restrict to these ``(module, function)`` steps.
        functions: step functions already imported, by step name.
        store: the object store (the project's by default).
        registry: the cache index and run history (the project's by default).
        readonly: only read the store (``status``, ``show``, ``load``): the index is opened
            read-only and nothing is created.

    Raises:
        ProjectError: no project or no pipeline module.
        StoreAccessError: the store is a file, or (unless ``readonly``) cannot be written.
        ValidationError: every problem found in the graph, params and data inputs.
    """
    project = project or find_project(project_dir)
    check_store(project.store, write=not readonly and store is None)
    overrides_key = (
        tuple(sorted((overrides or {}).items())),
        json.dumps(values or {}, sort_keys=True, default=repr),
    )
    only_key = frozenset(only) if only is not None else None
    config = repr(sorted(project.config.items()))
    where = (project.root, project.pipeline, project.source_roots, project.store, config)
    warm_key = (where, env, overrides_key, tuple(targets), only_key)
    reused = _warm_session(warm_key, project, store, registry or Registry(project.store, readonly=readonly), functions)
    if reused is not None:
        return reused
    state = load_state(project.store, project.root)
    sources = Sources(project, state)
    modules = sources.pipeline_modules()
    problems: list[Problem] = []
    decls: list[StepDecl] = []
    for info in modules:
        problems.extend(info.problems)
        for decl in info.steps:
            if only is None or (decl.module, decl.name) in only:
                decls.append(decl)
    if not decls and not problems:
        names = ", ".join(project.pipeline)
        raise ProjectError(
            f"no @step functions found in {names}",
            hint="decorate top-level functions with @step (from distill import step)",
        )
    code_index = CodeIndex(sources)
    file_reads: dict[str, list[str]] = {}
    if any(decl.writes for decl in decls):
        # A step reading what another one writes depends on it: the graph needs the reads.
        for decl in decls:
            found = [r.value for r in code_index.closure_digest(decl).reads if r.kind in ("file", "glob")]
            file_reads[decl.name] = [*found, *decl.reads]
    graph, graph_problems = build_graph(decls, file_reads)
    problems.extend(graph_problems)
    if targets and not any(p.code == "cycle" for p in problems):
        graph = graph.subset(targets)
    params, param_problems = resolve_params(project, graph, state, env=env, overrides=overrides, typed=values)
    problems.extend(param_problems)
    data_hashes: dict[str, str] = {}
    for step, values in params.items():
        for value in values.values():
            if value.is_path and value.absolute is not None and value.absolute not in data_hashes:
                digest = hash_data(value.absolute, state)
                if digest is None:
                    problems.append(
                        Problem(
                            "missing-data",
                            f"data input {value.value!r} (param {value.name!r} of step {step!r}, "
                            f"from {value.source}) does not exist",
                            graph.steps[step].where,
                            "create the file or point the param at an existing one",
                        )
                    )
                else:
                    data_hashes[value.absolute] = digest
    if problems:
        state.save()
        raise ValidationError(problems)
    project_packages = {m.name.split(".")[0] for m in modules}
    keys = StaticKeys(
        graph, params, data_hashes, code_index, EnvIndex(state, project_packages), str(project.root), state
    )
    session = Session(
        project=project,
        graph=graph,
        params=params,
        data_hashes=data_hashes,
        keys=keys,
        store=store or ObjectStore(project.store),
        registry=registry or Registry(project.store, readonly=readonly),
        functions=Functions(project, sources, functions),
        state=state,
        sources=sources,
    )
    stamp = _stamp(project, sources, env)
    if stamp is not None and not reads_environment(params):
        if len(_WARM) >= 8:
            _WARM.pop(next(iter(_WARM)))
        _WARM[warm_key] = _Warm(stamp, session)
    return session
