"""distill: notebooks into tested, cached, reproducible pipelines.

The public API is small and pinned (``tests/test_exported.py``). ``import distill`` is cheap:
everything but ``step`` is imported on first use, because user pipeline modules import
this package and planning must stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .pipeline.step import step as step

__all__ = [
    "DistillError",
    "Pipeline",
    "Secret",
    "StaleError",
    "ValidationError",
    "load",
    "run",
    "show",
    "status",
    "step",
]

_LAZY = {
    "Pipeline": "api",
    "load": "api",
    "run": "api",
    "show": "api",
    "status": "api",
    "Secret": "pipeline.secrets",
    "DistillError": "errors",
    "StaleError": "errors",
    "ValidationError": "errors",
}

if TYPE_CHECKING:
    from .api import Pipeline as Pipeline
    from .api import load as load
    from .api import run as run
    from .api import show as show
    from .api import status as status
    from .errors import DistillError as DistillError
    from .errors import StaleError as StaleError
    from .errors import ValidationError as ValidationError
    from .pipeline.secrets import Secret as Secret


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'distill' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
