"""Time order inside clips: shared by the motion scorer and the next-feature predictors."""

from __future__ import annotations

import numpy as np


def clip_positions(clips: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows in time order, and each row's position inside its clip in that order.

    clips, index : (N,). Returns order (N,) and pos (N,) with pos[order] = 0, 1, ... per clip."""
    clips = np.unique(np.asarray(clips).astype(str), return_inverse=True)[1]
    order = np.lexsort((np.asarray(index), clips))
    starts = np.r_[0, np.flatnonzero(np.diff(clips[order])) + 1]
    pos = np.empty(len(order), np.int64)
    run = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    pos[order] = run
    return order, pos
