"""A `distill run` killed (SIGKILL) at random moments leaves a store the next run can trust.

One store is killed thirty times, each time in a run with a new param value (every step
takes it, so every step runs again), at a moment drawn with a fixed seed: two kills in three
uniformly over a clean run's duration, the others near the end of a chosen step's pause or
as soon as a chosen step's output is being written (found by polling the log the steps
append to, then the store's temp folder). After each kill:

1. every object under ``.distill/objects/`` matches its name (SHA-256 for 64 hex digits,
   BLAKE2b-160 for 40);
2. ``index.db`` passes SQLite's ``integrity_check``;
3. the next run exits 0 and runs exactly the steps the killed run did not index: a step it
   indexed (or recorded as done) is reused, never run again;
4. every output then holds the bytes the step functions' values serialise to (the functions
   are checked once against a clean run in another folder); once all runs are over, the last
   output each next run reused from its killed run still loads as that value;
5. nothing temporary is left in the store, and no run reads as running: the killed one is
   recorded as interrupted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

import distill
from conftest import cli, ran_steps, write
from distill.cache import store as store_module
from distill.cache.serialize import serialize
from distill.cache.store import ObjectStore

KILLS = 30
RANDOM_SEED = 20240611
# Each step's pause in seconds (none for some): kills land while steps compute.
PAUSES = {
    "raw": 0.05,
    "noise": 0.0,
    "clean": 0.1,
    "feats": 0.0,
    "stats": 0.05,
    "blob": 0.0,
    "model": 0.1,
    "report": 0.05,
}
STEPS = tuple(PAUSES)  # in an order where every step comes after its inputs
LARGE = ("raw", "noise", "clean", "feats", "blob")  # the steps whose output is a few MB

# A diamond (raw -> clean -> feats, stats -> model -> report) beside a chain (noise -> blob ->
# report). raw, noise, clean, feats and blob are 1.6 to 5 MB each (arrays as .npy, bytes as
# pickles), so kills also land while objects are written.
PIPE = """
import time

import numpy as np

from distill import step

PAUSES = {pauses}


def _started(name: str, seed: int) -> None:
    with open("started.log", "a") as log:
        log.write(f"{name} {seed}\\n")


@step
def raw(seed: int = 0) -> np.ndarray:
    _started("raw", seed)
    time.sleep(PAUSES["raw"])
    return np.random.default_rng(seed).standard_normal(400_000)


@step
def noise(seed: int = 0) -> bytes:
    _started("noise", seed)
    time.sleep(PAUSES["noise"])
    return np.random.default_rng(seed + 1).bytes(3_000_000)


@step
def clean(raw: np.ndarray, seed: int = 0) -> np.ndarray:
    _started("clean", seed)
    time.sleep(PAUSES["clean"])
    return np.abs(raw) + seed


@step
def feats(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    _started("feats", seed)
    time.sleep(PAUSES["feats"])
    return (clean.reshape(-1, 100) * (seed + 2)).astype(np.float32)


@step
def stats(clean: np.ndarray, seed: int = 0) -> dict:
    _started("stats", seed)
    time.sleep(PAUSES["stats"])
    return {"seed": seed, "mean": float(clean.mean()), "max": float(clean.max())}


@step
def blob(noise: bytes, feats: np.ndarray, seed: int = 0) -> bytes:
    _started("blob", seed)
    time.sleep(PAUSES["blob"])
    return noise + feats.tobytes()


@step
def model(feats: np.ndarray, stats: dict, seed: int = 0) -> list:
    _started("model", seed)
    time.sleep(PAUSES["model"])
    return [round(float(x), 6) for x in feats.sum(axis=1)] + [stats["mean"], seed]


@step
def report(model: list, blob: bytes, stats: dict, seed: int = 0) -> dict:
    _started("report", seed)
    time.sleep(PAUSES["report"])
    return {"seed": seed, "n": len(model), "blob": len(blob), "top": max(model), "mean": stats["mean"]}
""".replace("{pauses}", repr(PAUSES))

# What a store may hold when no run is going on (the memo file by its current and former name).
STORE_ENTRIES = {"objects", "locks", "index.db", "index.db-wal", "index.db-shm", "memo.json", "state.pickle"}


def _start_run(root: Path, seed: int, stderr: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    with open(stderr, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "distill", "run", "-C", str(root), "--set", f"seed={seed}"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )


def _log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def _started_since(log: Path, offset: int, seed: int) -> list[str]:
    """The steps that started with ``seed`` after the first ``offset`` bytes of the log."""
    if not log.exists():
        return []
    with open(log, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode().splitlines()
    return [name for name, _, value in (line.partition(" ") for line in lines) if value == str(seed)]


def _wait_started(proc: subprocess.Popen[bytes], log: Path, offset: int, seed: int, step: str) -> None:
    """Poll the log until ``step`` started, or the run ended by itself."""
    deadline = time.monotonic() + 60
    while step not in _started_since(log, offset, seed) and proc.poll() is None:
        assert time.monotonic() < deadline, f"step {step} never started with seed={seed}"
        time.sleep(0.002)


def _wait_writing(proc: subprocess.Popen[bytes], tmp: Path) -> None:
    """Poll the store's temp folder until an object is being written, or the run ended."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and not (tmp.is_dir() and any(tmp.iterdir())):
        assert time.monotonic() < deadline, "no object was written"
        time.sleep(0.0005)


def _verify_objects(objects: Path, verified: dict[Path, tuple[int, int, int]]) -> None:
    """Hash every object and compare with its name. ``verified`` holds the stats of the
    objects already checked: only new or changed files are hashed again."""
    for folder in objects.iterdir():
        if folder.name == "tmp":
            continue
        assert folder.is_dir() and len(folder.name) == 2, f"unexpected {folder} in the store"
        for path in folder.iterdir():
            name = folder.name + path.name
            assert len(name) in (64, 40) and all(c in "0123456789abcdef" for c in name), f"unexpected {path}"
            st = path.stat()
            stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
            if verified.get(path) == stamp:
                continue
            hasher = hashlib.sha256() if len(name) == 64 else hashlib.blake2b(digest_size=20)
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    hasher.update(chunk)
            assert hasher.hexdigest() == name, f"object {path} holds other bytes than its name says"
            verified[path] = stamp


def _query(store: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows of the index, opened read-only (a reader never changes what a run left)."""
    db = sqlite3.connect(f"file:{store / 'index.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _oracle(path: Path) -> Callable[[int], dict[str, Any]]:
    """The pipeline's values for a seed: its step functions called in order, in this process,
    without their pauses and log lines."""
    spec = importlib.util.spec_from_file_location("_store_kill_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.time = SimpleNamespace(sleep=lambda seconds: None)  # type: ignore[attr-defined]
    module._started = lambda name, seed: None  # type: ignore[attr-defined]

    def values(seed: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in STEPS:
            code = getattr(module, name).__code__
            args = {p: seed if p == "seed" else out[p] for p in code.co_varnames[: code.co_argcount]}
            out[name] = getattr(module, name)(**args)
        return out

    return values


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, np.ndarray):
        return (
            isinstance(actual, np.ndarray)
            and actual.dtype == expected.dtype
            and actual.shape == expected.shape
            and np.array_equal(actual, expected)
        )
    return type(actual) is type(expected) and actual == expected


def _stored_hashes(store: Path) -> dict[str, str]:
    """Each step's output hash in its latest index entry."""
    rows = _query(store, "SELECT c.step, c.outputs FROM latest l JOIN cache c ON c.key = l.key")
    return {step: json.loads(outputs)[step]["hash"] for step, outputs in rows}


def test_a_killed_run_leaves_a_store_the_next_run_trusts(make_project, tmp_path: Path) -> None:
    rng = random.Random(RANDOM_SEED)

    # Clean runs in a folder of their own: what a run stores, and how long it takes.
    ref = tmp_path / "ref"
    write(ref / "pyproject.toml", '[tool.distill]\npipeline = "pipe"\n')
    write(ref / "pipe.py", PIPE)
    assert ran_steps(cli(ref, "run", "--set", "seed=1000", check=0)) == set(STEPS)
    # Timed on a store that has run once, as every killed run but the first is.
    began = time.perf_counter()
    assert ran_steps(cli(ref, "run", check=0)) == set(STEPS)
    duration = time.perf_counter() - began
    oracle = _oracle(ref / "pipe.py")
    expected = oracle(0)
    for name in STEPS:  # the functions called here give what a clean run stores
        assert _same(distill.load(name, project=ref), expected[name]), name
    assert _stored_hashes(ref / ".distill") == {n: hashlib.sha256(serialize(v).data).hexdigest() for n, v in expected.items()}

    root = make_project({"pipe.py": PIPE})
    store = root / ".distill"
    log = root / "started.log"
    verified: dict[Path, tuple[int, int, int]] = {}
    known_runs: set[str] = set()
    finished_counts: list[int] = []
    killed_count = killed_writing = 0
    # (kill, seed, output): the last output each next run reused from the killed run, loaded
    # once all runs are over.
    # NB: loading in this process between the runs would cost each run about half a second:
    #     the installed-packages memo is kept for one `sys.path`, and this one differs.
    reused: list[tuple[str, int, str]] = []

    for i in range(KILLS):
        seed = i + 1  # a new value each time: every step's key changes, every step runs
        offset = _log_size(log)
        errors = tmp_path / f"killed-{i}.stderr"
        if i % 6 == 2:
            # Near the end of a chosen step's pause: it computes, or its outputs are written.
            step = rng.choice(STEPS)
            delay = max(0.0, PAUSES[step] + rng.uniform(-0.02, 0.03))
            moment = f"{delay:.3f} s after {step} started"
            proc = _start_run(root, seed, errors)
            _wait_started(proc, log, offset, seed, step)
        elif i % 6 == 5:
            # While the output of a chosen step (a large one) is being written.
            step = rng.choice(LARGE)
            delay = 0.0
            moment = f"as soon as {step}'s output was being written"
            proc = _start_run(root, seed, errors)
            _wait_started(proc, log, offset, seed, step)
            _wait_writing(proc, store / "objects" / "tmp")
        else:
            delay = rng.uniform(0, duration)
            moment = f"{delay:.3f} s after the start"
            proc = _start_run(root, seed, errors)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        where = f"kill {i} (seed={seed}, {moment})"
        assert code in (0, -signal.SIGKILL), f"{where}: the run exited {code} by itself\n{errors.read_text()}"
        killed_count += code == -signal.SIGKILL
        killed_writing += any((store / "objects" / "tmp").glob("*"))
        started = _started_since(log, offset, seed)

        # 1. Every object matches its name; 2. the index is sound.
        if (store / "objects").exists():
            _verify_objects(store / "objects", verified)
        finished: set[str] = set()
        killed: tuple[str, str] | None = None  # the killed run's id and status, once recorded
        if (store / "index.db").exists():
            assert _query(store, "PRAGMA integrity_check") == [("ok",)], where
            # A run killed between creating the file and its tables leaves an index with no
            # tables yet: sound, and recording no run.
            tables = {name for (name,) in _query(store, "SELECT name FROM sqlite_master WHERE type = 'table'")}
            rows = _query(store, "SELECT run_id, status FROM runs") if "runs" in tables else []
            runs = [(r, s) for r, s in rows if r not in known_runs]
            assert len(runs) <= 1, f"{where}: {runs}"
            for run_id, status in runs:
                killed = (run_id, status)
                known_runs.add(run_id)
                finished |= {s for (s,) in _query(store, "SELECT step FROM cache WHERE run_id = ?", run_id)}
                done = "SELECT step FROM step_runs WHERE run_id = ? AND status IN ('ran', 'cached')"
                finished |= {s for (s,) in _query(store, done, run_id)}
        assert finished <= set(started), f"{where}: indexed steps that never started: {finished - set(started)}"
        finished_counts.append(len(finished))

        # 3. The next run completes and runs exactly the steps the killed one did not index.
        offset = _log_size(log)
        after = cli(root, "run", "--set", f"seed={seed}", check=0)
        rerun = _started_since(log, offset, seed)
        assert sorted(rerun) == sorted(set(STEPS) - finished), (
            f"{where}: the killed run had indexed {sorted(finished)}, the next run ran {rerun}\n{after.stderr}"
        )
        assert ran_steps(after) == set(rerun), f"{where}: {after.stderr}"
        _verify_objects(store / "objects", verified)
        assert _query(store, "PRAGMA integrity_check") == [("ok",)], where

        # 4. Every output holds the bytes of a clean run's value (what was reused is loaded
        #    at the end).
        expected = oracle(seed)
        hashes = {n: hashlib.sha256(serialize(v).data).hexdigest() for n, v in expected.items()}
        assert _stored_hashes(store) == hashes, f"{where}: outputs differ from a clean run's"
        if finished:
            reused.append((where, seed, max(finished, key=STEPS.index)))

        # 5. Nothing temporary is left; the killed run reads as interrupted, none as running.
        tmp = store / "objects" / "tmp"
        left = sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []
        assert left == [], f"{where}: temp files left in {tmp}: {left}"
        assert sorted({p.name for p in store.iterdir()} - STORE_ENTRIES) == [], f"{where}: {sorted(store.iterdir())}"
        assert [p.name for p in (store / "locks").iterdir()] == ["keys"], where
        statuses = dict(_query(store, "SELECT run_id, status FROM runs"))
        running = sorted(r for r, s in statuses.items() if s == "running")
        assert running == [], f"{where}: runs still recorded as running: {running}"
        new = set(statuses) - known_runs
        assert [statuses[r] for r in new] == ["succeeded"], f"{where}: the next run recorded {statuses}"
        known_runs |= new
        if killed is not None:
            # Killed while running, it reads as interrupted; killed after it ended, as it ended.
            run_id, status = killed
            assert statuses[run_id] == ("interrupted" if status == "running" else status), (
                f"{where}: the killed run, {status} when killed, is recorded as {statuses[run_id]}"
            )

    # Through the public loader, outputs reused from killed runs are the clean values still.
    for where, seed, name in reused:
        value = distill.load(name, project=root, params={"seed": str(seed)})
        assert _same(value, oracle(seed)[name]), f"{where}: output {name} differs from a clean run's"

    # The kills hit the runs all along, not only before they started or after they ended.
    assert killed_count >= KILLS * 2 // 3, f"only {killed_count} of {KILLS} runs were still going when killed"
    partial = [n for n in finished_counts if 0 < n < len(STEPS)]
    assert 0 in finished_counts and partial, f"steps indexed when each kill came: {finished_counts}"
    assert killed_writing >= 1, "no kill landed while an object was being written"


def test_a_store_first_write_removes_what_killed_writers_left_and_nothing_else(tmp_path: Path) -> None:
    tmp = tmp_path / "objects" / "tmp"
    tmp.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process of this host that no longer runs
    here, elsewhere = store_module._HOST_TAG, "0000ffff"
    day_ago = time.time() - 25 * 3600
    names = {
        f"w.{here}.{gone.pid}.0.abcd": "removed",  # a writer killed mid-write
        f"p.{here}.{gone.pid}.1.{'0' * 64}": "removed",
        f"w.{here}.{os.getpid()}.7.efgh": "kept",  # a writer still running (this process)
        f"w.{elsewhere}.{gone.pid}.0.abcd": "kept",  # another host's: its pid means nothing here
        f"w.{elsewhere}.{gone.pid}.1.abcd": "removed, untouched for a day",
        f"{'0' * 64}.{gone.pid}.0": "kept",  # named by an earlier version, recent
        f"{'1' * 64}.{gone.pid}.0": "removed, untouched for a day",
    }
    for name, fate in names.items():
        (tmp / name).write_bytes(b"half an object")
        if "day" in fate:
            os.utime(tmp / name, (day_ago, day_ago))

    ObjectStore(tmp_path).put(b"a value")

    assert sorted(p.name for p in tmp.iterdir()) == sorted(n for n, fate in names.items() if fate == "kept")
