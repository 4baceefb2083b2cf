"""How every ``distill`` command ends on an error: the one place that catches ``DistillError``.

Responsibilities:
- ``fail``: print ``Error: ...`` (the message and its hint) and exit with the error's code;
  anything that is not ours is re-raised, so a bug shows its traceback.

Every command module imports it from here: ``cli.main`` imports ``cli.convert`` and
``cli.lint`` to register their commands, so they must not import ``cli.main`` back.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(exc: BaseException) -> NoReturn:
    """End the command for ``exc``: ours exits with its code, anything else is re-raised.

    Args:
        exc: the exception a command caught.

    Raises:
        SystemExit: with ``exc.exit_code`` (1 or 2) when ``exc`` is a ``DistillError``.
        BaseException: ``exc`` itself otherwise.

    Example:
        >>> try:  # doctest: +SKIP
        ...     result = run_convert(notebook, output)
        ... except Exception as exc:  # noqa: BLE001 - fail re-raises what is not ours
        ...     fail(exc)
    """
    from ..errors import DistillError

    if isinstance(exc, DistillError):
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    raise exc
