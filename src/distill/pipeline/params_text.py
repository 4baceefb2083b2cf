"""Reading params text: ``params*.yaml`` files and ``--set`` values, with one YAML loader.

Responsibilities:
- ``params_loader``: a ``yaml.SafeLoader`` whose scalars are YAML 1.2 core, JSON numbers only;
- ``load_params_text``: one text read with it, noting the line of each top-level key and every
  key given twice (``Repeat``), as a frozen ``ParamsText``;
- ``load_params_file``: one ``params*.yaml`` file, memoised by file stat (table ``FILES``); a
  file that is not YAML, not a mapping of names, or gives a key twice is a ``Problem`` naming
  its lines;
- ``load_set_value``: one ``--set`` value; text that is not YAML stays text;
- ``RULES``: the version of the loading and checking rules, part of every memo key.

Scalars read the same in params files and in ``--set`` (YAML 1.2 core, JSON numbers only):

- ``42``, ``-7`` are ints; ``2.5``, ``1e3``, ``.inf`` are floats (decimal only);
- ``true``/``false`` (also ``True``, ``TRUE``) are bools; ``null``, ``~`` and an empty value
  are None (but an empty ``--set name=`` is the text ``""``);
- everything else is text: ``0x10``, ``010``, ``1_000``, ``yes``, ``off``, ``12:30``,
  ``2024-01-31``. A param that wants a number or a bool rejects them with what to type
  (``param_types.value_hint``: "write 16", "write 10", "write true"); a date, time or Path
  param parses them.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import Problem
from ..memo import State, stat_key, trusted

if TYPE_CHECKING:
    import yaml

FILES = "param-files"

# Bump RULES whenever loading or checking a value can give another answer: it is part of
# every memo key below, so a state file written under older rules is never trusted.
RULES = 2

# NB: YAML 1.2 core schema, narrowed to what JSON calls a number: YAML 1.1 reads `yes` and
#     `on` as true, `0x10` as 16, `010` as 8 and `12:30` as 750; here all four are text.
#         seed: 010      # the str "010": an int param says "write 10"
#         enabled: yes   # the str "yes": a bool param says "write true"
_NULL = r"^(?:~|null|Null|NULL|)$"
_BOOL = r"^(?:true|True|TRUE|false|False|FALSE)$"
INT_PATTERN = r"^[-+]?(?:0|[1-9][0-9]*)$"
FLOAT_PATTERN = (
    r"^[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)
_TAG = "tag:yaml.org,2002:"


@dataclass(frozen=True, slots=True)
class Repeat:
    """A mapping key given twice in one YAML text.

    Attributes:
        key: the key as written.
        within: the keys leading to the mapping (``"model"``, ``"runs[0]"``), or ``""``.
        first: 1-based line of the first occurrence.
        again: 1-based line of the repeat.
    """

    key: str
    within: str
    first: int
    again: int

    @property
    def named(self) -> str:
        return f"key {self.key!r}" + (f" in {self.within!r}" if self.within else "")


@dataclass(frozen=True, slots=True)
class ParamsText:
    """One params text, as the loader read it.

    Attributes:
        data: the value (for a file, the mapping of param names to values).
        lines: ``(name, line)`` of each top-level key, 1-based, in file order.
        repeats: every key given twice; the later value is in ``data``.
    """

    data: Any
    lines: tuple[tuple[str, int], ...] = ()
    repeats: tuple[Repeat, ...] = ()

    def line_of(self, name: str) -> int | None:
        """The line of top-level key ``name`` (its last one: the value that counts)."""
        return next((line for key, line in reversed(self.lines) if key == name), None)


_LOADER: type[Any] | None = None


def params_loader() -> type[yaml.SafeLoader]:
    """The YAML loader for ``params*.yaml`` and ``--set`` values, built on first use.

    A ``yaml.SafeLoader`` whose implicit types are YAML 1.2's core schema narrowed to JSON
    numbers (see the module docstring): only decimal ints and floats, ``true``/``false`` and
    ``null`` are not strings. Use it through ``load_params_text``, which also finds keys
    given twice.

    Example:
        >>> import yaml
        >>> yaml.load("a: yes\\nb: 0x10\\nc: 1e3", Loader=params_loader())
        {'a': 'yes', 'b': '0x10', 'c': 1000.0}
    """
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        class ParamsLoader(yaml.SafeLoader):
            """``yaml.SafeLoader`` with YAML 1.2 core scalars (JSON numbers only)."""

        # NB: a class attribute of its own, so SafeLoader's YAML 1.1 resolvers are not inherited.
        ParamsLoader.yaml_implicit_resolvers = {}
        for tag, pattern, first in (
            ("bool", _BOOL, "tTfF"),
            ("null", _NULL, ["~", "n", "N", ""]),
            ("int", INT_PATTERN, "-+0123456789"),
            ("float", FLOAT_PATTERN, "-+.0123456789"),
            ("merge", r"^<<$", "<"),
        ):
            ParamsLoader.add_implicit_resolver(_TAG + tag, re.compile(pattern), list(first))
        # NB: `<<` merges as a key (`<<: *base`); anywhere else it is text (`arrow: <<`).
        def _text(loader: ParamsLoader, node: yaml.ScalarNode) -> Any:
            return loader.construct_scalar(node)

        ParamsLoader.add_constructor(_TAG + "merge", _text)
        _LOADER = ParamsLoader
    return _LOADER


def load_params_text(text: str, *, within: str = "") -> ParamsText:
    """Read one YAML text with ``params_loader``, noting where keys are and any key given twice.

    Args:
        text: the YAML text.
        within: for a ``--set`` value, the param's name (repeats are named under it).

    Raises:
        yaml.YAMLError: the text is not YAML (or holds several documents).

    Example:
        >>> load_params_text("seed: 1\\nseed: 2\\n").repeats
        (Repeat(key='seed', within='', first=1, again=2),)
    """
    loader = params_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return ParamsText(None)
        repeats: list[Repeat] = []
        _find_repeats(loader, node, within, repeats, set())
        lines: tuple[tuple[str, int], ...] = ()
        if node.tag == _TAG + "map":
            lines = tuple(
                (key.value, key.start_mark.line + 1)
                for key, _ in node.value
                if key.tag == _TAG + "str"
            )
        repeats.sort(key=lambda r: (r.again, r.first))
        return ParamsText(loader.construct_document(node), lines, tuple(repeats))
    finally:
        loader.dispose()


def _find_repeats(loader: Any, node: Any, within: str, out: list[Repeat], seen: set[int]) -> None:
    """Append a ``Repeat`` for each key given twice in ``node`` or below (aliases once)."""
    import yaml

    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_repeats(loader, item, f"{within}[{index}]", out, seen)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[Any, int] = {}
    for key, value in node.value:
        if key.tag == _TAG + "merge":
            # NB: `<<: *base` merges keys that the mapping's own keys override on purpose.
            _find_repeats(loader, value, within, out, seen)
            continue
        shown = key.value if isinstance(key, yaml.ScalarNode) else None
        path = f"{within}.{shown}" if within else str(shown)
        _find_repeats(loader, value, path, out, seen)
        if shown is None:
            continue
        try:
            # NB: keys are compared as values, as the dict will: `1:` and `+1:` are one key.
            identity: Any = (key.tag, loader.construct_object(key))
            hash(identity)
        except (yaml.YAMLError, TypeError):
            identity = (key.tag, key.value)
        line = key.start_mark.line + 1
        if identity in first:
            out.append(Repeat(str(shown), within, first[identity], line))
        else:
            first[identity] = line


def _holds_secret(data: Any, secret_names: Collection[str]) -> bool:
    """Whether a params file's values include a secret written in clear (``${env:NAME}``
    text is no secret)."""
    from .secrets import env_reference, name_is_secret

    return isinstance(data, dict) and any(
        isinstance(name, str)
        and (name in secret_names or name_is_secret(name))
        and env_reference(value) is None
        for name, value in data.items()
    )


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """The YAML error in words; without the quoted lines when the text may hold a secret."""
    from .secrets import SECRET_NAME

    if SECRET_NAME.search(text) is None:
        return f"not valid YAML: {exc}"
    parts = []
    for what, mark in (("context", "context_mark"), ("problem", "problem_mark")):
        said, at = getattr(exc, what, None), getattr(exc, mark, None)
        if said:
            parts.append(f"{said}" + (f" (line {at.line + 1}, column {at.column + 1})" if at else ""))
    return "not valid YAML: " + ("; ".join(parts) or type(exc).__name__)


def load_params_file(
    path: pathlib.Path, state: State, secret_names: Collection[str] = ()
) -> tuple[ParamsText | None, list[Problem]]:
    """Read one params file (memoised by file stat); ``None`` when it does not exist.

    A file holding a secret's value (a param in ``secret_names``, or named like a secret) is
    read every time and never memoised: the memo is written to the store.
    """
    table = state.table(FILES)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, []
    memo_key = (RULES, str(path))
    entry = table.get(memo_key)
    if entry is not None and trusted(st, entry[0], entry[1]) and not _holds_secret(entry[2].data, secret_names):
        loaded: ParamsText = entry[2]
    else:
        recorded = time.time_ns()
        import yaml

        text = path.read_text(encoding="utf-8")
        try:
            loaded = load_params_text(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path.name}:{mark.line + 1}" if mark is not None else path.name
            return None, [Problem("params-file", _yaml_problem(exc, text), where)]
        if not _holds_secret(loaded.data, secret_names):
            state.put(FILES, memo_key, (stat_key(st), recorded, loaded))
        elif entry is not None:
            # NB: an entry made before the param was secret (or the file held one) goes.
            state.put(FILES, memo_key, None)
    data = {} if loaded.data is None else loaded.data
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        found = (
            f"the key {next(k for k in data if not isinstance(k, str))!r}"
            if isinstance(data, dict)
            else type(data).__name__
        )
        return None, [
            Problem(
                "params-file",
                f"expected a mapping of param names to values, found {found}",
                path.name,
                "write one `name: value` per line",
            )
        ]
    problems = [
        Problem(
            "duplicate-key",
            f"{r.named} is given twice "
            + (f"(lines {r.first} and {r.again})" if r.first != r.again else f"on line {r.again}")
            + "; keep one",
            f"{path.name}:{r.again}",
            f"delete line {r.first} or line {r.again}: only the later one would count"
            if r.first != r.again
            else "write the key once: only the later value would count",
        )
        for r in loaded.repeats
    ]
    return ParamsText(data, loaded.lines, loaded.repeats), problems


def load_set_value(name: str, text: str) -> tuple[Any, list[Problem]]:
    """Read one ``--set`` value with the params loader; text that is not YAML stays text."""
    import yaml

    if not text.strip():
        # NB: `--set name=` is the empty text, not null (YAML would read None).
        return "", []
    try:
        loaded = load_params_text(text, within=name)
    except yaml.YAMLError:
        # NB: `--set title=a: b` is not YAML; the user typed text.
        return text, []
    problems = [
        Problem(
            "duplicate-key",
            f"{r.named} is given twice in --set {name}=...; keep one",
            "--set",
            "write each key once",
        )
        for r in loaded.repeats
    ]
    return loaded.data, problems
