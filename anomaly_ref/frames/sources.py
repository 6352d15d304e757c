"""Frame sources: every dataset layout the paper uses, as one kind of sized sequence.

Each ``open_*`` function returns a :class:`FrameSequence`: its length and per-frame
metadata (clip, index, label) are known up front, and ``frames[i]`` decodes one
:class:`Frame` lazily, so parallel decoders (DataLoader workers) can share the work.
Each ``read_*`` function returns an iterator over the same frames.

Layouts (see :func:`open_source` for auto-detection):
- ``.npz`` files of ``$ANOMALY_REF_SHARED/data/`` (keys frames, video, frame, label);
- UCSD Ped1/Ped2 ``Test/`` folders: ``TestNNN/NNN.tif`` plus ``UCSDpedN.m`` frame ranges;
  ``Train/`` folders: ``TrainNNN/NNN.tif`` (all normal);
- Avenue: ``testing_videos/NN.avi`` plus ``testing_label_mask/N_label.mat`` (``volLabel``);
  ``training_videos/NN.avi`` (all normal);
- UMN: ``Crowd-Activity-All.avi`` plus a user's ``frame_ranges.csv`` (:mod:`.video`);
- UMN and the paper's own folders: ``normal/`` and ``abnormal/`` image folders.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import IMAGE_SUFFIXES, FrameIterator, FrameSequence, imread_rgb, to_rgb
from .video import UMN_VIDEO, _VIDEO, open_avenue, open_avenue_train, open_umn

NPZ_KEYS = ("frames", "video", "frame", "label")
# The paper's own folder names and their labels (PROTOCOL §1, UMN).
FOLDER_LABELS = {"normal": 0, "abnormal": 1}


# --------------------------------------------------------------------------- npz


class NpzFrames(FrameSequence):
    """The ``.npz`` layout of ``$ANOMALY_REF_SHARED/data/`` (all frames held in memory)."""

    def __init__(self, path: str | os.PathLike, dataset: str):
        path = Path(path)
        try:
            with np.load(path) as data:
                missing = [k for k in NPZ_KEYS if k not in data.files]
                if missing:
                    raise InputError(
                        f"{path}: missing keys {missing}; expected {list(NPZ_KEYS)}, "
                        f"found {data.files}"
                    )
                self.images = data["frames"]  # (N, H, W) or (N, H, W, 3) uint8
                meta = {k: data[k] for k in ("video", "frame", "label")}
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
        if len(self.images) != len(meta["label"]):
            raise InputError(
                f"{path}: {len(self.images)} frames but {len(meta['label'])} labels"
            )
        self.path = path
        super().__init__(dataset, [int(v) for v in meta["video"]], meta["frame"], meta["label"])

    def _image(self, i: int) -> np.ndarray:
        return to_rgb(self.images[i], f"{self.path} frame {i}")

    def source_files(self) -> list[Path]:
        return [self.path]


def open_npz(path: str | os.PathLike, dataset: str) -> NpzFrames:
    return NpzFrames(path, dataset)


def read_npz(path: str | os.PathLike, dataset: str) -> FrameIterator:
    """Frames of an ``$ANOMALY_REF_SHARED/data`` ``.npz`` (gray repeated to 3 channels)."""
    return iter(open_npz(path, dataset))


# ----------------------------------------------------------------- image files


class ImageFiles(FrameSequence):
    """Frames stored one image file each."""

    def __init__(self, dataset, paths, clips, indices, labels, extra_files=()):
        super().__init__(dataset, clips, indices, labels)
        self.paths = [Path(p) for p in paths]
        self.extra_files = [Path(p) for p in extra_files]  # label files (UCSDpedN.m)

    def _image(self, i: int) -> np.ndarray:
        return imread_rgb(self.paths[i])

    def source_files(self) -> list[Path]:
        return self.paths + self.extra_files


def _natural_key(path: Path) -> tuple:
    """``9.tif`` before ``10.tif``: compare digit runs as numbers."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` in natural order; an error if there are none."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    files = [
        p for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("._")  # macOS forks
    ]
    if not files:
        raise InputError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=_natural_key)


def open_folders(root: str | os.PathLike, dataset: str) -> ImageFiles:
    """UMN / the paper's layout: ``root/normal/*`` (label 0) and ``root/abnormal/*`` (label 1).

    The folder name is the clip id (these datasets come without clips); files are taken in
    natural order (the paper used ``os.listdir`` order, which the file system decides).
    """
    root = Path(root)
    paths, clips, indices, labels = [], [], [], []
    for name, label in FOLDER_LABELS.items():
        files = list_images(root / name)
        paths += files
        clips += [name] * len(files)
        indices += range(len(files))
        labels += [label] * len(files)
    return ImageFiles(dataset, paths, clips, indices, labels)


def read_folders(root: str | os.PathLike, dataset: str) -> FrameIterator:
    return iter(open_folders(root, dataset))


# ------------------------------------------------------------------------ UCSD

_GT_LINE = re.compile(r"TestVideoFile\{[^}]*\}\.gt_frame\s*=\s*\[([^\]]*)\]")
_CLIP_DIR = re.compile(r"^Test(\d{3})$")


def parse_ucsd_gt(path: str | os.PathLike) -> list[set[int]]:
    """The abnormal frames of each test clip from ``UCSDpedN.m``, 1-based as in the file.

    Lines look like ``TestVideoFile{end+1}.gt_frame = [5:90, 140:200];``.
    """
    path = Path(path)
    ranges = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        match = _GT_LINE.search(line.split("%", 1)[0])  # drop MATLAB comments
        if not match:
            continue
        frames: set[int] = set()
        for part in filter(None, re.split(r"[,\s]+", match.group(1).strip())):
            bounds = part.split(":")
            if len(bounds) not in (1, 2) or not all(b.isdigit() for b in bounds):
                raise InputError(f"{path}:{lineno}: cannot read frame range {part!r} in {line.strip()!r}")
            lo, hi = int(bounds[0]), int(bounds[-1])
            frames.update(range(lo, hi + 1))
        ranges.append(frames)
    if not ranges:
        raise InputError(f"{path}: no 'TestVideoFile{{end+1}}.gt_frame = [...]' lines")
    return ranges


def open_ucsd(test_dir: str | os.PathLike, dataset: str) -> ImageFiles:
    """UCSD ``Test/`` folder: clips ``TestNNN/NNN.tif`` (1-based file names) and the
    frame-level ground truth ``UCSDped*.m`` beside them."""
    test_dir = Path(test_dir)
    m_files = sorted(test_dir.glob("UCSDped*.m"))
    if not m_files:
        raise InputError(f"{test_dir}: no UCSDped*.m ground-truth file")
    gt = parse_ucsd_gt(m_files[0])
    clip_dirs = sorted(
        (int(m.group(1)), p) for p in test_dir.iterdir() if (m := _CLIP_DIR.match(p.name)) and p.is_dir()
    )
    if not clip_dirs:
        raise InputError(f"{test_dir}: no TestNNN clip folders")
    if clip_dirs[-1][0] > len(gt):
        raise InputError(
            f"{m_files[0]}: ground truth for {len(gt)} clips, but {test_dir} has "
            f"Test{clip_dirs[-1][0]:03d}"
        )
    paths, clips, indices = _numbered_frames(clip_dirs)
    labels = [int(i + 1 in gt[clip - 1]) for clip, i in zip(clips, indices)]  # gt holds 1-based frame numbers
    return ImageFiles(dataset, paths, clips, indices, labels, extra_files=m_files[:1])


def _numbered_frames(clip_dirs) -> tuple[list[Path], list[int], list[int]]:
    """The ``NNN.tif`` frames of each ``(clip, folder)``: paths, clip numbers, 0-based indices."""
    paths, clips, indices = [], [], []
    for clip, folder in clip_dirs:
        files = [p for p in list_images(folder) if p.stem.isdigit()]
        if not files:
            raise InputError(f"{folder}: no numbered frames (NNN.tif)")
        paths += files
        clips += [clip] * len(files)
        indices += [int(p.stem) - 1 for p in files]
    return paths, clips, indices


def read_ucsd(test_dir: str | os.PathLike, dataset: str) -> FrameIterator:
    return iter(open_ucsd(test_dir, dataset))


_TRAIN_DIR = re.compile(r"^Train(\d{3})$")


def open_ucsd_train(train_dir: str | os.PathLike, dataset: str) -> ImageFiles:
    """UCSD ``Train/`` folder: clips ``TrainNNN/NNN.tif``, every frame normal."""
    train_dir = Path(train_dir)
    clip_dirs = sorted(
        (int(m.group(1)), p) for p in train_dir.iterdir() if (m := _TRAIN_DIR.match(p.name)) and p.is_dir()
    )
    if not clip_dirs:
        raise InputError(f"{train_dir}: no TrainNNN clip folders")
    paths, clips, indices = _numbered_frames(clip_dirs)
    return ImageFiles(dataset, paths, clips, indices, [0] * len(paths))


class JoinedFrames(FrameSequence):
    """Training clips, then test clips, as one sequence; clip ids become ``TrainNNN`` and
    ``TestNNN`` (numbered clips) so the two never collide. ``train`` marks the first part."""

    def __init__(self, train: FrameSequence, test: FrameSequence):
        def name(prefix, clip):
            return f"{prefix}{clip:03d}" if isinstance(clip, int) else f"{prefix}-{clip}"

        self.parts = (train, test)
        clips = [name("Train", c) for c in train.clips] + [name("Test", c) for c in test.clips]
        super().__init__(test.dataset, clips, train.indices + test.indices, train.labels + test.labels)
        self.train = np.r_[np.ones(len(train), bool), np.zeros(len(test), bool)]

    def _image(self, i: int) -> np.ndarray:
        n = len(self.parts[0])
        return self.parts[0]._image(i) if i < n else self.parts[1]._image(i - n)

    def source_files(self) -> list[Path]:
        return self.parts[0].source_files() + self.parts[1].source_files()


def joined_origin(clips) -> np.ndarray | None:
    """``(n,)`` ``"train"`` / ``"test"`` of each row whose clip id follows :class:`JoinedFrames`'
    naming (every id ``Train...`` or ``Test...``: a construction of training and test clips,
    ``anomaly-ref extract --construction paper --train-source``), else None."""
    ids = np.asarray(clips).astype(str)
    train = np.char.startswith(ids, "Train")
    if not len(ids) or not (train | np.char.startswith(ids, "Test")).all():
        return None
    return np.where(train, "train", "test")


# ----------------------------------------------------------------- detection


def open_source(path: str | os.PathLike, dataset: str) -> FrameSequence:
    """Open ``path`` by its layout: ``.npz`` file, Avenue root, UCSD ``Test/`` folder, or a
    folder with ``normal/`` and ``abnormal/``."""
    path = Path(path)
    if path.is_file() and path.suffix == ".npz":
        return open_npz(path, dataset)
    if not path.is_dir():
        raise InputError(f"{path}: not an .npz file or a folder")
    if (path / "testing_videos").is_dir():
        return open_avenue(path, dataset)
    if (path / UMN_VIDEO).is_file():
        return open_umn(path, dataset)
    if any(_VIDEO.match(p.name) for p in path.iterdir()):
        return open_avenue_train(path, dataset)
    if any(path.glob("UCSDped*.m")):
        return open_ucsd(path, dataset)
    if any(_TRAIN_DIR.match(p.name) for p in path.iterdir()):
        return open_ucsd_train(path, dataset)
    if all((path / name).is_dir() for name in FOLDER_LABELS):
        return open_folders(path, dataset)
    raise InputError(
        f"{path}: unknown layout; expected an .npz file, an Avenue root (testing_videos/), an Avenue "
        f"training_videos/ folder (NN.avi), a UMN folder ({UMN_VIDEO} + frame_ranges.csv), a UCSD Test/ "
        "folder (UCSDped*.m + TestNNN/), a UCSD Train/ folder (TrainNNN/), or normal/ + abnormal/ image folders"
    )
