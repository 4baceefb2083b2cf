"""`distill lint` as a CI gate: exit codes, config, suppression, formats, output files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from distill.cli.main import cli
from distill.errors import DistillError
from distill.lint.engine import discover, lint_paths, load_config
from distill.lint.rules import RULES
from lint_helpers import lint_cells, write_notebook


def lint(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["lint", *args])
    return result.exit_code, result.output


def test_clean_notebook_exits_0(tmp_path: Path) -> None:
    write_notebook(tmp_path / "ok.ipynb", ["import json", "print(json.dumps(1))"])
    code, out = lint(str(tmp_path))
    assert code == 0, out
    assert "All checks passed: 1 notebook." in out


def test_findings_exit_1_and_fail_on_moves_the_bar(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb.ipynb", ["import json", "!ls"])  # DL303 is a warning
    assert lint(str(tmp_path))[0] == 1
    assert lint(str(tmp_path), "--fail-on", "error")[0] == 0


def test_unreadable_exits_2_and_a_notebook_in_another_language_is_an_info_finding(tmp_path: Path) -> None:
    (tmp_path / "broken.ipynb").write_text("{")
    code, out = lint(str(tmp_path / "broken.ipynb"))
    assert code == 2 and "DL000 [error] is not valid JSON" in out
    write_notebook(tmp_path / "r" / "r.ipynb", ["x <- 1"], language="R")
    code, out = lint(str(tmp_path / "r"))
    assert code == 0 and "DL001 [info] the kernel language is R" in out
    # Named explicitly, as a pre-commit hook passes it: still not a failure.
    assert lint(str(tmp_path / "r" / "r.ipynb"))[0] == 0
    assert lint(str(tmp_path / "r"), "--fail-on", "info")[0] == 1


def test_a_commit_of_an_r_notebook_and_a_python_one_fails_only_on_the_python_findings(tmp_path: Path) -> None:
    r = write_notebook(tmp_path / "r.ipynb", ["x <- 1"], language="R")
    ok = write_notebook(tmp_path / "ok.ipynb", ["import json", "print(json.dumps(1))"])
    bad = write_notebook(tmp_path / "bad.ipynb", ["print(undefined_name)"])
    assert lint(str(r), str(ok))[0] == 0
    assert lint(str(r), str(bad))[0] == 1


def test_an_explicit_path_that_is_not_a_notebook_exits_2(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text("print(1)\n")
    code, out = lint(str(tmp_path / "script.py"))
    assert code == 2
    assert "script.py: not a notebook (expected a .ipynb file)" in out


def test_missing_path_and_unknown_code_are_usage_errors(tmp_path: Path) -> None:
    code, out = lint(str(tmp_path / "nope"))
    assert code == 2 and "no such file or folder" in out
    write_notebook(tmp_path / "nb.ipynb", ["x = 1"])
    code, out = lint(str(tmp_path), "--select", "DL9")
    assert code == 2 and "--select 'DL9' matches no rule" in out


def test_select_by_prefix_and_name_ignore_by_code(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb.ipynb", ["print(x)", "!ls"])
    assert {f.code for f in lint_paths([tmp_path], load_config(tmp_path, select=["DL1"])).findings} == {"DL104"}
    assert {f.code for f in lint_paths([tmp_path], load_config(tmp_path, select=["shell-escape"])).findings} == {"DL303"}
    assert {f.code for f in lint_paths([tmp_path], load_config(tmp_path, ignore=["DL104,DL201"])).findings} == {"DL303"}


def test_pyproject_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.distill.lint]\nignore = ["DL201"]\nfail-on = "error"\nseverity = { DL303 = "info" }\n'
        'exclude = ["scratch/*"]\n')
    write_notebook(tmp_path / "nb.ipynb", ["import pandas", "!ls"])
    write_notebook(tmp_path / "scratch" / "x.ipynb", ["print(undefined)"])
    result = lint_paths([tmp_path])
    assert [(f.code, f.severity) for f in result.findings] == [("DL303", "info")]
    assert result.exit_code == 0
    assert [p.name for p in discover([tmp_path], ["scratch/*"])] == ["nb.ipynb"]


@pytest.mark.parametrize(("text", "message"), [
    ('[tool.distill.lint]\nfail-on = "fatal"\n', "'fatal' is not a severity"),
    ('[tool.distill.lint]\nselct = ["DL1"]\n', "unknown key 'selct'"),
    ('[tool.distill.lint]\nignore = "DL99"\n', "ignore 'DL99' matches no rule"),
    ('[tool.distill.lint]\nmax-output-kb = -1\n', "expected a positive whole number"),
])
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(DistillError, match=message) as info:
        load_config(tmp_path)
    assert "pyproject.toml" in str(info.value)


def test_cell_comment_suppresses(tmp_path: Path) -> None:
    report = lint_cells(tmp_path, ["print(x)  # distill: ignore[DL104]", "print(y)  # distill: ignore", "print(z)",
                                   "print(w)  # distill: ignore[undefined-name]"])
    assert [(f.code, f.cell) for f in report.findings] == [("DL104", 3)]
    assert report.suppressed == 3


def test_sarif_output_file_is_written_whole(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb.ipynb", ["print(x)"])
    out = tmp_path / "reports" / "lint.sarif"
    code, _ = lint(str(tmp_path / "nb.ipynb"), "--format", "sarif", "-o", str(out))
    assert code == 1
    sarif = json.loads(out.read_text())
    [result] = sarif["runs"][0]["results"]
    assert result["ruleId"] == "DL104" and result["locations"][0]["physicalLocation"]["region"]["startLine"] > 1
    assert [p.name for p in out.parent.iterdir()] == ["lint.sarif"]


def test_json_and_github_formats(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb.ipynb", ["print(x)"])
    code, out = lint(str(tmp_path / "nb.ipynb"), "--format", "json")
    data = json.loads(out)
    assert data["summary"]["exit_code"] == code == 1
    assert data["files"][0]["findings"][0]["subject"] == "x"
    code, out = lint(str(tmp_path / "nb.ipynb"), "--format", "github")
    assert out.startswith("::error file=") and "title=DL104" in out


def test_list_rules_and_show_fixes(tmp_path: Path) -> None:
    code, out = lint("--list-rules")
    assert code == 0 and "DL103  use-before-define" in out and len(out.splitlines()) == len(RULES)
    write_notebook(tmp_path / "nb.ipynb", ["print(x)"])
    _, out = lint(str(tmp_path), "--show-fixes")
    assert "why: A fresh kernel raises NameError here" in out


def test_pre_commit_hook_definition() -> None:
    import yaml

    hooks = yaml.safe_load((Path(__file__).parents[1] / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "distill-lint"]
    assert hook["entry"].startswith("distill lint") and hook["types"] == ["jupyter"]
