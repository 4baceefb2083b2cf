"""``distill doctor``: check a store, and repair what can be repaired without losing history.

Responsibilities:
- every object under ``objects/`` is hashed and compared with its name; a damaged object, or
  a file that is not an object, is removed (the next run recomputes what it held);
- the index ``index.db`` passes SQLite's integrity check, or is moved aside to
  ``index.db.corrupt-<time>`` and the rows that can still be read (run history, metrics,
  cache rows with their MACs) are copied into a new index;
- cache rows whose objects are gone are dropped (they could only be misses);
- memo files are cleared (they only save time), and temp files left by killed processes
  are removed;
- a run in progress is never disturbed: with a live run, nothing is repaired.

``check(store, repair=False)`` only reports. The report says, for each finding, what and
where, and whether it was repaired; ``healthy`` is whether the store is sound afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache.store import abandoned, new_hash
from .memo import FILE_NAME, OLD_FILE_NAME
from .runs.registry import SCHEMA_VERSION, Registry, run_gone

# Temp files: under ``objects/tmp`` the store's own (named by host and pid: see
# ``cache.store.abandoned``); beside the index, ``.state-*`` / ``.memo-*`` (memo files) and
# ``.probe-*`` (the writability probe), which carry no pid and live for milliseconds.
_MEMO_NAMES = (FILE_NAME, OLD_FILE_NAME)
_SHORT_LIVED = 60.0
# Object names: SHA-256, or BLAKE2b-160 from earlier versions (``cache.store.new_hash``).
_OBJECT_NAME = re.compile(r"[0-9a-f]{64}|[0-9a-f]{40}")
# How many unreadable rowids in a row end the salvage of a table.
_SALVAGE_GAP = 4096


@dataclass(slots=True)
class Finding:
    """One thing found wrong (or worth knowing) in a store."""

    kind: str
    path: str
    message: str
    repaired: bool = False
    problem: bool = True

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Report:
    store: str
    repair: bool
    findings: list[Finding] = field(default_factory=list)
    objects: int = 0
    salvaged: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """Whether nothing is wrong now (after repairs, when repairing)."""
        return not any(f.problem and not f.repaired for f in self.findings)

    def add(self, kind: str, path: Path | str, message: str, *, repaired: bool = False, problem: bool = True) -> None:
        self.findings.append(Finding(kind, str(path), message, repaired, problem))

    def as_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "repair": self.repair,
            "healthy": self.healthy,
            "objects_checked": self.objects,
            "salvaged_rows": self.salvaged,
            "findings": [f.as_json() for f in self.findings],
        }


def check(store: Path, *, repair: bool = True) -> Report:
    """Check ``store`` and, with ``repair``, fix what can be fixed."""
    report = Report(str(store), repair)
    if not os.path.lexists(store):
        return report
    if not store.is_dir():
        report.add("store-not-a-folder", store, "the store is a file, not a folder: move it away (it is not removed)")
        return report
    live = _live_runs(store)
    if live and repair:
        report.add(
            "run-in-progress",
            store,
            f"a run is in progress ({live}): nothing was repaired; run `distill doctor` when it has ended",
        )
        repair = report.repair = False
    _check_folders(store, report)
    _check_temp_files(store, report, repair)
    _check_objects(store, report, repair)
    _check_index(store, report, repair)
    _clear_memos(store, report, repair)
    return report


# -- folders and temp files ---------------------------------------------------------------


def _check_folders(store: Path, report: Report) -> None:
    for sub in ("objects", "objects/tmp", "locks"):
        path = store / sub
        if os.path.lexists(path) and not path.is_dir():
            report.add("not-a-folder", path, f"{sub} should be a folder, found a file: move it away")


def _live_runs(store: Path) -> str:
    """Runs recorded as running whose process is alive (empty when none, or no readable index)."""
    path = store / "index.db"
    if not path.is_file():
        return ""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT run_id, pid, host, heartbeat FROM runs WHERE status = 'running'").fetchall()
    except sqlite3.Error:
        return ""
    now = time.time()
    alive = [f"{run_id}, pid {pid}" for run_id, pid, host, beat in rows if not run_gone(pid, host, beat, now)]
    return "; ".join(alive)


def _temp_files(store: Path) -> Iterator[Path]:
    tmp = store / "objects" / "tmp"
    if tmp.is_dir():
        yield from (p for p in tmp.iterdir() if p.is_file())
    for prefix in (".state-", ".memo-", ".probe-"):
        yield from store.glob(f"{prefix}*")
    if (store / "objects").is_dir():
        yield from (store / "objects").glob(".probe-*")


def _check_temp_files(store: Path, report: Report, repair: bool) -> None:
    now = time.time()
    tmp = store / "objects" / "tmp"
    for path in _temp_files(store):
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if path.parent == tmp:
            if not abandoned(path.name, mtime, now):
                continue  # being written by a live process
        elif now - mtime < _SHORT_LIVED:
            continue  # a memo or probe being written right now
        repaired = repair and _remove(path)
        report.add("temp-file", path, "temp file left by a process that ended", repaired=repaired)


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


# -- objects -------------------------------------------------------------------------------


def _check_objects(store: Path, report: Report, repair: bool) -> None:
    root = store / "objects"
    if not root.is_dir():
        return
    for fan in sorted(root.iterdir()):
        if fan.name == "tmp":
            continue
        if not (fan.is_dir() and re.fullmatch(r"[0-9a-f]{2}", fan.name)):
            report.add("not-an-object", fan, "not an object of the store", repaired=repair and _remove(fan))
            continue
        for obj in sorted(fan.iterdir()):
            digest = fan.name + obj.name
            if not _OBJECT_NAME.fullmatch(digest) or not obj.is_file() or obj.is_symlink():
                report.add("not-an-object", obj, "not an object of the store", repaired=repair and _remove(obj))
                continue
            report.objects += 1
            try:
                with open(obj, "rb") as handle:
                    actual = hashlib.file_digest(handle, lambda digest=digest: new_hash(digest)).hexdigest()  # type: ignore[arg-type, misc]
            except OSError as exc:
                report.add("unreadable-object", obj, f"object {digest} cannot be read ({exc.strerror or exc})")
                continue
            if actual != digest:
                report.add(
                    "corrupt-object",
                    obj,
                    f"object {digest} does not match its hash (its content hashes to {actual}); the next run "
                    "recomputes it",
                    repaired=repair and _remove(obj),
                )


# -- the index -------------------------------------------------------------------------------


def _check_index(store: Path, report: Report, repair: bool) -> None:
    path = store / "index.db"
    if not os.path.lexists(path):
        return
    if not path.is_file():
        report.add("index-not-a-file", path, "index.db should be a file: move it away")
        return
    problem = _integrity(path)
    if problem is not None:
        if not repair:
            report.add("index-damaged", path, f"the index is damaged ({problem})")
            return
        _salvage(path, report, problem)
        return
    _check_rows(store, report, repair)


def _integrity(path: Path) -> str | None:
    """What is wrong with the SQLite file, or None when its integrity check passes."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("PRAGMA integrity_check").fetchall()
            version = db.execute("PRAGMA user_version").fetchall()[0][0]
    except sqlite3.Error as exc:
        return str(exc)
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:3])
    if version > SCHEMA_VERSION:
        return f"index format {version} is newer than this distill reads ({SCHEMA_VERSION})"
    return None


def _salvage(path: Path, report: Report, problem: str) -> None:
    """Move the damaged index aside, make a new one, and copy into it every row still readable."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while os.path.lexists(aside):
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if os.path.lexists(side):
            os.replace(side, aside.with_name(aside.name + suffix))
    fresh = Registry(path.parent)
    try:
        fresh.data_version()  # creates the new file and its schema
        target = fresh.db
        salvaged = _copy_rows(aside, target)
    finally:
        fresh.close()
    report.salvaged = salvaged
    total = sum(salvaged.values())
    report.add(
        "index-damaged",
        path,
        f"the index was damaged ({problem}); moved to {aside.name}, {total} readable rows copied into a new index",
        repaired=True,
    )


def _copy_rows(source: Path, target: sqlite3.Connection) -> dict[str, int]:
    out: dict[str, int] = {}
    for db in _readable(source):
        with contextlib.closing(db):
            for table in ("runs", "step_runs", "metrics", "cache", "latest"):
                columns = [row[1] for row in target.execute(f"PRAGMA table_info({table})").fetchall()]
                try:
                    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}
                except sqlite3.Error:
                    continue
                names = [c for c in columns if c in have]
                if not names:
                    continue
                rows = list(_rows(db, table, names))
                marks = ", ".join("?" * len(names))
                target.execute("BEGIN IMMEDIATE")
                before = target.total_changes
                target.executemany(
                    f"INSERT OR IGNORE INTO {table} ({', '.join(names)}) VALUES ({marks})", rows
                )
                target.execute("COMMIT")
                out[table] = out.get(table, 0) + target.total_changes - before
        if out:
            break
    # Runs the damaged index left running are over.
    target.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
    return out


def _readable(source: Path) -> Iterator[sqlite3.Connection]:
    """The damaged file opened as it is, then with a rebuilt header (a zeroed first page
    head otherwise hides every row)."""
    with contextlib.suppress(sqlite3.Error):
        yield sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    patched = source.with_name(source.name + ".patched")
    try:
        data = bytearray(source.read_bytes())
    except OSError:
        return
    if len(data) < 4096:
        return
    for page_size in (4096, 1024, 2048, 8192, 16384, 32768, 65536):
        if len(data) % page_size:
            continue
        header = _header(page_size, len(data) // page_size)
        copy = bytearray(data)
        copy[:100] = header
        patched.write_bytes(bytes(copy))
        try:
            db = sqlite3.connect(patched)
            db.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.Error:
            continue
        try:
            yield db
        finally:
            with contextlib.suppress(OSError):
                patched.unlink()
        return
    with contextlib.suppress(OSError):
        patched.unlink()


def _header(page_size: int, pages: int) -> bytes:
    """A plausible SQLite file header for a file of ``pages`` pages of ``page_size`` bytes."""
    head = bytearray(100)
    head[0:16] = b"SQLite format 3\x00"
    head[16:18] = (1 if page_size == 65536 else page_size).to_bytes(2, "big")
    head[18] = head[19] = 1  # rollback journal: the salvage copy has no WAL file
    head[21], head[22], head[23] = 64, 32, 32
    head[24:28] = (1).to_bytes(4, "big")
    head[28:32] = pages.to_bytes(4, "big")
    head[40:44] = (1).to_bytes(4, "big")
    head[44:48] = (4).to_bytes(4, "big")
    head[56:60] = (1).to_bytes(4, "big")
    head[60:64] = SCHEMA_VERSION.to_bytes(4, "big")
    head[92:96] = (1).to_bytes(4, "big")
    head[96:100] = (3_045_000).to_bytes(4, "big")
    return bytes(head)


def _rows(db: sqlite3.Connection, table: str, names: list[str]) -> Iterator[tuple[Any, ...]]:
    """Every row of ``table`` that can be read, in rowid order, stepping over damaged pages."""
    select = f"SELECT rowid, {', '.join(names)} FROM {table} WHERE rowid > ? ORDER BY rowid"
    last = 0
    gap = 0
    while gap < _SALVAGE_GAP:
        try:
            cursor = db.execute(select, (last,))
            for row in cursor:
                last = row[0]
                gap = 0
                yield tuple(row[1:])
            return
        except sqlite3.Error:
            gap = max(1, gap * 2)
            last += gap


def _check_rows(store: Path, report: Report, repair: bool) -> None:
    """Cache rows whose objects are gone, and rows that do not verify with the store key."""
    registry = Registry(store, readonly=not repair)
    objects = store / "objects"
    try:
        rows = registry.db.execute("SELECT key, step, components, outputs, objects, mac FROM cache").fetchall()
        lost = []
        unverified = 0
        for key, step, components, outputs, listed, mac in rows:
            if not registry.signer.verify(mac, key, step, components, outputs, listed):
                unverified += 1
                continue
            for line in (listed or "").split("\n"):
                parts = line.split("\t")
                if len(parts) == 3 and not (objects / parts[1][:2] / parts[1][2:]).is_file():
                    lost.append(key)
                    break
        if unverified:
            report.add(
                "unverified-rows",
                store / "index.db",
                f"{unverified} cache rows do not verify with this store key (written under another key, or "
                "tampered with): they are ignored, and their steps re-run",
                problem=False,
            )
        for key in lost:
            repaired = False
            if repair:
                registry.forget(key)
                repaired = True
            report.add("lost-objects", store / "index.db", f"cache row {key[:12]} names objects that are gone", repaired=repaired)
    finally:
        registry.close()


# -- memos ---------------------------------------------------------------------------------


def _clear_memos(store: Path, report: Report, repair: bool) -> None:
    if not repair:
        return
    for name in _MEMO_NAMES:
        path = store / name
        if os.path.lexists(path) and _remove(path):
            report.add("memo", path, "memo file cleared (rebuilt by the next command)", repaired=True, problem=False)
