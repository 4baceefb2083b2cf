"""The memo file: signed JSON that can only rebuild values, and that never fails a command.

The memo (``<store>/memo.json``) is read by every command, so reading it must never run code
(it was a pickle once), a forged entry must never be used, and whatever is wrong with the
file (junk, truncation, another key, another shape, a folder or a device in its place) only
means the tables are rebuilt. Saving must never fail a command either.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import pickle
import secrets
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import distill
from conftest import cli, status_json, write
from distill import memo, memo_codec
from distill._version import __version__
from distill.analysis.source import ModuleInfo, ParamDecl, StepDecl, analyze_module
from distill.cache.fingerprint import CLOSURES, DATA_TABLE, CodeIndex, hash_data
from distill.memo import FILE_NAME, FORMAT, MAGIC, OLD_FILE_NAME, State, load_state
from distill.pipeline.params_text import FILES, load_params_text
from distill.pipeline.project import find_project
from distill.pipeline.sources import TABLE as MODULES
from distill.pipeline.sources import Sources

LIB = """
import os
from pathlib import Path

import yaml

SETTINGS = Path("conf") / "settings.yaml"
BANNER = open("banner.txt").read()


def offset() -> int:
    return int(os.environ.get("LIB_OFFSET", "0"))


def settings() -> dict:
    return yaml.safe_load(SETTINGS.read_text())
"""

PIPE = """
from pathlib import Path

from distill import step
from lib import offset, settings


@step(reads=["extra.txt"], env=["MODE"], retries=1, metrics=["source"])
def source(
    k: int = 5,
    m: int = 3,
    scale: float = -0.5,
    name: str = "a",
    shape: list = [1, 2.5],
    opts: dict = {"a": [1]},
    data: Path = Path("data/in.csv"),
    flag: bool = False,
    nothing: str | None = None,
) -> int:
    return k + m + offset() + len(settings()) + len(data.read_text())


@step
def report(source: int) -> dict:
    import json
    return {"v": source, "text": json.dumps(source)}
"""

FILES_OF_PROJECT = {
    "pipe.py": PIPE,
    "lib.py": LIB,
    "params.yaml": "k: 7\nname: b\n",
    "data/in.csv": "a,b\n",
    "conf/settings.yaml": "x: 1\n",
    "banner.txt": "hi\n",
    "extra.txt": "e\n",
}

# A project with problems: a bad step option (a Problem in the module record) and a key given
# twice in params.yaml (a Repeat in the params file record). Its memo is saved all the same.
BROKEN_PIPE = """
from distill import step

@step(retries=-1)
def a(k: int = 1) -> int:
    return k
"""


@pytest.fixture
def project(make_project: Any) -> Path:
    root: Path = make_project(FILES_OF_PROJECT)
    cli(root, "run", check=0)
    return root


def memo_file(root: Path) -> Path:
    return root / ".distill" / FILE_NAME


def all_fresh(root: Path) -> None:
    proc = cli(root, "status", "--json", check=0)
    assert {item["step"]: item["state"] for item in json.loads(proc.stdout)} == {
        "source": "fresh",
        "report": "fresh",
    }, proc.stdout
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr


def same(a: Any, b: Any, *, ordered: bool = True) -> bool:
    """Equal, and of exactly the same types all the way down (a tuple is not a list); dict keys
    in the same order too unless not ``ordered`` (another process may fill a dict from a set,
    whose order depends on its string hashes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y, ordered=ordered) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return (
            len(a) == len(b)
            and (not ordered or all(same(x, y) for x, y in zip(a, b, strict=True)))
            and all(k in b and same(a[k], b[k], ordered=ordered) for k in a)
        )
    if isinstance(a, (set, frozenset)):
        return a == b and all(any(same(x, y) for y in b) for x in a)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name), ordered=ordered) for f in dataclasses.fields(a))
    return bool(a == b)


def types_in(value: Any, found: set[str] | None = None) -> set[str]:
    """The names of every record type inside ``value``."""
    found = set() if found is None else found
    if dataclasses.is_dataclass(value):
        found.add(type(value).__name__)
        for f in dataclasses.fields(value):
            types_in(getattr(value, f.name), found)
    elif isinstance(value, dict):
        for k, v in value.items():
            types_in(k, found)
            types_in(v, found)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for item in value:
            types_in(item, found)
    return found


def signed(payload: bytes) -> bytes:
    """``payload`` as a memo file signed with this test session's store key."""
    from distill.cache.trust import signer

    mac = signer().sign(MAGIC, str(FORMAT), __version__, payload)
    return b" ".join((MAGIC, str(FORMAT).encode(), __version__.encode(), mac.encode())) + b"\n" + payload


def payload_of(path: Path) -> tuple[bytes, bytes]:
    head, _, payload = path.read_bytes().partition(b"\n")
    return head, payload


# -- round trips ------------------------------------------------------------------------------


def test_every_memoised_record_round_trips_as_a_fresh_analysis_gives_it(project: Path) -> None:
    cli(project, "status", check=0)
    tables = load_state(project / ".distill").tables
    assert {MODULES, CLOSURES, FILES, DATA_TABLE, "param-checks", "environment", "env"} <= set(tables)

    fresh_state = State(project / "elsewhere" / FILE_NAME)
    found = find_project(project)
    sources = Sources(found, fresh_state)
    steps: list[StepDecl] = []
    for (path, name), (stat, recorded, info) in tables[MODULES].items():
        assert isinstance(stat, tuple) and isinstance(recorded, int)
        assert isinstance(info, ModuleInfo)
        text = Path(path).read_text()
        assert same(info, analyze_module(text, name, found.relative(path), is_package=False)), name
        steps.extend(info.steps)
    assert sorted(s.name for s in steps) == ["report", "source"]
    source = next(s for s in steps if s.name == "source")
    assert same(source.params[4], ParamDecl("shape", "list", "literal", [1, 2.5], "[1, 2.5]"))
    assert (source.retries, source.reads, source.env, source.metrics) == (1, ("extra.txt",), ("MODE",), ("source",))

    code_index = CodeIndex(sources)
    consulted, closures = tables[CLOSURES]["memo"]
    for decl in steps:
        assert same(closures[decl.qualname], code_index.closure_digest(decl), ordered=False), decl.qualname
    assert same(consulted, code_index.consulted, ordered=False)

    [(_, _, loaded)] = tables[FILES].values()
    assert same(loaded, load_params_text((project / "params.yaml").read_text()))
    for path, (_, _, digest) in tables[DATA_TABLE].items():
        assert digest == hash_data(path, fresh_state)

    seen = types_in(tables)
    assert seen >= {"ModuleInfo", "Definition", "ImportRef", "ParamDecl", "StepDecl", "ReadRef", "Read", "Closure", "ParamsText"}, seen


def test_records_of_a_broken_project_round_trip(make_project: Any) -> None:
    root = make_project({"pipe.py": BROKEN_PIPE, "params.yaml": "k: 1\nk: 2\n"})
    proc = cli(root, "status")
    assert proc.returncode == 2, proc.stderr
    tables = load_state(root / ".distill").tables
    [(_, _, info)] = tables[MODULES].values()
    assert info.problems and same(info, analyze_module(BROKEN_PIPE.lstrip("\n"), "pipe", "pipe.py"))
    [(_, _, loaded)] = tables[FILES].values()
    assert loaded.repeats and same(loaded, load_params_text("k: 1\nk: 2\n"))
    assert {"Problem", "Repeat"} <= types_in(tables)


def test_tables_written_by_a_process_load_back_exactly(project: Path) -> None:
    # Every table of a real run (timestamps, sys.path stats, the environment) as this process
    # holds it in memory, against what the file it wrote gives back.
    memo_file(project).unlink()
    memo._SHARED.clear()
    distill.run(project=project)
    [live] = [t for key, t in memo._SHARED.items() if Path(key) == project.resolve()]
    loaded = load_state(project / ".distill").tables
    assert set(live) == {MODULES, CLOSURES, FILES, DATA_TABLE, "param-checks", "environment", "env"}
    assert same(live, loaded)
    covered = {name for _, name in memo_codec.RECORDS} - {"Problem", "Repeat"}  # the test above
    assert types_in(loaded) >= covered


def test_values_keep_their_exact_types() -> None:
    value = (
        1.5, -0.0, float("inf"), float("nan"), True, 1, None, 2**80, b"\x00\xff", 1 + 2j, ...,
        [1, (2,)], {3, (4, 5)}, frozenset({"q"}), frozenset(), set(), (), [], {},
        {1: "a", "b": {}, (1, "x"): [()], None: 0, False: 1.0, frozenset({1}): b""},
        "\udcff é", "",
    )
    decl = StepDecl("s", "m", "m.py", 3, (ParamDecl("p", None, "literal", value, "x"),), ("s",), False, cache=False)
    table = {("path", "name"): (decl, value), 7: {"k": [decl]}}
    back = memo_codec.loads(memo_codec.dumps({"t": table, "empty": {}}))
    assert same(back, {"t": table, "empty": {}})
    assert back["t"][("path", "name")][0].cache is False  # a field after defaults-at-default


def test_a_table_holding_a_type_outside_the_allowlist_is_left_out_alone() -> None:
    class Text(str):
        pass

    back = memo_codec.loads(
        memo_codec.dumps({"a": {"x": (1, object())}, "b": {"y": 1}, "c": {Text("z"): 1}, "d": {1: 10**5000}})
    )
    assert back == {"b": {"y": 1}}


# -- planted and damaged files ----------------------------------------------------------------


class _Plant:
    """Unpickling it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_planted_pickle_is_never_unpickled(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    store = project / ".distill"
    def planted(marker: Path) -> bytes:
        return pickle.dumps(((FORMAT, __version__), {"modules": _Plant(marker)}))

    payload = planted(marker)
    # The control: unpickling such a payload creates its marker.
    control = tmp_path / "control"
    pickle.loads(planted(control))
    assert control.exists()

    (store / OLD_FILE_NAME).write_bytes(payload)
    memo_file(project).write_bytes(payload)
    all_fresh(project)
    assert not marker.exists()

    head = b" ".join((MAGIC, str(FORMAT).encode(), __version__.encode(), b"0" * 64))
    memo_file(project).write_bytes(head + b"\n" + payload)
    all_fresh(project)
    assert not marker.exists()
    # The memo was rebuilt by the status, and the saving removed the old pickle.
    assert load_state(store).tables[MODULES]
    assert not (store / OLD_FILE_NAME).exists()


def _junk(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes().partition(b"\n")[0])


def _other_version(path: Path) -> None:
    _, payload = payload_of(path)
    data = signed(payload).replace(__version__.encode(), b"0.0.0-other", 1)
    path.write_bytes(data)


def _unsigned_json(path: Path) -> None:
    path.write_text('{"d": [["modules"], [{"d": [[], []]}]]}')


def _signed_wrong_shape(path: Path) -> None:
    path.write_bytes(signed(b"[1, 2, 3]"))


def _signed_wrong_table(path: Path) -> None:
    path.write_bytes(signed(b'{"d": [["modules"], [[1, 2]]]}'))


def _signed_unknown_tag(path: Path) -> None:
    # Well signed, but naming something outside the allowlist: never looked up, never called.
    path.write_bytes(signed(b'{"d": [["modules"], [{"os.system": ["touch pwned"]}]]}'))


def _signed_bad_record(path: Path) -> None:
    path.write_bytes(signed(b'{"d": [["modules"], [{"Definition": "not fields"}]]}'))


def _deep(path: Path) -> None:
    path.write_bytes(signed(b'{"t":[' * 100_000 + b"1" + b"]}" * 100_000))


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "x").write_text("x")


def _dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


DAMAGE = [
    _junk, _truncated, _header_only, _other_version, _unsigned_json, _signed_wrong_shape,
    _signed_wrong_table, _signed_unknown_tag, _signed_bad_record, _deep, _folder, _empty,
]
if sys.platform != "win32":
    DAMAGE += [_dev_zero, _fifo]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__.strip("_") for d in DAMAGE])
def test_a_damaged_memo_is_silently_rebuilt(project: Path, damage: Any) -> None:
    path = memo_file(project)
    damage(path)
    # In a thread: a FIFO opened for reading the ordinary way would block the open forever.
    found: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: found.append(load_state(project / ".distill").tables), daemon=True)
    reader.start()
    reader.join(30)
    assert found == [{}]
    all_fresh(project)
    if path.is_file():  # rebuilt in place
        assert load_state(project / ".distill").tables[MODULES]


def test_a_memo_signed_with_another_key_is_not_used(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = project / ".distill"
    state = load_state(store)
    _forge_default(state)
    monkeypatch.setenv("DISTILL_STORE_KEY", secrets.token_hex(32))
    state.save()
    assert load_state(store).tables  # readable with that key...
    monkeypatch.delenv("DISTILL_STORE_KEY")
    assert load_state(store).tables == {}  # ...and not with this one
    all_fresh(project)
    [(_, _, info)] = [e for (_, name), e in load_state(store).tables[MODULES].items() if name == "pipe"]
    assert info.steps[0].params[1].default == 3


def _forge_default(state: State) -> None:
    """Claim in the memo that ``m`` defaults to 99 in the unchanged ``pipe.py``."""
    for (path, name), (stat, recorded, info) in list(state.tables[MODULES].items()):
        if name == "pipe":
            source = info.steps[0]
            params = tuple(
                dataclasses.replace(p, default=99, default_source="99") if p.name == "m" else p
                for p in source.params
            )
            steps = (dataclasses.replace(source, params=params), *info.steps[1:])
            state.put(MODULES, (path, name), (stat, recorded, dataclasses.replace(info, steps=steps)))


FORGERIES = {
    # A default in the module record, and a value in the params file record.
    "default": (b'{"ParamDecl":["m","int","literal",3,"3"]}', b'{"ParamDecl":["m","int","literal",99,"99"]}', "m"),
    "params-file": (b'{"d":[["k","name"],[7,"b"]]}', b'{"d":[["k","name"],[8,"b"]]}', "k"),
}


@pytest.mark.parametrize("resign", [False, True], ids=["edited", "control-resigned"])
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_an_edited_memo_entry_is_not_used(project: Path, forgery: str, resign: bool) -> None:
    true, forged, param = FORGERIES[forgery]
    path = memo_file(project)
    cli(project, "status", check=0)  # the memo, with every table filled
    head, payload = payload_of(path)
    assert payload.count(true) == 1, payload[:2000]
    edited = payload.replace(true, forged)
    path.write_bytes(signed(edited) if resign else head + b"\n" + edited)

    states = status_json(project)
    if resign:
        # The control: a forgery signed with the key would be believed, which is what the MAC
        # is for (the file it came from did not change).
        assert states["source"]["state"] == "stale"
        assert any(param in reason for reason in states["source"]["reasons"]), states
    else:
        assert {s: item["state"] for s, item in states.items()} == {"source": "fresh", "report": "fresh"}
        assert forged not in payload_of(path)[1]


# -- saving -----------------------------------------------------------------------------------

TABLES = {"t": {(1, "a"): frozenset({"x"})}}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".memo-"))


def test_save_into_a_missing_folder_makes_it(tmp_path: Path) -> None:
    store = tmp_path / "a" / "b"
    State(store / FILE_NAME, dict(TABLES), dirty=True).save()
    assert load_state(store).tables == TABLES


def test_save_where_the_store_is_a_file_does_not_raise(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.write_text("not a folder")
    state = State(store / FILE_NAME, dict(TABLES), dirty=True)
    state.save()
    assert store.read_text() == "not a folder"
    assert state.dirty  # not written: a later save may try again
    assert load_state(store).tables == {}


def test_save_where_the_memo_is_a_folder_leaves_no_temp_file(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / FILE_NAME).mkdir(parents=True)
    State(store / FILE_NAME, dict(TABLES), dirty=True).save()
    assert (store / FILE_NAME).is_dir()
    assert _leftovers(store) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_save_on_a_read_only_or_full_store_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # Permission bits do not stop root: the failing calls are simulated.
    store = tmp_path / "store"
    store.mkdir()

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(memo.os, "replace", fail)
    State(store / FILE_NAME, dict(TABLES), dirty=True).save()
    assert _leftovers(store) == []
    assert not (store / FILE_NAME).exists()
    monkeypatch.undo()

    monkeypatch.setattr(memo.tempfile, "mkstemp", fail)
    State(store / FILE_NAME, dict(TABLES), dirty=True).save()
    assert list(store.iterdir()) == []


def test_save_removes_the_old_pickle_and_writes_a_signed_json_file(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write(store / OLD_FILE_NAME, "old")
    State(store / FILE_NAME, dict(TABLES), dirty=True).save()
    assert not (store / OLD_FILE_NAME).exists()
    head, payload = payload_of(store / FILE_NAME)
    assert head.split(b" ")[:3] == [MAGIC, str(FORMAT).encode(), __version__.encode()]
    assert json.loads(payload) == {"d": [["t"], [{"d": [[{"t": [1, "a"]}], [{"f": ["x"]}]]}]]}
