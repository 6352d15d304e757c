"""Localisation scores on toy maps with known answers, and the two baselines from their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.extraction.localisation import (
    CENTRE_SIGMA, centre_prior, motion_map, pixel_auc, pointing_game, scores, topk_iou,
)

MASK = np.array([[0, 0, 0, 0],
                 [0, 1, 1, 0],
                 [0, 0, 0, 0]], dtype=bool)


def test_pointing_game_hits_and_misses():
    cam = np.zeros((3, 4))
    cam[1, 2] = 1.0
    assert pointing_game(cam, MASK) == 1.0
    cam[0, 0] = 2.0
    assert pointing_game(cam, MASK) == 0.0
    tie = np.ones((3, 4))  # all pixels tie: the first maximum (row-major) decides, (0, 0) is outside
    assert pointing_game(tie, MASK) == 0.0


def test_pixel_auc_known_values():
    assert pixel_auc(MASK.astype(float), MASK) == 1.0
    assert pixel_auc((~MASK).astype(float), MASK) == 0.0
    assert pixel_auc(np.full((3, 4), 0.3), MASK) == 0.5  # all tied: chance
    mask = np.array([[1, 0, 0, 1]], dtype=bool)
    cam = np.array([[0.9, 0.8, 0.1, 0.5]])
    # positives 0.9, 0.5 vs negatives 0.8, 0.1: 3 of 4 pairs ordered right
    assert pixel_auc(cam, mask) == 0.75


def test_pixel_auc_equals_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    cam = rng.integers(0, 5, (20, 30)).astype(float)  # many ties
    mask = rng.random((20, 30)) < 0.2
    assert pixel_auc(cam, mask) == pytest.approx(roc_auc_score(mask.ravel(), cam.ravel()), abs=1e-12)


def test_topk_iou_known_values():
    assert topk_iou(MASK.astype(float), MASK) == 1.0
    cam = np.zeros((3, 4))
    cam[1, 1], cam[0, 0] = 1.0, 0.9  # the top 2 pixels: one inside, one outside -> 1 / 3
    assert topk_iou(cam, MASK) == pytest.approx(1 / 3)
    # ties are broken row-major: an all-zero map picks (0, 0) and (0, 1), both outside
    assert topk_iou(np.zeros((3, 4)), MASK) == 0.0


def test_scores_need_pixels_inside_and_outside():
    with pytest.raises(InputError, match="0 of 12 pixels"):
        scores(np.zeros((3, 4)), np.zeros((3, 4), bool))
    with pytest.raises(InputError, match="differ in shape"):
        scores(np.zeros((3, 5)), MASK)
    assert set(scores(MASK.astype(float), MASK)) == {"pointing_game", "pixel_auc", "topk_iou"}


def test_centre_prior_from_its_definition():
    h, w = 7, 10
    got = centre_prior((h, w))
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for y in range(h):
        for x in range(w):
            want = math.exp(-((y - cy) ** 2 / (2 * (CENTRE_SIGMA * h) ** 2) + (x - cx) ** 2 / (2 * (CENTRE_SIGMA * w) ** 2)))
            assert got[y, x] == pytest.approx(want, rel=1e-6)
    assert got.dtype == np.float32 and np.array_equal(got, got[::-1, ::-1])  # symmetric about the centre


def test_motion_map_finds_what_moved():
    a = np.full((60, 80), 100, np.uint8)
    b = a.copy()
    b[20:30, 40:50] = 200  # a square appears
    m = motion_map(b, a)
    assert m.shape == (60, 80) and m.min() == 0 and m.max() == pytest.approx(1.0)
    y, x = np.unravel_index(np.argmax(m), m.shape)
    assert 20 <= y < 30 and 40 <= x < 50
    assert not motion_map(a, a).any()  # nothing moved: an all-zero map, not NaN
    with pytest.raises(InputError, match="shapes"):
        motion_map(a, a[:10])
