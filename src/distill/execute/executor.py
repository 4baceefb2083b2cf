"""Executors: where a step's function is called. The scheduler decides; an executor only runs.

Responsibilities:
- ``Task``: one step to call — the function, how to build its arguments for one attempt,
  and how many retries it has;
- ``Outcome``: what came back — the return value or the formatted error, attempts, time;
- ``Executor``: the protocol every executor meets (``submit``, ``wait``, ``close``);
- ``InProcessExecutor``: the default and the debugging path: tasks run one at a time, in
  submission order, in this process, inside ``wait``.

An executor that runs tasks elsewhere (a process pool, a cluster) meets the same protocol:
``submit`` hands a task over without blocking, ``wait`` blocks until at least one task has
finished and returns the outcomes. Planning never sees which executor runs a step.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

AttemptHook = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class Task:
    """One step to call.

    Attributes:
        step: the step's name.
        fn: the step function.
        arguments: builds the keyword arguments for one attempt (inputs a step may change in
            place are fresh copies on every attempt).
        retries: extra attempts after an exception.
    """

    step: str
    fn: Callable[..., Any]
    arguments: Callable[[], dict[str, Any]]
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running a task gave.

    Attributes:
        step: the step's name.
        result: the function's return value (``None`` when it failed).
        error: the formatted traceback of the last attempt, or ``None``.
        attempts: how many times the function was called.
        duration: seconds spent in the function, all attempts together.
    """

    step: str
    result: Any
    error: str | None
    attempts: int
    duration: float


class Executor(Protocol):
    """Runs tasks; knows nothing of graphs, caches or plans."""

    def submit(self, task: Task, on_attempt: AttemptHook) -> None:
        """Hand a task over; ``on_attempt(step, n)`` is called as attempt ``n`` starts."""
        ...

    def wait(self) -> list[Outcome]:
        """Block until at least one submitted task has finished; return what finished."""
        ...

    def pending(self) -> int:
        """How many submitted tasks have not been returned by ``wait`` yet."""
        ...

    def close(self) -> None:
        """Release workers; tasks not yet started are dropped."""
        ...


def call_task(task: Task, on_attempt: AttemptHook) -> Outcome:
    """Call a task's function, retrying after an exception. Never raises for user errors.

    ``KeyboardInterrupt`` and other ``BaseException``s are not step failures: they propagate.
    """
    attempts = 0
    error: str | None = None
    result: Any = None
    started = time.perf_counter()
    while attempts <= task.retries:
        attempts += 1
        on_attempt(task.step, attempts)
        try:
            result = task.fn(**task.arguments())
            error = None
            break
        except Exception:  # noqa: BLE001 - a user step failing is a result, not a crash
            error = traceback.format_exc()
    return Outcome(task.step, result, error, attempts, time.perf_counter() - started)


class InProcessExecutor:
    """Runs each task in this process, in submission order, when ``wait`` is called."""

    def __init__(self) -> None:
        self._queue: deque[tuple[Task, AttemptHook]] = deque()

    def submit(self, task: Task, on_attempt: AttemptHook) -> None:
        self._queue.append((task, on_attempt))

    def wait(self) -> list[Outcome]:
        if not self._queue:
            return []
        task, on_attempt = self._queue.popleft()
        return [call_task(task, on_attempt)]

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._queue.clear()
