"""GPU benchmarks: a ``cuda`` fixture that skips without a GPU, except under ``tox -e gpu``.

``ANOMALY_REF_REQUIRE_GPU=1`` (set by ``tox -e gpu``) turns the skip into a failure, so a
GPU run cannot pass by silently skipping every case.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ENV = "ANOMALY_REF_REQUIRE_GPU"


@pytest.fixture(scope="session")
def cuda() -> str:
    """The CUDA device to benchmark on."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    reason = "no CUDA device (torch.cuda.is_available() is False)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, but {REQUIRE_ENV}=1 (tox -e gpu) requires one")
    pytest.skip(f"{reason}; run on a GPU machine, e.g. tox -e gpu")
