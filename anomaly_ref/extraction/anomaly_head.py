"""A frame-level anomaly classifier on a backbone's pooled features, for Grad-CAM++ to explain.

Normal vs abnormal frames of a labelled test set, cross-fitted by whole clips: the clips
are split into folds (by default two: odd and even clip numbers); fold ``f``'s head is
fitted on the frames of the other folds' clips and maps only the frames of its own
clips, which it has not seen. Each head is scikit-learn's ``StandardScaler`` +
``LogisticRegression`` (``class_weight="balanced"``: Ped2's test frames are 82%
abnormal), folded into one ``nn.Linear(D, 1)`` row, so the map's gradients flow from the
abnormal log-odds through the backbone. All folds' rows sit in one ``nn.Linear(D, F)``;
a frame's target is its fold's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Fold:
    """One head: the clips it maps (held out) and how well it separates their frames."""

    test_clips: tuple  # clip ids whose frames this head scores and maps
    train_clips: tuple  # clip ids whose frames fitted it
    n_train: int  # frames fitted
    n_train_abnormal: int
    n_test: int
    test_auc: float | None  # frame-level ROC-AUC on the held-out clips (None: one class only)


def parity_folds(clips: Sequence) -> list[tuple]:
    """Two folds of clip ids: odd and even clip numbers (a clip's number decides its fold)."""
    ids = sorted({int(c) for c in clips})
    folds = [tuple(c for c in ids if c % 2 == 1), tuple(c for c in ids if c % 2 == 0)]
    if not all(folds):
        raise InputError(f"clips {ids}: cross-fitting by clip parity needs both odd and even clip numbers")
    return folds


def fit_heads(X: np.ndarray, y: np.ndarray, clips: Sequence, folds: Sequence[tuple], *, C: float = 1.0,
              random_state: int = 0) -> tuple["torch.nn.Linear", list[Fold]]:
    """Fit one logistic head per fold on the other folds' clips.

    X : (n, D) pooled features; y : (n,) 0/1 labels; clips : (n,) clip id per row.
    Returns ``nn.Linear(D, F)`` whose output ``f`` is fold ``f``'s abnormal log-odds, and
    the folds' descriptions.
    """
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    clip_ids = np.asarray([int(c) for c in clips])
    if not (len(X) == len(y) == len(clip_ids)):
        raise InputError(f"features, labels and clips differ in length ({len(X)}, {len(y)}, {len(clip_ids)})")
    weights, biases, out = [], [], []
    for test in folds:
        held = np.isin(clip_ids, test)
        train = ~held
        if len(set(y[train].tolist())) < 2:
            raise InputError(f"the clips outside {test} hold only one class: no head can be fitted for that fold")
        scaler = StandardScaler().fit(X[train])
        lr = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=random_state)
        lr.fit(scaler.transform(X[train]), y[train])
        # (x - mu) / s . w + b  ==  x . (w / s) + (b - sum(w mu / s))
        w = lr.coef_[0] / scaler.scale_
        b = lr.intercept_[0] - float(np.sum(w * scaler.mean_))
        weights.append(w)
        biases.append(b)
        auc = roc_auc_score(y[held], X[held] @ w + b) if len(set(y[held].tolist())) == 2 else None
        out.append(Fold(tuple(test), tuple(sorted(set(clip_ids[train].tolist()))), int(train.sum()),
                        int(y[train].sum()), int(held.sum()), None if auc is None else float(auc)))
    head = torch.nn.Linear(X.shape[1], len(folds))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.stack(weights)))
        head.bias.copy_(torch.tensor(biases, dtype=torch.float64))
    return head.eval(), out


def fold_of(clip, folds: Sequence[tuple]) -> int:
    """Index of the fold whose held-out clips include ``clip``."""
    for f, test in enumerate(folds):
        if int(clip) in test:
            return f
    raise InputError(f"clip {clip} is in no fold {list(folds)}")
