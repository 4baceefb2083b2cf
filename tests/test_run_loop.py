"""The run loop: a pure plan of decisions, carried out by a runner through an executor.

- ``plan_graph`` and ``decide`` with an in-memory cache double: fresh, stale with its own
  reasons, ``recheck``, forced, damaged objects; nothing is written;
- ``KeyParts``: the key, its JSON form and ``explain``;
- the executor is a parameter: a custom one sees every task of a run;
- hooks: ``on_plan`` before anything runs, events that grow (``**extra``);
- the run records its environment (Python, platform, packages, git);
- a long-lived process that edits a step runs the edited code, never the imported one;
- results are indexed even when the run is interrupted.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import distill
from conftest import write
from distill.analysis.source import analyze_module
from distill.cache.key import KeyParts, explain
from distill.execute.executor import InProcessExecutor, Outcome, Task
from distill.execute.plan import decide, plan_graph
from distill.pipeline.graph import build_graph
from distill.runs.registry import CacheEntry

CHAIN = """
from distill import step

@step
def a() -> int:
    return 1

@step
def b(a: int, n: int = 1) -> int:
    return a + n

@step
def c(b: int) -> int:
    return b * 10
"""


@pytest.fixture(autouse=True)
def own_imports() -> Iterator[None]:
    saved = list(sys.path)
    yield
    for name in [m for m in sys.modules if m == "pipe" or m.startswith("pipe.")]:
        del sys.modules[name]
    sys.path[:] = saved


# -- planning with an in-memory cache -----------------------------------------------------------


def _graph(source: str = CHAIN) -> Any:
    info = analyze_module(source, "pipe", "pipe.py")
    graph, problems = build_graph(info.steps)
    assert problems == []
    return graph


def _parts(step: str, **params: Any) -> KeyParts:
    outputs = (step,)
    return KeyParts.build(
        step=step,
        outputs=outputs,
        code={f"pipe.{step}": ("function", f"h-{step}")},
        code_digest=f"d-{step}",
        packages={"python": "3.11"},
        params=params,
        data={},
    )


class MemoryCache:
    """The ``CacheView`` double: entries and present objects in dicts; records every question."""

    def __init__(self) -> None:
        self.by_key: dict[str, CacheEntry] = {}
        self.latest_by_step: dict[str, CacheEntry] = {}
        self.present: set[str] = set()
        self.uncached: set[str] = set()

    def add(self, parts: KeyParts, outputs: dict[str, str]) -> None:
        meta = {name: {"hash": digest, "kind": "json", "summary": {}} for name, digest in outputs.items()}
        entry = CacheEntry(parts.key, parts.step, parts.to_json(), meta, "run", 0.0, 0.0)
        self.by_key[parts.key] = entry
        self.latest_by_step[parts.step] = entry
        self.present.update(outputs.values())

    def latest(self, step: str) -> CacheEntry | None:
        return self.latest_by_step.get(step)

    def lookup(self, step: str, key: str) -> CacheEntry | None:
        return self.by_key.get(key)

    def damage(self, entry: CacheEntry) -> list[str]:
        return [f"cached output {n} is missing from the store" for n, d, _ in entry.objects() if d not in self.present]

    def ran_uncached(self, step: str) -> bool:
        return step in self.uncached

    def missing_files(self, entry: CacheEntry) -> list[str]:
        return []

    def unverified(self, step: str) -> bool:
        return False


def _cached_chain(n: int = 1) -> tuple[Any, dict[str, KeyParts], MemoryCache]:
    graph = _graph()
    cache = MemoryCache()
    static = {"a": _parts("a"), "b": _parts("b", n=n), "c": _parts("c")}
    cache.add(static["a"], {"a": "ha"})
    cache.add(static["b"].with_inputs({"a": "ha"}), {"b": "hb"})
    cache.add(static["c"].with_inputs({"b": "hb"}), {"c": "hc"})
    return graph, static, cache


def test_plan_of_a_cached_chain_is_all_fresh() -> None:
    graph, static, cache = _cached_chain()

    decisions = plan_graph(graph, static, cache)

    assert [(d.step, d.state, d.reasons) for d in decisions] == [
        ("a", "fresh", ()),
        ("b", "fresh", ()),
        ("c", "fresh", ()),
    ]
    assert decisions[1].inputs == (("a", "ha"),)


def test_a_changed_param_makes_its_step_stale_and_the_next_one_recheck() -> None:
    graph, static, cache = _cached_chain()
    static = {**static, "b": _parts("b", n=2)}

    decisions = {d.step: d for d in plan_graph(graph, static, cache)}

    assert decisions["a"].state == "fresh"
    assert (decisions["b"].state, decisions["b"].reasons) == ("stale", ("param n: 1 → 2",))
    assert decisions["c"].state == "recheck"
    assert decisions["c"].key is None
    assert decisions["c"].reasons == ("upstream step b is stale; runs only if its output changes",)


def test_a_step_waiting_on_a_stale_step_lists_its_own_reasons_first() -> None:
    graph, static, cache = _cached_chain()
    static = {**static, "a": KeyParts.build(
        step="a", outputs=("a",), code={"pipe.a": ("function", "edited")}, code_digest="e",
        packages={"python": "3.11"}, params={}, data={},
    ), "b": _parts("b", n=3)}

    decisions = {d.step: d for d in plan_graph(graph, static, cache)}

    assert decisions["a"].reasons == ("step function pipe.a changed",)
    assert decisions["b"].state == "stale"
    assert decisions["b"].reasons == ("param n: 1 → 3", "upstream step a runs first")
    assert decisions["c"].state == "recheck"
    assert decisions["c"].reasons == ("upstream step b is stale; runs only if its output changes",)


def test_decide_again_with_the_same_upstream_hash_is_fresh_early_cutoff() -> None:
    graph, static, cache = _cached_chain()

    # `b` re-ran and returned the same bytes: `c`, rechecked with that hash, is fresh.
    decision = decide("c", graph=graph, parts=static["c"], known={"b": "hb"}, waiting_on={}, cache=cache)
    assert decision.state == "fresh"

    decision = decide("c", graph=graph, parts=static["c"], known={"b": "other"}, waiting_on={}, cache=cache)
    assert (decision.state, decision.reasons) == ("stale", ("upstream output b changed",))


def test_forced_damaged_never_ran_and_not_cached() -> None:
    graph, static, cache = _cached_chain()
    cache.present.discard("hb")
    decisions = {d.step: d for d in plan_graph(graph, static, cache, force=["a"])}
    assert (decisions["a"].state, decisions["a"].reasons) == ("stale", ("forced with --force",))
    assert decisions["b"].state == "recheck"

    decisions = {d.step: d for d in plan_graph(graph, static, cache)}
    assert (decisions["b"].state, decisions["b"].reasons) == ("stale", ("cached output b is missing from the store",))

    empty = MemoryCache()
    empty.uncached.add("a")
    decisions = {d.step: d for d in plan_graph(graph, static, empty)}
    assert decisions["a"].reasons == ("its last run was not cached: an input or output could not be stored",)
    assert decisions["b"].reasons == ("never ran",)


def test_planning_writes_nothing() -> None:
    graph, static, cache = _cached_chain()
    before = (dict(cache.by_key), dict(cache.latest_by_step), set(cache.present))
    plan_graph(graph, {**static, "b": _parts("b", n=5)}, cache, force=["c"])
    assert (cache.by_key, cache.latest_by_step, cache.present) == before


# -- KeyParts ---------------------------------------------------------------------------------


def test_key_parts_json_round_trip_keeps_the_key_and_explains_nothing() -> None:
    parts = KeyParts.build(
        step="s", outputs=("x", "y"), code={"m.s": ("function", "1"), "m.K": ("constant", "2")},
        code_digest="cd", packages={"numpy": "2.0", "python": "3.11"}, params={"w": [1, 2]},
        data={"path": ("data/in.csv", "abc")}, environ={"FACTOR": "3"},
    ).with_inputs({"up": "h1"})

    back = KeyParts.from_json(json.loads(json.dumps(parts.to_json())))

    assert back.static == parts.static and back.key == parts.key
    assert explain(parts, back) == ["cache key changed (no recorded difference; the entry was made by another distill version)"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"packages": {"numpy": "2.1", "python": "3.11"}}, "package numpy 2.0 → 2.1"),
        ({"environ": {"FACTOR": "4"}}, 'environment variable FACTOR: "3" → "4"'),
        ({"environ": {}}, "environment variable FACTOR is no longer read"),
        ({"data": {"path": ("data/in.csv", "def")}}, "data file data/in.csv changed (param path)"),
        ({"outputs": ("x",)}, "outputs changed: (x, y) → (x)"),
    ],
    ids=["package", "env-var-changed", "env-var-dropped", "data", "outputs"],
)
def test_explain_names_each_part(change: dict[str, Any], reason: str) -> None:
    base = {
        "step": "s", "outputs": ("x", "y"), "code": {}, "code_digest": "", "packages": {"numpy": "2.0", "python": "3.11"},
        "params": {}, "data": {"path": ("data/in.csv", "abc")}, "environ": {"FACTOR": "3"},
    }
    old = KeyParts.build(**base)  # type: ignore[arg-type]
    new = KeyParts.build(**{**base, **change})  # type: ignore[arg-type]
    assert new.key != old.key
    assert explain(new, old) == [reason]


# -- the executor is a parameter -----------------------------------------------------------------


class Recording(InProcessExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[str] = []
        self.closed = False

    def submit(self, task: Task, on_attempt: Any) -> None:
        self.tasks.append(task.step)
        super().submit(task, on_attempt)

    def wait(self) -> list[Outcome]:
        return super().wait()

    def close(self) -> None:
        self.closed = True
        super().close()


def test_a_custom_executor_runs_every_stale_step_and_nothing_else(make_project) -> None:
    root = make_project({"pipe.py": CHAIN})
    first = Recording()
    assert distill.run(project=root, executor=first).ok
    assert first.tasks == ["a", "b", "c"] and first.closed

    second = Recording()
    result = distill.run(project=root, params={"n": 2}, executor=second)
    assert second.tasks == ["b", "c"]
    assert {s: r.status for s, r in result.steps.items()} == {"a": "cached", "b": "ran", "c": "ran"}
    assert distill.load("c", project=root, params={"n": 2}) == 30


# -- hooks ------------------------------------------------------------------------------------


def test_hooks_get_the_plan_first_and_events_with_extra_keywords(make_project) -> None:
    from distill.execute.hooks import Hook

    seen: list[tuple[str, Any]] = []

    class Recorder(Hook):
        def on_plan(self, *, decisions: list[dict[str, Any]], **extra: object) -> None:
            seen.append(("plan", [(d["step"], d["state"]) for d in decisions]))

        def on_run_start(self, *, run_id: str, steps: list[str], fresh: list[str], **extra: object) -> None:
            seen.append(("start", (steps, fresh)))

        def on_step_end(self, *, step: str, status: str, **extra: object) -> None:  # type: ignore[override]
            seen.append(("end", (step, status, extra.get("key") is not None)))

    root = make_project({"pipe.py": CHAIN})
    assert distill.run(project=root).ok
    assert distill.run(project=root, params={"n": 5}, hooks=[Recorder()]).ok

    assert seen[0] == ("plan", [("a", "fresh"), ("b", "stale"), ("c", "recheck")])
    assert seen[1] == ("start", (["a", "b", "c"], ["a"]))
    assert seen[2:] == [("end", ("a", "cached", True)), ("end", ("b", "ran", True)), ("end", ("c", "ran", True))]


# -- the run records where it ran ---------------------------------------------------------------


def test_the_run_records_its_environment_and_each_step(make_project) -> None:
    root = make_project({"pipe.py": CHAIN})
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
    subprocess.run([*git, "-C", str(root), "add", "pipe.py", "pyproject.toml"], check=True, env=env)
    subprocess.run([*git, "-C", str(root), "commit", "-qm", "x"], check=True, env=env)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, env=env).stdout.strip()

    result = distill.run(project=root, command="test run")

    db = sqlite3.connect(root / ".distill" / "index.db")
    command, environment = db.execute("SELECT command, environment FROM runs WHERE run_id = ?", (result.run_id,)).fetchone()
    recorded = json.loads(environment)
    assert command == "test run"
    assert recorded["python"] == ".".join(map(str, sys.version_info[:3]))
    assert recorded["git_commit"] == head and recorded["git_dirty"] is False
    import importlib.metadata

    assert recorded["packages"]["pytest"] == importlib.metadata.version("pytest")
    rows = db.execute("SELECT step, status, key FROM step_runs WHERE run_id = ? ORDER BY step", (result.run_id,)).fetchall()
    assert [(s, st) for s, st, _ in rows] == [("a", "ran"), ("b", "ran"), ("c", "ran")]
    assert all(key == result.steps[s].key and key for s, _, key in rows)


# -- a long-lived process runs the code as it is now ---------------------------------------------


def test_editing_a_step_between_two_runs_in_one_process_runs_the_edit(make_project) -> None:
    root = make_project({"pipe.py": CHAIN})
    assert distill.run(project=root).ok
    assert distill.load("c", project=root) == 20
    sys.path.insert(0, str(root))
    import pipe  # noqa: F401 - the user imported it too, as a notebook would

    write(root / "pipe.py", CHAIN.replace("return b * 10", "return b * 100"))
    result = distill.run(project=root)

    assert result.steps["c"].status == "ran"
    assert distill.load("c", project=root) == 200


def test_a_helper_module_edited_between_two_runs_is_re_imported(make_project) -> None:
    files = {
        "pipe.py": "from distill import step\nfrom lib import scale\n\n@step\ndef a() -> int:\n    return scale(2)\n",
        "lib.py": "def scale(x):\n    return x * 3\n",
    }
    root = make_project(files)
    assert distill.run(project=root).ok
    write(root / "lib.py", "def scale(x):\n    return x * 4\n")

    assert distill.run(project=root).steps["a"].status == "ran"
    assert distill.load("a", project=root) == 8


# -- results are indexed even when the run stops -----------------------------------------------------


def test_finished_steps_are_indexed_when_the_run_is_interrupted(make_project) -> None:
    source = CHAIN.replace("    return b * 10", "    raise KeyboardInterrupt")
    root = make_project({"pipe.py": source})

    with pytest.raises(KeyboardInterrupt):
        distill.run(project=root)

    states = {d.step: d.state for d in distill.status(project=root)}
    assert states == {"a": "fresh", "b": "fresh", "c": "stale"}


# -- Ctrl-C ------------------------------------------------------------------------------------

SLOW = """
import time
from pathlib import Path

from distill import step

@step
def a() -> int:
    return 1

@step
def b(a: int) -> int:
    Path("b.started").write_text("1")
    time.sleep(60)
    return a
"""


def test_ctrl_c_exits_130_says_what_was_kept_and_leaves_nothing_half_written(make_project) -> None:
    import signal
    import time

    def as_from_a_terminal() -> None:
        # NB: a child inherits ignored and blocked signals; the test worker may have either from
        #     an earlier test's library (a kernel app ignores SIGINT): a terminal's run has neither
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    root = make_project({"pipe.py": SLOW})
    proc = subprocess.Popen(
        [sys.executable, "-m", "distill", "run", "-C", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    deadline = time.time() + 30
    while not (root / "b.started").exists() and time.time() < deadline:
        time.sleep(0.05)
    with open(f"/proc/{proc.pid}/status") as status:
        signals = [line.strip() for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        # NB: a first Ctrl-C can be lost (Python drops a KeyboardInterrupt raised inside a
        #     finalizer); a user presses it again. Step `b` sleeps for 60 s, so the run is still there.
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"two SIGINTs did not end the run; the child's signals: {signals}") from None

    assert proc.returncode == 130, stderr
    assert "interrupted: run " in stderr and "1 step(s) finished and were kept (1 ran, 0 cached)" in stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    assert not list((root / ".distill" / "objects").glob("tmp/*"))
    states = {d.step: d.state for d in distill.status(project=root)}
    assert states == {"a": "fresh", "b": "stale"}
    db = sqlite3.connect(root / ".distill" / "index.db")
    assert db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]


METRICS = """
from distill import step

@step(outputs=("accuracy", "report"), metrics=("accuracy",))
def evaluate() -> tuple[float, str]:
    return 0.75, "fine"
"""


def test_declared_metrics_are_reported_for_runs_and_cache_hits(make_project) -> None:
    root = make_project({"pipe.py": METRICS})
    first = distill.run(project=root)
    assert first.steps["evaluate"].metrics == {"accuracy": 0.75}
    second = distill.run(project=root)
    assert second.steps["evaluate"].status == "cached"
    assert second.steps["evaluate"].metrics == {"accuracy": 0.75}
    from distill.runs.registry import Registry

    history = Registry(root / ".distill")
    assert history.metrics(first.run_id) == {"evaluate": {"accuracy": 0.75}}
    assert history.metrics(second.run_id) == {"evaluate": {"accuracy": 0.75}}
    history.close()


def test_an_index_of_the_previous_format_gains_the_metrics_table(tmp_path: Path) -> None:
    from distill.runs.registry import Registry

    old = sqlite3.connect(tmp_path / "index.db")
    old.executescript(
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, started REAL NOT NULL, ended REAL, status TEXT NOT NULL,"
        " command TEXT, params TEXT, environment TEXT); PRAGMA user_version = 1;"
    )
    old.execute("INSERT INTO runs VALUES ('r1', 0, 1, 'succeeded', 'distill run', '{}', '{}')")
    old.commit()
    old.close()
    registry = Registry(tmp_path)
    assert registry.run("r1") is not None  # the history is kept
    assert registry.metrics("r1") == {}
    registry.close()


def test_metrics_must_name_outputs(make_project) -> None:
    root = make_project({"pipe.py": METRICS.replace('metrics=("accuracy",)', 'metrics=("f1",)')})
    with pytest.raises(distill.ValidationError, match="metrics= names 'f1', which is not an output"):
        distill.status(project=root)


# -- runs at the same time -----------------------------------------------------------------------

CONCURRENT = """
import os
import time
from pathlib import Path

from distill import step


def _note(name: str) -> None:
    with open("calls.log", "a") as log:
        log.write(f"{name} {os.getpid()}\\n")


@step
def a() -> int:
    _note("a")
    time.sleep(0.5)
    return 1


@step
def b(a: int) -> int:
    _note("b")
    time.sleep(0.3)
    return a + 1


@step
def c(a: int) -> int:
    _note("c")
    return a + 2
"""


def test_three_runs_at_once_compute_each_step_once(make_project) -> None:
    root = make_project({"pipe.py": CONCURRENT})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "distill", "run", "-C", str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]

    for code, stderr in results:
        assert code == 0, stderr
        assert "Traceback" not in stderr
    log = (root / "calls.log").read_text()
    calls = sorted(line.split()[0] for line in log.splitlines())
    assert calls == ["a", "b", "c"], (log, [stderr for _, stderr in results])
    assert {d.step: d.state for d in distill.status(project=root)} == {"a": "fresh", "b": "fresh", "c": "fresh"}
    # One lock file, made once and reused; nothing is left locked in it.
    import fcntl

    assert [p.name for p in (root / ".distill" / "locks").iterdir()] == ["keys"]
    with open(root / ".distill" / "locks" / "keys", "r+") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0, os.SEEK_SET)


# -- Pipeline.run(cache=True) --------------------------------------------------------------------


def _module(tmp_path: Path, name: str, source: str) -> Any:
    import importlib

    path = tmp_path / f"{name}.py"
    write(path, source)
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    return importlib.import_module(name)


def test_pipeline_refuses_to_cache_code_edited_after_import(tmp_path: Path) -> None:
    mod = _module(tmp_path, "mod_edit", "from distill import step\n\n@step\ndef a() -> int:\n    return 1\n")
    pipe = distill.Pipeline.from_module(mod)
    assert pipe.run(cache=True, store=str(tmp_path / "store"))["a"] == 1
    write(tmp_path / "mod_edit.py", "from distill import step\n\n@step\ndef a() -> int:\n    return 2\n")
    with pytest.raises(distill.DistillError, match=r"module mod_edit .* changed after it was imported"):
        pipe.run(cache=True, store=str(tmp_path / "store"))
    sys.modules.pop("mod_edit", None)


UNCACHED_MOD = """
import threading

from distill import step


@step(cache=False)
def now(n: int = 1) -> int:
    return n


@step
def lock(now: int):
    return threading.Lock() if now == 2 else now


@step
def seen(lock) -> str:
    return f"saw {lock!r}"[:8]
"""


def test_pipeline_returns_this_runs_values_even_when_not_stored(tmp_path: Path) -> None:
    mod = _module(tmp_path, "mod_uncached", UNCACHED_MOD)
    pipe = distill.Pipeline.from_module(mod)
    store = str(tmp_path / "store")
    first = pipe.run(cache=True, store=store, params={"n": 1})
    assert (first["now"], first["lock"], first["seen"]) == (1, 1, "saw 1")
    second = pipe.run(cache=True, store=store, params={"n": 2})
    assert second["now"] == 2 and type(second["lock"]).__name__ == "lock"
    assert second["seen"] == "saw <unl"  # this run's value, never the n=1 one from the store
    sys.modules.pop("mod_uncached", None)


def test_runs_in_threads_of_one_process_do_not_mix_folders(make_project, tmp_path: Path) -> None:
    import threading

    pipe = "from distill import step\n\n@step\ndef conf() -> str:\n    return open('conf.txt').read()\n"
    roots = []
    for name in ("ta", "tb"):
        root = tmp_path / name
        write(root / "pyproject.toml", f'[tool.distill]\npipeline = "pipe_{name}"\n')
        write(root / f"pipe_{name}.py", pipe)
        write(root / "conf.txt", name)
        roots.append(root)
    errors: list[BaseException] = []

    def go(root: Path) -> None:
        try:
            for _ in range(5):
                assert distill.run(project=root, force=["conf"]).ok
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(r,)) for r in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert distill.load("conf", project=roots[0]) == "ta"
    assert distill.load("conf", project=roots[1]) == "tb"


BUNCH = """
from distill import step


class Bunch(dict):
    # A dict with attribute access, whose __dict__ is itself (as statsmodels' Dataset).
    def __init__(self, **kw):
        dict.__init__(self, kw)
        self.__dict__ = self


@step
def data() -> Bunch:
    return Bunch(endog=[1, 2], exog=[3, 4])


@step
def first(data: Bunch) -> int:
    return data.endog[0]


@step
def second(data: Bunch) -> int:
    return data.exog[1]
"""


def test_a_value_read_by_two_steps_keeps_its_attributes_in_the_copy(make_project) -> None:
    root = make_project({"pipe.py": BUNCH})
    result = distill.run(project=root)
    assert result.ok, {s: r.error for s, r in result.steps.items() if r.error}
    assert distill.load("first", project=root) == 1 and distill.load("second", project=root) == 4


def test_an_object_overwritten_with_other_bytes_is_replaced_by_the_recomputed_one(make_project) -> None:
    root = make_project({"pipe.py": CHAIN})
    assert distill.run(project=root).ok
    db = sqlite3.connect(root / ".distill" / "index.db")
    (outputs,) = db.execute("SELECT outputs FROM cache WHERE step = 'a'").fetchone()
    digest = json.loads(outputs)["a"]["hash"]
    db.close()
    obj = root / ".distill" / "objects" / digest[:2] / digest[2:]
    obj.write_bytes(b"99")  # another size, other bytes, under the same name

    states = {d.step: (d.state, d.reasons) for d in distill.status(project=root)}
    assert states["a"] == ("stale", ("cached output a is corrupted in the store (its size changed)",))
    second = distill.run(project=root)
    assert second.steps["a"].status == "ran" and second.steps["b"].status == "cached"
    assert obj.read_bytes() == b"1"  # the good object is back under its name
    assert {d.step: d.state for d in distill.status(project=root)} == {"a": "fresh", "b": "fresh", "c": "fresh"}
    assert distill.load("a", project=root) == 1


def test_a_killed_run_reads_as_interrupted_and_the_next_run_records_it(make_project) -> None:
    import signal
    import time

    from distill.runs.registry import Registry

    root = make_project({"pipe.py": SLOW})
    proc = subprocess.Popen([sys.executable, "-m", "distill", "run", "-C", str(root)], stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not (root / "b.started").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    registry = Registry(root / ".distill")
    (killed,) = [r[0] for r in registry.db.execute("SELECT run_id FROM runs").fetchall()]
    assert registry.db.execute("SELECT status FROM runs").fetchall() == [("running",)]  # as it was left
    run = registry.run(killed)
    assert run is not None and run["status"] == "interrupted"  # but it reads as what it is

    write(root / "pipe.py", SLOW.replace("time.sleep(60)", "pass"))
    assert distill.run(project=root).ok
    rows = dict(registry.db.execute("SELECT run_id, status FROM runs").fetchall())
    assert rows[killed] == "interrupted" and sorted(rows.values()) == ["interrupted", "succeeded"]
    registry.close()


def test_pipeline_refuses_a_helper_edited_after_import(tmp_path: Path) -> None:
    write(tmp_path / "helper_lib.py", "def base() -> int:\n    return 1\n")
    mod = _module(
        tmp_path, "mod_helper", "from distill import step\nfrom helper_lib import base\n\n@step\ndef a() -> int:\n    return base()\n"
    )
    pipe = distill.Pipeline.from_module(mod)
    assert pipe.run(cache=True, store=str(tmp_path / "store"))["a"] == 1
    write(tmp_path / "helper_lib.py", "def base() -> int:\n    return 2\n")
    with pytest.raises(distill.DistillError, match=r"module helper_lib .* function base in memory"):
        pipe.run(cache=True, store=str(tmp_path / "store"))
    for name in ("mod_helper", "helper_lib"):
        sys.modules.pop(name, None)


def test_two_projects_with_one_package_name_run_in_one_process(tmp_path: Path) -> None:
    """A notebook session or a test run may run two projects whose packages share a name: each
    runs its own code, never the package the other left imported."""
    for n, value in enumerate((2, 3)):
        root = tmp_path / f"project{n}"
        write(root / "pyproject.toml", '[tool.distill]\npipeline = "pkg.pipeline"\n')
        write(root / "src" / "pkg" / "__init__.py", "")
        write(root / "src" / "pkg" / "pipeline.py", f"from distill import step\n\n@step\ndef a{n}() -> int:\n    return {value}\n")
        assert distill.run(project=root).ok
        assert distill.load(f"a{n}", project=root) == value
