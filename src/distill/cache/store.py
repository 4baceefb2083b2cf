"""The content-addressed object store: bytes in, bytes out, named by their hash.

Responsibilities:
- ``put(data) -> hash`` and ``writer()``: write ``objects/ab/cdef…`` through a temp file under
  ``objects/tmp/`` and an atomic rename, so a crash never leaves a half-written object under
  its final name; ``writer()`` is a binary file that hashes what is written as it goes, so a
  large value is streamed to disk once, never held as one ``bytes``;
- temp files a killed writer left (its process is gone from this host, or nobody wrote to
  the file for a day) are removed before a store's first write;
- ``get(hash) -> bytes`` and ``reader(hash)``: read and verify the hash; a missing or
  corrupted object raises ``StoreError`` (and a corrupted one is removed), it is never
  returned. The hash of a large object is computed on a helper thread while the caller reads
  or parses it (``hashlib`` releases the GIL on large buffers), so checking runs alongside
  the work instead of after it;
- nothing here knows about Python values: serialisation is ``cache.serialize``.

An object's name is ``content_hash`` (SHA-256) of its bytes, whichever way it was written.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from ..errors import StoreAccessError, StoreError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

# Objects smaller than this are hashed inline: a helper thread is not worth starting.
_THREAD_AFTER = 4 << 20
# Large buffers are handed to the hashing thread in slices of this size.
_SLICE = 16 << 20
# At most this many slices wait for the hashing thread; the writer blocks beyond that,
# so memory stays bounded when the disk is faster than the hash.
_QUEUE_DEPTH = 16
# Once hashing is on the thread, small writes from mutable buffers are copied first: a
# library may reuse its small buffer as soon as ``write`` returns. Large ones are views of
# the value being stored (an array, a pickled buffer) and are not copied.
_COPY_BELOW = 1 << 20
_BUFFERING = 1 << 18
_names = itertools.count()


def _host_tag() -> str:
    """This host and process-id namespace, in 8 hex digits: where a pid means one process."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:8]


# Temp files are named `<w|p>.<host tag>.<pid>.<n>…`, so the next writer can tell what a
# killed process left (its pid is gone from this host) from a file still being written.
_HOST_TAG = _host_tag()
# A temp file of another host (or named otherwise) is removed once untouched for this long.
_ABANDONED_AFTER = 24 * 3600.0


class Hash(Protocol):
    """What the store needs of a hash object (``hashlib``'s meet it)."""

    def update(self, data: ReadableBuffer, /) -> None: ...

    def hexdigest(self) -> str: ...


def new_hash(digest: str | None = None) -> Hash:
    """The hash objects are named by: SHA-256, which CPUs accelerate (about three times the
    speed of BLAKE2b here, which matters for a 1 GiB output). A 40-digit name is an object
    stored by an earlier version, named by BLAKE2b-160, and is checked with that."""
    if digest is not None and len(digest) == 40:
        return hashlib.blake2b(digest_size=20)
    return hashlib.sha256()


def content_hash(data: ReadableBuffer) -> str:
    """The name of an object holding ``data``."""
    hasher = new_hash()
    hasher.update(data)
    return hasher.hexdigest()


def _bytes_view(data: ReadableBuffer) -> memoryview:
    view = memoryview(data)
    if view.ndim != 1 or view.format != "B":
        # NB: a view of a 2-D array or of float64 counts items, not bytes:
        #     memoryview(np.zeros((2, 3))).nbytes == 48 but len(...) == 2
        view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    return view


class _Hasher:
    """The content hash of a stream fed in order; large streams are hashed on a helper thread.

    The buffers given to ``update`` are hashed later, on the thread: they must not change
    until ``hexdigest`` (or ``cancel``) returns. ``bytes`` never change; the callers here
    only pass ``bytes``, views of values that outlive the call, or freshly read buffers.
    """

    def __init__(self, digest: str | None = None) -> None:
        self._hash = new_hash(digest)
        self._fed = 0
        self._queue: queue.Queue[memoryview | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._cancelled = False

    def update(self, view: memoryview) -> None:
        size = view.nbytes
        if self._queue is None:
            if self._fed + size < _THREAD_AFTER:
                self._hash.update(view)
                self._fed += size
                return
            self._start()
        assert self._queue is not None
        if size < _COPY_BELOW and not view.readonly:
            view = memoryview(view.tobytes())
        for start in range(0, size, _SLICE):
            self._queue.put(view[start : start + _SLICE])
        self._fed += size

    def _start(self) -> None:
        self._queue = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._thread = threading.Thread(target=self._run, name="distill-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pending = self._queue
        assert pending is not None
        while True:
            view = pending.get()
            if view is None:
                return
            if self._cancelled or self._error is not None:
                continue
            try:
                self._hash.update(view)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by hexdigest()
                self._error = exc

    def _join(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None

    def hexdigest(self) -> str:
        self._join()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()

    def cancel(self) -> None:
        self._cancelled = True
        self._join()


class ObjectWriter:
    """A binary file that becomes one object of the store; get it from ``ObjectStore.writer``.

    Everything written is appended to a temp file and hashed on the way (on a helper thread
    once the object is large). Leaving the ``with`` block normally renames the temp file to
    its content address and sets ``digest`` and ``size``; leaving it by an exception removes
    the temp file, and nothing appears under a final name.

    Buffers passed to ``write`` must not change until the ``with`` block ends: they are
    hashed a little later. ``bytes`` and views of the value being stored satisfy this.

    A library that writes files natively (pyarrow) can instead write the temp file by its
    path, inside ``native_path()``: that skips a Python call and a copy per chunk.

    Example:
        >>> with store.writer() as out:
        ...     out.write(b"hello")
        >>> out.digest == content_hash(b"hello")
        True
    """

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._hasher = _Hasher()
        self._tail: _TailHasher | None = None
        self._file: io.BufferedWriter | None = None
        self._tmp = ""
        self._size = 0
        self._digest: str | None = None

    # -- the file interface -----------------------------------------------------------

    def write(self, data: ReadableBuffer) -> int:
        if self._file is None:
            raise ValueError("write to an object writer outside its `with` block")
        if self._tail is not None:
            raise ValueError("write() after native_path(): an object is written one way only")
        view = _bytes_view(data)
        try:
            self._file.write(view)
        except OSError as exc:
            raise self._store._write_failed(exc) from exc
        self._hasher.update(view)
        self._size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        # NB: some libraries close the file they were given; the object is only committed
        #     when the `with` block ends, so closing here does nothing.
        return None

    @property
    def closed(self) -> bool:
        return self._file is None

    @contextlib.contextmanager
    def native_path(self) -> Iterator[str]:
        """The temp file's path, for a library that writes the file itself.

        A helper thread hashes the file as it grows. The library must only append to the
        file, and close it before this block ends; nothing may be written with ``write``.

        Example:
            >>> with store.writer() as out, out.native_path() as path:
            ...     with pyarrow.OSFile(path, "wb") as sink:
            ...         pyarrow.parquet.write_table(table, sink)
        """
        if self._file is None or self._size or self._tail is not None:
            raise ValueError("native_path() is for a fresh writer, inside its `with` block")
        self._tail = _TailHasher(self._tmp)
        try:
            yield self._tmp
        except BaseException:
            self._tail.cancel()
            raise
        self._size = self._tail.finish()

    # -- the result -------------------------------------------------------------------

    @property
    def digest(self) -> str:
        if self._digest is None:
            raise RuntimeError("the object is not stored yet: read `digest` after its `with` block")
        return self._digest

    @property
    def size(self) -> int:
        if self._digest is None:
            raise RuntimeError("the object is not stored yet: read `size` after its `with` block")
        return self._size

    # -- the life cycle ---------------------------------------------------------------

    def __enter__(self) -> ObjectWriter:
        try:
            tmp_dir = self._store._ensure_dir("tmp")
            fd, self._tmp = tempfile.mkstemp(prefix=f"w.{_HOST_TAG}.{os.getpid()}.{next(_names)}.", dir=tmp_dir)
        except OSError as exc:
            raise self._store._write_failed(exc) from exc
        self._file = io.BufferedWriter(io.FileIO(fd, "wb"), buffer_size=_BUFFERING)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            assert self._file is not None
            self._file.close()
            self._file = None
            digest = self._tail.hexdigest() if self._tail is not None else self._hasher.hexdigest()
            self._store._commit(self._tmp, digest, self._size)
        except OSError as exc:
            self._abort()
            raise self._store._write_failed(exc) from exc
        except BaseException:
            self._abort()
            raise
        self._digest = digest

    def _abort(self) -> None:
        self._hasher.cancel()
        if self._tail is not None:
            self._tail.cancel()
        if self._file is not None:
            # The temp file is removed just below: an error closing it no longer matters.
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        _unlink(self._tmp)


class _TailHasher:
    """Hash a file that another writer is appending to, on a helper thread, as it grows.

    Reads through its own handle up to the current end of the file, waits a little when it
    catches up, and after ``finish`` (the writer has closed the file) reads to the end.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._hash = new_hash()
        self._size = 0
        self._done = threading.Event()
        self._cancelled = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="distill-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self._path, "rb", buffering=0) as handle:
                self._follow(handle)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by finish()
            self._error = exc

    def _follow(self, handle: io.FileIO) -> None:
        view = memoryview(bytearray(_SLICE))
        while not self._cancelled:
            finished = self._done.is_set()  # before reading: then an empty read is the end
            count = handle.readinto(view)
            if count:
                self._hash.update(view[:count])
                self._size += count
            elif finished:
                return
            else:
                self._done.wait(0.002)

    def finish(self) -> int:
        """Hash the rest of the (now closed) file; returns its size."""
        self._done.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._size

    def hexdigest(self) -> str:
        if self._thread.is_alive():
            raise RuntimeError("the file is still being written: leave native_path() first")
        return self._hash.hexdigest()

    def cancel(self) -> None:
        self._cancelled = True
        self._done.set()
        self._thread.join()


class ObjectReader:
    """One object of the store opened for reading, checked against its name; from ``reader``.

    Read it in one of two ways, not both:

    - **in order**, with ``read``/``readinto``/``readline``: what they return is hashed as it
      goes (on a helper thread for large objects); leaving the block hashes the rest;
    - **at random**, through ``file`` (a seekable binary file, e.g. for a Parquet reader that
      starts at the footer), with ``random_access=True``: a helper thread hashes the whole
      file on its own, in parallel with the caller.

    Leaving the ``with`` block waits for the hash. If it does not match, the object is
    removed and ``StoreError`` raised, also when the block itself failed (a parser choking on
    a damaged object reports the damage, not its own error). So a value built inside the
    block must not be used unless the block is left normally.

    Buffers passed to ``readinto`` are hashed a little later: they must not change until the
    ``with`` block ends.

    Example:
        >>> with store.reader(digest) as obj:
        ...     header = obj.read(10)
        ...     obj.readinto(array_memory)
    """

    def __init__(self, store: ObjectStore, digest: str, *, random_access: bool = False) -> None:
        self.digest = digest
        self.random_access = random_access
        self._store = store
        self._path = store._fspath(digest)
        self._file: io.BufferedReader | None = None
        self._hasher = _Hasher(digest)
        self._background: _FileHasher | None = None
        self.size = 0

    @property
    def file(self) -> io.BufferedReader:
        """The open file itself, for readers that seek; only with ``random_access=True``."""
        if self._file is None or not self.random_access:
            raise ValueError("`file` is for objects opened with `reader(digest, random_access=True)`")
        return self._file

    @property
    def native_path(self) -> str:
        """A path to the open file, for libraries that open files themselves (pyarrow).

        On Linux, ``/proc/self/fd/N``: the very file being hashed, even if the object were
        replaced meanwhile; elsewhere, the object's path (objects are immutable).
        """
        fd_path = f"/proc/self/fd/{self.file.fileno()}"
        return fd_path if os.path.exists(fd_path) else self._path

    def read(self, size: int = -1) -> bytes:
        data = self._sequential().read(size)
        if data:
            self._hasher.update(memoryview(data))
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")  # a non-contiguous buffer cannot be read into: TypeError
        count = self._sequential().readinto(view)
        if count:
            self._hasher.update(view[:count])
        return count

    def readline(self, size: int = -1) -> bytes:
        line = self._sequential().readline(size)
        if line:
            self._hasher.update(memoryview(line))
        return line

    def tell(self) -> int:
        return self._sequential().tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def _sequential(self) -> io.BufferedReader:
        if self._file is None or self.random_access:
            raise ValueError("read()/readinto() are for objects opened with `reader(digest)` in order")
        return self._file

    def __enter__(self) -> ObjectReader:
        try:
            self._file = open(self._path, "rb")  # closed in __exit__
        except FileNotFoundError as exc:
            raise self._store._missing(self.digest) from exc
        self.size = os.fstat(self._file.fileno()).st_size
        if self.random_access:
            self._background = _FileHasher(self._file, self._path, self.size, self.digest)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._file is not None
        try:
            if exc_type is not None and not issubclass(exc_type, Exception):
                # Interrupted (KeyboardInterrupt...): stop hashing and let it through.
                self._hasher.cancel()
                if self._background is not None:
                    self._background.cancel()
                return
            actual = self._actual_hash()
        finally:
            self._file.close()
        if actual != self.digest:
            raise self._store._corrupted(self.digest, actual) from exc

    def _actual_hash(self) -> str:
        assert self._file is not None
        if self._background is not None:
            return self._background.hexdigest()
        while chunk := self._file.read(_SLICE):
            self._hasher.update(memoryview(chunk))
        return self._hasher.hexdigest()


class _FileHasher:
    """Hash a whole open file on a helper thread, without moving its position.

    Uses ``os.pread`` on the file the caller is reading, so both see the very same bytes;
    where there is no ``pread`` (Windows), the thread opens the path again.
    """

    def __init__(self, file: io.BufferedReader, path: str, size: int, digest: str | None = None) -> None:
        self._fd = file.fileno()
        self._path = path
        self._hash = new_hash(digest)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread: threading.Thread | None = None
        if size >= _THREAD_AFTER:
            self._thread = threading.Thread(target=self._run, name="distill-verify", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._hash_file()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by hexdigest()
            self._error = exc

    def _hash_file(self) -> None:
        buffer = bytearray(_SLICE)
        view = memoryview(buffer)
        if hasattr(os, "preadv"):
            offset = 0
            while not self._cancelled and (count := os.preadv(self._fd, [view], offset)):
                self._hash.update(view[:count])
                offset += count
            return
        with open(self._path, "rb", buffering=0) as handle:
            while not self._cancelled and (count := handle.readinto(view)):
                self._hash.update(view[:count])

    def hexdigest(self) -> str:
        if self._thread is None:
            self._hash_file()
        else:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()

    def cancel(self) -> None:
        self._cancelled = True
        if self._thread is not None:
            self._thread.join()


def check_store(root: Path, *, write: bool) -> None:
    """Refuse, with one clear error, a store that cannot be used: a file where the store or
    one of its folders should be, or (``write``) a folder this process cannot write.

    Raises:
        StoreAccessError: what is wrong, where, and how to point the store elsewhere.
    """
    hint = "set DISTILL_STORE (or [tool.distill] store in pyproject.toml) to a writable folder"
    for path in (root, root / "objects", root / "objects" / "tmp", root / "locks"):
        if os.path.lexists(path) and not path.is_dir():
            raise StoreAccessError(
                f"the store needs a folder at {path}, found a file there",
                hint=f"move that file away, or {hint}",
            )
    if not write:
        return
    try:
        probed: set[Path] = set()
        for folder in (root, root / "objects", root / "objects" / "tmp"):
            # The folder, or the nearest one that exists (nothing is created here: a run that
            # then fails validation leaves no store behind).
            while not folder.is_dir() and folder != folder.parent:
                folder = folder.parent
            if folder in probed:
                continue
            probed.add(folder)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        where = exc.filename or root
        raise StoreAccessError(
            f"the store {root} is read-only: cannot write to {where} ({exc.strerror or exc})",
            hint=hint,
        ) from exc


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _sweep_tmp(folder: str) -> None:
    """Remove the temp files killed writers left in ``folder``: those of a process of this
    host that is gone, and any that nobody wrote to for ``_ABANDONED_AFTER`` seconds.

    NB: a killed ``distill run`` leaves its half-written object here (the rename never
        came); without this, every kill during a write would keep its bytes forever.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            if abandoned(entry.name, entry.stat().st_mtime, now):
                os.unlink(entry.path)
        except OSError:
            continue  # gone already, or not ours to remove: never a reason to fail a write


def abandoned(name: str, mtime: float, now: float) -> bool:
    """Whether the temp file ``name`` (last written at ``mtime``) was left by a writer that is
    gone: a process of this host that has ended, or anyone's file untouched for a day."""
    parts = name.split(".")
    if len(parts) > 3 and parts[1] == _HOST_TAG and parts[2].isdigit():
        return not _alive(int(parts[2]))
    return now - mtime >= _ABANDONED_AFTER


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host (and pid namespace) is running."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class ObjectStore:
    """Objects under ``root/objects``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "objects"
        self._prefix = str(self.root) + os.sep
        self._tmp = self.root / "tmp"
        self._made: set[str] = set()

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def _fspath(self, digest: str) -> str:
        return f"{self._prefix}{digest[:2]}{os.sep}{digest[2:]}"

    def _ensure_dir(self, name: str) -> str:
        folder = f"{self._prefix}{name}"
        if name not in self._made:
            os.makedirs(folder, exist_ok=True)
            if name == "tmp":
                _sweep_tmp(folder)  # once per store opened, before its first write
            self._made.add(name)
        return folder

    def has(self, digest: str, size: int | None = None) -> bool:
        try:
            st = os.stat(self._fspath(digest))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return size is None or st.st_size == size

    # -- writing ----------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        digest = content_hash(data)
        if self.has(digest, len(data)):
            return digest
        tmp_dir = self._ensure_dir("tmp")
        tmp = os.path.join(tmp_dir, f"p.{_HOST_TAG}.{os.getpid()}.{next(_names)}.{digest}")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            self._commit(tmp, digest, len(data))
        except BaseException:
            _unlink(tmp)
            raise
        return digest

    def writer(self) -> ObjectWriter:
        """A binary file whose content becomes one object; see ``ObjectWriter``.

        Example:
            >>> with store.writer() as out:
            ...     numpy.save(out, array)
            >>> out.digest, out.size
        """
        return ObjectWriter(self)

    def _commit(self, tmp: str, digest: str, size: int) -> None:
        self._ensure_dir(digest[:2])
        if self.has(digest, size):
            # Same name and size: the same content is already there (writes are atomic).
            _unlink(tmp)
            return
        os.replace(tmp, self._fspath(digest))

    # -- reading ----------------------------------------------------------------------

    def get(self, digest: str) -> bytes:
        """Read an object and check it against its name.

        Large objects are hashed on a helper thread while they are read, in parallel.

        Raises:
            StoreError: the object is missing, or its content does not match its hash.
        """
        with self.reader(digest, random_access=True) as obj:
            data = obj.file.read()
        return data

    def reader(self, digest: str, *, random_access: bool = False) -> ObjectReader:
        """Open an object for reading, checked against its name; see ``ObjectReader``.

        Raises:
            StoreError: (on entering the ``with`` block) the object is missing; (on leaving
                it) its content does not match its hash; the object was then removed.
        """
        return ObjectReader(self, digest, random_access=random_access)

    def _write_failed(self, exc: OSError) -> StoreError:
        return StoreError(
            f"could not write an object to the store under {self.root}: {exc}",
            hint="check the free disk space and the permissions of that folder",
        )

    def _missing(self, digest: str) -> StoreError:
        return StoreError(f"object {digest} is missing from the store ({self.path(digest)})")

    def _corrupted(self, digest: str, actual: str) -> StoreError:
        _unlink(self._fspath(digest))
        return StoreError(
            f"object {digest} is corrupted: its content hashes to {actual}; it was removed"
        )
