"""Files a step declares it writes (``@step(writes=[...])``): stored after it runs, restored
when it is a cache hit.

Responsibilities:
- ``collect(root, pattern)``: the files a declared pattern names (a file, a folder, or a
  glob), relative to the project root, or a ``DeclaredFileMissing`` error;
- ``store_files(store, root, pattern)``: every such file into the object store, and a manifest
  (itself an object) listing each file's path, object hash and size: the step's output
  ``file:<pattern>``, whose hash keys the steps that read those files;
- ``restore(store, root, files, state)``: put back every file that is missing or differs
  from what the step wrote, atomically (a temp file renamed into place).
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache.fingerprint import hash_data
from ..errors import DistillError

if TYPE_CHECKING:
    from ..cache.store import ObjectStore
    from ..memo import State


class DeclaredFileMissing(DistillError):
    """A step declared ``writes=[...]`` but did not write what it declared."""

    exit_code = 1


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def collect(root: Path, pattern: str) -> list[str]:
    """The files ``pattern`` names below ``root``, as sorted project-relative paths.

    Raises:
        DeclaredFileMissing: a plain path (not a glob) names nothing.
    """
    full = os.path.join(root, pattern)
    if _has_magic(pattern):
        matches = glob.glob(full, recursive=True)
    elif os.path.isdir(full):
        matches = [os.path.join(folder, name) for folder, _, names in os.walk(full) for name in names]
    elif os.path.isfile(full):
        matches = [full]
    else:
        raise DeclaredFileMissing(
            f"the step declares writes=[{pattern!r}] but {pattern} does not exist after it ran",
            hint=f"write {pattern} in the step (paths are relative to the project folder), or fix writes=",
        )
    return sorted(os.path.relpath(m, root).replace(os.sep, "/") for m in matches if os.path.isfile(m))


Snapshot = dict[str, tuple[int, int, int]]


def snapshot(root: Path, patterns: tuple[str, ...]) -> Snapshot:
    """``(size, mtime_ns, inode)`` of the files the folder and glob patterns match now."""
    out: Snapshot = {}
    for pattern in patterns:
        full = os.path.join(root, pattern)
        if not _has_magic(pattern) and not os.path.isdir(full):
            continue  # a plain file is the step's whatever it was before
        try:
            found = collect(root, pattern)
        except DeclaredFileMissing:
            continue
        for rel in found:
            st = os.stat(os.path.join(root, rel))
            out[rel] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def store_files(
    store: ObjectStore, root: Path, pattern: str, before: Snapshot | None = None
) -> tuple[str, dict[str, Any]]:
    """Store the files of one declared pattern; return the manifest's hash and its metadata.

    NB: for a folder or a glob only the files the step created or changed are its own (the
        ``before`` snapshot says which were there); a user's file that merely matches the
        pattern is never recorded, so a cache hit never writes over it:
            @step(writes=["data/*.csv"])   # data/lookup.csv, the user's input, is not ours
    """
    files: dict[str, dict[str, Any]] = {}
    for rel in collect(root, pattern):
        if before and rel in before:
            st = os.stat(root / rel)
            if (st.st_size, st.st_mtime_ns, st.st_ino) == before[rel]:
                continue
        data = (root / rel).read_bytes()
        files[rel] = {"hash": store.put(data), "size": len(data)}
    manifest = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    digest = store.put(manifest)
    total = sum(f["size"] for f in files.values())
    return digest, {
        "hash": digest,
        "kind": "files",
        "summary": {"type": "files", "bytes": len(manifest), "count": len(files), "size": total, "files": files},
        "extras": {},
    }


def changed(root: Path, files: dict[str, dict[str, Any]], state: State) -> list[str]:
    """The declared files that are missing on disk or differ from what the step wrote."""
    out = []
    for rel, meta in files.items():
        path = os.path.join(root, rel)
        try:
            size = os.path.getsize(path)
        except OSError:
            out.append(rel)
            continue
        if size != meta["size"] or hash_data(path, state) != meta["hash"]:
            out.append(rel)
    return out


def restore(store: ObjectStore, root: Path, files: dict[str, dict[str, Any]], state: State) -> list[str]:
    """Write back every declared file that is missing or changed; return their paths.

    Raises:
        StoreError: a file's object is missing or corrupted in the store.
    """
    restored = changed(root, files, state)
    for rel in restored:
        data = store.get(files[rel]["hash"])
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return restored
