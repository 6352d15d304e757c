"""How each protocol splits windows into train / validation / test, and how much they leak.

Pure functions of labels, clip ids and an explicit ``random_state``; they return index
arrays into a :class:`~anomaly_ref.protocol.sequences.Windows`, never copies of windows.

- :func:`paper_split` — the notebooks' ``train_test_split(stratify=y, random_state=run)``;
- :func:`carve_val` — a stratified validation split carved from training windows;
- :func:`clip_folds` — grouped stratified k-fold over whole clips (every clip tested once);
- :func:`clip_partitions` — one random partition of the clips into k folds per run, no two
  runs alike where the clips allow (the strict rungs' repeated grouped k-fold);
- :func:`carve_val_clips` — validation windows from whole held-out training clips;
- :func:`leaked_frame_share` — the share of test frames (source frames: a copy counts as its
  source) that also sit in training windows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from ..errors import InputError
from .sequences import Windows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One fit's windows: fit on ``train``, early-stop on ``val``, score ``test`` once.

    ``val is test`` (the same array) under the paper protocol, which early-stops on its
    test split.
    """

    fold: int
    train: np.ndarray  # (n_train,) window indices
    val: np.ndarray  # (n_val,) window indices watched by early stopping
    test: np.ndarray  # (n_test,) window indices scored

    @property
    def monitor_is_test(self) -> bool:
        return self.val is self.test


def paper_split(windows: Windows, run: int, test_size: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Indices of run ``run``'s ``train_test_split(..., stratify=y, random_state=run)``.

    Splitting an index array gives exactly the partition that splitting the window array
    would, without copying the windows.
    """
    idx = np.arange(len(windows))
    train_idx, test_idx = _stratified(idx, windows.labels, test_size, run, "the random split of windows")
    return train_idx, test_idx


def _stratified(idx: np.ndarray, labels: np.ndarray, size: float, random_state: int, what: str):
    """``train_test_split(idx, stratify=labels)``; scikit-learn's refusal (a class with a
    single window, a split too small for both classes) as an InputError saying what to do."""
    try:
        return train_test_split(idx, test_size=size, stratify=labels, random_state=random_state)
    except ValueError as exc:
        counts = dict(zip(*np.unique(labels, return_counts=True)))
        raise InputError(
            f"{what} cannot be stratified ({len(idx)} windows, per class {({int(k): int(v) for k, v in counts.items()})}): "
            f"{exc}; use more clips or frames"
        ) from None


def carve_val(
    train_idx: np.ndarray, labels: np.ndarray, val_size: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split training windows ``train_idx`` into (train, val), stratified on ``labels[train_idx]``.

    labels : (n_windows,) label of every window.
    """
    train_idx = np.asarray(train_idx)
    tr, val = _stratified(train_idx, labels[train_idx], val_size, random_state, "the validation split")
    return np.asarray(tr), np.asarray(val)


def _check_groups(labels: np.ndarray, groups: np.ndarray, n_folds: int, what: str) -> None:
    """InputError where a class lives in fewer clips than folds (some fold would lack it)."""
    if n_folds < 2:
        raise InputError(f"{what}: need at least 2 folds, found {n_folds}")
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise InputError(f"{what}: {n_folds} folds need at least {n_folds} clips, found {n_groups}")
    for c in np.unique(labels):
        clips_with = np.unique(groups[labels == c])
        if len(clips_with) < n_folds:
            raise InputError(
                f"{what}: class {int(c)} occurs in {len(clips_with)} clip(s) "
                f"({', '.join(map(str, clips_with))}), fewer than the {n_folds} folds, so some "
                f"test fold would lack it; use fewer folds (--folds) or more clips"
            )
    if len(np.unique(labels)) < 2:
        raise InputError(f"{what}: all windows have label {int(labels[0])}; a split needs both classes")


def clip_folds(labels: np.ndarray, groups: np.ndarray, n_folds: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped stratified k-fold over whole clips: ``[(train_idx, test_idx)] * n_folds``.

    labels : (n_windows,) window labels; groups : (n_windows,) clip id of each window.
    Folds come from scikit-learn's ``StratifiedGroupKFold(shuffle=True, random_state=...)``,
    which assigns whole clips to folds so that each fold's class proportions come as close
    as possible to the overall ones; every clip is tested in exactly one fold. A class that
    lives in fewer clips than there are folds is refused (some fold would surely lack it);
    passing that check does not guarantee both classes in every test fold, so the runner
    records each fold's class counts and warns where one is missing.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    _check_groups(labels, groups, n_folds, "strict split")
    cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(np.zeros(len(labels)), labels, groups)]


MAX_DRAWS = 2000  # random partitions tried per run before giving up on a new, valid one


def clip_partitions(labels: np.ndarray, groups: np.ndarray, n_folds: int, n_runs: int, *,
                    testable: np.ndarray | None = None, always_train: np.ndarray | None = None,
                    random_state: int = 0) -> list[list[np.ndarray]]:
    """``n_runs`` partitions of the test clips into ``n_folds`` folds: ``[run][fold] -> clip ids``.

    labels, groups : (n_windows,) label and clip id of every window.
    testable : (n_windows,) bool, the windows a fold may test (default all); the clips
    partitioned are those holding a testable window.
    always_train : (n_windows,) bool, windows that train in every fold (normal training clips).

    Each run's partition is drawn at random (one generator seeded ``random_state`` for all
    runs, in run order): the test clips shuffled and dealt into folds of near-equal size.
    A draw is kept when every fold tests both classes and trains on both, and no earlier run
    drew the same partition; where the clips allow fewer distinct valid partitions than
    runs, later runs repeat one (found by exhausting :data:`MAX_DRAWS` draws) and a warning
    says so. Unlike ``StratifiedGroupKFold(shuffle=True)``, whose shuffle only breaks ties
    (runs 2 and 3 of the real Ped2 audit drew identical folds), every run is its own draw;
    folds are not stratified by class share, which per-fold scores do not need.
    """
    labels, groups = np.asarray(labels), np.asarray(groups).astype(str)
    testable = np.ones(len(labels), bool) if testable is None else np.asarray(testable, bool)
    always_train = np.zeros(len(labels), bool) if always_train is None else np.asarray(always_train, bool)
    clips = np.unique(groups[testable & ~always_train])
    _check_groups(labels[testable & ~always_train], groups[testable & ~always_train], n_folds, "strict split")
    # Classes per clip: what its windows can test, and what all of its windows can train on.
    tests = {c: set(labels[(groups == c) & testable & ~always_train].tolist()) for c in clips}
    trains = {c: set(labels[groups == c].tolist()) for c in clips}
    base = set(labels[always_train].tolist())
    rng = np.random.default_rng(random_state)
    seen: list[frozenset] = []
    out = []
    for _ in range(n_runs):
        chosen, fallback = None, None
        for _ in range(MAX_DRAWS):
            order = rng.permutation(clips)
            folds = [np.sort(order[f::n_folds]) for f in range(n_folds)]
            valid = all(set().union(*(tests[c] for c in fold)) == {0, 1}
                        and base.union(*(trains[c] for c in clips if c not in set(fold))) == {0, 1}
                        for fold in folds)
            if not valid:
                continue
            key = frozenset(frozenset(f.tolist()) for f in folds)
            fallback = fallback or folds
            if key not in seen:
                chosen = folds
                seen.append(key)
                break
        if chosen is None:
            if fallback is None:
                raise InputError(f"strict split: no partition of the {len(clips)} test clips into {n_folds} folds "
                                 "tests and trains on both classes in every fold; use fewer folds (--folds)")
            log.warning("strict split: the %d test clips allow fewer distinct valid partitions into %d folds than "
                        "%d runs; run %d repeats one", len(clips), n_folds, n_runs, len(out))
            chosen = fallback
        out.append(chosen)
    return out


def partition_folds(groups: np.ndarray, partition: list[np.ndarray], *, testable: np.ndarray | None = None,
                    always_train: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train_idx, test_idx)]`` per fold of ``partition`` (:func:`clip_partitions`): a fold
    tests the testable windows of its clips and trains on every window of the other clips
    (copies included) and on the ``always_train`` windows; the untestable windows of its own
    clips (copies of its frames) are in neither."""
    groups = np.asarray(groups).astype(str)
    testable = np.ones(len(groups), bool) if testable is None else np.asarray(testable, bool)
    always_train = np.zeros(len(groups), bool) if always_train is None else np.asarray(always_train, bool)
    out = []
    for fold in partition:
        held = np.isin(groups, np.asarray(fold).astype(str)) & ~always_train
        out.append((np.flatnonzero(~held), np.flatnonzero(held & testable)))
    return out


def carve_val_clips(
    train_idx: np.ndarray, labels: np.ndarray, groups: np.ndarray, val_size: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split training windows into (train, val) by whole clips, about ``val_size`` of them
    to validation: one fold of a ``StratifiedGroupKFold`` with ``round(1 / val_size)``
    folds over the training clips (at least 2, at most the number of training clips).

    labels, groups : (n_windows,) label and clip id of every window.

    The carve is close to a function of the training clips alone (``StratifiedGroupKFold``'s
    shuffle only breaks ties, so ``random_state`` rarely matters): validation clips differ
    between runs and folds because their training clips do (each run draws its own partition),
    not because of the seed. The carve is rebuilt from the recorded config by ``anomaly-ref
    recompute`` and checked against the recorded validation sizes.
    """
    train_idx = np.asarray(train_idx)
    g, y = groups[train_idx], labels[train_idx]
    n_clips = len(np.unique(g))
    if n_clips < 2:
        raise InputError(
            f"strict split: a training fold has {n_clips} clip, so no clip is left to validate "
            "on; use fewer folds (--folds) or more clips"
        )
    k = int(min(max(2, round(1 / val_size)), n_clips))
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    tr, val = next(cv.split(np.zeros(len(y)), y, g))
    return train_idx[tr], train_idx[val]


def leaked_frame_share(windows: Windows, train_idx: np.ndarray, test_idx: np.ndarray,
                       source: np.ndarray | None = None) -> float:
    """Share of the frames of test windows that also sit inside some training window.

    source : (n_rows,) code of the source frame of every row of the features the windows
    were built from (:meth:`~anomaly_ref.protocol.features.FrameFeatures.source_codes`):
    a flipped copy of a test frame in a training window counts as that frame seen in
    training. None: rows are their own source (no copies). Exact for the paper's shuffled
    windows as for temporal ones. 1.0: every frame a test window shows was also trained
    on; 0.0: none was.
    """
    def frames(idx: np.ndarray) -> np.ndarray:
        rows = windows.frame_rows(idx)
        return np.unique(rows if source is None else np.asarray(source)[rows])

    test = frames(test_idx)
    if len(test) == 0:
        return 0.0
    return float(np.isin(test, frames(train_idx)).mean())

