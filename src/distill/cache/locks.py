"""Per-key locks between processes, so two runs never compute the same result at once.

Responsibilities:
- ``KeyLocks(store)``: one lock per cache key, as the file ``<store>/locks/<key>`` held with
  ``flock``; ``try_acquire`` (never waits) and ``acquire`` (waits, with an optional timeout);
- ``HeldLock``: a lock this process holds; ``release()`` (idempotent) or a ``with`` block;
- ``LockTimeout``: ``acquire`` gave up waiting;
- ``RunLocks``: what a run uses — the same locks as byte ranges of one file kept open for
  the run, one ``fcntl`` call each (no file made or removed per key).

How a run uses them: before computing a step whose key is not in the cache, take the key's
lock. If another process holds it, that process is computing the same result: release every
lock held, wait for this one, then look the key up again — it is usually there now, to reuse.
Release a lock only after the result is in the object store *and* recorded in the registry,
so a waiter that wakes up finds it.

The deadlock rule: **nobody waits for a lock while holding another.** ``try_acquire`` may be
called while holding locks (it never waits); ``acquire`` only with none held — release first.
A holder then never waits on a lock, so every holder makes progress and releases, and no cycle
of waiters can form. The rule is per thread of control: a worker thread may block while a
sibling thread holds a lock, as long as the sibling itself does not wait.

Lock files do not pile up: the holder unlinks the file before unlocking it. That opens the
classic race — B opened the file, A unlinks and unlocks it, B's ``flock`` succeeds on an inode
no longer in the folder while C creates a new file and locks that: both "hold" the key. So
after ``flock`` succeeds, the inode locked is compared with the inode at the path; if they
differ (or the path is gone) the file is closed and the lock taken again. Inode numbers of the
old file cannot be reused meanwhile: the waiter still has it open.

``flock`` locks belong to an open file, not a process: two ``KeyLocks`` in one process (or two
threads) exclude each other too. The system drops a lock when its holder dies, so a crashed
run never leaves a key locked; at worst it leaves an empty, unlocked file, reused by the next.

Waiting without a timeout is a blocking ``flock(LOCK_EX)``: the kernel wakes the waiter, no
polling. With a timeout, ``flock`` cannot be told to give up, and the usual way round
(``signal.alarm``) works only in the main thread and steals the process's alarm from user
code; a helper thread blocked in ``flock`` cannot be cancelled and would take the lock after
we gave up. So a timed wait polls ``LOCK_NB`` with a backoff from 1 ms to 50 ms: at most one
try per 50 ms, and at most 50 ms of delay after the holder releases.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from pathlib import Path
from types import TracebackType

from ..errors import StoreError

# Cache keys are hex digests; anything else that is a plain file name is accepted too.
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")

# Backoff of a timed wait, in seconds.
_FIRST_SLEEP = 0.001
_MAX_SLEEP = 0.05


class LockTimeout(StoreError):
    """``KeyLocks.acquire`` waited ``timeout`` seconds and the key was still locked.

    Attributes:
        key: the key that stayed locked.
        path: its lock file.
        timeout: how long we waited, in seconds.
    """

    def __init__(self, key: str, path: Path, timeout: float) -> None:
        super().__init__(
            f"gave up after {timeout:g} s waiting for the lock on key {key} ({path})",
            hint=(
                "another distill process is computing this result; let it finish, or stop it and "
                "run again (a lock whose process has died is released by the system: do not delete "
                "the file)"
            ),
        )
        self.key = key
        self.path = path
        self.timeout = timeout


class HeldLock:
    """The lock of one key, held by this process until ``release()``.

    Example:
        >>> with locks.acquire(key):
        ...     compute_and_record(key)
    """

    __slots__ = ("key", "path", "_fd")

    def __init__(self, key: str, path: Path, fd: int) -> None:
        self.key = key
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Unlink the lock file and unlock it. Calling it again does nothing."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # NB: unlink *before* unlocking. A waiter that gets the lock after us then sees that
            # its inode is no longer at the path and retries; unlinking after unlocking could
            # remove a file that the next holder has just locked.
            # (Already gone when the store was removed under us: nothing left to clean.)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            # NB: unlock explicitly rather than rely on close(): a child forked while we held
            # the lock shares the open file, and close() alone would leave it locked.
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"HeldLock({self.key!r}, {state})"


class KeyLocks:
    """Locks on cache keys, as files under ``folder/locks``.

    Args:
        folder: the store folder; ``locks/`` is created in it on first use.
    """

    def __init__(self, folder: Path) -> None:
        self.root = Path(folder) / "locks"

    def path(self, key: str) -> Path:
        """The lock file of ``key``.

        Raises:
            ValueError: ``key`` is not a plain file name (a cache key is a hex digest).
        """
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key[:80]!r}")
        return self.root / key

    def try_acquire(self, key: str) -> HeldLock | None:
        """Take the lock of ``key`` if nobody holds it; never waits.

        Returns:
            The held lock, or ``None`` if another holder has it.

        Example:
            >>> lock = locks.try_acquire(key)
            >>> if lock is None:  # someone else computes it: release ours, then wait
            ...     ...
        """
        return self._take(key, self.path(key), wait=False)

    def acquire(self, key: str, *, timeout: float | None = None) -> HeldLock:
        """Take the lock of ``key``, waiting for its holder to release it.

        Call it only while holding no other lock (see the module docstring).

        Args:
            key: the cache key.
            timeout: give up after this many seconds; ``None`` waits as long as it takes.

        Returns:
            The held lock.

        Raises:
            LockTimeout: the key was still locked after ``timeout`` seconds.

        Example:
            >>> with locks.acquire(key, timeout=600):
            ...     entry = registry.entries([key]).get(key)  # computed meanwhile?
        """
        path = self.path(key)
        if timeout is None:
            lock = self._take(key, path, wait=True)
            assert lock is not None
            return lock
        deadline = time.monotonic() + timeout
        sleep = _FIRST_SLEEP
        while True:
            lock = self._take(key, path, wait=False)
            if lock is not None:
                return lock
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(key, path, timeout)
            time.sleep(min(sleep, left))
            sleep = min(sleep * 2, _MAX_SLEEP)

    def _take(self, key: str, path: Path, *, wait: bool) -> HeldLock | None:
        """Lock the file at ``path``, retrying until the inode locked is the one at the path."""
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        while True:
            fd = self._open(path)
            try:
                try:
                    fcntl.flock(fd, flags)
                except BlockingIOError:
                    os.close(fd)
                    return None
                if _same_file(fd, path):
                    return HeldLock(key, path, fd)
            except BaseException:
                os.close(fd)
                raise
            # The holder before us unlinked this file: ours is a lock on nothing. Start over
            # with whatever file is at the path now (or a new one).
            os.close(fd)

    def _open(self, path: Path) -> int:
        # NB: the folder may not exist yet, or be removed (a user deleting the store) between tries:
        # (re)create it and open again; makedirs(exist_ok=True) is safe when many race.
        while True:
            try:
                return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                os.makedirs(self.root, exist_ok=True)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not unlinked nor replaced)."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_ino, mine.st_dev) == (at_path.st_ino, at_path.st_dev)


class KeyShare:
    """This process's hold on one key's byte of the lock file; ``release()`` is idempotent."""

    def __init__(self, owner: RunLocks, slot: int, key: str) -> None:
        self.key = key
        self._owner: RunLocks | None = owner
        self._slot = slot

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._release(self._slot)


class RunLocks:
    """The locks a run takes on cache keys: one byte each of the file ``<store>/locks/keys``,
    locked with POSIX record locks (``fcntl.lockf``), the file opened once for the run.

    Making and removing a file per key costs a run more than a trivial step does; a byte
    range of one file costs one ``fcntl`` call. A key's byte is its first 12 hex digits read
    as a number (2**48 bytes of address space: two keys share a byte once in 10**14 pairs).
    Record locks belong to a process, so within one process they are counted here rather
    than taken twice; between processes they exclude each other like ``KeyLocks``, they are
    dropped when the holder dies, and the deadlock rule of this module holds unchanged.
    """

    def __init__(self, folder: Path) -> None:
        self.root = Path(folder) / "locks"
        self._fd: int | None = None
        self._holders: dict[int, int] = {}

    def _file(self) -> int:
        if self._fd is None:
            path = self.root / "keys"
            while True:
                try:
                    self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                    break
                except FileNotFoundError:
                    os.makedirs(self.root, exist_ok=True)
        return self._fd

    @staticmethod
    def _slot(key: str) -> int:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key[:80]!r}")
        try:
            return int(key[:12], 16)
        except ValueError:
            return int.from_bytes(key.encode()[:6].ljust(6, b"\0"), "big")

    def _take(self, key: str, *, wait: bool) -> KeyShare | None:
        slot = self._slot(key)
        if self._holders.get(slot, 0) == 0:
            flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
            try:
                fcntl.lockf(self._file(), flags, 1, slot, os.SEEK_SET)
            except (BlockingIOError, PermissionError):
                # NB: a lock held elsewhere is EAGAIN or EACCES, depending on the system.
                return None
        self._holders[slot] = self._holders.get(slot, 0) + 1
        return KeyShare(self, slot, key)

    def try_acquire(self, key: str) -> KeyShare | None:
        """Take the lock of ``key`` if no other process holds it; never waits."""
        return self._take(key, wait=False)

    def acquire(self, key: str) -> KeyShare:
        """Take the lock of ``key``, waiting for another process to let go of it.

        Call it only while this process holds no lock another process may wait for (see
        the deadlock rule in the module docstring).
        """
        lock = self._take(key, wait=True)
        assert lock is not None
        return lock

    def _release(self, slot: int) -> None:
        left = self._holders[slot] - 1
        self._holders[slot] = left
        if left == 0:
            del self._holders[slot]
            assert self._fd is not None
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, slot, os.SEEK_SET)

    def close(self) -> None:
        """Let go of every lock and close the file."""
        if self._fd is not None:
            os.close(self._fd)  # closing drops every record lock this process holds on it
            self._fd = None
        self._holders.clear()
