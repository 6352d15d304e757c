"""Shared fixtures. Third-party data is read from $ANOMALY_REF_SHARED (set by .ci/run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anomaly_ref.data.paths import SHARED_ENV


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder (paper/ and data/). Skips where it is not configured at all;
    fails where it is configured but broken, so CI cannot silently skip real-data tests."""
    value = os.environ.get(SHARED_ENV)
    if not value:
        pytest.skip(f"${SHARED_ENV} is not set (the real-data tests need ../shared)")
    root = Path(value).resolve()
    assert (root / "paper").is_dir() and (root / "data").is_dir(), f"{root} lacks paper/ or data/"
    return root
