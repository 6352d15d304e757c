"""Chance references for the statistics of :mod:`.stats`: the base-rate scorer and a clip-level
label-permutation null (issue 21, item 2).

Both are computed the same way as the statistic they stand beside, on the same items, folds
and runs, so a reader compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from ..registry import lookup
from .rocauc import as_labels
from .stats import (ROW_BLOCK, STATISTICS, Scores, as_count, as_level, as_rng, evaluate, percentile_interval,
                    statistic)


def base_rate_scores(t: Scores, train_share: Mapping) -> np.ndarray:
    """(n,) the scores of the base-rate scorer: every item of unit (run, fold) scores the class-1
    share of that unit's training set, a constant per fitted model.

    train_share : ``{(run, fold): share in [0, 1]}`` for every (run, fold) of ``t``.
    ``t.with_scores(base_rate_scores(t, share))`` then gives each statistic's base-rate reference:
    0.5 exactly for ``mean_fold_auc``, ``rank_pooled_auc`` and ``within_clip_auc`` (constant within
    a fold), and below 0.5 for ``raw_pooled_auc`` where a fold's test class-1 share and its
    training share move in opposite directions, as they do in a k-fold over a fixed set of clips.
    """
    run, fold, code, _ = t.units
    missing = [(int(r), int(f)) for r, f in zip(run, fold) if (int(r), int(f)) not in train_share]
    if missing:
        raise InputError(f"train_share lacks {len(missing)} (run, fold) units of the table, e.g. {missing[:3]}")
    share = np.array([train_share[(int(r), int(f))] for r, f in zip(run, fold)], dtype=np.float64)
    bad = ~np.isfinite(share) | (share < 0) | (share > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"train_share must be a share in [0, 1]; unit (run {run[i]}, fold {fold[i]}) "
                         f"has {share[i].item()!r}")
    return share[code]


@dataclass(frozen=True)
class _Bank:
    """Every clip's frame labels end to end, in ``t.clips`` order."""

    labels: np.ndarray  # (sum of lengths,) 0/1
    offset: np.ndarray  # (C,) where each clip's labels start
    length: np.ndarray  # (C,) frames per clip


def _bank(t: Scores, clip_labels: Mapping) -> _Bank:
    missing = [c for c in t.clips.tolist() if c not in clip_labels]
    if missing:
        raise InputError(f"clip_labels lacks {len(missing)} clips of the table, e.g. {missing[:3]}")
    vecs = [as_labels(clip_labels[c], f"clip_labels[{c!r}]") for c in t.clips.tolist()]
    length = np.array([len(v) for v in vecs], np.int64)
    over = t.index >= length[t.clip_code]
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise InputError(f"item {i} of clip {t.clip[i].item()!r} has index {t.index[i]}, past the clip's "
                         f"{length[t.clip_code[i]]} frame labels in clip_labels ({int(over.sum())} such items)")
    bank = _Bank(np.concatenate(vecs), np.r_[0, np.cumsum(length)[:-1]], length)
    # The identity permutation must give back the table's labels, or items and labels are misaligned.
    wrong = bank.labels[bank.offset[t.clip_code] + t.index] != t.label
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise InputError(f"label of item {i} (clip {t.clip[i].item()!r}, index {t.index[i]}) is {t.label[i]}, but "
                         f"clip_labels gives {1 - t.label[i]} ({int(wrong.sum())} such items): pass the labels the "
                         "table was scored against")
    return bank


def _labels_under(t: Scores, bank: _Bank, perms: np.ndarray) -> np.ndarray:
    donor = perms[:, t.clip_code]  # (B, n) the clip each item borrows its label from
    span = np.maximum(bank.length[t.clip_code] - 1, 1)  # (n,) a one-frame clip maps to frame 0
    # nearest donor frame at the same relative position: round(index * (L_donor - 1) / (L_own - 1)),
    # halves up, in integers so that equal lengths give the index back exactly
    pos = (2 * t.index * (bank.length[donor] - 1) + span) // (2 * span)
    return bank.labels[bank.offset[donor] + pos]


def permuted_labels(t: Scores, clip_labels: Mapping, perms) -> np.ndarray:
    """(B, n) item labels when clip ``t.clips[c]`` takes the frame labels of clip ``t.clips[perms[b, c]]``.

    clip_labels : ``{clip: array of shape (n_frames,)}``, every frame label of each clip of ``t``.
    perms : array of shape (B, C), each row a permutation of ``range(len(t.clips))``.
    Item (c, index) gets the donor's label at the same relative position: the donor frame
    nearest to ``index * (L_donor - 1) / (L_c - 1)``.
    """
    perms = np.asarray(perms)
    C = len(t.clips)
    if perms.ndim != 2 or perms.shape[1] != C or (np.sort(perms, axis=1) != np.arange(C)).any():
        raise InputError(f"perms must be an array of shape (B, {C}) whose rows permute range({C}), "
                         f"got shape {perms.shape}")
    return _labels_under(t, _bank(t, clip_labels), perms)


@dataclass(frozen=True, eq=False)
class NullBand:
    """The chance band of a statistic: its distribution under clip-level label permutations."""

    statistic: str
    observed: float  # the statistic with the true labels
    mean: float  # mean of the defined null values
    low: float  # percentiles (1 - level) / 2 and (1 + level) / 2 of the defined null values
    high: float
    level: float
    n_permutations: int
    n_undefined: int  # permutations where the statistic is undefined: left out
    p_value: float  # (1 + #{null >= observed}) / (1 + defined permutations), one-sided
    distribution: np.ndarray  # (n_permutations,) NaN where undefined

    def to_dict(self) -> dict[str, Any]:
        keys = ("statistic", "observed", "mean", "low", "high", "level", "n_permutations", "n_undefined", "p_value")
        return {k: getattr(self, k) for k in keys}


def permutation_null(t: Scores, clip_labels: Mapping, name: str = "mean_fold_auc", *, n_permutations: int = 200,
                     level: float = 0.95, rng=0) -> NullBand:
    """Chance band of statistic ``name`` from permuting labels between the table's test clips.

    Each permutation draws a uniformly random permutation pi of the test clips (the same for
    every run and fold); item (c, index) takes the label clip pi(c) has at the same relative
    position (see :func:`permuted_labels`), from each clip's full frame-label vector
    ``clip_labels``; the scores stay fixed and the statistic is recomputed on the same folds.

    This is the *cheaper surrogate* of issue 21 item 2: the fold models are not retrained on
    the permuted labels, so the band is the statistic's chance spread for these scores given
    the clips' label structure (how many abnormal frames each clip holds, in runs of how long,
    where in the clip), not the spread of retrained heads. Two consequences a reader should
    know: a permutation with fixed points (pi(c) = c, one expected per permutation) leaves
    those clips their own labels, so on informative scores the null mean sits above 0.5 by
    about (observed - 0.5) / C; and where abnormal frames sit at the same relative position in
    every clip, the borrowed labels agree with the true ones, so a scorer of "position in clip"
    lands inside the band.
    """
    lookup(STATISTICS, name, "statistic")
    as_level(level)
    n_permutations = as_count(n_permutations, "n_permutations")
    bank = _bank(t, clip_labels)
    gen = as_rng(rng)
    perms = np.argsort(gen.random((n_permutations, len(t.clips))), axis=1)  # uniform permutations, one per row
    step = max(1, ROW_BLOCK // len(t))
    dist = np.concatenate([evaluate(t, name, labels=_labels_under(t, bank, perms[i:i + step]))
                           for i in range(0, n_permutations, step)])
    observed = statistic(t, name)
    ok = dist[np.isfinite(dist)]
    p = float((1 + np.sum(ok >= observed)) / (1 + len(ok))) if np.isfinite(observed) else float("nan")
    return NullBand(name, observed, float(ok.mean()) if len(ok) else float("nan"),
                    *percentile_interval(dist, level), level, n_permutations, len(dist) - len(ok), p, dist)
