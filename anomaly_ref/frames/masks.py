"""Pixel-level ground truth: the masks of abnormal regions, one per frame of a source.

Two sources: an ``.npz`` beside the frames (below), and a UCSD ``Test/`` folder's official
``TestNNN_gt/NNN.bmp`` (or ``frameNNN.bmp``) masks (:func:`open_ucsd_masks`).

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


def has_ucsd_masks(test_dir: str | os.PathLike) -> bool:
    """``test_dir`` is a UCSD ``Test/`` folder with at least one ``TestNNN_gt/`` mask folder."""
    test_dir = Path(test_dir)
    return test_dir.is_dir() and any(test_dir.glob("UCSDped*.m")) and any(test_dir.glob("Test[0-9][0-9][0-9]_gt"))


def open_ucsd_masks(test_dir: str | os.PathLike, frames: FrameSequence) -> Masks:
    """The official UCSD masks of every frame of ``frames`` (read from ``test_dir``), packed.

    A clip without a ``TestNNN_gt/`` folder is an error naming the clips that have masks
    (UCSD Ped1 publishes them for 10 of its 36 test clips); a missing frame's mask too.
    """
    import cv2

    test_dir = Path(test_dir)
    clips = list(dict.fromkeys(frames.clips))
    lacking = [c for c in clips if not (test_dir / f"Test{int(c):03d}_gt").is_dir()]
    if lacking:
        have = [c for c in clips if c not in lacking]
        raise InputError(
            f"{test_dir}: no pixel masks for test clips {lacking[:8]}{' ...' if len(lacking) > 8 else ''} "
            f"({len(lacking)} of {len(clips)}; TestNNN_gt/ exists for {have or 'none'}): scoring maps on masks "
            "needs every clip's; run without --score, or pass --masks"
        )
    packed, shape = [], None
    for clip, index in zip(frames.clips, frames.indices):
        gt = test_dir / f"Test{int(clip):03d}_gt"
        path = next((p for p in (gt / f"{index + 1:03d}.bmp", gt / f"frame{index + 1:03d}.bmp") if p.is_file()), None)
        if path is None:
            raise InputError(f"{gt}: no mask for frame {index + 1} ({index + 1:03d}.bmp or frame{index + 1:03d}.bmp)")
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise InputError(f"{path}: not an image OpenCV can read")
        if shape is None:
            shape = mask.shape
        elif mask.shape != shape:
            raise InputError(f"{path}: mask of shape {mask.shape}, the others are {shape}")
        packed.append(np.packbits(mask > 0, axis=-1))
    return Masks(np.stack(packed), tuple(shape), test_dir)
