"""The store as a trust boundary: every kind of damage or tampering ends in one clear error or
a silent rebuild, never a traceback, a wrong value or planted code run; `distill doctor` repairs.

Each scenario damages a store that a real run made, then checks the commands a user would type
next: what they print, their exit codes, the value `distill.load` gives, and that the next run
(or `distill doctor`) brings the store back.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import cli, ran_steps

PIPE = """
from distill import step


@step
def a() -> dict:
    return {"values": list(range(50))}


@step
def b(a: dict) -> set:
    return set(a["values"])


@step
def c(b: set) -> int:
    return sum(b)
"""
EXPECTED_C = sum(range(50))


def _objects(root: Path) -> dict[str, Path]:
    out = {}
    for path in (root / ".distill" / "objects").glob("??/*"):
        out[path.parent.name + path.name] = path
    return out


def _rows(root: Path) -> dict[str, tuple[str, str, str]]:
    """step → (key, outputs JSON, objects) of its latest cache row."""
    with sqlite3.connect(root / ".distill" / "index.db") as db:
        rows = db.execute(
            "SELECT c.step, c.key, c.outputs, c.objects FROM latest l JOIN cache c ON c.key = l.key"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _object_of(root: Path, step: str) -> Path:
    objects = _rows(root)[step][2]
    digest = objects.split("\n")[0].split("\t")[1]
    return root / ".distill" / "objects" / digest[:2] / digest[2:]


def _load(root: Path, name: str, *prefix: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import json, sys, distill\n"
        "try:\n"
        f"    value = distill.load({name!r}, project={str(root)!r})\n"
        "except distill.DistillError as exc:\n"
        "    print(type(exc).__name__, exc, file=sys.stderr); sys.exit(3)\n"
        "print(json.dumps(sorted(value) if isinstance(value, set) else value))\n"
    )
    return subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    root = make_project({"pipe.py": PIPE})
    cli(root, "run", check=0)
    return root


def _recovers(root: Path) -> None:
    """The next run succeeds and every output has its true value."""
    proc = cli(root, "run")
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    loaded = _load(root, "c")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == EXPECTED_C
    assert json.loads(_load(root, "b").stdout) == list(range(50))


# -- objects -------------------------------------------------------------------------------------


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-3])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_flip, _truncate, _empty], ids=["flipped", "truncated", "emptied"])
def test_a_damaged_object_is_never_loaded_and_the_next_run_replaces_it(project: Path, damage) -> None:
    target = _object_of(project, "b")
    damage(target)

    loaded = _load(project, "b")
    _no_traceback(loaded)
    # Either the damage is seen before loading (stale) or while reading (corrupted): never a value.
    assert loaded.returncode == 3, loaded.stdout
    assert "StoreError" in loaded.stderr or "StaleError" in loaded.stderr

    _recovers(project)
    name = target.parent.name + target.name
    assert hashlib.sha256(target.read_bytes()).hexdigest() == name


def test_two_swapped_objects_are_both_detected(project: Path) -> None:
    first, second = _object_of(project, "a"), _object_of(project, "b")
    one, two = first.read_bytes(), second.read_bytes()
    first.write_bytes(two)
    second.write_bytes(one)

    for name in ("a", "b"):
        loaded = _load(project, name)
        _no_traceback(loaded)
        assert loaded.returncode == 3
    _recovers(project)


def test_doctor_finds_and_removes_a_same_size_corruption(project: Path) -> None:
    target = _object_of(project, "c")
    _flip(target)

    checked = cli(project, "doctor", "--check", "--json")
    assert checked.returncode == 1
    report = json.loads(checked.stdout)
    assert [f["kind"] for f in report["findings"] if f["problem"]] == ["corrupt-object"]
    assert target.exists()  # --check repairs nothing

    repaired = cli(project, "doctor")
    assert repaired.returncode == 0, repaired.stdout
    assert "repaired" in repaired.stdout
    assert not target.exists()
    assert cli(project, "doctor", "--check").returncode == 0
    _recovers(project)


# -- planted code ------------------------------------------------------------------------------


class _Plant:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_object_with_a_forged_row_is_never_unpickled(project: Path) -> None:
    marker = project / "PLANTED-RAN"
    payload = pickle.dumps(_Plant(str(marker)))
    digest = hashlib.sha256(payload).hexdigest()
    path = project / ".distill" / "objects" / digest[:2] / digest[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    # Point step b's latest row at the planted object, the way someone with write access
    # to the index but not the key would: the row's MAC is left as it was.
    key, outputs, objects = _rows(project)["b"]
    meta = json.loads(outputs)
    old = meta["b"]["hash"]
    meta["b"]["hash"] = digest
    meta["b"]["kind"] = "pickle"
    meta["b"]["summary"]["bytes"] = len(payload)
    with sqlite3.connect(project / ".distill" / "index.db") as db:
        db.execute(
            "UPDATE cache SET outputs = ?, objects = ? WHERE key = ?",
            (json.dumps(meta, sort_keys=True), objects.replace(old, digest).rsplit("\t", 1)[0] + f"\t{len(payload)}", key),
        )
    db.close()

    for command in (("status",), ("show", "b"), ("status", "--json")):
        proc = cli(project, *command)
        _no_traceback(proc)
        assert proc.returncode == 0
    assert "failed verification with the store key" in cli(project, "status").stdout
    loaded = _load(project, "b")
    assert loaded.returncode == 3 and "StaleError" in loaded.stderr
    assert not marker.exists()

    proc = cli(project, "run")
    assert proc.returncode == 0
    assert "1 cache entry failed verification with the store key" in proc.stderr
    assert ran_steps(proc) == {"b"}
    assert not marker.exists()
    _recovers(project)
    assert not marker.exists()


def test_a_forged_row_pointing_at_another_genuine_object_is_a_miss(project: Path) -> None:
    # c's row is made to point at a's object (genuine, hash-valid), without the key.
    key_c, outputs_c, objects_c = _rows(project)["c"]
    _, outputs_a, objects_a = _rows(project)["a"]
    digest_a = objects_a.split("\t")[1]
    meta = json.loads(outputs_c)
    meta["c"]["hash"] = digest_a
    meta["c"]["kind"] = json.loads(outputs_a)["a"]["kind"]
    with sqlite3.connect(project / ".distill" / "index.db") as db:
        db.execute(
            "UPDATE cache SET outputs = ?, objects = ? WHERE key = ?",
            (json.dumps(meta, sort_keys=True), "c\t" + objects_a.split("\t", 1)[1], key_c),
        )
    db.close()

    loaded = _load(project, "c")
    assert loaded.returncode == 3  # stale: the row does not verify, so nothing is loaded
    proc = cli(project, "run")
    assert ran_steps(proc) == {"c"}
    _recovers(project)


def test_rows_written_under_another_store_key_are_misses(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("DISTILL_STORE_KEY", "ab" * 32)
    status = cli(project, "status", "--json")
    states = {item["step"]: item for item in json.loads(status.stdout)}
    assert states["a"]["state"] == "stale"
    assert "failed verification" in states["a"]["reasons"][0]
    proc = cli(project, "run")
    assert proc.returncode == 0
    assert ran_steps(proc) == {"a", "b", "c"}
    assert "3 cache entries failed verification" in proc.stderr
    # Under the new key the store is whole again.
    assert ran_steps(cli(project, "run", check=0)) == set()


@pytest.mark.parametrize("value", ["", "zz" * 32, "ab" * 8])
def test_a_malformed_store_key_is_one_clear_error(project: Path, monkeypatch, value: str) -> None:
    monkeypatch.setenv("DISTILL_STORE_KEY", value)
    proc = cli(project, "run")
    _no_traceback(proc)
    assert proc.returncode == 2
    assert "DISTILL_STORE_KEY must be at least 32 bytes" in proc.stderr


def test_junk_rows_are_misses(project: Path) -> None:
    with sqlite3.connect(project / ".distill" / "index.db") as db:
        db.execute("UPDATE cache SET outputs = 'not json', components = x'00ff', mac = NULL WHERE step = 'a'")
        db.execute("UPDATE cache SET objects = 'garbage' WHERE step = 'c'")
    db.close()
    for command in (("status",), ("show", "a"), ("show", "c")):
        proc = cli(project, *command)
        _no_traceback(proc)
        assert proc.returncode == 0, proc.stderr
    _recovers(project)


# -- the index -----------------------------------------------------------------------------------


def _zero_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:100] = bytes(100)
    path.write_bytes(bytes(data))


def _garble_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    for i in range(page + 8, 2 * page):  # the second page, past its header
        data[i] = (i * 37) & 0xFF
    path.write_bytes(bytes(data))


def _truncate_index(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def _checkpoint(root: Path) -> Path:
    """Fold the WAL into index.db, so that damage to the file is damage to the data."""
    path = root / ".distill" / "index.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


@pytest.mark.parametrize(
    "damage", [_zero_header, _garble_page, _truncate_index], ids=["zeroed-header", "garbled-page", "truncated"]
)
def test_a_damaged_index_is_one_clear_error_and_doctor_keeps_the_history(project: Path, damage) -> None:
    for _ in range(3):
        cli(project, "run", "--force", "a", check=0)  # some history worth keeping
    with sqlite3.connect(project / ".distill" / "index.db") as db:
        runs_before = db.execute("SELECT count(*) FROM runs").fetchall()[0][0]
    db.close()
    path = _checkpoint(project)
    damage(path)

    outcomes = [cli(project, "status"), cli(project, "run"), cli(project, "show", "c")]
    for proc in outcomes:
        _no_traceback(proc)
        if proc.returncode != 0:
            assert proc.returncode == 2, proc.stderr
            assert proc.stderr.count("Error:") == 1
            assert "distill doctor" in proc.stderr
    assert any(p.returncode == 2 for p in outcomes[:2]), "damage that no command notices is no test"
    loaded = _load(project, "c")
    _no_traceback(loaded)
    assert loaded.returncode in (0, 3)
    if loaded.returncode == 0:
        assert json.loads(loaded.stdout) == EXPECTED_C

    doctor = cli(project, "doctor", "--json")
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 0, doctor.stdout
    assert report["healthy"]
    kinds = [f["kind"] for f in report["findings"]]
    assert "index-damaged" in kinds
    assert list((project / ".distill").glob("index.db.corrupt-*")), "the damaged file is kept aside"
    with sqlite3.connect(project / ".distill" / "index.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        runs_after = db.execute("SELECT count(*) FROM runs").fetchall()[0][0]
    db.close()
    if damage is _zero_header:
        assert runs_after == runs_before  # a lost header hides nothing that cannot be read back
    _recovers(project)
    assert cli(project, "doctor", "--check").returncode == 0


# -- folders ----------------------------------------------------------------------------------


def test_a_store_that_is_a_file_is_one_clear_error(make_project: Callable[..., Path]) -> None:
    root = make_project({"pipe.py": PIPE})
    (root / ".distill").write_text("not a folder")
    for command in (("run",), ("status",), ("show", "c")):
        proc = cli(root, *command)
        _no_traceback(proc)
        assert proc.returncode == 2
        assert "the store needs a folder at" in proc.stderr and "found a file" in proc.stderr
    assert (root / ".distill").read_text() == "not a folder"  # nothing of the user's is removed


def test_objects_being_a_file_is_one_clear_error(project: Path) -> None:
    objects = project / ".distill" / "objects"
    import shutil

    shutil.rmtree(objects)
    objects.write_text("junk")
    proc = cli(project, "run")
    _no_traceback(proc)
    assert proc.returncode == 2
    assert "objects, found a file there" in proc.stderr
    doctor = cli(project, "doctor", "--check")
    assert doctor.returncode == 1 and "should be a folder" in doctor.stdout


def test_distill_store_points_the_store_elsewhere(make_project: Callable[..., Path], tmp_path: Path, monkeypatch) -> None:
    root = make_project({"pipe.py": PIPE})
    elsewhere = tmp_path / "cache-elsewhere"
    monkeypatch.setenv("DISTILL_STORE", str(elsewhere))
    cli(root, "run", check=0)
    assert (elsewhere / "index.db").is_file()
    assert not (root / ".distill").exists()
    assert json.loads(_load(root, "c").stdout) == EXPECTED_C


# -- read-only checkouts -----------------------------------------------------------------------


def _unprivileged() -> list[str]:
    """A command prefix under which permission bits hold, even for root."""
    if os.geteuid() != 0:
        return []
    try:
        probe = subprocess.run(["unshare", "-U", "true"], capture_output=True, timeout=30)
    except FileNotFoundError:
        probe = None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root on a machine without user namespaces: a read-only store cannot be made")
    return ["unshare", "-U"]


def _read_only(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        os.chmod(folder, 0o555)


def _writable(root: Path) -> None:
    for folder, _, _ in os.walk(root):
        os.chmod(folder, 0o755)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _cli_as(prefix: list[str], root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, **(env or {}))
    full.pop("PYTHONPATH", None)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "distill", *args, "-C", str(root)],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_a_read_only_checkout_can_be_inspected_and_run_says_where_to_write(project: Path, tmp_path: Path) -> None:
    prefix = _unprivileged()
    _read_only(project)
    before = _snapshot(project)
    try:
        status = _cli_as(prefix, project, "status", "--json")
        _no_traceback(status)
        assert status.returncode == 0, status.stderr
        assert {item["step"]: item["state"] for item in json.loads(status.stdout)} == dict.fromkeys("abc", "fresh")
        show = _cli_as(prefix, project, "show", "c")
        assert show.returncode == 0, show.stderr
        assert str(EXPECTED_C) in show.stdout
        loaded = _load(project, "c", *prefix)
        assert loaded.returncode == 0, loaded.stderr
        assert json.loads(loaded.stdout) == EXPECTED_C

        run = _cli_as(prefix, project, "run")
        _no_traceback(run)
        assert run.returncode == 2
        errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "read-only" in errors[0], run.stderr
        assert "DISTILL_STORE" in run.stderr

        elsewhere = tmp_path / "writable-store"
        elsewhere.mkdir()
        moved = _cli_as(prefix, project, "run", env={"DISTILL_STORE": str(elsewhere)})
        assert moved.returncode == 0, moved.stderr
        assert ran_steps(moved) == {"a", "b", "c"}
        assert (elsewhere / "index.db").is_file()
        assert _snapshot(project) == before, "reading commands wrote to a read-only checkout"
    finally:
        _writable(project)


def test_a_read_only_objects_folder_stops_a_run_before_it_starts(project: Path) -> None:
    prefix = _unprivileged()
    objects = project / ".distill" / "objects"
    os.chmod(objects, 0o555)
    try:
        proc = _cli_as(prefix, project, "run", "--force", "a")
        _no_traceback(proc)
        assert proc.returncode == 2
        assert "read-only" in proc.stderr and "objects" in proc.stderr
    finally:
        os.chmod(objects, 0o755)


# -- the store key ------------------------------------------------------------------------------


def test_the_store_key_is_made_once_with_mode_0600_even_by_processes_racing(tmp_path: Path) -> None:
    config = tmp_path / "config"
    code = "from distill.cache.trust import store_key; print(store_key().hex())"
    env = dict(os.environ, XDG_CONFIG_HOME=str(config))
    env.pop("DISTILL_STORE_KEY", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) for _ in range(6)
    ]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(keys) == 1, keys
    path = config / "distill" / "store.key"
    assert path.read_text().strip() == keys.pop()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["store.key"]  # no temp file left


def test_the_environment_key_wins_over_the_file(tmp_path: Path, monkeypatch) -> None:
    from distill.cache.trust import store_key

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("DISTILL_STORE_KEY", "cd" * 32)
    assert store_key() == bytes.fromhex("cd" * 32)
    assert not (tmp_path / "distill").exists()
    monkeypatch.delenv("DISTILL_STORE_KEY")
    made = store_key()
    assert len(made) == 32 and made == store_key()


def test_a_damaged_key_file_is_one_clear_error(make_project: Callable[..., Path], tmp_path: Path) -> None:
    root = make_project({"pipe.py": PIPE})
    config = tmp_path / "damaged-config"
    (config / "distill").mkdir(parents=True)
    (config / "distill" / "store.key").write_text("not hex at all\n")
    proc = subprocess.run(
        [sys.executable, "-m", "distill", "run", "-C", str(root)],
        capture_output=True,
        text=True,
        env=dict(os.environ, XDG_CONFIG_HOME=str(config)),
        timeout=120,
    )
    _no_traceback(proc)
    assert proc.returncode == 2
    assert "store.key is not 32 or more bytes of hex" in proc.stderr


def test_doctor_removes_temp_files_of_ended_processes_only(project: Path) -> None:
    from distill.cache.store import _HOST_TAG

    tmp = project / ".distill" / "objects" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp / f"w.{_HOST_TAG}.{int(ended.stdout)}.0.partial"
    live = tmp / f"w.{_HOST_TAG}.{os.getpid()}.0.partial"
    dead.write_bytes(b"half an object")
    live.write_bytes(b"being written")

    checked = json.loads(cli(project, "doctor", "--check", "--json").stdout)
    assert [f["path"] for f in checked["findings"] if f["kind"] == "temp-file"] == [str(dead)]
    assert dead.exists()
    assert cli(project, "doctor").returncode == 0
    assert not dead.exists() and live.exists()
