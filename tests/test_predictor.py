"""Next-feature predictors (issue 23)."""

import numpy as np
import pytest
import torch

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.predictor import PredictorConfig, fit_predictor, score_predictor, window_index


def cyclic(n, period=6, dim=8, rng=None, phase=0):
    """(n, dim): a repeating pattern of ``period`` fixed vectors plus a little noise."""
    rng = rng or np.random.default_rng(0)
    basis = np.random.default_rng(42).normal(size=(period, dim))
    return (basis[(np.arange(n) + phase) % period] + rng.normal(0, 0.05, (n, dim))).astype(np.float32)


def test_window_index_stays_in_clip_and_pads_with_first_frame():
    idx = window_index(np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 1]), 3)
    assert idx.tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 1], [3, 3, 3], [3, 3, 3]]


@pytest.mark.parametrize("head", ["GRU", "Dense"])
def test_error_rises_where_the_pattern_breaks(head):
    rng = np.random.default_rng(0)
    X = np.concatenate([cyclic(60, rng=rng, phase=p) for p in range(5)])
    clips, index = np.repeat(np.arange(5), 60), np.tile(np.arange(60), 5)
    cfg = PredictorConfig(seq_len=6, units=16, max_epochs=40, patience=40, val_clips=1)
    before = torch.random.get_rng_state()
    pred = fit_predictor(X, clips, index, head, cfg)
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's RNG left alone
    test = cyclic(60, rng=rng)
    test[40:] = test[40:][::-1]  # the learnt order reversed from frame 40 on
    err = score_predictor(pred, test, np.zeros(60), np.arange(60))
    assert err.shape == (60,) and len(pred.val_scores) == 60
    assert err[41:].mean() > 3 * err[10:40].mean()


def test_errors():
    with pytest.raises(InputError, match="val_clips=3 Train clips but there are only 2"):
        fit_predictor(np.zeros((4, 2)), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), "LSTM")
    with pytest.raises(InputError, match="unknown predictor head 'CNN'"):
        fit_predictor(np.zeros((4, 2)), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), "CNN")
    with pytest.raises(InputError, match="seq_len must be >= 1"):
        PredictorConfig(seq_len=0)


def test_the_std_floor_the_first_frame_and_the_copy_last_control():
    from anomaly_ref.protocol.predictor import PredictorConfig, _first_from_next, copy_last, held_out, standardiser

    cfg = PredictorConfig(val_clips=1)
    X = np.array([[1.0, 0.0, 5.0], [3.0, 0.0, 5.0], [5.0, 1e-6, 5.0], [7.0, 0.0, 5.0]], np.float32)
    mean, std = standardiser(X, cfg)
    raw = X.std(0)
    assert np.allclose(std, np.maximum(raw, 0.1 * np.median(raw)))  # near-dead channel floored, not ~1e-7
    assert np.allclose(standardiser(np.ones((3, 2), np.float32), cfg)[1], 1.0)  # all constant: std 1
    # rows out of order, two interleaved clips and a one-frame clip
    clips = np.array(["a", "b", "a", "b", "a", "c"])
    index = np.array([2, 0, 0, 1, 1, 0])
    err = np.array([30.0, 10.0, 99.0, 11.0, 20.0, 7.0])
    out = _first_from_next(err, clips, index)
    # each clip's frame 0 takes its frame 1's error (a: row 2 <- row 4; b: row 1 <- row 3); c has one frame
    assert list(out) == [30.0, 11.0, 20.0, 11.0, 20.0, 7.0]
    ids, mask = held_out(np.array(["1", "1", "2", "2", "3"]), cfg)
    assert all(type(i) is str for i in ids) and mask.sum() == sum(np.isin(["1", "1", "2", "2", "3"], ids))
    # the control: frame t predicted as frame t-1, on the predictors' standardisation
    tr_clips, tr_index = np.array(["1"] * 3 + ["2"] * 3), np.array([0, 1, 2] * 2)
    Xtr = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    test, ref, val = copy_last(Xtr, tr_clips, tr_index, Xtr[:3], tr_clips[:3], tr_index[:3], cfg)
    m, s = standardiser(Xtr[~np.isin(tr_clips, val)], cfg)
    Z = (Xtr[:3] - m) / s
    step = ((Z[1:] - Z[:-1]) ** 2).mean(axis=1)
    assert np.allclose(test, [step[0], step[0], step[1]])  # the first frame takes its next frame's error
    assert len(ref) == 3 and val in (("1",), ("2",))
