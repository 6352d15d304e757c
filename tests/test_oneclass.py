"""anomaly_ref.protocol.oneclass: the standard rung's one-class scorers."""

import numpy as np
import pytest

import anomaly_ref.protocol.oneclass as oneclass
from anomaly_ref.errors import InputError, UnknownNameError
from anomaly_ref.protocol.features import FrameFeatures
from anomaly_ref.protocol.oneclass import (OneClassConfig, fit_scorer, minmax_in_clips, run_standard, scorer_name,
                                          smooth_in_clips)


def test_knn_distance_to_the_kth_neighbour():
    train = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    test = np.array([[0.0, 0.0], [4.0, 4.0], [1.0, 1.0]])
    # nearest: (0,0) itself; (4,4) -> (0,3) at sqrt(17); (1,1) -> (1,0) at 1
    np.testing.assert_allclose(fit_scorer("knn", train, OneClassConfig())(test), [0.0, np.sqrt(17), 1.0])
    # second nearest: (0,0) -> (1,0) at 1; (4,4) -> (1,0) at 5; (1,1) -> (0,0) at sqrt(2)
    np.testing.assert_allclose(fit_scorer("knn", train, OneClassConfig(knn_k=2))(test), [1.0, 5.0, np.sqrt(2)])


def test_mahalanobis_weighs_directions_by_the_normal_spread():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(20000, 2)) * [1.0, 4.0]  # std 1 along x, 4 along y
    d2 = fit_scorer("mahalanobis", train, OneClassConfig())(np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 8.0]]))
    # squared distances: (2/1)^2 = 4, (2/4)^2 = 0.25, (8/4)^2 = 4 (shrinkage is ~0 with 20k samples)
    np.testing.assert_allclose(d2, [4.0, 0.25, 4.0], rtol=0.05)


def test_unknown_scorer_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="unknown one-class scorer 'svm'; valid: knn, mahalanobis"):
        fit_scorer("svm", np.zeros((3, 2)), OneClassConfig())


def test_smoothing_never_mixes_clips_and_follows_time_order():
    # clip 1 holds frames out of time order in the array; clip 2 has large scores
    data = FrameFeatures(np.zeros((6, 1), np.float32), np.zeros(6, int),
                         clips=np.array([1, 1, 1, 2, 2, 2]), index=np.array([2, 0, 1, 0, 1, 2]))
    scores = np.array([9.0, 0.0, 0.0, 100.0, 100.0, 100.0])
    out = smooth_in_clips(scores, data, 1.0)
    assert out[:3].max() <= 9.0 and np.allclose(out[3:], 100.0)
    assert out[1] < out[2] < out[0]  # frame 2 (row 0) is the peak, frame 1 (row 2) its neighbour
    assert smooth_in_clips(scores, data, 0.0) is scores


def test_minmax_scales_each_clip_to_its_own_range():
    data = FrameFeatures(np.zeros((7, 1), np.float32), np.zeros(7, int),
                         clips=np.array([1, 1, 1, 2, 2, 2, 3]), index=np.array([0, 1, 2, 0, 1, 2, 0]))
    out = minmax_in_clips(np.array([2.0, 4.0, 3.0, 100.0, 300.0, 200.0, 7.0]), data)
    np.testing.assert_allclose(out, [0.0, 1.0, 0.5, 0.0, 1.0, 0.5, 0.0])  # a one-frame clip (constant): 0


def _toy(seed=0):
    """Normal frames near 0 in 4 training clips; test clips whose abnormal frames sit at +5."""
    rng = np.random.default_rng(seed)
    train = FrameFeatures(rng.normal(size=(80, 3)).astype(np.float32), np.zeros(80, int),
                          clips=np.repeat([1, 2, 3, 4], 20), index=np.tile(np.arange(20), 4))
    y = np.tile(np.r_[np.zeros(10, int), np.ones(10, int)], 3)
    X = (rng.normal(size=(60, 3)) + 5.0 * y[:, None]).astype(np.float32)
    test = FrameFeatures(X, y, clips=np.repeat([1, 2, 3], 20), index=np.tile(np.arange(20), 3))
    return train, test


@pytest.mark.parametrize("scorer", ["knn", "mahalanobis"])
def test_run_standard_on_a_separable_toy_set(scorer):
    train, test = _toy()
    res = run_standard(test, train, scorer, OneClassConfig(smooth=1.0))
    assert res.protocol == "standard" and res.head == scorer_name(scorer, OneClassConfig(smooth=1.0))
    run, = res.runs
    assert run.metrics["roc_auc"] == 1.0 and run.metrics["recall"] == 1.0
    assert run.n_train == 80 and run.n_test == 60 and run.test_frames_in_train == 0.0
    assert res.summary["roc_auc"] == (1.0, 0.0)


def test_standard_never_sees_a_test_frame_when_fitting(monkeypatch):
    train, test = _toy()
    fitted = []
    real = oneclass.fit_scorer

    def spy(scorer, X, config):
        fitted.append(np.asarray(X))
        return real(scorer, X, config)

    monkeypatch.setattr(oneclass, "fit_scorer", spy)
    run_standard(test, train, "knn")
    assert len(fitted) == 1 + 4  # the scorer, then one per left-out training clip (threshold)
    test_rows = {row.tobytes() for row in test.X.astype(np.float32)}
    train_rows = {row.tobytes() for row in train.X.astype(np.float32)}
    for X in fitted:
        rows = {row.tobytes() for row in np.asarray(X, np.float32)}
        assert rows <= train_rows and not rows & test_rows


def test_threshold_comes_from_held_out_training_clips():
    train, test = _toy()
    res = run_standard(test, train, "knn", OneClassConfig(threshold_quantile=0.5))
    loco = oneclass.loco_scores("knn", train, OneClassConfig())
    assert res.config["threshold"] == pytest.approx(float(np.median(loco)))


def test_bad_inputs_are_named():
    train, test = _toy()
    with pytest.raises(InputError, match="normal frames only; 1 training frames are labelled abnormal"):
        run_standard(test, FrameFeatures(train.X, np.r_[1, np.zeros(79, int)], train.clips, train.index), "knn")
    with pytest.raises(InputError, match="needs clip ids"):
        run_standard(test, FrameFeatures(train.X, train.y), "knn")
    with pytest.raises(InputError, match="not the same backbone"):
        run_standard(test, FrameFeatures(train.X[:, :2], train.y, train.clips), "knn")
    with pytest.raises(InputError, match="knn k must be >= 1"):
        OneClassConfig(knn_k=0)
