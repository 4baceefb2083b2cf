"""The step graph: a value built from ``StepDecl`` records, validated in one pass.

Responsibilities:
- ``build_graph(decls)`` -> ``(Graph, problems)``: providers of each output, input edges
  and run params of each step, a topological order (stdlib ``graphlib``);
- collect every structural problem (two providers of one name, cycles) instead of stopping
  at the first;
- selection: ``graph.subset(targets)`` returns a new graph of the targets and what they need.

A parameter named like another step's output is an edge; every other parameter is a run
parameter. A graph never changes once built.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..analysis.source import ParamDecl, StepDecl
from ..errors import NotFoundError, Problem, did_you_mean


@dataclass(frozen=True, slots=True)
class Graph:
    """A validated pipeline graph.

    Attributes:
        steps: step name → declaration, in topological order.
        provider: output name → name of the step producing it.
        inputs: step name → ``(param, output)`` pairs wired from upstream steps.
        params: step name → run parameters (everything not wired).
    """

    steps: Mapping[str, StepDecl]
    provider: Mapping[str, str]
    inputs: Mapping[str, tuple[tuple[str, str], ...]]
    params: Mapping[str, tuple[ParamDecl, ...]]

    def upstream_steps(self, name: str) -> set[str]:
        return {self.provider[output] for _, output in self.inputs[name]}

    def step_for(self, target: str) -> str:
        """The step named ``target`` or producing the output ``target``."""
        if target in self.steps:
            return target
        if target in self.provider:
            return self.provider[target]
        names = set(self.steps) | set(self.provider)
        raise NotFoundError(
            f"no step or output named {target!r}{did_you_mean(target, names)}",
            hint="`distill status` lists the steps",
        )

    def subset(self, targets: Iterable[str]) -> Graph:
        """A new graph holding the ``targets`` (steps or outputs) and all they depend on."""
        keep: set[str] = set()
        stack = [self.step_for(t) for t in targets]
        while stack:
            name = stack.pop()
            if name not in keep:
                keep.add(name)
                stack.extend(self.upstream_steps(name))
        return self._restricted(keep)

    def _restricted(self, keep: set[str]) -> Graph:
        steps = {n: d for n, d in self.steps.items() if n in keep}
        return Graph(
            MappingProxyType(steps),
            MappingProxyType({o: s for o, s in self.provider.items() if s in keep}),
            MappingProxyType({n: self.inputs[n] for n in steps}),
            MappingProxyType({n: self.params[n] for n in steps}),
        )


FILE_PREFIX = "file:"


def file_output(pattern: str) -> str:
    """The name under which a step's declared written files are an output: ``file:<pattern>``."""
    return f"{FILE_PREFIX}{pattern}"


def build_graph(
    decls: Iterable[StepDecl], file_reads: Mapping[str, Iterable[str]] | None = None
) -> tuple[Graph, list[Problem]]:
    """Wire steps by name and order them.

    Args:
        decls: the steps.
        file_reads: step → the files, folders or globs it reads (from its code and ``@step
            (reads=...)``); a read that matches another step's ``writes`` is an input of
            that step's ``file:<pattern>`` output, so the writer runs first.

    Returns:
        The graph (in declaration order when it has a cycle) and every problem found.
    """
    problems: list[Problem] = []
    by_name: dict[str, StepDecl] = {}
    for decl in decls:
        if decl.name in by_name:
            first = by_name[decl.name]
            problems.append(
                Problem(
                    "duplicate-step",
                    f"two steps are named {decl.name!r}: {first.qualname} ({first.where}) "
                    f"and {decl.qualname}",
                    decl.where,
                    "rename one of them; step names must be unique in a pipeline",
                )
            )
            continue
        by_name[decl.name] = decl
    provider: dict[str, str] = {}
    for decl in by_name.values():
        for output in decl.outputs:
            if output in provider and provider[output] != decl.name:
                other = by_name[provider[output]]
                problems.append(
                    Problem(
                        "duplicate-output",
                        f"output {output!r} is provided by two steps: {other.name} ({other.where}) "
                        f"and {decl.name}",
                        decl.where,
                        "rename one output; every name must have one provider",
                    )
                )
                continue
            provider[output] = decl.name
        for pattern in decl.writes:
            provider[file_output(pattern)] = decl.name
    inputs: dict[str, tuple[tuple[str, str], ...]] = {}
    params: dict[str, tuple[ParamDecl, ...]] = {}
    deps: dict[str, set[str]] = {}
    for name, decl in by_name.items():
        wired = tuple((p.name, p.name) for p in decl.params if p.name in provider)
        written = sorted(
            {
                file_output(pattern)
                for read in (file_reads or {}).get(name, ())
                for other in by_name.values()
                if other.name != name
                for pattern in other.writes
                if paths_overlap(read, pattern)
            }
        )
        wired += tuple((output, output) for output in written)
        inputs[name] = wired
        params[name] = tuple(p for p in decl.params if p.name not in provider)
        deps[name] = {provider[o] for _, o in wired}
    order = list(by_name)
    sorter = graphlib.TopologicalSorter(deps)
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        loop = list(exc.args[1])
        # graphlib lists the loop so that each step is needed by the next one.
        shown = " → ".join(loop)
        problems.append(
            Problem(
                "cycle",
                f"the steps form a cycle: {shown} (each step uses an output of the one before)",
                by_name[loop[0]].where,
                "a step cannot need, directly or not, its own output; rename or split a step",
            )
        )
    steps = {n: by_name[n] for n in order}
    graph = Graph(
        MappingProxyType(steps),
        MappingProxyType(provider),
        MappingProxyType(inputs),
        MappingProxyType(params),
    )
    return graph, problems



def paths_overlap(read: str, written: str) -> bool:
    """Whether reading ``read`` may read what writing ``written`` writes (paths or globs,
    relative to the project root; a folder covers what is below it)."""
    import fnmatch

    a, b = read.strip("/"), written.strip("/")
    if a == b or fnmatch.fnmatch(a, b) or fnmatch.fnmatch(b, a):
        return True
    return a.startswith(b + "/") or b.startswith(a + "/")
