"""The hook that writes each run and its step runs to the registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from ..pipeline.secrets import mask, mask_value
from .registry import HEARTBEAT_TIMEOUT, Registry

HEARTBEAT_SECONDS = HEARTBEAT_TIMEOUT / 4


class RegistryHook:
    """Records a run: its command, params and environment at start, each step's outcome at end.

    ``secrets``: the text of the run's secret values; it is masked (``***``) in the command,
    the params and every error before anything reaches the registry.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        command: str,
        params: dict[str, Any],
        environment: Callable[[], dict[str, Any]],
        secrets: Collection[str] = (),
    ) -> None:
        self.registry = registry
        self.secrets = frozenset(secrets)
        self.command = mask(command, self.secrets)
        self.params = mask_value(params, self.secrets)
        self.environment = environment
        self.rows: list[tuple[Any, ...]] = []
        self.metrics: list[tuple[str, str, str, float]] = []
        self.started: dict[str, float] = {}
        self.keys: dict[str, str | None] = {}
        self.run_id = ""
        self._alive = threading.Event()
        self._beater: threading.Thread | None = None

    def on_run_start(self, *, run_id: str, steps: list[str], fresh: list[str], **extra: object) -> None:
        self.run_id = run_id
        # The environment is completed when the run ends (git answers in the background).
        self.registry.start_run(run_id, command=self.command, params=self.params, environment={})
        # A run says it is alive every HEARTBEAT_SECONDS, from a thread of its own (a long
        # step must not make it look killed); a killed run stops saying so.
        self._alive = threading.Event()
        self._beater = threading.Thread(target=self._beat, name="distill-heartbeat", daemon=True)
        self._beater.start()

    def _beat(self) -> None:
        while not self._alive.wait(HEARTBEAT_SECONDS):
            try:
                self.registry.heartbeat(self.run_id)
            except Exception:  # noqa: BLE001 - a missed heartbeat is retried at the next one
                continue

    def on_step_start(self, *, step: str, attempt: int, **extra: object) -> None:
        self.started.setdefault(step, time.time())

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
        key = extra.get("key")
        values = extra.get("metrics")
        if isinstance(values, dict):
            self.metrics.extend((self.run_id, step, str(n), float(v)) for n, v in values.items())
        self.rows.append(
            (
                self.run_id,
                step,
                status,
                int(cached),
                key if isinstance(key, str) else None,
                attempts,
                self.started.get(step, time.time()),
                duration,
                None if error is None else mask(error, self.secrets),
            )
        )

    def on_run_end(self, *, run_id: str, status: str, duration: float, **extra: object) -> None:
        if self._beater is not None:
            self._alive.set()
            self._beater.join()
        self.registry.end_run(run_id, status, self.rows, self.metrics, environment=self.environment())
