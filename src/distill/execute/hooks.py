"""Run events. Progress displays, the run history and alerts are hooks, not scheduler branches.

Responsibilities:
- ``RunHook``: the events a run emits, each keyword-only with primitives (names, numbers,
  strings), never internal objects;
- ``Hook``: a base class with a no-op for every event, so a hook implements what it needs;
- ``call``: deliver one event to every hook that has a method for it.

Every hook method takes ``**extra``: events may gain keywords in later versions, and a hook
written today keeps working then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class RunHook(Protocol):
    def on_run_start(self, *, run_id: str, steps: list[str], fresh: list[str], **extra: object) -> None: ...

    def on_step_start(self, *, step: str, attempt: int, **extra: object) -> None: ...

    def on_step_end(
        self,
        *,
        step: str,
        status: str,
        cached: bool,
        duration: float,
        attempts: int,
        error: str | None,
        **extra: object,
    ) -> None: ...

    def on_warning(self, *, step: str | None, message: str, **extra: object) -> None: ...

    def on_run_end(self, *, run_id: str, status: str, duration: float, **extra: object) -> None: ...


class Hook:
    """A hook that ignores every event; subclass it and override what you need."""

    def on_run_start(self, *, run_id: str, steps: list[str], fresh: list[str], **extra: object) -> None:
        """A run starts: every step of the graph, and those the plan found fresh.

        ``extra["expected"]``: step → seconds it took when it last ran (for estimates).
        """

    def on_step_start(self, *, step: str, attempt: int, **extra: object) -> None:
        """A step starts: ``attempt`` 0 for a cache hit, 1, 2, … for calls."""

    def on_step_end(
        self,
        *,
        step: str,
        status: str,
        cached: bool,
        duration: float,
        attempts: int,
        error: str | None,
        **extra: object,
    ) -> None:
        """A step ended: ``ran``, ``cached``, ``failed`` or ``skipped``."""

    def on_warning(self, *, step: str | None, message: str, **extra: object) -> None:
        """Something went wrong that did not fail the run (a damaged object, say)."""

    def on_run_end(self, *, run_id: str, status: str, duration: float, **extra: object) -> None:
        """The run ended: ``succeeded`` or ``failed``."""


def call(hooks: list[object], event: str, **kwargs: object) -> None:
    for hook in hooks:
        method = getattr(hook, event, None)
        if method is not None:
            method(**kwargs)


class Dispatcher:
    """The hooks of one run, with each event's methods looked up once (a run emits thousands)."""

    def __init__(self, hooks: list[object]) -> None:
        self._hooks = hooks
        self._methods: dict[str, list[Callable[..., object]]] = {}

    def __call__(self, event: str, **kwargs: object) -> None:
        methods = self._methods.get(event)
        if methods is None:
            methods = [m for m in (getattr(h, event, None) for h in self._hooks) if m is not None]
            self._methods[event] = methods
        for method in methods:
            method(**kwargs)
