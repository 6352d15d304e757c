"""Velocity scorer (issue 23): per-location optical-flow histograms and their kNN."""

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.knnsearch import fit_locations, score_locations
from anomaly_ref.protocol.motion import MotionConfig, motion_features
from anomaly_ref.protocol.velocity import VelocityConfig, flow_histogram, velocity_features

from test_motion import blob_clip, stack


def test_blob_that_changes_speed_scores_higher():
    rng = np.random.default_rng(1)
    train, tc, ti = stack([blob_clip(30, 1.5, start=s, rng=rng) for s in (0, 20, 40)])
    test, qc, qi = stack([blob_clip(30, 1.5, start=10, speed_from=15, fast=6, rng=rng)])
    cfg = VelocityConfig(cell=8)
    bank = fit_locations(velocity_features(train, tc, ti, cfg))
    scores, cells = score_locations(bank, velocity_features(test, qc, qi, cfg))
    assert cells.shape == (30, (48 // 8) * (96 // 8))
    slow, fast = scores[2:15], scores[17:]
    assert fast.min() > slow.max()


def test_speed_not_contrast_is_what_counts():
    """A faint fast blob against a bright slow one: frame differences rank the bright slow one
    higher (they grow with contrast), flow ranks the fast one higher."""
    def clip(speed, level):
        f = np.full((20, 48, 96), 60, np.uint8)
        for t in range(20):
            x = int(4 + speed * t)
            f[t, 20:28, x:x + 8] = level
        return f
    bright_slow = velocity_features(clip(1, 250), np.zeros(20), np.arange(20), VelocityConfig(cell=48))
    faint_fast = velocity_features(clip(3, 100), np.zeros(20), np.arange(20), VelocityConfig(cell=48))
    # whole-frame speed: a cell's vector sums to the cell's mean speed; the blob crosses both cells
    speed = lambda v: v[2:-2].sum(axis=(1, 2)).mean()  # noqa: E731
    assert speed(faint_fast) > 2 * speed(bright_slow)
    cfg = MotionConfig(cell=48)
    energy = lambda f: motion_features(f, np.zeros(20), np.arange(20), cfg)[2:-2].sum(axis=(1, 2)).mean()  # noqa: E731
    assert energy(clip(1, 250)) > energy(clip(3, 100))


def test_histogram_bins_by_direction_and_weights_by_speed():
    flow = np.zeros((16, 32, 2), np.float32)
    flow[:, :16, 0] = 2.0  # left cell: 2 px/frame to the right (angle 0)
    flow[:, 16:, 1] = 3.0  # right cell: 3 px/frame down (angle pi/2, bin 2 of 8)
    h = flow_histogram(flow, 16, 8)
    assert h.shape == (2, 8)
    assert h[0].tolist() == pytest.approx([2, 0, 0, 0, 0, 0, 0, 0])
    assert h[1].tolist() == pytest.approx([0, 0, 3, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("dx, dy, bin_", [(-2.0, 0.0, 4), (0.0, -3.0, 6), (1.0, -1e-7, 7), (1.0, 2.0, 1)])
def test_every_direction_lands_in_its_bin(dx, dy, bin_):
    """Leftward, upward and just-below-zero angles wrap into [0, 2pi), none is dropped."""
    flow = np.zeros((8, 8, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    h = flow_histogram(flow, 8, 8)[0]
    assert np.flatnonzero(h).tolist() == [bin_] and h.sum() == pytest.approx(np.hypot(dx, dy))


def test_first_frames_borrow_the_next_flow_and_clips_never_mix():
    rng = np.random.default_rng(0)
    a = blob_clip(6, 3, rng=rng)
    b = np.full((6, 48, 96), 200, np.uint8)  # a constant clip: no flow, even though it follows a moving one
    one = blob_clip(1, 3, rng=rng)  # a one-frame clip between moving clips: no flow, nothing borrowed
    c = blob_clip(5, 5, rng=rng)
    frames, clips, index = stack([a, b, one, c])
    f = velocity_features(frames, clips, index, VelocityConfig(cell=16))
    assert np.array_equal(f[0], f[1]) and f[1].sum() > 0  # frame 0 takes frame 1's flow (0 -> 1)
    assert np.all(f[6:13] == 0)  # the constant clip and the one-frame clip
    assert np.array_equal(f[13], f[14]) and f[14].sum() > 0 and not np.array_equal(f[14], f[15])  # a later clip too
    shuffled = np.random.default_rng(1).permutation(len(frames))
    g = velocity_features(frames[shuffled], clips[shuffled], index[shuffled], VelocityConfig(cell=16))
    assert np.array_equal(g, f[shuffled])  # rows follow the input order; time order comes from index


def test_threads_do_not_change_the_features_and_opencv_is_left_as_it_was():
    import cv2

    rng = np.random.default_rng(2)
    frames, clips, index = stack([blob_clip(8, 2, rng=rng), blob_clip(5, 4, rng=rng)])
    before = cv2.getNumThreads()
    one = velocity_features(frames, clips, index, VelocityConfig(cell=16, workers=1))
    two = velocity_features(frames, clips, index, VelocityConfig(cell=16, workers=2))
    assert np.array_equal(one, two)
    assert cv2.getNumThreads() == before


def test_one_frame_clip_has_no_flow():
    f = velocity_features(np.full((1, 16, 16), 9, np.uint8), np.zeros(1), np.zeros(1), VelocityConfig(cell=16))
    assert f.shape == (1, 1, 8) and np.all(f == 0)


@pytest.mark.parametrize("kw, match", [({"cell": 0}, "cell must be >= 1"), ({"bins": 0}, "bins must be >= 1"),
                                       ({"k": 0}, "k must be >= 1"), ({"workers": -1}, "workers must be >= 0")])
def test_config_errors_name_the_parameter(kw, match):
    with pytest.raises(InputError, match=match):
        VelocityConfig(**kw)


def test_bad_frames_are_refused():
    with pytest.raises(InputError, match="grey frames"):
        velocity_features(np.zeros((2, 16, 16, 3), np.uint8), np.zeros(2), np.arange(2))
    with pytest.raises(InputError, match="no 32x32 cell"):
        velocity_features(np.zeros((2, 16, 16), np.uint8), np.zeros(2), np.arange(2), VelocityConfig(cell=32))
