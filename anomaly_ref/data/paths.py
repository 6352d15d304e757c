"""Where things live on disk: the project's own files, the shared third-party data, the cache."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

# The project's files the code reads, as paths relative to the repository root. They stay
# where a checkout keeps them (the user edits them there: `manifest pin`, `reference --out`);
# setup.py copies them into the built package under PACKAGED, so an installed copy (pip
# install ., a wheel, tox) has them too. setup.py's PROJECT_FILES lists the same names.
PROJECT_FILES = ("data_manifest.json", "reference/paper_results.csv")
PACKAGED = Path(__file__).resolve().parents[1] / "_project"

# The repository this package runs from, or None when it runs installed. parents[2] of this
# file is the checkout's root in a checkout (editable installs too) and the site-packages
# folder (or pip's --target folder) in an installed copy, which holds no pyproject.toml.
_ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = _ROOT if (_ROOT / "pyproject.toml").is_file() else None

SHARED_ENV = "ANOMALY_REF_SHARED"
CACHE_ENV = "ANOMALY_REF_CACHE"


def shared_root(required: bool = True) -> Path | None:
    """The folder holding ``paper/`` and ``data/`` (third-party, never committed).

    Read from ``$ANOMALY_REF_SHARED``; ``.ci/run`` sets it to ``../shared``.
    """
    value = os.environ.get(SHARED_ENV)
    if not value:
        if required:
            raise InputError(
                f"${SHARED_ENV} is not set: point it at the folder holding paper/ and data/ "
                f"(e.g. export {SHARED_ENV}=../shared)"
            )
        return None
    root = Path(value).expanduser().resolve()
    if not root.is_dir():
        raise InputError(f"${SHARED_ENV}={value!r} is not a directory")
    return root


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """Download cache: ``cache`` argument, else ``$ANOMALY_REF_CACHE``, else the platform cache dir."""
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("anomaly-ref"))


def project_file(name: str) -> Path:
    """The checkout's copy of a project file where this package runs from a checkout (so an
    edit shows at once), else the copy packaged with it. ``name`` is one of
    :data:`PROJECT_FILES`, e.g. ``"reference/paper_results.csv"``. The path may not exist;
    the caller's error names it."""
    if name not in PROJECT_FILES:
        raise ValueError(f"{name!r} is not a project file; known: {', '.join(PROJECT_FILES)}")
    return (CHECKOUT if CHECKOUT is not None else PACKAGED) / name


def is_packaged(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a copy installed with the package (which no command may write:
    the next install replaces it, and it may sit in a read-only site-packages)."""
    return PACKAGED in Path(path).expanduser().resolve().parents
