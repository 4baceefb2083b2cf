"""Progress of ``distill run`` on stderr: a live display on a terminal, plain lines elsewhere.

Responsibilities:
- ``Tally``: what a run has done so far, from its events alone (counts, running steps and
  when they started, steps still to run and the estimate of what is left); pure state, no
  output;
- ``Progress``: the hook base the CLI drives: the tally, the failures for the final report,
  and ``close()``, which the CLI calls however the run ends;
- ``PlainProgress``: one line per event, for logs, pipes and CI;
- ``LiveProgress``: a live region (running steps with their elapsed time, counts, an
  estimate of the time left) for a terminal;
- ``make_progress``: picks one of the two for a stream.

``rich`` is imported only inside ``LiveProgress``: ``distill --help`` and runs whose stderr is
not a terminal never import it.

The lines both displays print for a step that ran keep one shape, which scripts and tests
read (``[done/total] ✓ STEP ran in 0.12s``)::

    [0/5] ▸ raw started
    [2/5] ✓ raw ran in 0.12s
    [3/5] ✗ cleaned failed in 0.01s
    [4/5] - scaled skipped: cleaned failed
    warning: raw: output numbers is not cached: ...
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, TextIO

import click

from ..execute.hooks import Hook

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

REFRESH_PER_SECOND = 4
_MARKS = {"ran": "✓", "failed": "✗", "skipped": "-", "cached": "·"}


def format_seconds(seconds: float) -> str:
    """A duration for people: ``0.4s``, ``8.0s``, ``12s``, ``2m 05s``, ``1h 02m``.

    Example:
        >>> format_seconds(0.42), format_seconds(125.4)
        ('0.4s', '2m 05s')
    """
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


class Tally:
    """What a run has done so far, built from its events; prints nothing.

    Steps the plan found stale are the ones that will run (unless an upstream failure skips
    them or a re-check finds them cached); the estimate of the time left adds, over those
    not finished yet, the seconds each took the last time it ran, less the time a running
    step has already spent. Steps that never ran have no such time and are counted apart.
    The estimate assumes one step at a time, as the default executor runs them.

    Args:
        clock: seconds, monotonic (a fake one in tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.total = 0
        self.counts = {"ran": 0, "cached": 0, "failed": 0, "skipped": 0}
        self.expected: dict[str, float] = {}
        self.to_run: set[str] = set()
        self.running: dict[str, tuple[float, int]] = {}  # step -> (started at, attempt)

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def start(self, steps: list[str], fresh: list[str], expected: dict[str, float]) -> None:
        self.total = len(steps)
        self.expected = dict(expected)
        self.to_run = set(steps) - set(fresh)

    def step_started(self, step: str, attempt: int) -> None:
        """Note a call of a step; a cache hit (``attempt`` 0) is only counted when it ends."""
        if attempt < 1:
            return
        started = self.running[step][0] if step in self.running else self.clock()
        self.running[step] = (started, attempt)

    def step_ended(self, step: str, status: str) -> None:
        self.running.pop(step, None)
        self.to_run.discard(step)
        self.counts[status] = self.counts.get(status, 0) + 1

    def elapsed(self, step: str) -> float:
        return self.clock() - self.running[step][0]

    def remaining(self) -> tuple[float, int]:
        """Seconds left by the last run's times, and how many steps left have no such time."""
        seconds = 0.0
        unknown = 0
        for step in self.to_run:
            last = self.expected.get(step)
            if last is None:
                unknown += 1
            elif step in self.running:
                seconds += max(last - self.elapsed(step), 0.0)
            else:
                seconds += last
        return seconds, unknown

    def eta(self) -> str:
        """``ETA 12s``, ``ETA 12s + 2 steps never timed``, ``ETA unknown``, or "" when done."""
        if not self.to_run:
            return ""
        seconds, unknown = self.remaining()
        if unknown == len(self.to_run):
            return "ETA unknown"
        text = f"ETA {format_seconds(seconds)}"
        if unknown:
            text += f" + {unknown} step{'s' if unknown > 1 else ''} never timed"
        return text

    def summary(self) -> str:
        """``4/7 done: 2 ran, 1 cached, 1 failed, 0 skipped``."""
        c = self.counts
        return (
            f"{self.done}/{self.total} done: {c['ran']} ran, {c['cached']} cached, "
            f"{c['failed']} failed, {c['skipped']} skipped"
        )

    def start_line(self, step: str, attempt: int) -> str:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        return f"[{self.done}/{self.total}] ▸ {step} started{again}"

    def end_line(self, step: str, status: str, duration: float, attempts: int, error: str | None) -> str:
        """The line for a step that ended (call after ``step_ended``)."""
        prefix = f"[{self.done}/{self.total}] {_MARKS.get(status, '?')} {step}"
        if status == "skipped":
            return f"{prefix} skipped: {error}"
        tries = f"  (attempts: {attempts})" if attempts > 1 else ""
        return f"{prefix} {status} in {duration:.2f}s{tries}"


def warning_line(step: str | None, message: str) -> str:
    return f"warning: {step + ': ' if step else ''}{message}"


class Progress(Hook):
    """What the CLI needs of a progress display: a hook, its failures, and ``close()``.

    Subclasses say how a line is printed (``emit``) and may redraw after each event
    (``refresh``); the events themselves are handled here, once for both displays.

    Args:
        quiet: print only failures, skipped steps and warnings.
        clock: seconds, monotonic (a fake one in tests).
    """

    print_starts = True  # a line per step call (a live region shows running steps instead)

    def __init__(self, *, quiet: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.tally = Tally(clock=clock)
        self.failures: list[tuple[str, str]] = []  # (step, error), for the CLI's final report
        self._lock: AbstractContextManager[object] = nullcontext()

    def on_run_start(self, *, run_id: str, steps: list[str], fresh: list[str], **extra: object) -> None:
        expected = extra.get("expected")
        with self._lock:
            self.tally.start(steps, fresh, expected if isinstance(expected, dict) else {})

    def on_step_start(self, *, step: str, attempt: int, **extra: object) -> None:
        with self._lock:
            self.tally.step_started(step, attempt)
            line = self.tally.start_line(step, attempt)
        if attempt >= 1 and self.print_starts and not self.quiet:
            self.emit(line, style="dim")
        self.refresh()

    def on_step_end(
        self,
        *,
        step: str,
        status: str,
        cached: bool,
        duration: float,
        attempts: int,
        error: str | None,
        **extra: object,
    ) -> None:
        with self._lock:
            self.tally.step_ended(step, status)
            line = self.tally.end_line(step, status, duration, attempts, error)
        if status == "failed" and error:
            self.failures.append((step, error))
        if not cached and not (self.quiet and status == "ran"):
            self.emit(line, style={"ran": "green", "failed": "bold red", "skipped": "yellow"}.get(status, ""))
        self.refresh()

    def on_warning(self, *, step: str | None, message: str, **extra: object) -> None:
        self.emit(warning_line(step, message), style="yellow")

    def on_run_end(self, *, run_id: str, status: str, duration: float, **extra: object) -> None:
        self.close()

    def emit(self, line: str, *, style: str = "") -> None:
        """Print one line that stays (a live region is redrawn below it)."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Redraw after an event (nothing to redraw for plain lines)."""

    def close(self) -> None:
        """End the display; safe to call more than once, and when the run never started."""


class PlainProgress(Progress):
    """One line per event: a step called, a step ended (cache hits only counted), a warning.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> p = PlainProgress(quiet=False, stream=out)
        >>> p.on_run_start(run_id="r", steps=["a", "b"], fresh=["a"])
        >>> p.on_step_start(step="b", attempt=1)
        >>> p.on_step_end(step="b", status="ran", cached=False, duration=0.5, attempts=1, error=None)
        >>> print(out.getvalue(), end="")
        [0/2] ▸ b started
        [1/2] ✓ b ran in 0.50s
    """

    def __init__(
        self, *, quiet: bool = False, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(quiet=quiet, clock=clock)
        self.stream = stream if stream is not None else sys.stderr

    def emit(self, line: str, *, style: str = "") -> None:
        click.echo(line, file=self.stream)


class LiveProgress(Progress):
    """A live region on a terminal: running steps with elapsed time, counts and an estimate.

    Lines for steps that ran, failed or were skipped, and warnings, are printed above the
    region and stay; the region itself is cleared when the run ends, fails or is
    interrupted (the CLI calls ``close()`` in a ``finally``), leaving the summary line alone
    below the step lines. Colours follow the terminal and ``NO_COLOR``.

    Args:
        console: where to draw (a ``rich.console.Console`` on ``stream`` by default).
        stream: the terminal (stderr by default).
        clock: seconds, monotonic (a fake one in tests).
    """

    print_starts = False

    def __init__(
        self,
        *,
        console: Console | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(quiet=False, clock=clock)
        from rich.console import Console

        # NB: rich reads NO_COLOR itself; passing it keeps the rule visible here.
        self.console = console or Console(
            file=stream if stream is not None else sys.stderr,
            no_color=os.environ.get("NO_COLOR", "") != "",
            highlight=False,
        )
        self.live: Live | None = None
        # The refresh thread renders while events change the tally: both take this lock
        # (never held while printing: a print redraws the region, which takes it again).
        self._lock = threading.Lock()

    def on_run_start(self, *, run_id: str, steps: list[str], fresh: list[str], **extra: object) -> None:
        from rich.live import Live

        super().on_run_start(run_id=run_id, steps=steps, fresh=fresh, **extra)
        self.live = Live(
            console=self.console,
            get_renderable=self.render,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
            # NB: step code printing to a redirected stdout must reach that file, not the
            #     terminal: `distill run > log.txt` keeps the steps' prints in log.txt.
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=True,
        )
        self.live.start(refresh=True)

    def emit(self, line: str, *, style: str = "") -> None:
        from rich.text import Text

        # A Text, not a str: step names and errors are never read as markup.
        self.console.print(Text(line, style=style), soft_wrap=True)

    def refresh(self) -> None:
        if self.live is not None and self.live.is_started:
            self.live.refresh()

    def render(self) -> RenderableType:
        """The live region: one row per running step, then the counts and the estimate::

            ▸ train      12.3s  last run 40s
            ▸ evaluate    1.0s  never timed
            3/7 done: 1 ran, 2 cached, 0 failed, 0 skipped · 2 running · ETA 28s + 1 step never timed
        """
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            tally = self.tally
            grid = Table.grid(padding=(0, 2))
            grid.add_column(no_wrap=True, overflow="ellipsis")
            grid.add_column(justify="right", no_wrap=True)
            grid.add_column(no_wrap=True, style="dim")
            for step, (_, attempt) in sorted(tally.running.items(), key=lambda item: item[1][0]):
                last = tally.expected.get(step)
                note = f"last run {format_seconds(last)}" if last is not None else "never timed"
                if attempt > 1:
                    note += f", attempt {attempt}"
                grid.add_row(Text(f"▸ {step}", style="cyan"), f"{tally.elapsed(step):.1f}s", note)
            status = Text(tally.summary())
            if tally.counts["failed"]:
                status.stylize("red")
            if tally.running:
                status.append(f" · {len(tally.running)} running")
            eta = tally.eta()
            if eta:
                status.append(f" · {eta}", style="bold")
        return Group(grid, status) if grid.row_count else status

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def make_progress(*, quiet: bool, stream: TextIO | None = None) -> Progress:
    """The progress display for ``distill run``: live on a terminal, plain lines otherwise.

    Plain lines are used when ``stream`` is not a terminal, when ``TERM`` is ``dumb``, and
    with ``quiet`` (which prints only failures, skipped steps and warnings: a live region
    would not be quiet).

    Args:
        quiet: print only failures, skipped steps and warnings.
        stream: where progress goes (stderr by default, read when called).

    Example:
        >>> import io
        >>> type(make_progress(quiet=False, stream=io.StringIO())).__name__
        'PlainProgress'
    """
    stream = stream if stream is not None else sys.stderr
    if quiet or os.environ.get("TERM") == "dumb" or not _isatty(stream):
        return PlainProgress(quiet=quiet, stream=stream)
    return LiveProgress(stream=stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no terminal
        return False
