"""What running a notebook in a fresh kernel needs, shared by ``lint --execute`` and ``verify``.

Responsibilities:
- ``import_runtime``: nbclient and nbformat, or a ``DistillError`` saying what to install;
- ``installed_kernel``: which kernelspec to start for a notebook on this machine;
- ``read_node`` and ``new_code_cell``: typed doors into nbformat, whose functions carry no
  annotations, for building the notebook node a kernel runs.

Nothing heavy is imported at module import: nbclient, nbformat and jupyter_client are
imported by the functions that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias, cast

from ..errors import DistillError

NotebookNode: TypeAlias = Any
"""An nbformat node: a ``dict`` whose keys are also attributes (``node.cells``)."""

INSTALL_HINT = 'pip install "distill[execute]"'


def import_runtime() -> tuple[ModuleType, ModuleType]:
    """nbclient and nbformat, once ipykernel is known to be installed.

    Returns:
        The ``nbclient`` module (with ``nbclient.exceptions`` loaded) and ``nbformat``.

    Raises:
        DistillError: nbclient or ipykernel is missing; the hint says what to install.

    Example:
        >>> nbclient, nbformat = import_runtime()  # doctest: +SKIP
    """
    import importlib.util

    try:
        import nbclient
        import nbclient.exceptions
        import nbformat
    except ImportError as exc:
        raise DistillError(
            f"running notebooks needs nbclient, which cannot be imported ({exc})",
            hint=INSTALL_HINT) from exc
    try:
        # NB: the kernel is a separate process; finding ipykernel is enough, and cheaper than
        # importing it here.
        found = importlib.util.find_spec("ipykernel") is not None
    except (ImportError, ValueError):  # ValueError: a module entry with no spec
        found = False
    if not found:
        raise DistillError("running notebooks needs ipykernel, which is not installed",
                           hint=INSTALL_HINT)
    return nbclient, nbformat


def installed_kernel(node: NotebookNode) -> str:
    """The notebook's kernel when installed here, else ``python3`` for a Python notebook.

    NB: kernel names are machine-specific ("python2", "conda-env-ds-py"); a fresh run checks
    the notebook's code, so a Python notebook runs on this machine's Python kernel:
        kernelspec.name == "conda-env-ds-py", language == "python"  ->  "python3"

    Args:
        node: the notebook, as nbformat reads it.

    Returns:
        The kernel name to start, or "" to let nbclient use the notebook's own name (for
        other languages, or when the installed kernels cannot be listed).

    Example:
        >>> installed_kernel(read_node("analysis.ipynb"))  # doctest: +SKIP
        'python3'
    """
    spec = node.metadata.get("kernelspec") or {}
    name = spec.get("name") or ""
    language_info = node.metadata.get("language_info") or {}
    language = str(spec.get("language") or language_info.get("name") or "python").lower()
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        installed = set(KernelSpecManager().find_kernel_specs())
    except Exception:  # noqa: BLE001 - without the list, let nbclient report the missing kernel
        return ""
    if name in installed or not language.startswith("python"):
        return ""
    return "python3" if "python3" in installed else ""


def read_node(path: str | Path) -> NotebookNode:
    """The notebook at ``path`` as an nbformat v4 node, upgraded but not validated.

    Raises:
        Exception: whatever nbformat raises for a file it cannot read (``OSError``, JSON
            and schema errors); ``notebook.read.read_notebook`` explains those in one message.
    """
    import nbformat

    read = cast("Callable[..., NotebookNode]", nbformat.read)
    return read(str(path), as_version=4)


def new_code_cell(source: str) -> NotebookNode:
    """A v4 code cell holding ``source``, with no outputs."""
    from nbformat import v4

    make = cast("Callable[[str], NotebookNode]", v4.new_code_cell)
    return make(source)
