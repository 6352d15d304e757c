"""The paper's preprocessing and batch-1 extraction; the fast path's fidelity to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from anomaly_ref.backbones import create_backbone
from anomaly_ref.errors import InputError
from anomaly_ref.extract import extract_paper, preprocess_paper
from anomaly_ref.registry import BACKBONES, IMAGENET_MEAN, IMAGENET_STD

PACKAGED = next(b for b in BACKBONES.values() if b.weights_package)  # real weights offline
SMALL = "repvgg_a0"  # cheap random-weight model for shape/plumbing tests


def rgb_images(n: int, h: int = 60, w: int = 90, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_preprocess_paper_is_pil_bilinear_totensor_normalize():
    rgb = rgb_images(1, 240, 360)[0]
    out = preprocess_paper(rgb, PACKAGED)
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    resized = np.asarray(Image.fromarray(rgb).resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255
    expected = (resized - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_preprocess_paper_rejects_non_rgb_uint8(bad):
    with pytest.raises(InputError, match=r"\(H, W, 3\) uint8 RGB"):
        preprocess_paper(bad, PACKAGED)


def test_extract_paper_rows_are_single_image_forwards():
    model = create_backbone(SMALL, pretrained=False)
    images = rgb_images(3)
    feats = extract_paper(model, iter(images), SMALL)
    assert feats.shape == (3, BACKBONES[SMALL].feature_dim) and feats.dtype == np.float32
    with torch.inference_mode():
        second = model(preprocess_paper(images[1], SMALL)[None]).numpy()[0]
    np.testing.assert_array_equal(feats[1], second)
    assert extract_paper(model, [], SMALL).shape == (0, BACKBONES[SMALL].feature_dim)


def test_extract_paper_needs_eval_mode():
    model = create_backbone(SMALL, pretrained=False).train()
    with pytest.raises(InputError, match="eval mode"):
        extract_paper(model, rgb_images(1), SMALL)
