"""Small memo tables that make planning fast, kept in one signed file under the store.

The ground floor: every layer that memoises by file stat (sources, params, fingerprints)
imports this module, and it imports nothing of distill but the version, the errors, the store
key (``cache.trust``) and its codec (``memo_codec``, which imports the modules defining the
record types it may rebuild when it first reads or writes a file).

Responsibilities:
- load and save ``memo.json``: parsed module records by file stat, content hashes of data
  files by file stat, installed distribution versions by ``sys.path`` folder stats, loaded
  params files, validated param values, code closures and the run environment;
- the file's form: a header line ``distill-memo <FORMAT> <distill version> <MAC>`` and the
  tables as JSON (``memo_codec``), which rebuilds only builtin values and distill's own
  record types, so reading a file can never run code. The MAC is an HMAC with the store key
  over the format, the version and the JSON bytes; a file that is missing, too large, not a
  regular file, from another format or version, badly signed or undecodable is ignored and
  the tables start empty. ``state.pickle`` from earlier versions is never read, and removed
  on the next save;
- ``State.save``: atomic (a temp file renamed into place) and never raising for a store
  that cannot be written (read-only, full, a file where the folder should be);
- ``trusted(stat, entry_stat, recorded_ns)``: whether a memo made from a file can be reused.

Every entry is checked against the file it came from before use, so a stale memo file can
only cost time, never give a wrong answer; the MAC keeps entries written by anyone without
the key out (a forged entry could claim any value for an unchanged file). Entries whose file
changed within ``RACY_NS`` of being read are not trusted (a same-size edit within the
clock's resolution would otherwise go unseen).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import memo_codec
from ._version import __version__
from .cache.trust import signer
from .errors import DistillError

# Bump FORMAT whenever a memoised record changes meaning (analysis rules, record fields):
# a state file from another format or distill version is discarded, never trusted.
FORMAT = 7
RACY_NS = 2_000_000_000
FILE_NAME = "memo.json"
OLD_FILE_NAME = "state.pickle"
MAGIC = b"distill-memo"
# A memo of 100,000 steps is tens of MB; anything far larger is not one of ours (and is not
# read into memory).
MAX_BYTES = 256 << 20


@dataclass(slots=True)
class State:
    path: Path
    tables: dict[str, dict[Any, Any]] = field(default_factory=dict)
    dirty: bool = False
    project: str | None = None

    def table(self, name: str) -> dict[Any, Any]:
        return self.tables.setdefault(name, {})

    def put(self, table: str, key: Any, value: Any) -> None:
        self.table(table)[key] = value
        self.dirty = True

    def save(self) -> None:
        """Write the state atomically if anything changed; losing it only costs time, so a
        store that cannot be written (or a store key that cannot be read) is not an error."""
        if not self.dirty:
            return
        if self.project is not None:
            _SHARED[self.project] = self.tables
        try:
            data = _signed(self.tables)
        except (DistillError, ValueError, RecursionError):
            return  # no store key, or a value too deep to write: this memo is not kept
        folder = self.path.parent
        tmp: str | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".memo-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.path)
            tmp = None
        except OSError:
            return  # a read-only or full store, a file where its folder should be
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self.dirty = False
        with contextlib.suppress(OSError):
            os.unlink(folder / OLD_FILE_NAME)


def _signed(tables: dict[str, dict[Any, Any]]) -> bytes:
    payload = memo_codec.dumps(tables)
    mac = signer().sign(MAGIC, str(FORMAT), __version__, payload)
    return b" ".join((MAGIC, str(FORMAT).encode(), __version__.encode(), mac.encode())) + b"\n" + payload


def _verified(data: bytes) -> dict[str, dict[Any, Any]] | None:
    """The tables in the bytes of a memo file, or ``None`` if they cannot be trusted."""
    head, newline, payload = data.partition(b"\n")
    fields = head.split(b" ")
    if not newline or len(fields) != 4:
        return None
    magic, fmt, version, mac = fields
    if magic != MAGIC or fmt != str(FORMAT).encode() or version != __version__.encode():
        return None
    if not signer().verify(mac.decode("ascii"), MAGIC, str(FORMAT), __version__, payload):
        return None
    return memo_codec.loads(payload)


# The memo tables of this process, by project folder: a new store of a project this process
# has already read (a fresh store per run, or another --store) starts from what it learnt.
# Every entry is checked against the file it came from before use, so sharing costs nothing
# in correctness.
_SHARED: dict[str, dict[str, dict[Any, Any]]] = {}


def load_state(store: Path, project_root: Path | None = None) -> State:
    """The memo tables kept in ``store``; a store without them starts from this process's
    tables for the same project, if it has read it before."""
    state = _load(store)
    state.project = str(project_root) if project_root is not None else None
    shared = _SHARED.get(state.project) if state.project is not None else None
    if shared and not state.tables:
        state.tables = {name: dict(table) for name, table in shared.items()}
        state.dirty = True
    return state


def _load(store: Path) -> State:
    path = store / FILE_NAME
    try:
        data = _read(path)
        tables = _verified(data) if data is not None else None
    except Exception:  # noqa: BLE001 - whatever is wrong with the file, it is rebuilt
        # A damaged, foreign or unsigned memo file (or no store key to check it with) only
        # costs time: it holds no results, only shortcuts. Reading it runs no code but the
        # codec's own (OSError, ValueError, TypeError, KeyError, RecursionError, ...).
        tables = None
    return State(path, tables) if tables is not None else State(path)


def _read(path: Path) -> bytes | None:
    """The bytes of the regular file at ``path`` if it is at most ``MAX_BYTES`` long."""
    # NB: non-blocking, so that a FIFO planted in its place does not hang the open; a
    #     device (a link to /dev/zero) or a folder is refused before anything is read.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        data = handle.read(MAX_BYTES + 1)
    return data if len(data) <= MAX_BYTES else None


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def trusted(st: os.stat_result, entry_stat: tuple[int, int, int], recorded_ns: int) -> bool:
    """Whether a memo recorded at ``recorded_ns`` for a file with ``entry_stat`` still holds."""
    return stat_key(st) == entry_stat and st.st_mtime_ns < recorded_ns - RACY_NS
