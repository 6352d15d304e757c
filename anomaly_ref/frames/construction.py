"""The authors' feature-file constructions (PROTOCOL §1), rebuilt from frames.

A construction (:data:`anomaly_ref.registry.CONSTRUCTIONS`) says which frames are normal
rows, which are anomaly rows, and which augmented copies balance the classes. Here it is
turned into a :class:`Plan` — one entry per feature row: source frame, label, augmentation
and its drawn parameters — from frame metadata alone (:func:`plan`), so row counts can be
predicted from label files without any frame (:func:`predict_counts`); then
:class:`ConstructedFrames` decodes the rows lazily, applying each row's copy.

Row order, as the notebooks write the files: normal rows (training clips, then the normal
test frames, each by clip then frame), then the anomaly originals (by clip, frame), then the
copies in the order they were made. The notebooks walk files in ``os.listdir``/sorted order;
ours is (clip, frame) order. Random copies are drawn from a generator seeded with ``seed``
(the notebooks did not seed theirs); the seed and every draw are recorded per row.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..registry import Construction, get_construction, get_dataset
from . import augment
from .base import FrameSequence

LABELS = ("official", "notebook")


@dataclass(frozen=True)
class Meta:
    """What a construction needs to know of its source frames: no pixels.

    clips : (n,) str clip ids (``Train001``, ``Test001``, ...); index : (n,) frame index
    inside the clip; label : (n,) 0/1 official labels; train : (n,) bool, a training-clip frame.
    """

    clips: np.ndarray
    index: np.ndarray
    label: np.ndarray
    train: np.ndarray


@dataclass(frozen=True)
class Plan:
    """One entry per feature row, in the files' order (see the module docstring)."""

    construction: Construction
    labels: str  # "official" or "notebook"
    seed: int
    source: np.ndarray  # (N,) row of the source frame in the source
    clips: np.ndarray  # (N,) its clip id
    index: np.ndarray  # (N,) its frame index
    label: np.ndarray  # (N,) 0 normal row, 1 anomaly row
    augmentation: tuple[str, ...]  # (N,) "original" or a copy's name
    params: tuple[dict, ...] = field(repr=False, default=())  # (N,) drawn parameters ({} if none)

    def __len__(self) -> int:
        return len(self.label)

    def counts(self) -> dict:
        """Rows per class and copies per kind: ``{"normal", "anomaly", "originals", "copies": {kind: n}}``."""
        aug = np.asarray(self.augmentation)
        abnormal = self.label == 1
        kinds = [k for k in dict.fromkeys(self.augmentation) if k != "original"]
        return {
            "normal": int((self.label == 0).sum()), "anomaly": int(abnormal.sum()),
            "originals": int((abnormal & (aug == "original")).sum()),
            "copies": {k: int((aug == k).sum()) for k in kinds},
        }

    def params_text(self) -> list[str]:
        """Each row's parameters as compact JSON ('' for none), as the sidecar stores them."""
        return [json.dumps(p, separators=(",", ":"), sort_keys=True) if p else "" for p in self.params]


def notebook_labels(meta: Meta, construction: Construction) -> np.ndarray:
    """The notebook's test labels: its hard-coded ranges where known, else the official ones
    shifted down by one file number (label of frame k = official label of frame k + 1)."""
    label = meta.label.copy()
    test = ~meta.train
    for clip in dict.fromkeys(meta.clips[test]):
        rows = np.flatnonzero(test & (meta.clips == clip))
        rows = rows[np.argsort(meta.index[rows], kind="stable")]
        n = meta.index[rows] + 1  # 1-based file number
        if construction.notebook_ranges is not None:
            number = int("".join(ch for ch in str(clip) if ch.isdigit()))
            if not 1 <= number <= len(construction.notebook_ranges):
                raise InputError(f"{construction.dataset}: no notebook range for test clip {clip}")
            ranges = construction.notebook_ranges[number - 1]
            label[rows] = [int(any(a <= k < b for a, b in ranges)) for k in n]
        else:
            official = dict(zip(n.tolist(), meta.label[rows].tolist()))
            label[rows] = [official.get(k + 1, 0) for k in n.tolist()]
    return label


def plan(construction: Construction | str, meta: Meta, *, labels: str = "official", seed: int = 0,
         shape: tuple[int, int] | None = None) -> Plan:
    """The rows of ``construction`` over the frames ``meta`` describes.

    shape : (h, w) of the source frames; random copies draw their parameters for it. None:
    no parameters are drawn (row counts only, :func:`predict_counts`).
    """
    c = get_construction(construction) if isinstance(construction, str) else construction
    if labels not in LABELS:
        raise InputError(f"unknown labels {labels!r}; valid: {', '.join(LABELS)}")
    if labels == "notebook" and not c.ranges_in_notebook:
        raise InputError(f"{c.dataset}: --labels notebook applies where the notebook hard-codes frame ranges "
                         "(UCSD); this dataset's notebook uses the official labels")
    if c.normal_train and not meta.train.any():
        raise InputError(f"{c.dataset}: the paper construction takes every training-clip frame as normal, "
                         "but no training clips were given (--train-source)")
    label = notebook_labels(meta, c) if labels == "notebook" else meta.label
    by_time = np.lexsort((meta.index, meta.clips.astype(str), ~meta.train))  # train first, then by clip, frame
    normal = [r for r in by_time if label[r] == 0 or meta.train[r]]
    abnormal = [r for r in by_time if label[r] == 1 and not meta.train[r]]
    if not abnormal:
        raise InputError(f"{c.dataset}: no abnormal frames to build the anomaly rows from")
    rows: list[tuple[int, int, str]] = [(r, 0, "original") for r in normal]
    if c.keep_originals:
        rows += [(r, 1, "original") for r in abnormal]
    if c.balance == "fill":
        need = len(normal) - len(abnormal) if c.keep_originals else len(normal)
        copies = [(r, 1, k) for r in abnormal for k in c.copies][:max(need, 0)]
        if len(copies) < need:
            raise InputError(f"{c.dataset}: {len(abnormal)} abnormal frames x {len(c.copies)} copies cannot "
                             f"balance {len(normal)} normal rows")
    elif c.balance == "ratio":
        rounds = len(normal) // len(abnormal)
        copies = [(r, 1, k) for r in abnormal for _ in range(rounds) for k in c.copies]
    else:
        raise InputError(f"{c.dataset}: unknown balance {c.balance!r}; valid: fill, ratio")
    rows += copies
    src = np.array([r for r, _, _ in rows], np.int64)
    augs = tuple(k for _, _, k in rows)
    gens = {k: gen(seed) for k, gen in augment.GENERATORS.items()}  # one seeded generator per kind
    params = tuple(augment.draw(k, gens.get(k), shape) if shape is not None and augment.is_random(k) else {}
                   for k in augs)
    return Plan(c, labels, seed, src, meta.clips[src], meta.index[src], np.array([y for _, y, _ in rows], np.int64),
                augs, params)


# ------------------------------------------------------------ from label files


def meta_from_labels(dataset: str, shared: str | os.PathLike) -> Meta:
    """The source metadata of ``dataset`` from its label file under ``shared/data`` and the
    registry (training clip lengths, published frame counts): no frames needed."""
    ds, c = get_dataset(dataset), get_construction(dataset)
    train = [(f"Train{k:03d}", i) for k, n in enumerate(ds.train_clip_lengths, 1) for i in range(n)]
    if c.frame_counts is not None:
        n0, n1 = c.frame_counts
        clips = np.array(["normal"] * n0 + ["abnormal"] * n1)
        index = np.r_[np.arange(n0), np.arange(n1)]
        label = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    else:
        path = Path(shared) / "data" / ds.labels_file
        try:
            with np.load(path) as d:
                video, index, label = (np.asarray(d[k]) for k in ("video", "frame", "label"))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"cannot read labels {path}: {exc}") from None
        clips = np.array([f"Test{int(v):03d}" for v in video])
        index, label = index.astype(np.int64), label.astype(np.int64)
    n = len(train)
    return Meta(np.r_[np.array([t for t, _ in train], dtype=str), clips].astype(str),
                np.r_[np.array([i for _, i in train], np.int64), index],
                np.r_[np.zeros(n, np.int64), label], np.r_[np.ones(n, bool), np.zeros(len(label), bool)])


def predict_counts(dataset: str, shared: str | os.PathLike, labels: str = "official") -> dict:
    """Rows of the authors' files for ``dataset`` as its construction predicts them from the
    label file alone (see :meth:`Plan.counts`)."""
    return plan(dataset, meta_from_labels(dataset, shared), labels=labels).counts()


# ------------------------------------------------------------------- frames


class ConstructedFrames(FrameSequence):
    """The rows of a :class:`Plan` over a frame source, decoded lazily with each row's copy."""

    def __init__(self, source: FrameSequence, plan_: Plan):
        self.source, self.plan = source, plan_
        super().__init__(source.dataset, plan_.clips.tolist(), plan_.index, plan_.label)

    def _image(self, i: int) -> np.ndarray:
        return augment.apply(self.plan.augmentation[i], self.source._image(int(self.plan.source[i])),
                             self.plan.params[i])

    def source_files(self) -> list[Path]:
        return self.source.source_files()


def build(construction: Construction | str, source: FrameSequence, train: np.ndarray, *,
          labels: str = "official", seed: int = 0) -> ConstructedFrames:
    """``construction`` over ``source`` (``train``: (n,) bool, the training-clip frames); clip
    ids become text. Decodes the first frame once for the random copies' shape."""
    meta = Meta(np.asarray(source.clips).astype(str), np.asarray(source.indices, np.int64),
                np.asarray(source.labels, np.int64), np.asarray(train, bool))
    shape = source._image(0).shape[:2] if len(source) else None
    return ConstructedFrames(source, plan(construction, meta, labels=labels, seed=seed, shape=shape))


def open_for(dataset: str, source: str | os.PathLike, train_source: str | os.PathLike | None = None,
             *, labels: str = "official", seed: int = 0) -> ConstructedFrames:
    """The paper construction of ``dataset`` over its test frames ``source`` and, for the
    UCSD sets, its training clips ``train_source`` (checked against the registry's clip lengths)."""
    from .sources import JoinedFrames, open_source

    c, ds = get_construction(dataset), get_dataset(dataset)
    test = open_source(source, dataset)
    if not c.normal_train:
        return build(c, test, np.zeros(len(test), bool), labels=labels, seed=seed)
    if train_source is None:
        raise InputError(f"{dataset}: the paper construction needs the training clips (--train-source): every "
                         f"Train frame is a normal row ({len(ds.train_clip_lengths)} clips, "
                         f"{sum(ds.train_clip_lengths)} frames)")
    train = open_source(train_source, dataset)
    if set(train.labels) - {0}:
        raise InputError(f"{train_source}: training clips must be all normal, found abnormal labels")
    found = tuple(train.clips.count(k) for k in dict.fromkeys(train.clips))
    if ds.train_clip_lengths and found != ds.train_clip_lengths:
        raise InputError(f"{train_source}: expected {len(ds.train_clip_lengths)} training clips of "
                         f"{list(ds.train_clip_lengths)} frames, found {len(found)} clips of {list(found)}")
    joined = JoinedFrames(train, test)
    return build(c, joined, joined.train, labels=labels, seed=seed)
