"""ROC-AUC as a weighted Mann-Whitney statistic, for many weight or label vectors at once.

ROC-AUC = sum over class-1 items i and class-0 items j of ``w_i w_j ([s_i > s_j] + [s_i = s_j] / 2)``
divided by ``(sum_{class 1} w)(sum_{class 0} w)``: the trapezoidal area under the weighted ROC
curve, i.e. scikit-learn's ``roc_auc_score(y, s, sample_weight=w)``. After one sort of the
scores, B weight (or label) vectors cost B cumulative sums: what makes a 1,000-resample clip
bootstrap over a few thousand items cheap (:mod:`.stats`). The kernels also compute it per
group (fold, run, clip) in the same pass, and the items' mid-rank percentiles inside groups.

Also the input checks shared by :mod:`.stats` and :mod:`.nulls`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import InputError

# ------------------------------------------------------------------ input checks


def as_vector(a, name: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise InputError(f"{name} must be an array of shape (n,), got shape {a.shape}")
    if n is not None and len(a) != n:
        raise InputError(
            f"Found input variables with inconsistent numbers of samples: {name} has {len(a)}, expected {n}")
    return a


def bad_value(a: np.ndarray, bad: np.ndarray, name: str, what: str) -> InputError:
    """The error for the first flagged entry of ``a``: where it is, what it is, how many more."""
    i = int(np.flatnonzero(bad)[0])
    v = a[i].item() if isinstance(a[i], np.generic) else a[i]  # 2, not np.int64(2)
    return InputError(f"{name} must hold {what}; found {v!r} at position {i} ({int(bad.sum())} such values)")


def as_labels(y, name: str, n: int | None = None) -> np.ndarray:
    y = as_vector(y, name, n)
    bad = ~np.isin(y, (0, 1)) if y.dtype.kind in "biuf" else np.ones(len(y), bool)
    if bad.any():
        raise bad_value(y, bad, name, "labels 0/1")
    return y.astype(np.int8)


def as_finite(a, name: str, n: int | None = None) -> np.ndarray:
    a = as_vector(a, name, n)
    if a.dtype.kind not in "biuf":
        raise InputError(f"{name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise bad_value(a, ~np.isfinite(a), name, "finite values")
    return a


def as_ints(a, name: str, n: int | None = None) -> np.ndarray:
    a = as_vector(a, name, n)
    if a.dtype.kind == "f" and np.isfinite(a).all() and (a == np.round(a)).all():
        a = a.astype(np.int64)  # integral floats, as a CSV reader may give
    if a.dtype.kind not in "iu":
        raise InputError(f"{name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def as_weights(W, name: str, n: int) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] != n:
        raise InputError(f"{name} must be an array of shape (B, {n}), got shape {W.shape}")
    bad = ~np.isfinite(W) | (W < 0)
    if bad.any():
        raise bad_value(W.ravel(), bad.ravel(), name, "finite non-negative weights")
    return W


# ------------------------------------------------------------------ kernels


class Sorted(NamedTuple):
    """One sort of a score vector within groups: items by (group, score); equal (group, score)
    items form a tie block."""

    order: np.ndarray  # (n,) item indices in sorted order
    starts: np.ndarray  # (K,) position in ``order`` of each tie block's first item
    gstarts: np.ndarray  # (G,) first tie block of each group
    gsizes: np.ndarray  # (G,) tie blocks per group
    block: np.ndarray  # (n,) tie block of each item of ``order``


def sort_groups(s: np.ndarray, groups: np.ndarray) -> Sorted:
    """s : scores (n,); groups : dense codes 0..G-1 (n,), every code present, so that column
    g of the kernels' (B, G) results is group g."""
    order = np.lexsort((s, groups))
    g, v = groups[order], s[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (v[1:] != v[:-1])]
    starts = np.flatnonzero(new)
    bg = g[starts]
    gstarts = np.flatnonzero(np.r_[True, bg[1:] != bg[:-1]])
    return Sorted(order, starts, gstarts, np.diff(np.r_[gstarts, len(starts)]), np.cumsum(new) - 1)


def _below(srt: Sorted, Xb: np.ndarray) -> np.ndarray:
    """(B, K) weight in the earlier tie blocks of the same group, from per-block weights (B, K)."""
    below = np.cumsum(Xb, axis=1) - Xb
    return below - np.repeat(below[:, srt.gstarts], srt.gsizes, axis=1)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0 (a class, or a group, with no weight)."""
    ok = den > 0
    return np.where(ok, num / np.where(ok, den, 1), np.nan)


def group_auc(srt: Sorted, P: np.ndarray, N: np.ndarray) -> np.ndarray:
    """(B, G) ROC-AUC of every group, from class-1 weights ``P`` and class-0 weights ``N`` (B, n).

    Per tie block b: its class-1 weight beats the class-0 weight of the group's earlier
    blocks and half of its own.
    """
    Pb = np.add.reduceat(P[:, srt.order], srt.starts, axis=1)
    Nb = np.add.reduceat(N[:, srt.order], srt.starts, axis=1)
    num = np.add.reduceat(Pb * (_below(srt, Nb) + 0.5 * Nb), srt.gstarts, axis=1)
    pos = np.add.reduceat(Pb, srt.gstarts, axis=1)
    neg = np.add.reduceat(Nb, srt.gstarts, axis=1)
    return ratio(num, pos * neg)


def row_auc(S: np.ndarray, P: np.ndarray, N: np.ndarray) -> np.ndarray:
    """(B,) ROC-AUC where the scores too vary by row: S, P, N of shape (B, m), one sort per row."""
    order = np.argsort(S, axis=1, kind="stable")
    order += np.arange(len(S))[:, None] * S.shape[1]  # flat positions: np.take is ~2x take_along_axis
    S, P, N = (np.take(a, order) for a in (S, P, N))
    step = S[:, 1:] != S[:, :-1]
    edge = np.ones((len(S), 1), bool)
    cum = np.cumsum(N, axis=1)
    # Cumulative class-0 weight is non-decreasing, so a running max carries each tie block's
    # value before its first item forward, and a reversed running min its value at its last
    # item backward: the weight below the block and below-or-in it, for every item.
    below = np.maximum.accumulate(np.where(np.hstack([edge, step]), cum - N, 0.0), axis=1)
    upto = np.minimum.accumulate(np.where(np.hstack([step, edge]), cum, np.inf)[:, ::-1], axis=1)[:, ::-1]
    return ratio((P * (below + upto)).sum(axis=1) / 2, P.sum(axis=1) * cum[:, -1])


def percentiles(srt: Sorted, W: np.ndarray, in_order: bool = False) -> np.ndarray:
    """(B, n) each item's weighted mid-rank percentile inside its group: (group weight strictly
    below + half the weight tied with it) / group weight, 0 where the group weighs nothing.
    With unit weights this is ``(rank - 0.5) / n_group``, ties at their mean rank; integer
    weights keep it exact, so equal percentiles in different groups compare as ties.
    ``in_order``: columns in the sorted order ``srt.order`` rather than the items' own.
    """
    Wb = np.add.reduceat(W[:, srt.order], srt.starts, axis=1)
    total = np.repeat(np.add.reduceat(Wb, srt.gstarts, axis=1), srt.gsizes, axis=1)
    pct = np.nan_to_num(ratio(_below(srt, Wb) + 0.5 * Wb, total))[:, srt.block]
    if in_order:
        return pct
    out = np.empty(W.shape)
    out[:, srt.order] = pct
    return out


# ------------------------------------------------------------------ public


def auc_many(y, s, W) -> np.ndarray:
    """ROC-AUC of scores ``s`` under each of B item-weight vectors, after one sort of ``s``.

    y : array of shape (n,), labels 0/1
    s : array of shape (n,), scores (higher = class 1)
    W : array of shape (B, n), non-negative item weights (e.g. one bootstrap resample per row)
    Returns an array of shape (B,): the weighted Mann-Whitney statistic of the module doc,
    NaN in a row where one class has zero total weight.
    """
    s = as_finite(s, "s")
    y = as_labels(y, "y", len(s))
    W = as_weights(W, "W", len(s))
    if len(s) == 0:
        return np.full(len(W), np.nan)
    return group_auc(sort_groups(s, np.zeros(len(s), np.int64)), W * y, W * (1 - y))[:, 0]


def auc(y, s, w=None) -> float:
    """ROC-AUC, ties counted 1/2, with optional non-negative item weights.

    y, s, w : arrays of shape (n,). Equals ``sklearn.metrics.roc_auc_score(y, s, sample_weight=w)``
    where that is defined; NaN (not an error) where one class has zero total weight.
    """
    s = as_finite(s, "s")
    W = np.ones((1, len(s))) if w is None else as_weights(as_finite(w, "w", len(s))[None], "w", len(s))
    return float(auc_many(y, s, W)[0])
