"""Shared helpers for the distill benchmarks (timing, tables, generated pipelines).

Nothing here imports distill or a peer at module import time: every tool is
imported lazily by the benchmark that needs it, so a missing tool is reported
as "skipped" and the rest of the benchmark still runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Keep peers quiet and offline: no telemetry, no update checks.
os.environ.setdefault("HAMILTON_TELEMETRY_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


# --------------------------------------------------------------------------
# timing


@dataclass
class Timing:
    median: float  # seconds
    runs: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.runs)


def measure(
    fn: Callable[[], object],
    *,
    repeats: int = 5,
    setup: Callable[[], object] | None = None,
    warmup: int = 0,
    budget: float | None = None,
) -> Timing:
    """Time ``fn()`` ``repeats`` times with perf_counter and keep the median.

    ``setup`` (untimed) runs before every timed call.  ``budget`` (seconds):
    once at least one timed call is done and the time spent exceeds it, stop
    early -- the row then shows how many runs the median is of.
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    runs: list[float] = []
    started = time.perf_counter()
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
        if budget is not None and time.perf_counter() - started > budget:
            break
    return Timing(statistics.median(runs), runs)


def run_cmd(cmd: list[str], cwd: str | os.PathLike | None = None, env=None) -> None:
    """Run a command, raising with its output if it fails."""
    proc = subprocess.run(
        cmd, check=False, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if proc.returncode != 0:
        out = proc.stdout.decode(errors="replace").strip().splitlines()
        tail = " | ".join(out[-3:])
        raise RuntimeError(f"{' '.join(cmd)!r} exited {proc.returncode}: {tail}")


def time_cmd(cmd, *, repeats=5, cwd=None, env=None, budget=None) -> Timing:
    """Wall time of a subprocess (fork/exec and interpreter start included)."""
    return measure(lambda: run_cmd(cmd, cwd=cwd, env=env), repeats=repeats, budget=budget)


# --------------------------------------------------------------------------
# tables


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.{digits}g}"


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    print()
    print(title)
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
    sys.stdout.flush()


def short_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    first = msg[0] if msg else ""
    if len(first) > 70:
        first = first[:67] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def header(name: str) -> None:
    print(f"# {name}")
    try:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    print(
        f"python {platform.python_version()} ({sys.executable}); "
        f"{os.cpu_count()} cores; {load}; {platform.platform()}"
    )
    for pkg in ("distill", "hamilton", "kedro", "dask", "dvc"):
        print(f"  {pkg:<9} {package_version(pkg)}")
    sys.stdout.flush()


def package_version(dist_or_module: str) -> str:
    from importlib import metadata

    names = {
        "hamilton": ("sf-hamilton", "apache-hamilton"),
        "distill": ("distill",),
    }.get(dist_or_module, (dist_or_module,))
    for n in names:
        try:
            return metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    spec = importlib.util.find_spec(dist_or_module)
    if spec is None:
        return "not installed"
    return "installed (version unknown)"


# --------------------------------------------------------------------------
# generated pipelines
#
# Every step is trivial (`return x + 1`).  The source is written to a real
# file and imported, so inspect.getsource works (distill hashes step source).
# Type hints are on every function because Hamilton requires them.


def chain_names(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


def fanout_names(n: int) -> list[str]:
    return ["root"] + [f"f{i}" for i in range(1, n)]


def pipeline_source(shape: str, n: int, *, decorate: bool) -> str:
    """Source of a module with ``n`` step functions.

    shape "chain":  s0 -> s1 -> ... -> s{n-1}
    shape "fanout": root -> f1, root -> f2, ..., root -> f{n-1}

    With ``decorate`` the steps carry distill's ``@step``; without it they
    are plain functions (for the baseline, Hamilton, Kedro and dask).  The
    plain module also gets ``_plain()`` that calls every step in order with
    straight-line code (the baseline), and ``DEPS``: name -> list of inputs.
    """
    lines: list[str] = []
    if decorate:
        lines.append("from distill import step\n")
    deco = "@step\n" if decorate else ""
    deps: dict[str, list[str]] = {}
    if shape == "chain":
        lines.append(f"{deco}def s0() -> int:\n    return 1\n")
        deps["s0"] = []
        for i in range(1, n):
            lines.append(f"{deco}def s{i}(s{i - 1}: int) -> int:\n    return s{i - 1} + 1\n")
            deps[f"s{i}"] = [f"s{i - 1}"]
    elif shape == "fanout":
        lines.append(f"{deco}def root() -> int:\n    return 1\n")
        deps["root"] = []
        for i in range(1, n):
            lines.append(f"{deco}def f{i}(root: int) -> int:\n    return root + 1\n")
            deps[f"f{i}"] = ["root"]
    else:
        raise ValueError(shape)
    if not decorate:
        body = ["def _plain():", "    out = {}"]
        for name, ins in deps.items():
            args = ", ".join(f"out[{d!r}]" for d in ins)
            body.append(f"    out[{name!r}] = {name}({args})")
        body.append("    return out")
        lines.append("\n".join(body) + "\n")
        lines.append(f"DEPS = {deps!r}\n")
    return "\n".join(lines)


_tmp_root: Path | None = None


def tmp_root() -> Path:
    """One temp folder per benchmark process (removed at exit)."""
    global _tmp_root
    if _tmp_root is None:
        import atexit

        _tmp_root = Path(tempfile.mkdtemp(prefix="distill-bench-"))
        atexit.register(shutil.rmtree, _tmp_root, True)
    return _tmp_root


def write_old(path: Path, text: str, age: float = 60.0) -> None:
    """Write ``path`` and date it ``age`` seconds in the past.

    A source file in a real project was not written a split second before
    the run.  Tools that memoise by file time (as git's "racy clean" rule
    does) rightly distrust a file modified within the last second or two;
    dating the generated files back keeps that transient out of the figures.
    """
    path.write_text(text)
    t = time.time() - age
    os.utime(path, (t, t))


def import_generated(modname: str, source: str):
    d = tmp_root() / "modules"
    d.mkdir(exist_ok=True)
    write_old(d / f"{modname}.py", source)
    if str(d) not in sys.path:
        sys.path.insert(0, str(d))
    importlib.invalidate_caches()
    return importlib.import_module(modname)


# --------------------------------------------------------------------------
# the distill command line


def distill_cli() -> tuple[list[str], str]:
    """How to start the ``distill`` CLI, and the interpreter it runs on.

    Prefers the ``distill`` console script next to this interpreter, then
    the one on PATH; falls back to ``python -m distill``.  The interpreter is
    read from the script's shebang so that the ``python -c pass`` baseline
    uses the same interpreter as the CLI.
    """
    # This venv's bin, then the base interpreter's bin (a venv made with
    # --system-site-packages sees a distill installed there), then PATH.
    # A script whose shebang is not a Python interpreter (e.g. a pyenv
    # shim, a bash script) is skipped: it would add its own start-up time.
    candidates = [
        Path(sys.executable).parent / "distill",
        Path(sys.base_prefix) / "bin" / "distill",
    ]
    found = shutil.which("distill")
    if found:
        candidates.append(Path(found))
    for c in candidates:
        if not (c.is_file() and os.access(c, os.X_OK)):
            continue
        try:
            with open(c, "rb") as fh:
                first = fh.readline().decode(errors="replace").strip()
        except OSError:
            continue
        if not first.startswith("#!"):
            continue
        shebang = first[2:].strip().split()
        if shebang and "python" in Path(shebang[0]).name and Path(shebang[0]).exists():
            return [str(c)], shebang[0]
    return [sys.executable, "-m", "distill"], sys.executable


def distill_importable() -> bool:
    return importlib.util.find_spec("distill") is not None


def write_cli_project(folder: Path, shape: str, n: int) -> Path:
    """A distill project folder: pyproject.toml + benchpipe.py at its root."""
    folder.mkdir(parents=True, exist_ok=True)
    write_old(folder / "pyproject.toml", '[tool.distill]\npipeline = "benchpipe"\n')
    write_old(folder / "benchpipe.py", pipeline_source(shape, n, decorate=True))
    return folder
