"""Where things live on disk: the shared third-party data and the download cache."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

# The checkout holding this package (editable installs): reference/ and data_manifest.json.
REPO_ROOT = Path(__file__).resolve().parents[2]

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
