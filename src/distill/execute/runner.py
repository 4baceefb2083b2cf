"""Carrying out a plan: reuse what is fresh, run what is stale, decide again below a re-run.

Design:
    The plan (``execute.plan``) is made once, before anything runs, and this module carries
    it out in topological order (stdlib ``graphlib``). When a step becomes ready, its
    decision stands if the upstream hashes it was made with are the ones now known; otherwise
    (an upstream step re-ran, or the step was ``recheck``) it is decided again through the
    same ``decide`` function with the hashes now known — so a re-run that gives the same
    bytes leaves its consumers cached (early cutoff). Fresh steps are cache hits; stale steps
    become ``Task``s handed to an ``Executor``; the runner stores their outputs as they come
    back.

    Values are loaded from the store only when a running step needs them, and every load is
    verified against its hash: a missing or corrupted object is reported and its producer is
    re-run, never trusted. A step gets its inputs as copies when another step still has to
    read them (or when it may be retried), so a step that changes an input in place cannot
    change what another step sees; the last reader gets the value itself, and a value no
    step needs any more is dropped from memory.

    Finished results are indexed in groups, at most ``FLUSH_SECONDS`` apart and always when
    the run ends or is interrupted: a killed process loses at most that window of index
    entries (their objects are on disk; the steps run again), never a half-written entry.
    A failed step marks its downstream steps as skipped; independent steps still run. Events
    go to hooks; this module prints nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import graphlib
import os
import pickle
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..cache.locks import KeyShare, RunLocks
from ..cache.serialize import Unstorable, read_value, write_value
from ..errors import StoreError
from ..pipeline.graph import FILE_PREFIX, file_output
from ..runs.registry import CacheEntry
from . import hooks as _hooks
from .executor import Executor, InProcessExecutor, Outcome, Task
from .files import DeclaredFileMissing, Snapshot, restore, snapshot, store_files
from .plan import Decision, decide

if TYPE_CHECKING:
    from ..cache.key import KeyParts
    from ..pipeline.params import ParamValue
    from ..session import IndexView, Session

StepStatus = Literal["ran", "cached", "failed", "skipped"]
RunStatus = Literal["succeeded", "failed", "interrupted"]
FLUSH_SECONDS = 0.25
_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), frozenset, range)


_ONE_RUN = threading.RLock()
_NO_METRICS: dict[str, float] = {}  # shared by every result without metrics; never changed


class StepResult(NamedTuple):
    """What happened to one step in a run (a public, plain record; a named tuple because a
    run makes one per step)."""

    step: str
    status: StepStatus
    duration: float
    attempts: int
    key: str | None
    error: str | None = None
    reason: str | None = None
    metrics: dict[str, float] = _NO_METRICS


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of a run: its id, status, every step's result and the wall time."""

    run_id: str
    status: RunStatus
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


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; ``result`` holds what finished (stored and indexed) before it."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"run {result.run_id} interrupted")
        self.result = result


class StepFailed(Exception):
    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"step {step} failed")
        self.step = step
        self.error = error


@dataclass(frozen=True, slots=True)
class _Started:
    key: str | None
    parts: KeyParts | None
    reason: str | None
    before: Snapshot | None = None  # declared written folders and globs, before the step


@dataclass
class _Run:
    session: Session
    view: IndexView
    decisions: dict[str, Decision]
    emit: _hooks.Dispatcher
    run_id: str
    forced: set[str]
    executor: Executor
    uncached: dict[str, str]
    locks: RunLocks
    volatile: frozenset[str]
    keep: dict[str, Any] | None  # receives the values of outputs this run did not index
    hashes: dict[str, str] = field(default_factory=dict)  # output -> object hash
    kinds: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    unstored: dict[str, Any] = field(default_factory=dict)  # outputs with no stored object
    readers: dict[str, int] = field(default_factory=dict)  # output -> readers not yet scheduled
    results: dict[str, StepResult] = field(default_factory=dict)
    entries: dict[str, CacheEntry] = field(default_factory=dict)
    started: dict[str, _Started] = field(default_factory=dict)
    deferred: list[Outcome] = field(default_factory=list)
    relatest: list[tuple[str, str]] = field(default_factory=list)  # hits on an older key
    recomputing: set[str] = field(default_factory=set)
    running_locks: dict[str, KeyShare] = field(default_factory=dict)  # key -> lock of a step running
    finished_locks: list[KeyShare] = field(default_factory=list)  # held until their entry is indexed
    # steps another run is computing, with the index's data_version when they were decided
    blocked: list[tuple[str, Decision, int]] = field(default_factory=list)
    index_version: int = -1  # the index's data_version when this run last read it
    unflushed: list[CacheEntry] = field(default_factory=list)
    flushed_at: float = 0.0

    # -- values ---------------------------------------------------------------------------

    def kind(self, output: str) -> str:
        if output not in self.kinds:
            entry = self.entries[self.session.graph.provider[output]]
            self.kinds[output] = entry.outputs[output]["kind"]
        return self.kinds[output]

    def value(self, output: str) -> Any:
        if output in self.values:
            return self.values[output]
        if output in self.unstored:
            return self.unstored[output]
        try:
            value = read_value(self.kind(output), self.hashes[output], self.session.store)
        except StoreError as exc:
            producer = self.session.graph.provider[output]
            self.emit(
                "on_warning",
                step=producer,
                message=f"{exc}; re-running {producer} to recompute {output}",
            )
            self._recompute(producer)
            if output not in self.values and output not in self.unstored:
                raise StepFailed(producer, f"could not recompute {output}") from exc
            return self.value(output)
        self.values[output] = value
        return value

    def _recompute(self, producer: str) -> None:
        """Run ``producer`` again now, because an object it stored cannot be read."""
        result = self.results.get(producer)
        key = result.key if result is not None else None
        parts: KeyParts | None = None
        if key is not None:
            self.flush()
            self.session.registry.forget(key)
            self.view.latest_entries.pop(producer, None)
            graph = self.session.graph
            inputs = {p: self.hashes[o] for p, o in graph.inputs[producer]}
            parts = self.session.keys[producer].with_inputs(inputs)
        self.recomputing.add(producer)
        if self._submit(producer, _Started(key, parts, "its stored output was missing or corrupted")):
            return
        while True:
            mine = None
            for outcome in self.executor.wait():
                if outcome.step == producer and mine is None:
                    mine = outcome
                else:
                    self.deferred.append(outcome)
            if mine is not None:
                self.finish(mine)
                self.recomputing.discard(producer)
                return

    # -- steps ----------------------------------------------------------------------------

    def schedule(self, step: str) -> bool | None:
        """Start ``step``: ``True`` when it is already finished (cached or skipped), ``False``
        when it was handed to the executor, ``None`` when another run holds its lock."""
        graph = self.session.graph
        wired = graph.inputs[step]
        for _, output in wired:
            self.readers[output] -= 1
        for _, output in wired:
            producer = graph.provider[output]
            upstream = self.results.get(producer)
            if upstream is None or upstream.status in ("failed", "skipped"):
                what = "was skipped" if upstream is not None and upstream.status == "skipped" else "failed"
                self._record(StepResult(step, "skipped", 0.0, 0, None, reason=f"upstream step {producer} {what}"))
                self._release(step)
                return True
        if any(output in self.unstored for _, output in wired):
            # An input could not be stored: the step runs and its results are not indexed.
            return self._submit(step, _Started(None, None, None))
        decision = self.decisions.get(step)
        now = tuple(sorted((param, self.hashes[output]) for param, output in wired))
        if decision is None or decision.inputs != now or step in self.volatile:
            decision = decide(
                step,
                graph=graph,
                parts=self.session.keys[step],
                known=self.hashes,
                waiting_on={},
                cache=self.view,
                forced=step in self.forced,
                uncached=self.uncached.get(step),
            )
        if decision.state == "fresh" and decision.entry is not None and self._hit(step, decision.entry):
            self._release(step)
            return True
        if decision.entry is not None and step not in self.forced:
            for message in decision.reasons:
                self.emit("on_warning", step=step, message=f"{message}; re-running {step}")
        cacheable = graph.steps[step].cache and decision.cacheable
        key = decision.key if cacheable else None
        if key is None:
            return self._submit(step, _Started(None, None, None))
        held = self.locks.try_acquire(key)
        if held is None:
            # Another run is computing it: come back to it when this run has nothing else to do.
            self.blocked.append((step, decision, self.index_version))
            return None
        return self._start_locked(step, decision, held, self.index_version)

    def _start_locked(self, step: str, decision: Decision, held: KeyShare, since: int) -> bool:
        """Run ``step`` holding its key's lock, unless another run stored the result since
        this one decided (then reuse it). ``since``: the index's data_version read before
        the decision was made."""
        assert decision.key is not None
        self.running_locks[decision.key] = held
        # NB: the index changed only if another process committed since the decision; SQLite's
        #     data_version says so for the price of a pragma, not a lookup.
        version = self.session.registry.data_version()
        self.index_version = version
        if version != since and step not in self.forced:
            again = decide(
                step,
                graph=self.session.graph,
                parts=self.session.keys[step],
                known=self.hashes,
                waiting_on={},
                cache=self.view,
            )
            if again.state == "fresh" and again.entry is not None and self._hit(step, again.entry):
                self._unlock(decision.key)
                self._release(step)
                return True
        return self._submit(step, _Started(decision.key, decision.parts, None))

    def wait_for_blocked(self) -> tuple[str, bool]:
        """Nothing else can run: wait for the lock of the first blocked step, holding none.

        NB: a run never waits for a lock while it holds another (finished results are
            indexed and their locks let go first), so runs waiting on each other cannot
            deadlock; it only waits when none of its own tasks is running.
        """
        step, decision, since = self.blocked.pop(0)
        assert decision.key is not None
        self.flush()
        self.emit("on_warning", step=step, message="another run is computing this step; waiting for it")
        held = self.locks.acquire(decision.key)
        return step, self._start_locked(step, decision, held, since)

    def retry_blocked(self) -> list[tuple[str, bool]]:
        """Start the blocked steps whose lock is free now."""
        started = []
        for item in list(self.blocked):
            step, decision, since = item
            assert decision.key is not None
            held = self.locks.try_acquire(decision.key)
            if held is not None:
                self.blocked.remove(item)
                started.append((step, self._start_locked(step, decision, held, since)))
        return started

    def _unlock(self, key: str | None) -> None:
        held = self.running_locks.pop(key, None) if key is not None else None
        if held is not None:
            held.release()

    def _submit(self, step: str, started: _Started) -> bool:
        session = self.session
        graph = session.graph
        decl = graph.steps[step]
        fn = session.function(decl)  # importing user code is not the step's time
        try:
            given = {
                param: self.value(output)
                for param, output in graph.inputs[step]
                if not output.startswith(FILE_PREFIX)
            }
        except StepFailed as exc:
            self._record(StepResult(step, "skipped", 0.0, 0, started.key, reason=exc.error))
            self._release(step)
            return True
        # NB: a step may change an input in place (`df.drop(..., inplace=True)`). It gets a
        #     copy unless it is the last reader in this run and is not retried:
        #     b(a): a.append(1)   # c(a), scheduled later, must still see the original `a`
        shared = {
            param
            for param, output in graph.inputs[step]
            if param in given
            and (self.readers[output] > 0 or decl.retries > 0) and not isinstance(given[param], _IMMUTABLE)
        }
        params = {n: _param_value(v) for n, v in session.params[step].items() if v.passed}

        def arguments() -> dict[str, Any]:
            kwargs = {p: (_copy(v) if p in shared else v) for p, v in given.items()}
            kwargs.update(params)
            return kwargs

        if decl.writes:
            started = dataclasses.replace(started, before=snapshot(session.project.root, decl.writes))
        self.started[step] = started
        self.executor.submit(Task(step, fn, arguments, decl.retries), self._attempt)
        return False

    def _attempt(self, step: str, attempt: int) -> None:
        self.emit("on_step_start", step=step, attempt=attempt)

    def _release(self, step: str) -> None:
        """Forget values no step still has to read."""
        for _, output in self.session.graph.inputs[step]:
            if self.readers[output] <= 0 and output in self.hashes:
                self.values.pop(output, None)

    def _hit(self, step: str, entry: CacheEntry) -> bool:
        """Reuse a cached result; ``False`` when its declared files cannot be restored."""
        if any(name.startswith(FILE_PREFIX) for name, _, _ in entry.objects()):
            session = self.session
            try:
                for meta in entry.outputs.values():
                    if meta.get("kind") == "files":
                        files = meta["summary"]["files"]
                        for rel in restore(session.store, session.project.root, files, session.state):
                            self.emit("on_warning", step=step, message=f"restored {rel} from the store")
            except StoreError as exc:
                self.emit("on_warning", step=step, message=f"{exc}; re-running {step}")
                return False
        self.emit("on_step_start", step=step, attempt=0)
        latest = self.view.latest_entries.get(step)
        if latest is None or latest.key != entry.key:
            self.relatest.append((step, entry.key))
            self.view.latest_entries[step] = entry
        for name, digest, _ in entry.objects():
            self.hashes[name] = digest
        self.entries[step] = entry
        decl = self.session.graph.steps[step]
        values = {}
        for name in decl.metrics:
            summary = entry.outputs.get(name, {}).get("summary", {})
            if "value" in summary:
                values[name] = summary["value"]
        metrics = self._metrics(step, values) if values else {}
        self._record(StepResult(step, "cached", 0.0, 0, entry.key, metrics=metrics))
        return True

    def finish(self, outcome: Outcome) -> None:
        """Store what a task returned and record the step's result."""
        step = outcome.step
        decl = self.session.graph.steps[step]
        started = self.started.pop(step)
        self._release(step)
        error = outcome.error
        outputs: dict[str, Any] = {}
        if error is None:
            try:
                outputs = _split_outputs(decl.outputs, decl.multi, outcome.result)
            except TypeError as exc:
                error = f"{exc}"
        written: dict[str, dict[str, Any]] = {}
        if error is None:
            try:
                for pattern in decl.writes:
                    digest, meta = store_files(
                        self.session.store, self.session.project.root, pattern, started.before
                    )
                    written[file_output(pattern)] = meta
                    self.hashes[file_output(pattern)] = digest
            except DeclaredFileMissing as exc:
                error = str(exc)
        if error is not None:
            self._unlock(started.key)
            self._record(
                StepResult(step, "failed", outcome.duration, outcome.attempts, started.key, error=error)
            )
            return
        self._store(step, started, outputs, outcome.duration, written)
        metrics = self._metrics(step, {m: outputs[m] for m in decl.metrics if m in outputs})
        self._record(
            StepResult(
                step, "ran", outcome.duration, outcome.attempts, started.key, reason=started.reason, metrics=metrics
            )
        )

    def _metrics(self, step: str, values: dict[str, Any]) -> dict[str, float]:
        """The declared metrics that are numbers; a warning for each one that is not."""
        found: dict[str, float] = {}
        for name, value in values.items():
            number = _number(value)
            if number is None:
                self.emit(
                    "on_warning",
                    step=step,
                    message=f"metric {name} is a {type(value).__name__}, not a number: not recorded",
                )
            else:
                found[name] = number
        return found

    def _store(
        self,
        step: str,
        started: _Started,
        outputs: dict[str, Any],
        duration: float,
        written: dict[str, dict[str, Any]],
    ) -> None:
        store = self.session.store
        stored: dict[str, dict[str, Any]] = dict(written)
        for name, value in outputs.items():
            try:
                packed = write_value(value, store)
            except Unstorable as exc:
                self.emit("on_warning", step=step, message=f"output {name} is not cached: {exc}")
                self.unstored[name] = value
                continue
            self.hashes[name] = packed.digest
            self.kinds[name] = packed.kind
            if self.readers.get(name, 0) > 0 or step in self.recomputing:
                self.values[name] = value
            stored[name] = {
                "hash": packed.digest,
                "kind": packed.kind,
                "summary": packed.summary,
                "extras": packed.extras,
            }
        if started.key is None or started.parts is None or len(stored) != len(outputs) + len(written):
            # Not keyed (cache=False, unstorable inputs or outputs): the object hashes above
            # still feed early cutoff downstream, but nothing is indexed.
            self._unlock(started.key)
            if self.keep is not None:
                self.keep.update(outputs)
            return
        entry = CacheEntry(started.key, step, started.parts.to_json(), stored, self.run_id, time.time(), duration)
        self.entries[step] = entry
        self.view.latest_entries[step] = entry
        self.unflushed.append(entry)
        held = self.running_locks.pop(started.key, None)
        if held is not None:
            self.finished_locks.append(held)
        if time.perf_counter() - self.flushed_at >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write finished results to the index in one transaction, then let go of their locks
        (a run waiting for one of them finds the result when it wakes)."""
        if self.unflushed:
            self.session.registry.record_results(self.unflushed)
            self.unflushed = []
        for held in self.finished_locks:
            held.release()
        self.finished_locks.clear()
        self.flushed_at = time.perf_counter()

    def _record(self, result: StepResult) -> None:
        self.results[result.step] = result
        failed = result.status in ("failed", "skipped")
        self.emit(
            "on_step_end",
            step=result.step,
            status=result.status,
            cached=result.status == "cached",
            duration=result.duration,
            attempts=result.attempts,
            error=(result.error or result.reason) if failed else None,
            key=result.key,
            metrics=result.metrics,
        )

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        graph = self.session.graph
        for step in graph.steps:
            for _, output in graph.inputs[step]:
                self.readers[output] = self.readers.get(output, 0) + 1
        sorter = graphlib.TopologicalSorter({s: graph.upstream_steps(s) for s in graph.steps})
        sorter.prepare()
        self.flushed_at = time.perf_counter()
        while sorter.is_active():
            ready = sorter.get_ready()
            for step in ready:
                if self.schedule(step):
                    sorter.done(step)
            retried = self.retry_blocked() if self.blocked else []
            for step, finished in retried:
                if finished:
                    sorter.done(step)
            outcomes, self.deferred = self.deferred, []
            if not outcomes and self.executor.pending():
                outcomes = self.executor.wait()
            for outcome in outcomes:
                self.finish(outcome)
                sorter.done(outcome.step)
            if not ready and not retried and not outcomes and not self.executor.pending():
                if not self.blocked:
                    raise RuntimeError("the scheduler has steps left but none is ready or running")
                step, finished = self.wait_for_blocked()
                if finished:
                    sorter.done(step)


def _number(value: Any) -> float | None:
    """A metric's value as a float, if it is a real number (a NumPy scalar counts)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        inner = item()
        if isinstance(inner, (int, float)) and not isinstance(inner, complex):
            return float(inner)
    return None


def _copy(value: Any) -> Any:
    """A copy of ``value`` as the step would get it from the store: through pickle.

    NB: not ``copy.deepcopy``: objects whose ``__dict__`` is themselves (a dict with
        attribute access, as statsmodels' ``Dataset``) lose their attributes in a deep copy,
        while a pickle round trip (what a later, cached run loads) keeps them:
            data = sm.datasets.star98.load();  deepcopy(data).endog  # AttributeError
    """
    try:
        return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - not picklable: a deep copy, or the value itself
        try:
            return copy.deepcopy(value)
        except Exception:  # noqa: BLE001
            return value


def _param_value(value: ParamValue) -> Any:
    if value.is_path and value.absolute is not None:
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
        found = (
            f"{type(result).__name__} of length {len(result)}"
            if isinstance(result, (tuple, list))
            else type(result).__name__
        )
        raise TypeError(
            f"the step declares outputs ({', '.join(names)}) and must return a tuple of "
            f"{len(names)} values; it returned a {found}"
        )
    return dict(zip(names, result, strict=True))


def new_run_id() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    return f"{stamp}-{os.urandom(3).hex()}"


def run_plan(
    session: Session,
    decisions: Iterable[Decision],
    *,
    force: Iterable[str] = (),
    hooks: Iterable[object] = (),
    run_id: str | None = None,
    executor: Executor | None = None,
    view: IndexView | None = None,
    uncached: dict[str, str] | None = None,
    keep: dict[str, Any] | None = None,
) -> RunResult:
    """Carry out a plan: reuse the fresh steps, run the rest, decide again below re-runs.

    Args:
        session: a validated session.
        decisions: the plan, from ``execute.plan.plan`` on the same session.
        force: steps to run whatever their cache state.
        hooks: objects receiving run events.
        run_id: the run's id (a new one by default).
        executor: where step functions run (in this process by default).
        view: the cache view the plan was made with (a new one by default); it holds each
            step's latest entry when the run ends.
        uncached: the steps the plan found uncacheable, with why (found again by default).
        keep: when given, receives the value of every output this run computed but did not
            index (``cache=False``, unstorable), for callers that return values.

    Returns:
        A ``RunResult``; ``status`` is ``failed`` when any step failed or was skipped.
    """
    run_id = run_id or new_run_id()
    hook_list = list(hooks)
    plan = {d.step: d for d in decisions}
    run = _Run(
        session,
        view or session.cache_view(),
        plan,
        _hooks.Dispatcher(hook_list),
        run_id,
        set(force),
        executor or InProcessExecutor(),
        session.uncached() if uncached is None else uncached,
        RunLocks(session.project.store),
        session.keys.volatile(),
        keep,
    )
    # The index as the plan saw it: a commit by another run after that is a reason to look
    # again before computing a step.
    run.index_version = run.view.data_version
    started = time.perf_counter()
    steps = list(session.graph.steps)
    fresh = [d.step for d in plan.values() if d.state == "fresh"]
    # How long each step took when it last ran, for progress displays to estimate what is left.
    expected = {
        step: entry.duration
        for step, entry in run.view.latest_entries.items()
        if entry.duration is not None and step in session.graph.steps
    }
    run.emit("on_run_start", run_id=run_id, steps=steps, fresh=fresh, expected=expected)
    # NB: one run at a time in a process: steps run in the project folder (the working
    #     folder is the process's, not a thread's), and key locks are the process's too.
    _ONE_RUN.acquire()
    caller = os.getcwd()
    interrupted = False
    try:
        # Steps run in the project folder, whatever folder the command ran from.
        os.chdir(session.project.root)
        run.run()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        os.chdir(caller)
        _ONE_RUN.release()
        run.executor.close()
        run.flush()
        for held in run.running_locks.values():
            held.release()
        run.locks.close()
        if run.relatest:
            # Explanations compare against the result in use, not the last one computed.
            session.registry.mark_latest(run.relatest)
    failed = any(r.status in ("failed", "skipped") for r in run.results.values())
    status: RunStatus = "interrupted" if interrupted else "failed" if failed else "succeeded"
    duration = time.perf_counter() - started
    run.emit("on_run_end", run_id=run_id, status=status, duration=duration)
    result = RunResult(run_id, status, dict(run.results), duration)
    if interrupted:
        raise RunInterrupted(result)
    return result

