"""Planning: which steps are fresh, stale or to be rechecked, and why. Pure: reads, never runs.

Responsibilities:
- ``decide(...)``: the fate of one step from its key parts, the output hashes known so far
  and a read-only view of the cache; the one place staleness is decided, used by ``plan``
  before a run and by the runner below every step that re-ran (early cutoff);
- ``plan(session, force=...)``: a ``Decision`` per step, in topological order;
- ``CacheView``: the read-only questions planning asks of the cache index and the store.

A step's key needs the content hashes of its upstream outputs. When an upstream step must
run first, those are not known yet, and the step is either ``stale`` (something of its own
changed, or it never ran) or ``recheck``: nothing of its own changed, so it runs only if an
upstream output comes back different.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from ..cache.key import KeyParts, explain, explain_static, key_of

if TYPE_CHECKING:
    from ..pipeline.graph import Graph
    from ..runs.registry import CacheEntry
    from ..session import Session

StepState = Literal["fresh", "stale", "recheck"]


class Decision(NamedTuple):
    """The planned fate of one step.

    Attributes:
        step: its name.
        state: ``fresh`` (its cached outputs are valid), ``stale`` (it must run) or
            ``recheck`` (it runs only if an upstream output changes).
        reasons: why it is not fresh, one sentence each; empty when fresh.
        key: its cache key, or ``None`` while an upstream step has not run.
        entry: the cache entry it would reuse (fresh), or the one that failed a check.
        parts: its key parts with upstream hashes, when it must run with a known key.
        inputs: the ``(param, upstream hash)`` pairs its key was made with, when known.
        cacheable: whether its result may be reused later (``False`` for ``cache=False`` and
            for a step reading something the analysis cannot resolve).
        missing_files: declared written files that are missing or changed on disk; a run
            restores them from the store.

    A named tuple, not a dataclass: a plan makes one per step, and this is a third of the
    cost to build.
    """

    step: str
    state: StepState
    reasons: tuple[str, ...]
    key: str | None
    entry: CacheEntry | None = None
    parts: KeyParts | None = None
    inputs: tuple[tuple[str, str], ...] | None = None
    cacheable: bool = True
    missing_files: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "state": self.state,
            "reasons": list(self.reasons),
            "missing_files": list(self.missing_files),
        }


class CacheView(Protocol):
    """What planning reads from the cache index and the object store."""

    def latest(self, step: str) -> CacheEntry | None:
        """The step's most recent entry (what explanations compare against)."""
        ...

    def lookup(self, step: str, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, if any."""
        ...

    def damage(self, entry: CacheEntry) -> list[str]:
        """One reason per output of ``entry`` whose object is absent or the wrong size."""
        ...

    def ran_uncached(self, step: str) -> bool:
        """Whether the step's last recorded run ran it without caching the result."""
        ...

    def missing_files(self, entry: CacheEntry) -> list[str]:
        """Files the entry's step declared it writes that are missing or changed on disk."""
        ...

    def unverified(self, step: str) -> bool:
        """Whether the step's latest entry is there but failed its check against the store key."""
        ...


NOT_STORED = "its last run was not cached: an input or output could not be stored"
UNVERIFIED = "its cached entry failed verification with the store key (written under another key, or tampered with)"


def _no_entry(step: str, cache: CacheView) -> str:
    if cache.unverified(step):
        return UNVERIFIED
    return NOT_STORED if cache.ran_uncached(step) else "never ran"


def _writes_files(entry: CacheEntry) -> bool:
    return any(name.startswith("file:") for name, _, _ in entry.objects())


def previous_parts(entry: CacheEntry | None) -> KeyParts | None:
    return KeyParts.from_json(entry.components) if entry is not None else None


def decide(
    step: str,
    *,
    graph: Graph,
    parts: KeyParts,
    known: Mapping[str, str],
    waiting_on: Mapping[str, StepState],
    cache: CacheView,
    forced: bool = False,
    uncached: str | None = None,
) -> Decision:
    """Decide whether ``step`` is fresh, and why not.

    Args:
        step: the step.
        graph: the pipeline graph.
        parts: the step's static key parts (no upstream hashes).
        known: output name → content hash of every output settled so far.
        waiting_on: state of each upstream step whose outputs are not settled yet.
        cache: the cache index and store, read only.
        forced: ``--force`` names this step.
        uncached: why the step must run every time (it reads what the analysis cannot see).

    Returns:
        A ``Decision``; its ``key`` is ``None`` when an upstream output is not known yet.
    """
    decl = graph.steps[step]
    wired = graph.inputs[step]
    if uncached is not None:
        if any(output not in known for _, output in wired):
            return Decision(step, "stale", (uncached,), None, cacheable=False)
        inputs = tuple(sorted((param, known[output]) for param, output in wired))
        full = parts.with_inputs(dict(inputs))
        return Decision(step, "stale", (uncached,), full.key, None, full, inputs, cacheable=False)
    missing = [output for _, output in wired if output not in known]
    if missing:
        producers = sorted({graph.provider[o] for o in missing})
        upstream = [(p, waiting_on.get(p, "stale")) for p in producers]
        if forced:
            return Decision(step, "stale", ("forced with --force",), None)
        if not decl.cache:
            return Decision(step, "stale", ("cache=False: runs every time",), None)
        latest = cache.latest(step)
        previous = previous_parts(latest)
        if previous is None:
            return Decision(step, "stale", (_no_entry(step, cache),), None)
        same = previous.static == parts.static if previous.static else not explain_static(parts, previous)
        if not same:
            own = explain_static(parts, previous) or ["cache key changed"]
            runs_first = [f"upstream step {p} runs first" for p, _ in upstream]
            return Decision(step, "stale", (*own, *runs_first), None)
        reasons = tuple(
            f"upstream step {p} {'is stale' if s == 'stale' else 'may re-run'}; "
            "runs only if its output changes"
            for p, s in upstream
        )
        return Decision(step, "recheck", reasons, None)
    inputs = tuple(sorted((param, known[output]) for param, output in wired))
    key = key_of(parts.static, inputs)
    if not forced and decl.cache:
        entry = cache.lookup(step, key)
        if entry is not None:
            damage = cache.damage(entry)
            if not damage:
                # NB: the full parts are only built for a step that runs: a fresh step of a
                #     no-op run needs its key and nothing more.
                files = tuple(cache.missing_files(entry)) if _writes_files(entry) else ()
                return Decision(step, "fresh", (), key, entry, None, inputs, missing_files=files)
            full = parts.with_inputs(dict(inputs))
            return Decision(step, "stale", tuple(damage), key, entry, full, inputs)
    full = parts.with_inputs(dict(inputs))
    if forced:
        return Decision(step, "stale", ("forced with --force",), key, cache.lookup(step, key), full, inputs)
    if not decl.cache:
        return Decision(step, "stale", ("cache=False: runs every time",), key, None, full, inputs)
    previous = previous_parts(cache.latest(step))
    why = explain(full, previous) if previous is not None else [_no_entry(step, cache)]
    return Decision(step, "stale", tuple(why), key, None, full, inputs)


def plan_graph(
    graph: Graph,
    static: Mapping[str, KeyParts] | Any,
    cache: CacheView,
    *,
    force: Iterable[str] = (),
    uncached: Mapping[str, str] | None = None,
) -> list[Decision]:
    """``decide`` every step in topological order, as if nothing ran in between.

    Args:
        graph: the pipeline graph.
        static: step → its static key parts (a mapping, or anything with ``__getitem__``).
        cache: the cache index and store, read only.
        force: steps to treat as stale whatever their key.
        uncached: step → why it runs every time (reads the analysis cannot resolve).
    """
    forced = set(force)
    uncached = uncached or {}
    known: dict[str, str] = {}
    states: dict[str, StepState] = {}
    decisions: list[Decision] = []
    for step in graph.steps:
        waiting = {
            graph.provider[o]: states[graph.provider[o]]
            for _, o in graph.inputs[step]
            if o not in known
        }
        decision = decide(
            step,
            graph=graph,
            parts=static[step],
            known=known,
            waiting_on=waiting,
            cache=cache,
            forced=step in forced,
            uncached=uncached.get(step),
        )
        states[step] = decision.state
        if decision.state == "fresh" and decision.entry is not None:
            for name, digest, _ in decision.entry.objects():
                known[name] = digest
        decisions.append(decision)
    return decisions


def plan(session: Session, *, force: Iterable[str] = ()) -> list[Decision]:
    """Decide, for every step of the session's graph, whether it is fresh and why not.

    Reads source records, the cache index and object sizes; imports no user code.
    """
    return plan_graph(session.graph, session.keys, session.cache_view(), force=force, uncached=session.uncached())
