"""Load a normal/anomaly pair of feature arrays the way the paper does (PROTOCOL §4, steps 1-2).

Plain arrays in, plain arrays out: :func:`prepare_pair` works on arrays, :func:`load_pair`
adds file handling with errors that name the file and the problem.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.integrity import NPY_MAGIC, describe_head
from ..errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeaturePair:
    """Frames of both classes, concatenated normal first (the paper's order)."""

    X: np.ndarray  # (N0 + N1, D) float32, finite
    y: np.ndarray  # (N0 + N1,) int64, 0 = normal, 1 = anomaly
    n_normal: int
    n_anomaly: int
    n_replaced: int  # non-finite values set to 0 by nan_to_num


def load_array(path: str | os.PathLike, role: str = "features") -> np.ndarray:
    """``np.load`` a ``.npy`` file with pickles refused and errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{role} file {str(path)!r} does not exist")
    with open(path, "rb") as f:
        head = f.read(64)
    if not head.startswith(NPY_MAGIC):  # else numpy, falling back to pickle, calls any file "pickled data"
        raise InputError(f"{role} file {str(path)!r} is not a .npy array file: found {describe_head(head)}; "
                         "give the .npy file np.save wrote")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:  # numpy refuses object arrays with allow_pickle=False
        raise InputError(
            f"{role} file {str(path)!r} holds a pickled object array, which is refused for "
            f"safety: save a numeric array with np.save ({exc})"
        ) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{role} file {str(path)!r} is not a readable .npy array: {exc}") from None
    if not isinstance(arr, np.ndarray):  # .npz archives load as NpzFile
        raise InputError(f"{role} file {str(path)!r} is an .npz archive, expected one .npy array")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"{role} file {str(path)!r} has dtype {arr.dtype}, expected a real numeric array")
    return arr


def _to_2d(arr: np.ndarray, where: str) -> np.ndarray:
    """(N, D) as is; 4+-D arrays averaged over axes (2, 3) as the notebooks do."""
    if arr.ndim >= 4:
        arr = arr.mean(axis=(2, 3))
    if arr.ndim != 2:
        raise InputError(
            f"{where}: expected a 2-D (frames, features) array or a 4-D (frames, C, H, W) map, "
            f"found {arr.ndim}-D after pooling (shape {arr.shape})"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{where}: array is empty (shape {arr.shape})")
    return arr


def prepare_pair(
    normal: np.ndarray, anomaly: np.ndarray, *, names: tuple[str, str] = ("normal", "anomaly")
) -> FeaturePair:
    """PROTOCOL §4 steps 1-2: pool, concatenate normal then anomaly, float32, ``nan_to_num``.

    normal : array of shape (N0, D) or (N0, C, H, W, ...)
    anomaly : array of shape (N1, D) or (N1, C, H, W, ...)
    """
    parts = [_to_2d(np.asarray(a), n) for a, n in zip((normal, anomaly), names)]
    if parts[0].shape[1] != parts[1].shape[1]:
        raise InputError(
            f"feature dims differ: {names[0]} has {parts[0].shape[1]}, {names[1]} has "
            f"{parts[1].shape[1]}; both files must come from the same backbone"
        )
    for part, name in zip(parts, names):
        if not np.isfinite(part).any():
            raise InputError(
                f"{name}: all {part.size} values are non-finite (NaN/inf); the file is unusable"
            )
    X = np.concatenate(parts, axis=0).astype(np.float32, copy=False)
    bad = ~np.isfinite(X)
    n_replaced = int(bad.sum())
    if n_replaced:
        log.warning("replaced %d non-finite feature values with 0 (nan_to_num)", n_replaced)
        X[bad] = 0.0  # same result as nan_to_num(nan=0, posinf=0, neginf=0), in place
    y = np.concatenate([np.zeros(len(parts[0]), np.int64), np.ones(len(parts[1]), np.int64)])
    return FeaturePair(X, y, len(parts[0]), len(parts[1]), n_replaced)


def load_pair(normal_path: str | os.PathLike, anomaly_path: str | os.PathLike) -> FeaturePair:
    """Read ``normal_features_<name>.npy`` and ``anomaly_features_<name>.npy`` and prepare them."""
    normal = load_array(normal_path, "normal features")
    anomaly = load_array(anomaly_path, "anomaly features")
    return prepare_pair(normal, anomaly, names=(str(normal_path), str(anomaly_path)))


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame features with their labels and, where known, where each frame came from.

    X : (N, D) float32, finite; y : (N,) int64 in {0, 1}.
    clips : (N,) clip id of each frame, or None (the authors' feature files record none).
    index : (N,) frame index inside its clip, or None.
    copies : (N,) the copy a row is of its source frame (clip, index): ``original``, ``flip``,
    ... (a constructed pair, :mod:`anomaly_ref.frames.construction`), or None (all originals).
    A copy keeps its source's clip, so clip-grouped splits keep copies with their source;
    temporal windows run inside each (clip, copy) stream, never across two.
    origin : (N,) ``"test"`` or ``"train"``: a frame of a test clip, or of a dataset's normal
    training clips (which the strict rung trains on and never tests), or None (all test).
    Rows are in source order where clips are known; else normal rows, then anomaly rows.
    """

    X: np.ndarray
    y: np.ndarray
    clips: np.ndarray | None = None
    index: np.ndarray | None = None
    copies: np.ndarray | None = None
    origin: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.X)
        for name in ("y", "clips", "index", "copies", "origin"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise InputError(f"FrameFeatures: X has {n} rows but {name} has {len(value)}")

    def is_copy(self) -> np.ndarray:
        """(N,) bool: the row is a copy (flip, rotation, ...) of a source frame, not the frame itself."""
        if self.copies is None:
            return np.zeros(len(self.X), bool)
        return np.asarray(self.copies).astype(str) != "original"

    def is_train(self) -> np.ndarray:
        """(N,) bool: the row is a frame of a normal training clip (``origin == "train"``)."""
        if self.origin is None:
            return np.zeros(len(self.X), bool)
        return np.asarray(self.origin).astype(str) == "train"

    def rows(self, keep: np.ndarray) -> "FrameFeatures":
        """The rows ``keep`` (bool mask or indices), every per-row field with them."""
        pick = (lambda a: None if a is None else np.asarray(a)[keep])  # noqa: E731
        return FrameFeatures(self.X[keep], self.y[keep], pick(self.clips), pick(self.index), pick(self.copies),
                             pick(self.origin))

    def source_codes(self) -> np.ndarray:
        """(N,) int64 code of each row's source frame (clip, frame index): a copy has its
        source's code, so overlap between train and test counts source frames, not rows."""
        if self.clips is None or self.index is None:
            return np.arange(len(self.X), dtype=np.int64)
        return pair_codes(self.clip_codes(), np.asarray(self.index))

    def paper_order(self) -> np.ndarray:
        """Rows in the paper's order: normal frames, then anomaly frames, each kept in order
        (the notebooks concatenate ``normal_features`` and ``anomaly_features``)."""
        return np.concatenate([np.flatnonzero(self.y == 0), np.flatnonzero(self.y == 1)])

    def clip_codes(self) -> np.ndarray:
        """(N,) int64 code of each frame's clip (clip ids may be numbers or folder names)."""
        if self.clips is None:
            raise InputError("these features carry no clip ids (.frames.csv sidecars)")
        return np.unique(np.asarray(self.clips).astype(str), return_inverse=True)[1].astype(np.int64)

    def stream_codes(self) -> np.ndarray:
        """(N,) int64 code of each row's (clip, copy) stream: the clip where there are no copies."""
        codes = self.clip_codes()
        if self.copies is None:
            return codes
        return pair_codes(codes, np.unique(np.asarray(self.copies).astype(str), return_inverse=True)[1])

    def temporal_order(self) -> np.ndarray:
        """Rows sorted by (clip, copy) stream, then frame index: each stream contiguous and in
        time order."""
        codes = self.stream_codes()
        index = np.arange(len(codes)) if self.index is None else np.asarray(self.index)
        return np.lexsort((index, codes))


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) int64 code of each (a[i], b[i]) pair, equal pairs equal codes. (Joining the two as
    text is unsafe: numpy drops a trailing NUL separator, so clip "1" frame 12 and clip "11"
    frame 2 both read "112".)"""
    pairs = np.stack([np.asarray(a, np.int64), np.asarray(b, np.int64)], axis=1)
    return np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


TRAIN_PREFIX = "train:"  # clip ids of training clips joined to test clips: never equal to a test clip's


def join_training(test: FrameFeatures, train: FrameFeatures | None) -> FrameFeatures:
    """The test frames followed by the frames of normal training clips, marked
    ``origin == "train"`` (clip ids prefixed ``train:`` so they never collide with a test
    clip's; every clip id becomes text). Without ``train``, ``test`` as it is."""
    if train is None:
        return test
    if test.clips is None or train.clips is None:
        raise InputError("joining training clips to test clips needs the clip of every frame of both")
    if train.X.shape[1] != test.X.shape[1]:
        raise InputError(f"training features have dim {train.X.shape[1]}, test features {test.X.shape[1]}: "
                         "not the same backbone")
    if test.is_train().any():
        raise InputError("the test source already holds normal training clips (a construction with Train "
                         "frames): give no separate training source")

    def column(a, b, fill):
        return np.r_[np.full(len(test.X), fill, dtype=object) if a is None else np.asarray(a, dtype=object),
                     np.full(len(train.X), fill, dtype=object) if b is None else np.asarray(b, dtype=object)]

    clips = np.r_[np.asarray(test.clips).astype(str), np.char.add(TRAIN_PREFIX, np.asarray(train.clips).astype(str))]
    index = np.r_[np.asarray(test.index), np.asarray(train.index)] if test.index is not None and train.index is not None else None
    copies = None if test.copies is None and train.copies is None else column(test.copies, train.copies, "original").astype(str)
    origin = np.r_[np.full(len(test.X), "test"), np.full(len(train.X), "train")]
    return FrameFeatures(np.concatenate([test.X, train.X]), np.r_[test.y, train.y], clips, index, copies, origin)


def pair_features(pair: FeaturePair) -> FrameFeatures:
    """The frames of a normal/anomaly pair, without clip ids (the authors' files have none)."""
    return FrameFeatures(pair.X, pair.y)


def load_frames(normal_path: str | os.PathLike, anomaly_path: str | os.PathLike) -> FrameFeatures:
    """A feature pair as :class:`FrameFeatures`: with clips and source order where both
    files have ``.frames.csv`` sidecars (``anomaly-ref extract`` writes them), else none."""
    from ..data.featurefiles import read_pair_sidecars

    pair = load_pair(normal_path, anomaly_path)
    table = read_pair_sidecars(normal_path, anomaly_path)
    if table is None:
        return pair_features(pair)
    for n_side, n, path in zip(table["sizes"], (pair.n_normal, pair.n_anomaly), (normal_path, anomaly_path)):
        if n_side != n:
            raise InputError(f"{path}: its .frames.csv sidecar has {n_side} rows, the file {n}")
    order = table["order"]
    if not np.array_equal(table["label"], pair.y[order]):
        raise InputError(f"{normal_path} / {anomaly_path}: the sidecars' labels disagree with the files they describe")
    from ..frames.sources import joined_origin

    return FrameFeatures(pair.X[order], pair.y[order], table["clip"], table["index"], table.get("augmentation"),
                         joined_origin(table["clip"]))
