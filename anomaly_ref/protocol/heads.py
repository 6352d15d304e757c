"""The paper's Keras sequence heads (PROTOCOL §5), mirrored in PyTorch.

Each model maps windows ``(B, T, D)`` to logits ``(B,)``; probabilities are
``torch.sigmoid(logits)``. Initialisation follows the Keras defaults that matter for
parity: glorot-uniform kernels over the whole stacked-gate matrix, orthogonal recurrent
kernels, zero biases, LSTM forget-gate bias 1. GRU uses reset-after, which is exactly
PyTorch's ``nn.GRU`` formulation (Keras' two bias vectors = ``bias_ih`` and ``bias_hh``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import get_head


@dataclass(frozen=True)
class HeadConfig:
    units: int = 32  # recurrent units (the published results use 32; an early notebook used 64)
    hidden: int = 16  # Dense(16, relu) of the classifier
    dropout: float = 0.3  # every Dropout layer of the notebooks


def dropout_mask(shape: tuple[int, ...], p: float, *, dtype: torch.dtype, device: torch.device | str,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """nn.Dropout's noise, ``bernoulli(1 - p) / (1 - p)``, drawn into a new contiguous tensor
    of ``shape``. Both trainers draw every mask through here (the sequential one from the
    global generator, the batched one from each model's own), so with equal seeds they draw
    equal masks whatever the platform's bernoulli kernel fills first."""
    return torch.empty(shape, dtype=dtype, device=device).bernoulli_(1 - p, generator=generator).div_(1 - p)


class Dropout(nn.Module):
    """``nn.Dropout(p)``'s arithmetic (input * mask), with the mask from :func:`dropout_mask`."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(tuple(x.shape), self.p, dtype=x.dtype, device=x.device)


class _Classifier(nn.Sequential):
    """``Dropout -> Dense(hidden, relu) -> Dropout -> Dense(1)`` (sigmoid left to the loss)."""

    def __init__(self, in_features: int, cfg: HeadConfig):
        super().__init__(
            Dropout(cfg.dropout),
            nn.Linear(in_features, cfg.hidden),
            nn.ReLU(),
            Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, 1),
        )


class RecurrentHead(nn.Module):
    """One or two stacked recurrent layers, last hidden state -> classifier."""

    def __init__(self, layers: list[nn.RNNBase], cfg: HeadConfig):
        super().__init__()
        self.rnns = nn.ModuleList(layers)
        self.between = Dropout(cfg.dropout)  # LSTM_GRU's Dropout between its layers
        self.classifier = _Classifier(cfg.units, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, D)
        for i, rnn in enumerate(self.rnns):
            if i:
                x = self.between(x)
            x, _ = rnn(x)  # (B, T, units)
        return self.classifier(x[:, -1]).squeeze(-1)  # (B,)


class DenseHead(nn.Module):
    """Baseline: ``Flatten -> Dense(units, relu) -> classifier``."""

    def __init__(self, seq_len: int, input_dim: int, cfg: HeadConfig):
        super().__init__()
        self.flat = nn.Sequential(nn.Flatten(), nn.Linear(seq_len * input_dim, cfg.units), nn.ReLU())
        self.classifier = _Classifier(cfg.units, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, D)
        return self.classifier(self.flat(x)).squeeze(-1)


class LastFrameHead(nn.Module):
    """Control: ``Dense(units, relu) -> classifier`` on the window's last frame only.

    A window's label is its last frame's, so if this head matches the recurrent ones the
    other nine frames contribute nothing.
    """

    def __init__(self, input_dim: int, cfg: HeadConfig):
        super().__init__()
        self.dense = nn.Sequential(nn.Linear(input_dim, cfg.units), nn.ReLU())
        self.classifier = _Classifier(cfg.units, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, D)
        return self.classifier(self.dense(x[:, -1])).squeeze(-1)


def _keras_init(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise parameters with Keras defaults, drawing from ``generator``."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            nn.init.xavier_uniform_(sub.weight, generator=generator)
            nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.RNNBase):
            for name, p in sub.named_parameters():
                if name.startswith("weight_ih"):
                    # (gates*units, in): fans equal Keras' (in, gates*units) kernel
                    nn.init.xavier_uniform_(p, generator=generator)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(p, generator=generator)
                else:
                    nn.init.zeros_(p)
            if not isinstance(sub, nn.GRU):
                # Keras LSTM/SimpleRNN have ONE bias vector; PyTorch adds bias_hh. Freezing it
                # at zero keeps the trainable parameters (and Adam's updates) identical.
                # (A Keras reset-after GRU has both, like PyTorch.)
                for name, p in sub.named_parameters():
                    if name.startswith("bias_hh"):
                        p.requires_grad_(False)
            if isinstance(sub, nn.LSTM):
                u = sub.hidden_size
                for name, p in sub.named_parameters():
                    if name.startswith("bias_ih"):  # gate order i, f, g, o: Keras unit_forget_bias
                        with torch.no_grad():
                            p[u : 2 * u].fill_(1.0)


def create_head(
    name: str,
    input_dim: int,
    *,
    seq_len: int = 10,
    config: HeadConfig = HeadConfig(),
    random_state: int = 0,
) -> nn.Module:
    """Build a head by registry name (``LSTM``, ``GRU``, ``LSTM_GRU``, ``SimpleRNN``, ``Dense``,
    ``last-frame``).

    input_dim : feature width D of the windows (B, T, D) it will receive.
    random_state : seed of the weight initialisation (a private generator; global RNG untouched).
    """
    spec = get_head(name)  # raises with the valid names
    # PyTorch layers draw a default init from the global RNG on construction; fork it so
    # building a head leaves the caller's RNG state untouched (we re-initialise anyway).
    with torch.random.fork_rng(devices=[]):
        model = _build(spec.name, input_dim, seq_len, config)
    _keras_init(model, torch.Generator().manual_seed(random_state))
    return model


def _build(name: str, input_dim: int, seq_len: int, config: HeadConfig) -> nn.Module:
    u = config.units
    if name == "LSTM":
        model: nn.Module = RecurrentHead([nn.LSTM(input_dim, u, batch_first=True)], config)
    elif name == "GRU":
        model = RecurrentHead([nn.GRU(input_dim, u, batch_first=True)], config)
    elif name == "LSTM_GRU":
        model = RecurrentHead(
            [nn.LSTM(input_dim, u, batch_first=True), nn.GRU(u, u, batch_first=True)], config
        )
    elif name == "SimpleRNN":
        model = RecurrentHead([nn.RNN(input_dim, u, nonlinearity="tanh", batch_first=True)], config)
    elif name == "Dense":
        model = DenseHead(seq_len, input_dim, config)
    elif name == "last-frame":
        model = LastFrameHead(input_dim, config)
    else:  # registry and builder out of step: a bug, not a user error
        raise NotImplementedError(f"head {name!r} is registered but has no builder")
    return model
