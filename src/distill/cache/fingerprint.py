"""Fingerprints: what a step's result depends on besides its inputs.

Responsibilities:
- ``CodeIndex.closure(step)``: every project function, class, constant and module-level
  statement a step reaches, transitively, across modules, with its normalised-AST hash; and
  the top-level packages outside the project that this code imports;
- ``EnvIndex.versions(packages)``: the installed distribution and version of each package,
  memoised by the stats of the ``sys.path`` folders (``pip install`` changes them);
- ``hash_data(path)``: content hash of a data file or folder, memoised by file stat, so a
  touched but unchanged file costs one re-hash and never a re-run.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..analysis.reads import ReadKind, ReadRef
from ..analysis.source import ModuleInfo, StepDecl
from ..memo import State, stat_key, trusted
from ..pipeline.sources import Sources
from .store import new_hash

# Packages whose versions are not part of keys: distill itself (upgrading the runner must not
# re-run a project) and the standard library (covered by the Python version).
IGNORED = frozenset({"distill", "__future__", "builtins"})
CLOSURES = "closures"


@dataclass(frozen=True, slots=True, order=True)
class Read:
    """A file, pattern or environment variable a step's code reads, and where it is read."""

    kind: ReadKind
    value: str
    where: str


@dataclass(frozen=True, slots=True)
class Closure:
    """What a step's code reaches: project code (with its digest), packages and reads."""

    code: dict[str, tuple[str, str]]
    packages: frozenset[str]
    digest: str
    reads: tuple[Read, ...]


class CodeIndex:
    """Resolves names across the project's modules, reading only source records."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self._resolved: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {}
        # Every module consulted, with its source hash (None: not a project module). When
        # all of them are unchanged, every closure computed from them is unchanged too.
        self.consulted: dict[str, str | None] = {}
        self._memo: dict[str, Closure] = {}
        self._load_memo()

    def _module(self, name: str) -> ModuleInfo | None:
        info = self.sources.module(name)
        if name not in self.consulted:
            self.consulted[name] = info.source_hash if info is not None else None
        return info

    def _load_memo(self) -> None:
        saved = self.sources.state.table(CLOSURES).get("memo")
        if saved is None:
            return
        modules, closures = saved
        for name, source_hash in modules.items():
            info = self.sources.module(name)
            if (info.source_hash if info is not None else None) != source_hash:
                return
        self.consulted.update(modules)
        self._memo = dict(closures)

    def save_memo(self) -> None:
        saved = self.sources.state.table(CLOSURES).get("memo")
        if saved is None or saved[0] != self.consulted or saved[1] != self._memo:
            self.sources.state.put(CLOSURES, "memo", (dict(self.consulted), dict(self._memo)))

    def closure_digest(self, step: StepDecl) -> Closure:
        """``closure(step)`` plus the digest of its code items, memoised across runs."""
        memo = self._memo.get(step.qualname)
        if memo is None:
            code, packages, reads = self.closure(step)
            text = "\n".join(f"{k}\0{v[0]}\0{v[1]}" for k, v in sorted(code.items()))
            digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            memo = Closure(code, frozenset(packages), digest, tuple(sorted(set(reads))))
            self._memo[step.qualname] = memo
        return memo

    def _resolve(self, module: str, name: str, depth: int = 0) -> tuple[tuple[str, ...], ...]:
        """What ``name`` means inside ``module``: items ``("def", mod, name)``,
        ``("module", mod)`` or ``("ext", package)``; empty for builtins and locals."""
        memo = (module, name)
        if memo in self._resolved:
            return self._resolved[memo]
        found: tuple[tuple[str, ...], ...] = ()
        info = self._module(module)
        if info is not None and depth < 20:
            if name in info.defs:
                found = (("def", module, name),)
            elif name in info.imports:
                ref = info.imports[name]
                if ref.attr is None:
                    found = (
                        (("module", ref.module),)
                        if self._module(ref.module) is not None
                        else (("ext", ref.module.split(".")[0]),)
                    )
                elif self._module(ref.module) is not None:
                    found = self._resolve(ref.module, ref.attr, depth + 1)
                    if not found and self._module(f"{ref.module}.{ref.attr}") is not None:
                        found = (("module", f"{ref.module}.{ref.attr}"),)
                else:
                    found = (("ext", ref.module.split(".")[0]),)
            else:
                for star in info.star_imports:
                    if self._module(star) is not None:
                        found = self._resolve(star, name, depth + 1)
                        if found:
                            break
        self._resolved[memo] = found
        return found

    def _chain(self, module: str, chain: str) -> tuple[str, ...] | None:
        """Resolve ``lib.clean`` where ``lib`` is a project module, to the item it names."""
        parts = chain.split(".")
        base = self._resolve(module, parts[0])
        if len(base) != 1 or base[0][0] != "module":
            return None
        current = base[0][1]
        for attr in parts[1:]:
            info = self._module(current)
            if info is None:
                return None
            if attr in info.defs:
                return ("def", current, attr)
            if attr in info.imports:
                resolved = self._resolve(current, attr)
                return resolved[0] if len(resolved) == 1 else None
            sub = f"{current}.{attr}"
            if self._module(sub) is None:
                return None
            current = sub
        return ("module", current)

    def closure(self, step: StepDecl) -> tuple[dict[str, tuple[str, str]], set[str], list[Read]]:
        """Project code, external packages and outside reads a step reaches.

        Returns:
            ``{qualname: (kind, hash)}`` for every project definition reached (the step
            included), the set of external top-level packages imported along the way, and
            every file and environment variable that code reads (module-level statements
            of the modules reached included).
        """
        code: dict[str, tuple[str, str]] = {}
        packages: set[str] = set()
        reads: list[Read] = []
        seen: set[tuple[str, ...]] = set()
        stack: list[tuple[str, ...]] = [("def", step.module, step.name)]
        while stack:
            item = stack.pop()
            if item in seen:
                continue
            seen.add(item)
            kind = item[0]
            if kind == "ext":
                packages.add(item[1])
                continue
            if kind == "module":
                info = self._module(item[1])
                if info is None:
                    continue
                stack.extend(("def", item[1], n) for n in info.defs)
                stack.append(("side", item[1]))
                continue
            module = item[1]
            info = self._module(module)
            if info is None:
                continue
            if kind == "side":
                if info.side_effects:
                    code[f"{module} (module-level statements)"] = ("statements", info.side_effects)
                reads.extend(self._reads(module, info, info.side_reads))
                for star in info.star_imports:
                    if self._module(star) is None:
                        packages.add(star.split(".")[0])
                continue
            definition = info.defs.get(item[2])
            if definition is None:
                continue
            code[f"{module}.{definition.name}"] = (definition.kind, definition.hash)
            reads.extend(self._reads(module, info, definition.reads))
            stack.append(("side", module))
            for ref in definition.local_imports:
                if self._module(ref.module) is None:
                    packages.add(ref.module.split(".")[0])
                elif ref.attr is None:
                    stack.append(("module", ref.module))
                else:
                    stack.extend(self._resolve(ref.module, ref.attr))
                    if self._module(f"{ref.module}.{ref.attr}") is not None:
                        stack.append(("module", f"{ref.module}.{ref.attr}"))
            chained: set[str] = set()
            for chain in definition.chains:
                target = self._chain(module, chain)
                if target is not None:
                    stack.append(target)
                    chained.add(chain.split(".")[0])
            for name in definition.names:
                for resolved in self._resolve(module, name):
                    if resolved[0] == "module" and name in chained:
                        continue
                    stack.append(resolved)
        return code, packages, reads

    def _reads(self, module: str, info: ModuleInfo, refs: tuple[ReadRef, ...]) -> list[Read]:
        """Reads with their place; a path held by a name from another module is looked up there."""
        out: list[Read] = []
        for ref in refs:
            where = f"{info.path}:{ref.line}"
            if ref.kind != "name":
                out.append(Read(ref.kind, ref.value, where))
                continue
            found = [r for r in self._resolve(module, ref.value) if r[0] == "def"]
            target = self.sources.module(found[0][1]) if len(found) == 1 else None
            path = target.paths.get(found[0][2]) if target is not None else None
            if path is None:
                out.append(Read("unresolved", f"the path held by {ref.value}", where))
            else:
                out.append(Read("glob" if any(c in path for c in "*?[") else "file", path, where))
        return out


ENV_TABLE = "env"


_ENV_MAPS = 3


class EnvIndex:
    """Installed distribution versions by top-level import name."""

    def __init__(self, state: State, project_packages: Iterable[str] = ()) -> None:
        self.state = state
        self.project_packages = set(project_packages)
        self._map: dict[str, tuple[tuple[str, str], ...]] | None = None
        self._versions: dict[frozenset[str], dict[str, str]] = {}

    def _signature(self) -> tuple[tuple[str, int], ...]:
        sig = []
        for entry in sys.path:
            try:
                sig.append((entry, os.stat(entry or ".").st_mtime_ns))
            except OSError:
                continue
        return tuple(sig)

    def _mapping(self) -> dict[str, tuple[tuple[str, str], ...]]:
        if self._map is not None:
            return self._map
        table = self.state.table(ENV_TABLE)
        signature = self._signature()
        # One map per sys.path signature, the few most recent: a notebook's process and the
        # command line see different sys.path, and must not keep rebuilding each other's.
        saved: dict[str, tuple[tuple[str, str], ...]] | None = table.get(("map", signature))
        if saved is not None:
            self._map = saved
            return saved
        from importlib import metadata

        versions: dict[str, str] = {}
        mapping: dict[str, tuple[tuple[str, str], ...]] = {}
        for top, dists in metadata.packages_distributions().items():
            pairs = []
            for dist in sorted(set(dists)):
                if dist not in versions:
                    try:
                        versions[dist] = metadata.version(dist)
                    except metadata.PackageNotFoundError:
                        versions[dist] = "unknown"
                pairs.append((dist, versions[dist]))
            mapping[top] = tuple(pairs)
        for stale in [k for k in table if not (isinstance(k, tuple) and k[0] == "map")]:
            del table[stale]  # entries of the single-signature layout
        while len(table) >= _ENV_MAPS:
            del table[next(iter(table))]
        self.state.put(ENV_TABLE, ("map", signature), mapping)
        self._map = mapping
        return mapping

    def versions(self, packages: frozenset[str]) -> dict[str, str]:
        """``{distribution: version}`` for the given top-level packages, plus ``python``."""
        memo = self._versions.get(packages)
        if memo is None:
            memo = self._versions[packages] = self._compute(packages)
        return memo

    def _compute(self, packages: Iterable[str]) -> dict[str, str]:
        out = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
        wanted = [
            p
            for p in packages
            if p not in IGNORED and p not in sys.stdlib_module_names and p not in self.project_packages
        ]
        if not wanted:
            return out
        mapping = self._mapping()
        for package in wanted:
            pairs = mapping.get(package)
            if pairs:
                for dist, version in pairs:
                    out[dist] = version
            else:
                out[package] = "not installed"
        return out


DATA_TABLE = "data"


def _file_hash(path: str, state: State) -> str:
    table = state.table(DATA_TABLE)
    st = os.stat(path)
    entry = table.get(path)
    if entry is not None and trusted(st, entry[0], entry[1]):
        return entry[2]  # type: ignore[no-any-return]
    recorded = time.time_ns()
    # The same hash as the object store's, so a file can be compared with its stored copy.
    h = new_hash()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    state.put(DATA_TABLE, path, (stat_key(st), recorded, digest))
    return digest


def hash_data(path: str, state: State) -> str | None:
    """Content hash of a file, or of a folder (its relative file names and contents).

    Returns:
        The hash, or ``None`` if nothing exists at ``path``.
    """
    if os.path.isfile(path):
        return _file_hash(path, state)
    if os.path.isdir(path):
        h = hashlib.blake2b(digest_size=20)
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                h.update(f"{rel}\0{_file_hash(full, state)}\n".encode())
        return "dir:" + h.hexdigest()
    return None
