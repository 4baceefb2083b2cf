"""Small memo tables that make planning fast, kept in one file under the store.

The ground floor: every layer that memoises by file stat (sources, params, fingerprints)
imports this module, and it imports nothing of distill but the version.

Responsibilities:
- load and save ``state.pickle``: parsed module records by file stat, content hashes of data
  files by file stat, installed distribution versions by ``sys.path`` folder stats, and
  validated param values;
- ``trust(stat, recorded_ns)``: whether a memo made from a file can be reused.

Every entry is checked against the file it came from before use, so a stale or foreign
state file can only cost time, never give a wrong answer. Entries whose file changed within
``RACY_NS`` of being read are not trusted (a same-size edit within the clock's resolution
would otherwise go unseen).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__

# Bump FORMAT whenever a memoised record changes meaning (analysis rules, record fields):
# a state file from another format or distill version is discarded, never trusted.
FORMAT = 5
RACY_NS = 2_000_000_000


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
        """Write the state atomically if anything changed; losing it only costs time."""
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump((_version(), self.tables), handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
            if self.project is not None:
                _SHARED[self.project] = self.tables
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self.dirty = False


def _version() -> tuple[int, str]:
    return (FORMAT, __version__)


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
    path = store / "state.pickle"
    try:
        with open(path, "rb") as handle:
            version, tables = pickle.load(handle)
        if version == _version() and isinstance(tables, dict):
            return State(path, tables)
    except FileNotFoundError:
        pass
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError):
        # A damaged or foreign memo file is rebuilt: it holds no results, only shortcuts.
        pass
    return State(path)


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def trusted(st: os.stat_result, entry_stat: tuple[int, int, int], recorded_ns: int) -> bool:
    """Whether a memo recorded at ``recorded_ns`` for a file with ``entry_stat`` still holds."""
    return stat_key(st) == entry_stat and st.st_mtime_ns < recorded_ns - RACY_NS
