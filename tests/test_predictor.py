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
