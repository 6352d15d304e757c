import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils import shuffle

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.sequences import paper_sequences, sliding_windows, temporal_windows


@st.composite
def frames(draw, min_n=1, max_n=60):
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 2, n)


@given(frames(min_n=10), st.integers(1, 10))
def test_sliding_windows_are_slices_labelled_by_last_frame(xy, T):
    X, y = xy
    w = sliding_windows(X, y, T)
    assert len(w) == len(X) - T + 1
    all_w = w[np.arange(len(w))]
    assert all_w.shape == (len(X) - T + 1, T, X.shape[1])
    for i in range(len(w)):
        np.testing.assert_array_equal(all_w[i], X[i : i + T])
    np.testing.assert_array_equal(w.labels, y[T - 1 :])


@given(frames(min_n=10))
def test_paper_sequences_shuffle_frames_then_window(xy):
    X, y = xy
    w = paper_sequences(X, y)
    Xs, ys = shuffle(X, y, random_state=42)
    assert len(w) == len(X) - 9
    np.testing.assert_array_equal(w[np.arange(len(w))], np.stack([Xs[i : i + 10] for i in range(len(X) - 9)]))
    np.testing.assert_array_equal(w.labels, ys[9:])


@settings(max_examples=50)
@given(st.lists(st.integers(1, 25), min_size=1, max_size=6), st.integers(1, 10))
def test_temporal_windows_stay_inside_clips(lengths, T):
    clips = np.repeat(np.arange(len(lengths)), lengths)
    X = np.arange(len(clips), dtype=np.float32)[:, None]
    y = (np.arange(len(clips)) % 3 == 0).astype(int)
    w = temporal_windows(X, y, clips, T)
    assert len(w) == sum(max(0, n - T + 1) for n in lengths)
    if len(w):
        win = w[np.arange(len(w))][..., 0].astype(int)  # (n, T) frame indices
        assert (clips[win] == clips[win[:, :1]]).all()
        assert (np.diff(win, axis=1) == 1).all()
        np.testing.assert_array_equal(w.labels, y[win[:, -1]])


def test_subset_shares_frames_and_gathers_only_requested():
    X = np.arange(30, dtype=np.float32).reshape(15, 2)
    w = sliding_windows(X, np.zeros(15, int), 10)
    sub = w.subset(np.array([5, 0]))
    assert sub.X is X
    np.testing.assert_array_equal(sub[np.array([0])][0], X[5:15])


def test_errors():
    X = np.zeros((5, 2), np.float32)
    with pytest.raises(InputError, match="inconsistent numbers of samples: X has 5, y has 4"):
        sliding_windows(X, np.zeros(4), 2)
    with pytest.raises(InputError, match="at least seq_len=10 frames"):
        sliding_windows(X, np.zeros(5), 10)
    with pytest.raises(InputError, match="contiguous"):
        temporal_windows(X, np.zeros(5), np.array([1, 2, 1, 2, 2]), 2)
