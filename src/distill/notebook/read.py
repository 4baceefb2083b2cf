"""Reading ``.ipynb`` files into ``Notebook`` records, with one clear error per bad file.

Responsibilities:
- bytes → text: empty files, UTF-16/32 files and undecodable bytes get their own message;
- text → JSON: a syntax error is reported with its line, column and the offending line,
  in the same words on every Python version;
- JSON → notebook: a missing or unknown ``nbformat``, upgrading v1–v3 to v4 (nbformat's own
  converters), repairing what nbformat repairs (missing cell ids) and schema validation, whose
  failure names the JSON path of the violation;
- the kernel language, so non-Python notebooks are recognised before any analysis;
- where each cell's source starts in the file, for annotations on the raw ``.ipynb``.

nbformat is imported when the first notebook is read, not at import time.
"""

from __future__ import annotations

import json
import re
import reprlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from ..errors import DistillError
from .model import Cell, CellKind, Notebook, Output

KNOWN_MAJOR = (1, 2, 3, 4)


class NotebookError(DistillError):
    """A file that cannot be read as a notebook.

    Attributes:
        path: the file.
        line: line of the problem in the file (broken JSON), when known.
        column: its column.
    """

    def __init__(self, path: Path | str, message: str, *, hint: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = str(path)
        self.reason = message
        self.line = line
        self.column = column


def read_notebook(path: Path | str) -> Notebook:
    """Read, upgrade and validate a notebook.

    Args:
        path: an ``.ipynb`` file.

    Returns:
        The notebook, with cells numbered from 1 over all cells.

    Raises:
        NotebookError: the file is missing, empty, not UTF-8, not JSON, not a notebook, of an
            unknown nbformat version, or fails the nbformat schema. The message says which,
            where, and what to do.

    Example:
        >>> nb = read_notebook("analysis.ipynb")  # doctest: +SKIP
        >>> [cell.number for cell in nb.code_cells]  # doctest: +SKIP
        [2, 3, 5]
    """
    path = Path(path)
    text = _decode(path, _read_bytes(path))
    data = _parse_json(path, text)
    _check_unicode(path, data, text)
    major, minor = _version(path, data)
    node = _to_v4(path, data, major, minor)
    return _build(path, node, text if major == 4 else None, (major, minor))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotebookError(path, "no such file") from None
    except IsADirectoryError:
        raise NotebookError(path, "is a folder, not a notebook file") from None
    except OSError as exc:
        raise NotebookError(path, f"cannot be read: {exc.strerror or exc}") from exc


def _decode(path: Path, raw: bytes) -> str:
    if not raw.strip():
        raise NotebookError(
            path, f"is empty ({len(raw)} bytes): a notebook is a JSON object with 'cells' and 'nbformat'",
            hint="delete the file, or open it in Jupyter and save it again",
        )
    # NB: a notebook saved by a Windows tool as UTF-16 starts with a byte-order mark, or has a
    # NUL after every ASCII character; `json` would fail on it with a misleading message.
    #     b'\xff\xfe{\x00"\x00' -> UTF-16-LE
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) > 1 and (raw[1] == 0 or raw[0] == 0)):
        encoding = "UTF-32" if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")) else "UTF-16"
        raise NotebookError(
            path, f"is encoded as {encoding}; notebooks are UTF-8 JSON",
            hint=f"convert it: iconv -f {encoding} -t UTF-8 '{path}' > fixed.ipynb",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise NotebookError(
            path, f"is not valid UTF-8: byte 0x{raw[exc.start]:02x} at line {line} (offset {exc.start})",
            hint="re-save the notebook as UTF-8 from Jupyter or your editor", line=line,
        ) from None


def _parse_json(path: Path, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise NotebookError(
            path, "is JSON nested too deeply to read (arrays or objects about 1,000 levels deep)",
            hint="a notebook is a few levels deep: the file is damaged or not a notebook",
        ) from None
    except json.JSONDecodeError as exc:
        problem, line, column = _json_problem(exc, text)
        lines = text.splitlines()
        shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise NotebookError(
            path, f"is not valid JSON: {problem} at line {line}, column {column}"
            + (f": {shown}" if shown else ""),
            hint="fix the file by hand (a merge conflict or hand edit often leaves a stray "
                 "comma, quote or <<<<<<< marker), or restore it from version control",
            line=line, column=column,
        ) from None
    if not isinstance(data, dict):
        raise NotebookError(
            path, f"is JSON but not a notebook: the top level is a {type(data).__name__}, "
                  "expected an object with 'cells' and 'nbformat'",
        )
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_unicode(path: Path, data: dict[str, Any], text: str) -> None:
    """Refuse text that is not Unicode: a lone surrogate written as a JSON escape.

    NB: ``"\\ud800"`` is valid JSON but half of a UTF-16 pair; it cannot be written as UTF-8, so
    printing or saving it fails far from here. The file's text itself is decoded UTF-8, so only
    escapes can bring one in: the walk runs only when the text holds such an escape.
    """
    if not _SURROGATE_ESCAPE.search(text):
        return
    todo: list[tuple[str, Any]] = [("", data)]
    while todo:
        where, value = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                todo.append((f"{where}.{key}" if where else str(key), item))
                todo.append((where or "the top level", key))
        elif isinstance(value, list):
            todo.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, str) and (found := _SURROGATE.search(value)):
            raise NotebookError(
                path, f"holds text that is not Unicode at {where.encode('utf-8', 'backslashreplace').decode()}: "
                      f"a lone surrogate ({found.group()!r}, half of a UTF-16 pair)",
                hint="delete the character, or restore the notebook from version control",
            )


def _json_problem(exc: json.JSONDecodeError, text: str) -> tuple[str, int, int]:
    """What is wrong with the JSON, and its line and column, the same on every Python.

    NB: Python 3.13 names a trailing comma and points at it; earlier versions point at the
    bracket after it and ask for another key or value:
        {"nbformat": 4,}   3.13: "Illegal trailing comma before end of object" at the comma
                           3.11: "Expecting property name enclosed in double quotes" at the }
    Both become "a trailing comma before the closing '}'" at the comma, the character to
    delete. Other problems keep the ``json`` module's message and position.
    """
    comma = None
    if exc.msg.startswith("Illegal trailing comma"):
        comma = exc.pos
    elif text[exc.pos:exc.pos + 1] in ("}", "]"):
        before = text[:exc.pos].rstrip()
        if before.endswith(","):
            comma = len(before) - 1
    if comma is None or text[comma:comma + 1] != ",":
        return exc.msg, exc.lineno, exc.colno
    closer = text[comma + 1:].lstrip()[:1]
    line = text.count("\n", 0, comma) + 1
    column = comma - text.rfind("\n", 0, comma)
    return f"a trailing comma before the closing {closer!r}", line, column


def _version(path: Path, data: dict[str, Any]) -> tuple[int, int]:
    if "nbformat" not in data:
        raise NotebookError(
            path, "has no 'nbformat' key: it is not a Jupyter notebook, or a tool dropped the key",
            hint='add "nbformat": 4, "nbformat_minor": 5 at the top level if the cells are in '
                 'the v4 layout ("cells": [...])',
        )
    major, minor = data["nbformat"], data.get("nbformat_minor", 0)
    if not isinstance(major, int) or isinstance(major, bool) or major not in KNOWN_MAJOR:
        raise NotebookError(
            path, f"has nbformat {major!r}; known versions are 1 to 4",
            hint="upgrade distill, or convert the notebook with `jupyter nbconvert --to notebook`",
        )
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise NotebookError(path, f"fails the nbformat schema: {_wrong('nbformat_minor', minor, 'integer')}",
                            hint="write a whole number, e.g. \"nbformat_minor\": 5")
    return major, minor


def _to_v4(path: Path, data: dict[str, Any], major: int, minor: int) -> Any:
    import nbformat
    from nbformat.validator import ValidationError
    from nbformat.warnings import DuplicateCellId, MissingIDFieldWarning

    # NB: nbformat's functions carry no annotations; these say what they take and give.
    from_dict = cast("Callable[[dict[str, Any]], Any]", nbformat.from_dict)
    convert = cast("Callable[[Any, int], Any]", nbformat.convert)
    shape = _v4_shape(data) if major == 4 else None
    if shape is not None:
        raise NotebookError(path, f"fails the nbformat schema: {shape}",
                            hint="open it in Jupyter and save it again, or fix the key named above")
    try:
        # NB: each version's reader first turns list-of-lines sources into strings
        #     {"source": ["a\n", "b"]} -> {"source": "a\nb"}
        node = nbformat.versions[major].to_notebook_json(data, minor=minor) if major > 1 else from_dict(data)
        if major != 4:
            # NB: v1-v3 are upgraded with nbformat's converters (worksheets flattened, heading
            # cells turned into markdown) before validation against the v4 schema; the upgrade
            # validates too, and warns about the cell ids normalize() gives below.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MissingIDFieldWarning)
                warnings.simplefilter("ignore", DuplicateCellId)
                node = convert(node, 4)
    except Exception as exc:  # noqa: BLE001 - nbformat's readers and converters raise bare KeyError/TypeError/... on bad input
        # NB: nbformat's records raise AttributeError('cell_type') for a missing key
        missing = isinstance(exc, KeyError) or (isinstance(exc, AttributeError) and str(exc).isidentifier())
        cause = f"a required key {str(exc.args[0])!r} is missing" if missing and exc.args else _cause(exc)
        doing = "cannot be upgraded to version 4" if major != 4 else "cannot be read"
        schema = _old_schema_message(data, major)
        if schema is not None:
            raise NotebookError(path, f"fails the nbformat {major} schema: {schema}",
                                hint="open it in Jupyter and save it again, or fix the key named above") from None
        raise NotebookError(
            path, f"is an nbformat {major} notebook that {doing}: {cause}",
            hint="open it in Jupyter and save it again",
        ) from None
    # NB: a 4.5 notebook without cell ids is what Jupyter repairs on open; nbformat warns
    # about it on every read, which is noise here since normalize() below does the repair.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        warnings.simplefilter("ignore", DuplicateCellId)  # NB: repaired the same way, by normalize() below
        # NB: each minor version is checked against its own schema (4.4's demands nbformat_minor >= 4)
        schema_minor = node.get("nbformat_minor", minor)
        if not isinstance(schema_minor, int) or isinstance(schema_minor, bool):
            schema_minor = minor  # NB: nbformat asserts on a minor version that is not a number
        try:
            try:
                nbformat.validate(node, version=4, version_minor=schema_minor)
                return node
            except ValidationError:
                # NB: normalize repairs what Jupyter itself repairs on open (missing cell ids, a
                # missing execution_count); it deep-copies, so it runs only for invalid notebooks.
                _, node = nbformat.validator.normalize(node, version=4, version_minor=schema_minor)
            nbformat.validate(node, version=4, version_minor=schema_minor)
        except ValidationError as exc:
            raise NotebookError(path, f"fails the nbformat schema: {_schema_message(exc)}",
                                hint="open it in Jupyter and save it again, or fix the key named above") from None
        except Exception as exc:  # noqa: BLE001 - nbformat's validator raises TypeError/AssertionError/... on odd values
            raise NotebookError(path, f"fails the nbformat schema: {_cause(exc)}",
                                hint="open it in Jupyter and save it again") from None
    return node


def _old_schema_message(data: dict[str, Any], major: int) -> str | None:
    """Where a v3 notebook breaks its own schema (``at worksheets[0].cells[2]: ...``), if nbformat can say."""
    if major != 3:
        return None  # NB: nbformat has no schema for v1 and v2
    import nbformat
    from nbformat.validator import ValidationError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(data, version=3, version_minor=0)
    except ValidationError as exc:
        return _schema_message(exc)
    except Exception:  # noqa: BLE001 - the validator itself trips over some values; the caller says what it can
        return None
    return None


def _cause(exc: BaseException) -> str:
    """What nbformat's own code tripped over, in one line."""
    if isinstance(exc, RecursionError):
        return "values nested too deeply"
    text = str(exc).splitlines()[0] if str(exc) else ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"a value of the wrong type ({text})" if text else f"a value of the wrong type ({type(exc).__name__})"


def _v4_shape(data: dict[str, Any]) -> str | None:
    """The first key of a v4 notebook whose type nbformat's reader would trip over, as the schema says it.

    NB: nbformat's reader and validator assume the basic types before the schema is checked:
        {"cell_type": 5}        -> TypeError in the validator's error message
        {"source": [1, 2]}      -> TypeError joining the lines
    so these are checked here first, and named by their JSON path.
    """
    for key, kind, name in (("metadata", dict, "object"), ("cells", list, "array")):
        if key in data and not isinstance(data[key], kind):
            return _wrong(key, data[key], name)
    for i, cell in enumerate(data.get("cells", ())):
        if not isinstance(cell, dict):
            return _wrong(f"cells[{i}]", cell, "object")
        problem = _wrong_key(f"cells[{i}]", cell, _CELL_KEYS)
        if problem is not None:
            return problem
        outputs = cell.get("outputs", ()) if cell.get("cell_type") == "code" else ()
        for j, output in enumerate(outputs):
            if not isinstance(output, dict):
                return _wrong(f"cells[{i}].outputs[{j}]", output, "object")
            problem = _wrong_key(f"cells[{i}].outputs[{j}]", output, _OUTPUT_KEYS)
            if problem is not None:
                return problem
    return None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _is_lines(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _is_attachments(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(bundle, dict) for bundle in value.values())


_Check = tuple[str, Callable[[Any], bool], str]
_CELL_KEYS: tuple[_Check, ...] = (
    ("cell_type", _is_str, "string"), ("id", _is_str, "string"), ("source", _is_lines, "string"),
    ("metadata", _is_object, "object"),
    ("attachments", _is_attachments, "object"), ("outputs", _is_array, "array"),
)
_OUTPUT_KEYS: tuple[_Check, ...] = (
    ("output_type", _is_str, "string"), ("data", _is_object, "object"), ("metadata", _is_object, "object"),
    ("text", _is_lines, "string"),
)


def _wrong_key(where: str, node: dict[str, Any], checks: tuple[_Check, ...]) -> str | None:
    for key, check, expected in checks:
        if key in node and not check(node[key]):
            return _wrong(f"{where}.{key}", node[key], expected)
    return None


def _wrong(where: str, value: Any, expected: str) -> str:
    shown = reprlib.repr(value)  # NB: bounded in depth and length, whatever the value holds
    return f"at {where}: {shown if len(shown) <= 60 else shown[:57] + '...'} is not of type {expected!r}"


def _schema_message(exc: Any) -> str:
    """``at cells[3].outputs[0]: 'output_type' is a required property``."""
    inner = getattr(exc, "original", None) or exc
    where = ""
    parts = list(getattr(inner, "absolute_path", None) or getattr(inner, "path", None) or [])
    for part in parts:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = getattr(inner, "message", None) or str(inner).splitlines()[0]
    if len(message) > 200:
        message = message[:197] + "..."
    return f"at {where}: {message}" if where else message


def _build(path: Path, node: Any, text: str | None, version: tuple[int, int]) -> Notebook:
    metadata = node.get("metadata", {})
    kernelspec = metadata.get("kernelspec") or {}
    language_info = metadata.get("language_info") or {}
    language = str(kernelspec.get("language") or language_info.get("name") or _language_of_kernel(kernelspec.get("name")) or "python").lower()
    raw_cells = node.get("cells", [])
    positions = _source_positions(text, len(raw_cells)) if text is not None else None
    cells = []
    for index, raw in enumerate(raw_cells):
        kind: CellKind = raw.get("cell_type", "code")
        count = raw.get("execution_count") if kind == "code" else None
        tags = (raw.get("metadata") or {}).get("tags") or ()
        file_line, listed = positions[index] if positions else (None, False)
        cells.append(Cell(
            number=index + 1, kind=kind, source=_join(raw.get("source", "")),
            execution_count=count if isinstance(count, int) else None,
            outputs=tuple(_output(o) for o in raw.get("outputs", ()) or ()),
            tags=tuple(str(tag) for tag in tags), cell_id=raw.get("id"),
            file_line=file_line, lines_in_file=listed,
        ))
    return Notebook(path=path, cells=tuple(cells), language=language,
                    kernel=kernelspec.get("name"), version=version)


def _language_of_kernel(name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    lowered = name.lower()
    for prefix, language in (("python", "python"), ("ir", "r"), ("julia", "julia"), ("sas", "sas"),
                             ("swift", "swift"), ("scala", "scala"), ("bash", "bash")):
        if lowered.startswith(prefix):
            return language
    return None


def _join(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _output(raw: Any) -> Output:
    kind = raw.get("output_type", "")
    size = _size(raw.get("data")) + _size(raw.get("text")) + _size(raw.get("traceback"))
    if kind == "error":
        evalue = str(raw.get("evalue", ""))
        return Output(kind, size, ename=str(raw.get("ename", "")), evalue=evalue[:200])
    return Output(kind, size)


def _size(value: Any) -> int:
    """Characters of text in ``value``, however deeply its lists and objects nest (a loop, not recursion)."""
    total = 0
    todo = [value]
    while todo:
        item = todo.pop()
        if item is None:
            continue
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, dict):
            todo.extend(item.values())
        else:
            total += len(str(item))
    return total


_SOURCE_KEY = re.compile(r'"source"\s*:\s*(\[\s*\]|\[[ \t]*\n|\[|")')


def _source_positions(text: str, ncells: int) -> list[tuple[int | None, bool]] | None:
    """Where each cell's first source line sits in the file.

    The ``"source"`` keys appear once per cell, in order, in files written by Jupyter; when the
    count does not match (a key inside metadata, say) no positions are given rather than wrong
    ones.
    """
    matches = list(_SOURCE_KEY.finditer(text))
    if len(matches) != ncells:
        return None
    positions: list[tuple[int | None, bool]] = []
    line, offset = 1, 0
    for match in matches:
        line += text.count("\n", offset, match.start())
        offset = match.start()
        opener = match.group(1)
        listed = opener.startswith("[") and opener.endswith("\n")
        positions.append((line + 1 if listed else line, listed))
    return positions
