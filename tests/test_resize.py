"""resize_like_pil equals PIL's bilinear Image.resize pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from anomaly_ref.extraction.resize import bilinear_taps, resize_like_pil


def pil_resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


def ours(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    x = torch.from_numpy(img).permute(2, 0, 1)[None]  # (1, 3, H, W)
    return resize_like_pil(x, size)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("shape", [(158, 238), (240, 360), (240, 320), (360, 640), (224, 224), (224, 300), (240, 224)])
def test_equals_pil_on_dataset_sizes(shape):
    img = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    np.testing.assert_array_equal(ours(img, (224, 224)), pil_resize(img, (224, 224)))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 70), w=st.integers(1, 70), oh=st.integers(1, 40), ow=st.integers(1, 40),
       seed=st.integers(0, 2**32 - 1))
def test_within_one_level_of_pil_on_any_size(h, w, oh, ow, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    diff = np.abs(ours(img, (oh, ow)) - pil_resize(img, (oh, ow)).astype(np.int32))
    assert diff.max() <= 1
    if ow == w or oh == h:  # one pass: no pass order to disagree on, so exact
        assert diff.max() == 0


def test_taps_sum_to_one_in_fixed_point():
    index, weight = bilinear_taps(360, 224)
    assert index.shape == weight.shape == (224, 4)  # 360 / 224 = 1.6: a 3.2-pixel wide filter
    assert np.all(np.abs(weight.sum(1, dtype=np.int64) - (1 << 22)) <= 5)
    assert index.max() < 360
