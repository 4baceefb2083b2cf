"""Run events. Progress displays, the run history and alerts are hooks, not scheduler branches.

Hook methods are keyword-only and receive primitives (names, numbers, strings), never
internal objects. A hook implements any subset of them.
"""

from __future__ import annotations

from typing import Protocol


class RunHook(Protocol):
    def on_run_start(self, *, run_id: str, steps: list[str], fresh: list[str]) -> None: ...

    def on_step_start(self, *, step: str, attempt: int) -> None: ...

    def on_step_end(
        self,
        *,
        step: str,
        status: str,
        cached: bool,
        duration: float,
        attempts: int,
        error: str | None,
    ) -> None: ...

    def on_warning(self, *, step: str | None, message: str) -> None: ...

    def on_run_end(self, *, run_id: str, status: str, duration: float) -> None: ...


def call(hooks: list[object], event: str, **kwargs: object) -> None:
    for hook in hooks:
        method = getattr(hook, event, None)
        if method is not None:
            method(**kwargs)
