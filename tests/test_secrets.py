"""Secret params: declared three ways, keyed by a keyed hash, shown as ``***``, never stored.

The last test is the one that says it is done: a distinctive value given every way, every
command run on it, and then every byte under the store and every line printed searched for it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

import distill
from conftest import cli, ran_steps, status_json, write
from distill.cache.key import KeyParts, explain
from distill.errors import ValidationError
from distill.pipeline.param_types import evaluate_annotation
from distill.pipeline.secrets import (
    MASK,
    annotation_is_secret,
    env_reference,
    is_keyed_hash,
    is_secret,
    keyed,
    mask,
    mask_value,
)
from helpers_validation import isolated_imports  # noqa: F401

SECRET = "s3cr3t-VALUE-9f1c"
OTHER = "0ther-VALUE-7a2b"
VARIABLE = "DISTILL_TEST_CONN"

# Three secrets, one per way: `conn` by `${env:...}` in params.yaml, `db_password` by its
# name (a plain str given in params.yaml), `api_token` by its annotation (given with --set).
PIPE = """
from distill import Secret, step

@step
def fetch(conn: str, db_password: str, api_token: Secret[str] = "dev-token", window: int = 3) -> dict:
    return {"kinds": [type(v).__name__ for v in (conn, db_password, api_token)],
            "lengths": [len(conn), len(db_password), len(api_token)], "window": window}

@step
def report(fetch: dict, api_token: Secret[str] = "dev-token", fail: bool = False) -> str:
    if fail:
        raise RuntimeError(f"login refused for token {api_token!r} ({api_token})")
    return f"{sum(fetch['lengths'])} characters of credentials"
"""

PARAMS = f"""
conn: ${{env:{VARIABLE}}}
db_password: {SECRET}
"""


@pytest.fixture
def project(make_project, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(VARIABLE, SECRET)
    return make_project({"pipe.py": PIPE, "params.yaml": PARAMS})


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


# -- the rules ------------------------------------------------------------------------------


def test_the_three_ways_a_param_is_secret() -> None:
    assert is_secret("window", "Secret[str]")
    assert is_secret("window", "distill.Secret[str] | None")
    assert is_secret("endpoint", "str", "${env:ENDPOINT}")
    for name in ("api_token", "DB_PASSWORD", "passwd", "apikey", "api_key", "credentials", "private_key", "secret"):
        assert is_secret(name, "str"), name
    assert not is_secret("window", "int", 3)
    assert not is_secret("endpoint", "str", "https://example.org/${env:X}")
    assert env_reference("${env:HOME}") == "HOME"
    assert env_reference("$HOME") is None
    assert annotation_is_secret('"Secret[str]"')
    assert not annotation_is_secret("SecretSanta")


def test_secret_is_a_plain_str_annotation() -> None:
    import typing

    def f(api_token: distill.Secret[str]) -> None: ...

    assert typing.get_type_hints(f) == {"api_token": str, "return": type(None)}
    assert evaluate_annotation("Secret[str]") is str
    assert evaluate_annotation("distill.Secret[int]") is int


def test_mask_replaces_every_form_of_a_secret() -> None:
    text = f"token {SECRET!r}, as JSON {json.dumps({'t': SECRET})}, plain {SECRET}"
    masked = mask(text, {SECRET})
    assert SECRET not in masked and masked.count(MASK) == 3
    assert mask_value({"a": [SECRET + "!"], SECRET: 1}, {SECRET}) == {"a": ["***!"], MASK: 1}
    assert mask("nothing to hide", set()) == "nothing to hide"


def test_key_parts_and_explanations_hold_the_keyed_hash_only() -> None:
    def parts(value: str) -> KeyParts:
        return KeyParts.build(
            step="s", outputs=("s",), code={}, code_digest="", packages={}, params={"api_token": keyed(value)},
            data={}, environ={"SERVICE_PASSWORD": value, "REGION": "eu"},
        )

    old, new = parts(SECRET), parts(OTHER)
    assert is_keyed_hash(keyed(SECRET)) and keyed(SECRET) == keyed(SECRET) != keyed(OTHER)
    assert old.key != new.key and parts(SECRET).key == old.key
    assert SECRET not in json.dumps(old.to_json())
    assert dict(old.environ)["REGION"] == "eu"  # other variables keep their value
    assert explain(new, old) == [
        "param api_token: *** → ***",
        "environment variable SERVICE_PASSWORD: *** → ***",
    ]


# -- each way, end to end ---------------------------------------------------------------------


def test_secret_annotation_gives_the_step_a_plain_str(project: Path) -> None:
    cli(project, "run", "--set", f"api_token={SECRET}", check=0)
    fetched = distill.load("fetch", project=project, params={"api_token": SECRET})
    assert fetched["kinds"] == ["str", "str", "str"]
    assert fetched["lengths"] == [len(SECRET)] * 3


@pytest.mark.parametrize("name", ["conn", "db_password", "api_token"])
def test_each_way_a_changed_secret_makes_the_step_stale_without_its_values(
    project: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    token = ("--set", f"api_token={SECRET}")
    cli(project, "run", *token, check=0)
    assert status_json(project, *token)["fetch"]["state"] == "fresh"  # unchanged: fresh
    if name == "conn":
        monkeypatch.setenv(VARIABLE, OTHER)
    elif name == "db_password":
        write(project / "params.yaml", PARAMS.replace(f"db_password: {SECRET}", f"db_password: {OTHER}"))
    else:
        token = ("--set", f"api_token={OTHER}")
    proc = cli(project, "status", "--json", *token, check=0)
    states = {item["step"]: item for item in json.loads(proc.stdout)}
    assert states["fetch"]["state"] == "stale"
    assert states["fetch"]["reasons"] == [f"param {name}: *** → ***"]
    assert SECRET not in output(proc) and OTHER not in output(proc)
    assert "fetch" in ran_steps(cli(project, "run", *token, check=0))
    assert status_json(project, *token)["fetch"]["state"] == "fresh"


def test_a_changed_variable_is_seen_by_the_same_process(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"api_token": SECRET}
    assert distill.run(project=project, params=params).ok

    def fetch() -> tuple[str, tuple[str, ...]]:
        decision = {d.step: d for d in distill.status(project=project, params=params)}["fetch"]
        return decision.state, decision.reasons

    assert fetch()[0] == "fresh"
    monkeypatch.setenv(VARIABLE, OTHER)
    assert fetch() == ("stale", ("param conn: *** → ***",))
    monkeypatch.setenv(VARIABLE, SECRET)
    assert fetch()[0] == "fresh"


def test_missing_environment_variable_is_one_clear_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE)
    proc = cli(project, "run", check=2)
    err = proc.stderr
    assert err.count(VARIABLE) >= 1 and "'conn'" in err and "params.yaml:1" in err
    assert err.count("is not set") == 1
    with pytest.raises(ValidationError) as caught:
        distill.status(project=project)
    assert [p.code for p in caught.value.problems] == ["missing-env"]


def test_type_error_on_a_secret_does_not_echo_it(project: Path) -> None:
    write(project / "params.yaml", PARAMS.replace(f"db_password: {SECRET}", f"db_password: [{SECRET}]"))
    proc = cli(project, "status", check=2)
    assert "param 'db_password' of step 'fetch' expects str, found ***" in proc.stderr
    assert SECRET not in output(proc)


def test_show_masks_a_secret_the_step_returns(make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(
        {
            "pipe.py": """
                from distill import step

                @step
                def header(api_token: str) -> dict:
                    return {"Authorization": "Bearer " + api_token}
                """,
        }
    )
    monkeypatch.setenv("DISTILL_TEST_TOKEN", SECRET)
    write(root / "params.yaml", "api_token: ${env:DISTILL_TEST_TOKEN}\n")
    cli(root, "run", check=0)
    for args in (("show", "header"), ("show", "header", "--json")):
        proc = cli(root, *args, check=0)
        assert SECRET not in output(proc)
        assert "Bearer ***" in proc.stdout
    # The value is the user's: load gives it back as returned.
    assert distill.load("header", project=root) == {"Authorization": "Bearer " + SECRET}


# -- done when: the value is nowhere ----------------------------------------------------------


def test_a_secret_is_never_printed_and_never_stored(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = ("--set", f"api_token={SECRET}")
    procs = [
        cli(project, "run", *token, check=0),
        cli(project, "run", *token, check=0),  # all cached
        cli(project, "status", *token, check=0),
        cli(project, "status", "--json", *token, check=0),
        cli(project, "status", "--set", f"api_token={SECRET}-2", check=0),
        cli(project, "status", "--json", "--set", f"api_token={SECRET}-2", check=0),
        cli(project, "run", "--explain", "--set", f"api_token={SECRET}-2", check=0),
        cli(project, "run", "--explain", "--json", *token, check=0),
        cli(project, "show", "fetch", *token, check=0),
        cli(project, "show", "report", *token, check=0),
        cli(project, "show", "report", "--json", *token, check=0),
        cli(project, "run", "--json", *token, "--set", "fail=true", check=1),
        cli(project, "run", "-q", "--set", f"api_token={SECRET}", "--set", "fail=true", check=1),
    ]
    status = {item["step"]: item for item in json.loads(procs[5].stdout)}
    assert status["fetch"]["reasons"] == ["param api_token: *** → ***"]
    failed = json.loads(procs[11].stdout)
    assert [s["error"] for s in failed["steps"] if s["status"] == "failed"][0].count("login refused for token '***' (***)")
    write(project / "params.yaml", PARAMS.replace(f"db_password: {SECRET}", f"db_password: [{SECRET}]"))
    procs.append(cli(project, "run", *token, check=2))  # a type error on a secret
    write(project / "params.yaml", PARAMS)
    monkeypatch.setenv(VARIABLE, SECRET + "-env")
    procs.append(cli(project, "run", *token, check=0))

    for proc in procs:
        assert SECRET not in output(proc), f"{proc.args}\n{output(proc)}"

    # Run records hold *** for every secret, the command included.
    with sqlite3.connect(project / ".distill" / "index.db") as db:
        rows = db.execute("SELECT command, params FROM runs").fetchall()
    assert rows and all(MASK in command for command, _ in rows if "api_token" in command)
    recorded = json.loads(rows[0][1])
    assert recorded["fetch"]["api_token"] == MASK and recorded["fetch"]["db_password"] == MASK
    assert recorded["fetch"]["conn"] == MASK and recorded["fetch"]["window"] == 3

    files = [path for path in (project / ".distill").rglob("*") if path.is_file()]
    assert any(path.name == "index.db" for path in files)
    needle = SECRET.encode()
    leaks = [str(path) for path in files if needle in path.read_bytes()]
    assert leaks == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_token", True), ("DB_PASSWORD", True), ("apiKey", True), ("client_secret", True),
        ("private_key", True), ("accesstoken", True), ("credentials", True), ("token", True),
        ("max_tokens", False), ("tokenizer_name", False), ("n_tokens", False), ("secretary", False),
        ("window", False),
    ],
)
def test_a_name_is_secret_when_a_word_of_it_is(name: str, secret: bool) -> None:
    from distill.pipeline.secrets import name_is_secret

    assert name_is_secret(name) is secret
