"""Frames decoded from videos: CUHK Avenue (test and training videos) and UMN.

Layout (PROTOCOL §1): ``root/testing_videos/NN.avi`` and the official pixel masks
``root/[ground_truth_demo/]testing_label_mask/N_label.mat`` (variable ``volLabel``, a
1 x n cell of masks). A frame is abnormal iff its mask has any nonzero pixel; frames are
resized to the mask size and go through a JPEG round trip, as the paper does: it writes
each frame with ``cv2.imwrite(.jpg)`` (quality 95) and reads it back with ``cv2.imread``;
we encode and decode in memory with the same codec and settings, so pixels are identical.

Frames come out exactly once each, with their official labels; the paper's class
balancing (PROTOCOL §1) is built on top by :mod:`anomaly_ref.frames.construction`.
Avenue's training videos (``training_videos/NN.avi``, all normal) serve the ``standard``
rung. UMN (``Crowd-Activity-All.avi``) is split into labelled clips by a ``frame_ranges.csv``
the user supplies (:class:`UmnFrames` says why).
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


class VideoFrames(FrameSequence):
    """Frames decoded from video files with OpenCV; sequential reads reuse an open capture,
    jumps seek. ``self.videos`` maps a clip to its file; ``self.sizes`` a clip to the
    ``(H, W)`` its frames are resized to (absent: native size); ``self.jpeg``: each frame
    goes through a JPEG round trip (the paper wrote Avenue's frames as .jpg)."""

    jpeg = False

    def __init__(self, dataset, clips, indices, labels, videos: dict, sizes: dict | None = None, extra=()):
        super().__init__(dataset, clips, indices, labels)
        self.videos, self.sizes, self.extra_files = videos, sizes or {}, list(extra)
        self._cap = None  # (pid, clip, next frame index, cv2.VideoCapture)

    def _image(self, i: int) -> np.ndarray:
        import cv2

        clip, index = self.clips[i], self.indices[i]
        cap = self._capture(clip, index)
        ok, bgr = cap.read()
        if not ok:
            raise ExtractionError(
                f"{self.videos[clip]}: cannot decode frame {index}; the frame list has "
                f"{self.clips.count(clip)} frames for it"
            )
        self._cap = (os.getpid(), clip, index + 1, cap)
        size = self.sizes.get(clip)
        if size and bgr.shape[:2] != size:
            bgr = cv2.resize(bgr, (size[1], size[0]))  # the paper writes Avenue's frames at the mask size
        if self.jpeg:
            bgr = jpeg_round_trip(bgr)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _capture(self, clip, index: int):
        import cv2

        # A capture opened in another process (DataLoader workers fork) is not reused.
        if self._cap and self._cap[:3] == (os.getpid(), clip, index):
            return self._cap[3]
        cap = cv2.VideoCapture(str(self.videos[clip]))
        if not cap.isOpened():
            raise InputError(f"cannot open video {self.videos[clip]}")
        if index:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        return cap

    def source_files(self) -> list[Path]:
        return list(dict.fromkeys(self.videos.values())) + self.extra_files

    def __getstate__(self):  # an open capture cannot be pickled (spawned workers)
        return {**self.__dict__, "_cap": None}


def _numbered_videos(folder: Path) -> list[tuple[int, Path]]:
    videos = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _VIDEO.match(p.name))) \
        if folder.is_dir() else []
    if not videos:
        raise InputError(f"{folder}: no NN.avi videos")
    return videos


def frame_count(video: Path) -> int:
    """Frames OpenCV reports for ``video`` (read from the container, nothing decoded)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise InputError(f"cannot open video {video} (not a video OpenCV can read)")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if n <= 0:
        raise InputError(f"{video}: OpenCV reports {n} frames; the file is empty or damaged")
    return n


class AvenueFrames(VideoFrames):
    """Avenue's test videos, each frame labelled by its official pixel mask."""

    jpeg = True

    def __init__(self, root: str | os.PathLike, dataset: str):
        root = Path(root)
        mask_dir = next(
            (d for d in (root / "testing_label_mask", root / "ground_truth_demo" / "testing_label_mask") if d.is_dir()),
            None,
        )
        if mask_dir is None:
            raise InputError(f"{root}: no testing_label_mask/ (or ground_truth_demo/testing_label_mask/)")
        clips, indices, labels, videos, sizes, label_files = [], [], [], {}, {}, []
        for number, video in _numbered_videos(root / "testing_videos"):
            mat = mask_dir / f"{number}_label.mat"
            if not mat.is_file():
                raise InputError(f"{video}: no label file {mat}")
            vol, size = read_vol_labels(mat)
            label_files.append(mat)
            videos[number], sizes[number] = video, size
            clips += [number] * len(vol)
            indices += range(len(vol))
            labels += vol.tolist()
        super().__init__(dataset, clips, indices, labels, videos, sizes, label_files)


class AvenueTrainFrames(VideoFrames):
    """Avenue's 16 training videos (``training_videos/NN.avi``), every frame normal, written
    through the same JPEG round trip as the test frames so both sides see one pipeline."""

    jpeg = True

    def __init__(self, folder: str | os.PathLike, dataset: str):
        folder = Path(folder)
        clips, indices, videos = [], [], {}
        for number, video in _numbered_videos(folder):
            n = frame_count(video)
            videos[number] = video
            clips += [number] * n
            indices += range(n)
        super().__init__(dataset, clips, indices, [0] * len(clips), videos)


UMN_VIDEO = "Crowd-Activity-All.avi"
UMN_RANGES = "frame_ranges.csv"  # clip,start,stop,label: frames start <= i < stop of the video, 0-based
_RANGE_COLUMNS = ("clip", "start", "stop", "label")


def read_frame_ranges(path: Path, n_frames: int) -> list[tuple[str, int, int, int]]:
    """``[(clip, start, stop, label)]`` of a ``frame_ranges.csv``, checked: integer bounds inside
    the video, ``start < stop``, labels 0/1, no frame in two ranges."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = rows and list(rows[0].keys())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if not rows or tuple(header) != _RANGE_COLUMNS:
        raise InputError(f"{path}: expected the columns {','.join(_RANGE_COLUMNS)} and at least one row, "
                         f"found {header or 'nothing'}")
    out, used = [], np.zeros(n_frames, bool)
    for line, r in enumerate(rows, 2):
        try:
            start, stop, label = int(r["start"]), int(r["stop"]), int(r["label"])
        except (TypeError, ValueError):
            raise InputError(f"{path}:{line}: start, stop and label must be integers, found {dict(r)}") from None
        if not 0 <= start < stop <= n_frames or label not in (0, 1):
            raise InputError(f"{path}:{line}: expected 0 <= start < stop <= {n_frames} (the video's frames) and "
                             f"label 0 or 1, found start {start}, stop {stop}, label {label}")
        if used[start:stop].any():
            raise InputError(f"{path}:{line}: frames {start}..{stop - 1} overlap an earlier range")
        used[start:stop] = True
        out.append((r["clip"].strip() or f"range{line - 1}", start, stop, label))
    return out


class UmnFrames(VideoFrames):
    """UMN's one video split into clips by a ``frame_ranges.csv`` beside it.

    The notebooks used frames already split into ``normal/`` (6602) and ``abnormal/`` (1137)
    folders (PROTOCOL §1), and where in the video each came from is not recorded; so the
    ranges are the user's to give, and no range file is shipped or guessed.
    """

    def __init__(self, folder: str | os.PathLike, dataset: str):
        folder = Path(folder)
        video, ranges_file = folder / UMN_VIDEO, folder / UMN_RANGES
        if not video.is_file():
            raise InputError(f"{folder}: no {UMN_VIDEO}")
        if not ranges_file.is_file():
            raise InputError(
                f"{folder}: no {UMN_RANGES} beside {UMN_VIDEO}. UMN's frame labels are not in the video, and the "
                "notebooks' split of it into normal and abnormal frames is not published (PROTOCOL §1 gives only "
                f"the counts, 6602 and 1137): write {ranges_file} with the columns clip,start,stop,label "
                "(0-based frames start <= i < stop; label 1 = abnormal), one row per range"
            )
        n = frame_count(video)
        clips, indices, labels = [], [], []
        for clip, start, stop, label in read_frame_ranges(ranges_file, n):
            clips += [clip] * (stop - start)
            indices += range(start, stop)
            labels += [label] * (stop - start)
        super().__init__(dataset, clips, indices, labels, {c: video for c in dict.fromkeys(clips)},
                         extra=[ranges_file])

    def _capture(self, clip, index: int):
        # One video for every clip: a capture positioned at the next frame is reused across clips.
        if self._cap and self._cap[0] == os.getpid() and self._cap[2] == index:
            return self._cap[3]
        return super()._capture(clip, index)


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


def open_avenue_train(folder: str | os.PathLike, dataset: str) -> AvenueTrainFrames:
    return AvenueTrainFrames(folder, dataset)


def open_umn(folder: str | os.PathLike, dataset: str) -> UmnFrames:
    return UmnFrames(folder, dataset)
