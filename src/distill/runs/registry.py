"""The registry: the cache index and the history of runs, in one SQLite file.

Responsibilities:
- the cache index: ``key → (step, components, outputs)``, and the latest key of each step,
  which is what ``distill status`` compares against to explain why a step is stale;
- runs and step runs: status, attempts, timings, cache hits, keys, errors, params and the
  environment of each run;
- one connection per thread, parameterised queries, schema created on open;
- every cache row carries an HMAC, made with the store key (``cache/trust.py``), over its
  key, step, components, outputs and objects. A row whose MAC does not verify — planted,
  forged, garbled, or written under another key — is not returned: it is a cache miss, and
  its key is kept in ``rejected`` so the run can say how many were ignored;
- read only when asked (``readonly=True``: ``status``, ``show``, ``load``): the file is
  opened read-only, or as immutable when its folder cannot be written, and never created;
- every SQLite failure leaves as one ``StoreAccessError`` saying what is wrong with the file
  and what to type next (``distill doctor`` for a damaged one), never a traceback.

Writes for a step are one transaction, made when the step finishes: a crash loses at most
the step that was running, never leaves a half-written record.

Several processes may open the same file at once — three ``distill run`` started together on
a fresh store all create it. Opening is therefore safe under concurrency:

- switching to WAL needs the whole file to itself. When two openers switch at once, each
  holds a read lock and wants the write lock; SQLite fails one of them at once with
  ``database is locked`` rather than let them wait for each other, so the busy timeout does
  not help. The switch is retried, with a short randomised backoff, for up to
  ``OPEN_TIMEOUT`` seconds (once the file is in WAL mode, the switch is a no-op);
- the tables and ``user_version`` are created in one ``BEGIN IMMEDIATE`` transaction that
  first reads the version again, so nobody sees tables without their version (which read as
  "index format 0" before) and only the first opener creates anything. ``executescript`` is
  not used: it commits before it runs;
- every write is a ``BEGIN IMMEDIATE`` transaction, which takes the write lock up front and
  waits for it up to the busy timeout (``timeout=30``), so two writers queue instead of
  failing; a reader never waits in WAL mode.
"""

from __future__ import annotations

import functools
import json
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..cache.trust import Signer, signer
from ..errors import StoreAccessError, StoreError

SCHEMA_VERSION = 4

# How long a connection waits for the write lock (SQLite's busy timeout), in seconds.
BUSY_TIMEOUT = 30.0
# How long opening retries what SQLite does not wait for by itself (the switch to WAL).
OPEN_TIMEOUT = 30.0

_T = TypeVar("_T")
_P = ParamSpec("_P")

SCHEMA = """
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    step TEXT NOT NULL,
    components TEXT NOT NULL,
    outputs TEXT NOT NULL,
    objects TEXT NOT NULL,
    run_id TEXT,
    created REAL NOT NULL,
    duration REAL,
    mac TEXT
);
CREATE TABLE IF NOT EXISTS latest (
    step TEXT PRIMARY KEY,
    key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    ended REAL,
    status TEXT NOT NULL,
    command TEXT,
    params TEXT,
    environment TEXT,
    pid INTEGER,
    host TEXT,
    heartbeat REAL
);
CREATE TABLE IF NOT EXISTS step_runs (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    cached INTEGER NOT NULL,
    key TEXT,
    attempts INTEGER NOT NULL,
    started REAL,
    duration REAL,
    error TEXT,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, step, name)
);
"""
# What each older index format lacks, to be added in place (never a rebuild: history stays).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS metrics (run_id TEXT NOT NULL, step TEXT NOT NULL, name TEXT NOT NULL, "
        "value REAL NOT NULL, PRIMARY KEY (run_id, step, name))",
    ),
    2: (
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN heartbeat REAL",
    ),
    # Rows written before MACs existed have none: they read as cache misses and re-run once.
    3: ("ALTER TABLE cache ADD COLUMN mac TEXT",),
}
# A run whose record says "running" but has not shown a sign of life for this long (or whose
# process is gone, on this host) was killed: it reads as interrupted.
HEARTBEAT_TIMEOUT = 120.0


class CacheEntry:
    """One cached result of a step.

    Attributes:
        key: the cache key.
        step: the step.
        components: what the key was made of (code, env, params, data, inputs), as JSON data.
        outputs: output name → ``{"hash", "kind", "summary", "extras"}``.
        run_id: the run that computed it.
        created: when (Unix time).
        duration: how long the step took, in seconds.

    JSON columns are decoded on first access: a no-op run reads a thousand entries and
    needs the components of none of them.
    """

    __slots__ = ("key", "step", "_components", "_outputs", "run_id", "created", "duration", "_objects", "_parsed")

    def __init__(
        self,
        key: str,
        step: str,
        components: dict[str, Any] | str,
        outputs: dict[str, dict[str, Any]] | str,
        run_id: str | None,
        created: float,
        duration: float | None,
        objects: str | None = None,
    ) -> None:
        self._objects = objects
        self._parsed: list[tuple[str, str, int | None]] | None = None
        self.key = key
        self.step = step
        self._components = components
        self._outputs = outputs
        self.run_id = run_id
        self.created = created
        self.duration = duration

    @property
    def components(self) -> dict[str, Any]:
        if isinstance(self._components, str):
            self._components = json.loads(self._components)
        assert not isinstance(self._components, str)
        return self._components

    def objects(self) -> list[tuple[str, str, int | None]]:
        """``(output, object hash, size)`` of each output, without decoding everything."""
        if self._parsed is not None:
            return self._parsed
        if self._objects is not None:
            out: list[tuple[str, str, int | None]] = []
            for line in self._objects.split("\n"):
                name, digest, size = line.split("\t")
                out.append((name, digest, int(size) if size else None))
        else:
            out = [
                (name, meta["hash"], meta.get("summary", {}).get("bytes"))
                for name, meta in self.outputs.items()
            ]
        self._parsed = out
        return out

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        if isinstance(self._outputs, str):
            self._outputs = json.loads(self._outputs)
        assert not isinstance(self._outputs, str)
        return self._outputs


def _guard(method: Callable[Concatenate[Registry, _P], _T]) -> Callable[Concatenate[Registry, _P], _T]:
    """Make a registry method raise one ``StoreAccessError`` where SQLite would raise."""

    @functools.wraps(method)
    def guarded(self: Registry, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return self._guarded(lambda: method(self, *args, **kwargs))

    return guarded


class Registry:
    """The SQLite file ``index.db`` of a store.

    Args:
        root: the store folder.
        readonly: never write (reading commands); the file is not created when absent.
        signer: signs and checks cache rows (the store key's, on first use, by default).
    """

    def __init__(self, root: Path, *, readonly: bool = False, signer: Signer | None = None) -> None:
        self.path = Path(root) / "index.db"
        self.readonly = readonly
        self._signer = signer
        self._local = threading.local()
        self._has_mac = True
        # Keys of rows whose MAC did not verify, as read by this registry.
        self.rejected: set[str] = set()

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = signer()
        return self._signer

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._guarded(self._open_readonly if self.readonly else self._open)
            self._local.conn = conn
        return conn

    def _guarded(self, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt``; SQLite and file-system failures leave as one ``StoreAccessError``."""
        try:
            return attempt()
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # a mistake of the caller, not a fault of the file
        except sqlite3.DatabaseError as exc:
            raise self._database_error(exc) from exc
        except OSError as exc:
            raise StoreAccessError(
                f"cannot use the store folder {self.path.parent}: {exc.strerror or exc}",
                hint="the store must be a writable folder: move what is there away, or set DISTILL_STORE "
                "to another folder",
            ) from exc

    def _database_error(self, exc: sqlite3.DatabaseError) -> StoreError:
        code = getattr(exc, "sqlite_errorcode", 0) or 0
        primary = code & 0xFF
        text = str(exc)
        if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in text or "not a database" in text:
            return StoreAccessError(
                f"the index {self.path} is damaged ({text})",
                hint="run `distill doctor` to move it aside and salvage its rows (the run history is kept)",
            )
        if primary == sqlite3.SQLITE_READONLY or "readonly" in text:
            return StoreAccessError(
                f"the store {self.path.parent} is read-only ({text})",
                hint="set DISTILL_STORE to a writable folder (or [tool.distill] store in pyproject.toml)",
            )
        if primary == sqlite3.SQLITE_CANTOPEN or "unable to open" in text:
            return StoreAccessError(
                f"cannot open the index {self.path} ({text})",
                hint="check that it is a file you may read and its folder one you may write; "
                "or set DISTILL_STORE to another folder",
            )
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreAccessError(
                f"{self.path} stayed locked by another process ({text})",
                hint="another distill process may be stuck writing to this store; stop it and run again",
            )
        if primary == sqlite3.SQLITE_FULL:
            return StoreAccessError(f"cannot write the index {self.path}: the disk is full", hint="free some space")
        return StoreAccessError(
            f"the index {self.path} cannot be used ({text})",
            hint="run `distill doctor` to check the store",
        )

    def _open_readonly(self) -> sqlite3.Connection:
        """Connect without writing anything: read-only, or immutable when the folder cannot
        be written (SQLite then cannot make the files a read-only WAL reader needs)."""
        uri = self.path.resolve().as_uri()
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
            conn.execute("PRAGMA user_version").fetchall()
        except sqlite3.OperationalError:
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            if version > SCHEMA_VERSION:
                raise StoreAccessError(
                    f"{self.path} has index format {version}, newer than this distill reads ({SCHEMA_VERSION})",
                    hint="upgrade distill",
                )
            columns = {row[1] for row in conn.execute("PRAGMA table_info(cache)").fetchall()}
            self._has_mac = "mac" in columns
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        """Connect, switch to WAL and create the schema; safe when many processes do it at once.

        Raises:
            StoreError: the file has another index format, or stayed locked for ``OPEN_TIMEOUT``.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            # NB: the mode is kept in the file: after the first switch this is a no-op. A file
            # system without shared memory answers "delete", and we carry on in that mode.
            self._retry(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchall())
            conn.execute("PRAGMA synchronous=NORMAL")
            self._retry(lambda: self._create_schema(conn))
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        # The version is set in the transaction that creates the tables, so once it reads
        # right the schema is complete: the common case takes no write lock.
        if conn.execute("PRAGMA user_version").fetchall()[0][0] == SCHEMA_VERSION:
            return
        with _transaction(conn):
            # Read again under the write lock: another process may have created it meanwhile.
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            has_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchall()[0][0]
            if version == SCHEMA_VERSION:
                return
            if has_tables and 0 < version < SCHEMA_VERSION and all(v in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
                for step in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        if _needed(conn, statement):
                            conn.execute(statement)
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)  # tables an old file never had
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                return
            if has_tables:
                raise StoreError(
                    f"{self.path} has index format {version}, this distill reads format {SCHEMA_VERSION}",
                    hint=f"remove {self.path.parent} to start a fresh store (results will be recomputed)",
                )
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _retry(self, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt`` until SQLite stops answering "locked"/"busy", for ``OPEN_TIMEOUT``."""
        deadline = time.monotonic() + OPEN_TIMEOUT
        sleep = 0.001
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"{self.path} stayed locked by another process for {OPEN_TIMEOUT:g} s while opening it ({exc})",
                        hint="another distill process may be stuck writing to this store; stop it and run again",
                    ) from exc
            # Randomised, so processes that collided once do not collide again in step.
            time.sleep(random.uniform(sleep / 2, sleep))
            sleep = min(sleep * 2, 0.1)

    def exists(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- cache index -------------------------------------------------------------------

    def entries(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        """The verified cache rows of ``keys`` (a row that fails its MAC is left out)."""
        keys = list(keys)
        found: dict[str, CacheEntry] = {}
        if not keys or not self.exists():
            return found
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {self._columns('')} FROM cache WHERE key IN ({marks})"
            rows = self._select(query, chunk)
            for row in rows:
                entry = self._verified(row)
                if entry is not None:
                    found[entry.key] = entry
        return found

    def latest(self, steps: Iterable[str] | None = None) -> dict[str, CacheEntry]:
        """The most recent verified cache entry of each step (what status compares against)."""
        if not self.exists():
            return {}
        rows = self._select(f"SELECT {self._columns('c.')} FROM latest l JOIN cache c ON c.key = l.key")
        wanted = set(steps) if steps is not None else None
        out: dict[str, CacheEntry] = {}
        for row in rows:
            if wanted is None or row[1] in wanted:
                entry = self._verified(row)
                if entry is not None:
                    out[entry.step] = entry
        return out

    def rejected_steps(self) -> set[str]:
        """Steps whose latest row is there but failed its MAC (so status can say why)."""
        if not self.rejected or not self.exists():
            return set()
        rows = self._select("SELECT step, key FROM latest")
        return {str(step) for step, key in rows if key in self.rejected}

    def _select(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._guarded(lambda: self.db.execute(query, args).fetchall())

    def _columns(self, prefix: str) -> str:
        self._guarded(lambda: self.db)  # opening tells whether the file has MACs
        names = ("key", "step", "components", "outputs", "run_id", "created", "duration", "objects")
        mac = f"{prefix}mac" if self._has_mac else "NULL"
        return ", ".join(f"{prefix}{n}" for n in names) + f", {mac}"

    def _verified(self, row: tuple[Any, ...]) -> CacheEntry | None:
        key, step, components, outputs, objects, mac = row[0], row[1], row[2], row[3], row[7], row[8]
        texts = (key, step, components, outputs, objects)
        if not all(isinstance(t, str) or t is None for t in texts) or not self.signer.verify(
            mac if isinstance(mac, str) else None, *texts
        ):
            self.rejected.add(str(key))
            return None
        return _entry(row)

    def sign(self, key: str, step: str, components: str, outputs: str, objects: str | None) -> str:
        return self.signer.sign(key, step, components, outputs, objects)

    def record_results(self, entries: list[CacheEntry]) -> None:
        """Index finished results, signed, and make each its step's latest, in one transaction."""
        rows = []
        for entry in entries:
            components = json.dumps(entry.components, sort_keys=True)
            outputs = json.dumps(entry.outputs, sort_keys=True)
            objects = "\n".join(f"{n}\t{d}\t{s if s is not None else ''}" for n, d, s in entry.objects())
            mac = self.sign(entry.key, entry.step, components, outputs, objects)
            rows.append(
                (entry.key, entry.step, components, outputs, objects, entry.run_id, entry.created, entry.duration, mac)
            )

        def write() -> None:
            db = self.db
            with _transaction(db):
                db.executemany(
                    "INSERT OR REPLACE INTO cache (key, step, components, outputs, objects, run_id, created, "
                    "duration, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                db.executemany("INSERT OR REPLACE INTO latest VALUES (?, ?)", [(e.step, e.key) for e in entries])
            self.rejected.difference_update(e.key for e in entries)

        self._guarded(write)

    @_guard
    def mark_latest(self, pairs: Iterable[tuple[str, str]]) -> None:
        db = self.db
        with _transaction(db):
            db.executemany("INSERT OR REPLACE INTO latest VALUES (?, ?)", list(pairs))

    @_guard
    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the index (SQLite's
        ``PRAGMA data_version``); -1 when there is no index yet."""
        if not self.exists():
            return -1
        return int(self.db.execute("PRAGMA data_version").fetchall()[0][0])

    @_guard
    def last_statuses(self) -> dict[str, str]:
        """Each step's status in the most recent run that recorded it."""
        if not self.exists():
            return {}
        rows = self.db.execute(
            "SELECT step, status FROM step_runs WHERE rowid IN (SELECT max(rowid) FROM step_runs GROUP BY step)"
        ).fetchall()
        return {str(step): str(status) for step, status in rows}

    @_guard
    def forget(self, key: str) -> None:
        """Drop a cache entry whose objects are lost, so it is recomputed."""
        db = self.db
        with _transaction(db):
            db.execute("DELETE FROM cache WHERE key = ?", (key,))
            db.execute("DELETE FROM latest WHERE key = ?", (key,))

    # -- runs ----------------------------------------------------------------------------

    @_guard
    def start_run(self, run_id: str, *, command: str, params: dict[str, Any], environment: dict[str, str]) -> None:
        """Record a run as running, with this process's id and host, and mark as interrupted
        every run left "running" by a process that was killed."""
        db = self.db
        now = time.time()
        with _transaction(db):
            db.execute(
                "INSERT INTO runs VALUES (?, ?, NULL, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    now,
                    command,
                    json.dumps(params, sort_keys=True),
                    json.dumps(environment, sort_keys=True),
                    os.getpid(),
                    _HOST,
                    now,
                ),
            )
            stale = [
                row[0]
                for row in db.execute("SELECT run_id, pid, host, heartbeat FROM runs WHERE status = 'running'").fetchall()
                if row[0] != run_id and run_gone(row[1], row[2], row[3], now)
            ]
            db.executemany("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", [(r,) for r in stale])

    @_guard
    def heartbeat(self, run_id: str) -> None:
        """Say that a run is still alive (a long run calls this now and then)."""
        db = self.db
        with _transaction(db):
            db.execute("UPDATE runs SET heartbeat = ? WHERE run_id = ?", (time.time(), run_id))

    @_guard
    def end_run(
        self,
        run_id: str,
        status: str,
        step_runs: list[tuple[Any, ...]],
        metrics: list[tuple[str, str, str, float]] | None = None,
        *,
        environment: dict[str, Any] | None = None,
    ) -> None:
        db = self.db
        with _transaction(db):
            db.executemany("INSERT OR REPLACE INTO step_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", step_runs)
            db.executemany("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?)", metrics or [])
            if environment is not None:
                db.execute(
                    "UPDATE runs SET environment = ? WHERE run_id = ?",
                    (json.dumps(environment, sort_keys=True), run_id),
                )
            db.execute("UPDATE runs SET ended = ?, status = ? WHERE run_id = ?", (time.time(), status, run_id))

    @_guard
    def run(self, run_id: str) -> dict[str, Any] | None:
        # NB: fetchall, never fetchone: a statement left unfinished keeps its read snapshot
        #     open, and this connection would not see what other runs commit afterwards.
        rows = self.db.execute(
            "SELECT run_id, started, ended, status, command, params, pid, host, heartbeat FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchall()
        if not rows:
            return None
        *row, pid, host, beat = rows[0]
        if row[3] == "running" and run_gone(pid, host, beat, time.time()):
            row[3] = "interrupted"  # its process is gone, or silent for too long
        return dict(zip(("run_id", "started", "ended", "status", "command", "params"), row, strict=True))

    @_guard
    def metrics(self, run_id: str) -> dict[str, dict[str, float]]:
        """step → metric → value, as recorded by the run."""
        out: dict[str, dict[str, float]] = {}
        rows = self.db.execute("SELECT step, name, value FROM metrics WHERE run_id = ?", (run_id,)).fetchall()
        for step, name, value in rows:
            out.setdefault(str(step), {})[str(name)] = float(value)
        return out

    @_guard
    def step_runs(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT step, status, cached, key, attempts, started, duration, error FROM step_runs "
            "WHERE run_id = ? ORDER BY started",
            (run_id,),
        ).fetchall()
        names = ("step", "status", "cached", "key", "attempts", "started", "duration", "error")
        return [dict(zip(names, r, strict=True)) for r in rows]


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on error.

    ``BEGIN IMMEDIATE`` takes the write lock at once, waiting up to the busy timeout for
    another writer; a deferred ``BEGIN`` would take it at the first write and fail at once
    with "database is locked" if another writer got in between (SQLite cannot wait there
    without risking a deadlock).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # NB: some errors (a full disk, an I/O error) make SQLite roll back by itself; a
        # second ROLLBACK would raise and hide the error that caused it.
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


def _needed(conn: sqlite3.Connection, statement: str) -> bool:
    """Whether a migration statement applies: an added column whose table is absent (it is
    then created whole) or already has it is skipped."""
    words = statement.split()
    if words[:2] != ["ALTER", "TABLE"] or words[3:5] != ["ADD", "COLUMN"]:
        return True
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({words[2]})").fetchall()}
    return bool(columns) and words[5] not in columns


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite failed because another connection held a lock (worth retrying)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc)
    return "locked" in text or "busy" in text


_HOST = socket.gethostname()


def run_gone(pid: int | None, host: str | None, heartbeat: float | None, now: float) -> bool:
    """Whether a run recorded as running can no longer be: its process is not alive on this
    host, or it has not given a heartbeat for ``HEARTBEAT_TIMEOUT`` seconds."""
    if host == _HOST and pid is not None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, under another user: its heartbeat says whether it is this run
    return heartbeat is None or now - heartbeat > HEARTBEAT_TIMEOUT


def _entry(row: tuple[Any, ...]) -> CacheEntry:
    return CacheEntry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])
