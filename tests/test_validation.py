"""Validation of a project before anything runs: graph, params, data inputs, configuration.

Each failure is checked through the CLI (a real ``python -m distill`` subprocess: exit code
and stderr text) and through the API (``open_session`` raising ``ValidationError`` or
``ProjectError``, with its ``codes`` and ``problems``).
"""

from __future__ import annotations

import re
import sqlite3
import textwrap
from pathlib import Path

import pytest

from distill.errors import ProjectError, ValidationError
from distill.session import open_session
from helpers_validation import isolated_imports, line_of, make_project, run_cli  # noqa: F401

# -- projects -------------------------------------------------------------------------------

CYCLES = {
    "two-steps": (
        """
        from distill import step

        @step
        def alpha(beta):
            return 1

        @step
        def beta(alpha):
            return 2
        """,
        {"alpha", "beta"},
    ),
    "three-steps": (
        """
        from distill import step

        @step
        def alpha(gamma):
            return 1

        @step
        def beta(alpha):
            return 2

        @step
        def gamma(beta):
            return 3

        @step
        def outside():
            return 4
        """,
        {"alpha", "beta", "gamma"},
    ),
    "self-loop": (
        """
        from distill import step

        @step
        def alpha(alpha):
            return 1
        """,
        {"alpha"},
    ),
}

# One run param `window` on `features`; `raw` is an output, so it is an edge, not a param.
PARAM_PIPE = """
from distill import step

@step
def raw():
    return [3, 1, 4, 1, 5]

@step
def features(raw, window: int = 7):
    return raw[:window]
"""

MISSING_INPUT_PIPE = """
from distill import step

@step
def clean():
    return [1, 2]

@step
def report(claen):
    return claen
"""

DUPLICATE_OUTPUT_PIPE = """
from distill import step

@step(outputs=("x",))
def p():
    return (1,)

@step(outputs=("x",))
def q():
    return (2,)
"""

DATA_PIPE = """
from pathlib import Path

from distill import step

@step
def raw(path: Path = Path("data/raw.csv")):
    return path.read_text()
"""


def _api_error(project: Path, **kwargs: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        open_session(str(project), **kwargs)  # type: ignore[arg-type]
    return info.value


def _only(error: ValidationError, code: str):
    found = [p for p in error.problems if p.code == code]
    assert len(found) == 1, f"expected one {code!r} problem, found {error.codes}"
    return found[0]


# -- cycles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(CYCLES), ids=list(CYCLES))
def test_cycle_cli_exits_2_naming_the_steps_and_a_def_line(tmp_path: Path, shape: str) -> None:
    source, names = CYCLES[shape]
    project = make_project(tmp_path / "proj", source)

    proc = run_cli("run", "-C", str(project))

    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    match = re.search(r"pipe\.py:(\d+): the steps form a cycle: (.+?) \(each step", proc.stderr)
    assert match, proc.stderr
    assert int(match.group(1)) in {line_of(project, n) for n in names}
    loop = match.group(2).split(" → ")
    assert loop[0] == loop[-1]
    assert set(loop) == names


@pytest.mark.parametrize("shape", list(CYCLES), ids=list(CYCLES))
def test_cycle_api_reports_code_and_where(tmp_path: Path, shape: str) -> None:
    source, names = CYCLES[shape]
    project = make_project(tmp_path / "proj", source)

    error = _api_error(project)

    assert error.codes == ["cycle"]
    problem = error.problems[0]
    assert "cycle" in problem.message
    for name in names:
        assert re.search(rf"\b{name}\b", problem.message), problem.message
    assert problem.where in {f"pipe.py:{line_of(project, n)}" for n in names}
    assert problem.hint


def test_cycle_with_targets_is_still_reported(tmp_path: Path) -> None:
    source, _ = CYCLES["three-steps"]
    project = make_project(tmp_path / "proj", source)

    error = _api_error(project, targets=("outside",))

    assert error.codes == ["cycle"]


# -- inputs nothing provides ------------------------------------------------------------------


def test_missing_input_api_suggests_the_close_output(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", MISSING_INPUT_PIPE)

    error = _api_error(project)

    problem = _only(error, "missing-input")
    assert error.codes == ["missing-input"]
    assert "step 'report' needs 'claen'" in problem.message
    assert "(did you mean 'clean'?)" in problem.message
    assert problem.where == f"pipe.py:{line_of(project, 'report')}"
    assert "--set claen=VALUE" in problem.hint


def test_missing_input_cli(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", MISSING_INPUT_PIPE)

    proc = run_cli("run", "-C", str(project))

    assert proc.returncode == 2, proc.stderr
    assert "did you mean 'clean'" in proc.stderr
    assert f"pipe.py:{line_of(project, 'report')}" in proc.stderr
    assert "the pipeline has 1 problem:" in proc.stderr


def test_missing_input_without_a_close_name_has_no_suggestion(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "proj",
        """
        from distill import step

        @step
        def clean():
            return 1

        @step
        def report(zzzz):
            return zzzz
        """,
    )

    problem = _only(_api_error(project), "missing-input")

    assert "'zzzz'" in problem.message
    assert "did you mean" not in problem.message


def test_missing_input_is_satisfied_by_a_param_file(tmp_path: Path) -> None:
    # The same name set in params.yaml is a run param, not a missing input.
    project = make_project(tmp_path / "proj", MISSING_INPUT_PIPE, params="claen: [1]\n")

    session = open_session(str(project))
    try:
        assert session.params["report"]["claen"].value == [1]
        assert session.params["report"]["claen"].source == "params.yaml"
    finally:
        session.close()


# -- duplicate outputs ------------------------------------------------------------------------


def test_duplicate_output_api(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", DUPLICATE_OUTPUT_PIPE)

    error = _api_error(project)

    problem = _only(error, "duplicate-output")
    assert error.codes == ["duplicate-output"]
    assert re.search(
        rf"output 'x' is provided by two steps: p \(pipe\.py:{line_of(project, 'p')}\) and q",
        problem.message,
    ), problem.message
    assert problem.where == f"pipe.py:{line_of(project, 'q')}"


def test_duplicate_output_cli(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", DUPLICATE_OUTPUT_PIPE)

    proc = run_cli("run", "-C", str(project))

    assert proc.returncode == 2, proc.stderr
    assert "output 'x' is provided by two steps" in proc.stderr


# -- unknown params -------------------------------------------------------------------------

UNKNOWN = [
    # id, params.yaml text, --set items, where, message fragment
    ("yaml-typo", "windw: 3\n", [], "params.yaml", "unknown param 'windw' (did you mean 'window'?)"),
    ("set-typo", None, ["windw=3"], "--set", "unknown param 'windw' (did you mean 'window'?)"),
    ("yaml-far", "colour: red\n", [], "params.yaml", "unknown param 'colour'"),
    ("set-output", None, ["raw=[1]"], "--set", "'raw' is an output of step raw, not a param"),
]


@pytest.mark.parametrize(("params", "sets", "where", "fragment"), [u[1:] for u in UNKNOWN], ids=[u[0] for u in UNKNOWN])
def test_unknown_param_api(tmp_path: Path, params: str | None, sets: list[str], where: str, fragment: str) -> None:
    project = make_project(tmp_path / "proj", PARAM_PIPE, params=params)
    overrides = dict(s.split("=", 1) for s in sets)

    error = _api_error(project, overrides=overrides)

    assert error.codes == ["unknown-param"]
    problem = error.problems[0]
    assert fragment in problem.message
    assert problem.where == where
    if "colour" in fragment:
        assert "did you mean" not in problem.message


@pytest.mark.parametrize(("params", "sets", "where", "fragment"), [u[1:] for u in UNKNOWN[:2]], ids=[u[0] for u in UNKNOWN[:2]])
def test_unknown_param_cli(tmp_path: Path, params: str | None, sets: list[str], where: str, fragment: str) -> None:
    project = make_project(tmp_path / "proj", PARAM_PIPE, params=params)
    args = [a for s in sets for a in ("--set", s)]

    proc = run_cli("run", "-C", str(project), *args)

    assert proc.returncode == 2, proc.stderr
    assert f"{where}: {fragment}" in proc.stderr


def test_unknown_param_in_status_too(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", PARAM_PIPE)

    proc = run_cli("status", "-C", str(project), "--set", "windw=3")

    assert proc.returncode == 2
    assert "did you mean 'window'" in proc.stderr


# -- params of the wrong type -----------------------------------------------------------------

WRONG_TYPE = [
    # id, params.yaml text, --set items, message fragment, hint
    ("set-word", None, ["window=abc"], "expects int, found 'abc' (--set)", "write a whole number"),
    ("yaml-fraction", "window: 1.5\n", [], "expects int, found 1.5 (params.yaml:1)", "write a whole number"),
    ("yaml-list", "window: [1, 2]\n", [], "expects int, found [1, 2] (params.yaml:1)", "fix the value in params.yaml"),
    ("set-fraction", None, ["window=2.5"], "expects int, found 2.5 (--set)", "write a whole number"),
    ("set-hex", None, ["window=0x10"], "expects int, found '0x10' (--set)", "write 16 (0x10 is text: only decimal numbers are numbers here)"),
    ("yaml-bool", "window: true\n", [], "expects int, found True (params.yaml:1)", "write a number (true is a bool, not an int)"),
    ("yaml-quoted", 'window: "7"\n', [], "expects int, found '7' (params.yaml:1)", "write 7 without quotes"),
]


@pytest.mark.parametrize(("params", "sets", "fragment", "hint"), [w[1:] for w in WRONG_TYPE], ids=[w[0] for w in WRONG_TYPE])
def test_param_type_api(tmp_path: Path, params: str | None, sets: list[str], fragment: str, hint: str) -> None:
    project = make_project(tmp_path / "proj", PARAM_PIPE, params=params)
    overrides = dict(s.split("=", 1) for s in sets)

    error = _api_error(project, overrides=overrides)

    assert error.codes == ["param-type"]
    problem = error.problems[0]
    assert problem.message.startswith("param 'window' of step 'features' ")
    assert fragment in problem.message
    assert problem.where == f"pipe.py:{line_of(project, 'features')}"
    assert problem.hint == hint


@pytest.mark.parametrize(
    ("params", "sets", "fragment", "hint"),
    [w[1:] for w in WRONG_TYPE if w[0] in ("set-word", "yaml-fraction", "set-hex")],
    ids=["set-word", "yaml-fraction", "set-hex"],
)
def test_param_type_cli(tmp_path: Path, params: str | None, sets: list[str], fragment: str, hint: str) -> None:
    project = make_project(tmp_path / "proj", PARAM_PIPE, params=params)
    args = [a for s in sets for a in ("--set", s)]

    proc = run_cli("run", "-C", str(project), *args)

    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert f"hint: {hint}" in proc.stderr


BAD_DEFAULTS = [
    # id, default source, found, hint
    ("word", '"seven"', "found 'seven' (default)", "fix the default: write a whole number"),
    ("text-of-digits", '"7"', "found '7' (default)", "fix the default: write 7 without quotes"),
    ("bool", "True", "found True (default)", "fix the default: write a number (True is a bool, not an int)"),
]


@pytest.mark.parametrize(("default", "found", "hint"), [b[1:] for b in BAD_DEFAULTS], ids=[b[0] for b in BAD_DEFAULTS])
def test_param_type_of_a_bad_default(tmp_path: Path, default: str, found: str, hint: str) -> None:
    project = make_project(
        tmp_path / "proj",
        f"""
        from distill import step

        @step
        def features(window: int = {default}):
            return window
        """,
    )

    problem = _only(_api_error(project), "param-type")

    assert found in problem.message
    assert problem.hint == hint


# -- several problems in one error ------------------------------------------------------------

MANY_PIPE = """
from distill import step

@step
def alpha(beta):
    return 1

@step
def beta(alpha):
    return 2

@step
def features(window: int = 7):
    return window

@step
def report(featurs):
    return featurs
"""


def test_several_problems_reported_together_api(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", MANY_PIPE, params="windw: 3\n")

    error = _api_error(project, overrides={"window": "abc"})

    assert sorted(error.codes) == ["cycle", "missing-input", "param-type", "unknown-param"]
    assert str(error).startswith("the pipeline has 4 problems:")
    by_code = {p.code: p for p in error.problems}
    assert "did you mean 'window'" in by_code["unknown-param"].message
    assert "did you mean 'features'" in by_code["missing-input"].message
    assert "'abc'" in by_code["param-type"].message


def test_several_problems_reported_together_cli(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", MANY_PIPE, params="windw: 3\n")

    proc = run_cli("run", "-C", str(project), "--set", "window=abc")

    assert proc.returncode == 2, proc.stderr
    assert "the pipeline has 4 problems:" in proc.stderr
    for fragment in (
        "the steps form a cycle",
        "params.yaml: unknown param 'windw' (did you mean 'window'?)",
        "expects int, found 'abc' (--set)",
        "step 'report' needs 'featurs'",
    ):
        assert fragment in proc.stderr


# -- step definitions distill cannot read -----------------------------------------------------

DEFINITIONS = [
    # id, decorator line, def line, code, message fragment
    ("outputs-name", "@step(outputs=NAMES)", "def split():", "step-options", "outputs= must be a literal tuple of identifiers"),
    ("outputs-call", "@step(outputs=tuple(NAMES))", "def split():", "step-options", "outputs= must be a literal tuple of identifiers"),
    ("outputs-not-identifier", '@step(outputs=("a b",))', "def split():", "step-options", "outputs= must be a literal tuple of identifiers"),
    ("outputs-empty", "@step(outputs=())", "def split():", "step-options", "outputs= must be a literal tuple of identifiers"),
    ("positional-option", '@step("x")', "def split():", "step-options", "@step takes keyword arguments only"),
    ("unknown-option", "@step(retry=2)", "def split():", "step-options", "unknown @step option 'retry'"),
    ("retries-negative", "@step(retries=-1)", "def split():", "step-options", "retries= must be an int >= 0"),
    ("cache-not-bool", '@step(cache="no")', "def split():", "step-options", "cache= must be True or False"),
    ("star-args", "@step", "def split(*parts):", "step-signature", "*args and **kwargs cannot be wired by name"),
    ("star-kwargs", "@step", "def split(**extra):", "step-signature", "*args and **kwargs cannot be wired by name"),
]


@pytest.mark.parametrize(
    ("decorator", "signature", "code", "fragment"), [d[1:] for d in DEFINITIONS], ids=[d[0] for d in DEFINITIONS]
)
def test_unreadable_step_definition_is_a_problem(
    tmp_path: Path, decorator: str, signature: str, code: str, fragment: str
) -> None:
    source = f'from distill import step\n\nNAMES = ("a", "b")\n\n{decorator}\n{signature}\n    return 1, 2\n'
    project = make_project(tmp_path / "proj", source)

    error = _api_error(project)

    problem = _only(error, code)
    assert error.codes == [code]
    assert f"step 'split': {fragment}" in problem.message
    assert problem.where == f"pipe.py:{line_of(project, 'split')}"


def test_all_definition_problems_reported_at_once_cli(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "proj",
        """
        from distill import step

        NAMES = ("x", "y")

        @step(outputs=NAMES)
        def split():
            return 1, 2

        @step
        def gather(*parts):
            return parts

        @step
        def options(**extra):
            return extra
        """,
    )

    error = _api_error(project)
    proc = run_cli("run", "-C", str(project))

    assert sorted(error.codes) == ["step-options", "step-signature", "step-signature"]
    assert proc.returncode == 2, proc.stderr
    assert "the pipeline has 3 problems:" in proc.stderr
    assert f"pipe.py:{line_of(project, 'split')}: step 'split': outputs= must be a literal tuple" in proc.stderr
    assert f"pipe.py:{line_of(project, 'gather')}: step 'gather': *args and **kwargs" in proc.stderr
    assert f"pipe.py:{line_of(project, 'options')}: step 'options': *args and **kwargs" in proc.stderr


def test_syntax_error_in_pipeline_is_a_problem(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", "from distill import step\n\n@step\ndef a(:\n    return 1\n")

    error = _api_error(project)

    assert error.codes == ["syntax"]
    assert error.problems[0].where == "pipe.py:4"


# -- the project itself is unusable -----------------------------------------------------------

PROJECTS = [
    # id, pyproject text (None: no file), pipe source (None: no file), CLI args after `run`, fragment
    ("no-pyproject", None, "from distill import step\n", [], "no pyproject.toml with a [tool.distill] table in"),
    ("no-tool-table", '[project]\nname = "x"\n', "from distill import step\n", [], "no pyproject.toml with a [tool.distill] table in"),
    ("pipeline-module-missing", '[tool.distill]\npipeline = "pipe"\n', None, [], "pipeline module 'pipe' (from [tool.distill] in pyproject.toml) was not found"),
    ("pipeline-not-a-name", "[tool.distill]\npipeline = 3\n", None, [], "[tool.distill] pipeline must be a module name"),
    ("pipeline-bad-dotted", '[tool.distill]\npipeline = "my-pipe"\n', None, [], "'my-pipe' is not a dotted module name"),
    ("bad-toml", "[tool.distill\n", None, [], "not valid TOML"),
    ("no-steps", '[tool.distill]\npipeline = "pipe"\n', "def helper():\n    return 1\n", [], "no @step functions found in pipe"),
]


@pytest.mark.parametrize(
    ("pyproject", "pipe", "fragment"), [(p[1], p[2], p[4]) for p in PROJECTS], ids=[p[0] for p in PROJECTS]
)
def test_unusable_project_cli_exits_2(tmp_path: Path, pyproject: str | None, pipe: str | None, fragment: str) -> None:
    project = make_project(tmp_path / "proj", pipe, pyproject=pyproject)

    proc = run_cli("run", "-C", str(project))

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Error: "), proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project / ".distill" / "index.db").exists()


@pytest.mark.parametrize(
    ("pyproject", "pipe", "fragment"), [(p[1], p[2], p[4]) for p in PROJECTS], ids=[p[0] for p in PROJECTS]
)
def test_unusable_project_api_raises_project_error(
    tmp_path: Path, pyproject: str | None, pipe: str | None, fragment: str
) -> None:
    project = make_project(tmp_path / "proj", pipe, pyproject=pyproject)

    with pytest.raises(ProjectError, match=re.escape(fragment)) as info:
        open_session(str(project))

    assert not isinstance(info.value, ValidationError)
    assert info.value.exit_code == 2


def test_project_folder_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    proc = run_cli("run", "-C", str(missing))

    assert proc.returncode == 2
    assert f"project folder {missing} does not exist" in proc.stderr


def test_set_without_equals_sign(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", PARAM_PIPE)

    proc = run_cli("run", "-C", str(project), "--set", "window")

    assert proc.returncode == 2
    assert "--set 'window': expected NAME=VALUE" in proc.stderr


def test_project_found_from_a_subfolder(tmp_path: Path) -> None:
    # -C below the project root finds the root; a problem is still reported against it.
    project = make_project(tmp_path / "proj", MISSING_INPUT_PIPE, files={"notebooks/keep.txt": ""})

    proc = run_cli("run", "-C", str(project / "notebooks"))

    assert proc.returncode == 2
    assert "did you mean 'clean'" in proc.stderr


# -- missing data inputs ----------------------------------------------------------------------

MISSING_DATA = [
    # id, params.yaml text, --set items, shown path, source
    ("default", None, [], "data/raw.csv", "default"),
    ("params-yaml", "path: data/other.csv\n", [], "data/other.csv", "params.yaml"),
    ("set", None, ["path=data/third.csv"], "data/third.csv", "--set"),
]


@pytest.mark.parametrize(("params", "sets", "shown", "source"), [m[1:] for m in MISSING_DATA], ids=[m[0] for m in MISSING_DATA])
def test_missing_data_api(tmp_path: Path, params: str | None, sets: list[str], shown: str, source: str) -> None:
    project = make_project(tmp_path / "proj", DATA_PIPE, params=params)
    overrides = dict(s.split("=", 1) for s in sets)

    error = _api_error(project, overrides=overrides)

    assert error.codes == ["missing-data"]
    problem = error.problems[0]
    assert problem.message == (
        f"data input {shown!r} (param 'path' of step 'raw', from {source}) does not exist"
    )
    assert problem.where == f"pipe.py:{line_of(project, 'raw')}"


def test_missing_data_cli(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", DATA_PIPE)

    proc = run_cli("run", "-C", str(project))

    assert proc.returncode == 2, proc.stderr
    assert "data input 'data/raw.csv'" in proc.stderr
    assert "does not exist" in proc.stderr
    assert not (project / ".distill" / "index.db").exists()


def test_existing_data_file_validates(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", DATA_PIPE, files={"data/raw.csv": "a,b\n1,2\n"})

    session = open_session(str(project))
    try:
        value = session.params["raw"]["path"]
        assert value.is_path
        assert value.value == "data/raw.csv"
        assert value.absolute == str((project / "data" / "raw.csv").resolve())
    finally:
        session.close()


# -- nothing is written when validation fails -------------------------------------------------

SIDE_EFFECT = """
from pathlib import Path

from distill import step

@step
def touch():
    Path(__file__).with_name("touched.txt").write_text("ran")
    return 1
"""

FAILING = [
    # id, extra pipe source, params.yaml, --set items
    ("cycle", CYCLES["two-steps"][0].replace("from distill import step", ""), None, []),
    ("missing-input", MISSING_INPUT_PIPE.replace("from distill import step", ""), None, []),
    ("unknown-param", PARAM_PIPE.replace("from distill import step", ""), "windw: 3\n", []),
    ("param-type", PARAM_PIPE.replace("from distill import step", ""), None, ["window=abc"]),
    ("missing-data", DATA_PIPE.replace("from distill import step", "").replace("from pathlib import Path", ""), None, []),
]


@pytest.mark.parametrize(("extra", "params", "sets"), [f[1:] for f in FAILING], ids=[f[0] for f in FAILING])
def test_failed_validation_writes_nothing_and_runs_nothing(
    tmp_path: Path, extra: str, params: str | None, sets: list[str]
) -> None:
    project = make_project(tmp_path / "proj", SIDE_EFFECT + textwrap.dedent(extra), params=params)
    args = [a for s in sets for a in ("--set", s)]

    proc = run_cli("run", "-C", str(project), *args)

    assert proc.returncode == 2, proc.stderr
    assert "the pipeline has 1 problem:" in proc.stderr
    assert not (project / "touched.txt").exists(), "a step ran although validation failed"
    store = project / ".distill"
    assert not (store / "index.db").exists()
    written = {p.name for p in store.iterdir()} if store.exists() else set()
    assert written <= {"memo.json"}, written


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_failed_validation_records_no_run_in_an_existing_store(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", PARAM_PIPE, params="window: 2\n")
    first = run_cli("run", "-C", str(project))
    assert first.returncode == 0, first.stderr
    db = project / ".distill" / "index.db"
    runs, step_runs, cache = _count(db, "runs"), _count(db, "step_runs"), _count(db, "cache")
    assert runs == 1

    (project / "params.yaml").write_text("window: 2\nwindw: 3\n", encoding="utf-8")
    second = run_cli("run", "-C", str(project))

    assert second.returncode == 2, second.stderr
    assert "unknown param 'windw'" in second.stderr
    assert (_count(db, "runs"), _count(db, "step_runs"), _count(db, "cache")) == (runs, step_runs, cache)
