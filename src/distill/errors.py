"""The error tree of distill.

Responsibilities:
- one base class, ``DistillError``, that the CLI catches and prints;
- a subclass per kind of failure, each carrying what failed, where, what was expected and
  what to type next;
- ``ValidationError``, which bundles every problem found in one pass.

Tree::

    DistillError
    ├── ProjectError          no project, bad pyproject, pipeline module not found
    ├── ValidationError       a list of problems (cycles, missing inputs, bad params...)
    ├── StepDefinitionError   a @step whose source distill cannot read
    ├── StaleError            distill.load() of an output that is not fresh
    ├── StoreError            an object missing or corrupted in the store
    │   └── StoreAccessError  the store cannot be used: read-only, damaged index, bad key
    └── NotFoundError         an output or step name that does not exist
"""

from __future__ import annotations

from dataclasses import dataclass


class DistillError(Exception):
    """Base of every error distill raises on purpose.

    ``exit_code`` is what the CLI exits with: 2 for bad input, 1 for a failed run.
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ProjectError(DistillError):
    """The project folder, its pyproject.toml or its pipeline module is unusable."""


class StepDefinitionError(DistillError):
    """A ``@step`` function cannot be understood from its source."""


class NotFoundError(DistillError):
    """A step or output name that the pipeline does not have."""


class StaleError(DistillError):
    """An output was asked for but its cached value is not fresh."""

    def __init__(self, message: str, *, reasons: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reasons = reasons


class StoreError(DistillError):
    """An object in the store is missing or does not match its hash."""

    exit_code = 1


class StoreAccessError(StoreError):
    """The store cannot be used as it is: read-only for a run, a file where a folder should
    be, a damaged index, a malformed store key. Nothing was run: fix it and run again."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found while validating a pipeline.

    Attributes:
        code: a stable identifier such as ``cycle`` or ``missing-input``.
        message: one line saying what is wrong, expected versus found.
        where: ``file:line`` of the step concerned, or a file name, or ``""``.
        hint: what to type or change next, or ``""``.
    """

    code: str
    message: str
    where: str = ""
    hint: str = ""

    def describe(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        return f"{head}\n    hint: {self.hint}" if self.hint else head


class ValidationError(DistillError):
    """Every problem found while validating a pipeline, its params and its project."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        body = "\n".join(f"  - {p.describe()}" for p in self.problems)
        super().__init__(f"the pipeline has {count} {noun}:\n{body}")

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]


def did_you_mean(name: str, candidates: object) -> str:
    """Return `` (did you mean 'x'?)`` for the closest candidate, or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)  # type: ignore[call-overload]
    return f" (did you mean {close[0]!r}?)" if close else ""
