"""Run parameters: where their values come from, and checking them against their types.

Responsibilities:
- layer values: signature defaults < ``params.yaml`` < ``params.<env>.yaml`` < ``--set k=v``;
- check each value against its parameter's annotation (pydantic, imported only when a new
  (annotation, value) pair is seen; results are memoised in the state file);
- turn ``Path`` params into data inputs resolved against the project folder;
- report every unknown, missing or mistyped param at once, as ``Problem`` records.

Annotations are read from source and evaluated in a small namespace of builtins, ``typing``,
``pathlib`` and ``datetime``: planning never imports the user's code for that.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..analysis.source import ParamDecl, StepDecl
from ..cache.state import State, stat_key, trusted
from ..errors import Problem, ProjectError, did_you_mean
from .graph import Graph
from .project import Project

MEMO = "param-checks"
FILES = "param-files"
UNSET = object()


@dataclass(frozen=True, slots=True)
class ParamValue:
    """The value of one run parameter of one step.

    Attributes:
        name: the parameter.
        value: the checked value in JSON form (a ``Path`` is its project-relative string).
        source: where it came from: ``default``, a file name, or ``--set``.
        is_path: whether it is a data input (its file content is part of the key).
        absolute: for a data input, the absolute path to read.
    """

    name: str
    value: Any
    source: str
    is_path: bool = False
    absolute: str | None = None

    @property
    def shown(self) -> str:
        return json.dumps(self.value, sort_keys=True, default=str)


def parse_set(items: list[str]) -> dict[str, str]:
    """Parse ``--set k=v`` options into raw strings.

    Raises:
        ProjectError: an item without ``=``.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ProjectError(
                f"--set {item!r}: expected NAME=VALUE", hint="for example: --set window=14"
            )
        out[name.strip()] = value
    return out


def _load_yaml_file(path: pathlib.Path, state: State) -> tuple[dict[str, Any] | None, Problem | None]:
    table = state.table(FILES)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, None
    entry = table.get(str(path))
    if entry is not None and trusted(st, entry[0], entry[1]):
        return entry[2], None
    recorded = time.time_ns()
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark is not None else path.name
        return None, Problem("params-file", f"not valid YAML: {exc}", where)
    if data is None:
        data = {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        found = (
            f"the key {next(k for k in data if not isinstance(k, str))!r}"
            if isinstance(data, dict)
            else type(data).__name__
        )
        return None, Problem(
            "params-file",
            f"expected a mapping of param names to values, found {found}",
            path.name,
            "write one `name: value` per line",
        )
    state.put(FILES, str(path), (stat_key(st), recorded, data))
    return data, None


_NAMESPACE: dict[str, Any] | None = None


def _namespace() -> dict[str, Any]:
    global _NAMESPACE
    if _NAMESPACE is None:
        import datetime

        ns: dict[str, Any] = {name: getattr(typing, name) for name in typing.__all__}
        ns.update(
            typing=typing,
            pathlib=pathlib,
            Path=pathlib.Path,
            datetime=datetime,
            date=datetime.date,
            File=pathlib.Path,
        )
        _NAMESPACE = ns
    return _NAMESPACE


def evaluate_annotation(annotation: str | None) -> Any:
    """The type an annotation names, or ``UNSET`` when it is not a plain builtin/typing type."""
    if annotation is None:
        return Any
    if annotation in ("distill.File",):
        return pathlib.Path
    try:
        return eval(annotation, {"__builtins__": __builtins__}, _namespace())  # noqa: S307
    except Exception:  # noqa: BLE001 - any failure means "not resolvable without importing"
        return UNSET


def is_path_type(tp: Any) -> bool:
    if tp is pathlib.Path:
        return True
    args = typing.get_args(tp)
    return bool(args) and pathlib.Path in args


def check_value(annotation: str | None, tp: Any, value: Any, state: State) -> tuple[bool, Any, str]:
    """Check ``value`` against type ``tp``; return ``(ok, json_value, error)``, memoised."""
    try:
        memo_key = (annotation, json.dumps(value, sort_keys=True, default=str), type(value).__name__)
    except (TypeError, ValueError):
        memo_key = None
    table = state.table(MEMO)
    if memo_key is not None and memo_key in table:
        return table[memo_key]  # type: ignore[no-any-return]
    if tp is Any:
        result = (True, value, "")
    else:
        from pydantic import TypeAdapter, ValidationError

        try:
            adapter = TypeAdapter(tp)
            checked = adapter.validate_python(value)
            result = (True, adapter.dump_python(checked, mode="json"), "")
        except ValidationError as exc:
            first = exc.errors()[0]
            result = (False, None, first.get("msg", str(exc)))
        except Exception as exc:  # noqa: BLE001 - pydantic cannot build a validator for tp
            result = (True, value, f"unchecked: {exc}")
    if memo_key is not None:
        state.put(MEMO, memo_key, result)
    return result


def resolve_params(
    project: Project,
    graph: Graph,
    state: State,
    *,
    env: str | None = None,
    overrides: Mapping[str, str] | None = None,
    importer: typing.Callable[[StepDecl], Any] | None = None,
) -> tuple[dict[str, dict[str, ParamValue]], list[Problem]]:
    """Layer and check the value of every run parameter of every step.

    Args:
        project: the project (for ``params.yaml`` and relative paths).
        graph: the pipeline graph.
        state: the memo tables.
        env: name of the overlay file ``params.<env>.yaml``.
        overrides: raw ``--set`` strings, parsed as YAML scalars.
        importer: called with a step whose default or annotation cannot be read from source;
            returns the imported function (``None`` to report a problem instead).

    Returns:
        ``{step: {param: ParamValue}}`` and every problem found.
    """
    problems: list[Problem] = []
    layers: list[tuple[str, dict[str, Any]]] = []
    files = [project.root / "params.yaml"]
    if env:
        files.append(project.root / f"params.{env}.yaml")
    for path in files:
        data, problem = _load_yaml_file(path, state)
        if problem is not None:
            problems.append(problem)
        elif data is None and path != files[0]:
            problems.append(
                Problem(
                    "params-file",
                    f"--env {env}: {path.name} does not exist",
                    project.relative(path),
                    f"create {path.name} or drop --env",
                )
            )
        elif data is not None:
            layers.append((path.name, data))
    raw_overrides = dict(overrides or {})
    if raw_overrides:
        import yaml

        parsed: dict[str, Any] = {}
        for name, text in raw_overrides.items():
            try:
                parsed[name] = yaml.safe_load(text) if text.strip() else ""
            except yaml.YAMLError:
                parsed[name] = text
        layers.append(("--set", parsed))

    known = {p.name for params in graph.params.values() for p in params}
    for source, data in layers:
        for name in data:
            if name not in known:
                wired = name in graph.provider
                message = (
                    f"{name!r} is an output of step {graph.provider[name]}, not a param"
                    if wired
                    else f"unknown param {name!r}{did_you_mean(name, known)}"
                )
                problems.append(
                    Problem(
                        "unknown-param",
                        message,
                        source,
                        "params are the parameters of @step functions that no step provides"
                        if not wired
                        else "remove it",
                    )
                )

    values: dict[str, dict[str, ParamValue]] = {}
    outputs = set(graph.provider)
    for step_name, params in graph.params.items():
        decl = graph.steps[step_name]
        resolved: dict[str, ParamValue] = {}
        for param in params:
            value: Any = UNSET
            source = "default"
            for layer_source, data in layers:
                if param.name in data:
                    value, source = data[param.name], layer_source
            if value is UNSET:
                value = _default_of(param, decl, importer, problems)
            if value is UNSET:
                problems.append(
                    Problem(
                        "missing-input",
                        f"step {step_name!r} needs {param.name!r}, which no step outputs "
                        f"and no param sets{did_you_mean(param.name, outputs)}",
                        decl.where,
                        f"give it a default, set it in params.yaml, or run with --set {param.name}=VALUE",
                    )
                )
                continue
            tp = evaluate_annotation(param.annotation)
            if tp is UNSET and importer is not None:
                fn = importer(decl)
                tp = typing.get_type_hints(fn).get(param.name, Any) if fn is not None else UNSET
            if tp is UNSET:
                problems.append(
                    Problem(
                        "param-type",
                        f"step {step_name!r}: cannot resolve the annotation {param.annotation!r} "
                        f"of param {param.name!r}",
                        decl.where,
                        "use a builtin, typing or pathlib type for params",
                    )
                )
                continue
            ok, checked, error = check_value(param.annotation, tp, value, state)
            if not ok and source == "--set" and raw_overrides.get(param.name) != value:
                # NB: `--set day=2024-01-01` for a `str` param: YAML read a date, the text fits.
                ok, checked, error = check_value(
                    param.annotation, tp, raw_overrides.get(param.name, ""), state
                )
            if not ok:
                problems.append(
                    Problem(
                        "param-type",
                        f"param {param.name!r} of step {step_name!r} expects {param.annotation}, "
                        f"found {value!r} ({source}): {error}",
                        decl.where,
                        f"fix the value in {source}" if source != "default" else "fix the default",
                    )
                )
                continue
            if is_path_type(tp) and checked is not None:
                absolute = (project.root / checked).resolve()
                resolved[param.name] = ParamValue(
                    param.name, project.relative(absolute), source, True, str(absolute)
                )
            else:
                resolved[param.name] = ParamValue(param.name, checked, source)
        values[step_name] = resolved
    return values, problems


def _default_of(
    param: ParamDecl,
    decl: StepDecl,
    importer: typing.Callable[[StepDecl], Any] | None,
    problems: list[Problem],
) -> Any:
    if param.default_kind == "none":
        return UNSET
    if param.default_kind in ("literal", "path"):
        return param.default
    if importer is not None:
        import inspect

        fn = importer(decl)
        if fn is not None:
            default = inspect.signature(fn).parameters[param.name].default
            if isinstance(default, pathlib.PurePath):
                return str(default)
            return default
    problems.append(
        Problem(
            "param-default",
            f"param {param.name!r} of step {decl.name!r} has a default that cannot be read "
            f"without running code: {param.default_source}",
            decl.where,
            "use a literal default (number, string, list, Path(\"...\")) or set it in params.yaml",
        )
    )
    return UNSET
