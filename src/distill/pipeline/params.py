"""Run parameters: the value of every param of every step, layered over the graph.

Responsibilities:
- layer values: signature defaults < ``params.yaml`` < ``params.<env>.yaml`` < ``--set k=v``
  (read by ``params_text``, one YAML loader for all of them);
- check each value against its parameter's annotation (``param_types``: read from source,
  checked with pydantic's strict rules for JSON input, memoised);
- turn ``Path`` params into data inputs resolved against the project folder;
- report every unknown, missing or mistyped param at once, as ``Problem`` records that say
  what to type instead;
- ``check_deferred``: check, when the step runs, the values whose annotation names a project
  type;
- secrets (rules in ``secrets``): read ``${env:NAME}`` values from the environment, key a
  secret by its keyed hash, never memoise it, and never echo it in a problem.

Nothing here runs user code: annotations are read from source, and a default that is not a
literal is left to the function itself.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..analysis.source import StepDecl
from ..errors import Problem, ProjectError, did_you_mean
from ..memo import State
from .graph import Graph
from .param_types import (
    UNSET,
    check_value,
    evaluate_annotation,
    is_path_type,
    validate_value,
    value_hint,
)
from .params_text import ParamsText, load_params_file, load_set_value
from .project import Project
from .secrets import MASK, env_reference, is_secret, keyed, mask, secret_texts


@dataclass(frozen=True, slots=True)
class ParamValue:
    """The value of one run parameter of one step.

    Attributes:
        name: the parameter.
        value: the checked value in JSON form (a ``Path`` is its project-relative string).
        source: where it came from: ``default``, a file name, or ``--set``.
        is_path: whether it is a data input (its file content is part of the key).
        absolute: for a data input, the absolute path to read.
        annotation: the annotation's text when it names a type that cannot be known from
            source (a project type): the value is checked when the step runs.
        default_source: the default's source text when it cannot be read without running
            code; the step then gets its own default, and the key holds this text.
        hashed: for a secret (``secrets.is_secret``), its keyed hash: what the key holds.
        variable: the environment variable the value was read from (``${env:NAME}``).
    """

    name: str
    value: Any
    source: str
    is_path: bool = False
    absolute: str | None = None
    annotation: str | None = None
    default_source: str | None = None
    hashed: str | None = None
    variable: str | None = None

    @property
    def secret(self) -> bool:
        return self.hashed is not None

    @property
    def shown(self) -> str:
        return MASK if self.secret else json.dumps(self.value, sort_keys=True, default=str)

    @property
    def key_value(self) -> Any:
        """What the cache key holds for this value."""
        if self.hashed is not None:
            return self.hashed
        if self.default_source is not None:
            return f"<default: {self.default_source}>"
        return self.value

    @property
    def recorded(self) -> Any:
        """What a run record holds for this value: ``***`` for a secret."""
        return MASK if self.secret else self.key_value

    @property
    def secret_texts(self) -> set[str]:
        """The text of this value to mask wherever it would be shown (empty unless secret)."""
        return secret_texts(self.value) if self.secret else set()

    @property
    def passed(self) -> bool:
        """Whether the runner passes the value (otherwise the function's default applies)."""
        return self.default_source is None


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


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def resolve_params(
    project: Project,
    graph: Graph,
    state: State,
    *,
    env: str | None = None,
    overrides: Mapping[str, str] | None = None,
    typed: Mapping[str, Any] | None = None,
) -> tuple[dict[str, dict[str, ParamValue]], list[Problem]]:
    """Layer and check the value of every run parameter of every step.

    Args:
        project: the project (for ``params.yaml`` and relative paths).
        graph: the pipeline graph.
        state: the memo tables.
        env: name of the overlay file ``params.<env>.yaml``.
        overrides: raw ``--set`` strings, parsed as YAML scalars.
        typed: values given from Python (``distill.run(params={"n": 3})``), checked
            as they are: a number given from Python is never read as text.

    Nothing here runs user code: an annotation naming a project type is checked when the
    step runs, and a default that is not a literal is left to the function itself.

    Returns:
        ``{step: {param: ParamValue}}`` and every problem found.
    """
    problems: list[Problem] = []
    layers: list[tuple[str, ParamsText]] = []
    # NB: secrecy is a name's, across the graph: steps sharing a param share its value.
    secret_names = {p.name for ps in graph.params.values() for p in ps if is_secret(p.name, p.annotation)}
    files = [project.root / "params.yaml"]
    if env:
        files.append(project.root / f"params.{env}.yaml")
    for path in files:
        loaded, file_problems = load_params_file(path, state, secret_names)
        problems.extend(file_problems)
        if loaded is None and not file_problems and path != files[0]:
            problems.append(
                Problem(
                    "params-file",
                    f"--env {env}: {path.name} does not exist",
                    project.relative(path),
                    f"create {path.name} or drop --env",
                )
            )
        elif loaded is not None:
            layers.append((path.name, loaded))
    raw_overrides = dict(overrides or {})
    if raw_overrides:
        parsed: dict[str, Any] = {}
        for name, text in raw_overrides.items():
            parsed[name], set_problems = load_set_value(name, text)
            problems.extend(set_problems)
        layers.append(("--set", ParamsText(parsed)))
    if typed:
        layers.append(("params=", ParamsText(dict(typed))))

    known = {p.name for params in graph.params.values() for p in params}
    for source, layer in layers:
        for name in layer.data:
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
    unset_variables: set[tuple[str, str, str]] = set()
    for step_name, params in graph.params.items():
        decl = graph.steps[step_name]
        resolved: dict[str, ParamValue] = {}
        for param in params:
            value: Any = UNSET
            source = "default"
            found_at = "default"
            for layer_source, layer in layers:
                if param.name in layer.data:
                    value, source = layer.data[param.name], layer_source
                    line = layer.line_of(param.name)
                    found_at = source if line is None else f"{source}:{line}"
            tp = evaluate_annotation(param.annotation)
            variable = env_reference(value)
            if variable is not None:
                from_env = os.environ.get(variable)
                if from_env is None:
                    if (variable, param.name, found_at) not in unset_variables:
                        unset_variables.add((variable, param.name, found_at))
                        problems.append(
                            Problem(
                                "missing-env",
                                f"environment variable {variable} is not set: param {param.name!r} "
                                f"is ${{env:{variable}}} in {source}",
                                found_at,
                                f"set {variable} in the environment, or give {param.name} "
                                f"another value in {source}",
                            )
                        )
                    continue
                value = from_env
            # NB: a Path param is a data input, never a secret: its content enters the key as
            #     a hash, and its location is shown and recorded.
            secret = (param.name in secret_names or variable is not None) and not (
                tp is not UNSET and is_path_type(tp)
            )
            if value is UNSET and param.default_kind == "unresolved":
                if tp is not UNSET and is_path_type(tp):
                    problems.append(
                        Problem(
                            "param-default",
                            f"param {param.name!r} of step {step_name!r} is a data input whose "
                            f"default cannot be read without running code: {param.default_source}",
                            decl.where,
                            'write a literal default (Path("data/raw.csv")) or set it in params.yaml',
                        )
                    )
                    continue
                resolved[param.name] = ParamValue(
                    param.name, None, "default", default_source=param.default_source or "?"
                )
                continue
            if value is UNSET and param.default_kind != "none":
                value = param.default
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
            if tp is UNSET:
                # NB: a project type (`mode: Mode`) is not known without importing the
                #     project; the value is keyed as given and checked when the step runs.
                resolved[param.name] = ParamValue(
                    param.name,
                    value,
                    source,
                    annotation=param.annotation,
                    hashed=keyed(value) if secret else None,
                    variable=variable,
                )
                continue
            # NB: a secret's value is never memoised: the memo tables are written to the store.
            ok, checked, error = check_value(param.annotation, tp, value, state, memo=not secret)
            as_typed = raw_overrides.get(param.name)
            if not ok and source == "--set" and variable is None and as_typed is not None and as_typed != value:
                # NB: what the user typed is text, and text is what a `str` (or Path, or
                #     Literal of strings) param may want: `--set text=123` is "123", not 123.
                #     Only for --set: in params.yaml, `name: 42` is a number.
                ok, checked, _ = check_value(param.annotation, tp, as_typed, state, memo=not secret)
            if not ok and variable is not None:
                # NB: an environment variable is text; `${env:PORT}` for an int param is read
                #     as --set reads text: "8080" is 8080.
                parsed, _ = load_set_value(param.name, value)
                if parsed != value:
                    ok, checked, _ = check_value(param.annotation, tp, parsed, state, memo=not secret)
            if not ok:
                hint = value_hint(tp, value, source=source)
                if source == "default":
                    hint = f"fix the default: {hint}" if hint else "fix the default"
                hint = hint or f"fix the value in {source}"
                found = _shown(value)
                if secret:
                    texts = secret_texts(value) | secret_texts(as_typed)
                    found, error, hint = MASK, mask(error, texts), mask(hint, texts)
                problems.append(
                    Problem(
                        "param-type",
                        f"param {param.name!r} of step {step_name!r} expects {param.annotation}, "
                        f"found {found} ({found_at}): {error}",
                        decl.where,
                        hint,
                    )
                )
                continue
            if is_path_type(tp) and checked is not None:
                absolute = (project.root / checked).resolve()
                resolved[param.name] = ParamValue(
                    param.name, project.relative(absolute), source, True, str(absolute), variable=variable
                )
            else:
                resolved[param.name] = ParamValue(
                    param.name, checked, source, hashed=keyed(checked) if secret else None, variable=variable
                )
        values[step_name] = resolved
    return values, problems


def check_deferred(decl: StepDecl, fn: typing.Callable[..., Any], values: Mapping[str, ParamValue]) -> list[Problem]:
    """Check the values whose annotation names a project type, now that the step is imported.

    Args:
        decl: the step.
        fn: the imported step function.
        values: the step's resolved params.

    Returns:
        One problem per value its annotation rejects.
    """
    deferred = [v for v in values.values() if v.annotation is not None and v.passed]
    if not deferred:
        return []
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # noqa: BLE001 - an annotation that fails to resolve at all
        return [
            Problem(
                "param-type",
                f"step {decl.name!r}: cannot resolve the annotations of its params: {exc}",
                decl.where,
                "import the types the annotations name at the top of the module",
            )
        ]
    problems = []
    for value in deferred:
        tp = hints.get(value.name, Any)
        ok, _, error = validate_value(tp, value.value)
        if ok:
            continue
        hint = value_hint(tp, value.value, source=value.source)
        if value.source == "default":
            hint = f"fix the default: {hint}" if hint else "fix the default"
        hint = hint or f"fix the value in {value.source}"
        found = _shown(value.value)
        if value.secret:
            found, error, hint = MASK, mask(error, value.secret_texts), mask(hint, value.secret_texts)
        problems.append(
            Problem(
                "param-type",
                f"param {value.name!r} of step {decl.name!r} expects {value.annotation}, "
                f"found {found} ({value.source}): {error}",
                decl.where,
                hint,
            )
        )
    return problems


def secrets_of(params: Mapping[str, Mapping[str, ParamValue]]) -> frozenset[str]:
    """The text of every secret value among a session's params (``{step: {name: value}}``):
    what to mask in anything shown or recorded."""
    return frozenset(t for values in params.values() for v in values.values() if v.secret for t in v.secret_texts)


def reads_environment(params: Mapping[str, Mapping[str, ParamValue]]) -> bool:
    """Whether any value was read from the environment (``${env:NAME}``): such params hold
    only for this environment, so a session made from them is not reused."""
    return any(v.variable is not None for values in params.values() for v in values.values())
