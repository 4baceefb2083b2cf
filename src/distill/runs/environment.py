"""Where a run ran: the interpreter, the platform, every installed package and the git state.

Responsibilities:
- ``Environment``: the frozen record a run keeps in its history, with ``as_json()`` for the
  registry;
- ``capture(project_root, memo=...)``: builds it. Listing the installed distributions reads
  every ``METADATA`` file (tens of ms), so the result is memoised in a caller-owned dict, keyed
  by the ``st_mtime_ns`` of the ``sys.path`` folders: installing or removing a distribution
  adds or removes a ``*.dist-info`` folder, which changes the mtime of the folder holding it;
- the git commit and whether tracked files differ from it, read with three short git calls
  that never raise: no git, no repository, no commit yet or a timeout all give ``None``.

Nothing here prints, and ``importlib.metadata`` (about 30 ms to import) is imported only when
the memo is stale.
"""

from __future__ import annotations

import os
import platform
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Environment", "capture"]

# Keys of the caller's memo. Values are builtins only (tuples, dicts, str, int), so the caller
# can save the memo with the rest of its memo tables.
_SIGNATURE = "sys_path"
_PACKAGES = "packages"
_PLATFORM = "platform"

# One budget for all git calls of one capture: a hung git (network file system, a huge
# repository) delays a run by at most this, then the git fields are ``None``.
GIT_TIMEOUT = 5.0

_NORMALISE = re.compile(r"[-_.]+")


@dataclass(frozen=True, slots=True)
class Environment:
    """Where a run ran.

    Attributes:
        python: The interpreter version, as ``platform.python_version()`` gives it (``"3.11.7"``).
        implementation: ``"CPython"``, ``"PyPy"``...
        executable: ``sys.executable``.
        platform: ``platform.platform()``, e.g. ``"Linux-6.1.0-x86_64-with-glibc2.36"``.
        machine: ``platform.machine()``, e.g. ``"x86_64"``.
        packages: Every installed distribution, PEP 503 name → version, sorted by name;
            read-only.
        git_commit: ``git rev-parse HEAD`` of the project, or ``None`` when git is missing,
            the project is not in a repository or the repository has no commit.
        git_dirty: Whether tracked files differ from that commit (untracked files do not
            count); ``None`` whenever ``git_commit`` is ``None`` or git failed to say.
    """

    python: str
    implementation: str
    executable: str
    platform: str
    machine: str
    packages: Mapping[str, str]
    git_commit: str | None
    git_dirty: bool | None

    def as_json(self) -> dict[str, Any]:
        """The record as JSON-ready builtins, for the run history.

        Returns:
            A new dict of the fields; ``packages`` is a plain, sorted dict.

        Example:
            >>> env = capture(Path("."))
            >>> json.dumps(env.as_json())  # doctest: +SKIP
        """
        return {
            "python": self.python,
            "implementation": self.implementation,
            "executable": self.executable,
            "platform": self.platform,
            "machine": self.machine,
            "packages": dict(self.packages),
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
        }


def capture(project_root: Path, *, memo: MutableMapping[str, Any] | None = None) -> Environment:
    """Record the environment of a run of the project at ``project_root``.

    Args:
        project_root: The project folder; git runs there, so a project inside a larger
            repository records that repository's commit.
        memo: A dict the caller keeps between runs (saved with its memo tables). When the
            ``sys.path`` folders have the same mtimes as when it was filled, the package list
            comes from it and no distribution metadata is read; otherwise it is refilled.
            ``None``: read the metadata every time.

    Returns:
        The environment. Never raises for git problems; those give ``None`` git fields.

    Example:
        >>> state: dict[str, Any] = {}
        >>> env = capture(Path("."), memo=state)  # reads metadata, fills ``state``
        >>> env = capture(Path("."), memo=state)  # about 30 µs plus git
    """
    return start_capture(project_root, memo=memo)()


def start_capture(
    project_root: Path, *, memo: MutableMapping[str, Any] | None = None
) -> Callable[[], Environment]:
    """Start recording the environment: git runs in the background from now on.

    Returns:
        A function that gives the ``Environment`` (waiting for git if it is still running).
    """
    probe = GitProbe(project_root)
    platform_name = _platform(memo)
    packages = MappingProxyType(_packages(memo))

    def finish() -> Environment:
        commit, dirty = probe.result()
        return Environment(
            python=platform.python_version(),
            implementation=platform.python_implementation(),
            executable=sys.executable,
            platform=platform_name,
            machine=platform.machine(),
            packages=packages,
            git_commit=commit,
            git_dirty=dirty,
        )

    return finish


def _signature() -> tuple[tuple[str, int], ...]:
    """``(folder, st_mtime_ns)`` of every ``sys.path`` entry that is an existing folder."""
    signature = []
    for entry in sys.path:
        # NB: relative entries ("" is the current folder) are made absolute, so that a memo
        # filled in one folder is not trusted in another:
        #     cd a && distill run   # "" is /a
        #     cd b && distill run   # "" is /b, a different folder
        folder = entry if os.path.isabs(entry) else os.path.abspath(entry or ".")
        try:
            info = os.stat(folder)
        except OSError:
            continue
        # NB: files on sys.path are skipped; pip only writes into folders, and the zipped
        # standard library (``python311.zip``) changes only with the interpreter.
        if stat.S_ISDIR(info.st_mode):
            signature.append((folder, info.st_mtime_ns))
    return tuple(signature)


def _packages(memo: MutableMapping[str, Any] | None) -> dict[str, str]:
    """Every installed distribution, PEP 503 name → version, sorted; memoised in ``memo``."""
    signature = _signature()
    if memo is not None and memo.get(_SIGNATURE) == signature:
        saved = memo.get(_PACKAGES)
        if isinstance(saved, dict):
            # A copy: the caller owns ``memo`` and may mutate or reload it later.
            return dict(saved)
    packages = _read_distributions()
    if memo is not None:
        memo[_SIGNATURE] = signature
        memo[_PACKAGES] = dict(packages)
    return packages


def _read_distributions() -> dict[str, str]:
    # Imported here: it costs about 30 ms, and a memo hit must not pay it.
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        # ``dist.version`` would parse ``METADATA`` a second time: read both from one parse.
        fields = dist.metadata
        name = fields["Name"]
        if not name:
            # A broken ``*.dist-info`` folder (an interrupted install): nothing to record.
            continue
        # NB: the same distribution can be installed twice on sys.path (user site and the
        # environment's site-packages). ``distributions()`` follows sys.path order, so the
        # first one is the one ``import`` and ``metadata.version()`` see:
        #     ~/.local/.../pandas-2.2.0.dist-info   <- recorded
        #     venv/.../pandas-2.1.0.dist-info
        found.setdefault(_NORMALISE.sub("-", name).lower(), fields["Version"] or "unknown")
    return dict(sorted(found.items()))


def _platform(memo: MutableMapping[str, Any] | None) -> str:
    """``platform.platform()``, memoised by the kernel and C library it describes."""
    # NB: on Linux the first ``platform.platform()`` of a process runs ``uname -p`` in a
    # subprocess (about 2 ms), more than a whole memo hit. The string depends only on the
    # kernel (``os.uname()``) and the C library, so those key it:
    #     Linux-6.1.0-x86_64-with-glibc2.36  <- uname 6.1.0, x86_64; glibc 2.36
    uname = getattr(os, "uname", None)
    if memo is None or uname is None:
        return platform.platform()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        libc = None
    key = (tuple(uname()), libc)
    match memo.get(_PLATFORM):
        case (saved_key, str() as saved) if saved_key == key:
            return saved
    value = platform.platform()
    memo[_PLATFORM] = (key, value)
    return value


def _git_state(project_root: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the repository holding ``project_root``, ``None``s if unknown."""
    return GitProbe(project_root).result()


class GitProbe:
    """``git status`` started in the background, read when the answer is needed.

    NB: one ``git status --porcelain=v2 --branch --untracked-files=no`` gives both the commit
        (``# branch.oid``) and whether a tracked file differs; it compares the content of a
        file whose stat changed, so a file touched but unchanged is clean, and with optional
        locks off it never writes the index (a ``git commit`` at the same time is not
        disturbed). Started when a run starts, it costs the run nothing but a fork.
    """

    def __init__(self, project_root: Path) -> None:
        self._deadline = time.monotonic() + GIT_TIMEOUT
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
                cwd=project_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            # git is not installed or not runnable, or the project folder is gone.
            self._proc = None

    def result(self) -> tuple[str | None, bool | None]:
        """``(commit, dirty)``; ``None``s when not a repository, no commit yet, or no git."""
        proc = self._proc
        if proc is None:
            return None, None
        try:
            out, _ = proc.communicate(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            # NB: wait for git itself only: reading its output to the end would also wait for
            #     any child still holding the pipe open.
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            return None, None
        if proc.returncode != 0:
            return None, None
        commit: str | None = None
        dirty = False
        for line in out.decode("utf-8", "replace").splitlines():
            if line.startswith("# branch.oid "):
                oid = line.split(" ", 2)[2].strip()
                commit = None if oid == "(initial)" else oid
            elif line and not line.startswith("#"):
                dirty = True
        if commit is None:
            return None, None
        return commit, dirty
