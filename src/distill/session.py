"""A session: one project read, validated and ready to plan or run.

Responsibilities (the coordinator that wires the pure parts together):
- find the project, load the memo state, read module records from source;
- build the graph, resolve params, hash data inputs, and raise one ``ValidationError``
  holding every problem found;
- give planning what it needs (code closures, versions, param values, data hashes), and
  give execution the step functions, importing user code only when something must run.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

from .analysis.source import StepDecl
from .cache.fingerprint import CodeIndex, EnvIndex, hash_data
from .cache.state import State, load_state
from .cache.store import ObjectStore
from .errors import DistillError, Problem, ProjectError, ValidationError
from .pipeline.graph import Graph, build_graph
from .pipeline.params import ParamValue, resolve_params
from .pipeline.project import Project, find_project
from .pipeline.sources import Sources
from .runs.registry import Registry


@dataclass(frozen=True, slots=True)
class StaticParts:
    """The parts of a step's key known before anything runs."""

    code: dict[str, tuple[str, str]]
    env: dict[str, str]
    params: dict[str, Any]
    data: dict[str, tuple[str, str]]
    digest: str  # of everything above, with the step's name and outputs


@dataclass
class Session:
    project: Project
    state: State
    sources: Sources
    graph: Graph
    params: dict[str, dict[str, ParamValue]]
    store: ObjectStore
    registry: Registry
    code_index: CodeIndex
    env_index: EnvIndex
    data_hashes: dict[str, str] = field(default_factory=dict)
    _static: dict[str, StaticParts] = field(default_factory=dict)
    _functions: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def static(self, step: str) -> StaticParts:
        parts = self._static.get(step)
        if parts is None:
            decl = self.graph.steps[step]
            code, packages, code_digest = self.code_index.closure_digest(decl)
            values = self.params[step]
            env = self.env_index.versions(packages)
            params = {n: v.value for n, v in values.items()}
            data = {
                n: (v.value, self.data_hashes[v.absolute])
                for n, v in values.items()
                if v.is_path and v.absolute is not None
            }
            # NB: a plain joined string, not JSON of a nested dict: this runs for every step of
            #     every no-op run. Values that are not simple strings go through JSON.
            head = "\0".join(
                (
                    step,
                    ",".join(decl.outputs),
                    ";".join(f"{k}={v}" for k, v in sorted(env.items())),
                    json.dumps(params, sort_keys=True, default=str) if params else "",
                    ";".join(f"{k}={v[0]}:{v[1]}" for k, v in sorted(data.items())),
                )
            )
            digest = hashlib.blake2b(f"{code_digest}\0{head}".encode(), digest_size=20).hexdigest()
            parts = StaticParts(code, env, params, data, digest)
            self._static[step] = parts
        return parts

    def function(self, decl: StepDecl) -> Callable[..., Any]:
        """Import the step's module (once) and return the step function."""
        fn = self._functions.get(decl.name)
        if fn is not None:
            return fn
        module = import_user_module(self.project, decl.module)
        fn = getattr(module, decl.name, None)
        if fn is None or not callable(fn):
            raise ProjectError(
                f"step {decl.name!r} is in the source of {decl.module} ({decl.where}) but not "
                "in the imported module",
                hint="define steps at the top level of the module, not inside if/try blocks",
            )
        self._functions[decl.name] = fn
        return fn

    def close(self) -> None:
        self.code_index.save_memo()
        self.state.save()
        self.registry.close()


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


def open_session(
    project_dir: str | None = None,
    *,
    env: str | None = None,
    overrides: Mapping[str, str] | None = None,
    targets: Sequence[str] = (),
    project: Project | None = None,
    only: set[tuple[str, str]] | None = None,
) -> Session:
    """Read and validate a project.

    Args:
        project_dir: a folder at or below the project root (current folder by default).
        env: params overlay name (``params.<env>.yaml``).
        overrides: raw ``--set`` values.
        targets: restrict to these steps or outputs and what they need.
        project: an already-built project (used by ``Pipeline``).
        only: restrict to these ``(module, function)`` steps.

    Raises:
        ProjectError: no project or no pipeline module.
        ValidationError: every problem found in the graph, params and data inputs.
    """
    project = project or find_project(project_dir)
    state = load_state(project.store)
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
    graph, graph_problems = build_graph(decls)
    problems.extend(graph_problems)
    if targets and not any(p.code == "cycle" for p in problems):
        graph = graph.subset(targets)

    imported: dict[str, Any] = {}

    def importer(decl: StepDecl) -> Any:
        if decl.name not in imported:
            module = import_user_module(project, decl.module)
            imported[decl.name] = getattr(module, decl.name, None)
        return imported[decl.name]

    params, param_problems = resolve_params(project, graph, state, env=env, overrides=overrides, importer=importer)
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
    return Session(
        project=project,
        state=state,
        sources=sources,
        graph=graph,
        params=params,
        store=ObjectStore(project.store),
        registry=Registry(project.store),
        code_index=CodeIndex(sources),
        env_index=EnvIndex(state, project_packages),
        data_hashes=data_hashes,
    )
