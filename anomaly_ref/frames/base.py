"""The frame model shared by every source: a :class:`Frame` and lazily decoded sequences of them.

Each source module (:mod:`~anomaly_ref.frames.sources`, :mod:`~anomaly_ref.frames.video`)
subclasses :class:`FrameSequence`: its length and per-frame metadata (clip, index, label)
are known up front, and ``frames[i]`` decodes one :class:`Frame` lazily, so parallel
decoders (DataLoader workers) can share the work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Frame:
    """One frame with where it came from."""

    image: np.ndarray  # (H, W, 3) uint8, RGB
    dataset: str
    clip: int | str  # clip / video number, or folder name where a dataset has no clips
    index: int  # 0-based frame index inside the clip
    label: int  # 0 normal, 1 abnormal


class FrameSequence(Sequence[Frame]):
    """Sized, lazily decoded frames. Subclasses implement ``_image(i) -> (H, W, 3) RGB``."""

    def __init__(self, dataset: str, clips: Sequence, indices: Sequence[int], labels: Sequence[int]):
        if not (len(clips) == len(indices) == len(labels)):
            raise InputError(
                f"{dataset}: clips, indices and labels differ in length "
                f"({len(clips)}, {len(indices)}, {len(labels)})"
            )
        self.dataset = dataset
        self.clips = list(clips)
        self.indices = [int(i) for i in indices]
        self.labels = [int(v) for v in labels]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} out of range for {len(self)} frames")
        i %= len(self)
        return Frame(self._image(i), self.dataset, self.clips[i], self.indices[i], self.labels[i])

    def __iter__(self) -> Iterator[Frame]:
        return FrameIterator(self)

    def _image(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def source_files(self) -> list[Path]:
        """The files whose bytes decide every frame and label (content hashes, provenance).
        A sequence that cannot name them raises NotImplementedError; callers then hash pixels."""
        raise NotImplementedError


class FrameIterator(Iterator[Frame]):
    """Iterator over a :class:`FrameSequence`; ``len()`` is the number of frames left and
    ``.frames`` the sequence itself (random access for parallel decoding)."""

    def __init__(self, frames: FrameSequence):
        self.frames = frames
        self._next = 0

    def __next__(self) -> Frame:
        if self._next >= len(self.frames):
            raise StopIteration
        self._next += 1
        return self.frames[self._next - 1]

    def __len__(self) -> int:
        return len(self.frames) - self._next


def to_rgb(image: np.ndarray, where: str) -> np.ndarray:
    """``(H, W)`` gray, ``(H, W, 1)`` or ``(H, W, 3)`` uint8 -> ``(H, W, 3)`` uint8."""
    if image.dtype != np.uint8:
        raise InputError(f"{where}: expected uint8 pixels, found {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise InputError(f"{where}: expected an (H, W) or (H, W, 3) image, found {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)  # gray -> 3 identical channels, as cv2.imread does
    return np.ascontiguousarray(image)


def imread_rgb(path: str | os.PathLike) -> np.ndarray:
    """``cv2.imread`` (BGR, gray expanded to 3 channels) -> RGB, as the paper reads images."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot read image {path}: missing, empty or not an image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
