"""anomaly_ref.protocol.splits: strict folds keep clips apart; leakage is measured, not assumed."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.sequences import paper_sequences, sliding_windows, temporal_windows
from anomaly_ref.protocol.splits import carve_val, carve_val_clips, clip_folds, leaked_frame_share, paper_split


@st.composite
def clip_layouts(draw):
    """Window labels and clip ids where each class lives in at least ``k`` clips."""
    k = draw(st.integers(2, 4))
    n_clips = draw(st.integers(k + 1, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labels, groups = [], []
    for c in range(n_clips):
        n = int(rng.integers(5, 30))
        # the first k clips hold both classes; the others one class or both
        cut = int(rng.integers(1, n)) if c < k or rng.random() < 0.5 else (0 if rng.random() < 0.5 else n)
        labels += [0] * cut + [1] * (n - cut)
        groups += [c] * n
    return np.array(labels), np.array(groups), k


@settings(max_examples=60, deadline=None)
@given(clip_layouts(), st.integers(0, 100))
def test_strict_folds_keep_clips_apart_and_test_each_clip_once(layout, seed):
    labels, groups, k = layout
    folds = clip_folds(labels, groups, k, random_state=seed)
    assert len(folds) == k
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(labels)))  # every window scored once
    seen_clips = []
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])  # no clip on both sides
        assert len(train) + len(test) == len(labels)
        seen_clips += sorted(set(groups[test]))
    assert sorted(seen_clips) == sorted(set(groups))  # every clip tested exactly once


@settings(max_examples=40, deadline=None)
@given(clip_layouts(), st.integers(0, 100))
def test_validation_clips_are_whole_training_clips(layout, seed):
    labels, groups, k = layout
    for train, test in clip_folds(labels, groups, k, random_state=seed):
        assume(len(set(groups[train])) >= 2)  # else refused: tested below
        tr, val = carve_val_clips(train, labels, groups, 0.2, random_state=seed)
        assert len(tr) and len(val)
        assert np.array_equal(np.sort(np.concatenate([tr, val])), np.sort(train))
        assert not set(groups[tr]) & set(groups[val])
        assert not set(groups[val]) & set(groups[test])


def test_a_class_in_fewer_clips_than_folds_is_refused():
    labels = np.array([0] * 10 + [1] * 10 + [1] * 10 + [1] * 10)
    groups = np.repeat([1, 2, 3, 4], 10)  # class 0 lives in clip 1 only
    with pytest.raises(InputError, match=r"class 0 occurs in 1 clip\(s\) \(1\), fewer than the 2 folds"):
        clip_folds(labels, groups, 2, random_state=0)
    with pytest.raises(InputError, match="5 folds need at least 5 clips, found 4"):
        clip_folds(labels, groups, 5, random_state=0)


def test_a_training_fold_of_one_clip_cannot_give_validation_clips():
    labels, groups = np.array([0, 1] * 10), np.repeat([1, 2], 10)
    with pytest.raises(InputError, match="a training fold has 1 clip, so no clip is left to validate on"):
        carve_val_clips(np.arange(10), labels, groups, 0.2, random_state=0)


def test_carve_val_is_stratified_and_seeded():
    labels = np.array([0] * 80 + [1] * 20)
    tr, val = carve_val(np.arange(100), labels, 0.2, random_state=3)
    assert len(val) == 20 and labels[val].sum() == 4 and not set(tr) & set(val)
    assert np.array_equal(val, carve_val(np.arange(100), labels, 0.2, random_state=3)[1])
    assert not np.array_equal(val, carve_val(np.arange(100), labels, 0.2, random_state=4)[1])


def test_leaked_frame_share_of_the_three_window_kinds():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    y = (np.arange(400) % 4 == 0).astype(int)
    clips = np.repeat(np.arange(8), 50)
    # the paper: shuffled frames, overlapping windows split at random -> nearly every test frame leaks
    w = paper_sequences(X, y)
    tr, te = paper_split(w, 0)
    assert leaked_frame_share(w, tr, te) > 0.95
    # temporal windows split at random: still most test frames sit in some training window
    t = temporal_windows(X, y, clips)
    tr, te = paper_split(t, 0)
    share = leaked_frame_share(t, tr, te)
    assert 0.5 < share <= 1.0
    # split by clip: none
    wclips = clips[t.starts]
    for train, test in clip_folds(t.labels, wclips, 4, random_state=0):
        assert leaked_frame_share(t, train, test) == 0.0


def test_leaked_frame_share_counts_frames_exactly():
    w = sliding_windows(np.zeros((20, 1), np.float32), np.zeros(20, int), 5)  # 16 windows
    # train window 0 covers frames 0-4; test window 3 covers frames 3-7: 2 of 5 frames shared
    assert leaked_frame_share(w, np.array([0]), np.array([3])) == pytest.approx(2 / 5)
    assert leaked_frame_share(w, np.array([0]), np.array([10])) == 0.0
