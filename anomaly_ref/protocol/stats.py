"""ROC-AUC statistics of out-of-fold scores and their clip-bootstrap intervals (issue 21; CONVENTIONS §12).

An *item* is one scored window or frame. A :class:`Scores` table holds, per item, its ``run``,
``fold`` (0 for single-split rungs), test ``clip``, frame ``index`` inside the clip (of the
frame that gives the item its label), ``label`` (0/1) and ``score``. A *unit* is one
(run, fold): one fitted model. Runs are independent partitions, so each statistic is the
mean over runs of one value per run (runs where it is undefined left out):

- ``mean_fold_auc`` — per run, the mean ROC-AUC of its folds that hold both classes (folds
  with one class are skipped; :func:`fold_aucs` counts them);
- ``rank_pooled_auc`` — per run, each fold's scores replaced by their mid-rank percentile
  ``(rank - 0.5) / n_fold`` (ties at their mean rank), then one ROC-AUC over the run's items;
- ``raw_pooled_auc`` — per run, one ROC-AUC over the run's raw scores of all folds. Biased
  where fold models are calibrated differently (k folds trained at different class ratios:
  a scorer of each fold's training base rate lands below 0.5); kept for comparison only;
- ``within_clip_auc`` — per run, the mean over clips that hold both classes of the ROC-AUC
  over the clip's items.

ROC-AUC ties count 1/2 (:mod:`.rocauc`). Intervals: :func:`bootstrap` resamples test clips;
:func:`paired_difference` compares two tables on the same clip draws. Chance references:
:mod:`.nulls`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from ..errors import InputError
from ..registry import lookup
from .rocauc import (as_finite, as_ints, as_labels, as_vector, as_weights, auc, auc_many, bad_value, group_auc,
                     percentiles, ratio, row_auc, sort_groups)

__all__ = ["COLUMNS", "STATISTICS", "Scores", "FoldAUCs", "Interval", "Difference", "Spread", "auc", "auc_many",
           "fold_aucs", "rank_percentiles", "within_clip_aucs", "evaluate", "statistic", "per_run", "clip_resamples",
           "bootstrap", "paired_difference", "spread", "as_rng", "as_count", "as_level", "percentile_interval",
           "ROW_BLOCK"]

COLUMNS = ("run", "fold", "clip", "index", "label", "score")
STATISTICS = {  # name -> how a table labels it
    "mean_fold_auc": "mean per-fold AUC",
    "rank_pooled_auc": "rank-pooled AUC",
    "raw_pooled_auc": "raw pooled AUC",
    "within_clip_auc": "within-clip AUC",
}
ROW_BLOCK = 1 << 22  # elements of one (B, n) weight block (32 MB of float64): bounds memory at large B


def as_rng(rng) -> np.random.Generator:
    """A numpy Generator from a Generator or an int seed. None is refused: it would draw from
    OS entropy, and every interval must be reproducible from its seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise InputError(f"rng must be a numpy Generator or an int seed, got {rng!r}")


# ------------------------------------------------------------------ the table


@dataclass(frozen=True, eq=False)
class Scores:
    """Out-of-fold scores of one rung x head: six columns, each an array of shape (n,).

    run : int; fold : int (0 for single-split rungs); clip : test clip id (all str or all int);
    index : int >= 0, frame index inside its clip of the frame that labels the item;
    label : 0/1; score : finite float, higher = class 1 (abnormal).
    Columns are validated and copied read-only on construction.
    """

    run: np.ndarray
    fold: np.ndarray
    clip: np.ndarray
    index: np.ndarray
    label: np.ndarray
    score: np.ndarray

    def __post_init__(self):
        n = len(as_vector(self.score, "score"))
        if n == 0:
            raise InputError("score is empty: a statistic needs at least one scored item")
        clip = as_vector(self.clip, "clip", n)
        if clip.dtype.kind not in "iuUO":
            raise InputError(f"clip must hold str or int clip ids, got dtype {clip.dtype}")
        try:
            np.unique(clip)
        except TypeError as e:  # mixed str / int ids cannot be ordered
            raise InputError(f"clip ids must be all str or all int: {e}") from None
        cols = {"run": as_ints(self.run, "run", n), "fold": as_ints(self.fold, "fold", n), "clip": clip,
                "index": as_ints(self.index, "index", n), "label": as_labels(self.label, "label", n),
                "score": as_finite(self.score, "score", n)}
        if (cols["index"] < 0).any():
            raise bad_value(cols["index"], cols["index"] < 0, "index", "frame indices >= 0")
        for name, a in cols.items():
            a = np.array(a)  # a copy, so that freezing it leaves the caller's array alone
            a.flags.writeable = False  # the cached codes and sorts below assume fixed columns
            object.__setattr__(self, name, a)

    @classmethod
    def from_columns(cls, columns: Mapping) -> Scores:
        """From anything indexable by column name: a dict of arrays, a pandas DataFrame."""
        missing = [c for c in COLUMNS if c not in columns]
        if missing:
            raise InputError(f"columns lack {missing}; a score table needs {list(COLUMNS)}")
        return cls(**{c: np.asarray(columns[c]) for c in COLUMNS})

    def __len__(self) -> int:
        return len(self.score)

    def subset(self, rows) -> Scores:
        """The items picked by a boolean mask of shape (n,) or an index array."""
        return Scores(**{c: getattr(self, c)[rows] for c in COLUMNS})

    def with_scores(self, score) -> Scores:
        """The same items with other scores of shape (n,) (e.g. the base-rate scorer's)."""
        return replace(self, score=score)

    @cached_property
    def runs(self) -> np.ndarray:
        """(R,) sorted run ids; per-run arrays follow this order."""
        return np.unique(self.run)

    @cached_property
    def run_code(self) -> np.ndarray:
        return np.searchsorted(self.runs, self.run)

    @cached_property
    def clips(self) -> np.ndarray:
        """(C,) sorted clip ids; a clip-weight matrix (B, C) follows this order."""
        return np.unique(self.clip)

    @cached_property
    def clip_code(self) -> np.ndarray:
        return np.searchsorted(self.clips, self.clip)

    def _pairs(self, second: np.ndarray, n_second: int):
        """Dense codes of the items' (run, second) pairs, sorted by run, and each pair's codes."""
        keys, code = np.unique(self.run_code * n_second + second, return_inverse=True)
        return code, keys // n_second, keys % n_second

    @cached_property
    def units(self):
        """(U,) run id and (U,) fold id of each (run, fold), sorted; (n,) each item's unit; the
        scores sorted inside units."""
        folds, fold_code = np.unique(self.fold, return_inverse=True)
        code, r, f = self._pairs(fold_code, len(folds))
        return self.runs[r], folds[f], code, sort_groups(self.score, code)

    @cached_property
    def run_clips(self):
        """(K,) run code and clip code of each (run, clip), and the scores sorted inside them."""
        code, r, c = self._pairs(self.clip_code, len(self.clips))
        return r, c, sort_groups(self.score, code)

    @cached_property
    def by_run(self):
        return sort_groups(self.score, self.run_code)

    @cached_property
    def ranked_by_run(self):
        return sort_groups(rank_percentiles(self), self.run_code)


# ------------------------------------------------------------------ the statistics


class FoldAUCs(NamedTuple):
    """ROC-AUC of each (run, fold) over its own test items; arrays of shape (U,), by run then fold."""

    run: np.ndarray
    fold: np.ndarray
    auc: np.ndarray  # NaN where the fold's test items hold one class

    @property
    def n_skipped(self) -> int:
        """Folds with one class: no AUC, left out of ``mean_fold_auc``."""
        return int(np.isnan(self.auc).sum())


def _observed(t: Scores) -> tuple[np.ndarray, np.ndarray]:
    y = t.label[None].astype(np.float64)
    return y, 1.0 - y


def fold_aucs(t: Scores) -> FoldAUCs:
    """The ROC-AUC of every fitted model on its own test items."""
    run, fold, _, srt = t.units
    return FoldAUCs(run, fold, group_auc(srt, *_observed(t))[0])


def rank_percentiles(t: Scores) -> np.ndarray:
    """(n,) each item's ``(rank - 0.5) / n_fold`` among its (run, fold)'s scores, ties at their mean rank."""
    return percentiles(t.units[3], np.ones((1, len(t))))[0]


def within_clip_aucs(t: Scores) -> dict:
    """``{clip: AUC}`` for every clip holding both classes: ROC-AUC over its items, mean over runs."""
    run, clip, srt = t.run_clips
    a = group_auc(srt, *_observed(t))[0]
    return {t.clips[c].item(): float(np.nanmean(a[clip == c]))
            for c in np.unique(clip) if np.isfinite(a[clip == c]).any()}


def _wmean(a: np.ndarray, wt, starts: np.ndarray) -> np.ndarray:
    """(B, R) weighted mean of the finite entries of ``a`` (B, K) over consecutive column groups."""
    ok = np.isfinite(a)
    wt = np.where(ok, wt, 0.0)
    return ratio(np.add.reduceat(np.where(ok, a, 0.0) * wt, starts, axis=1), np.add.reduceat(wt, starts, axis=1))


def _starts(run: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, run[1:] != run[:-1]])


def _run_values(t: Scores, name: str, M: np.ndarray | None, Y: np.ndarray) -> np.ndarray:
    """(B, R) the statistic per run under clip weights ``M`` (B, C) (None: all 1) and labels ``Y``
    (B, n) or (1, n)."""
    W = np.ones((1, len(t))) if M is None else M[:, t.clip_code]
    P = W * Y
    N = W - P
    if name == "raw_pooled_auc":
        return group_auc(t.by_run, P, N)
    if name == "mean_fold_auc":
        run, fold, _, srt = t.units
        return _wmean(group_auc(srt, P, N), 1.0, _starts(run))
    if name == "within_clip_auc":
        run, clip, srt = t.run_clips
        # A clip drawn m times counts m times in the mean; its own AUC does not change.
        return _wmean(group_auc(srt, P, N), 1.0 if M is None else M[:, clip], _starts(run))
    if M is None:  # rank_pooled_auc with the percentiles as scored: one cached sort
        return group_auc(t.ranked_by_run, P, N)
    # A resample moves the percentiles of every item in a fold that lost or gained clips:
    # recompute them with the weights, then sort each resample's percentiles. In the units'
    # sorted order a run's columns are one ascending stretch per fold, which the stable sort
    # (timsort) merges rather than sorts.
    srt = t.units[3]
    F, P, N = percentiles(srt, W, in_order=True), P[:, srt.order], N[:, srt.order]
    edges = np.r_[_starts(t.run_code[srt.order]), len(t)]
    return np.stack([row_auc(F[:, a:b], P[:, a:b], N[:, a:b]) for a, b in zip(edges[:-1], edges[1:])], 1)


def evaluate(t: Scores, name: str, clip_weights=None, labels=None) -> np.ndarray:
    """The statistic ``name`` under B clip-weight vectors and/or B label vectors: shape (B,).

    clip_weights : array of shape (B, C), C = ``len(t.clips)`` in that order; every item
        weighs its clip's entry (a row of draw counts is one clip-bootstrap resample).
    labels : array of shape (B, n) of 0/1 replacing ``t.label`` (e.g. one permutation per row).
    NaN in a row where no run has the statistic defined. Memory is bounded by working on
    blocks of rows.
    """
    lookup(STATISTICS, name, "statistic")
    M = None if clip_weights is None else as_weights(clip_weights, "clip_weights", len(t.clips))
    Y = t.label[None] if labels is None else np.asarray(labels)
    if Y.ndim != 2 or Y.shape[1] != len(t):
        raise InputError(f"labels must have shape (B, {len(t)}), got {Y.shape}")
    if labels is not None and not np.isin(Y, (0, 1)).all():
        raise bad_value(Y.ravel(), ~np.isin(Y.ravel(), (0, 1)), "labels", "labels 0/1")
    if M is not None and labels is not None and len(M) != len(Y):
        raise InputError(f"clip_weights has {len(M)} rows and labels {len(Y)}: one row each per resample")
    B = len(M) if M is not None else len(Y)
    step = max(1, ROW_BLOCK // len(t))
    out = [np.empty(0)]
    for i in range(0, B, step):
        v = _run_values(t, name, None if M is None else M[i:i + step],
                        (Y if labels is None else Y[i:i + step]).astype(np.float64))
        out.append(_wmean(v, 1.0, np.zeros(1, np.int64))[:, 0])
    return np.concatenate(out)


def statistic(t: Scores, name: str) -> float:
    """The statistic ``name`` (a key of :data:`STATISTICS`) of the table as scored."""
    return float(evaluate(t, name)[0])


def per_run(t: Scores, name: str) -> dict[int, float]:
    """``{run: value}`` of the statistic ``name`` (NaN where undefined): what ``statistic`` averages."""
    lookup(STATISTICS, name, "statistic")
    v = _run_values(t, name, None, _observed(t)[0])[0]
    return {int(r): float(x) for r, x in zip(t.runs, v)}


# ------------------------------------------------------------------ intervals


def as_level(level: float) -> tuple[float, float]:
    """The percentiles bounding a central interval of coverage ``level`` (0.95 -> 2.5, 97.5)."""
    if not 0 < level < 1:
        raise InputError(f"level must lie in (0, 1), got {level!r}")
    return 50 * (1 - level), 50 * (1 + level)


def percentile_interval(dist: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite entries of ``dist`` (NaN if none)."""
    ok = dist[np.isfinite(dist)]
    if not len(ok):
        return float("nan"), float("nan")
    lo, hi = np.percentile(ok, as_level(level))
    return float(lo), float(hi)


def as_count(n, name: str, least: int = 1) -> int:
    """``n`` as an int >= ``least``, or an error naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < least:
        raise InputError(f"{name} must be an integer >= {least}, got {n!r}")
    return int(n)


def clip_resamples(n_clips: int, n_resamples: int, rng) -> np.ndarray:
    """(B, C) draw counts of B resamples of C clips with replacement (each row sums to C).

    The same ``rng`` seed gives the same draws for every statistic of tables on the same clips.
    """
    n_clips, n_resamples = as_count(n_clips, "n_clips"), as_count(n_resamples, "n_resamples")
    return as_rng(rng).multinomial(n_clips, np.full(n_clips, 1.0 / n_clips), size=n_resamples).astype(np.float64)


@dataclass(frozen=True, eq=False)
class Interval:
    """A statistic with its percentile interval from a bootstrap over test clips."""

    statistic: str
    estimate: float  # the statistic of the table as scored
    low: float  # percentiles (1 - level) / 2 and (1 + level) / 2 of the defined resample values
    high: float
    level: float
    n_resamples: int
    n_undefined: int  # resamples where it is undefined (a class not drawn where it needs both): left out
    distribution: np.ndarray  # (n_resamples,) the resample values, NaN where undefined

    def to_dict(self) -> dict[str, Any]:
        keys = ("statistic", "estimate", "low", "high", "level", "n_resamples", "n_undefined")
        d = {k: getattr(self, k) for k in keys}
        ok = self.distribution[np.isfinite(self.distribution)]
        d["resample_mean"] = float(ok.mean()) if len(ok) else float("nan")
        d["resample_std"] = float(ok.std(ddof=1)) if len(ok) > 1 else float("nan")
        return d


def bootstrap(t: Scores, name: str = "mean_fold_auc", *, n_resamples: int = 1000, level: float = 0.95,
              rng=0) -> Interval:
    """Percentile interval of statistic ``name`` from a bootstrap over test clips.

    Each resample draws ``len(t.clips)`` clips with replacement; every item weighs the number
    of times its clip was drawn, in every run and fold alike (so runs stay paired), and the
    statistic is recomputed in full under those weights (per-fold AUCs, within-fold
    percentiles, pooled AUCs, the clip mean counting a clip once per draw). Resamples where the
    statistic is undefined are left out and counted (``n_undefined``).
    """
    lookup(STATISTICS, name, "statistic")
    as_level(level)
    M = clip_resamples(len(t.clips), n_resamples, rng)
    dist = evaluate(t, name, M)
    return Interval(name, statistic(t, name), *percentile_interval(dist, level), level, len(M),
                    int((~np.isfinite(dist)).sum()), dist)


@dataclass(frozen=True, eq=False)
class Difference:
    """Statistic of table ``a`` minus that of table ``b``, with a paired clip-bootstrap interval."""

    statistic: str
    difference: float
    low: float
    high: float
    level: float
    share_le_0: float  # share of the defined resamples with a difference <= 0
    n_resamples: int
    n_undefined: int
    distribution: np.ndarray  # (n_resamples,) resample differences, NaN where a side is undefined

    def to_dict(self) -> dict[str, Any]:
        keys = ("statistic", "difference", "low", "high", "level", "share_le_0", "n_resamples", "n_undefined")
        return {k: getattr(self, k) for k in keys}


def _same_clips(a: Scores, b: Scores) -> None:
    if a.clips.tolist() != b.clips.tolist():
        only_a = [c for c in a.clips.tolist() if c not in set(b.clips.tolist())]
        only_b = [c for c in b.clips.tolist() if c not in set(a.clips.tolist())]
        raise InputError(f"paired tables must hold the same test clips: only in a {only_a[:5]}, "
                         f"only in b {only_b[:5]}")


def _difference(name: str, value: float, dist: np.ndarray, level: float) -> Difference:
    """A :class:`Difference` from its estimate and its resample distribution."""
    ok = dist[np.isfinite(dist)]
    return Difference(name, value, *percentile_interval(dist, level), level,
                      float(np.mean(ok <= 0)) if len(ok) else float("nan"), len(dist), len(dist) - len(ok), dist)


def paired_difference(a: Scores, b: Scores, name: str = "mean_fold_auc", *, n_resamples: int = 1000,
                      level: float = 0.95, rng=0) -> Difference:
    """``statistic(a) - statistic(b)`` for two tables over the same test clips (e.g. a recurrent
    head and ``last-frame`` on the same runs and folds, or two rungs on the same clips), with the
    percentile interval of the difference over clip resamples, each draw applied to both sides.
    """
    mean, _ = mean_paired_difference([(a, b)], name, n_resamples=n_resamples, level=level, rng=rng)
    return mean


def mean_paired_difference(pairs: Sequence[tuple[Scores, Scores]], name: str = "mean_fold_auc", *,
                           n_resamples: int = 1000, level: float = 0.95,
                           rng=0) -> tuple[Difference, list[Difference]]:
    """The mean over ``pairs`` of ``statistic(a) - statistic(b)`` (e.g. the paper's recurrent
    heads, each from one rung to another) and each pair's own difference, every table over the
    same test clips and every one resampled on the same clip draws, so the mean's interval
    comes from one distribution. Returns ``(mean, [per pair])``."""
    lookup(STATISTICS, name, "statistic")
    as_level(level)
    if not pairs:
        raise InputError("no pair of tables to compare")
    for a, b in pairs:
        _same_clips(pairs[0][0], a)
        _same_clips(a, b)
    M = clip_resamples(len(pairs[0][0].clips), n_resamples, rng)
    each = [_difference(name, statistic(a, name) - statistic(b, name), evaluate(a, name, M) - evaluate(b, name, M),
                        level) for a, b in pairs]
    if len(each) == 1:
        return each[0], each
    mean = _difference(name, float(np.mean([d.difference for d in each])),
                       np.mean([d.distribution for d in each], axis=0), level)
    return mean, each


# ------------------------------------------------------------------ spread


@dataclass(frozen=True)
class Spread:
    """Mean and spread of values (per-run or per-fold statistics)."""

    mean: float
    std: float | None  # population std (ddof=0), as the paper's notebooks; None for one value
    std_sample: float | None  # sample std (ddof=1); None for one value
    n: int  # values used
    n_undefined: int  # NaN values left out (e.g. folds with one class)


def spread(values) -> Spread:
    """values : array of shape (k,); NaN entries are left out and counted. A single value has
    no spread (std None), so a caller prints no "±"."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if len(v) == 0:
        raise InputError("values is empty: no value to summarise")
    if np.isinf(v).any():
        raise bad_value(v, np.isinf(v), "values", "finite values or NaN")
    ok = v[~np.isnan(v)]
    if not len(ok):
        return Spread(float("nan"), None, None, 0, len(v))
    many = len(ok) > 1
    return Spread(float(ok.mean()), float(ok.std()) if many else None, float(ok.std(ddof=1)) if many else None,
                  len(ok), len(v) - len(ok))
