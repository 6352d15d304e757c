"""Audit inputs: a frame source or a folder of extracted feature files, opened cheaply first.

:func:`open_input` reads only metadata (labels, clips, frame indices), so every check of
the audit can run before any extraction; :func:`load_features` then extracts the selected
frames (cached by content hash, :mod:`anomaly_ref.extraction.cache`) or reads the files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..protocol.features import FrameFeatures


@dataclass(frozen=True)
class Source:
    """An audit input, opened cheaply: frame metadata known, features not yet computed.

    Either a frame source (anything :func:`~anomaly_ref.frames.sources.open_source` reads)
    or a folder of already extracted ``normal_/anomaly_features_<backbone>.npy`` files.
    """

    path: Path
    labels: np.ndarray  # (n,) of the selected frames
    clips: np.ndarray | None  # (n,) or None (feature files without sidecars)
    index: np.ndarray | None  # (n,) or None
    rows: np.ndarray  # (n,) positions of the selected frames in the source
    frames: Any = None  # the FrameSequence (frame sources only)
    copies: np.ndarray | None = None  # (n,) augmentation per row of a constructed pair, or None
    origin: np.ndarray | None = None  # (n,) "train"/"test" per row of a construction with Train clips, or None

    @property
    def is_features(self) -> bool:
        return self.frames is None

    def files(self, backbone: str) -> list[Path]:
        """The files to hash into provenance: an .npz source, or the feature files and their
        sidecars. (Frame folders: their content digest is in the extraction cache's record.)"""
        if not self.is_features:
            return [self.path] if self.path.is_file() else []
        from ..data.featurefiles import sidecar_name

        pair = feature_files(self.path, backbone)
        return [f for f in (*pair, *(sidecar_name(p) for p in pair)) if f.is_file()]

    def skeleton(self) -> FrameFeatures:
        """Labels and clips with a dummy (n, 1) feature: enough to check splits before extracting."""
        return FrameFeatures(np.zeros((len(self.labels), 1), np.float32), self.labels, self.clips, self.index,
                             self.copies, self.origin)

    @property
    def has_train_rows(self) -> bool:
        """The source itself holds frames of normal training clips (a paper construction)."""
        return self.origin is not None and bool((np.asarray(self.origin) == "train").any())


def feature_files(folder: Path, backbone: str) -> tuple[Path, Path]:
    from ..data.featurefiles import paper_name

    return folder / paper_name(0, backbone), folder / paper_name(1, backbone)


def _rows(path: Path) -> int:
    """Rows of a feature file, read from its .npy header: no data loaded, no pickle unpickled,
    and a file that is no .npy array said to be what it is."""
    from ..data.integrity import read_npy_header

    try:
        shape = read_npy_header(path).shape
    except InputError as exc:
        raise InputError(f"{path}: expected a .npy array file, found {exc}") from None
    return shape[0] if shape else 0  # a 0-d array: refused with its shape when the features load


def open_input(path: str | os.PathLike, dataset: str, backbone: str, clips: list[str] | None = None) -> Source:
    """Open ``path`` (frames, or a folder of feature files for ``backbone``), keeping only
    the frames of ``clips`` (compared as text) when given."""
    from ..data.featurefiles import read_pair_sidecars
    from ..frames.sources import joined_origin, open_source

    path = Path(path)
    normal, anomaly = feature_files(path, backbone)
    others = sorted(p.name for p in path.glob("normal_features_*.npy")) if path.is_dir() else []
    if others and not normal.is_file():
        raise InputError(f"{path}: a folder of feature files, but not of {backbone}'s: expected {normal.name}, "
                         f"found {', '.join(others)} (--backbone must name the backbone that extracted them)")
    if path.is_dir() and normal.is_file():
        if not anomaly.is_file():
            raise InputError(f"{path}: has {normal.name} but not {anomaly.name}")
        table = read_pair_sidecars(normal, anomaly)
        if table is not None:
            labels, cl, index = table["label"], table["clip"], table["index"]
            copies = table.get("augmentation")
        else:
            n0, n1 = (_rows(p) for p in (normal, anomaly))
            labels, cl, index = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)], None, None
            copies = None
        frames = None
    else:
        copies = None
        frames = open_source(path, dataset)
        labels, cl, index = np.asarray(frames.labels), np.asarray(frames.clips), np.asarray(frames.indices)
    rows = np.arange(len(labels), dtype=np.int64)
    if clips:
        if cl is None:
            raise InputError(f"{path}: cannot select clips {clips}: the feature files have no .frames.csv sidecars")
        have = cl.astype(str)
        missing = [c for c in clips if c not in set(have)]
        if missing:
            raise InputError(f"{path}: clips {missing} not found; it has clips {', '.join(dict.fromkeys(have))}")
        rows = np.flatnonzero(np.isin(have, clips))
    sel = lambda a: None if a is None else a[rows]  # noqa: E731
    origin = joined_origin(cl) if cl is not None and frames is None else None
    return Source(path, labels[rows], sel(cl), sel(index), rows, frames, sel(copies), sel(origin))


def load_features(src: Source, backbone: str, *, pretrained: bool = True, cache=None, fast: bool = False,
                  device: str = "cpu", progress: bool = False) -> tuple[FrameFeatures, dict[str, Any]]:
    """The features of ``src``'s selected frames, extracted (cached by content hash) or read
    from its feature files; plus what to record about where they came from."""
    if src.is_features:
        from ..protocol.features import load_frames

        normal, anomaly = feature_files(src.path, backbone)
        data = load_frames(normal, anomaly)
        if len(src.rows) != len(data.y):
            keep = np.zeros(len(data.y), bool)
            keep[src.rows] = True
            data = data.rows(keep)
        return data, {"kind": "features", "files": [str(normal), str(anomaly)]}
    from ..extraction.cache import extract_cached

    ext = extract_cached(src.frames, backbone, pretrained=pretrained, rows=src.rows, cache=cache, fast=fast,
                         device=device, progress=progress)
    info = {"kind": "frames", "cache": str(ext.folder), "key": ext.key, "from_cache": ext.cached,
            "source_digest": ext.digest}
    return FrameFeatures(ext.X, ext.labels.astype(np.int64), ext.clips, ext.index), info
