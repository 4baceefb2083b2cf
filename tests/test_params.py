"""Run parameters: layering, overlays, typing, paths, and what a changed param re-runs.

Values are checked on the receiving end: each step returns what it was given, and the
test reads it back with ``distill.load`` after ``distill.run`` (or ``distill run``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import distill
from distill.errors import StaleError, ValidationError
from helpers_validation import isolated_imports, make_project, run_cli  # noqa: F401

ECHO_PIPE = """
from distill import step

@step
def echo(window: int = 1, horizon: int = 10):
    return {"window": window, "horizon": horizon}
"""


def _run_ok(project: Path, **kwargs: Any) -> Any:
    result = distill.run(project=project, **kwargs)
    failures = {n: r.error for n, r in result.steps.items() if r.status != "ran" and r.status != "cached"}
    assert result.ok, failures
    return result


# -- precedence -------------------------------------------------------------------------------

PRECEDENCE = [
    # id, params.yaml, params.prod.yaml, env, overrides, expected
    ("signature-defaults", None, None, None, None, {"window": 1, "horizon": 10}),
    ("params-yaml-over-default", "window: 2\nhorizon: 20\n", None, None, None, {"window": 2, "horizon": 20}),
    ("env-over-params-yaml", "window: 2\nhorizon: 20\n", "window: 3\n", "prod", None, {"window": 3, "horizon": 20}),
    ("env-file-ignored-without-env", "window: 2\nhorizon: 20\n", "window: 3\n", None, None, {"window": 2, "horizon": 20}),
    ("env-without-params-yaml", None, "window: 3\n", "prod", None, {"window": 3, "horizon": 10}),
    ("set-over-env", "window: 2\nhorizon: 20\n", "window: 3\n", "prod", {"window": 4}, {"window": 4, "horizon": 20}),
    ("set-over-params-yaml", "window: 2\nhorizon: 20\n", None, None, {"horizon": 40}, {"window": 2, "horizon": 40}),
    ("set-over-default", None, None, None, {"horizon": 40}, {"window": 1, "horizon": 40}),
    ("set-everything", "window: 2\nhorizon: 20\n", "window: 3\nhorizon: 30\n", "prod", {"window": 4, "horizon": 40}, {"window": 4, "horizon": 40}),
]


@pytest.mark.parametrize(
    ("params_yaml", "prod_yaml", "env", "overrides", "expected"),
    [p[1:] for p in PRECEDENCE],
    ids=[p[0] for p in PRECEDENCE],
)
def test_precedence_default_params_env_set(
    tmp_path: Path,
    params_yaml: str | None,
    prod_yaml: str | None,
    env: str | None,
    overrides: dict[str, int] | None,
    expected: dict[str, int],
) -> None:
    project = make_project(
        tmp_path / "proj", ECHO_PIPE, params=params_yaml, env_params={"prod": prod_yaml} if prod_yaml else None
    )

    result = _run_ok(project, params=overrides, env=env)

    assert result.steps["echo"].status == "ran"
    assert distill.load("echo", project=project, params=overrides, env=env) == expected


def test_precedence_through_the_cli(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "proj", ECHO_PIPE, params="window: 2\nhorizon: 20\n", env_params={"prod": "window: 3\n"}
    )

    proc = run_cli("run", "-C", str(project), "--env", "prod", "--set", "window=5")

    assert proc.returncode == 0, proc.stderr
    assert distill.load("echo", project=project, params={"window": 5}, env="prod") == {"window": 5, "horizon": 20}
    # The same project without the override wants window=3: never computed, so stale.
    with pytest.raises(StaleError, match="never ran|param window"):
        distill.load("echo", project=project, env="prod")


def test_params_are_part_of_the_cache_key(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", ECHO_PIPE)

    assert _run_ok(project, params={"window": 2}).steps["echo"].status == "ran"
    assert _run_ok(project, params={"window": 3}).steps["echo"].status == "ran"
    assert _run_ok(project, params={"window": 2}).steps["echo"].status == "cached"
    assert distill.load("echo", project=project, params={"window": 2})["window"] == 2
    assert distill.load("echo", project=project, params={"window": 3})["window"] == 3


# -- --env with a missing overlay ------------------------------------------------------------


def test_env_without_its_file_is_an_error_api(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", ECHO_PIPE, params="window: 2\n", env_params={"prod": "window: 3\n"})

    with pytest.raises(ValidationError, match=re.escape("--env staging: params.staging.yaml does not exist")) as info:
        distill.run(project=project, env="staging")

    assert info.value.codes == ["params-file"]
    assert info.value.problems[0].where == "params.staging.yaml"
    assert not (project / ".distill" / "index.db").exists()


@pytest.mark.parametrize("command", ["run", "status"], ids=["run", "status"])
def test_env_without_its_file_is_an_error_cli(tmp_path: Path, command: str) -> None:
    project = make_project(tmp_path / "proj", ECHO_PIPE, params="window: 2\n")

    proc = run_cli(command, "-C", str(project), "--env", "staging")

    assert proc.returncode == 2, proc.stderr
    assert "--env staging: params.staging.yaml does not exist" in proc.stderr
    assert "create params.staging.yaml or drop --env" in proc.stderr


def test_invalid_params_yaml_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", ECHO_PIPE, params="- window\n- 2\n")

    with pytest.raises(ValidationError, match="expected a mapping of param names to values, found list") as info:
        distill.run(project=project)

    assert info.value.codes == ["params-file"]


# -- a changed param re-runs only the steps that use it ---------------------------------------

CHAIN_PIPE = """
from distill import step

@step
def raw():
    return [3, 1, 4, 1, 5]

@step
def clean(raw):
    return sorted(raw)

@step
def features(clean, window: int = 7):
    return clean[:window]

@step
def report(features):
    return sum(features)
"""

RERUN = [
    # id, new window, expected features, status of report
    ("output-changes", 2, [1, 1], "ran"),
    ("output-unchanged", 14, [1, 1, 3, 4, 5], "cached"),  # 7 and 14 both keep all 5 values
]


@pytest.mark.parametrize(("window", "features", "report_status"), [r[1:] for r in RERUN], ids=[r[0] for r in RERUN])
def test_set_reruns_only_the_steps_using_the_param(
    tmp_path: Path, window: int, features: list[int], report_status: str
) -> None:
    project = make_project(tmp_path / "proj", CHAIN_PIPE)

    first = _run_ok(project)
    assert {n: r.status for n, r in first.steps.items()} == dict.fromkeys(("raw", "clean", "features", "report"), "ran")

    second = _run_ok(project, params={"window": window})

    statuses = {n: r.status for n, r in second.steps.items()}
    assert statuses == {"raw": "cached", "clean": "cached", "features": "ran", "report": report_status}
    assert distill.load("features", project=project, params={"window": window}) == features
    assert distill.load("report", project=project, params={"window": window}) == sum(features)

    third = _run_ok(project, params={"window": window})
    assert {r.status for r in third.steps.values()} == {"cached"}


def test_default_value_is_unchanged_by_a_same_value_override(tmp_path: Path) -> None:
    # --set window=7 equals the default: nothing is stale.
    project = make_project(tmp_path / "proj", CHAIN_PIPE)
    _run_ok(project)

    again = _run_ok(project, params={"window": 7})

    assert {r.status for r in again.steps.values()} == {"cached"}


def _status_json(project: Path, *args: str) -> dict[str, dict[str, Any]]:
    proc = run_cli("status", "-C", str(project), "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return {entry["step"]: entry for entry in json.loads(proc.stdout)}


@pytest.mark.parametrize("how", ["edit-params-yaml", "set"], ids=["edit-params-yaml", "set"])
def test_status_json_names_the_param_change(tmp_path: Path, how: str) -> None:
    project = make_project(tmp_path / "proj", CHAIN_PIPE, params="window: 7\n")
    proc = run_cli("run", "-C", str(project))
    assert proc.returncode == 0, proc.stderr
    assert {e["state"] for e in _status_json(project).values()} == {"fresh"}

    args: tuple[str, ...] = ()
    if how == "edit-params-yaml":
        (project / "params.yaml").write_text("window: 14\n", encoding="utf-8")
    else:
        args = ("--set", "window=14")
    plans = _status_json(project, *args)

    assert plans["raw"] == {"step": "raw", "state": "fresh", "reasons": []}
    assert plans["clean"] == {"step": "clean", "state": "fresh", "reasons": []}
    assert plans["features"]["state"] == "stale"
    assert plans["features"]["reasons"] == ["param window: 7 → 14"]
    assert plans["report"]["state"] == "recheck"
    assert plans["report"]["reasons"] == ["upstream step features is stale; runs only if its output changes"]


def test_status_text_names_the_param_change(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", CHAIN_PIPE, params="window: 7\n")
    assert run_cli("run", "-C", str(project)).returncode == 0
    (project / "params.yaml").write_text("window: 14\n", encoding="utf-8")

    proc = run_cli("status", "-C", str(project))

    assert proc.returncode == 0, proc.stderr
    assert re.search(r"features\s+stale: param window: 7 → 14", proc.stdout), proc.stdout
    assert "2 fresh, 1 stale, 1 to recheck" in proc.stdout


# -- typed values -----------------------------------------------------------------------------

TYPED_PIPE = """
from typing import Literal

from distill import step

def _seen(value):
    return {"type": type(value).__name__, "value": value}

@step
def ratio(r: float = 0.5):
    return _seen(r)

@step
def flag(enabled: bool = False):
    return _seen(enabled)

@step
def sizes(ns: list[int] = [1]):
    return _seen(ns)

@step
def mode(m: Literal["a", "b"] = "a"):
    return _seen(m)

@step
def label(text: str = "x"):
    return _seen(text)

@step
def maybe(limit: int | None = None):
    return _seen(limit)
"""

ACCEPTED = [
    # id, params given to run/load, params.yaml text, output, expected type, expected value
    ("float-from-int", {"r": 3}, None, "ratio", "float", 3.0),
    ("float-from-string", {"r": "2.5"}, None, "ratio", "float", 2.5),
    ("float-from-yaml-int", None, "r: 3\n", "ratio", "float", 3.0),
    ("float-default", None, None, "ratio", "float", 0.5),
    ("bool-true", {"enabled": True}, None, "flag", "bool", True),
    ("bool-from-string", {"enabled": "true"}, None, "flag", "bool", True),
    ("bool-from-yaml", None, "enabled: yes\n", "flag", "bool", True),
    ("list-int", {"ns": [1, 2, 3]}, None, "sizes", "list", [1, 2, 3]),
    ("list-int-from-string", {"ns": "[4, 5]"}, None, "sizes", "list", [4, 5]),
    ("list-int-from-yaml", None, "ns: [6, 7]\n", "sizes", "list", [6, 7]),
    ("literal-b", {"m": "b"}, None, "mode", "str", "b"),
    ("literal-from-yaml", None, "m: b\n", "mode", "str", "b"),
    ("str-of-digits", {"text": "123"}, None, "label", "str", "123"),
    ("str-yes", {"text": "yes"}, None, "label", "str", "yes"),
    ("str-date-like", {"text": "2024-01-01"}, None, "label", "str", "2024-01-01"),
    ("optional-none", None, None, "maybe", "NoneType", None),
    ("optional-int", {"limit": 5}, None, "maybe", "int", 5),
]


@pytest.mark.parametrize(
    ("overrides", "params_yaml", "output", "type_name", "value"),
    [a[1:] for a in ACCEPTED],
    ids=[a[0] for a in ACCEPTED],
)
def test_typed_value_reaches_the_step(
    tmp_path: Path,
    overrides: dict[str, Any] | None,
    params_yaml: str | None,
    output: str,
    type_name: str,
    value: Any,
) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE, params=params_yaml)

    _run_ok(project, params=overrides)

    seen = distill.load(output, project=project, params=overrides)
    assert seen == {"type": type_name, "value": value}


REJECTED = [
    # id, params given, params.yaml text, param, step, message fragment
    ("literal-rejects-c", {"m": "c"}, None, "m", "mode", "expects Literal['a', 'b'], found 'c' (--set)"),
    ("literal-rejects-c-yaml", None, "m: c\n", "m", "mode", "expects Literal['a', 'b'], found 'c' (params.yaml)"),
    ("list-int-rejects-words", {"ns": ["x", "y"]}, None, "ns", "sizes", "expects list[int], found ['x', 'y'] (--set)"),
    ("list-int-rejects-scalar-yaml", None, "ns: 3\n", "ns", "sizes", "expects list[int], found 3 (params.yaml)"),
    ("bool-rejects-maybe", {"enabled": "maybe"}, None, "enabled", "flag", "expects bool, found 'maybe' (--set)"),
    ("float-rejects-word", {"r": "abc"}, None, "r", "ratio", "expects float, found 'abc' (--set)"),
    ("optional-int-rejects-word", {"limit": "many"}, None, "limit", "maybe", "expects int | None, found 'many' (--set)"),
]


@pytest.mark.parametrize(
    ("overrides", "params_yaml", "param", "step_name", "fragment"),
    [r[1:] for r in REJECTED],
    ids=[r[0] for r in REJECTED],
)
def test_typed_value_is_rejected(
    tmp_path: Path,
    overrides: dict[str, Any] | None,
    params_yaml: str | None,
    param: str,
    step_name: str,
    fragment: str,
) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE, params=params_yaml)

    with pytest.raises(ValidationError) as info:
        distill.run(project=project, params=overrides)

    assert info.value.codes == ["param-type"]
    message = info.value.problems[0].message
    assert message.startswith(f"param {param!r} of step {step_name!r} ")
    assert fragment in message


def test_literal_rejection_through_the_cli(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE)

    proc = run_cli("run", "-C", str(project), "--set", "m=c")

    assert proc.returncode == 2, proc.stderr
    assert "param 'm' of step 'mode' expects Literal['a', 'b'], found 'c' (--set)" in proc.stderr


@pytest.mark.parametrize(
    ("item", "expected"),
    [("text=123", "123"), ("text=true", "true"), ("text=2024-01-01", "2024-01-01"), ("text=a b", "a b")],
    ids=["digits", "bool-word", "date-like", "spaces"],
)
def test_str_param_through_the_cli_keeps_the_text(tmp_path: Path, item: str, expected: str) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE)

    proc = run_cli("run", "-C", str(project), "--set", item)

    assert proc.returncode == 0, proc.stderr
    assert distill.load("label", project=project, params={"text": expected}) == {"type": "str", "value": expected}


# -- Path params ------------------------------------------------------------------------------

PATH_PIPE = """
from pathlib import Path

from distill import step

@step
def source(path: Path = Path("data/raw.csv")):
    return {
        "type": type(path).__name__,
        "absolute": path.is_absolute(),
        "exists": path.exists(),
        "path": str(path),
        "text": path.read_text(),
    }
"""

PATHS = [
    # id, params.yaml, overrides, start folder (relative to the project), file read
    ("default", None, None, ".", "data/raw.csv"),
    ("params-yaml", "path: data/other.csv\n", None, ".", "data/other.csv"),
    ("set", None, {"path": "data/other.csv"}, ".", "data/other.csv"),
    ("project-given-as-subfolder", None, None, "data", "data/raw.csv"),
]


@pytest.mark.parametrize(
    ("params_yaml", "overrides", "start", "rel"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS]
)
def test_path_param_resolves_against_the_project_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    params_yaml: str | None,
    overrides: dict[str, str] | None,
    start: str,
    rel: str,
) -> None:
    project = make_project(
        tmp_path / "proj",
        PATH_PIPE,
        params=params_yaml,
        files={"data/raw.csv": "raw\n", "data/other.csv": "other\n"},
    )
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)  # a decoy: the same relative path, another file
    (elsewhere / "data" / "raw.csv").write_text("decoy\n", encoding="utf-8")
    monkeypatch.chdir(elsewhere)

    _run_ok(project / start, params=overrides)

    seen = distill.load("source", project=project, params=overrides)
    expected_file = (project / rel).resolve()
    assert seen == {
        "type": type(expected_file).__name__,
        "absolute": True,
        "exists": True,
        "path": str(expected_file),
        "text": expected_file.read_text(encoding="utf-8"),
    }


def test_path_param_through_the_cli_from_another_cwd(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", PATH_PIPE, files={"data/raw.csv": "raw\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    proc = run_cli("run", "-C", str(project), cwd=elsewhere)

    assert proc.returncode == 0, proc.stderr
    seen = distill.load("source", project=project)
    assert seen["absolute"] is True
    assert seen["exists"] is True
    assert seen["path"] == str((project / "data" / "raw.csv").resolve())
    assert seen["text"] == "raw\n"


def test_path_param_data_change_makes_the_step_stale(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", PATH_PIPE, files={"data/raw.csv": "raw\n"})
    _run_ok(project)

    (project / "data" / "raw.csv").write_text("changed, longer\n", encoding="utf-8")
    plans = _status_json(project)

    assert plans["source"]["state"] == "stale"
    assert plans["source"]["reasons"] == ["data file data/raw.csv changed (param path)"]
    again = _run_ok(project)
    assert again.steps["source"].status == "ran"
    assert distill.load("source", project=project)["text"] == "changed, longer\n"
