"""Extraction throughput per backbone: the paper's path vs the fast path, images/s.

Cases come from the registry. Random weights (no hub needed), random uint8 frames at
Ped2's size (240 x 360). Each timed call ends with ``torch.cuda.synchronize()``; images/s
lands in ``benchmark.extra_info``. ``ANOMALY_REF_BENCH_COMPILE=1`` compiles the fast path
(about 15-60 s per model). The full table for bench/RESULTS.md comes from
bench/gpu_extract.py, which measures everything in one process.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from anomaly_ref.registry import BACKBONES, paper_backbones

PAPER_IMAGES = 50
BATCH = 256
COMPILE = os.environ.get("ANOMALY_REF_BENCH_COMPILE") == "1"


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (240, 360, 3), dtype=np.uint8) for _ in range(PAPER_IMAGES)]


def _images_per_s(benchmark, n: int) -> float:
    ips = n / benchmark.stats.stats.median
    benchmark.extra_info["images_per_s"] = ips
    return ips


@pytest.mark.gpu
@pytest.mark.parametrize("name", paper_backbones())
def test_extract_paper_path(benchmark, cuda, frames, name):
    import torch

    from anomaly_ref.extraction.backbones import create_backbone
    from anomaly_ref.extraction.paper import extract_paper

    model = create_backbone(name, pretrained=False)

    def run():
        out = extract_paper(model, frames, name, device=cuda)
        torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    assert out.shape == (PAPER_IMAGES, BACKBONES[name].feature_dim)
    benchmark.extra_info.update(path="paper", batch=1, precision="fp32")
    assert _images_per_s(benchmark, PAPER_IMAGES) > 0


@pytest.mark.gpu
@pytest.mark.parametrize("name", paper_backbones())
def test_extract_fast_path_model_only(benchmark, cuda, name):
    import torch

    from anomaly_ref.extraction.backbones import create_backbone
    from anomaly_ref.extraction.fast import FastConfig, forward, prepare_model

    config = FastConfig(device=cuda, batch_size=BATCH, compile=COMPILE)
    model = prepare_model(create_backbone(name, pretrained=False), config)
    x = torch.randn(BATCH, 3, 224, 224, device=cuda).contiguous(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode():
            for _ in range(5):
                out = forward(model, x, config)
        torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(run, rounds=5, warmup_rounds=2, iterations=1)
    assert out.shape == (BATCH, BACKBONES[name].feature_dim)
    benchmark.extra_info.update(path="fast", batch=BATCH, precision="bf16", compiled=COMPILE)
    assert _images_per_s(benchmark, 5 * BATCH) > 0


@pytest.mark.gpu
def test_extract_end_to_end_from_jpeg(benchmark, cuda, frames):
    import cv2
    import torch

    from anomaly_ref.extraction.backbones import create_backbone
    from anomaly_ref.extraction.fast import FastConfig, extract_jpeg, prepare_model

    name = paper_backbones()[0]
    jpegs = [cv2.imencode(".jpg", cv2.resize(f, (640, 360)))[1].tobytes() for f in frames]
    jpegs = (jpegs * (1024 // len(jpegs) + 1))[:1024]  # 640 x 360, as Avenue's frames
    config = FastConfig(device=cuda, batch_size=BATCH, compile=COMPILE)
    model = create_backbone(name, pretrained=False)
    prepared = prepare_model(model, config)

    def run():
        out = extract_jpeg(model, jpegs, name, config=config, prepared=prepared)
        torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    assert np.isfinite(out).all()
    benchmark.extra_info.update(path="jpeg-end-to-end", size="640x360", backbone=name)
    assert _images_per_s(benchmark, len(jpegs)) > 0
