"""Training speed as pytest-benchmark cases: the 20 fits (4 paper heads x 5 runs) of one
(dataset, extractor) pair, one epoch each, sequential vs batched, at Ped2 and UMN size.

``pytest bench -k train_speed`` on the CPU; the ``gpu`` cases skip without a GPU and fail
under ``tox -e gpu`` without one (bench/conftest.py). The full table, the Keras column and
the 480-fit projection come from ``python bench/train_speed.py`` (bench/RESULTS.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed as ts  # noqa: E402  (the script's measuring functions)

from anomaly_ref import registry  # noqa: E402

EPOCHS = 1


@pytest.fixture(scope="module", params=list(ts.SIZES))
def windows(request):
    return request.param, ts.make_windows(*ts.SIZES[request.param])


def _twenty_fits(w, trainer: str, device: str, precision: str = "fp32") -> float:
    threads = 1 if trainer == "sequential" else None  # each trainer's default
    return sum(ts.time_fits(w, head, trainer, threads, precision, EPOCHS, device) for head in registry.paper_heads())


@pytest.mark.parametrize("trainer", ["sequential", "batched"])
def test_train_speed_cpu(benchmark, windows, trainer):
    size, w = windows
    seconds = benchmark.pedantic(_twenty_fits, args=(w, trainer, "cpu"), rounds=1, iterations=1)
    benchmark.extra_info.update(size=size, trainer=trainer, fits=20, epochs=EPOCHS, windows=len(w), dim=w.X.shape[1])
    assert seconds > 0


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_speed_gpu(benchmark, windows, cuda, precision):
    size, w = windows
    _twenty_fits(w, "batched", cuda, precision)  # warm-up: CUDA context, kernels
    seconds = benchmark.pedantic(_twenty_fits, args=(w, "batched", cuda, precision), rounds=1, iterations=1)
    benchmark.extra_info.update(size=size, trainer="batched", precision=precision, fits=20, epochs=EPOCHS)
    assert seconds > 0
