"""CUHK Avenue test videos as a :class:`~anomaly_ref.frames.base.FrameSequence`.

Layout (PROTOCOL §1): ``root/testing_videos/NN.avi`` and the official pixel masks
``root/[ground_truth_demo/]testing_label_mask/N_label.mat`` (variable ``volLabel``, a
1 x n cell of masks). A frame is abnormal iff its mask has any nonzero pixel; frames are
resized to the mask size and go through a JPEG round trip, as the paper does: it writes
each frame with ``cv2.imwrite(.jpg)`` (quality 95) and reads it back with ``cv2.imread``;
we encode and decode in memory with the same codec and settings, so pixels are identical.

Frames come out exactly once each, with their official labels; the paper's class
balancing (PROTOCOL §1) is built on top by :mod:`anomaly_ref.frames.construction`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import ExtractionError, InputError
from .base import FrameIterator, FrameSequence

_VIDEO = re.compile(r"^(\d+)\.avi$")


def read_vol_labels(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """``(labels (n,) uint8, mask (H, W))`` from an Avenue ``N_label.mat``."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except (OSError, ValueError, NotImplementedError) as exc:  # v7.3 files are HDF5
        raise InputError(f"cannot read {path}: {exc}") from exc
    if "volLabel" not in mat:
        found = [k for k in mat if not k.startswith("__")]
        raise InputError(f"{path}: no variable 'volLabel' (found: {found})")
    masks = np.asarray(mat["volLabel"]).ravel()  # object array of (H, W) masks
    if masks.size == 0:
        raise InputError(f"{path}: 'volLabel' is empty")
    labels = np.array([int(np.any(m)) for m in masks], dtype=np.uint8)
    return labels, tuple(np.asarray(masks[0]).shape[:2])


class AvenueFrames(FrameSequence):
    """Decodes with OpenCV; sequential reads reuse an open capture, jumps seek."""

    def __init__(self, root: str | os.PathLike, dataset: str):
        root = Path(root)
        videos_dir = root / "testing_videos"
        mask_dir = next(
            (d for d in (root / "testing_label_mask", root / "ground_truth_demo" / "testing_label_mask") if d.is_dir()),
            None,
        )
        if mask_dir is None:
            raise InputError(f"{root}: no testing_label_mask/ (or ground_truth_demo/testing_label_mask/)")
        videos = sorted(
            (int(m.group(1)), p) for p in videos_dir.iterdir() if (m := _VIDEO.match(p.name))
        ) if videos_dir.is_dir() else []
        if not videos:
            raise InputError(f"{videos_dir}: no NN.avi videos")
        clips, indices, labels = [], [], []
        self.videos: dict[int, Path] = {}
        self.label_files: list[Path] = []
        self.sizes: dict[int, tuple[int, int]] = {}
        for number, video in videos:
            mat = mask_dir / f"{number}_label.mat"
            if not mat.is_file():
                raise InputError(f"{video}: no label file {mat}")
            vol, size = read_vol_labels(mat)
            self.label_files.append(mat)
            self.videos[number], self.sizes[number] = video, size
            clips += [number] * len(vol)
            indices += range(len(vol))
            labels += vol.tolist()
        super().__init__(dataset, clips, indices, labels)
        self._cap = None  # (pid, video number, next frame index, cv2.VideoCapture)

    def _image(self, i: int) -> np.ndarray:
        import cv2

        number, index = self.clips[i], self.indices[i]
        cap = self._capture(number, index)
        ok, bgr = cap.read()
        if not ok:
            raise ExtractionError(
                f"{self.videos[number]}: cannot decode frame {index}; the label file lists "
                f"{self.clips.count(number)} frames"
            )
        self._cap = (os.getpid(), number, index + 1, cap)
        h, w = self.sizes[number]
        if bgr.shape[:2] != (h, w):
            bgr = cv2.resize(bgr, (w, h))  # the paper writes frames at the mask size
        return cv2.cvtColor(jpeg_round_trip(bgr), cv2.COLOR_BGR2RGB)

    def _capture(self, number: int, index: int):
        import cv2

        # A capture opened in another process (DataLoader workers fork) is not reused.
        if self._cap and self._cap[:3] == (os.getpid(), number, index):
            return self._cap[3]
        cap = cv2.VideoCapture(str(self.videos[number]))
        if not cap.isOpened():
            raise InputError(f"cannot open video {self.videos[number]}")
        if index:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        return cap

    def source_files(self) -> list[Path]:
        return list(self.videos.values()) + self.label_files

    def __getstate__(self):  # an open capture cannot be pickled (spawned workers)
        return {**self.__dict__, "_cap": None}


def jpeg_round_trip(bgr: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR -> the same after ``cv2.imwrite(.jpg)`` + ``cv2.imread``.

    ``cv2.imencode('.jpg')`` with no parameters uses the same default quality (95) and
    encoder as ``cv2.imwrite``; ``cv2.imdecode(IMREAD_COLOR)`` decodes as ``cv2.imread`` does.
    """
    import cv2

    ok, data = cv2.imencode(".jpg", bgr)
    if not ok:
        raise ExtractionError(f"OpenCV cannot JPEG-encode a frame of shape {bgr.shape}")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def open_avenue(root: str | os.PathLike, dataset: str) -> AvenueFrames:
    return AvenueFrames(root, dataset)


def read_avenue(root: str | os.PathLike, dataset: str) -> FrameIterator:
    return iter(open_avenue(root, dataset))
