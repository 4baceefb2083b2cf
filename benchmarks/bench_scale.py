"""Large graphs: planning and running N trivial steps (default 100,000).

The pipeline is a package of modules, 1,000 steps a module; each module is a chain, and the
first step of module k reads the last step of module k-1, so the whole graph is one chain of
N steps spread over N/1000 files (as a big project spreads its steps).

Rows (wall time, one process each, interpreter start excluded unless said):
  plan, cold            `distill.status()` on a project with no store: every module parsed,
                        every closure computed, every step keyed ("never ran")
  plan, warm            the same again in a new process: module records from the memo file
  distill status CLI    `distill status -C DIR` as a subprocess, warm, start included
  build Pipeline        `Pipeline.from_module(...)` over the imported modules
  run, cache off        `Pipeline.run(cache=False)`: every step called in-process

Targets (issue figures): planned in <= 10 s, run with the cache off in <= 30 s at N=100,000.

Usage:  python benchmarks/bench_scale.py [--steps 100000] [--per-module 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TARGET_PLAN = 10.0
TARGET_RUN = 30.0


def write_project(root: Path, steps: int, per_module: int) -> list[str]:
    pkg = root / "src" / "bigpipe"
    pkg.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.distill]\npipeline = "bigpipe"\n')
    (pkg / "__init__.py").write_text("")
    modules = []
    past = time.time() - 120
    for m in range(0, steps, per_module):
        name = f"m{m // per_module:04d}"
        lines = ["from distill import step", ""]
        for i in range(m, min(m + per_module, steps)):
            if i == 0:
                lines += ["@step", "def s0() -> int:", "    return 0", ""]
            else:
                lines += ["@step", f"def s{i}(s{i - 1}: int) -> int:", f"    return s{i - 1} + 1", ""]
        path = pkg / f"{name}.py"
        path.write_text("\n".join(lines))
        os.utime(path, (past, past))
        modules.append(f"bigpipe.{name}")
    return modules


def in_subprocess(code: str, root: Path) -> float:
    """Seconds a snippet takes in a fresh interpreter (timed inside it, start excluded)."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(root / "src")!r})
        t = time.perf_counter()
        {code}
        print(time.perf_counter() - t)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--per-module", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="distill-scale-"))
    try:
        modules = write_project(root, args.steps, args.per_module)
        n = args.steps
        print(f"N={n} steps in {len(modules)} modules; python {sys.version.split()[0]}; load {os.getloadavg()}")
        status = f"import distill; plans = distill.status(project={str(root)!r}); assert len(plans) == {n}"
        cold = in_subprocess(status, root)
        warm = in_subprocess(status, root)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "distill", "status", "-C", str(root)], capture_output=True, check=True)
        cli = time.perf_counter() - started
        imports = "; ".join(f"import {m}" for m in modules)
        build = in_subprocess(
            f"{imports}\n        import distill\n        mods = [sys.modules[m] for m in {modules!r}]\n"
            "        pipe = distill.Pipeline.from_module(*mods)",
            root,
        )
        run = in_subprocess(
            f"{imports}\n        import distill\n        mods = [sys.modules[m] for m in {modules!r}]\n"
            "        pipe = distill.Pipeline.from_module(*mods)\n"
            f"        out = pipe.run(cache=False)\n        assert out['s{n - 1}'] == {n - 1}",
            root,
        )
        rows = [
            ("plan, cold (distill.status)", cold, TARGET_PLAN),
            ("plan, warm (distill.status)", warm, TARGET_PLAN),
            ("distill status CLI, warm, start included", cli, None),
            ("build Pipeline.from_module", build, None),
            ("build + run, cache off", run, TARGET_RUN),
        ]
        print(f"{'measure':<44} {'seconds':>9} {'us/step':>9}  target")
        for label, seconds, target in rows:
            verdict = "" if target is None else f"<= {target:g} s: {'met' if seconds <= target else 'NOT MET'}"
            print(f"{label:<44} {seconds:>9.2f} {seconds / n * 1e6:>9.1f}  {verdict}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
