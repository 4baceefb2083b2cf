"""Run parameters: layering, overlays, typing, paths, and what a changed param re-runs.

Values are checked on the receiving end: each step returns what it was given, and the
test reads it back with ``distill.load`` after ``distill.run`` (or ``distill run``).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

import distill
from distill.errors import StaleError, ValidationError
from distill.memo import load_state, stat_key
from distill.pipeline.param_types import MEMO, evaluate_annotation, value_hint
from distill.pipeline.params_text import FILES, load_params_text
from distill.session import open_session
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

    assert plans["raw"] == {"step": "raw", "state": "fresh", "reasons": [], "missing_files": []}
    assert plans["clean"] == {"step": "clean", "state": "fresh", "reasons": [], "missing_files": []}
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
#
# The rules (distill.pipeline.params): params files and --set are read with one YAML loader
# (YAML 1.2 core: only decimal ints and floats, true/false and null are not text), and values
# are checked with pydantic's strict rules for JSON input. An API string is what --set text
# is: {"r": "2.5"} is the decimal 2.5.

TYPED_PIPE = """
import datetime
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

@step
def counter(seed: int = 1):
    return _seen(seed)

@step
def weights(w: dict[str, float] = {"a": 1.0}):
    return _seen(w)

@step
def calendar(day: datetime.date = "2024-01-01", pair: tuple[int, int] = (0, 0), level: Literal[1, 2] = 1):
    return 0
"""

ACCEPTED = [
    # id, params given to run/load, params.yaml text, output, expected type, expected value
    ("float-from-int", {"r": 3}, None, "ratio", "float", 3.0),
    ("float-from-string", {"r": "2.5"}, None, "ratio", "float", 2.5),
    ("float-from-yaml-int", None, "r: 3\n", "ratio", "float", 3.0),
    ("float-from-yaml-exponent", None, "r: 1e3\n", "ratio", "float", 1000.0),
    ("float-default", None, None, "ratio", "float", 0.5),
    ("bool-true", {"enabled": True}, None, "flag", "bool", True),
    ("bool-from-string", {"enabled": "true"}, None, "flag", "bool", True),
    ("bool-from-yaml", None, "enabled: true\n", "flag", "bool", True),
    ("bool-from-yaml-capital", None, "enabled: False\n", "flag", "bool", False),
    ("int-from-yaml", None, "seed: 16\n", "counter", "int", 16),
    ("int-negative-from-string", {"seed": "-7"}, None, "counter", "int", -7),
    ("list-int", {"ns": [1, 2, 3]}, None, "sizes", "list", [1, 2, 3]),
    ("list-int-from-string", {"ns": "[4, 5]"}, None, "sizes", "list", [4, 5]),
    ("list-int-from-yaml", None, "ns: [6, 7]\n", "sizes", "list", [6, 7]),
    ("literal-b", {"m": "b"}, None, "mode", "str", "b"),
    ("literal-from-yaml", None, "m: b\n", "mode", "str", "b"),
    ("str-of-digits", {"text": "123"}, None, "label", "str", "123"),
    ("str-yes", {"text": "yes"}, None, "label", "str", "yes"),
    ("str-date-like", {"text": "2024-01-01"}, None, "label", "str", "2024-01-01"),
    ("str-yes-from-yaml", None, "text: yes\n", "label", "str", "yes"),
    ("str-hex-from-yaml", None, "text: 0x10\n", "label", "str", "0x10"),
    ("str-time-from-yaml", None, "text: 12:30\n", "label", "str", "12:30"),
    ("str-date-from-yaml", None, "text: 2024-01-01\n", "label", "str", "2024-01-01"),
    ("str-quoted-digits-from-yaml", None, 'text: "42"\n', "label", "str", "42"),
    ("optional-none", None, None, "maybe", "NoneType", None),
    ("optional-int", {"limit": 5}, None, "maybe", "int", 5),
    ("optional-null-from-yaml", None, "limit: null\n", "maybe", "NoneType", None),
    ("optional-tilde-from-yaml", None, "limit: ~\n", "maybe", "NoneType", None),
    ("dict-float-from-yaml-ints", None, "w: {a: 1, b: 2.5}\n", "weights", "dict", {"a": 1.0, "b": 2.5}),
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


CHECKED = [
    # id, params.yaml text, --set items, param, checked value (JSON form) -- all of step calendar
    ("date-from-yaml-text", "day: 2024-01-31\n", {}, "day", "2024-01-31"),
    ("date-from-set", None, {"day": "2024-02-29"}, "day", "2024-02-29"),
    ("date-default-text", None, {}, "day", "2024-01-01"),
    ("tuple-from-yaml-list", "pair: [3, 4]\n", {}, "pair", [3, 4]),
    ("tuple-from-set-list", None, {"pair": "[5, 6]"}, "pair", [5, 6]),
    ("tuple-default", None, {}, "pair", [0, 0]),
    ("int-literal-from-yaml", "level: 2\n", {}, "level", 2),
    ("int-literal-from-set", None, {"level": "2"}, "level", 2),
]


@pytest.mark.parametrize(
    ("params_yaml", "overrides", "param", "value"), [c[1:] for c in CHECKED], ids=[c[0] for c in CHECKED]
)
def test_typed_value_is_checked(
    tmp_path: Path, params_yaml: str | None, overrides: dict[str, str], param: str, value: Any
) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE, params=params_yaml)

    session = open_session(str(project), overrides=overrides)
    try:
        assert session.params["calendar"][param].value == value
    finally:
        session.close()


REJECTED = [
    # id, params given, params.yaml text, param, step, message fragment, hint
    ("literal-rejects-c", {"m": "c"}, None, "m", "mode", "expects Literal['a', 'b'], found 'c' (--set)", "write one of: a, b"),
    ("literal-rejects-c-yaml", None, "m: c\n", "m", "mode", "expects Literal['a', 'b'], found 'c' (params.yaml:1)", "write one of: a, b"),
    ("literal-int-rejects-quoted-yaml", None, 'level: "2"\n', "level", "calendar", "expects Literal[1, 2], found '2' (params.yaml:1)", "write 2 without quotes"),
    ("list-int-rejects-words", {"ns": ["x", "y"]}, None, "ns", "sizes", "expects list[int], found ['x', 'y'] (params=)", "fix the value in params="),
    ("list-int-rejects-scalar-yaml", None, "ns: 3\n", "ns", "sizes", "expects list[int], found 3 (params.yaml:1)", "write a list: [3]"),
    ("list-int-rejects-bool-yaml", None, "ns: [1, true]\n", "ns", "sizes", "expects list[int], found [1, True] (params.yaml:1): Input should be a valid integer", "fix the value in params.yaml"),
    ("bool-rejects-maybe", {"enabled": "maybe"}, None, "enabled", "flag", "expects bool, found 'maybe' (--set)", "write true or false"),
    ("bool-rejects-yes-yaml", None, "enabled: yes\n", "enabled", "flag", "expects bool, found 'yes' (params.yaml:1): Input should be a valid boolean", "write true"),
    ("bool-rejects-off-yaml", None, "enabled: off\n", "enabled", "flag", "expects bool, found 'off' (params.yaml:1)", "write false"),
    ("bool-rejects-yes-set", {"enabled": "yes"}, None, "enabled", "flag", "expects bool, found 'yes' (--set)", "write true"),
    ("bool-rejects-one-yaml", None, "enabled: 1\n", "enabled", "flag", "expects bool, found 1 (params.yaml:1)", "write true"),
    ("float-rejects-word", {"r": "abc"}, None, "r", "ratio", "expects float, found 'abc' (--set)", "write a number"),
    ("float-rejects-bool-yaml", None, "r: true\n", "r", "ratio", "expects float, found True (params.yaml:1): Input should be a valid number", "write a number (true is a bool, not a float)"),
    ("float-rejects-quoted-yaml", None, 'r: "2.5"\n', "r", "ratio", "expects float, found '2.5' (params.yaml:1)", "write 2.5 without quotes"),
    ("int-rejects-bool-yaml", None, "seed: true\n", "seed", "counter", "expects int, found True (params.yaml:1): Input should be a valid integer", "write a number (true is a bool, not an int)"),
    ("int-rejects-bool-api", {"seed": True}, None, "seed", "counter", "expects int, found True (params=)", "write a number (true is a bool, not an int)"),
    ("int-rejects-quoted-yaml", None, 'seed: "42"\n', "seed", "counter", "expects int, found '42' (params.yaml:1)", "write 42 without quotes"),
    ("int-rejects-hex-set", {"seed": "0x10"}, None, "seed", "counter", "expects int, found '0x10' (--set)", "write 16 (0x10 is text: only decimal numbers are numbers here)"),
    ("int-rejects-hex-yaml", None, "seed: 0x10\n", "seed", "counter", "expects int, found '0x10' (params.yaml:1)", "write 16"),
    ("int-rejects-octal-yaml", None, "seed: 0o10\n", "seed", "counter", "expects int, found '0o10' (params.yaml:1)", "write 8"),
    ("int-rejects-leading-zero-set", {"seed": "010"}, None, "seed", "counter", "expects int, found '010' (--set)", "write 10 (a leading zero makes it text; for octal 010, write 8)"),
    ("int-rejects-underscores-yaml", None, "seed: 1_000\n", "seed", "counter", "expects int, found '1_000' (params.yaml:1)", "write 1000"),
    ("int-rejects-time-yaml", None, "seed: 12:30\n", "seed", "counter", "expects int, found '12:30' (params.yaml:1)", "quote it in params.yaml if you meant a string, or write a number"),
    ("int-rejects-time-set", {"seed": "12:30"}, None, "seed", "counter", "expects int, found '12:30' (--set)", "write a number: 12:30 is text here, not a time"),
    ("int-rejects-whole-float-yaml", None, "seed: 3.0\n", "seed", "counter", "expects int, found 3.0 (params.yaml:1)", "write 3"),
    ("str-rejects-int-yaml", None, "text: 42\n", "text", "label", "expects str, found 42 (params.yaml:1): Input should be a valid string", 'write "42" (quoted)'),
    ("str-rejects-bool-yaml", None, "text: true\n", "text", "label", "expects str, found True (params.yaml:1)", 'write "true" (quoted)'),
    ("date-rejects-day-first", {"day": "31/01/2024"}, None, "day", "calendar", "expects datetime.date, found '31/01/2024' (--set)", "write the date as YYYY-MM-DD, such as 2024-01-31"),
    ("dict-float-rejects-text-yaml", None, 'w: {a: "1.5"}\n', "w", "weights", "expects dict[str, float], found {'a': '1.5'} (params.yaml:1)", "fix the value in params.yaml"),
    ("optional-int-rejects-word", {"limit": "many"}, None, "limit", "maybe", "expects int | None, found 'many' (--set)", "write a whole number"),
    ("line-of-the-key", None, "r: 0.5\nm: a\nseed: 0x10\n", "seed", "counter", "found '0x10' (params.yaml:3)", "write 16"),
]


@pytest.mark.parametrize(
    ("overrides", "params_yaml", "param", "step_name", "fragment", "hint"),
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
    hint: str,
) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE, params=params_yaml)

    with pytest.raises(ValidationError) as info:
        distill.run(project=project, params=overrides)

    assert info.value.codes == ["param-type"]
    problem = info.value.problems[0]
    assert problem.message.startswith(f"param {param!r} of step {step_name!r} ")
    assert fragment in problem.message
    assert problem.hint.startswith(hint)


def test_env_file_value_is_rejected_with_its_line(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "proj", TYPED_PIPE, params="seed: 1\n", env_params={"prod": "r: 0.1\nseed: 010\n"}
    )

    with pytest.raises(ValidationError) as info:
        distill.run(project=project, env="prod")

    problem = info.value.problems[0]
    assert "param 'seed' of step 'counter' expects int, found '010' (params.prod.yaml:2)" in problem.message
    assert problem.hint == "write 10 (a leading zero makes it text; for octal 010, write 8)"


def test_literal_rejection_through_the_cli(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE)

    proc = run_cli("run", "-C", str(project), "--set", "m=c")

    assert proc.returncode == 2, proc.stderr
    assert "param 'm' of step 'mode' expects Literal['a', 'b'], found 'c' (--set)" in proc.stderr
    assert "hint: write one of: a, b" in proc.stderr


STRICT_CLI = [
    # id, params.yaml text, --set items, message fragment, hint
    ("set-hex", None, ["seed=0x10"], "param 'seed' of step 'counter' expects int, found '0x10' (--set)", "hint: write 16"),
    ("set-yes", None, ["enabled=yes"], "param 'enabled' of step 'flag' expects bool, found 'yes' (--set)", "hint: write true"),
    ("yaml-leading-zero", "seed: 010\n", [], "expects int, found '010' (params.yaml:1)", "hint: write 10"),
    ("yaml-bool-for-int", "seed: true\n", [], "expects int, found True (params.yaml:1)", "hint: write a number (true is a bool, not an int)"),
]


@pytest.mark.parametrize(
    ("params_yaml", "sets", "fragment", "hint"), [s[1:] for s in STRICT_CLI], ids=[s[0] for s in STRICT_CLI]
)
def test_strict_rejection_through_the_cli(
    tmp_path: Path, params_yaml: str | None, sets: list[str], fragment: str, hint: str
) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE, params=params_yaml)
    args = [a for s in sets for a in ("--set", s)]

    proc = run_cli("run", "-C", str(project), *args)

    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert hint in proc.stderr


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("text=123", "123"),
        ("text=true", "true"),
        ("text=2024-01-01", "2024-01-01"),
        ("text=a b", "a b"),
        ("text=0x10", "0x10"),
        ("text=12:30", "12:30"),
    ],
    ids=["digits", "bool-word", "date-like", "spaces", "hex-like", "time-like"],
)
def test_str_param_through_the_cli_keeps_the_text(tmp_path: Path, item: str, expected: str) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE)

    proc = run_cli("run", "-C", str(project), "--set", item)

    assert proc.returncode == 0, proc.stderr
    assert distill.load("label", project=project, params={"text": expected}) == {"type": "str", "value": expected}


# -- keys given twice -------------------------------------------------------------------------

DUPLICATES = [
    # id, params.yaml, params.prod.yaml, --set items, where, message, hint
    (
        "top-level",
        "seed: 1\nr: 0.5\nseed: 2\n",
        None,
        {},
        "params.yaml:3",
        "key 'seed' is given twice (lines 1 and 3); keep one",
        "delete line 1 or line 3: only the later one would count",
    ),
    (
        "nested",
        "w:\n  a: 1\n  b: 2\n  a: 3\n",
        None,
        {},
        "params.yaml:4",
        "key 'a' in 'w' is given twice (lines 2 and 4); keep one",
        "delete line 2 or line 4: only the later one would count",
    ),
    (
        "same-key-spelled-twice",
        "seed: 1\n'seed': 2\n",
        None,
        {},
        "params.yaml:2",
        "key 'seed' is given twice (lines 1 and 2); keep one",
        "delete line 1 or line 2: only the later one would count",
    ),
    (
        "env-file",
        "seed: 1\n",
        "r: 0.1\nr: 0.2\n",
        {},
        "params.prod.yaml:2",
        "key 'r' is given twice (lines 1 and 2); keep one",
        "delete line 1 or line 2: only the later one would count",
    ),
    (
        "set-mapping",
        None,
        None,
        {"w": "{a: 1, a: 2}"},
        "--set",
        "key 'a' in 'w' is given twice in --set w=...; keep one",
        "write each key once",
    ),
]


@pytest.mark.parametrize(
    ("params_yaml", "prod_yaml", "overrides", "where", "message", "hint"),
    [d[1:] for d in DUPLICATES],
    ids=[d[0] for d in DUPLICATES],
)
def test_key_given_twice_is_rejected(
    tmp_path: Path,
    params_yaml: str | None,
    prod_yaml: str | None,
    overrides: dict[str, str],
    where: str,
    message: str,
    hint: str,
) -> None:
    project = make_project(
        tmp_path / "proj", TYPED_PIPE, params=params_yaml, env_params={"prod": prod_yaml} if prod_yaml else None
    )

    with pytest.raises(ValidationError) as info:
        distill.run(project=project, params=overrides, env="prod" if prod_yaml else None)

    assert info.value.codes == ["duplicate-key"]
    problem = info.value.problems[0]
    assert (problem.where, problem.message, problem.hint) == (where, message, hint)


def test_key_given_twice_through_the_cli(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE, params="seed: 1\nr: 0.5\nseed: 2\n")

    proc = run_cli("run", "-C", str(project))

    assert proc.returncode == 2, proc.stderr
    assert "params.yaml:3: key 'seed' is given twice (lines 1 and 3); keep one" in proc.stderr
    assert "hint: delete line 1 or line 3" in proc.stderr


def test_key_given_twice_reports_the_value_that_counts(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", TYPED_PIPE, params="seed: 1\nr: 0.5\nseed: 0x10\n")

    with pytest.raises(ValidationError) as info:
        distill.run(project=project)

    assert info.value.codes == ["duplicate-key", "param-type"]
    assert "found '0x10' (params.yaml:3)" in info.value.problems[1].message
    assert info.value.problems[1].hint.startswith("write 16")


def test_memo_from_the_loose_rules_is_not_trusted(tmp_path: Path) -> None:
    # A state file written by the loose rules holds `enabled: yes` read as true, and "yes"
    # checked as a fine bool; neither may answer for the strict rules.
    project = make_project(tmp_path / "proj", TYPED_PIPE, params="enabled: yes\n")
    params_yaml = project / "params.yaml"
    an_hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(params_yaml, ns=(an_hour_ago, an_hour_ago))
    state = load_state(project / ".distill")
    state.put(FILES, str(params_yaml), (stat_key(os.stat(params_yaml)), time.time_ns(), {"enabled": True}))
    state.put(MEMO, ("bool", '"yes"', "str"), (True, True, ""))
    state.put(MEMO, ("bool", "true", "bool"), (True, True, ""))
    state.save()

    with pytest.raises(ValidationError) as info:
        distill.run(project=project)

    assert "expects bool, found 'yes' (params.yaml:1)" in info.value.problems[0].message
    assert info.value.problems[0].hint == "write true"


# -- the loader and the hints, unit by unit ---------------------------------------------------

SCALARS = [
    # YAML text -> the value, the same in params files and in --set
    ("42", 42),
    ("-7", -7),
    ("+5", 5),
    ("0", 0),
    ("2.5", 2.5),
    ("1e3", 1000.0),
    ("1e+20", 1e20),
    (".5", 0.5),
    (".inf", float("inf")),
    ("true", True),
    ("True", True),
    ("FALSE", False),
    ("null", None),
    ("~", None),
    ("", None),
    ("yes", "yes"),
    ("no", "no"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("tRUE", "tRUE"),
    ("0x10", "0x10"),
    ("010", "010"),
    ("0o10", "0o10"),
    ("1_000", "1_000"),
    ("12:30", "12:30"),
    ("2024-01-31", "2024-01-31"),
    ("2024-01-31T12:30:00", "2024-01-31T12:30:00"),
    ("<<", "<<"),
    ("[1, 2.5, x]", [1, 2.5, "x"]),
    ("{a: 1}", {"a": 1}),
]


@pytest.mark.parametrize(("text", "value"), SCALARS, ids=[s[0] or "empty" for s in SCALARS])
def test_loader_reads_scalars_as_yaml_1_2_core(text: str, value: Any) -> None:
    loaded = load_params_text(text).data

    assert loaded == value
    assert type(loaded) is type(value)


def test_loader_keeps_merge_keys_and_finds_no_repeat_in_them() -> None:
    loaded = load_params_text("base: &b {x: 1, y: 2}\nprod:\n  <<: *b\n  x: 3\n")

    assert loaded.data == {"base": {"x": 1, "y": 2}, "prod": {"x": 3, "y": 2}}
    assert loaded.repeats == ()
    assert loaded.lines == (("base", 1), ("prod", 2))


HINTS = [
    # annotation, rejected value, hint
    ("int", "0x10", "write 16 (0x10 is text: only decimal numbers are numbers here)"),
    ("int", "-0x10", "write -16 (-0x10 is text: only decimal numbers are numbers here)"),
    ("int", "0b101", "write 5 (0b101 is text: only decimal numbers are numbers here)"),
    ("int", "010", "write 10 (a leading zero makes it text; for octal 010, write 8)"),
    ("int", "089", "write 89 (a leading zero makes it text)"),
    ("int", "1,000", "write 1000"),
    ("int", 2.5, "write a whole number"),
    ("int", "2.5", "write a whole number"),
    ("int", False, "write a number (false is a bool, not an int)"),
    ("float", "1_000.5", "write 1000.5"),
    ("float", "inf", "write .inf"),
    ("bool", "on", "write true"),
    ("bool", "NO", "write false"),
    ("bool", 0, "write false"),
    ("str", 2.5, 'write "2.5" (quoted)'),
    ("str", None, 'write the text (or "" for an empty one): null and an empty value are no value'),
    ("Literal['1', '2']", 1, 'write "1" (quoted)'),
    ("Literal['true', 'off']", "maybe", 'write one of: "true", off'),
    ("dict[str, int]", [1], "write a mapping: {key: value, ...}"),
    ("list[int] | None", 3, "write a list: [3]"),
]


@pytest.mark.parametrize(("annotation", "value", "hint"), HINTS, ids=[f"{h[0]}-{h[1]!r}" for h in HINTS])
def test_hint_says_what_to_write(annotation: str, value: Any, hint: str) -> None:
    assert value_hint(evaluate_annotation(annotation), value) == hint


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


def test_a_number_given_from_python_is_never_read_as_text(tmp_path: Path) -> None:
    # `params={"text": 123}` is the number 123: a `str` param refuses it, while the text
    # "123" (as typed after --set) is accepted.
    project = make_project(tmp_path / "proj", TYPED_PIPE)
    with pytest.raises(ValidationError, match=r"param 'text' of step 'label' expects str, found 123 \(params=\)"):
        distill.run(project=project, params={"text": 123})
    _run_ok(project, params={"text": "123"})
    assert distill.load("label", project=project, params={"text": "123"}) == {"type": "str", "value": "123"}
