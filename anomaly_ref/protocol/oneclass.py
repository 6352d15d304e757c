"""The field's standard protocol: one-class scorers fit on normal training frames only.

Anomaly detectors are trained on normal video and tested on the test videos, frame-level
ROC-AUC over all test frames pooled (PROTOCOL §10). The paper's heads are binary
classifiers and cannot be trained without anomalies, so this rung scores the same backbone
features with one-class scorers (``registry.SCORERS``):

- ``knn``: Euclidean distance to the k-th nearest normal training frame (scikit-learn);
- ``mahalanobis``: squared Mahalanobis distance to a Gaussian of the normal training
  frames, covariance with Ledoit-Wolf shrinkage (scikit-learn ``LedoitWolf``).

Scores may be smoothed in time inside each clip (a Gaussian of ``smooth`` frames). The
threshold for the thresholded metrics (accuracy, precision, recall, F1) comes from the
training frames alone: the ``threshold_quantile`` of their leave-one-clip-out scores.
Nothing here ever sees a test frame while fitting.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from ..registry import get_scorer
from .features import FrameFeatures
from .metrics import binary_metrics
from .records import ProtocolResult, RunResult, frame_scores

Score = Callable[[np.ndarray], np.ndarray]  # (m, D) frames -> (m,) anomaly scores


@dataclass(frozen=True)
class OneClassConfig:
    knn_k: int = 1  # neighbours of the knn scorer (distance to the k-th)
    smooth: float = 0.0  # Gaussian sigma in frames for smoothing inside each clip; 0 = off
    threshold_quantile: float = 0.95  # of leave-one-clip-out training scores -> the label threshold

    def __post_init__(self):
        if self.knn_k < 1:
            raise InputError(f"knn k must be >= 1, found {self.knn_k}")
        if self.smooth < 0:
            raise InputError(f"smooth must be >= 0 frames, found {self.smooth}")
        if not 0 < self.threshold_quantile < 1:
            raise InputError(f"threshold quantile must be in (0, 1), found {self.threshold_quantile}")


def scorer_name(scorer: str, config: OneClassConfig) -> str:
    """The name a scorer's results carry: ``knn1``, ``mahalanobis``, ``knn1-smooth5``."""
    name = f"knn{config.knn_k}" if get_scorer(scorer).name == "knn" else scorer
    return f"{name}-smooth{config.smooth:g}" if config.smooth else name


def fit_scorer(scorer: str, train: np.ndarray, config: OneClassConfig) -> Score:
    """Fit ``scorer`` on normal frames ``train`` (n, D); return a scoring function."""
    spec = get_scorer(scorer)
    train = np.asarray(train, dtype=np.float64)
    if spec.name == "knn":
        from sklearn.neighbors import NearestNeighbors

        if len(train) < config.knn_k:
            raise InputError(f"knn with k={config.knn_k} needs at least {config.knn_k} training frames, found {len(train)}")
        nn = NearestNeighbors(n_neighbors=config.knn_k, algorithm="brute").fit(train)
        return lambda X: nn.kneighbors(np.asarray(X, dtype=np.float64))[0][:, -1]
    if spec.name == "mahalanobis":
        from sklearn.covariance import LedoitWolf

        gauss = LedoitWolf().fit(train)
        return lambda X: gauss.mahalanobis(np.asarray(X, dtype=np.float64))
    raise NotImplementedError(f"scorer {spec.name!r} is registered but has no implementation")


def smooth_in_clips(scores: np.ndarray, data: FrameFeatures, sigma: float) -> np.ndarray:
    """``scores`` (N,) smoothed with a Gaussian of ``sigma`` frames inside each clip, in time
    order; frames of different clips never mix. ``sigma == 0`` returns them as they are."""
    if not sigma:
        return scores
    from scipy.ndimage import gaussian_filter1d

    order = data.temporal_order()
    codes = data.clip_codes()[order]
    out = np.empty_like(scores, dtype=np.float64)
    bounds = np.flatnonzero(np.diff(codes)) + 1
    for rows in np.split(order, bounds):
        out[rows] = gaussian_filter1d(scores[rows].astype(np.float64), sigma, mode="nearest")
    return out


def minmax_in_clips(scores: np.ndarray, data: FrameFeatures) -> np.ndarray:
    """``scores`` (N,) min-max scaled to [0, 1] inside each clip (a constant clip: all 0).

    Liu et al. (CVPR 2018, ``Codes/evaluate.py``) scale each test video this way before pooling
    (they also drop its first 4 frames; not done here). It reads each test clip's own score
    range (no labels), so a figure under it is not the field's plain pooled one."""
    scores = np.asarray(scores, np.float64)
    out = np.empty(len(scores), np.float64)
    codes = data.clip_codes()
    for c in np.unique(codes):
        rows = codes == c
        v = scores[rows]
        span = v.max() - v.min()
        out[rows] = (v - v.min()) / span if span > 0 else 0.0
    return out


def loco_scores(scorer: str, train: FrameFeatures, config: OneClassConfig) -> np.ndarray:
    """Leave-one-clip-out scores of the training frames: each clip scored by a scorer fit on
    the other clips (how unseen normal video scores), smoothed like test scores."""
    codes = train.clip_codes()
    if len(np.unique(codes)) < 2:
        raise InputError("the standard protocol's threshold needs at least 2 training clips")
    out = np.empty(len(codes))
    for c in np.unique(codes):
        held = codes == c
        out[held] = fit_scorer(scorer, train.X[~held], config)(train.X[held])
    return smooth_in_clips(out, train, config.smooth)


def exact_shared_rows(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the rows of ``b`` that equal some row of ``a`` byte for byte."""
    seen = {row.tobytes() for row in np.ascontiguousarray(a)}
    return float(np.mean([row.tobytes() in seen for row in np.ascontiguousarray(b)])) if len(b) else 0.0


def run_standard(test: FrameFeatures, train: FrameFeatures, scorer: str,
                 config: OneClassConfig = OneClassConfig()) -> ProtocolResult:
    """Fit ``scorer`` on ``train`` (normal training clips), score every frame of ``test``.

    test : frames of the test clips with labels and clip ids; train : frames of the normal
    training clips with clip ids (labels must all be 0). One deterministic run.
    """
    t0 = time.perf_counter()
    if train.clips is None or test.clips is None:
        raise InputError("the standard protocol needs clip ids for the training and the test frames")
    if np.any(train.y != 0):
        raise InputError(f"the standard protocol trains on normal frames only; {int(np.sum(train.y != 0))} training frames are labelled abnormal")
    if train.X.shape[1] != test.X.shape[1]:
        raise InputError(f"training features have dim {train.X.shape[1]}, test features {test.X.shape[1]}: not the same backbone")
    scores = smooth_in_clips(fit_scorer(scorer, train.X, config)(test.X), test, config.smooth)
    threshold = float(np.quantile(loco_scores(scorer, train, config), config.threshold_quantile))
    metrics = binary_metrics(test.y, scores, threshold=threshold)  # ROC-AUC on the raw scores
    run = RunResult(
        run=0, split_seed=0, model_seed=0, metrics=metrics, n_train=len(train.X), n_test=len(test.X),
        epochs=0, best_epoch=None, stopped_epoch=None, weights_epoch=None,
        seconds=round(time.perf_counter() - t0, 3), monitor="none", n_val=0,
        test_frames_in_train=exact_shared_rows(train.X, test.X),
    )
    cfg = {**asdict(config), "scorer": scorer, "threshold": threshold, "n_train_clips": int(len(np.unique(train.clip_codes())))}
    n = len(test.y)
    table = {"run": np.zeros(n, np.int64), "fold": np.zeros(n, np.int64), "row": np.arange(n), "label": test.y,
             "score": np.asarray(scores, np.float64), "train_share": np.zeros(n)}  # trained on normal frames only
    return ProtocolResult("standard", scorer_name(scorer, config), cfg, [run], scores=frame_scores(table, test))
