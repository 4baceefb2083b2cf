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

import ast
import json
import os
import pathlib
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..analysis.source import StepDecl
from ..errors import Problem, ProjectError, did_you_mean
from ..memo import State, stat_key, trusted
from .graph import Graph
from .project import Project

MEMO = "param-checks"
FILES = "param-files"


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
    """

    name: str
    value: Any
    source: str
    is_path: bool = False
    absolute: str | None = None
    annotation: str | None = None
    default_source: str | None = None

    @property
    def shown(self) -> str:
        return json.dumps(self.value, sort_keys=True, default=str)

    @property
    def key_value(self) -> Any:
        """What the cache key holds for this value."""
        if self.default_source is not None:
            return f"<default: {self.default_source}>"
        return self.value

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


_BUILTIN_TYPES: dict[str, Any] = {
    t.__name__: t
    for t in (int, float, str, bool, bytes, complex, list, dict, tuple, set, frozenset, object)
}
_TYPING_NAMES = frozenset(typing.__all__)
UNSET = object()


def _annotation_names() -> dict[str, Any]:
    import datetime

    names: dict[str, Any] = dict(_BUILTIN_TYPES)
    names.update({name: getattr(typing, name) for name in _TYPING_NAMES})
    names.update(
        Path=pathlib.Path,
        PurePath=pathlib.PurePath,
        File=pathlib.Path,
        date=datetime.date,
        time=datetime.time,
        timedelta=datetime.timedelta,
    )
    names["None"] = None
    return names


_MODULES: dict[str, str] = {"typing": "typing", "pathlib": "pathlib", "datetime": "datetime", "distill": "distill"}
_ATTRIBUTES: dict[tuple[str, str], Any] = {}


def _module_attribute(module: str, attr: str) -> Any:
    import datetime

    if module == "typing" and attr in _TYPING_NAMES:
        return getattr(typing, attr)
    if module == "pathlib" and attr in ("Path", "PurePath"):
        return getattr(pathlib, attr)
    if module == "datetime" and attr in ("date", "datetime", "time", "timedelta"):
        return getattr(datetime, attr)
    if module == "distill" and attr == "File":
        return pathlib.Path
    return UNSET


def _annotation_value(node: ast.expr, names: dict[str, Any], depth: int = 0) -> Any:
    """The type an annotation's AST names, built without evaluating any code."""
    if depth > 20:
        return UNSET
    if isinstance(node, ast.Constant):
        if node.value is None:
            return None
        if isinstance(node.value, str):
            # NB: a quoted annotation is a forward reference: `n: "int"` names int.
            try:
                inner = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return UNSET
            return _annotation_value(inner, names, depth + 1)
        return UNSET
    if isinstance(node, ast.Name):
        if node.id == "datetime":
            import datetime

            # NB: a bare `datetime` in an annotation is the class (from datetime import datetime).
            return datetime.datetime
        return names.get(node.id, UNSET)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        module = _MODULES.get(node.value.id)
        return UNSET if module is None else _module_attribute(module, node.attr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left = _annotation_value(node.left, names, depth + 1)
        right = _annotation_value(node.right, names, depth + 1)
        if left is UNSET or right is UNSET:
            return UNSET
        return typing.Union[left, right]  # noqa: UP007 - built from parts, not written
    if isinstance(node, ast.Subscript):
        base = _annotation_value(node.value, names, depth + 1)
        if base is UNSET:
            return UNSET
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base is typing.Literal:
            values = []
            for item in items:
                if not isinstance(item, ast.Constant):
                    return UNSET
                values.append(item.value)
            return typing.Literal.__getitem__(tuple(values))
        args = []
        for item in items:
            if isinstance(item, ast.Constant) and item.value is Ellipsis:
                args.append(Ellipsis)
                continue
            value = _annotation_value(item, names, depth + 1)
            if value is UNSET:
                return UNSET
            args.append(value)
        try:
            return base[tuple(args) if len(args) > 1 else args[0]]
        except TypeError:
            return UNSET
    return UNSET


_NAMES: dict[str, Any] | None = None


def evaluate_annotation(annotation: str | None) -> Any:
    """The type an annotation names, read from its text without running any code.

    Builtin types, ``typing`` forms, ``X | Y``, ``Literal[...]``, ``pathlib.Path``,
    ``datetime`` types and ``distill.File`` are understood; anything else (a type defined in
    the project, say) gives ``UNSET``: its values are checked when the step runs.

    Example:
        >>> evaluate_annotation("list[int] | None")
        list[int] | None
    """
    global _NAMES
    if annotation is None:
        return Any
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return UNSET
    if _NAMES is None:
        _NAMES = _annotation_names()
    return _annotation_value(node, _NAMES)


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
) -> tuple[dict[str, dict[str, ParamValue]], list[Problem]]:
    """Layer and check the value of every run parameter of every step.

    Args:
        project: the project (for ``params.yaml`` and relative paths).
        graph: the pipeline graph.
        state: the memo tables.
        env: name of the overlay file ``params.<env>.yaml``.
        overrides: raw ``--set`` strings, parsed as YAML scalars.

    Nothing here runs user code: an annotation naming a project type is checked when the
    step runs, and a default that is not a literal is left to the function itself.

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
            tp = evaluate_annotation(param.annotation)
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
                resolved[param.name] = ParamValue(param.name, value, source, annotation=param.annotation)
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
    from pydantic import TypeAdapter, ValidationError

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
        try:
            TypeAdapter(tp).validate_python(value.value)
        except ValidationError as exc:
            first = exc.errors()[0]
            problems.append(
                Problem(
                    "param-type",
                    f"param {value.name!r} of step {decl.name!r} expects {value.annotation}, "
                    f"found {value.value!r} ({value.source}): {first.get('msg', exc)}",
                    decl.where,
                    f"fix the value in {value.source}" if value.source != "default" else "fix the default",
                )
            )
        except Exception:  # noqa: BLE001 - pydantic cannot build a validator: unchecked
            continue
    return problems
