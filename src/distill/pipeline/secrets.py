"""Secret params: which params are secret, what a secret enters a key as, and masking.

The one place the rules live; params, cache keys, ``status``, ``show``, run records and
error messages all ask here.

A param is secret when
- its annotation is ``Secret[str]`` (``from distill import Secret``): to Python and to type
  checkers that is ``Annotated[str, SECRET]``, so the step receives a plain ``str``;
- its value is ``${env:NAME}``: the value is read from the environment when the params are
  resolved, and never written anywhere;
- or its name matches ``SECRET_NAME`` (``api_token``, ``db_password``, ``private_key``...).

A secret enters its step's cache key as ``keyed(value)``, a keyed hash (``cache.trust``): a
changed secret still re-runs the step, and nobody without the store key can test a guess
against the index. Wherever a secret would be shown — status, explanations, ``show``, run
records, error messages — ``MASK`` is shown instead.

Responsibilities:
- ``Secret`` and ``annotation_is_secret`` (read from the annotation's source, never evaluated);
- ``name_is_secret``, ``env_reference``, ``is_secret``;
- ``keyed``, ``is_keyed_hash``: a secret's form in a key, and recognising it;
- ``secret_texts``, ``mask``, ``mask_value``: replacing secret text by ``MASK``;
- ``MaskedHook``: a run hook whose events have secrets masked before they arrive.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Callable, Collection, Iterable
from typing import Annotated, Any, TypeAlias, TypeVar

MASK = "***"

SECRET_NAME = re.compile(r"(?i)(secret|token|passw(or)?d|api_?key|credential|private_?key)")
_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_KEYED = re.compile(r"secret:[0-9a-f]{32}")
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SECRET_WORDS = frozenset({
    "secret", "token", "password", "passwd", "pwd", "credential", "credentials", "apikey", "privatekey",
})
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("pass", "word")})


class SecretMarker:
    """The metadata that makes ``Annotated[str, SECRET]`` (``Secret[str]``) a secret."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "distill.Secret"


SECRET = SecretMarker()
_T = TypeVar("_T")

#: ``Secret[str]``: a param whose value is never shown or stored. At run time the step
#: receives a plain ``str`` (it is ``Annotated[str, SECRET]``).
Secret: TypeAlias = Annotated[_T, SECRET]


def _names_secret(node: ast.expr) -> bool:
    """Whether ``node`` is ``Secret`` or ``distill.Secret``."""
    if isinstance(node, ast.Name):
        return node.id == "Secret"
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "Secret"
        and isinstance(node.value, ast.Name)
        and node.value.id == "distill"
    )


@functools.lru_cache(maxsize=1024)
def annotation_is_secret(annotation: str | None) -> bool:
    """Whether an annotation's source text is ``Secret[...]`` (also inside ``X | None``,
    ``Optional[...]``, or quoted).

    Example:
        >>> annotation_is_secret("Secret[str]"), annotation_is_secret("str")
        (True, False)
    """
    if not annotation or "Secret" not in annotation:
        return False
    try:
        tree = ast.parse(annotation, mode="eval")
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _names_secret(node.value):
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and annotation_is_secret(node.value):
            return True
    return False


def name_is_secret(name: str) -> bool:
    """Whether a param's (or an environment variable's) name says it holds a secret.

    Example:
        >>> name_is_secret("api_token"), name_is_secret("DB_PASSWORD"), name_is_secret("window")
        (True, True, False)
    """
    if SECRET_NAME.search(name) is None:
        return False
    # The pattern, as a word of the name: `api_token`, `clientSecret`, `DB_PASSWORD`, `apikey`,
    # never a longer word that contains it (`max_tokens`, `tokenizer_name`, `n_tokens`).
    words = [w.lower() for w in _WORDS.findall(name)]
    if any(word in _SECRET_WORDS for word in words):
        return True
    if any(pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False)):
        return True
    joined = "".join(words)
    return any(joined.endswith(word) for word in _SECRET_WORDS if len(word) >= 5)


def env_reference(value: Any) -> str | None:
    """The variable named by a value written ``${env:NAME}``, else ``None``."""
    if not isinstance(value, str) or not value.startswith("${env:"):
        return None
    found = _ENV_REFERENCE.fullmatch(value.strip())
    return found.group(1) if found else None


def is_secret(name: str, annotation: str | None, raw: Any = None) -> bool:
    """Whether a param is secret: annotated ``Secret[...]``, given as ``${env:NAME}``
    (``raw``: the value as written, before the variable is read), or named like a secret."""
    return name_is_secret(name) or annotation_is_secret(annotation) or env_reference(raw) is not None


def keyed(value: Any) -> str:
    """What a secret enters a cache key as: a hash keyed with the store key.

    Raises:
        StoreError: the store key is unusable (``cache.trust.store_key``).
    """
    from ..cache.trust import signer

    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return signer().keyed_hash(text)


def is_keyed_hash(value: Any) -> bool:
    """Whether a value in a key's parts is a secret's keyed hash."""
    return isinstance(value, str) and _KEYED.fullmatch(value) is not None


def secret_texts(value: Any) -> set[str]:
    """The text a secret value can show up as in messages: its strings (nested ones too).

    Numbers and booleans are left out: masking every ``1`` in a message hides nothing.
    """
    out: set[str] = set()
    if isinstance(value, str):
        if value:
            out.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            out |= secret_texts(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            out |= secret_texts(item)
    return out


def _forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as it may be written in text: as is, and escaped by ``repr`` and JSON."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.add(secret)
        forms.add(repr(secret)[1:-1])
        forms.add(json.dumps(secret)[1:-1])
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    # NB: longest first, so a secret containing another is masked whole.
    return sorted((f for f in forms if f), key=len, reverse=True)


def mask(text: str, secrets: Collection[str]) -> str:
    """``text`` with every occurrence of a secret replaced by ``MASK``.

    Example:
        >>> mask("token s3cr3t rejected", {"s3cr3t"})
        'token *** rejected'
    """
    if not secrets or not text:
        return text
    for form in _forms(secrets):
        if form in text:
            text = text.replace(form, MASK)
    return text


def mask_value(value: Any, secrets: Collection[str]) -> Any:
    """A copy of a JSON-like value with secrets masked in every string (keys included)."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {mask_value(k, secrets): mask_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_value(v, secrets) for v in value)
    return value


class MaskedHook:
    """A run hook seen through a mask: every string an event carries (errors, warnings,
    reasons) has the run's secrets replaced by ``MASK`` before the hook gets it."""

    __slots__ = ("_hook", "_secrets")

    def __init__(self, hook: object, secrets: Collection[str]) -> None:
        self._hook = hook
        self._secrets = frozenset(secrets)

    def __getattr__(self, event: str) -> Callable[..., Any]:
        if not event.startswith("on_"):
            raise AttributeError(event)
        method = getattr(self._hook, event)  # AttributeError: the hook ignores this event
        secrets = self._secrets

        def masked(**kwargs: Any) -> Any:
            return method(**{k: mask_value(v, secrets) for k, v in kwargs.items()})

        return masked
