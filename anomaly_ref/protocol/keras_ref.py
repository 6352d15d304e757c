"""The notebooks' own Keras models (PROTOCOL §5-§6), run by Keras 3 on its torch backend.

A peer to test against, not part of any protocol: parity tests copy our initial weights
into these models and compare outputs, Adam steps and short fits, and the training
benchmark times the authors' code path beside ours. Needs the ``keras`` package (the
``test`` extra); ``KERAS_BACKEND`` is set to ``torch`` before Keras is imported, so no
TensorFlow is needed.

Weight layouts (Keras <- PyTorch): kernels are transposed; LSTM gates i, f, c, o in both;
GRU gates z, r, h in Keras vs r, z, n in PyTorch, and a reset-after GRU's bias is
``(2, 3U)`` = [input bias; recurrent bias]; Keras' single LSTM / SimpleRNN bias is
PyTorch's ``bias_ih + bias_hh`` (the latter frozen at zero).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from .heads import HeadConfig
from .train import TrainConfig

BACKEND_ENV = "KERAS_BACKEND"


def keras():
    """The ``keras`` module on the torch backend; a clear error when it cannot be had."""
    os.environ.setdefault(BACKEND_ENV, "torch")
    import keras as k  # noqa: PLC0415  (optional dependency, imported on use)

    if k.backend.backend() != "torch":
        raise RuntimeError(f"Keras runs on the {k.backend.backend()!r} backend; set {BACKEND_ENV}=torch before importing it")
    return k


def build(name: str, input_dim: int, seq_len: int = 10, config: HeadConfig = HeadConfig()):
    """The notebooks' ``Sequential`` model for head ``name`` (uncompiled)."""
    k = keras()
    L = k.layers
    body: list[Any]
    if name == "LSTM":
        body = [L.LSTM(config.units, activation="tanh", recurrent_activation="sigmoid")]
    elif name == "GRU":
        body = [L.GRU(config.units)]
    elif name == "LSTM_GRU":
        body = [L.LSTM(config.units, return_sequences=True), L.Dropout(config.dropout), L.GRU(config.units)]
    elif name == "SimpleRNN":
        body = [L.SimpleRNN(config.units)]
    elif name == "Dense":
        body = [L.Flatten(), L.Dense(config.units, activation="relu")]
    elif name == "last-frame":  # our control head, in Keras terms
        body = [L.Lambda(lambda x: x[:, -1]), L.Dense(config.units, activation="relu")]
    else:
        raise KeyError(f"no Keras model for head {name!r}")
    head = [L.Dropout(config.dropout), L.Dense(config.hidden, activation="relu"), L.Dropout(config.dropout),
            L.Dense(1, activation="sigmoid")]
    return k.Sequential([k.Input(shape=(seq_len, input_dim)), *body, *head])


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _gru_order(a: np.ndarray, axis: int) -> np.ndarray:
    """PyTorch's r, z, n blocks -> Keras' z, r, h (the same permutation both ways)."""
    r, z, n = np.split(a, 3, axis=axis)
    return np.concatenate([z, r, n], axis=axis)


def _rnn_weights(rnn: nn.RNNBase) -> list[np.ndarray]:
    w_ih, w_hh = _np(rnn.weight_ih_l0).T, _np(rnn.weight_hh_l0).T
    b_ih, b_hh = _np(rnn.bias_ih_l0), _np(rnn.bias_hh_l0)
    if isinstance(rnn, nn.GRU):
        return [_gru_order(w_ih, 1), _gru_order(w_hh, 1), np.stack([_gru_order(b_ih, 0), _gru_order(b_hh, 0)])]
    return [w_ih, w_hh, b_ih + b_hh]


def copy_weights(model: nn.Module, keras_model) -> None:
    """Set ``keras_model``'s weights to those of our PyTorch head ``model`` (same head)."""
    ours = [m for m in model.modules() if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN, nn.Linear))]
    theirs = [layer for layer in keras_model.layers if layer.weights]
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} weighted layers in the PyTorch head, {len(theirs)} in the Keras model")
    for mine, layer in zip(ours, theirs):
        if isinstance(mine, nn.Linear):
            layer.set_weights([_np(mine.weight).T, _np(mine.bias)])
        else:
            layer.set_weights(_rnn_weights(mine))


def weights_as_ours(keras_model, model: nn.Module) -> dict[str, np.ndarray]:
    """Keras' weights in our parameter names and layouts (``bias_hh`` of LSTM/SimpleRNN: 0)."""
    out = {}
    ours = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN, nn.Linear))]
    theirs = [layer for layer in keras_model.layers if layer.weights]
    for (name, mine), layer in zip(ours, theirs):
        w = layer.get_weights()
        if isinstance(mine, nn.Linear):
            out[f"{name}.weight"], out[f"{name}.bias"] = w[0].T, w[1]
        elif isinstance(mine, nn.GRU):
            out[f"{name}.weight_ih_l0"], out[f"{name}.weight_hh_l0"] = _gru_order(w[0], 1).T, _gru_order(w[1], 1).T
            out[f"{name}.bias_ih_l0"], out[f"{name}.bias_hh_l0"] = _gru_order(w[2][0], 0), _gru_order(w[2][1], 0)
        else:
            out[f"{name}.weight_ih_l0"], out[f"{name}.weight_hh_l0"] = w[0].T, w[1].T
            out[f"{name}.bias_ih_l0"], out[f"{name}.bias_hh_l0"] = w[2], np.zeros_like(w[2])
    return out


def compile_like_notebooks(keras_model, config: TrainConfig = TrainConfig()):
    k = keras()
    keras_model.compile(
        optimizer=k.optimizers.Adam(learning_rate=config.lr, beta_1=config.betas[0], beta_2=config.betas[1],
                                    epsilon=config.eps),
        loss="binary_crossentropy", metrics=["accuracy"],
    )
    return keras_model


def fit_like_notebooks(keras_model, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                       config: TrainConfig = TrainConfig()):
    """``model.fit`` exactly as the notebooks call it: early stopping on the given split
    (the paper passes its test split), best weights restored; returns Keras' History."""
    k = keras()
    stop = k.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                     restore_best_weights=config.restore_best_weights)
    return keras_model.fit(X_train, y_train.astype("float32"), epochs=config.max_epochs, batch_size=config.batch_size,
                           validation_data=(X_val, y_val.astype("float32")), callbacks=[stop], verbose=0)
