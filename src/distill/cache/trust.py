"""The store key: what makes the store's index and memos checkable, and secrets unreadable.

Responsibilities:
- ``store_key()``: the key of this machine or team — ``DISTILL_STORE_KEY`` (hex, at least
  32 bytes) when set, else ``~/.config/distill/store.key`` (``$XDG_CONFIG_HOME`` respected),
  made with 32 random bytes and mode 0600 on first use;
- ``Signer``: HMAC-SHA256 over a sequence of fields, each length-prefixed so that no two
  sequences give the same message; ``sign``, ``verify`` (constant time) and ``keyed_hash``
  (what a secret value enters a cache key as).

The trust model (``docs/architecture.md``, "The store is a trust boundary"): whoever holds
the key may write the store; what is read back — index rows, memo files — is used only when
its MAC verifies, so bytes planted by anyone else are a cache miss, never a value loaded or
code run. A team sharing one store (a CI cache, object storage) shares one key through
``DISTILL_STORE_KEY``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..errors import StoreAccessError

ENV_KEY = "DISTILL_STORE_KEY"
MIN_KEY_BYTES = 32


def key_file() -> Path:
    """Where this user's store key lives when ``DISTILL_STORE_KEY`` is not set."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "distill" / "store.key"


def store_key() -> bytes:
    """The key every index row and memo file of a store is signed with.

    Raises:
        StoreAccessError: ``DISTILL_STORE_KEY`` is not hex of at least 32 bytes; the key file is
            unreadable, too short, or cannot be created.
    """
    text = os.environ.get(ENV_KEY)
    if text is not None:
        key = _parse(text)
        if key is None:
            raise StoreAccessError(
                f"{ENV_KEY} must be at least {MIN_KEY_BYTES} bytes written as hex "
                f"({2 * MIN_KEY_BYTES} hex digits); found {len(text.strip())} characters",
                hint=f'make one with `python -c "import secrets; print(secrets.token_hex({MIN_KEY_BYTES}))"`',
            )
        return key
    path = key_file()
    found = _read_key(path)
    return found if found is not None else _create_key(path)


def _read_key(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreAccessError(
            f"cannot read the store key {path}: {exc}",
            hint=f"fix its permissions, or set {ENV_KEY} to the key as hex",
        ) from exc
    key = _parse(text)
    if key is None:
        raise StoreAccessError(
            f"the store key {path} is not {MIN_KEY_BYTES} or more bytes of hex",
            hint=f"remove it (a new one is made; every cached result then re-runs once) or set {ENV_KEY}",
        )
    return key


def _parse(text: str) -> bytes | None:
    """The key written as hex, or None when it is not hex of at least ``MIN_KEY_BYTES`` bytes."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        return None
    return key if len(key) >= MIN_KEY_BYTES else None


def _create_key(path: Path) -> bytes:
    key = secrets.token_bytes(MIN_KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.hex() + "\n")
        try:
            # Two processes making the key at once: the first link wins, both use its key.
            os.link(tmp, path)
        except FileExistsError:
            existing = _read_key(path)
            if existing is not None:
                return existing
        return key
    except OSError as exc:
        raise StoreAccessError(
            f"cannot create the store key {path}: {exc}",
            hint=f"set {ENV_KEY} to {MIN_KEY_BYTES} random bytes as hex, or make {path.parent} writable",
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class Signer:
    """HMAC-SHA256 with the store key over length-prefixed fields."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, *fields: str | bytes | None) -> str:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for value in fields:
            if value is None:
                mac.update(b"\xff")
                continue
            data = value.encode() if isinstance(value, str) else value
            mac.update(len(data).to_bytes(8, "big"))
            mac.update(data)
        return mac.hexdigest()

    def verify(self, mac: str | None, *fields: str | bytes | None) -> bool:
        if not mac:
            return False
        return hmac.compare_digest(mac, self.sign(*fields))

    def keyed_hash(self, value: str) -> str:
        """What a secret enters a cache key as: equal values give equal hashes, and
        nobody without the key can test a guess against it."""
        return "secret:" + self.sign("secret", value)[:32]


_SIGNERS: dict[bytes, Signer] = {}


def signer() -> Signer:
    """The signer of the current store key (made once per key per process)."""
    key = store_key()
    found = _SIGNERS.get(key)
    if found is None:
        found = _SIGNERS[key] = Signer(key)
    return found
