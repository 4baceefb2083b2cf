"""The Python API: run, status, load and show a project; build a pipeline from functions.

Responsibilities:
- thin functions over ``session``, ``execute.plan`` and ``execute.runner``, returning plain
  records; nothing here prints;
- ``Pipeline``: a graph built from imported ``@step`` functions, for notebooks, tests and
  embedding, with a lean in-memory path when the cache is off.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

from .errors import (
    DistillError,
    NotFoundError,
    StaleError,
    StepDefinitionError,
    StoreError,
    ValidationError,
    did_you_mean,
)
from .execute.plan import Decision, plan
from .execute.runner import RunInterrupted, RunResult, run_plan
from .pipeline.project import Project
from .pipeline.step import options_of
from .runs.registry import CacheEntry
from .session import IndexView, Session, open_session

if TYPE_CHECKING:
    from .execute.executor import Executor


def _split(params: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, Any]]:
    """Params given from Python: strings are text, as typed on the command line
    (``"2.5"`` may be a float); anything else is a value, checked as it is."""
    text = {k: v for k, v in (params or {}).items() if isinstance(v, str)}
    typed = {k: v for k, v in (params or {}).items() if not isinstance(v, str)}
    return text, typed


def _open(
    project: str | os.PathLike[str] | None,
    params: Mapping[str, Any] | None,
    env: str | None,
    targets: Sequence[str] = (),
    *,
    readonly: bool = False,
) -> Session:
    text, typed = _split(params)
    return open_session(
        None if project is None else os.fspath(project),
        env=env,
        overrides=text,
        values=typed,
        targets=targets,
        readonly=readonly,
    )


def run(
    targets: Sequence[str] = (),
    *,
    project: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    env: str | None = None,
    force: Iterable[str] = (),
    hooks: Iterable[object] = (),
    command: str = "distill.run()",
    executor: Executor | None = None,
) -> RunResult:
    """Run what is stale in a project: the one way in, for the CLI and for Python callers.

    Args:
        targets: steps or outputs to bring up to date (all by default).
        project: a folder at or below the project root.
        params: param overrides, as ``--set`` would give them.
        env: params overlay name.
        force: steps or outputs to re-run whatever their cache state.
        hooks: objects receiving run events (see ``distill.execute.hooks``); a hook with an
            ``on_plan(*, decisions)`` method gets the plan, as JSON records, before anything runs.
        command: what to record as the command of the run.
        executor: where step functions run (this process by default).

    Raises:
        ValidationError: the pipeline, its params or its data inputs are invalid.
    """
    session = _open(project, params, env, targets)
    try:
        return _run_session(session, force=force, hooks=hooks, command=command, executor=executor)
    finally:
        session.close()


def _run_session(
    session: Session,
    *,
    force: Iterable[str] = (),
    hooks: Iterable[object] = (),
    command: str,
    executor: Executor | None = None,
    view: IndexView | None = None,
    keep: dict[str, Any] | None = None,
) -> RunResult:
    from .execute import hooks as _hooks
    from .execute.plan import plan_graph
    from .pipeline.params import check_deferred, secrets_of
    from .pipeline.secrets import MaskedHook
    from .runs.environment import start_capture
    from .runs.tracking import RegistryHook

    forced = {session.graph.step_for(f) for f in force}
    # Secrets are masked in every event before a hook sees it, and in the result.
    secrets = secrets_of(session.params)
    hook_list: list[object] = [MaskedHook(h, secrets) for h in hooks] if secrets else list(hooks)
    # git runs in the background while the run plans and runs; the record is completed at the end.
    memo = session.state.table("environment")
    before = dict(memo)
    environment = start_capture(session.project.root, memo=memo)
    if memo != before:
        session.state.dirty = True
    view = view or session.cache_view()
    uncached = session.uncached()
    decisions = plan_graph(session.graph, session.keys, view, force=forced, uncached=uncached)
    for step, reason in uncached.items():
        _hooks.call(hook_list, "on_warning", step=step, message=reason)
    if session.registry.rejected:
        count = len(session.registry.rejected)
        _hooks.call(
            hook_list,
            "on_warning",
            step=None,
            message=(
                "1 cache entry failed verification with the store key and was ignored; its step runs again"
                if count == 1
                else f"{count} cache entries failed verification with the store key and were ignored; their steps "
                "run again"
            )
            + " (a store shared between machines needs one DISTILL_STORE_KEY)",
        )
    _hooks.call(hook_list, "on_plan", decisions=[d.as_json() for d in decisions])
    problems = []
    for decision in decisions:
        values = session.params[decision.step]
        if decision.state != "fresh" and any(v.annotation is not None for v in values.values()):
            decl = session.graph.steps[decision.step]
            problems.extend(check_deferred(decl, session.function(decl), values))
    if problems:
        raise ValidationError(problems)
    tracker = RegistryHook(
        session.registry,
        command=command,
        params={s: {n: v.recorded for n, v in p.items()} for s, p in session.params.items()},
        environment=lambda: environment().as_json(),
        secrets=secrets,
    )
    try:
        result = run_plan(
            session,
            decisions,
            force=forced,
            hooks=[tracker, *hook_list],
            executor=executor,
            view=view,
            uncached=uncached,
            keep=keep,
        )
    except RunInterrupted as stop:
        if not secrets:
            raise
        raise RunInterrupted(_masked_result(stop.result, secrets)) from None
    return _masked_result(result, secrets) if secrets else result


def _masked_result(result: RunResult, secrets: frozenset[str]) -> RunResult:
    """``result`` with secrets masked in every step's error and reason."""
    from .pipeline.secrets import mask

    steps = {
        step: r._replace(
            error=None if r.error is None else mask(r.error, secrets),
            reason=None if r.reason is None else mask(r.reason, secrets),
        )
        for step, r in result.steps.items()
    }
    return RunResult(result.run_id, result.status, steps, result.duration)


def status(
    targets: Sequence[str] = (),
    *,
    project: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    env: str | None = None,
    force: Iterable[str] = (),
) -> list[Decision]:
    """Every step fresh, stale or to be rechecked, with the reasons in words.

    Runs nothing and imports no user code: the plan is made from source, the cache index
    and file stats.
    """
    session = _open(project, params, env, targets, readonly=True)
    try:
        forced = {session.graph.step_for(f) for f in force}
        return plan(session, force=forced)
    finally:
        session.close()


@dataclass(frozen=True, slots=True)
class OutputInfo:
    """Where an output came from (``distill show``)."""

    name: str
    step: str
    where: str
    fresh: bool
    state: str
    reasons: tuple[str, ...]
    hash: str | None
    kind: str | None
    summary: dict[str, Any]
    created: float | None
    run_id: str | None
    duration: float | None
    key: str | None


def show(
    name: str,
    *,
    project: str | os.PathLike[str] | None = None,
    env: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> list[OutputInfo]:
    """Provenance and summary of an output (or of every output of a step).

    A secret param's value is masked (``***``) wherever the summary's text holds it: a value
    a step returns is the user's data, stored as it is, but never shown with a secret in it.
    """
    from .pipeline.params import secrets_of
    from .pipeline.secrets import mask_value

    session = _open(project, params, env, readonly=True)
    try:
        secrets = secrets_of(session.params)
        step = session.graph.step_for(name)
        plans = {p.step: p for p in plan(session)}
        decl = session.graph.steps[step]
        names = [name] if name in session.graph.provider else list(decl.outputs)
        decision = plans[step]
        entry = decision.entry if decision.state == "fresh" else session.registry.latest([step]).get(step)
        infos = []
        for output in names:
            meta = entry.outputs.get(output) if entry is not None else None
            infos.append(
                OutputInfo(
                    name=output,
                    step=step,
                    where=f"{decl.qualname} ({decl.where})",
                    fresh=decision.state == "fresh",
                    state=decision.state,
                    reasons=decision.reasons,
                    hash=meta["hash"] if meta else None,
                    kind=meta["kind"] if meta else None,
                    summary=mask_value(meta.get("summary", {}), secrets) if meta else {},
                    created=entry.created if entry else None,
                    run_id=entry.run_id if entry else None,
                    duration=entry.duration if entry else None,
                    key=entry.key if entry else None,
                )
            )
        return infos
    finally:
        session.close()


def load(
    name: str,
    *,
    project: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    env: str | None = None,
) -> Any:
    """The cached value of output ``name``, if it is fresh.

    Raises:
        StaleError: the output's step is stale; the message says why.
        NotFoundError: no such output.
        StoreError: the stored object is missing or corrupted (run again to recompute it).

    Example:
        >>> model = distill.load("model", project="examples/wine")  # doctest: +SKIP
    """
    session = _open(project, params, env, readonly=True)
    try:
        if name not in session.graph.provider:
            raise NotFoundError(
                f"no output named {name!r}{did_you_mean(name, set(session.graph.provider))}",
                hint="`distill status` lists the steps and their outputs",
            )
        step = session.graph.provider[name]
        narrowed = session.with_graph(session.graph.subset([step]))
        decision = {d.step: d for d in plan(narrowed)}[step]
        if decision.state != "fresh" or decision.entry is None:
            reasons = list(decision.reasons)
            raise StaleError(
                f"output {name!r} is stale: " + "; ".join(reasons),
                reasons=reasons,
                hint=f"run `distill run {step}` first",
            )
        try:
            return load_output(session, decision.entry, name)
        except DistillError:
            raise
        except Exception as exc:
            raise StoreError(
                f"output {name!r} of step {step!r} is stored but cannot be read back "
                f"({type(exc).__name__}: {exc})",
                hint=f"it may need code or a package version that changed; run `distill run --force {step}`",
            ) from exc
    finally:
        session.close()


def load_output(session: Session, entry: CacheEntry, name: str) -> Any:
    """Read one output of a cache entry from the store, verified against its hash."""
    from .cache.serialize import read_value

    meta = entry.outputs[name]
    return read_value(meta["kind"], meta["hash"], session.store)


_CHECKED: dict[str, tuple[tuple[int, int, int], str | None]] = {}


def _check_code_is_current(modules: Iterable[str]) -> None:
    """Refuse to cache results of code whose module file changed after it was imported: keys
    come from the files, so results of the old code would be stored under the new code's key.

    Every function of each module is compared, helpers included, not only the steps.

    Raises:
        StepDefinitionError: naming the module and the function, and how to get the current code.
    """
    for name in sorted(set(modules)):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if module is None or not file or not os.path.isfile(file):
            continue
        st = os.stat(file)
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        memo = _CHECKED.get(file)
        if memo is None or memo[0] != stamp:
            memo = (stamp, _changed_function(module, file))
            _CHECKED[file] = memo
        if memo[1] is not None:
            raise StepDefinitionError(
                f"module {name} ({file}) changed after it was imported: {memo[1]} in memory is "
                "not the code on disk, and caching results of the old code would file them "
                "under the new code's key",
                hint=f"re-import it (importlib.reload({name})) and build the Pipeline again",
            )


def _changed_function(module: ModuleType, file: str) -> str | None:
    """The first function of ``module`` whose code in memory differs from the file compiled
    now (``<the file>`` if it no longer compiles), or ``None``."""
    try:
        compiled = compile(Path(file).read_bytes(), file, "exec")
    except (SyntaxError, ValueError, OSError):
        return "<the file>"
    # NB: compare bytecode and constants, not text or line numbers: moving a function down
    #     the file changes nothing, changing what it computes does.
    on_disk = {c.co_name: c for c in compiled.co_consts if isinstance(c, CodeType)}
    for attr, value in vars(module).items():
        code = getattr(value, "__code__", None)
        if isinstance(code, CodeType) and getattr(value, "__module__", None) == module.__name__:
            disk = on_disk.get(code.co_name)
            if disk is None or _shape(disk) != _shape(code):
                return f"function {attr}"
    return None


def _shape(code: CodeType) -> tuple[Any, ...]:
    """What a code object computes: its bytecode, names and constants, nested code included."""
    consts = tuple(_shape(c) if isinstance(c, CodeType) else c for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, consts)


class CachedOutputs(Mapping[str, Any]):
    """The outputs of a cached run, each read from the store (and verified) on first lookup."""

    def __init__(
        self, session: Session, entries: Mapping[str, CacheEntry], values: Mapping[str, Any] | None = None
    ) -> None:
        self._session = session
        self._entries = dict(entries)
        self._values: dict[str, Any] = dict(values or {})
        self._names = [*self._entries, *(n for n in self._values if n not in self._entries)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            self._values[name] = load_output(self._session, self._entries[name], name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"CachedOutputs({', '.join(self._names)})"


# -- Pipeline: a graph of imported functions ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    fn: Callable[..., Any]
    inputs: tuple[tuple[str, str], ...]
    defaults: tuple[tuple[str, Any], ...]
    outputs: tuple[str, ...]
    multi: bool


class Pipeline:
    """A pipeline built from imported ``@step`` functions.

    Example:
        >>> pipe = Pipeline.from_module(my_steps)  # doctest: +SKIP
        >>> pipe.run(params={"window": 14})["features"]  # doctest: +SKIP
    """

    def __init__(self, functions: Sequence[Callable[..., Any]]) -> None:
        from .analysis.source import ParamDecl, StepDecl
        from .errors import ValidationError
        from .pipeline.graph import build_graph

        decls = []
        self._functions: dict[str, Callable[..., Any]] = {}
        for fn in functions:
            options = options_of(fn)
            if options is None:
                raise StepDefinitionError(
                    f"{getattr(fn, '__qualname__', fn)!r} is not decorated with @step",
                    hint="add @step above the def",
                )
            sig = inspect.signature(fn)
            params = []
            for p in sig.parameters.values():
                if p.default is inspect.Parameter.empty:
                    params.append(ParamDecl(p.name, None, "none"))
                else:
                    params.append(ParamDecl(p.name, None, "literal", p.default))
            module = getattr(fn, "__module__", "?")
            try:
                line = inspect.getsourcelines(fn)[1]
                file = inspect.getsourcefile(fn) or "?"
            except (OSError, TypeError):
                line, file = 0, "?"
            outputs = options.outputs or (fn.__name__,)
            decls.append(
                StepDecl(
                    fn.__name__,
                    module,
                    file,
                    line,
                    tuple(params),
                    outputs,
                    options.outputs is not None,
                    options.retries,
                    options.cache,
                    options.reads,
                    options.env,
                    options.writes,
                    options.metrics,
                )
            )
            self._functions[fn.__name__] = fn
        graph, problems = build_graph(decls)
        if problems:
            raise ValidationError(problems)
        self.graph = graph
        self._compiled = [
            _Compiled(
                name,
                self._functions[name],
                graph.inputs[name],
                tuple((p.name, p.default) for p in graph.params[name] if p.default_kind != "none"),
                decl.outputs,
                decl.multi,
            )
            for name, decl in graph.steps.items()
        ]
        self._required = {p.name for ps in graph.params.values() for p in ps if p.default_kind == "none"}

    @classmethod
    def from_functions(cls, functions: Sequence[Callable[..., Any]]) -> Pipeline:
        return cls(functions)

    @classmethod
    def from_module(cls, *modules: ModuleType) -> Pipeline:
        functions = []
        for module in modules:
            for value in vars(module).values():
                if callable(value) and options_of(value) is not None and getattr(value, "__module__", None) == module.__name__:
                    functions.append(value)
        return cls(functions)

    def run(
        self,
        targets: Sequence[str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        cache: bool = False,
        store: str | os.PathLike[str] | None = None,
    ) -> Mapping[str, Any]:
        """Run the pipeline and return its outputs by name.

        Args:
            targets: outputs to return (all by default; everything is computed either way
                when the cache is off).
            params: values for run parameters.
            cache: use the content-addressed store at ``store``; the outputs are then read
                from the store when first looked up (verified by hash), not all at once.
            store: the store folder, required when ``cache`` is true.
        """
        params = dict(params or {})
        if cache:
            return self._run_cached(targets, params, store)
        missing = self._required - set(params)
        if missing:
            from .errors import Problem, ValidationError

            raise ValidationError([Problem("missing-input", f"param {m!r} has no value") for m in sorted(missing)])
        values: dict[str, Any] = {}
        for c in self._compiled:
            kwargs = {p: values[o] for p, o in c.inputs}
            for name, default in c.defaults:
                kwargs[name] = params.get(name, default)
            result = c.fn(**kwargs)
            if c.multi:
                values.update(zip(c.outputs, result, strict=True))
            else:
                values[c.outputs[0]] = result
        if targets:
            return {t: values[t] for t in targets}
        return values

    def _run_cached(
        self, targets: Sequence[str] | None, params: dict[str, Any], store: str | os.PathLike[str] | None
    ) -> Mapping[str, Any]:
        if store is None:
            raise StepDefinitionError("Pipeline.run(cache=True) needs store=<folder>")
        modules = {fn.__module__ for fn in self._functions.values()}
        roots: list[Path] = []
        for name in sorted(modules):
            module = sys.modules[name]
            file = Path(inspect.getsourcefile(module) or ".").resolve()
            depth = name.count(".") + (1 if file.name == "__init__.py" else 0)
            root = file.parent
            for _ in range(depth):
                root = root.parent
            if root not in roots:
                roots.append(root)
        project = Project(roots[0], tuple(sorted(modules)), tuple(roots), Path(store).resolve(), {})
        only = {(fn.__module__, name) for name, fn in self._functions.items()}
        text, typed = _split(params)
        session = open_session(project=project, overrides=text, values=typed, only=only, functions=self._functions)
        # The steps' modules and every project module their code reaches: the key parts find
        # them (and are memoised for the plan that follows).
        for step in session.graph.steps:
            session.keys[step]
        reached = [fn.__module__ for fn in self._functions.values()] + session.sources.located()
        try:
            _check_code_is_current(reached)
        except StepDefinitionError:
            session.close()
            raise
        try:
            view = session.cache_view()
            kept: dict[str, Any] = {}
            result = _run_session(session, command="Pipeline.run()", view=view, keep=kept)
            failed = [r for r in result.steps.values() if r.status == "failed"]
            if failed:
                raise RuntimeError(f"step {failed[0].step} failed:\n{failed[0].error}")
            wanted = list(targets) if targets else [o for o in session.graph.provider if not o.startswith("file:")]
            latest = view.latest_entries  # the runner keeps it current
            entries = {}
            for name in wanted:
                if name in kept:
                    continue  # computed by this run but not stored (cache=False, unpicklable)
                step = session.graph.provider[name]
                entry = latest.get(step)
                # NB: only this run's result: an older entry of the step is another key's value.
                if entry is None or entry.key != result.steps[step].key:
                    status = result.steps[step].status
                    raise NotFoundError(
                        f"no value for {name!r} from this run: step {step} {status} without storing it",
                        hint=f"the run's warnings say why; run `distill.status()` to see step {step}'s state",
                    )
                entries[name] = entry
            return CachedOutputs(session, entries, {n: kept[n] for n in wanted if n in kept})
        finally:
            session.close()
