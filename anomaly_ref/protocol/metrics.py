"""Metrics of one run and their summary over runs (PROTOCOL §6), via scikit-learn."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from ..errors import InputError
from ..registry import METRICS
from ..valuefmt import format_value

THRESHOLD = 0.5  # predicted label = probability > 0.5 (strictly greater, as the notebooks)


def binary_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (``zero_division=0``) and ROC-AUC of one run.

    y_true : array of shape (n,) with values in {0, 1}
    proba : array of shape (n,), predicted probability of class 1
    ROC-AUC is NaN when ``y_true`` holds a single class (undefined, not an error).
    """
    y_true = np.asarray(y_true).ravel()
    proba = np.asarray(proba, dtype=np.float64).ravel()
    if len(y_true) != len(proba):
        raise InputError(
            f"Found input variables with inconsistent numbers of samples: y_true has {len(y_true)}, "
            f"proba has {len(proba)}"
        )
    if len(y_true) == 0:
        raise InputError("cannot score an empty test split")
    y_pred = (proba > threshold).astype(int)
    out = {
        "accuracy": accuracy_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred, zero_division=0),
        "recall": recall_score(y_true, y_pred, zero_division=0),
        "f1": f1_score(y_true, y_pred, zero_division=0),
        "roc_auc": roc_auc_score(y_true, proba) if len(np.unique(y_true)) == 2 else float("nan"),
    }
    return {k: float(out[k]) for k in METRICS}


def summarize(runs: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """``{metric: (mean, population std)}`` over runs, ``np.std`` with ddof=0 as the notebooks."""
    if not runs:
        raise InputError("no runs to summarise")
    return {m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs]))) for m in METRICS}


def format_summary(summary: Mapping[str, tuple[float, float]], model: str, n_runs: int) -> str:
    """The notebooks' printed block, one line per metric, as in the workbooks."""
    lines = [f"==== Summary for {model} (over {n_runs} runs) ===="]
    lines += [f"{METRICS[m].label}: {format_value(*summary[m])}" for m in METRICS]
    return "\n".join(lines)
