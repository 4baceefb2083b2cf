"""Cache keys: what a step's result depends on, as one typed record, and why two differ.

Responsibilities:
- ``KeyParts``: the frozen parts of a step's key — its code closure (and its digest), the
  versions of the packages that code imports, its param values, the content hashes of its
  data inputs, the environment variables it reads, and the content hashes of its upstream
  outputs;
- ``KeyParts.key``: the key itself, a digest of all of the above;
- ``explain(current, previous)``: the reasons, in words, why two ``KeyParts`` differ;
- ``to_json``/``from_json``: the form kept in the cache index, read back for explanations.

Downstream keys use the content hash of upstream outputs, not upstream keys, so a step that
re-runs and produces the same bytes leaves its consumers' keys unchanged (early cutoff).

Secrets (``pipeline.secrets``) are in the parts as their keyed hash, never as values: a secret
param arrives hashed, and an environment variable named like a secret is hashed here. The
explanations say a secret changed and show ``***`` for both sides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# (qualified name, kind, hash) of one piece of project code a step reaches.
CodeItem = tuple[str, str, str]
# (param name, project-relative path, content hash) of one data input.
DataItem = tuple[str, str, str]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyParts:
    """Everything a step's cache key is made of. Every field is sorted by name.

    Attributes:
        step: the step's name.
        outputs: the names of its outputs, in order.
        code: every project definition the step reaches, with its kind and hash.
        code_digest: digest of ``code``.
        packages: ``(distribution, version)`` of the packages that code imports, and python.
        params: ``(name, value)``, values in JSON form.
        data: ``(param, path, content hash)`` of each data input.
        environ: ``(name, value)`` of each environment variable the step reads (``None``:
            unset).
        inputs: ``(param, content hash of the upstream output)``; empty until known.
        static: digest of every part but ``inputs``.
    """

    step: str
    outputs: tuple[str, ...]
    code: tuple[CodeItem, ...]
    code_digest: str
    packages: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, Any], ...]
    data: tuple[DataItem, ...]
    environ: tuple[tuple[str, str | None], ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()
    static: str = ""

    @classmethod
    def build(
        cls,
        *,
        step: str,
        outputs: tuple[str, ...],
        code: Mapping[str, tuple[str, str]],
        code_digest: str,
        packages: Mapping[str, str],
        params: Mapping[str, Any],
        data: Mapping[str, tuple[str, str]],
        environ: Mapping[str, str | None] | None = None,
    ) -> KeyParts:
        """Sort the parts and compute the static digest.

        Example:
            >>> parts = KeyParts.build(step="a", outputs=("a",), code={}, code_digest="c",
            ...                        packages={}, params={"n": 1}, data={})
            >>> parts.params
            (('n', 1),)
        """
        environ = environ or {}
        if environ:
            from ..pipeline.secrets import keyed, name_is_secret

            environ = {
                k: keyed(v) if v is not None and name_is_secret(k) else v for k, v in environ.items()
            }
        # NB: a plain joined string, not JSON of a nested record: this runs for every step of
        #     every no-op run. Values that are not simple strings go through JSON.
        head = "\0".join(
            (
                step,
                ",".join(outputs),
                ";".join(f"{k}={v}" for k, v in sorted(packages.items())),
                json.dumps(dict(params), sort_keys=True, default=str) if params else "",
                ";".join(f"{k}={v[0]}:{v[1]}" for k, v in sorted(data.items())),
            )
        )
        if environ:
            head += "\0" + json.dumps(sorted(environ.items()))
        return cls(
            step=step,
            outputs=tuple(outputs),
            code=tuple(sorted((name, kind, h) for name, (kind, h) in code.items())),
            code_digest=code_digest,
            packages=tuple(sorted(packages.items())),
            params=tuple(sorted(params.items())),
            data=tuple(sorted((name, path, h) for name, (path, h) in data.items())),
            environ=tuple(sorted(environ.items())),
            static=_digest(f"{code_digest}\0{head}"),
        )

    def with_inputs(self, inputs: Mapping[str, str]) -> KeyParts:
        """These parts with the upstream output hashes filled in."""
        # NB: not dataclasses.replace: this runs for every step of every run, and replace
        #     costs several times a direct call.
        return KeyParts(
            self.step,
            self.outputs,
            self.code,
            self.code_digest,
            self.packages,
            self.params,
            self.data,
            self.environ,
            tuple(sorted(inputs.items())),
            self.static,
        )

    @property
    def key(self) -> str:
        """The cache key: the static digest and the upstream content hashes."""
        return key_of(self.static, self.inputs)

    def to_json(self) -> dict[str, Any]:
        """The JSON form kept with each cached result."""
        out: dict[str, Any] = {
            "step": self.step,
            "outputs": list(self.outputs),
            "code": {name: [kind, h] for name, kind, h in self.code},
            "env": dict(self.packages),
            "params": dict(self.params),
            "data": {name: [path, h] for name, path, h in self.data},
            "inputs": dict(self.inputs),
        }
        if self.environ:
            out["environ"] = dict(self.environ)
        if self.static:
            out["static"] = self.static
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyParts:
        """Read the JSON form back; unknown or missing fields read as empty."""
        code = data.get("code", {})
        found = data.get("data", {})
        return cls(
            step=str(data.get("step", "")),
            outputs=tuple(data.get("outputs", ())),
            code=tuple(sorted((name, str(v[0]), str(v[1])) for name, v in code.items())),
            code_digest="",
            packages=tuple(sorted(data.get("env", {}).items())),
            params=tuple(sorted(data.get("params", {}).items())),
            data=tuple(sorted((name, str(v[0]), str(v[1])) for name, v in found.items())),
            environ=tuple(sorted(data.get("environ", {}).items())),
            inputs=tuple(sorted(data.get("inputs", {}).items())),
            static=str(data.get("static", "")),
        )


def key_of(static: str, inputs: tuple[tuple[str, str], ...]) -> str:
    """The key from a static digest and sorted ``(param, upstream hash)`` pairs."""
    return _digest(static + "".join(f"\0{k}={v}" for k, v in inputs))


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _change(old: Any, new: Any) -> str:
    """``old → new`` in words; ``*** → ***`` when either side is a secret (an index row
    written before the value was secret may still hold it in clear)."""
    from ..pipeline.secrets import MASK, is_keyed_hash

    if is_keyed_hash(old) or is_keyed_hash(new):
        return f"{MASK} → {MASK}"
    return f"{_short(old)} → {_short(new)}"


def _new(value: Any) -> str:
    from ..pipeline.secrets import MASK, is_keyed_hash

    return MASK if is_keyed_hash(value) else _short(value)


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(name, old, new)`` for every name whose value differs (``None``: absent)."""
    return [
        (name, old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if name not in old or name not in new or old[name] != new[name]
    ]


def explain_static(current: KeyParts, previous: KeyParts) -> list[str]:
    """Why the parts known before running differ: code, packages, params, data, environment."""
    reasons: list[str] = []
    old_code = {name: (kind, h) for name, kind, h in previous.code}
    new_code = {name: (kind, h) for name, kind, h in current.code}
    for name, old, new in _changes(old_code, new_code):
        kind = (new or old)[0]
        own = name.rsplit(".", 1)[-1] == current.step and kind == "function"
        label = "step function" if own else kind
        if old is None:
            reasons.append(f"{label} {name} is now used")
        elif new is None:
            reasons.append(f"{label} {name} is no longer used")
        else:
            reasons.append(f"{label} {name} changed")
    for dist, old, new in _changes(dict(previous.packages), dict(current.packages)):
        if old is None:
            reasons.append(f"package {dist} is now imported ({new})")
        elif new is None:
            reasons.append(f"package {dist} is no longer imported")
        else:
            reasons.append(f"package {dist} {old} → {new}")
    old_params, new_params = dict(previous.params), dict(current.params)
    for name in sorted(set(old_params) | set(new_params)):
        if name not in old_params:
            reasons.append(f"param {name} is new ({_new(new_params[name])})")
        elif name not in new_params:
            reasons.append(f"param {name} was removed")
        elif old_params[name] != new_params[name]:
            reasons.append(f"param {name}: {_change(old_params[name], new_params[name])}")
    old_data = {name: (path, h) for name, path, h in previous.data}
    new_data = {name: (path, h) for name, path, h in current.data}
    for name, old, new in _changes(old_data, new_data):
        if name.startswith("read "):
            # A file the code reads (not a param): it is named by its path alone.
            if new is None:
                reasons.append(f"file {old[0]} is no longer read")
            elif old is None:
                reasons.append(f"file {new[0]} is now read")
            else:
                reasons.append(f"file {new[0]} changed")
            continue
        if new is None or (old is not None and old[0] != new[0]):
            continue  # a removed or moved data input is already reported as a param change
        if old is None:
            reasons.append(f"data input {name} is new ({new[0]})")
        else:
            reasons.append(f"data file {new[0]} changed (param {name})")
    old_environ, new_environ = dict(previous.environ), dict(current.environ)
    for name, old, new in _changes(old_environ, new_environ):
        if name not in old_environ:
            reasons.append(f"environment variable {name} is now read")
        elif name not in new_environ:
            reasons.append(f"environment variable {name} is no longer read")
        else:
            reasons.append(f"environment variable {name}: {_change(old, new)}")
    if previous.outputs != current.outputs:
        reasons.append(
            f"outputs changed: ({', '.join(previous.outputs)}) → ({', '.join(current.outputs)})"
        )
    return reasons


def explain(current: KeyParts, previous: KeyParts | None) -> list[str]:
    """Why ``current`` differs from ``previous``, in words; never empty.

    Example:
        >>> a = KeyParts.build(step="s", outputs=("s",), code={}, code_digest="",
        ...                    packages={}, params={"window": 7}, data={})
        >>> b = KeyParts.build(step="s", outputs=("s",), code={}, code_digest="",
        ...                    packages={}, params={"window": 14}, data={})
        >>> explain(b, a)
        ['param window: 7 → 14']
    """
    if previous is None:
        return ["never ran"]
    reasons = explain_static(current, previous)
    old_inputs, new_inputs = dict(previous.inputs), dict(current.inputs)
    for name, _, _ in _changes(old_inputs, new_inputs):
        if name not in old_inputs:
            reasons.append(f"input {name} is new")
        elif name not in new_inputs:
            reasons.append(f"input {name} was removed")
        else:
            reasons.append(f"upstream output {name} changed")
    return reasons or [
        "cache key changed (no recorded difference; the entry was made by another distill version)"
    ]
