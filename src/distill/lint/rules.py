"""The catalogue of lint rules: stable codes, slugs, default severities and their texts.

Responsibilities:
- one ``Rule`` per code; codes are never reused for another meaning;
- families: ``DL0`` reading, ``DL1`` hidden state, ``DL2`` dependencies, ``DL3`` environment
  and security, ``DL4`` SQL, ``DL5`` randomness, ``DL6`` structure, ``DL7`` saved outputs;
- resolving what users type (``DL103``, ``DL1``, ``use-before-define``, ``ALL``) to codes.

The checks that fire these rules live in ``lint.checks``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import DistillError, did_you_mean
from .model import Rule, Severity


def _rule(code: str, name: str, severity: Severity, summary: str, why: str, fix: str) -> Rule:
    return Rule(code, name, severity, summary, why, fix)


RULES: dict[str, Rule] = {rule.code: rule for rule in (
    _rule("DL000", "unreadable-notebook", "error",
          "The file cannot be read as a Jupyter notebook.",
          "Nothing in it can be checked, run or converted; CI would pass over a broken file.",
          "Fix or restore the file as the message says; Jupyter can re-save most notebooks."),
    _rule("DL001", "not-python", "info",
          "The notebook's kernel is not Python, so it was not analysed.",
          "distill analyses Python notebooks only; the file is listed so that nothing is skipped silently.",
          "Exclude it in [tool.distill.lint] exclude, or lint it with a tool for its language."),
    _rule("DL002", "syntax-error", "error",
          "A cell does not parse as Python, even after IPython syntax is rewritten.",
          "A fresh kernel stops at this cell; everything below it never runs.",
          "Fix the syntax at the line shown, or delete the cell."),
    _rule("DL101", "out-of-order-execution", "warning",
          "Cells were executed in a different order from the one they appear in.",
          "The saved outputs come from a run order nobody can repeat by running top to bottom.",
          "Restart the kernel and run all cells (Kernel > Restart & Run All), then save."),
    _rule("DL102", "skipped-cell", "warning",
          "A code cell was never executed although cells below it were.",
          "The saved results do not include its effects; running the notebook top to bottom may give different results.",
          "Run it, or delete it if it is dead code; then restart and run all."),
    _rule("DL103", "use-before-define", "error",
          "A name is used before any cell above defines it; only a cell further down defines it.",
          "It works only from hidden state: a fresh kernel running top to bottom raises NameError here.",
          "Move the defining cell above this one, or define the name before its first use."),
    _rule("DL104", "undefined-name", "error",
          "A name is used that no cell defines (it came from a deleted cell or a previous session).",
          "A fresh kernel raises NameError here; the notebook cannot be reproduced.",
          "Restore the definition (or the import) in a cell above, or remove the use."),
    _rule("DL105", "self-update", "warning",
          "A cell rebinds a name from its own previous value (`x = x + 1`, `x += 1`, `df = df.drop(...)`).",
          "Running the cell twice gives a different result, so the saved state depends on how often it ran.",
          "Give the result a new name (`df_clean = df.drop(...)`), or compute it in the cell that creates the original."),
    _rule("DL106", "cross-cell-mutation", "warning",
          "A cell changes in place a value that another cell defined.",
          "Re-running either cell changes what the other sees; the value depends on the order and number of runs.",
          "Derive a new value (`df2 = df.assign(...)`, `df.drop(..., inplace=False)`) or mutate it in the cell that creates it."),
    _rule("DL201", "undeclared-dependency", "warning",
          "A package is imported that no requirements.txt, pyproject.toml or environment.yml next to the notebook declares.",
          "Another machine, or CI, cannot install what the notebook needs; versions drift silently.",
          "Add the distribution to requirements.txt (or pyproject/environment.yml) with a version."),
    _rule("DL202", "install-in-notebook", "warning",
          "The notebook installs packages itself (`!pip install`, `%pip`, `%conda`).",
          "Installing at run time changes the environment on every run, needs network access, and is not pinned.",
          "Declare the package in requirements.txt or pyproject.toml and remove the install line."),
    _rule("DL301", "absolute-path", "warning",
          "A hard-coded absolute path (home folder, drive letter, mount point).",
          "The path exists only on the author's machine; the notebook fails anywhere else.",
          "Use a path relative to the project, or make it a parameter."),
    _rule("DL302", "hard-coded-secret", "error",
          "A password, token, API key or credentialled connection string is written in the notebook.",
          "Secrets in notebooks end up in version control and in shared outputs; they must be revoked once leaked.",
          "Read it from an environment variable or a secrets manager (`os.environ[\"API_KEY\"]`) and revoke the exposed value."),
    _rule("DL303", "shell-escape", "warning",
          "A shell command runs from the notebook (`!cmd`, `%system`, `%sx`).",
          "Shell commands depend on the machine's tools and state, are not portable, and give production a full shell.",
          "Do it in Python (pathlib, shutil, subprocess with fixed arguments), or move it to a build step."),
    _rule("DL304", "shell-cell", "warning",
          "A whole cell is a shell script (`%%bash`, `%%sh`, `%%script`).",
          "The script's effects are invisible to analysis and depend on the machine it runs on.",
          "Move the script to a file in the repository and run it as a pipeline or CI step."),
    _rule("DL401", "sql-magic", "warning",
          "A query is pasted into a cell magic (`%%sql`, `%sql`, `%%bigquery`).",
          "The query cannot be tested, parameterised or reused, and its connection is hidden in the magic.",
          "Keep the query in a .sql file or a function and run it with a client library, binding parameters."),
    _rule("DL402", "sql-string", "info",
          "A long SQL query is written as a string literal.",
          "Inline queries are hard to review and test, and invite string formatting of parameters.",
          "Move the query to a .sql file and bind parameters with the driver's placeholders."),
    _rule("DL501", "unseeded-random", "warning",
          "Random numbers are drawn without a seed (NumPy, random, train_test_split, an estimator without random_state...).",
          "Each run gives different numbers, so results cannot be reproduced or compared.",
          "Pass random_state=/seed=, or seed once at the top (`rng = np.random.default_rng(0)`)."),
    _rule("DL601", "function-reads-global", "warning",
          "A function reads notebook variables that are not its parameters.",
          "Its result depends on hidden state; it cannot be tested or moved to a module as it is.",
          "Pass the values as parameters."),
    _rule("DL602", "star-import", "warning",
          "`from module import *` hides which names the notebook uses.",
          "Names can change under you when the package changes; analysis cannot tell where a name comes from.",
          "Import the names you use explicitly."),
    _rule("DL603", "duplicated-code", "info",
          "The same statements appear in more than one cell.",
          "Copies drift apart; a fix in one place is missed in the other.",
          "Put the code in a function and call it from both places."),
    _rule("DL701", "error-output", "warning",
          "The notebook was saved with an error in a cell's output.",
          "The saved notebook does not run as it is; readers see a traceback instead of results.",
          "Fix the cell, restart and run all, then save."),
    _rule("DL702", "large-output", "info",
          "Saved outputs are too large for version control.",
          "Large outputs bloat the repository and make diffs unreadable.",
          "Clear outputs before committing (nbstripout, or Jupyter's Clear All Outputs), or write large results to files."),
)}

BY_NAME = {rule.name: code for code, rule in RULES.items()}


def resolve_codes(selectors: Iterable[str], *, option: str) -> set[str]:
    """Codes matched by what the user typed: a code, a prefix (``DL1``), a slug or ``ALL``.

    Raises:
        DistillError: a selector matches no rule; the message suggests the closest ones.
    """
    codes: set[str] = set()
    for raw in selectors:
        for selector in (part.strip() for part in raw.split(",")):
            if not selector:
                continue
            if selector.upper() == "ALL":
                codes.update(RULES)
                continue
            if selector in BY_NAME:
                codes.add(BY_NAME[selector])
                continue
            matched = {code for code in RULES if code.startswith(selector.upper())}
            if not matched:
                raise DistillError(
                    f"{option} {selector!r} matches no rule{did_you_mean(selector, [*RULES, *BY_NAME])}",
                    hint="`distill lint --list-rules` lists every code and name",
                )
            codes.update(matched)
    return codes
