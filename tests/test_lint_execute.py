"""Tests for ``distill.lint.execute``: fresh-kernel runs and the verdicts they give findings.

The notebooks are built here with nbformat's constructors, and the findings by hand, so the
tests depend neither on fixture files nor on the static rules. Real kernels are started
(nbclient + ipykernel, kernelspec ``python3``), four in all: the main notebook is run once
per module and judged many ways.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.lint.execute import (
    CellRun,
    Check,
    Execution,
    Verdict,
    check_findings,
    render_check,
    run_fresh,
)
from distill.lint.model import Finding
from distill.notebook.read import NotebookError

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient", reason="nbclient is not installed: pip install 'distill[execute]'")
pytest.importorskip("ipykernel", reason="ipykernel is not installed: pip install 'distill[execute]'")
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell  # noqa: E402 - after importorskip


def _has_python3_kernel() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return "python3" in KernelSpecManager().find_kernel_specs()


needs_kernel = pytest.mark.skipif(
    not _has_python3_kernel(),
    reason="no 'python3' Jupyter kernel: run `python -m ipykernel install --user`")

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

# Position in the list + 1 is the cell number lint uses (markdown and raw cells count).
MAIN_CELLS = [
    new_markdown_cell("# Analysis"),                                           # 1
    new_code_cell('data = open("data.txt").read().strip()'),                  # 2 relative path
    new_code_cell("y = x + 1"),                                               # 3 x defined in 4
    new_code_cell("x = 1"),                                                   # 4
    new_markdown_cell("## More"),                                             # 5
    new_code_cell("print(total_undefined)"),                                  # 6 defined nowhere
    new_code_cell("z = x * 2"),                                               # 7 runs fine
    new_code_cell("1 / 0\nprint(w)"),                                         # 8 fails before w
    new_code_cell("def f(:\n    pass"),                                       # 9 does not parse
    new_code_cell('eval("undefined_name")'),                                  # 10 no rule sees it
    new_code_cell("print(a_name, b_name)"),                                   # 11 two names
    new_code_cell("values = [1]\nvalue"),                                     # 12 "Did you mean"
    new_code_cell("def g():\n    counter += 1\ncounter = 0\ng()"),           # 13 Unbound
    new_raw_cell("raw text"),                                                 # 14
    new_code_cell('assert data == "hello from the folder", data'),            # 15
    new_code_cell(""),                                                        # 16 empty
    new_code_cell("print('skipped')", metadata={"tags": ["skip-execution"]}),  # 17
]


def finding(path: Path | str, cell: int | None, subject: str | None = "x",
            code: str = "DL103") -> Finding:
    return Finding(code=code, severity="error", message="...", path=str(path), cell=cell, line=1,
                   subject=subject)


def write_notebook(path: Path, cells: list[object], **metadata: object) -> Path:
    nb = new_notebook(cells=cells, metadata=metadata)
    nbformat.write(nb, str(path))
    return path


@dataclass(frozen=True)
class Main:
    path: Path
    before: bytes
    execution: Execution


@pytest.fixture(scope="module")
def main(tmp_path_factory: pytest.TempPathFactory) -> Main:
    if not _has_python3_kernel():
        pytest.skip("no 'python3' Jupyter kernel: run `python -m ipykernel install --user`")
    folder = tmp_path_factory.mktemp("main")
    (folder / "data.txt").write_text("hello from the folder\n")
    path = write_notebook(folder / "analysis.ipynb", MAIN_CELLS, kernelspec=KERNELSPEC)
    before = path.read_bytes()
    return Main(path=path, before=before, execution=run_fresh(path, cell_timeout=30))


# --------------------------------------------------------------------------- running


@needs_kernel
def test_statuses_cover_code_cells_only_numbered_among_all_cells(main: Main) -> None:
    runs = {run.number: (run.status, run.ename) for run in main.execution.cells}
    assert runs == {
        2: ("ok", None), 3: ("error", "NameError"), 4: ("ok", None),
        6: ("error", "NameError"), 7: ("ok", None), 8: ("error", "ZeroDivisionError"),
        9: ("error", "SyntaxError"), 10: ("error", "NameError"), 11: ("error", "NameError"),
        12: ("error", "NameError"), 13: ("error", "UnboundLocalError"), 15: ("ok", None),
        16: ("ok", None), 17: ("not-run", None),
    }
    assert main.execution.error is None
    assert main.execution.path == str(main.path)
    assert 0 < main.execution.elapsed < 60


@needs_kernel
def test_evalue_is_the_exception_message(main: Main) -> None:
    runs = {run.number: run for run in main.execution.cells}
    assert runs[3].evalue == "name 'x' is not defined"
    assert runs[12].evalue is not None and runs[12].evalue.startswith("name 'value' is not defined")
    assert runs[2].evalue is None


@needs_kernel
def test_kernel_runs_in_the_notebook_folder(main: Main) -> None:
    # Cell 2 opens data.txt by a relative path; cell 15 asserts what it read.
    runs = {run.number: run for run in main.execution.cells}
    assert runs[2].status == "ok" and runs[15].status == "ok"


@needs_kernel
def test_file_on_disk_is_unchanged(main: Main) -> None:
    assert main.path.read_bytes() == main.before
    assert sorted(p.name for p in main.path.parent.iterdir()) == ["analysis.ipynb", "data.txt"]


@needs_kernel
def test_cell_timeout_stops_the_run_and_later_cells_do_not_run(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "slow.ipynb", [
        new_code_cell("import time"),
        new_markdown_cell("wait"),
        new_code_cell("time.sleep(60)"),
        new_code_cell("print('after')"),
    ])
    execution = run_fresh(path, cell_timeout=1.5, kernel_name="python3")
    assert [(run.number, run.status) for run in execution.cells] == [
        (1, "ok"), (3, "timeout"), (4, "not-run")]
    assert execution.error is None  # one slow cell is not a failure of the run as a whole
    assert execution.elapsed < 20   # the busy kernel is killed, not waited for
    check = check_findings([finding(path, 3, code="DL104"), finding(path, 4)], execution)
    assert [(v.outcome, v.detail) for v in check.verdicts] == [
        ("undetermined", "the cell timed out before finishing"),
        ("undetermined", ("the cell did not run: an earlier cell timed out, or it is tagged "
                          "skip-execution")),
    ]


@needs_kernel
def test_total_budget_running_out_is_an_execution_error(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "budget.ipynb", [
        new_code_cell("import time\ntime.sleep(60)"),
        new_code_cell("print('after')"),
    ])
    execution = run_fresh(path, timeout=5, kernel_name="python3")
    assert [run.status for run in execution.cells] == ["timeout", "not-run"]
    assert execution.error == "the 5s budget ran out in cell 1"
    assert execution.elapsed < 20


@needs_kernel
def test_kernel_death_is_recorded_and_earlier_cells_keep_their_status(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "dies.ipynb", [
        new_code_cell("print(nope)"),
        new_code_cell("import os\nos._exit(1)"),
        new_code_cell("print('after')"),
    ])
    execution = run_fresh(path, kernel_name="python3", timeout=60)
    assert [(run.status, run.ename) for run in execution.cells] == [
        ("error", "NameError"), ("error", "DeadKernelError"), ("not-run", None)]
    assert execution.error is not None and "the kernel died in cell 2" in execution.error
    check = check_findings([finding(path, 1, "nope", "DL104"), finding(path, 3, "after")],
                           execution)
    assert [v.outcome for v in check.verdicts] == ["confirmed", "undetermined"]
    assert "the kernel died in cell 2" in check.verdicts[1].detail
    assert check.missed == ()  # a dead kernel is not a NameError no rule predicted


def test_unknown_kernel_is_an_execution_error_and_no_cell_runs(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", [new_markdown_cell("m"), new_code_cell("1")])
    execution = run_fresh(path, kernel_name="no-such-kernel-xyz")
    assert execution.cells == (CellRun(2, "not-run"),)
    assert execution.error is not None
    assert re.match(rf"{re.escape(str(path))}: the kernel 'no-such-kernel-xyz' is not installed "
                    r"\(installed: .*\); pass another kernel name", execution.error)
    check = check_findings([finding(path, 2, code="DL104")], execution)
    assert check.verdicts[0].outcome == "undetermined"
    assert check.verdicts[0].detail == f"the cell did not run: {execution.error}"


def test_kernel_that_dies_on_start_reports_its_stderr(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "jupyter" / "kernels" / "broken"
    spec.mkdir(parents=True)
    script = "import sys; sys.stderr.write('boom: no ipykernel here\\n'); sys.exit(3)"
    argv = [sys.executable, "-c", script, "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    path = write_notebook(tmp_path / "nb.ipynb", [new_code_cell("1")])
    execution = run_fresh(path, kernel_name="broken", timeout=30)
    assert execution.cells == (CellRun(1, "not-run"),)
    assert execution.error is not None
    assert execution.error.startswith(f"{path}: the kernel 'broken' could not start: ")
    assert "boom: no ipykernel here" in execution.error
    assert execution.elapsed < 25


def test_missing_nbclient_says_what_to_install(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nbclient", None)
    with pytest.raises(DistillError, match="needs nbclient") as info:
        run_fresh(tmp_path / "nb.ipynb")
    assert info.value.hint == 'pip install "distill[execute]"'
    assert info.value.exit_code == 2


def test_missing_ipykernel_says_what_to_install(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipykernel", None)
    with pytest.raises(DistillError, match="needs ipykernel") as info:
        run_fresh(tmp_path / "nb.ipynb")
    assert info.value.hint == 'pip install "distill[execute]"'


def test_unreadable_notebook_raises_the_reader_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [,]}')
    with pytest.raises(NotebookError, match=r"is not valid JSON: .* at line 1, column 12"):
        run_fresh(path)
    with pytest.raises(NotebookError, match="no such file"):
        run_fresh(tmp_path / "missing.ipynb")


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"cell_timeout": -1.0}])
def test_timeouts_must_be_positive(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(DistillError, match="must be a positive number of seconds"):
        run_fresh(tmp_path / "nb.ipynb", **kwargs)


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    cell: int | None
    subject: str | None
    outcome: str
    detail: str  # a regular expression the detail must match in full


CASES = [
    Case("use-before-define", "DL103", 3, "x", "confirmed", r"NameError: name 'x' is not defined"),
    Case("defined-nowhere", "DL104", 6, "total_undefined", "confirmed",
         r"NameError: name 'total_undefined' is not defined"),
    Case("wrong-finding", "DL103", 7, "x", "refuted",
         r"cell ran without error in a fresh kernel; NameError for 'x' surfaced in cell 3"),
    Case("wrong-finding-elsewhere-clean", "DL104", 4, "x_free", "refuted",
         r"cell ran without error in a fresh kernel"),
    Case("other-error-first", "DL104", 8, "w", "undetermined",
         r"the cell raised ZeroDivisionError: division by zero; no NameError for 'w' was seen"),
    Case("syntax", "DL002", 9, None, "confirmed", r"SyntaxError: .*"),
    Case("syntax-runtime-error-means-it-parsed", "DL002", 8, None, "refuted",
         r"the cell parsed and ran; it raised ZeroDivisionError: division by zero"),
    Case("syntax-ran-fine", "DL002", 7, None, "refuted", r"cell ran without error in a fresh kernel"),
    Case("name-in-unparsable-cell", "DL103", 9, "f", "undetermined",
         r"the cell did not parse \(SyntaxError: .*\), so none of it ran"),
    Case("first-of-two-names", "DL104", 11, "a_name", "confirmed",
         r"NameError: name 'a_name' is not defined"),
    Case("second-of-two-names", "DL104", 11, "b_name", "undetermined",
         r"the cell raised NameError: name 'a_name' is not defined; a cell raises one exception, "
         r"so whether 'b_name' is defined was not seen"),
    Case("did-you-mean-names-the-missing-name", "DL104", 12, "value", "confirmed",
         r"NameError: name 'value' is not defined.*"),
    Case("did-you-mean-suggestion-is-not-the-subject", "DL104", 12, "values", "undetermined",
         r"the cell raised NameError: .*so whether 'values' is defined was not seen"),
    Case("unbound-local", "DL103", 13, "counter", "confirmed",
         r"UnboundLocalError: cannot access local variable 'counter'.*"),
    Case("markdown-cell", "DL104", 1, "x", "undetermined", r"cell 1 is not a code cell of the run"),
    Case("no-cell", "DL104", None, "x", "undetermined", r"the finding names no cell"),
    Case("skip-tag", "DL104", 17, "x", "undetermined",
         r"the cell did not run: an earlier cell timed out, or it is tagged skip-execution"),
]


@needs_kernel
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_verdict(main: Main, case: Case) -> None:
    check = check_findings([finding(main.path, case.cell, case.subject, case.code)],
                           main.execution)
    (verdict,) = check.verdicts
    assert (verdict.outcome, verdict.finding.cell) == (case.outcome, case.cell)
    assert re.fullmatch(case.detail, verdict.detail), verdict.detail


def main_findings(path: Path) -> list[Finding]:
    """Six confirmed, three refuted, five undetermined, one ignored (DL201)."""
    return [
        finding(path, 3),                                   # confirmed
        finding(path, 6, "total_undefined", "DL104"),      # confirmed
        finding(path, 7),                                   # refuted
        finding(path, 7, None, "DL002"),                    # refuted
        finding(path, 8, "w", "DL104"),                     # undetermined
        finding(path, 8, None, "DL002"),                    # refuted
        finding(path, 9, None, "DL002"),                    # confirmed
        finding(path, 9, "f"),                              # undetermined
        finding(path, 11, "a_name", "DL104"),              # confirmed
        finding(path, 11, "b_name", "DL104"),              # undetermined
        finding(path, 12, "values", "DL104"),              # undetermined
        finding(path, 12, "value", "DL104"),               # confirmed
        finding(path, 13, "counter"),                       # confirmed
        finding(path, 1, "x", "DL104"),                     # undetermined
        finding(path, 4, "x", "DL201"),                     # not confirmable: ignored
    ]


@needs_kernel
def test_check_counts_precision_and_missed(main: Main) -> None:
    check = check_findings(main_findings(main.path), main.execution)
    assert len(check.verdicts) == 14
    assert all(v.finding.code != "DL201" for v in check.verdicts)
    assert [v.finding.cell for v in check.verdicts] == sorted(v.finding.cell or 0
                                                               for v in check.verdicts)
    assert check.counts == {"confirmed": 6, "refuted": 3, "undetermined": 5}
    assert check.precision == pytest.approx(6 / 9)
    # eval("undefined_name") in cell 10 raised a NameError that no finding points at.
    assert [(run.number, run.ename) for run in check.missed] == [(10, "NameError")]


@needs_kernel
def test_render_check_rows_and_summary(main: Main) -> None:
    text = render_check(check_findings(main_findings(main.path), main.execution))
    lines = text.splitlines()
    assert lines[0].startswith(f"{main.path}: 14 code cells run in a fresh kernel in ")
    assert re.search(r"\(5 ok, 8 error, 1 not-run\)$", lines[0])
    assert re.match(r"cell\s+code\s+subject\s+outcome\s+detail$", lines[1])
    rows = "\n".join(lines[2:-1])
    assert re.search(r"^\s+3  DL103\s+x\s+confirmed\s+NameError: name 'x' is not defined$",
                     rows, re.MULTILINE)
    assert re.search(r"^\s+7  DL002\s+-\s+refuted\s+cell ran without error", rows, re.MULTILINE)
    assert re.search(r"^\s+8  DL104\s+w\s+undetermined\s+the cell raised ZeroDivisionError",
                     rows, re.MULTILINE)
    assert re.search(r"^\s*10  -\s+undefined_name\s+missed\s+NameError: name 'undefined_name' "
                     r"is not defined$", rows, re.MULTILINE)
    assert "DL201" not in text
    assert lines[-1] == ("6 confirmed, 3 refuted, 5 undetermined; precision 67%; "
                         "1 failure no rule predicted")


# --------------------------------------------------------------------------- no kernel


def fake_execution(*runs: CellRun, error: str | None = None) -> Execution:
    return Execution(path="nb.ipynb", cells=runs, elapsed=1.5, error=error)


def test_precision_arithmetic() -> None:
    execution = fake_execution()
    f = finding("nb.ipynb", 1)

    def check(*outcomes: str) -> Check:
        verdicts = tuple(Verdict(f, outcome, "") for outcome in outcomes)  # type: ignore[arg-type]
        return Check(execution=execution, verdicts=verdicts, missed=())

    assert check().precision is None
    assert check("undetermined", "undetermined").precision is None
    assert check("confirmed").precision == 1.0
    assert check("refuted").precision == 0.0
    assert check("confirmed", "confirmed", "confirmed", "refuted", "undetermined").precision == 0.75


def test_summary_when_nothing_is_decided() -> None:
    execution = fake_execution(CellRun(1, "ok"), CellRun(2, "error", "IndentationError",
                                                         "unexpected indent (x.py, line 1)"))
    check = check_findings([finding("nb.ipynb", 3, "x", "DL999")], execution)
    assert check.verdicts == ()
    assert [run.number for run in check.missed] == [2]
    assert render_check(check).splitlines()[-1] == (
        "0 confirmed, 0 refuted, 0 undetermined; precision n/a; 1 failure no rule predicted")
    empty = render_check(check_findings([], fake_execution(CellRun(1, "ok"))))
    assert empty.splitlines() == [
        "nb.ipynb: 1 code cell run in a fresh kernel in 1.5s (1 ok)",
        "no confirmable findings (DL002, DL103, DL104) and no unpredicted failures",
        "0 confirmed, 0 refuted, 0 undetermined; precision n/a; 0 failures no rule predicted",
    ]


def test_findings_for_another_notebook_are_undetermined() -> None:
    execution = fake_execution(CellRun(1, "error", "NameError", "name 'x' is not defined"))
    check = check_findings([finding("other.ipynb", 1)], execution)
    assert check.verdicts[0].outcome == "undetermined"
    assert check.verdicts[0].detail == "the finding is about other.ipynb, the run was of nb.ipynb"
    assert [run.number for run in check.missed] == [1]


def test_execution_error_is_rendered() -> None:
    execution = fake_execution(CellRun(2, "not-run"), error="nb.ipynb: the kernel died")
    lines = render_check(check_findings([finding("nb.ipynb", 2)], execution)).splitlines()
    assert lines[1] == "error: nb.ipynb: the kernel died"
    assert re.match(r"\s+2  DL103\s+x\s+undetermined\s+the cell did not run: nb.ipynb: the kernel "
                    r"died$", lines[3])


def test_name_error_after_an_earlier_failure_is_a_cascade_not_a_miss(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "cascade.ipynb", [new_code_cell("df = 1 / 0"), new_code_cell("print(df)"),
                                                       new_code_cell("print(other)")])
    execution = Execution(path=str(path), elapsed=1.0, cells=(
        CellRun(1, "error", "ZeroDivisionError", "division by zero"),
        CellRun(2, "error", "NameError", "name 'df' is not defined"),
        CellRun(3, "error", "NameError", "name 'other' is not defined"),
    ))
    check = check_findings([], execution)
    assert [run.number for run in check.cascades] == [2]
    assert [run.number for run in check.missed] == [3]
    assert render_check(check).endswith("1 failure no rule predicted; 1 caused by an earlier failing cell")


# -- the gate: `distill lint --execute` exit codes -------------------------------------------------


def _lint_cli(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from distill.cli.main import cli

    result = CliRunner().invoke(cli, ["lint", *args])
    return result.exit_code, result.output


def _write(path: Path, sources: list[str]) -> Path:
    notebook = new_notebook(cells=[new_code_cell(s) for s in sources], metadata={"kernelspec": KERNELSPEC})
    path.write_text(json.dumps(notebook))
    return path


@needs_kernel
def test_execute_gate_fails_on_a_confirmed_finding(tmp_path: Path) -> None:
    path = _write(tmp_path / "confirmed.ipynb", ["y = x + 1", "x = 1"])
    code, out = _lint_cli(str(path), "--execute")
    assert "DL103" in out and "confirmed" in out
    assert code == 1


@needs_kernel
def test_execute_gate_passes_when_the_run_refutes_every_failing_finding(tmp_path: Path) -> None:
    # The static analysis cannot see a name planted in builtins; the fresh run shows it exists.
    path = _write(tmp_path / "refuted.ipynb", ["import builtins\nbuiltins.planted = 1", "print(planted)"])
    static_code, static_out = _lint_cli(str(path))
    assert static_code == 1 and "DL104" in static_out
    code, out = _lint_cli(str(path), "--execute")
    assert "refuted" in out
    assert code == 0, out


@needs_kernel
def test_execute_gate_still_fails_on_findings_a_run_cannot_judge(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "shell.ipynb", ["import builtins\nbuiltins.planted = 1", "print(planted)", "!echo hi"]
    )
    code, out = _lint_cli(str(path), "--execute")
    assert "DL303" in out and "refuted" in out
    assert code == 1  # the shell escape is not something a run refutes
