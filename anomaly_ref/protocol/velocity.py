"""Velocity scorer: per-location optical-flow histograms, kNN against the normal training clips.

Ped2's anomalies are mostly things that move faster than walking (cyclists, skaters, carts).
Frame-difference energy (:mod:`.motion`) mixes speed with contrast and object size; dense
optical flow measures the speed itself. After the velocity representation of Reiss & Hoshen
(2022, "Attribute-based representations for accurate and interpretable video anomaly
detection"): a histogram of flow orientations weighted by flow magnitude, 8 bins. They take
it per detected object; no detector's weights can be had offline here, so it is taken per
grid cell, scored like the motion scorer: the distance to the k-th nearest training vector
at the same location (a fixed camera), the frame's score the max over its cells.

Every setting below was fixed before this scorer's first test score existed (commit
fab49a6): the cell is the motion scorer's, k = 1, the Farneback parameters are OpenCV's
documented example values, 8 bins from memory of that paper (not checked against its
text). None was tuned on test frames.
Read after that run: their code (``feature_extraction.py``) takes 8 bins on Avenue and
ShanghaiTech but 1 on Ped2 (the speed alone), and an L1 magnitude (|dx| + |dy|) where this
module takes the Euclidean one; the defaults stay as declared.

Shapes: frames (N, H, W) grey levels; features (N, L, bins), L = (H // cell) * (W // cell).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .cliptime import clip_positions, first_from_next


@dataclass(frozen=True)
class VelocityConfig:
    cell: int = 16  # cell side in pixels: the motion scorer's grid
    bins: int = 8  # orientation bins of the magnitude-weighted histogram (declared; see the docstring)
    k: int = 1  # neighbours: distance to the k-th nearest training vector at the location
    # cv2.calcOpticalFlowFarneback's parameters: the OpenCV documentation's example values
    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2
    workers: int = 0  # threads computing flow (OpenCV releases the GIL); 0: torch's thread count

    def __post_init__(self):
        if self.cell < 1:
            raise InputError(f"velocity cell must be >= 1 pixel, found {self.cell}")
        if self.bins < 1:
            raise InputError(f"velocity bins must be >= 1, found {self.bins}")
        if self.k < 1:
            raise InputError(f"velocity k must be >= 1, found {self.k}")
        if self.workers < 0:
            raise InputError(f"velocity workers must be >= 0, found {self.workers}")


def flow_histogram(flow: np.ndarray, cell: int, bins: int) -> np.ndarray:
    """(H, W, 2) flow in pixels/frame -> (L, bins): per cell, each orientation bin's summed
    magnitude divided by the cell's pixel count (so a cell's vector sums to its mean speed)."""
    h, w = flow.shape[0] // cell * cell, flow.shape[1] // cell * cell
    dx, dy = flow[:h, :w, 0].astype(np.float32), flow[:h, :w, 1].astype(np.float32)
    mag = np.hypot(dx, dy)
    ang = np.arctan2(dy, dx) % (2 * np.pi)  # [0, 2pi)
    which = np.minimum((ang * (bins / (2 * np.pi))).astype(np.int64), bins - 1)
    out = np.zeros((h // cell, w // cell, bins), np.float32)
    for b in range(bins):
        out[..., b] = np.where(which == b, mag, 0).reshape(h // cell, cell, w // cell, cell).mean(axis=(1, 3))
    return out.reshape(-1, bins)


def velocity_features(frames: np.ndarray, clips: np.ndarray, index: np.ndarray,
                      config: VelocityConfig = VelocityConfig()) -> np.ndarray:
    """Per-location flow histograms of every frame: (N, H, W) grey -> (N, L, bins) float32.

    A frame's flow is from its clip's previous frame; a clip's first frame takes its second
    frame's flow (every frame gets a vector; clips never mix); a one-frame clip has none (zeros)."""
    import cv2
    import torch

    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise InputError(f"velocity needs grey frames of shape (N, H, W), found {frames.shape}")
    n, h, w = frames.shape
    c = config.cell
    if h // c < 1 or w // c < 1:
        raise InputError(f"frames of {h}x{w} pixels hold no {c}x{c} cell")
    grey = frames if frames.dtype == np.uint8 else np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    order, pos = clip_positions(clips, index)
    in_time = pos[order]
    # (previous, current) row pairs: every frame with a predecessor in its clip, in time order
    pairs = {order[i]: (order[i - 1], order[i]) for i in np.flatnonzero(in_time > 0)}
    out = np.zeros((n, (h // c) * (w // c), config.bins), np.float32)

    def one(row):
        a, b = pairs[row]
        flow = cv2.calcOpticalFlowFarneback(grey[a], grey[b], None, config.pyr_scale, config.levels, config.winsize,
                                            config.iterations, config.poly_n, config.poly_sigma, 0)
        out[row] = flow_histogram(flow, c, config.bins)

    workers = config.workers or torch.get_num_threads()
    # process-wide and not reentrant: two velocity_features calls at once would race on it
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one flow per thread: measured twice as fast on 2 cores as OpenCV's own threads
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(pool.map(one, pairs))
    finally:
        cv2.setNumThreads(before)
    return first_from_next(out, clips, index)  # a first frame: its second frame's flow (the same pair)
