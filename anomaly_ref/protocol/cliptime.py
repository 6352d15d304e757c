"""Time order inside clips: shared by the motion and velocity scorers and the next-feature predictors."""

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


def first_from_next(values: np.ndarray, clips: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values`` (N, ...) with each clip's first frame given its second frame's row, in place
    (a frame with no predecessor has nothing of its own to score; a one-frame clip keeps its own)."""
    order, pos = clip_positions(clips, index)
    in_time = pos[order]
    first = np.flatnonzero((in_time[:-1] == 0) & (in_time[1:] == 1))  # the next row in time is the same clip's
    values[order[first]] = values[order[first + 1]]
    return values
