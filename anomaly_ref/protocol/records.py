"""What a protocol run records: per fold, per run, per (protocol, head) — plain data.

Shared by the supervised runner (:mod:`.runner`) and the one-class scorers
(:mod:`.oneclass`); ``ProtocolResult.to_dict()`` is the shape of a ``reproduce --out`` entry
and of an ``audit.json`` result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .metrics import summarize

if TYPE_CHECKING:
    from .features import FrameFeatures


@dataclass
class FoldResult:
    """One fit of a k-fold run: its sizes, epochs, test clips and metrics."""

    fold: int
    model_seed: int
    test_clips: list
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    best_epoch: int | None
    stopped_epoch: int | None
    weights_epoch: int | None
    test_frames_in_train: float
    test_frames_in_val: float
    test_classes: list[int]  # [normal, abnormal] test windows: a one-class fold has no ROC-AUC
    metrics: dict[str, float]
    train_classes: list[int] | None = None  # [normal, abnormal] training windows (the fold's base rate)


@dataclass
class RunResult:
    run: int
    split_seed: int
    model_seed: int
    metrics: dict[str, float]  # on the test split (k-fold: on the pooled out-of-fold predictions)
    n_train: int  # k-fold: summed over folds
    n_test: int  # k-fold: every window, each scored once
    epochs: int  # k-fold: the most of any fold
    best_epoch: int | None  # k-fold: see folds
    stopped_epoch: int | None
    weights_epoch: int | None  # the epoch whose weights were scored
    seconds: float
    monitor: str = "test"  # what early stopping watched: "test" (the paper) or "val"
    n_val: int = 0  # windows early stopping watched (the test windows themselves under "test")
    # Share of the test windows' frames that also sit in a training window (k-fold: mean
    # over folds): the frame-level overlap a random split of overlapping windows leaves.
    test_frames_in_train: float | None = None
    # The same share for the windows early stopping watched (1.0 where it watches the test split).
    test_frames_in_val: float | None = None
    folds: list[FoldResult] = field(default_factory=list)


@dataclass
class ProtocolResult:
    protocol: str
    head: str
    config: dict[str, Any]
    runs: list[RunResult]
    # The out-of-fold score of every scored item (window or frame) as columns of equal length:
    # run, fold, label, score, train_share (the fold's training base rate), clip, frame, copy,
    # origin. Not in to_dict(): the audit writes it to scores.csv.gz.
    scores: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def summary(self) -> dict[str, tuple[float, float]]:
        return summarize([r.metrics for r in self.runs])

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "head": self.head,
            "config": self.config,
            "runs": [asdict(r) for r in self.runs],
            "summary": {m: {"mean": mu, "std": sd} for m, (mu, sd) in self.summary.items()},
        }


def frame_scores(table: dict[str, np.ndarray], data: "FrameFeatures") -> dict[str, np.ndarray]:
    """A score table (``run``, ``fold``, ``row``: the frame of ``data`` an item is labelled by,
    ``label``, ``score``) with each item's clip, frame index, copy and origin added."""
    rows = table["row"]
    n = len(rows)
    pick = (lambda a, fill: np.full(n, fill) if a is None else np.asarray(a)[rows])  # noqa: E731
    out = {k: v for k, v in table.items() if k != "row"}
    out.update(clip=pick(data.clips, ""), frame=pick(data.index, -1), copy=pick(data.copies, "original"),
               origin=pick(data.origin, "test"))
    return out
