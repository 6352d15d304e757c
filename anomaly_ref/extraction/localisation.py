"""How well a saliency map points at the abnormal pixels, and two maps to beat.

Scores of one ``(H, W)`` map against one ``(H, W)`` bool mask (an abnormal frame: the mask
has at least one pixel in and one out):

- ``pointing_game``: 1.0 if the map's maximum lies inside the mask, else 0.0 (the first
  maximum in row-major order when several pixels share it);
- ``pixel_auc``: ROC-AUC of the map's values as scores of the mask's pixels (ties count
  half, as scikit-learn counts them); 0.5 is chance;
- ``topk_iou``: IoU of the mask with the ``n`` highest pixels of the map, ``n`` = the mask's
  area (k = the mask's share of the frame), ties broken by position (row-major first).

Baselines, each an ``(H, W)`` float32 map in [0, 1]:

- :func:`centre_prior`: a Gaussian centred on the frame, standard deviation
  ``CENTRE_SIGMA`` times the height and the width;
- :func:`motion_map`: the absolute grey-level difference to another frame of the same clip
  (the previous one; the next one for a clip's first frame), smoothed with a Gaussian of
  ``MOTION_SIGMA`` pixels, min-max normalised.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

SCORES = ("pointing_game", "pixel_auc", "topk_iou")
CENTRE_SIGMA = 0.25  # of the frame's height (vertical) and width (horizontal)
MOTION_SIGMA = 4.0  # pixels; about a pedestrian's limb width in Ped2's 240x360 frames


def _check(cam: np.ndarray, mask: np.ndarray) -> None:
    if cam.shape != mask.shape:
        raise InputError(f"map {cam.shape} and mask {mask.shape} differ in shape")
    n = int(mask.sum())
    if n == 0 or n == mask.size:
        raise InputError(f"the mask has {n} of {mask.size} pixels inside: scores need pixels inside and outside")


def pointing_game(cam: np.ndarray, mask: np.ndarray) -> float:
    """1.0 if ``cam``'s (first) maximum lies inside ``mask``, else 0.0."""
    _check(cam, mask)
    return float(mask.flat[int(np.argmax(cam))])


def pixel_auc(cam: np.ndarray, mask: np.ndarray) -> float:
    """ROC-AUC of ``cam``'s pixels as scores for ``mask``'s (Mann-Whitney U, ties half)."""
    from scipy.stats import rankdata

    _check(cam, mask)
    ranks = rankdata(cam.ravel())  # average ranks: a tie counts half
    pos = mask.ravel()
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def topk_iou(cam: np.ndarray, mask: np.ndarray) -> float:
    """IoU of ``mask`` with ``cam``'s ``mask.sum()`` highest pixels (ties: row-major first)."""
    _check(cam, mask)
    n = int(mask.sum())
    top = np.zeros(mask.size, dtype=bool)
    top[np.argsort(-cam.ravel(), kind="stable")[:n]] = True
    inter = int((top & mask.ravel()).sum())
    return inter / (2 * n - inter)  # |top| = |mask| = n


def scores(cam: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """All three scores of one map: ``{name: value}`` in :data:`SCORES` order."""
    return {"pointing_game": pointing_game(cam, mask), "pixel_auc": pixel_auc(cam, mask),
            "topk_iou": topk_iou(cam, mask)}


def centre_prior(shape: tuple[int, int], sigma: float = CENTRE_SIGMA) -> np.ndarray:
    """``exp(-((y - cy)^2 / (2 (sigma H)^2) + (x - cx)^2 / (2 (sigma W)^2)))`` on pixel centres,
    ``(cy, cx)`` the frame's centre; ``(H, W)`` float32 with maximum 1."""
    h, w = shape
    y = (np.arange(h) - (h - 1) / 2) / (sigma * h)
    x = (np.arange(w) - (w - 1) / 2) / (sigma * w)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype(np.float32)


def motion_map(frame: np.ndarray, other: np.ndarray, sigma: float = MOTION_SIGMA) -> np.ndarray:
    """``(H, W, 3)`` or ``(H, W)`` uint8 twice -> smoothed ``|frame - other|`` grey levels,
    min-max normalised: ``(H, W)`` float32 in [0, 1] (all zeros if the frames are equal)."""
    from scipy.ndimage import gaussian_filter

    if frame.shape != other.shape:
        raise InputError(f"motion map: frames of shapes {frame.shape} and {other.shape}")
    grey = lambda im: im.astype(np.float32).mean(axis=2) if im.ndim == 3 else im.astype(np.float32)  # noqa: E731
    diff = gaussian_filter(np.abs(grey(frame) - grey(other)), sigma)
    lo, hi = float(diff.min()), float(diff.max())
    return ((diff - lo) / (hi - lo) if hi > lo else np.zeros_like(diff)).astype(np.float32)
