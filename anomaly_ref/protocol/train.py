"""Training loop mirroring Keras ``model.fit`` as the notebooks call it (PROTOCOL §6)."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .adam import KerasAdam
from .sequences import Windows

log = logging.getLogger(__name__)

TRAINERS = ("batched", "sequential")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 1e-4  # Adam learning rate of the notebooks
    betas: tuple[float, float] = (0.9, 0.999)  # Keras Adam defaults
    # Keras' Adam epsilon, added to sqrt(v) as Keras does (protocol/adam.py; torch.optim.Adam
    # adds it after bias correction, which differs measurably: tests/test_keras_parity.py).
    eps: float = 1e-7
    batch_size: int = 32
    max_epochs: int = 50
    patience: int = 5  # EarlyStopping(monitor='val_loss', patience=5)
    # restore_best_weights=True as Keras 3 does it (the notebooks ran TF 2.19 / Keras 3 on
    # Colab): the best epoch's weights are restored when training ends, whether early
    # stopping fired or the epoch cap was reached. (Keras 2 restored only on an early stop.)
    restore_best_weights: bool = True
    eval_batch_size: int = 1024  # inference only; does not change results
    # CPU intra-op threads while training; None: the trainer's own choice. Sequential fits
    # use 1: the heads are tiny (B=32, T=10), extra threads gain nothing and, on a loaded
    # machine, spin-waiting made steps 100x slower (3.5 ms vs 385 ms per LSTM step measured
    # on 2 busy cores). The batched trainer's GEMMs are K times wider: it keeps torch's
    # setting (all cores, or OMP_NUM_THREADS), 1.5x faster on 2 idle cores (bench/RESULTS.md).
    num_threads: int | None = None
    # "batched": every fit of a protocol at once, weights stacked on a model axis
    # (protocol/batched.py); "sequential": one fit() after another. Same draws, same results.
    trainer: str = "batched"
    # "fp32" as Keras trains. "bf16" (batched trainer only): the wide input GEMMs (frames x
    # input weights) in bfloat16 on float32 weights, ~2x faster on AVX-512-bf16 CPUs and
    # GPUs; not Keras' arithmetic, so results move within run-to-run noise (bench/RESULTS.md).
    precision: str = "fp32"

    def __post_init__(self):
        if self.trainer not in TRAINERS:
            raise InputError(f"unknown trainer {self.trainer!r}; valid: {', '.join(TRAINERS)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        if self.precision != "fp32" and self.trainer != "batched":
            raise InputError(f"precision {self.precision!r} needs the batched trainer (the sequential one is Keras' float32)")


@dataclass
class EarlyStopping:
    """Keras 3's ``EarlyStopping(monitor='val_loss', patience, restore_best_weights=True)``
    for one model; both trainers keep one per model."""

    patience: int
    best: float = float("inf")
    wait: int = 0
    best_state: Any = None  # the best epoch's weights, from ``snapshot()``

    def update(self, epoch: int, val_loss: float, hist: "History", snapshot: Callable[[], Any]) -> bool:
        """Record epoch ``epoch``'s validation loss; True when training must stop.

        Keras 3 ``on_epoch_end``: the first epoch's weights are the baseline, ``wait``
        counts epochs since the last improvement, stop once ``wait >= patience``.
        """
        if self.best_state is None:
            self.best_state, hist.best_epoch = snapshot(), epoch
        self.wait += 1
        if val_loss < self.best:
            self.best, self.wait, hist.best_epoch = val_loss, 0, epoch
            self.best_state = snapshot()
            return False
        if self.wait >= self.patience and epoch > 0:
            hist.stopped_epoch = epoch
            return True
        return False


@dataclass
class History:
    """Per-epoch record, like Keras' ``History.history``."""

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None  # 0-based epoch of the lowest val_loss
    stopped_epoch: int | None = None  # 0-based epoch at which early stopping fired
    weights_epoch: int | None = None  # 0-based epoch whose weights the model ends with

    @property
    def epochs(self) -> int:
        return len(self.loss)


def predict_logits(model: nn.Module, windows: Windows, batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """Logits of shape (len(windows),), model in eval mode (dropout off)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(windows), batch_size):
            xb = torch.from_numpy(windows[np.arange(i, min(i + batch_size, len(windows)))]).to(device)
            out.append(model(xb).float().cpu())
    return torch.cat(out).numpy() if out else np.empty(0, np.float32)


def predict_proba(model: nn.Module, windows: Windows, batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """Probabilities of the anomaly class, shape (len(windows),)."""
    return 1.0 / (1.0 + np.exp(-predict_logits(model, windows, batch_size, device).astype(np.float64)))


def _mean_loss(model: nn.Module, windows: Windows, config: TrainConfig, device: str) -> float:
    logits = torch.from_numpy(predict_logits(model, windows, config.eval_batch_size, device))
    target = torch.from_numpy(windows.labels.astype(np.float32))
    return float(nn.functional.binary_cross_entropy_with_logits(logits, target))


def fit(
    model: nn.Module,
    train: Windows,
    val: Windows | None = None,
    *,
    config: TrainConfig = TrainConfig(),
    random_state: int = 0,
    device: str = "cpu",
) -> History:
    """Train ``model`` in place with Keras' Adam + BCE, reshuffling every epoch.

    With ``val``, early stopping monitors its loss (the paper passes its TEST split here).
    random_state : seeds the epoch shuffles (a private numpy Generator) and dropout (a
    forked torch RNG, so the caller's global RNG state is left as it was).
    """
    rng = np.random.default_rng(random_state)
    model.to(device)
    opt = KerasAdam([p for p in model.parameters() if p.requires_grad], lr=config.lr, betas=config.betas, eps=config.eps)
    hist = History()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.num_threads or 1)
    # manual_seed below also seeds every CUDA generator: fork those too when training on CUDA.
    cuda = torch.device(device).type == "cuda"
    forked = list(range(torch.cuda.device_count())) if cuda else []
    try:
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(random_state)  # dropout masks; restored on exit by fork_rng
            _epochs(model, train, val, opt, rng, hist, config, device)
    finally:
        torch.set_num_threads(threads)
    if hist.weights_epoch is None:
        hist.weights_epoch = hist.epochs - 1  # no validation data, or restoring switched off
    return hist


def _epochs(model: nn.Module, train: Windows, val: Windows | None, opt: torch.optim.Optimizer,
            rng: np.random.Generator, hist: History, config: TrainConfig, device: str) -> None:
    """The epoch loop of :func:`fit`; fills ``hist`` in place."""
    loss_fn = nn.BCEWithLogitsLoss()
    y_train = train.labels.astype(np.float32)
    stopper = EarlyStopping(config.patience)
    for epoch in range(config.max_epochs):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            xb = torch.from_numpy(train[idx]).to(device)  # (B, T, D)
            yb = torch.from_numpy(y_train[idx]).to(device)  # (B,)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        hist.loss.append(total / len(order))
        if val is None:
            continue
        val_loss = _mean_loss(model, val, config, device)
        hist.val_loss.append(val_loss)
        log.debug("epoch %d loss %.4f val_loss %.4f", epoch, hist.loss[-1], val_loss)
        if stopper.update(epoch, val_loss, hist, lambda: copy.deepcopy(model.state_dict())):
            break
    if config.restore_best_weights and stopper.best_state is not None:  # Keras 3 on_train_end
        model.load_state_dict(stopper.best_state)
        hist.weights_epoch = hist.best_epoch
