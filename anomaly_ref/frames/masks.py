"""Pixel-level ground truth: the masks of abnormal regions, one per frame of a source.

The layout of ``$ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_test_masks.npz``: ``masks``
``(N, H, ceil(W/8))`` uint8 (``np.packbits`` of the bool mask along the last axis),
``video`` and ``frame`` ``(N,)`` in the frame source's order, ``shape`` = ``[H, W]``.
:func:`open_masks` checks that every row names the same clip and frame index as the
frame source it is paired with, so a mask can never land on the wrong frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import FrameSequence

MASK_KEYS = ("masks", "video", "frame", "shape")


class Masks:
    """Bool masks ``(H, W)`` of the frames of one source, unpacked on access."""

    def __init__(self, packed: np.ndarray, shape: tuple[int, int], path: Path):
        self.packed = packed  # (N, H, ceil(W / 8)) uint8
        self.shape = shape  # (H, W)
        self.path = path

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, i: int) -> np.ndarray:
        """The mask of frame ``i``: ``(H, W)`` bool, True inside the abnormal region."""
        return np.unpackbits(self.packed[i], axis=-1)[:, : self.shape[1]].astype(bool)

    def area(self, i: int) -> int:
        """Pixels inside frame ``i``'s mask (without unpacking the whole mask)."""
        return int(np.unpackbits(self.packed[i], axis=-1)[:, : self.shape[1]].sum())


def open_masks(path: str | os.PathLike, frames: FrameSequence) -> Masks:
    """The masks in ``path``, checked row by row against ``frames`` (same clip, same index)."""
    path = Path(path)
    try:
        with np.load(path) as data:
            missing = [k for k in MASK_KEYS if k not in data.files]
            if missing:
                raise InputError(f"{path}: missing keys {missing}; expected {list(MASK_KEYS)}, found {data.files}")
            packed, video, index = data["masks"], data["video"], data["frame"]
            shape = tuple(int(v) for v in data["shape"])
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read masks {path}: {exc}") from exc
    if len(packed) != len(frames):
        raise InputError(f"{path}: {len(packed)} masks but the frame source has {len(frames)} frames")
    if len(shape) != 2 or packed.shape[1:] != (shape[0], (shape[1] + 7) // 8):
        raise InputError(f"{path}: masks of shape {packed.shape[1:]} do not pack frames of shape {shape}")
    clips = np.asarray([str(c) for c in frames.clips])
    bad = np.flatnonzero((clips != video.astype(str)) | (np.asarray(frames.indices) != index))
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"{path}: row {i} is clip {video[i]} frame {index[i]}, but the frame source's row {i} is clip "
            f"{frames.clips[i]} frame {frames.indices[i]} ({len(bad)} rows disagree); pair the masks with "
            "the frames they were made for"
        )
    return Masks(packed, shape, path)
