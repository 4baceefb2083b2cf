"""Carrying out a plan in this process: run what is stale, reuse what is fresh.

Design:
    The runner walks the graph in topological order. For each step it computes the key from
    the content hashes of the upstream outputs as they are *now* (so a re-run that yields the
    same bytes cuts off the wave), then either reuses the cached entry or calls the function.
    Values are loaded from the store only when a running step needs them, and every load is
    verified against its hash: a missing or corrupted object is reported and its producer is
    re-run, never trusted. Finished steps are written to the store and the index as they
    finish, so a failure later in the run keeps them. A failed step marks its downstream
    steps as skipped; independent steps still run. Retries re-call the function up to
    ``retries`` more times. Events go to hooks; this module prints nothing.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..cache.serialize import Unstorable, deserialize, serialize
from ..errors import StoreError
from ..runs.registry import CacheEntry
from ..session import Session
from . import hooks as _hooks
from .plan import Planner


@dataclass(frozen=True, slots=True)
class StepResult:
    """What happened to one step in a run (a public, plain record)."""

    step: str
    status: str  # "ran" | "cached" | "failed" | "skipped"
    duration: float
    attempts: int
    key: str | None
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    status: str  # "succeeded" | "failed"
    steps: dict[str, StepResult]
    duration: float

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for result in self.steps.values():
            out[result.status] = out.get(result.status, 0) + 1
        return out


class StepFailed(Exception):
    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"step {step} failed")
        self.step = step
        self.error = error


@dataclass
class _Run:
    session: Session
    planner: Planner
    hooks: list[object]
    run_id: str
    forced: set[str]
    hashes: dict[str, str] = field(default_factory=dict)  # output -> object hash
    kinds: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    uncacheable: set[str] = field(default_factory=set)  # outputs with no stored object
    results: dict[str, StepResult] = field(default_factory=dict)
    _entries: dict[str, CacheEntry] = field(default_factory=dict)
    relatest: list[tuple[str, str]] = field(default_factory=list)  # hits on an older key

    def kind(self, output: str) -> str:
        if output not in self.kinds:
            entry = self._entries[self.session.graph.provider[output]]
            self.kinds[output] = entry.outputs[output]["kind"]
        return self.kinds[output]

    # -- values ---------------------------------------------------------------------------

    def value(self, output: str) -> Any:
        if output in self.values:
            return self.values[output]
        try:
            data = self.session.store.get(self.hashes[output])
        except StoreError as exc:
            producer = self.session.graph.provider[output]
            _hooks.call(
                self.hooks,
                "on_warning",
                step=producer,
                message=f"{exc}; re-running {producer} to recompute {output}",
            )
            key = self.results[producer].key if producer in self.results else None
            parts = None
            if key is not None:
                self.session.registry.forget(key)
                inputs = {p: self.hashes[o] for p, o in self.session.graph.inputs[producer]}
                parts = self.planner.parts(producer, inputs)
            self._execute(producer, key, parts=parts, reason="its stored output was missing or corrupted")
            if output not in self.values:
                raise StepFailed(producer, f"could not recompute {output}") from exc
            return self.values[output]
        value = deserialize(self.kind(output), data)
        self.values[output] = value
        return value

    # -- steps ----------------------------------------------------------------------------

    def step(self, step: str) -> None:
        graph = self.session.graph
        decl = graph.steps[step]
        for _, output in graph.inputs[step]:
            producer = graph.provider[output]
            upstream = self.results.get(producer)
            if upstream is None or upstream.status in ("failed", "skipped"):
                what = "was skipped" if upstream is not None and upstream.status == "skipped" else "failed"
                self._record(StepResult(step, "skipped", 0.0, 0, None, reason=f"upstream step {producer} {what}"))
                return
        cacheable = decl.cache and not any(o in self.uncacheable for _, o in graph.inputs[step])
        key: str | None = None
        parts: dict[str, Any] | None = None
        if cacheable:
            inputs = {param: self.hashes[output] for param, output in graph.inputs[step]}
            key = self.planner.key(step, inputs)
            if step not in self.forced:
                entry = self.planner.lookup(step, key)
                if entry is not None:
                    damaged = self.planner.missing_outputs(entry)
                    if not damaged:
                        self._hit(step, entry)
                        return
                    for message in damaged:
                        _hooks.call(self.hooks, "on_warning", step=step, message=f"{message}; re-running {step}")
            parts = self.planner.parts(step, inputs)
        self._execute(step, key, parts=parts)

    def _hit(self, step: str, entry: CacheEntry) -> None:
        _hooks.call(self.hooks, "on_step_start", step=step, attempt=0)
        latest = self.planner.latest.get(step)
        if latest is None or latest.key != entry.key:
            self.relatest.append((step, entry.key))
            self.planner.latest[step] = entry
        for name, digest, _ in entry.objects():
            self.hashes[name] = digest
        self._entries[step] = entry
        self._record(StepResult(step, "cached", 0.0, 0, entry.key))

    def _execute(self, step: str, key: str | None, *, parts: dict[str, Any] | None = None, reason: str | None = None) -> None:
        session = self.session
        graph = session.graph
        decl = graph.steps[step]
        fn = session.function(decl)  # importing user code is not the step's time
        started = time.perf_counter()
        try:
            kwargs = {param: self.value(output) for param, output in graph.inputs[step]}
        except StepFailed as exc:
            self._record(StepResult(step, "skipped", 0.0, 0, key, reason=exc.error))
            return
        for name, value in session.params[step].items():
            kwargs[name] = _param_value(value)
        attempts = 0
        error: str | None = None
        result: Any = None
        while attempts <= decl.retries:
            attempts += 1
            _hooks.call(self.hooks, "on_step_start", step=step, attempt=attempts)
            try:
                result = fn(**kwargs)
                error = None
                break
            except Exception:  # noqa: BLE001 - a user step failing is a result, not a crash
                error = traceback.format_exc()
        duration = time.perf_counter() - started
        if error is None:
            try:
                outputs = _split_outputs(decl.outputs, decl.multi, result)
            except TypeError as exc:
                error = f"{exc}"
        if error is not None:
            self._record(StepResult(step, "failed", duration, attempts, key, error=error))
            return
        self.values.update(outputs)
        self._store(step, key, parts, outputs, duration)
        self._record(StepResult(step, "ran", duration, attempts, key, reason=reason))

    def _store(
        self, step: str, key: str | None, parts: dict[str, Any] | None, outputs: dict[str, Any], duration: float
    ) -> None:
        session = self.session
        stored: dict[str, dict[str, Any]] = {}
        for name, value in outputs.items():
            try:
                packed = serialize(value)
            except Unstorable as exc:
                _hooks.call(self.hooks, "on_warning", step=step, message=f"output {name} is not cached: {exc}")
                self.uncacheable.add(name)
                continue
            digest = session.store.put(packed.data)
            extras = {k: session.store.put(v) for k, v in packed.extras.items()}
            self.hashes[name] = digest
            self.kinds[name] = packed.kind
            stored[name] = {"hash": digest, "kind": packed.kind, "summary": packed.summary, "extras": extras}
        if key is None or parts is None or len(stored) != len(outputs):
            # Not keyed (cache=False, uncacheable inputs or outputs): the object hashes above
            # still feed early cutoff downstream, but nothing is indexed.
            return
        entry = CacheEntry(key, step, parts, stored, self.run_id, time.time(), duration)
        session.registry.record_result(entry)
        self.planner.latest[step] = entry

    def _record(self, result: StepResult) -> None:
        self.results[result.step] = result
        _hooks.call(
            self.hooks,
            "on_step_end",
            step=result.step,
            status=result.status,
            cached=result.status == "cached",
            duration=result.duration,
            attempts=result.attempts,
            error=result.error or result.reason if result.status in ("failed", "skipped") else None,
        )


def _param_value(value: Any) -> Any:
    if value.is_path:
        from pathlib import Path

        return Path(value.absolute)
    if isinstance(value.value, str):
        # NB: pickle writes equal strings once or twice depending on their identity, so a
        #     param string equal to a library's interned constant must be that same object
        #     or a model pickles to other bytes and early cutoff is lost:
        #     RandomForestClassifier(criterion=param)  # param == "gini"
        return sys.intern(value.value)
    return value.value


def _split_outputs(names: tuple[str, ...], multi: bool, result: Any) -> dict[str, Any]:
    if not multi:
        return {names[0]: result}
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        found = f"{type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list)) else type(result).__name__
        raise TypeError(
            f"the step declares outputs ({', '.join(names)}) and must return a tuple of "
            f"{len(names)} values; it returned a {found}"
        )
    return dict(zip(names, result))


def new_run_id() -> str:
    import os

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    return f"{stamp}-{os.urandom(3).hex()}"


def execute(
    session: Session,
    *,
    force: Iterable[str] = (),
    hooks: Iterable[object] = (),
    run_id: str | None = None,
) -> RunResult:
    """Run every stale step of the session's graph and reuse the fresh ones.

    Args:
        session: a validated session.
        force: steps to run whatever their cache state.
        hooks: objects receiving run events.
        run_id: the run's id (a new one by default).

    Returns:
        A ``RunResult``; ``status`` is ``failed`` when any step failed or was skipped.
    """
    run_id = run_id or new_run_id()
    hook_list = list(hooks)
    planner = Planner(session)
    run = _Run(session, planner, hook_list, run_id, set(force))
    started = time.perf_counter()
    steps = list(session.graph.steps)
    _hooks.call(hook_list, "on_run_start", run_id=run_id, steps=steps, fresh=[])
    for step in steps:
        run.step(step)
    if run.relatest:
        # Explanations compare against the result in use, not the last one computed.
        session.registry.mark_latest(run.relatest)
    failed = any(r.status in ("failed", "skipped") for r in run.results.values())
    status = "failed" if failed else "succeeded"
    duration = time.perf_counter() - started
    _hooks.call(hook_list, "on_run_end", run_id=run_id, status=status, duration=duration)
    return RunResult(run_id, status, dict(run.results), duration)
