"""The ``@step`` decorator.

Responsibilities:
- mark a plain function as a pipeline step and attach its options (``outputs``, ``retries``,
  ``cache``, ``reads``, ``env``, ``writes``, ``metrics``) as an immutable ``StepOptions``
  record on ``fn.__distill_step__`` (a named tuple: ``dataclasses`` would cost every user
  module that imports distill the import of ``inspect``);
- leave the function itself untouched, so it stays callable and unit-testable as is.

The graph is read from source (see ``distill.analysis.source``); this module is what runs
when user code is imported, so it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "__distill_step__"


class StepOptions(NamedTuple):
    """Options given to ``@step``.

    Attributes:
        outputs: names of the values the step returns, in order; ``None`` means one output
            named like the function.
        retries: how many more times to call the step after it raises.
        cache: ``False`` runs the step every time (its outputs are still passed on).
        reads: files, folders or globs (relative to the project root) the step reads that
            the analysis of its code cannot see; their content is part of its key.
        env: environment variables the step reads that the analysis cannot see.
        writes: files, folders or globs (relative to the project root) the step writes;
            they are stored with its results and restored on a cache hit.
        metrics: outputs that are scalar metrics, recorded with each run.
    """

    outputs: tuple[str, ...] | None = None
    retries: int = 0
    cache: bool = True
    reads: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


@overload
def step(fn: F, /) -> F: ...


@overload
def step(
    *,
    outputs: Sequence[str] | str | None = None,
    retries: int = 0,
    cache: bool = True,
    reads: Sequence[str] = (),
    env: Sequence[str] = (),
    writes: Sequence[str] = (),
    metrics: Sequence[str] = (),
) -> Callable[[F], F]: ...


def step(
    fn: F | None = None,
    /,
    *,
    outputs: Sequence[str] | str | None = None,
    retries: int = 0,
    cache: bool = True,
    reads: Sequence[str] = (),
    env: Sequence[str] = (),
    writes: Sequence[str] = (),
    metrics: Sequence[str] = (),
) -> F | Callable[[F], F]:
    """Mark a function as a pipeline step.

    A parameter named like another step's output is an input edge; any other parameter is
    a run parameter, typed by its annotation and defaulted by its default.

    Args:
        fn: the function, when used as a bare ``@step``.
        outputs: names of the returned values when the function returns a tuple.
        retries: extra attempts after an exception.
        cache: whether the step's results are cached.
        reads: files, folders or globs the step reads that distill cannot see in its code
            (a computed path); relative to the project root.
        env: environment variables the step reads that distill cannot see in its code.
        writes: files, folders or globs the step writes, relative to the project root:
            stored after it runs, restored when it is a cache hit.
        metrics: names of outputs that are scalar metrics (recorded in the run history).

    Returns:
        The function itself, with its options attached.

    Example:
        >>> @step(outputs=("train", "test"))
        ... def split(features, test_size: float = 0.2):
        ...     ...
    """
    if isinstance(outputs, str):
        outputs = (outputs,)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    options = StepOptions(
        outputs=tuple(outputs) if outputs is not None else None,
        retries=retries,
        cache=cache,
        reads=_names(reads),
        env=_names(env),
        writes=_names(writes),
        metrics=_names(metrics),
    )

    def mark(func: F) -> F:
        setattr(func, ATTRIBUTE, options)
        return func

    if fn is not None:
        return mark(fn)
    return mark


def _names(value: Sequence[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def options_of(fn: Callable[..., Any]) -> StepOptions | None:
    """The options attached by ``@step``, or ``None`` for a plain function."""
    return getattr(fn, ATTRIBUTE, None)
