"""Per-key locks between processes: waiting, exclusion, timeouts, no files left behind.

Processes are forked (``flock`` is POSIX-only anyway): spawning one costs a fresh interpreter
and imports, seconds on a small CI machine. The test process holds no lock when it forks.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import pytest

from distill.cache.locks import HeldLock, KeyLocks, LockTimeout
from distill.errors import StoreError

KEY = "3f786850e387550fdab836ed7e6dc881de23001b"
CTX = multiprocessing.get_context("fork")


def _log(path: Path, line: str) -> None:
    with open(path, "a") as out:
        out.write(f"{line} {time.time():.6f}\n")


def _hold(store: str, log: str, held: Event, waiting: Event) -> None:
    with KeyLocks(Path(store)).acquire(KEY):
        _log(Path(log), "first-acquired")
        held.set()
        waiting.wait(30)
        time.sleep(0.3)  # the second process is (about to be) blocked in acquire()
        _log(Path(log), "first-released")


def _wait_then_take(store: str, log: str, held: Event, waiting: Event) -> None:
    held.wait(30)
    locks = KeyLocks(Path(store))
    assert locks.try_acquire(KEY) is None, "the key is held by the first process"
    _log(Path(log), "second-waiting")
    waiting.set()
    with locks.acquire(KEY):
        _log(Path(log), "second-acquired")


def _increment(store: str, counter: str, start: Barrier, seconds: float, done: Any) -> None:
    """Take the lock in a loop and add one to the counter file, read-modify-write."""
    locks = KeyLocks(Path(store))
    path = Path(counter)
    start.wait(30)
    mine = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with locks.acquire(KEY):
            value = int(path.read_text() or "0")
            os.sched_yield()  # widen the window a broken lock would let another holder into
            path.write_text(str(value + 1))
            mine += 1
    done.put(mine)


def _take_own_key(store: str, n: int, start: Barrier, done: Any) -> None:
    start.wait(30)
    try:
        with KeyLocks(Path(store)).acquire(f"{n:040x}"):
            pass
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        done.put(f"{type(exc).__name__}: {exc}")
        return
    done.put(None)


def _join(processes: list[Any]) -> None:
    for proc in processes:
        proc.join(60)
        assert proc.exitcode == 0, f"{proc.name} exited with {proc.exitcode}"


def test_second_process_waits_for_the_first_to_release(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    held, waiting = CTX.Event(), CTX.Event()
    first = CTX.Process(target=_hold, args=(str(tmp_path), str(log), held, waiting))
    second = CTX.Process(target=_wait_then_take, args=(str(tmp_path), str(log), held, waiting))
    first.start()
    second.start()
    _join([first, second])

    events = [line.split() for line in log.read_text().splitlines()]
    order = [name for name, _ in events]
    when = {name: float(t) for name, t in events}
    assert order == ["first-acquired", "second-waiting", "first-released", "second-acquired"]
    assert when["second-acquired"] >= when["first-released"]
    assert not list((tmp_path / "locks").iterdir())


def test_try_acquire_returns_none_while_held(tmp_path: Path) -> None:
    # flock locks belong to an open file: two KeyLocks exclude each other even in one process.
    mine, other = KeyLocks(tmp_path), KeyLocks(tmp_path)
    lock = mine.try_acquire(KEY)
    assert isinstance(lock, HeldLock) and lock.held
    assert other.try_acquire(KEY) is None
    lock.release()
    again = other.try_acquire(KEY)
    assert again is not None
    again.release()


def test_locks_exclude_each_other_across_unlink_races(tmp_path: Path) -> None:
    """Six processes take, bump and release one key for a second: no increment is lost.

    Every release unlinks the file, so waiters keep landing on unlinked inodes; a lost update
    means two processes held the key at once.
    """
    counter = tmp_path / "counter"
    counter.write_text("0")
    workers = 6
    start = CTX.Barrier(workers)
    done = CTX.Queue()
    processes = [
        CTX.Process(target=_increment, args=(str(tmp_path), str(counter), start, 1.0, done))
        for _ in range(workers)
    ]
    for proc in processes:
        proc.start()
    counts = [done.get(timeout=60) for _ in processes]
    _join(processes)

    assert sum(counts) > workers  # the key really changed hands
    assert int(counter.read_text()) == sum(counts)
    assert not list((tmp_path / "locks").iterdir())


def test_many_processes_create_the_locks_folder_at_once(tmp_path: Path) -> None:
    workers = 8
    start = CTX.Barrier(workers)
    done = CTX.Queue()
    processes = [
        CTX.Process(target=_take_own_key, args=(str(tmp_path), n, start, done))
        for n in range(workers)
    ]
    for proc in processes:
        proc.start()
    errors = [done.get(timeout=60) for _ in processes]
    _join(processes)

    assert errors == [None] * workers
    assert not list((tmp_path / "locks").iterdir())


def test_acquire_times_out_naming_the_key(tmp_path: Path) -> None:
    with KeyLocks(tmp_path).acquire(KEY):
        began = time.monotonic()
        with pytest.raises(LockTimeout, match=rf"gave up after 0\.2 s waiting for the lock on key {KEY}") as info:
            KeyLocks(tmp_path).acquire(KEY, timeout=0.2)
        waited = time.monotonic() - began
    assert 0.2 <= waited < 2
    assert isinstance(info.value, StoreError)
    assert info.value.key == KEY
    assert info.value.path == tmp_path / "locks" / KEY
    assert "another distill process is computing this result" in str(info.value)


def test_acquire_with_timeout_takes_a_free_key(tmp_path: Path) -> None:
    with KeyLocks(tmp_path).acquire(KEY, timeout=0) as lock:
        assert lock.held


def test_release_removes_the_file_and_is_idempotent(tmp_path: Path) -> None:
    locks = KeyLocks(tmp_path)
    lock = locks.acquire(KEY)
    assert (tmp_path / "locks" / KEY).exists()
    lock.release()
    lock.release()
    assert not lock.held
    assert not (tmp_path / "locks" / KEY).exists()
    with locks.acquire(KEY):
        pass
    assert not list((tmp_path / "locks").iterdir())


def test_a_lock_file_left_by_a_crash_does_not_block(tmp_path: Path) -> None:
    # A process killed while holding leaves its file; the system has dropped its lock.
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / KEY).touch()
    lock = KeyLocks(tmp_path).try_acquire(KEY)
    assert lock is not None
    lock.release()
    assert not (tmp_path / "locks" / KEY).exists()


@pytest.mark.parametrize("key", ["", "../escape", "a/b", ".hidden", "x" * 201])
def test_keys_that_are_not_file_names_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not a cache key"):
        KeyLocks(tmp_path).try_acquire(key)
