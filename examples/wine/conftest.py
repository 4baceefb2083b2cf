"""Put the example's ``src/`` folder on sys.path so tests can ``import wine``.

The example is not pip-installed (distill adds ``src/`` itself when it runs the
pipeline), so pytest needs the same help.
"""

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
