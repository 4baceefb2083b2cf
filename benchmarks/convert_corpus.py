"""Convert every notebook of the development corpus and check the code a reviewer would see.

    python benchmarks/convert_corpus.py [--corpus ../shared/corpus/notebooks] [--out DIR] [--no-tests]

For each notebook: converted or refused (the first reason), then for each project: `ruff check`
with ruff's default rules (`--isolated`), the generated tests (`python -m pytest -q` in the
project, after `distill run`), and the longest name convert made up. Ends with the counts over
the notebooks that are Python 3 (the list of those left out, with why, is in
tests/test_convert_corpus.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from distill.convert.project import ConversionRefused, build_project, convert
    from distill.notebook.read import NotebookError
    from test_convert_corpus import NOT_PYTHON_3, _made_up_names

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "notebooks")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "convert-corpus")
    parser.add_argument("--no-tests", action="store_true", help="skip running each project's generated tests")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    shutil.rmtree(args.out, ignore_errors=True)
    python3 = converted = clean = tested = ran = 0
    missing: list[str] = []
    longest = ("", 0)
    for path in sorted(args.corpus.glob("*.ipynb")):
        counted = path.name not in NOT_PYTHON_3
        project = args.out / path.stem
        try:
            _, plan, _ = build_project(path, "nb")
            convert(path, project, name="nb")
        except ConversionRefused as exc:
            python3 += counted
            print(f"refused    {path.name}: {exc.refusals[0].reason[:100]}")
            continue
        except NotebookError:
            continue
        python3 += counted
        converted += counted
        names = _made_up_names(plan)
        name = max(names, key=len, default="")
        if len(name) > longest[1]:
            longest = (f"{name} ({path.name})", len(name))
        # NB: from the project's folder, as its reviewer would: ruff tells first party by where it runs
        ruff = subprocess.run(["ruff", "check", "--isolated", "--no-cache", "-q", "."], cwd=project,
                              capture_output=True, text=True)
        clean += counted and ruff.returncode == 0
        status = "ruff ok" if ruff.returncode == 0 else f"ruff: {ruff.stdout.count(chr(10))} lines"
        if not args.no_tests:
            env = {**os.environ, "MPLBACKEND": "Agg"}
            run = subprocess.run([sys.executable, "-m", "distill", "run", "-q"], cwd=project, env=env,
                                 capture_output=True, text=True, timeout=900)
            tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                                   env=env, capture_output=True, text=True, timeout=900)
            ran += counted and run.returncode == 0
            tested += counted and tests.returncode in (0, 5)
            last = (tests.stdout.strip().splitlines() or [""])[-1]
            status += f", run {run.returncode}, tests {last[:60]}"
            absent = re.search(r"No module named '([\w.]+)'", tests.stdout)
            if tests.returncode not in (0, 5) and absent:
                missing.append(f"{path.stem[:40]} ({absent.group(1)})")
                status += f" (not installed here: {absent.group(1)})"
        print(f"converted  {path.name}: {status}")
    print(f"\nPython 3 notebooks: {python3}; converted {converted} ({converted / max(python3, 1):.0%}); "
          f"ruff-clean {clean}")
    if not args.no_tests:
        # NB: the development corpus ships without its data files, so most runs fail on a missing file;
        #     the generated tests skip what nothing recorded (verify records it)
        print(f"`distill run` succeeded: {ran}; generated tests passed: {tested} of {converted}"
              + (f"; could not import a dependency not installed here: {', '.join(missing)}" if missing else ""))
    print(f"longest made-up name: {longest[1]} characters, {longest[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
