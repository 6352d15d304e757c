import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from anomaly_ref.errors import UnknownNameError
from anomaly_ref.protocol.heads import Dropout, HeadConfig, create_head
from anomaly_ref.registry import HEADS

D, T, U = 12, 10, 32
CLS = U * 16 + 16 + 16 + 1  # Dense(16) + Dense(1) after the recurrent layers

# Trainable parameter counts of the Keras models (model.count_params()).
KERAS_PARAMS = {
    "LSTM": 4 * (D * U + U * U + U) + CLS,
    "GRU": 3 * (D * U + U * U + 2 * U) + CLS,  # reset_after=True: two bias vectors
    "LSTM_GRU": 4 * (D * U + U * U + U) + 3 * (U * U + U * U + 2 * U) + CLS,
    "SimpleRNN": D * U + U * U + U + CLS,
    "Dense": T * D * U + U + CLS,
    "last-frame": D * U + U + CLS,  # Lambda(x[:, -1]) -> Dense(32) -> head
}


def test_last_frame_head_sees_only_the_last_frame():
    model = create_head("last-frame", D, seq_len=T).eval()
    x = torch.randn(4, T, D)
    y = x.clone()
    y[:, :-1] = torch.randn(4, T - 1, D)  # change every frame but the last
    torch.testing.assert_close(model(x), model(y), rtol=0, atol=0)
    y[:, -1] += 1.0
    assert not torch.allclose(model(x), model(y))


@pytest.mark.parametrize("name", list(HEADS))
def test_trainable_parameters_match_keras(name):
    model = create_head(name, D, seq_len=T)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n == KERAS_PARAMS[name]


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(list(HEADS)), st.integers(1, 7), st.integers(1, 9))
def test_output_is_one_logit_per_window(name, batch, dim):
    model = create_head(name, dim, seq_len=T).eval()
    out = model(torch.randn(batch, T, dim))
    assert out.shape == (batch,)


def _rnn(model, cls):
    return next(m for m in model.modules() if isinstance(m, cls))


def test_lstm_initialisation_facts():
    lstm = _rnn(create_head("LSTM", D, random_state=3), nn.LSTM)
    b = lstm.bias_ih_l0.detach()
    assert torch.equal(b[U : 2 * U], torch.ones(U))  # unit_forget_bias
    assert torch.count_nonzero(b[:U]) == 0 and torch.count_nonzero(b[2 * U :]) == 0
    assert torch.count_nonzero(lstm.bias_hh_l0) == 0 and not lstm.bias_hh_l0.requires_grad
    w_hh = lstm.weight_hh_l0.detach()  # (4U, U): orthonormal columns
    torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(U), atol=1e-5, rtol=0)
    limit = math.sqrt(6 / (D + 4 * U))  # glorot over the whole (D, 4U) Keras kernel
    w_ih = lstm.weight_ih_l0.detach()
    assert w_ih.abs().max() <= limit
    assert abs(w_ih.std().item() - limit / math.sqrt(3)) < 0.15 * limit


def test_gru_is_reset_after_with_two_zero_biases():
    gru = _rnn(create_head("GRU", D), nn.GRU)
    assert gru.bias_ih_l0.requires_grad and gru.bias_hh_l0.requires_grad
    assert torch.count_nonzero(gru.bias_ih_l0) == 0 and torch.count_nonzero(gru.bias_hh_l0) == 0
    w_hh = gru.weight_hh_l0.detach()
    torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(U), atol=1e-5, rtol=0)


def test_dense_layers_glorot_and_zero_bias():
    model = create_head("SimpleRNN", D)
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in lin] == [(16, U), (1, 16)]
    for m in lin:
        assert m.weight.abs().max() <= math.sqrt(6 / sum(m.weight.shape))
        assert torch.count_nonzero(m.bias) == 0


def test_dropout_rate_and_seeded_init():
    model = create_head("LSTM_GRU", D, config=HeadConfig(dropout=0.3))
    assert [m.p for m in model.modules() if isinstance(m, Dropout)] == [0.3, 0.3, 0.3]


def test_dropout_is_nn_dropout_arithmetic():
    # same generator state, contiguous input: the same mask and output as nn.Dropout draws
    x = torch.randn(32, 16)
    d = Dropout(0.3).train()
    torch.manual_seed(5)
    ours = d(x)
    torch.manual_seed(5)
    theirs = nn.Dropout(0.3).train()(x)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert torch.equal(d.eval()(x), x)
    assert (ours == 0).float().mean().item() == pytest.approx(0.3, abs=0.1)
    a, b, c = (create_head("GRU", D, random_state=s).state_dict() for s in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["classifier.1.weight"], c["classifier.1.weight"])


def test_unknown_head_lists_valid_names():
    with pytest.raises(UnknownNameError, match="unknown head 'Transformer'; valid: LSTM, GRU"):
        create_head("Transformer", D)
