"""Planning: which steps are fresh, which are stale, and why. Pure given a session.

Responsibilities:
- ``step_key(step, static, inputs)``: the cache key from the step's code closure, package
  versions, param values, data hashes and the content hashes of its upstream outputs;
- ``explain(current, previous)``: the reasons, in words, why two sets of key parts differ;
- ``plan(session, force=...)``: a ``StepPlan`` per step, in topological order.

Downstream keys use the *content hash* of upstream outputs, not upstream keys, so a step that
re-runs and produces the same bytes leaves its consumers fresh (early cutoff). A step below a
stale step cannot be keyed until that step has run: it is reported as waiting on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..runs.registry import CacheEntry
from ..session import Session, StaticParts

State = Literal["fresh", "stale"]


@dataclass(frozen=True, slots=True)
class StepPlan:
    """The planned fate of one step.

    Attributes:
        step: its name.
        state: ``fresh`` (its cached outputs are valid) or ``stale`` (it must run or wait).
        reasons: why it is stale, one sentence each; empty when fresh.
        key: its cache key, or ``None`` while an upstream step has not run.
        entry: the cache entry it would reuse when fresh.
    """

    step: str
    state: State
    reasons: tuple[str, ...]
    key: str | None
    entry: CacheEntry | None = None

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "state": self.state, "reasons": list(self.reasons)}


def components(step: str, outputs: Iterable[str], static: StaticParts, inputs: Mapping[str, str]) -> dict[str, Any]:
    return {
        "step": step,
        "outputs": list(outputs),
        "code": {k: list(v) for k, v in sorted(static.code.items())},
        "env": dict(sorted(static.env.items())),
        "params": dict(sorted(static.params.items())),
        "data": {k: list(v) for k, v in sorted(static.data.items())},
        "inputs": dict(sorted(inputs.items())),
    }


def key_of(static: StaticParts, inputs: Mapping[str, str]) -> str:
    """The cache key: the digest of the static parts and the upstream content hashes."""
    text = static.digest + "".join(f"\0{k}={v}" for k, v in sorted(inputs.items()))
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def explain(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[str]:
    """Why ``current`` key parts differ from ``previous`` ones, in words.

    Example:
        >>> explain({"params": {"window": 14}}, {"params": {"window": 7}})
        ['param window: 7 → 14']
    """
    if previous is None:
        return ["never ran"]
    reasons: list[str] = []
    step_name = current.get("step")
    old_code: dict[str, list[str]] = previous.get("code", {})
    new_code: dict[str, list[str]] = current.get("code", {})
    for name in sorted(set(old_code) | set(new_code)):
        old, new = old_code.get(name), new_code.get(name)
        if old == new:
            continue
        kind = (new or old or ["code"])[0]
        label = "step function" if name.rsplit(".", 1)[-1] == step_name and kind == "function" else kind
        if old is None:
            reasons.append(f"{label} {name} is now used")
        elif new is None:
            reasons.append(f"{label} {name} is no longer used")
        else:
            reasons.append(f"{label} {name} changed")
    old_env: dict[str, str] = previous.get("env", {})
    new_env: dict[str, str] = current.get("env", {})
    for dist in sorted(set(old_env) | set(new_env)):
        old, new = old_env.get(dist), new_env.get(dist)
        if old == new:
            continue
        if old is None:
            reasons.append(f"package {dist} is now imported ({new})")
        elif new is None:
            reasons.append(f"package {dist} is no longer imported")
        else:
            reasons.append(f"package {dist} {old} → {new}")
    old_params: dict[str, Any] = previous.get("params", {})
    new_params: dict[str, Any] = current.get("params", {})
    for name in sorted(set(old_params) | set(new_params)):
        if name in old_params and name in new_params and old_params[name] == new_params[name]:
            continue
        if name not in old_params:
            reasons.append(f"param {name} is new ({_short(new_params[name])})")
        elif name not in new_params:
            reasons.append(f"param {name} was removed")
        else:
            reasons.append(f"param {name}: {_short(old_params[name])} → {_short(new_params[name])}")
    old_data: dict[str, list[str]] = previous.get("data", {})
    new_data: dict[str, list[str]] = current.get("data", {})
    for name in sorted(set(old_data) | set(new_data)):
        old, new = old_data.get(name), new_data.get(name)
        if old == new or (old and new and old[0] != new[0]):
            continue  # a changed path is already reported as a param change
        if new is not None and old is not None:
            reasons.append(f"data file {new[0]} changed (param {name})")
        elif new is not None:
            reasons.append(f"data input {name} is new ({new[0]})")
    old_inputs: dict[str, str] = previous.get("inputs", {})
    new_inputs: dict[str, str] = current.get("inputs", {})
    for name in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(name) != new_inputs.get(name):
            if name not in old_inputs:
                reasons.append(f"input {name} is new")
            elif name not in new_inputs:
                reasons.append(f"input {name} was removed")
            else:
                reasons.append(f"upstream output {name} changed")
    if list(previous.get("outputs", [])) != list(current.get("outputs", [])):
        reasons.append(
            f"outputs changed: ({', '.join(previous.get('outputs', []))}) → ({', '.join(current.get('outputs', []))})"
        )
    return reasons or ["cache key changed (no recorded difference; the entry was made by another distill version)"]


class Planner:
    """Keys and decisions for the steps of one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.latest = session.registry.latest()

    def parts(self, step: str, inputs: Mapping[str, str]) -> dict[str, Any]:
        """All key parts, for recording with a result and for explanations."""
        decl = self.session.graph.steps[step]
        return components(step, decl.outputs, self.session.static(step), inputs)

    def key(self, step: str, inputs: Mapping[str, str]) -> str:
        return key_of(self.session.static(step), inputs)

    def lookup(self, step: str, key: str) -> CacheEntry | None:
        latest = self.latest.get(step)
        if latest is not None and latest.key == key:
            return latest
        return self.session.registry.entries([key]).get(key)

    def missing_outputs(self, entry: CacheEntry) -> list[str]:
        """Reasons, one per output whose object is absent or has the wrong size."""
        store = self.session.store
        problems = []
        for name, digest, size in entry.objects():
            if not store.has(digest, size):
                if store.has(digest):
                    problems.append(f"cached output {name} is corrupted in the store (its size changed)")
                else:
                    problems.append(f"cached output {name} is missing from the store")
        return problems

    def previous(self, step: str) -> dict[str, Any] | None:
        latest = self.latest.get(step)
        return latest.components if latest is not None else None


def plan(session: Session, *, force: Iterable[str] = ()) -> list[StepPlan]:
    """Decide, for every step of the session's graph, whether it is fresh and why not.

    Args:
        session: a validated session.
        force: steps to treat as stale whatever their key.

    Returns:
        One ``StepPlan`` per step, in topological order.
    """
    planner = Planner(session)
    graph = session.graph
    forced = set(force)
    result: dict[str, StepPlan] = {}
    hashes: dict[str, str] = {}
    for step, decl in graph.steps.items():
        waiting = [
            graph.provider[output]
            for _, output in graph.inputs[step]
            if output not in hashes
        ]
        if waiting:
            upstream = sorted(set(waiting))
            reasons = tuple(f"upstream step {name} is stale and runs first" for name in upstream)
            result[step] = StepPlan(step, "stale", reasons, None)
            continue
        inputs = {param: hashes[output] for param, output in graph.inputs[step]}
        key = planner.key(step, inputs)
        if not decl.cache:
            result[step] = StepPlan(step, "stale", ("cache=False: runs every time",), key)
            continue
        entry = planner.lookup(step, key)
        if step in forced:
            result[step] = StepPlan(step, "stale", ("forced with --force",), key, entry)
            continue
        if entry is None:
            reasons = tuple(explain(planner.parts(step, inputs), planner.previous(step)))
            result[step] = StepPlan(step, "stale", reasons, key)
            continue
        missing = planner.missing_outputs(entry)
        if missing:
            reasons = tuple(missing)
            result[step] = StepPlan(step, "stale", reasons, key, entry)
            continue
        for name, digest, _ in entry.objects():
            hashes[name] = digest
        result[step] = StepPlan(step, "fresh", (), key, entry)
    return list(result.values())
