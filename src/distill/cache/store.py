"""The content-addressed object store: bytes in, bytes out, named by their hash.

Responsibilities:
- ``put(data) -> hash``: write ``objects/ab/cdef…`` through a temp file and an atomic
  rename, so a crash never leaves a half-written object under its final name;
- ``get(hash) -> bytes``: read and verify the hash; a missing or corrupted object raises
  ``StoreError`` (and a corrupted one is removed), it is never returned;
- nothing here knows about Python values: serialisation is ``cache.serialize``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import StoreError


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


class ObjectStore:
    """Objects under ``root/objects``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "objects"
        self._prefix = str(self.root) + os.sep
        self._tmp = self.root / "tmp"
        self._made: set[str] = set()

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def _fspath(self, digest: str) -> str:
        return f"{self._prefix}{digest[:2]}{os.sep}{digest[2:]}"

    def has(self, digest: str, size: int | None = None) -> bool:
        try:
            st = os.stat(self._fspath(digest))
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def put(self, data: bytes) -> str:
        digest = content_hash(data)
        final = self._fspath(digest)
        if os.path.exists(final):
            return digest
        prefix = digest[:2]
        if prefix not in self._made:
            (self.root / prefix).mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
            self._made.add(prefix)
        tmp = self._tmp / f"{digest}.{os.getpid()}.{id(data)}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return digest

    def get(self, digest: str) -> bytes:
        """Read an object and check it against its name.

        Raises:
            StoreError: the object is missing, or its content does not match its hash.
        """
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"object {digest} is missing from the store ({path})") from exc
        actual = content_hash(data)
        if actual != digest:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            raise StoreError(
                f"object {digest} is corrupted: its content hashes to {actual}; it was removed"
            )
        return data
