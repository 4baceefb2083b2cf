"""The ``@step`` decorator.

Responsibilities:
- mark a plain function as a pipeline step and attach its options (``outputs``, ``retries``,
  ``cache``) as a frozen ``StepOptions`` record on ``fn.__distill_step__``;
- leave the function itself untouched, so it stays callable and unit-testable as is.

The graph is read from source (see ``distill.analysis.source``); this module is what runs
when user code is imported, so it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "__distill_step__"


@dataclass(frozen=True, slots=True)
class StepOptions:
    """Options given to ``@step``.

    Attributes:
        outputs: names of the values the step returns, in order; ``None`` means one output
            named like the function.
        retries: how many more times to call the step after it raises.
        cache: ``False`` runs the step every time (its outputs are still passed on).
    """

    outputs: tuple[str, ...] | None = None
    retries: int = 0
    cache: bool = True


@overload
def step(fn: F, /) -> F: ...


@overload
def step(
    *, outputs: Sequence[str] | str | None = None, retries: int = 0, cache: bool = True
) -> Callable[[F], F]: ...


def step(
    fn: F | None = None,
    /,
    *,
    outputs: Sequence[str] | str | None = None,
    retries: int = 0,
    cache: bool = True,
) -> F | Callable[[F], F]:
    """Mark a function as a pipeline step.

    A parameter named like another step's output is an input edge; any other parameter is
    a run parameter, typed by its annotation and defaulted by its default.

    Args:
        fn: the function, when used as a bare ``@step``.
        outputs: names of the returned values when the function returns a tuple.
        retries: extra attempts after an exception.
        cache: whether the step's results are cached.

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
        outputs=tuple(outputs) if outputs is not None else None, retries=retries, cache=cache
    )

    def mark(func: F) -> F:
        setattr(func, ATTRIBUTE, options)
        return func

    if fn is not None:
        return mark(fn)
    return mark


def options_of(fn: Callable[..., Any]) -> StepOptions | None:
    """The options attached by ``@step``, or ``None`` for a plain function."""
    return getattr(fn, ATTRIBUTE, None)
