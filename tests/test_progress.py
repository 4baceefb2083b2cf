"""Progress of `distill run`: plain lines off a terminal, a live display on one, `-q`, `--json`.

The CLI runs as a subprocess (stderr is a pipe there, so plain lines); the live display is
driven directly with events and a fake clock, drawing on a `rich` console that writes to a
string, and once through a real pseudo-terminal.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from conftest import cli, ran_steps, write
from distill.cli.progress import LiveProgress, PlainProgress, Tally, format_seconds, make_progress

PIPE = """
from distill import step

@step
def raw() -> list[int]:
    return [1, 2, 3]

@step
def doubled(raw: list[int]) -> list[int]:
    return [x * 2 for x in raw]

@step
def total(doubled: list[int]) -> int:
    return sum(doubled)

@step
def report(total: int, raw: list[int]) -> str:
    return f"{total}/{len(raw)}"
"""

FAILING = PIPE.replace("return sum(doubled)", "raise ValueError('boom')")

UNSTORABLE = """
from distill import step

@step
def numbers():
    return (i for i in range(4))  # a generator: pickle refuses it

@step
def total(numbers) -> int:
    return sum(numbers)
"""

# Durations vary from run to run: tests compare lines with them replaced by `T`.
_SECONDS = re.compile(r"\d+\.\d\ds")
_RUN_ID = re.compile(r"run \d{8}-\d{6}-[0-9a-f]{6}:")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def lines(stderr: str) -> list[str]:
    return [_RUN_ID.sub("run ID:", _SECONDS.sub("T", line)) for line in stderr.splitlines()]


# -- plain lines, through the CLI ---------------------------------------------------------


def test_plain_lines_name_each_step_called_and_count_cache_hits(make_project):
    root = make_project({"pipe.py": PIPE})
    proc = cli(root, "run", check=0)
    assert lines(proc.stderr) == [
        "[0/4] ▸ raw started",
        "[1/4] ✓ raw ran in T",
        "[1/4] ▸ doubled started",
        "[2/4] ✓ doubled ran in T",
        "[2/4] ▸ total started",
        "[3/4] ✓ total ran in T",
        "[3/4] ▸ report started",
        "[4/4] ✓ report ran in T",
        "run ID: 4 ran in T",
    ]
    assert ran_steps(proc) == {"raw", "doubled", "total", "report"}
    assert proc.stdout == ""

    # Cache hits are counted, not printed one by one.
    proc = cli(root, "run", check=0)
    assert lines(proc.stderr) == ["run ID: 4 cached in T"]


def test_plain_lines_always_show_failed_and_skipped_steps(make_project):
    root = make_project({"pipe.py": FAILING})
    proc = cli(root, "run", check=1)
    got = lines(proc.stderr)
    assert got[:6] == [
        "[0/4] ▸ raw started",
        "[1/4] ✓ raw ran in T",
        "[1/4] ▸ doubled started",
        "[2/4] ✓ doubled ran in T",
        "[2/4] ▸ total started",
        "[3/4] ✗ total failed in T",
    ]
    assert got[6].startswith("[4/4] - report skipped: ")
    assert got[7] == "run ID: 1 failed, 2 ran, 1 skipped in T"
    assert "step total failed:" in proc.stderr and "ValueError: boom" in proc.stderr
    assert "Error: 1 step(s) failed: total; finished steps are cached." in proc.stderr


def test_quiet_prints_only_failures_warnings_and_the_summary(make_project):
    root = make_project({"pipe.py": PIPE})
    proc = cli(root, "run", "-q", check=0)
    assert lines(proc.stderr) == ["run ID: 4 ran in T"]

    write(root / "pipe.py", UNSTORABLE)
    proc = cli(root, "run", "-q", check=0)
    got = lines(proc.stderr)
    assert len(got) == 2, proc.stderr
    assert got[0].startswith("warning: numbers: output numbers is not cached: ")
    assert got[1] == "run ID: 2 ran in T"

    write(root / "pipe.py", FAILING)
    proc = cli(root, "run", "-q", check=1)
    got = lines(proc.stderr)
    assert [line for line in got if line.startswith("[")] == [
        "[3/4] ✗ total failed in T",
        got[1],
    ]
    assert got[1].startswith("[4/4] - report skipped: ")
    assert "started" not in proc.stderr and " ran in " not in proc.stderr
    assert "ValueError: boom" in proc.stderr


# -- --json -------------------------------------------------------------------------------

STEP_FIELDS = {"step", "status", "duration", "attempts", "key", "error", "reason", "metrics"}


def test_json_on_stdout_progress_on_stderr(make_project):
    root = make_project({"pipe.py": PIPE})
    proc = cli(root, "run", "--json", check=0)
    data = json.loads(proc.stdout)
    assert set(data) == {"run_id", "status", "duration", "counts", "steps"}
    assert data["status"] == "succeeded"
    assert data["counts"] == {"ran": 4, "cached": 0, "failed": 0, "skipped": 0}
    assert [s["step"] for s in data["steps"]] == ["raw", "doubled", "total", "report"]
    assert all(set(s) == STEP_FIELDS for s in data["steps"])
    assert all(s["status"] == "ran" and s["attempts"] == 1 and s["key"] for s in data["steps"])
    # The same run as the summary line on stderr.
    assert f"run {data['run_id']}: 4 ran in " in proc.stderr
    assert ran_steps(proc) == {"raw", "doubled", "total", "report"}

    proc = cli(root, "run", "--json", "--explain", check=0)
    data = json.loads(proc.stdout)  # the plan went to stderr too
    assert data["counts"] == {"ran": 0, "cached": 4, "failed": 0, "skipped": 0}
    assert {s["status"] for s in data["steps"]} == {"cached"}
    assert "4 fresh, 0 stale" in proc.stderr


def test_json_of_a_failed_run_keeps_exit_code_1(make_project):
    root = make_project({"pipe.py": FAILING})
    proc = cli(root, "run", "--json", check=1)
    data = json.loads(proc.stdout)
    assert data["status"] == "failed"
    assert data["counts"] == {"ran": 2, "cached": 0, "failed": 1, "skipped": 1}
    steps = {s["step"]: s for s in data["steps"]}
    assert "ValueError: boom" in steps["total"]["error"]
    assert steps["report"]["status"] == "skipped" and steps["report"]["reason"]


def test_json_of_bad_input_is_exit_2_and_no_json(make_project):
    root = make_project({"pipe.py": PIPE})
    proc = cli(root, "run", "--json", "nonexistent", check=2)
    assert proc.stdout == ""
    assert "Error:" in proc.stderr


# -- rich stays out of non-terminal runs --------------------------------------------------


def test_rich_is_not_imported_off_a_terminal(make_project):
    root = make_project({"pipe.py": PIPE})
    code = textwrap.dedent(
        """
        import sys
        from distill.cli.main import cli
        for args in (["--help"], ["run", "-C", sys.argv[1]]):
            try:
                cli(args, prog_name="distill")
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        print("rich" in sys.modules, "distill.cli.progress" in sys.modules)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["False", "True"]  # the progress module ran, rich did not load
    assert "✓ raw ran in" in proc.stderr


# -- choosing the display -----------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_make_progress_is_live_only_on_a_capable_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    assert type(make_progress(quiet=False, stream=io.StringIO())) is PlainProgress
    assert type(make_progress(quiet=False, stream=_Terminal())) is LiveProgress
    assert type(make_progress(quiet=True, stream=_Terminal())) is PlainProgress
    monkeypatch.setenv("TERM", "dumb")
    assert type(make_progress(quiet=False, stream=_Terminal())) is PlainProgress


# -- the estimate -------------------------------------------------------------------------


@dataclass(frozen=True)
class EtaCase:
    id: str
    to_run: list[str]
    expected: dict[str, float]
    running: dict[str, float]  # step -> seconds it has been running
    eta: str


ETA_CASES = [
    EtaCase("all-known", ["a", "b"], {"a": 10.0, "b": 5.0}, {}, "ETA 15s"),
    EtaCase("running-step-counts-what-is-left", ["a", "b"], {"a": 10.0, "b": 5.0}, {"a": 4.0}, "ETA 11s"),
    EtaCase("overdue-step-counts-zero", ["a"], {"a": 2.0}, {"a": 9.0}, "ETA 0.0s"),
    EtaCase("new-steps-apart", ["a", "b", "c"], {"a": 90.0}, {}, "ETA 1m 30s + 2 steps never timed"),
    EtaCase("all-new", ["a", "b"], {}, {}, "ETA unknown"),
    EtaCase("nothing-left", [], {"a": 3.0}, {}, ""),
]


@pytest.mark.parametrize("case", ETA_CASES, ids=[c.id for c in ETA_CASES])
def test_eta_adds_last_durations_of_steps_still_to_run(case: EtaCase):
    now = [100.0]
    tally = Tally(clock=lambda: now[0])
    tally.start([*case.to_run, "fresh"], ["fresh"], {**case.expected, "fresh": 50.0})
    for step, elapsed in case.running.items():
        now[0] -= elapsed
        tally.step_started(step, 1)
        now[0] += elapsed
    assert tally.eta() == case.eta


def test_format_seconds():
    assert [format_seconds(s) for s in (0.04, 9.9, 12.4, 125, 3725)] == ["0.0s", "9.9s", "12s", "2m 05s", "1h 02m"]


# -- the live display ---------------------------------------------------------------------


def _live(now: list[float]) -> tuple[LiveProgress, io.StringIO]:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    return LiveProgress(console=console, clock=lambda: now[0]), out


def _text(renderable: object) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def _end(progress: LiveProgress, step: str, status: str, duration: float, error: str | None = None) -> None:
    progress.on_step_end(
        step=step, status=status, cached=status == "cached", duration=duration, attempts=int(status != "cached"),
        error=error, key="k",
    )


def test_live_shows_running_steps_counts_and_eta():
    now = [0.0]
    progress, out = _live(now)
    steps = ["load", "clean", "train", "evaluate", "plot"]
    expected = {"load": 1.0, "clean": 4.0, "train": 40.0, "evaluate": 6.0}
    progress.on_run_start(run_id="r1", steps=steps, fresh=["load"], expected=expected, future_keyword=1)
    try:
        progress.on_step_start(step="load", attempt=0)
        _end(progress, "load", "cached", 0.0)
        progress.on_step_start(step="clean", attempt=1)
        now[0] = 4.5
        _end(progress, "clean", "ran", 4.5)
        progress.on_step_start(step="train", attempt=1)
        now[0] += 12.0

        text = _text(progress.render())
        assert re.search(r"▸ train\s+12\.0s\s+last run 40s", text), text
        # 40 - 12 for train, 6 for evaluate; plot never ran.
        assert "2/5 done: 1 ran, 1 cached, 0 failed, 0 skipped · 1 running" in text
        assert "ETA 34s + 1 step never timed" in text

        progress.refresh()  # what the refresh thread does 4 times a second
        drawn = _ANSI.sub("", out.getvalue())
        assert "▸ train" in drawn and "ETA 34s + 1 step never timed" in drawn
        assert "[2/5] ✓ clean ran in 4.50s" in drawn  # finished steps print above the region
        assert "load" not in drawn  # a cache hit is counted, not printed
    finally:
        progress.close()
    assert progress.live is not None and not progress.live.is_started


def test_live_failure_is_printed_and_kept_for_the_report():
    now = [0.0]
    progress, out = _live(now)
    progress.on_run_start(run_id="r1", steps=["a", "b"], fresh=[], expected={"a": 1.0, "b": 1.0})
    progress.on_step_start(step="a", attempt=1)
    _end(progress, "a", "failed", 0.2, error="Traceback ...\nValueError: [bold]boom[/bold]")
    _end(progress, "b", "skipped", 0.0, error="a failed")
    progress.on_warning(step="a", message="something odd")
    text = _text(progress.render())
    assert "2/2 done: 0 ran, 0 cached, 1 failed, 1 skipped" in text and "ETA" not in text
    progress.on_run_end(run_id="r1", status="failed", duration=0.2)
    assert progress.live is not None and not progress.live.is_started
    drawn = _ANSI.sub("", out.getvalue())
    assert "[1/2] ✗ a failed in 0.20s" in drawn
    assert "[2/2] - b skipped: a failed" in drawn
    assert "warning: a: something odd" in drawn
    assert progress.failures == [("a", "Traceback ...\nValueError: [bold]boom[/bold]")]
    progress.close()  # the CLI closes again in its `finally`: harmless


def test_live_region_is_cleared_on_keyboard_interrupt():
    now = [0.0]
    progress, out = _live(now)
    with pytest.raises(KeyboardInterrupt):
        try:  # as the CLI does around the run
            progress.on_run_start(run_id="r1", steps=["slow"], fresh=[], expected={"slow": 60.0})
            progress.on_step_start(step="slow", attempt=1)
            raise KeyboardInterrupt
        finally:
            progress.close()
    assert progress.live is not None and not progress.live.is_started
    raw = out.getvalue()
    assert raw.startswith("\x1b[?25l")  # the region hid the cursor ...
    tail = raw[raw.rindex("\x1b[?25h") :]  # ... and on stop shows it again, then erases its lines
    assert "\x1b[1A\x1b[2K" in tail and "slow" not in tail


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_live_display_on_a_real_terminal(make_project):
    import pty
    import select

    root = make_project({"pipe.py": PIPE})
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "distill", "run", "--json", "-C", str(root)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # Linux: the other end closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read() if proc.stdout else b""
    assert proc.wait(timeout=60) == 0
    terminal = b"".join(chunks).decode()
    assert "done: " in _ANSI.sub("", terminal)  # the live region was drawn ...
    tail = terminal[terminal.rindex("\x1b[?25h") :]  # ... then stopped, its lines erased,
    assert "\x1b[2K" in tail and "done: " not in tail
    summary = _ANSI.sub("", tail).strip()  # and the summary line is all that follows
    assert _RUN_ID.match(summary) and summary.split(": ", 1)[1].startswith("4 ran in "), summary
    assert "✓ report ran in" in terminal  # finished steps stay above
    assert json.loads(stdout)["counts"]["ran"] == 4
