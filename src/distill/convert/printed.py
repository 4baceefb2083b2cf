"""Run a converted project and keep the text each step printed, for ``distill verify``.

Responsibilities:
- ``StepText``: a hook and a stdout stand-in at once: text written while a step's function
  runs is kept under the step's name (a retried step keeps its last attempt) and still goes
  to the real stdout;
- ``main``: ``python -m distill.convert.printed ROOT OUT STEPS_JSON`` runs the project with
  every listed step forced (a cached step would print nothing) and writes ``{step: text}`` as
  JSON to ``OUT``; a failed run exits 1 with each failed step's error on stderr, a pipeline
  that does not validate exits 2 with the error.

It runs in a process of its own, like ``distill run``: the project's modules are imported
there, never in the process that verifies.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import TextIO


class StepText(io.TextIOBase):
    """Keeps what each step prints; everything is also written to ``real``."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.texts: dict[str, list[str]] = {}
        self._step: str | None = None

    def write(self, text: str) -> int:
        self.real.write(text)
        if self._step is not None:
            self.texts[self._step].append(text)
        return len(text)

    def flush(self) -> None:
        self.real.flush()

    def on_step_start(self, *, step: str, attempt: int, **extra: object) -> None:
        if attempt >= 1:  # 0 is a cache hit: nothing runs
            self._step = step
            self.texts[step] = []

    def on_step_end(self, *, step: str, **extra: object) -> None:
        self._step = None

    def text(self) -> dict[str, str]:
        return {step: "".join(parts) for step, parts in self.texts.items()}


def main(argv: list[str]) -> int:
    import distill
    from distill.errors import DistillError

    root, out, steps = argv[1], Path(argv[2]), json.loads(argv[3])
    capture = StepText(sys.stdout)
    sys.stdout = capture
    try:
        result = distill.run(project=root, force=steps, hooks=[capture], command="distill verify")
    except DistillError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    finally:
        sys.stdout = capture.real
    out.write_text(json.dumps(capture.text()), encoding="utf-8")
    if not result.ok:
        for step in result.steps.values():
            if step.status == "failed":
                print(f"step {step.step} failed:\n{step.error or ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess by verify
    sys.exit(main(sys.argv))
