"""The registry under concurrent processes: a fresh store opened by several runs at once.

Three long-lived worker processes meet at a barrier before each try, then each opens a new
``Registry`` on that try's fresh folder and writes a run: the opens, WAL switches and schema
creations collide as they do when three ``distill run`` start together.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from distill.errors import StoreError
from distill.runs.registry import CacheEntry, Registry

CTX = multiprocessing.get_context("fork")
TRIES = 30
WORKERS = 3


def _entry(n: int, run_id: str) -> CacheEntry:
    outputs = {"out": {"hash": f"{n:040x}", "kind": "pickle", "summary": {"bytes": 1}}}
    return CacheEntry(f"key-{n}", f"step-{n}", {"code": n}, outputs, run_id, time.time(), 0.1)


def _at_next_tick(tick: float = 0.02) -> None:
    """Sleep to the next multiple of ``tick`` of the clock, which all workers share.

    Leaving a barrier wakes the workers one after another; a common instant on the clock
    lines them up much closer, so their opens collide in (nearly) every try.
    """
    now = time.time()
    time.sleep(tick - now % tick if tick - now % tick > tick / 4 else 2 * tick - now % tick)


def _write_runs(base: str, n: int, start: Barrier, done: Any) -> None:
    """For each try: wait for the others, open that try's fresh store and record one run."""
    for attempt in range(TRIES):
        start.wait(60)
        _at_next_tick()
        run_id = f"run-{n}"
        try:
            registry = Registry(Path(base) / f"try-{attempt}")
            registry.start_run(run_id, command="run", params={"n": n}, environment={})
            registry.record_results([_entry(n, run_id)])
            step_run = (run_id, f"step-{n}", "ok", 0, f"key-{n}", 1, time.time(), 0.1, None)
            registry.end_run(run_id, "ok", [step_run])
            registry.close()
        except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
            done.put((attempt, n, f"{type(exc).__name__}: {exc}"))
        else:
            done.put((attempt, n, None))


def test_first_runs_on_a_fresh_store_at_once_all_succeed(tmp_path: Path) -> None:
    start = CTX.Barrier(WORKERS)
    done = CTX.Queue()
    processes = [
        CTX.Process(target=_write_runs, args=(str(tmp_path), n, start, done)) for n in range(WORKERS)
    ]
    for proc in processes:
        proc.start()
    results = [done.get(timeout=120) for _ in range(TRIES * WORKERS)]
    for proc in processes:
        proc.join(60)
        assert proc.exitcode == 0

    errors = sorted({error for _, _, error in results if error})
    failed = len({attempt for attempt, _, error in results if error})
    assert not errors, f"{failed} of {TRIES} tries failed:\n" + "\n".join(errors)
    for attempt in range(TRIES):
        registry = Registry(tmp_path / f"try-{attempt}")
        assert sorted(registry.latest()) == [f"step-{n}" for n in range(WORKERS)]
        for n in range(WORKERS):
            run = registry.run(f"run-{n}")
            assert run is not None and run["status"] == "ok"
            assert [s["step"] for s in registry.step_runs(f"run-{n}")] == [f"step-{n}"]
        registry.close()


def test_a_write_waits_for_a_concurrent_writer(tmp_path: Path) -> None:
    Registry(tmp_path).start_run("first", command="run", params={}, environment={})
    # Another connection (as another process would) holds the write lock for half a second.
    other = sqlite3.connect(tmp_path / "index.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    releaser.start()
    began = time.monotonic()
    registry = Registry(tmp_path)
    registry.record_results([_entry(1, "first")])
    waited = time.monotonic() - began
    releaser.join()
    other.close()
    assert waited >= 0.4
    assert sorted(registry.latest()) == ["step-1"]


def test_a_store_of_another_format_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "index.db") as db:
        db.execute("CREATE TABLE cache (key TEXT)")
        db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(StoreError, match="has index format 7, this distill reads format 4"):
        Registry(tmp_path).latest()


def test_a_failed_write_leaves_the_connection_usable(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.start_run("r", command="run", params={}, environment={})
    with pytest.raises(sqlite3.IntegrityError):
        registry.start_run("r", command="run", params={}, environment={})
    assert not registry.db.in_transaction
    registry.start_run("s", command="run", params={}, environment={})
    assert registry.run("s") is not None
