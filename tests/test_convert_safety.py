"""``distill convert`` is safe to point at anything.

- it never runs the notebook's code, nor a module the notebook imports: ``from m import *``
  is expanded from ``m``'s source, found by path and parsed;
- the generated package never shadows a standard-library or installed module;
- ``params.yaml`` is written by a YAML library and reads back, through the params loader, to
  the values the notebook held;
- a hard-coded secret becomes ``${env:NAME}`` and its value is written nowhere;
- ``--force`` never deletes a file it did not write: a folder holding anything else is moved
  aside to ``DIR.old-<time>``.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from distill.cli.main import cli
from distill.convert import project as convert_project
from distill.convert.project import ConversionRefused, convert, params_yaml
from distill.convert.transforms import StarImportUnknown, star_exports
from distill.errors import DistillError
from distill.pipeline.params_text import load_params_text
from test_convert_golden import write_notebook

SRC = Path(__file__).resolve().parents[1] / "src"
ZEN = "Beautiful is better than ugly"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def _command(how: str) -> list[str]:
    if how == "script":
        script = shutil.which("distill")
        if script is not None:
            return [script]
    return [sys.executable, "-m", "distill"]


def _distill(how: str, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_command(how), *args], cwd=cwd, env=_env(**env), capture_output=True, text=True,
                          timeout=300, check=False)


# -- 1. convert (and lint) never run the notebook's code -----------------------------------------

def _writes(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def _local_module(folder: Path, marker: Path) -> list[str]:
    (folder / "evil_helpers.py").write_text(f"{_writes(marker)}\n\ndef double(x):\n    return 2 * x\n")
    return ["from evil_helpers import *", "y = double(21)"]


def _local_package(folder: Path, marker: Path) -> list[str]:
    (folder / "evil_pkg").mkdir()
    (folder / "evil_pkg" / "__init__.py").write_text(f"{_writes(marker)}\nfrom .core import *\n")
    (folder / "evil_pkg" / "core.py").write_text(f'{_writes(marker)}\n__all__ = ["triple"]\n\n'
                                                 "def triple(x):\n    return 3 * x\n")
    return ["from evil_pkg import *", "y = triple(3)"]


def _local_subpackage(folder: Path, marker: Path) -> list[str]:
    _local_package(folder, marker)
    return ["from evil_pkg.core import *", "y = triple(4)"]


def _installed_module(folder: Path, marker: Path) -> list[str]:
    return ["from this import *", "n = len(s)"]


def _cell_code(folder: Path, marker: Path) -> list[str]:
    return [
        f"def touch(path={_writes(marker)}):\n    return path",
        f"def deco(f):\n    {_writes(marker)}\n    return f\n\n\n@deco\ndef ident(x):\n    return x",
        f"class Flag:\n    flag = {_writes(marker)}",
        f"@deco\nclass Other:\n    pass\n\n\nvalue = ident(1)\n{_writes(marker)}",
    ]


def _sql(folder: Path, marker: Path) -> list[str]:
    return [f"%load_ext sql\n%sql sqlite:///{marker}", "%%sql rows <<\nSELECT 1 AS a", "n = len(rows)"]


HAZARDS = {"local-module": _local_module, "local-package": _local_package, "local-subpackage": _local_subpackage,
           "installed-module": _installed_module, "cell-code": _cell_code, "sql": _sql}


@pytest.mark.parametrize("hazard", sorted(HAZARDS))
def test_lint_and_convert_run_no_code(tmp_path: Path, hazard: str) -> None:
    folder = tmp_path / "nb"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    marker = tmp_path / "marker"
    cells = HAZARDS[hazard](folder, marker)
    write_notebook(folder / "nb.ipynb", tuple(cells))
    runs = 0
    for how in ("script", "module"):
        for cwd in (folder, elsewhere):
            notebook = os.path.relpath(folder / "nb.ipynb", cwd)
            output = tmp_path / f"out-{how}-{cwd.name}"
            for args in (["lint", notebook], ["convert", notebook, "-o", str(output)]):
                done = _distill(how, args, cwd)
                runs += 1
                assert "Traceback" not in done.stderr, done.stderr
                assert ZEN not in done.stdout and ZEN not in done.stderr
                assert not marker.exists(), f"{hazard}: `distill {args[0]}` ({how}, from {cwd.name}) ran code"
    assert runs == 8


def test_star_imports_are_expanded_from_source(tmp_path: Path) -> None:
    """Names come from ``__all__``, public top-level names, and ``from .x import *`` followed."""
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "__init__.py").write_text(
        "from .core import *\nfrom .extra import *\nimport json as _json\n\nSIDES = 4\n_hidden = 1\n")
    (tmp_path / "shapes" / "core.py").write_text(
        '__all__ = ("area", "UNIT")\n\nUNIT = 2\n\ndef area(x):\n    return x * x * UNIT\n\n'
        "def not_exported():\n    return 0\n")
    (tmp_path / "shapes" / "extra.py").write_text(
        "try:\n    from math import pi\nexcept ImportError:\n    pi = 3.14\n\nfor corner in range(1):\n    pass\n"
        "class Box:\n    size = 1\n")
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("from shapes import *", "total = area(SIDES) + pi + Box.size + corner"))
    result = convert(notebook, tmp_path / "out")
    pipeline = (tmp_path / "out" / "src" / result.package / "pipeline.py").read_text()
    assert f"from {result.package}.shapes import Box, SIDES, area, corner, pi" in pipeline
    assert "import *" not in pipeline
    done = _distill("module", ["run"], tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (("from math import *", "root = sqrt(16) + floor(pi)"), "from math import floor, pi, sqrt"),
        (("from os.path import *", "name = basename(join('a', 'b'))"), "from os.path import basename, join"),
        (("from this import *", "n = len(s) + len(d)"), "from this import d, s"),
    ],
    ids=["compiled", "made-by-its-package", "parsed"],
)
def test_star_import_of_standard_library(tmp_path: Path, cells: tuple[str, ...], expected: str) -> None:
    """A compiled or run-time-made standard-library module this process has loaded (``math``,
    ``os.path``) is read from ``sys.modules``; any other is parsed (``this``, never run)."""
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, cells)
    result = convert(notebook, tmp_path / "out")
    assert expected in (tmp_path / "out" / "src" / result.package / "pipeline.py").read_text()


@pytest.mark.parametrize(
    ("module", "source", "why"),
    [
        ("dyn", "__all__ = [n for n in ('a', 'b')]\na = b = 1\n", "the `__all__` of dyn is computed"),
        ("dyn", "globals()['a'] = 1\n", "dyn defines names at run time"),
        ("ext", None, "ext is an extension module"),
        ("no_such_module_here", "", "importing no_such_module_here would fail"),
    ],
    ids=["computed-all", "globals", "extension", "missing"],
)
def test_star_import_refused_when_names_need_running(tmp_path: Path, module: str, source: str | None,
                                                     why: str) -> None:
    if source is None:
        (tmp_path / f"{module}{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"\x7fELF not really")
    elif source:
        (tmp_path / f"{module}.py").write_text(source)
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (f"from {module} import *", "y = a + 1"))
    with pytest.raises(ConversionRefused) as caught:
        convert(notebook, tmp_path / "out")
    text = str(caught.value)
    assert "cell 1, line 1" in text and why in text, text
    if module != "no_such_module_here":
        assert f"cannot expand `from {module} import *` without running {module}" in text
        assert "import the names you use explicitly" in text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("__all__ = ['a']\n__all__ += ['b']\n__all__.extend(('c',))\n__all__.append('d')\n", {"a", "b", "c", "d"}),
        ("__all__: list[str] = ['a']\nb = 1\n", {"a"}),
        ("a = b = 1\n_c = 2\nx, (y, *z) = 1, (2, 3)\ndel b\n", {"a", "x", "y", "z"}),
        ("import os.path as osp, json\nfrom math import pi as PI, tau\n", {"osp", "json", "PI", "tau"}),
        ("if True:\n    a = 1\nelse:\n    b = 2\ntry:\n    c = 1\nexcept ImportError:\n    d = 1\n"
         "with open('f') as (e, f):\n    pass\n", {"a", "b", "c", "d", "e", "f"}),
        ("if (w := 3):\n    pass\nd = {}\nd[len('x')] = 1\n", {"w", "d"}),
        ("def setup():\n    global STATE\n    STATE = 1\n\nclass K:\n    inner = 1\n", {"setup", "STATE", "K"}),
        ("x = globals().get('y')\n", {"x"}),
    ],
    ids=["all-grown", "all-annotated", "assignments", "imports", "branches", "walrus", "global", "globals-read"],
)
def test_star_names_read_from_source(tmp_path: Path, source: str, expected: set[str]) -> None:
    (tmp_path / "mod.py").write_text(source)
    assert star_exports("mod", tmp_path) == expected


@pytest.mark.parametrize(
    "source",
    ["__all__ = ['a']\n__all__ += names()\n", "__all__ = list(x)\n", "exec('a = 1')\n",
     "globals().update(a=1)\n", "import sys\nsetattr(sys.modules[__name__], 'a', 1)\n", "vars()['a'] = 1\n"],
    ids=["grown-by-call", "computed", "exec", "globals-update", "setattr-module", "vars-item"],
)
def test_star_names_that_need_running(tmp_path: Path, source: str) -> None:
    (tmp_path / "mod.py").write_text(source)
    with pytest.raises(StarImportUnknown) as caught:
        star_exports("mod", tmp_path)
    assert not caught.value.missing


def test_star_import_cycle_and_depth(tmp_path: Path) -> None:
    (tmp_path / "loop_a.py").write_text("from loop_b import *\n\ndef fa():\n    return 1\n")
    (tmp_path / "loop_b.py").write_text("from loop_a import *\n\ndef fb():\n    return 2\n")
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("from loop_a import *", "y = fa() + fb()"))
    result = convert(notebook, tmp_path / "out")
    assert f"from {result.package}.loop_a import fa, fb" in (tmp_path / "out" / "src" / result.package / "pipeline.py").read_text()
    for n in range(12):
        (tmp_path / f"chain{n}.py").write_text(f"from chain{n + 1} import *\n" if n < 11 else "end = 1\n")
    assert star_exports("chain4", tmp_path) == {"end"}
    with pytest.raises(StarImportUnknown, match="more than 8 modules deep"):
        star_exports("chain0", tmp_path)


# -- 2. the package never shadows another module ------------------------------------------------

@pytest.mark.parametrize("stem", ["secrets", "json", "pandas"])
def test_package_name_never_shadows_a_module(tmp_path: Path, stem: str) -> None:
    notebook = tmp_path / f"{stem}.ipynb"
    write_notebook(notebook, ("import pandas as pd", "frame = pd.DataFrame({'x': [1, 2, 3]})",
                              "total = int(frame['x'].sum())"))
    output = tmp_path / "project"
    done = _distill("module", ["convert", str(notebook), "-o", str(output)], tmp_path)
    assert done.returncode == 0, done.stderr
    packages = [p.name for p in (output / "src").iterdir() if p.is_dir()]
    assert packages == [f"{stem}_pipeline"]
    assert f'pipeline = "{stem}_pipeline.pipeline"' in (output / "pyproject.toml").read_text()
    ran = _distill("module", ["run"], output)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_explicit_name_that_shadows_is_refused(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("values = [1, 2]", "total = sum(values)"))
    with pytest.raises(DistillError, match="would shadow the standard-library module json"):
        convert(notebook, tmp_path / "out", name="json")
    with pytest.raises(DistillError, match="would shadow the installed module yaml"):
        convert(notebook, tmp_path / "out", name="yaml")
    assert not (tmp_path / "out").exists()


def test_name_beside_local_module_gets_a_suffix(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def one():\n    return 1\n")
    notebook = tmp_path / "helpers.ipynb"
    write_notebook(notebook, ("from helpers import one", "y = one()"))
    result = convert(notebook, tmp_path / "out")
    assert result.package == "helpers_pipeline"
    assert (tmp_path / "out" / "src" / "helpers_pipeline" / "helpers.py").is_file()


# -- 3. params.yaml round-trips -------------------------------------------------------------------

STRINGS = ["null", "Null", "~", "yes", "no", "on", "off", "y", "n", "true", "True", "FALSE", "1e5", "1E5", "0x10",
           "0o17", "0b11", ".inf", "-.inf", ".nan", "-.nan", "007", "010", "1_000", "12:30", "2024-01-31", "", " ",
           "0", "-0", "+1", "1.", ".5", "3.14", "a: b", "a #b", "# c", "x: y # z", "multi\nline", "end\n",
           "trailing ", " leading", "tab\tin", "ünïcödé ✓", "日本語", "'single'", '"double"', "!tag", "&anchor",
           "*alias", "@at", "`tick", "%pct", "{a: 1}", "[1, 2]", "- item", "? key", "|", ">", "<<", "${env:HOME}",
           "\\back\\slash", "a\x85b", "bell\x07"]
KEYS = ["true", "false", "null", "yes", "no", "on", "off", "y", "1", "1e5", "0x10", "007", "3.14", ".inf", "ünï",
        "a b", "a: b", "#k", "~", "-", "<<", "[x]", "名前"]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_params_yaml_round_trips_every_value() -> None:
    values: list[object] = [*STRINGS, None, True, False, 0, -7, 10**20, 2.5, 1e5, 1e-7, 1e300, float("inf"),
                            float("-inf"), float("nan"), -0.0, [1, 2], ["yes", "0x10", ""], (1.5, 2.5), [True, None]]
    entries = [(f"p{index}", value, f"value {index}") for index, value in enumerate(values)]
    entries += [(key, key, "a key that YAML could read as something else") for key in KEYS]
    text = params_yaml(entries)
    assert text.startswith("# Run parameters of the pipeline")
    loaded = load_params_text(text)
    assert list(loaded.data) == [name for name, _, _ in entries]
    for name, value, _ in entries:
        assert _same(value, loaded.data[name]), (name, value, loaded.data[name])
    # a YAML 1.1 reader agrees
    plain = yaml.safe_load(text)
    for name, value, _ in entries:
        assert _same(value, plain[name]), (name, value, plain[name])


def test_params_yaml_of_a_notebook(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    code = ("true = 'yes'\nnull = 'null'\non = '0x10'\nno = 1e5\noff = '007'\nyes = ''\nlabel = 'a: b # c'\n"
            "text = 'two\\nlines'\nnom = 'ünï'\nfrom_ = None")
    names = ["true", "null", "on", "no", "off", "yes", "label", "text", "nom"]
    write_notebook(notebook, (("parameters", code), "total = [" + ", ".join(names) + "]"))
    convert(notebook, tmp_path / "out")
    text = (tmp_path / "out" / "params.yaml").read_text()
    assert "\ntrue:" not in text  # the key is quoted
    loaded = load_params_text(text).data
    assert loaded == {"true": "yes", "null": "null", "on": "0x10", "no": 1e5, "off": "007", "yes": "",
                      "label": "a: b # c", "text": "two\nlines", "nom": "ünï"}
    assert "# assigned in the cell tagged `parameters` (cell 1)" in text
    done = _distill("module", ["run"], tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr


# -- 4. hard-coded secrets -------------------------------------------------------------------------

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
PASSWORD = "hunter2-is-my-pass"
URL_PASSWORD = "S3cretPa55word"
UNUSED = "unused-but-still-secret"


def _files_containing(folder: Path, needle: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return found


def test_secrets_become_environment_variables(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        ("parameters", f"apiToken = {GITHUB!r}\nregion = 'eu'"),
        f"DB_PASSWORD = {PASSWORD!r}",
        f"service = 'postgresql://admin:{URL_PASSWORD}@db.example.com/prod'",
        f"unused_secret = {UNUSED!r}",
        "header = 'Bearer ' + apiToken\nsize = len(DB_PASSWORD) + len(service) + len(region)",
    ))
    output = tmp_path / "out"
    done = CliRunner().invoke(cli, ["convert", str(notebook), "-o", str(output)])
    assert done.exit_code == 0, done.output
    for secret in (GITHUB, PASSWORD, URL_PASSWORD, UNUSED):
        assert _files_containing(output, secret) == [], secret
        assert secret not in done.output
    params = load_params_text((output / "params.yaml").read_text()).data
    assert params == {"apiToken": "${env:API_TOKEN}", "DB_PASSWORD": "${env:DB_PASSWORD}",
                      "service": "${env:SERVICE}", "region": "eu"}
    pipeline = (output / "src" / "nb" / "pipeline.py").read_text()
    assert "from distill import Secret, step" in pipeline
    assert "apiToken: Secret[str]," in pipeline or "apiToken: Secret[str])" in pipeline
    assert "apiToken: Secret[str] =" not in pipeline
    for variable in ("API_TOKEN", "DB_PASSWORD", "SERVICE"):
        assert variable in done.output
    assert "UNUSED_SECRET" not in done.output
    report = (output / "CONVERSION.md").read_text()
    assert "## Secrets" in report and "`API_TOKEN`" in report and "`SERVICE`" in report
    missing = _distill("module", ["run"], output)
    assert missing.returncode == 2 and "API_TOKEN is not set" in missing.stderr, missing.stderr
    ran = _distill("module", ["run"], output, API_TOKEN=GITHUB, DB_PASSWORD=PASSWORD,
                   SERVICE=f"postgresql://admin:{URL_PASSWORD}@db.example.com/prod")
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_database_url_with_a_password_becomes_a_secret(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (f"%load_ext sql\n%sql postgresql://admin:{URL_PASSWORD}@db.example.com/prod",
                              "%%sql rows <<\nSELECT 1 AS a", "n = len(rows)"))
    result = convert(notebook, tmp_path / "out")
    assert result.environment == (("DATABASE", "param database"),)
    assert _files_containing(tmp_path / "out", URL_PASSWORD) == []
    assert "database: Secret[str]" in (tmp_path / "out" / "src" / "nb" / "pipeline.py").read_text()


def test_secret_written_inline_is_read_from_the_environment(tmp_path: Path) -> None:
    """A secret given to a dict key (or a keyword, or a library's config attribute, or inside a
    helper) cannot become a param: its literal becomes ``os.environ[...]``, written nowhere."""
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("import json", f"headers = {{'token': {GITHUB!r}}}\nbody = json.dumps(headers)"))
    output = tmp_path / "out"
    result = convert(notebook, output)
    assert _files_containing(output, GITHUB) == []
    assert result.environment == (("TOKEN", "`token` in cell 2"),)
    assert "headers = {'token': os.environ[\"TOKEN\"]}" in (output / "src" / "nb" / "pipeline.py").read_text()
    assert "`TOKEN`" in (output / "CONVERSION.md").read_text()
    ran = _distill("module", ["run"], output, TOKEN=GITHUB)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert GITHUB not in ran.stdout + ran.stderr


def test_secret_inside_an_f_string_is_refused(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("user = 'ann'", f"header = f'token {GITHUB} for {{user}}'\nn = len(header)"))
    with pytest.raises(ConversionRefused, match=r"cell 2, line 1: a hard-coded secret") as caught:
        convert(notebook, tmp_path / "out")
    assert GITHUB not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_secret_named_numbers_stay_params(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("max_tokens = 200", "budget = max_tokens * 2"))
    convert(notebook, tmp_path / "out")
    assert load_params_text((tmp_path / "out" / "params.yaml").read_text()).data == {"max_tokens": 200}


# -- 5. --force never deletes what convert did not write ------------------------------------------

def _notebook(tmp_path: Path) -> Path:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("values = [1, 2, 3]", "total = sum(values)"))
    return notebook


def _old_folders(tmp_path: Path) -> list[Path]:
    return sorted(p for p in tmp_path.iterdir() if p.name.startswith("out.old-"))


def test_manifest_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    output = tmp_path / "out"
    result = convert(_notebook(tmp_path), output)
    manifest = json.loads((output / ".distill-manifest.json").read_text())
    files = manifest["files"]
    assert sorted(files) == sorted(result.files)
    for rel, digest in files.items():
        assert hashlib.sha256((output / rel).read_bytes()).hexdigest() == digest
    on_disk = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    assert on_disk == sorted([*files, ".distill-manifest.json"])


def test_existing_folder_without_force_is_refused(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    done = CliRunner().invoke(cli, ["convert", str(_notebook(tmp_path)), "-o", str(output)])
    assert done.exit_code == 2
    assert done.output.count("Error:") == 1 and "--force" in done.output
    assert [p.name for p in output.iterdir()] == ["notes.txt"]


def test_force_replaces_an_unchanged_conversion(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path)
    output = tmp_path / "out"
    convert(notebook, output)
    write_notebook(notebook, ("values = [1, 2, 3, 4]", "total = sum(values)"))
    done = CliRunner().invoke(cli, ["convert", str(notebook), "-o", str(output), "--force"])
    assert done.exit_code == 0, done.output
    assert _old_folders(tmp_path) == []
    assert "moved" not in done.output
    assert "values: [1, 2, 3, 4]" in (output / "params.yaml").read_text()


@pytest.mark.parametrize("change", ["own-module", "notes", "edited", "deleted-manifest", "verify-records"])
def test_force_moves_a_folder_with_other_files_aside(tmp_path: Path, change: str) -> None:
    notebook = _notebook(tmp_path)
    output = tmp_path / "out"
    convert(notebook, output)
    if change == "own-module":
        (output / "src" / "mine.py").write_text("def mine():\n    return 1\n")
    elif change == "notes":
        (output / "NOTES.md").write_text("my notes")
    elif change == "edited":
        pipeline = output / "src" / "nb" / "pipeline.py"
        pipeline.write_text(pipeline.read_text() + "\n# my edit\n")
    elif change == "deleted-manifest":
        (output / ".distill-manifest.json").unlink()
    else:
        (output / "tests" / "expected").mkdir()
        (output / "tests" / "expected" / "index.json").write_text("{}")
    before = {p.relative_to(output): p.read_bytes() for p in output.rglob("*") if p.is_file()}
    done = CliRunner().invoke(cli, ["convert", str(notebook), "-o", str(output), "--force"])
    assert done.exit_code == 0, done.output
    [old] = _old_folders(tmp_path)
    assert old.name.startswith("out.old-") and len(old.name) == len("out.old-YYYYmmdd-HHMMSS")
    assert f"moved the previous {output}/ to {old}/" in done.output
    assert {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()} == before
    assert (output / ".distill-manifest.json").is_file()
    assert not (output / "NOTES.md").exists() and not (output / "src" / "mine.py").exists()


def test_force_moves_aside_under_a_unique_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert_project, "_timestamp", lambda: "20240102-030405")
    notebook = _notebook(tmp_path)
    output = tmp_path / "out"
    (tmp_path / "out.old-20240102-030405").mkdir()
    (tmp_path / "out.old-20240102-030405" / "keep").write_text("1")
    for round_ in range(2):
        output.mkdir(exist_ok=True)
        (output / "mine.txt").write_text(f"round {round_}")
        result = convert(notebook, output, force=True)
        assert result.moved_aside is not None
    assert (tmp_path / "out.old-20240102-030405" / "keep").read_text() == "1"
    assert (tmp_path / "out.old-20240102-030405-2" / "mine.txt").read_text() == "round 0"
    assert (tmp_path / "out.old-20240102-030405-3" / "mine.txt").read_text() == "round 1"


def test_force_on_a_file_moves_it_aside(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.write_text("a file, not a folder")
    with pytest.raises(DistillError, match="already exists"):
        convert(_notebook(tmp_path), output)
    result = convert(_notebook(tmp_path), output, force=True)
    assert result.moved_aside is not None and result.moved_aside.read_text() == "a file, not a folder"
    assert (output / "params.yaml").is_file()


def test_force_with_an_empty_folder_or_none(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    assert convert(_notebook(tmp_path), output).moved_aside is None
    assert convert(_notebook(tmp_path), output, force=True).moved_aside is None
    assert _old_folders(tmp_path) == []


def test_a_name_changed_only_by_a_helper_converts(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, ("items = []", "def add(v):\n    items.append(v)", "## Use", "add(1)\ntotal = 2"))
    result = convert(notebook, tmp_path / "out")
    assert result.steps


def test_a_name_imported_in_a_fallback_branch_is_not_a_result(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, (
        "try:\n    from math import isqrt as root\nexcept ImportError:\n    from math import sqrt\n\n"
        "    def root(n):\n        return int(sqrt(n))\ntotal = root(17) * 2",
    ))
    result = convert(notebook, tmp_path / "out")
    pipeline = (tmp_path / "out" / "src" / result.package / "pipeline.py").read_text()
    assert "return sqrt" not in pipeline and ", sqrt" not in pipeline
    done = _distill("module", ["run"], tmp_path / "out")
    assert done.returncode == 0, done.stderr
