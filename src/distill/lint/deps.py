"""Which packages a notebook's folder declares, and which distribution an import comes from.

Responsibilities:
- finding declaration files next to a notebook and in the folders above it, up to the
  repository root (a folder holding ``.git``, or the filesystem root): ``requirements*.txt``
  (following ``-r``), ``pyproject.toml`` (PEP 621 and Poetry), ``environment.yml``
  (conda and its ``pip:`` list), ``setup.cfg``, ``Pipfile``;
- mapping an import's top-level name to distribution names: a table of the well-known
  mismatches (``sklearn`` → ``scikit-learn``), then the installed distributions' own
  ``top_level`` data (``importlib.metadata.packages_distributions``, read once, lazily);
- telling standard-library and local modules (``utils.py`` beside the notebook) apart.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

#: Import names whose distribution is called something else.
KNOWN_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",), "skimage": ("scikit-image",), "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python"),
    "PIL": ("pillow",), "yaml": ("pyyaml",), "bs4": ("beautifulsoup4",), "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",), "jwt": ("pyjwt",), "Crypto": ("pycryptodome",), "OpenSSL": ("pyopenssl",),
    "attr": ("attrs",), "google.cloud": ("google-cloud",), "fbprophet": ("fbprophet", "prophet"),
    "mpl_toolkits": ("matplotlib", "basemap"), "pylab": ("matplotlib",), "IPython": ("ipython",),
    "ipywidgets": ("ipywidgets",), "serial": ("pyserial",), "usb": ("pyusb",), "magic": ("python-magic",),
    "MySQLdb": ("mysqlclient",), "psycopg2": ("psycopg2", "psycopg2-binary"), "docx": ("python-docx",),
    "pptx": ("python-pptx",), "gi": ("pygobject",), "win32api": ("pywin32",), "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu"),
    "torch": ("torch", "pytorch"), "Bio": ("biopython",), "lightgbm": ("lightgbm",), "xgboost": ("xgboost",),
    "plotly": ("plotly",), "statsmodels": ("statsmodels",), "featuretools": ("featuretools",), "quandl": ("quandl",),
    "cufflinks": ("cufflinks",), "sympy": ("sympy",), "seaborn": ("seaborn",), "graphviz": ("graphviz",),
    "umap": ("umap-learn",), "hdbscan": ("hdbscan",), "gensim": ("gensim",), "nltk": ("nltk",), "spacy": ("spacy",),
    "tables": ("tables",), "sqlalchemy": ("sqlalchemy",), "pyspark": ("pyspark",), "telegram": ("python-telegram-bot",),
    "github": ("pygithub",), "git": ("gitpython",), "zmq": ("pyzmq",), "Levenshtein": ("python-levenshtein", "levenshtein"),
    "slugify": ("python-slugify",), "sql": ("ipython-sql", "jupysql"), "rpy2": ("rpy2",), "multipart": ("python-multipart",), "ruamel": ("ruamel.yaml",),
}

#: Modules a kernel always has besides the standard library.
KERNEL_MODULES = frozenset({"IPython", "ipykernel", "__future__", "autoreload", "storemagic"})

_SKIP_FOLDERS = frozenset({".git", ".ipynb_checkpoints", "node_modules", "__pycache__"})


def normalize(name: str) -> str:
    """PEP 503 normalisation: ``Scikit_Learn`` → ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=256)
def declared_near(folder: Path) -> tuple[frozenset[str], tuple[Path, ...]]:
    """Distributions declared by the files in ``folder`` and the folders above it.

    Returns:
        The normalised distribution names, and the files they were read from.
    """
    names: set[str] = set()
    files: list[Path] = []
    current = folder.resolve()
    while True:
        for path in sorted(current.iterdir()) if current.is_dir() else ():
            reader = _reader_for(path.name)
            if reader is not None and path.is_file():
                try:
                    names.update(normalize(n) for n in reader(path))
                    files.append(path)
                except (OSError, ValueError, tomllib.TOMLDecodeError):
                    continue  # an unreadable declaration declares nothing; the finding says so
        if (current / ".git").exists() or current.parent == current:
            break
        current = current.parent
    return frozenset(names), tuple(files)


def _reader_for(filename: str) -> Callable[[Path], list[str]] | None:
    if filename.startswith("requirements") and filename.endswith((".txt", ".in")):
        return _requirements
    return {"pyproject.toml": _pyproject, "environment.yml": _environment, "environment.yaml": _environment,
            "setup.cfg": _setup_cfg, "Pipfile": _pipfile}.get(filename)


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    if "#egg=" in line:
        return line.split("#egg=", 1)[1]
    match = _REQUIREMENT.match(line)
    return match.group(1) if match else None


def _requirements(path: Path, seen: frozenset[Path] = frozenset()) -> list[str]:
    names = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stripped = raw.strip()
        if stripped.startswith(("-r ", "--requirement ")):
            included = (path.parent / stripped.split(None, 1)[1]).resolve()
            if included.is_file() and included not in seen:
                names += _requirements(included, seen | {path.resolve()})
            continue
        name = _requirement_name(stripped)
        if name:
            names.append(name)
    return names


def _pyproject(path: Path) -> list[str]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    project = data.get("project", {})
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs += list(extra)
    for group in data.get("dependency-groups", {}).values():
        specs += [item for item in group if isinstance(item, str)]
    poetry = data.get("tool", {}).get("poetry", {})
    names = [name for name in poetry.get("dependencies", {}) if name != "python"]
    for group in poetry.get("group", {}).values():
        names += list(group.get("dependencies", {}))
    names += list(poetry.get("dev-dependencies", {}))
    return names + [n for n in (_requirement_name(s) for s in specs) if n]


def _environment(path: Path) -> list[str]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    names: list[str] = []
    for item in data.get("dependencies", []) or []:
        if isinstance(item, str):
            name = re.split(r"[=<>!~ ]", item.split("::")[-1], maxsplit=1)[0]
            if name and name != "python":
                names.append(name)
        elif isinstance(item, dict):
            names += [n for n in (_requirement_name(s) for s in item.get("pip", []) or []) if n]
    return names


def _setup_cfg(path: Path) -> list[str]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    raw = parser.get("options", "install_requires", fallback="")
    return [n for n in (_requirement_name(line) for line in raw.splitlines()) if n]


def _pipfile(path: Path) -> list[str]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [*data.get("packages", {}), *data.get("dev-packages", {})]


def is_standard(top: str) -> bool:
    return top in sys.stdlib_module_names or top in KERNEL_MODULES


def is_local(top: str, folder: Path) -> bool:
    """A module beside the notebook (``utils.py``, ``helpers/``) is the project's own code."""
    return (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file() or (folder / top).is_dir()


@lru_cache(maxsize=1)
def _installed() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def distributions_for(top: str, *, installed_too: bool = True) -> tuple[str, ...]:
    """Distribution names that provide the import ``top`` (normalised), best guess first.

    ``installed_too=False`` skips reading every installed distribution's metadata (a quarter
    of a second), for messages that only need a good guess.
    """
    known = KNOWN_DISTRIBUTIONS.get(top)
    if known:
        return tuple(normalize(name) for name in known)
    installed = _installed().get(top) if installed_too else None
    if installed:
        return tuple(dict.fromkeys(normalize(name) for name in installed))
    return (normalize(top),)


def is_declared(top: str, declared: frozenset[str]) -> bool:
    if not declared:
        return False
    if normalize(top) in declared:
        return True
    return any(name in declared for name in distributions_for(top))
