"""Motion scorer (issue 23): per-location difference energies and their kNN."""

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.cliptime import clip_positions, first_from_next
from anomaly_ref.protocol.knnsearch import fit_locations, score_locations
from anomaly_ref.protocol.motion import MotionConfig, motion_features


def blob_clip(n, speed, h=48, w=96, y=20, size=8, start=4.0, speed_from=None, fast=None, rng=None):
    """(n, h, w) uint8: a bright square moving right at ``speed`` px/frame (``fast`` from ``speed_from`` on)."""
    rng = rng or np.random.default_rng(0)
    frames = np.full((n, h, w), 60, np.uint8)
    x = start
    for t in range(n):
        x = (x + (fast if speed_from is not None and t >= speed_from else speed)) % (w - size)
        frames[t, y:y + size, int(x):int(x) + size] = 220
    return np.clip(frames + rng.integers(0, 3, frames.shape), 0, 255).astype(np.uint8)


def stack(clips):
    frames = np.concatenate(clips)
    ids = np.concatenate([[c] * len(f) for c, f in enumerate(clips)])
    index = np.concatenate([np.arange(len(f)) for f in clips])
    return frames, ids, index


def test_blob_that_changes_speed_scores_higher():
    rng = np.random.default_rng(1)
    train, tc, ti = stack([blob_clip(30, 1.5, start=s, rng=rng) for s in (0, 20, 40)])
    test, qc, qi = stack([blob_clip(30, 1.5, start=10, speed_from=15, fast=7, rng=rng)])
    cfg = MotionConfig(cell=8, sub=1)
    bank = fit_locations(motion_features(train, tc, ti, cfg))
    scores, cells = score_locations(bank, motion_features(test, qc, qi, cfg))
    assert cells.shape == (30, (48 // 8) * (96 // 8))
    slow, fast = scores[2:15], scores[17:]
    assert fast.min() > slow.max()


def test_features_never_mix_clips_and_follow_time_order():
    a = np.zeros((3, 16, 16), np.uint8)
    b = np.full((3, 16, 16), 255, np.uint8)
    frames, clips, index = stack([a, b])
    shuffled = np.array([5, 0, 3, 1, 4, 2])
    f = motion_features(frames[shuffled], clips[shuffled], index[shuffled], MotionConfig(cell=16, sub=1))
    assert np.all(f == 0)  # constant clips: no motion, and the jump between the clips never counted


def test_first_frames_take_the_first_available_difference():
    frames = np.zeros((4, 16, 16), np.uint8)
    frames[1] = 51  # frame 1 differs from frame 0 by 0.2
    f = motion_features(frames, np.zeros(4), np.arange(4), MotionConfig(cell=16, sub=1, lags=(1,)))
    assert f[0, 0, 0] == pytest.approx(0.2, abs=1e-5)  # frame 0 borrows frame 1's difference
    assert f[1, 0, 0] == pytest.approx(0.2, abs=1e-5)


def test_clip_positions():
    order, pos = clip_positions(np.array([1, 0, 1, 0]), np.array([5, 9, 2, 3]))
    assert order.tolist() == [3, 1, 2, 0]
    assert pos.tolist() == [1, 1, 0, 0]


def test_first_from_next_fills_each_clips_first_frame_in_place():
    # rows out of time order; clip "b" has one frame (kept), clip "c" two
    clips = np.array(["a", "c", "a", "b", "c", "a"])
    index = np.array([2, 7, 0, 4, 6, 1])
    values = np.arange(6.0)[:, None] * [1.0, 10.0]
    out = first_from_next(values, clips, index)
    assert out is values
    assert out[:, 0].tolist() == [0.0, 1.0, 5.0, 3.0, 1.0, 5.0]  # a: frame 0 (row 2) <- frame 1 (row 5); c: 6 <- 7


def test_leave_one_clip_out_skips_own_clip():
    rng = np.random.default_rng(0)
    train, tc, ti = stack([blob_clip(12, 1.5, rng=rng), blob_clip(12, 4, rng=rng)])
    feats = motion_features(train, tc, ti, MotionConfig(cell=8, sub=1))
    bank = fit_locations(feats)
    own, _ = score_locations(bank, feats)
    loco, _ = score_locations(bank, feats, bank_groups=tc, query_groups=tc)
    assert own.max() < 1e-3 < loco.max()  # the mm form of cdist rounds a zero distance to ~1e-5


@pytest.mark.parametrize("kw, match", [({"cell": 0}, "cell must be >= 1"), ({"sub": 3}, "divide cell"),
                                       ({"lags": (0,)}, "lags must be >= 1"), ({"k": 0}, "k must be >= 1")])
def test_config_errors_name_the_parameter(kw, match):
    with pytest.raises(InputError, match=match):
        MotionConfig(**kw)


def test_wrong_grid_is_refused():
    bank = fit_locations(np.zeros((5, 6, 2), np.float32))
    with pytest.raises(InputError, match="do not fit a bank"):
        score_locations(bank, np.zeros((3, 4, 2), np.float32))
