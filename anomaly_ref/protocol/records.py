"""What a protocol run records: per fold, per run, per (protocol, head) — plain data.

Shared by the supervised runner (:mod:`.runner`) and the one-class scorers
(:mod:`.oneclass`); ``ProtocolResult.to_dict()`` is the shape of a ``reproduce --out`` entry
and of an ``audit.json`` result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .metrics import summarize


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
