"""The paper's idea made one-class: sequence heads that predict the next frame's features.

Each of the paper's recurrent heads (and Dense) is built as in :mod:`.heads` (Keras
initialisation), with its classifier replaced by one linear layer to the feature width D.
It is trained on windows of the normal Train clips, in time order, to predict frame t's
(standardised) feature vector from frames t-T .. t-1; mean squared error, Keras' Adam
(:mod:`.adam`), early stopping on held-out Train clips (best weights restored). A frame's
anomaly score is its prediction error: normal motion is predictable, a new object is not.

Every frame is scored: a frame with fewer than T predecessors in its clip sees its clip's
first frame repeated in their place; a clip's first frame, which has none (its window would
hold the frame itself), takes its next frame's score and is never a training target. Features
are standardised with the *training* clips' mean and std, each std floored at
``std_floor`` x the median std: without the floor, channels nearly dead on Train (dozens of
lite0's 1280) turn a tiny activation on a test frame into an error of 1e5 and the "prediction
error" measures dead channels, not the sequence. :func:`copy_last` is the control every
trained predictor must beat: frame t predicted as frame t-1.
Shapes: features (N, D); windows (W, T, D); scores (N,).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .adam import KerasAdam
from .heads import HeadConfig, create_head
from .cliptime import clip_positions, first_from_next

PREDICTOR_HEADS = ("LSTM", "GRU", "LSTM_GRU", "SimpleRNN", "Dense")  # the paper's four and the Dense baseline


@dataclass(frozen=True)
class PredictorConfig:
    seq_len: int = 10  # frames of context: the paper's window length
    units: int = 32  # recurrent units: the published heads'
    lr: float = 1e-3  # Keras' Adam default; the classifiers' 1e-4 is for 2 outputs, not D regression targets
    batch_size: int = 32  # the notebooks'
    max_epochs: int = 50  # the notebooks' cap
    patience: int = 5  # EarlyStopping(patience=5) on the held-out clips' loss, as the notebooks
    val_clips: int = 3  # Train clips held out for early stopping and the standardisation reference
    std_floor: float = 0.1  # each channel's std floored at this x the median std (near-dead channels)
    seed: int = 0  # weight init, held-out clip draw, batch order

    def __post_init__(self):
        for name in ("seq_len", "units", "batch_size", "max_epochs", "patience", "val_clips"):
            if getattr(self, name) < 1:
                raise InputError(f"predictor {name} must be >= 1, found {getattr(self, name)}")
        if not self.lr > 0:
            raise InputError(f"predictor lr must be > 0, found {self.lr}")
        if not self.std_floor >= 0:
            raise InputError(f"predictor std_floor must be >= 0, found {self.std_floor}")


@dataclass
class Predictor:
    model: nn.Module
    mean: np.ndarray  # (D,) training feature mean
    std: np.ndarray  # (D,) training feature std, floored (see the module doc)
    head: str
    config: PredictorConfig
    val_clips: tuple  # held-out Train clip ids
    val_scores: np.ndarray  # (n_val,) errors of the held-out clips' frames: never trained on
    best_epoch: int
    epochs: int
    val_loss: float


def window_index(clips: np.ndarray, index: np.ndarray, seq_len: int) -> np.ndarray:
    """(N, T) rows of the T frames before each frame in its clip, the clip's first frame
    repeated where there are fewer; row i of the result predicts frame i."""
    order, pos = clip_positions(clips, index)
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    back = np.arange(seq_len, 0, -1)  # T, ..., 1 frames back
    at = inv[:, None] - np.minimum(back[None, :], pos[:, None])  # clamped at the clip's start
    return order[at]


def _build(head: str, dim: int, config: PredictorConfig) -> nn.Module:
    model = create_head(head, dim, seq_len=config.seq_len, config=HeadConfig(units=config.units),
                        random_state=config.seed)
    with torch.random.fork_rng(devices=[]):  # nn.Linear's default init draws from the global RNG
        out = nn.Linear(config.units, dim)  # replaces the binary classifier: a D-wide regression
    g = torch.Generator().manual_seed(config.seed + 1)
    nn.init.xavier_uniform_(out.weight, generator=g)  # Keras' glorot-uniform, zero bias
    nn.init.zeros_(out.bias)
    model.classifier = out
    return model


def _errors(model: nn.Module, Z: torch.Tensor, idx: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """(len(rows),) mean squared error of predicting Z[rows] from windows Z[idx[rows]]."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(rows), 1024):
            r = torch.from_numpy(rows[s:s + 1024])
            pred = model(Z[torch.from_numpy(idx[rows[s:s + 1024]])])  # (b, D)
            out.append(((pred - Z[r]) ** 2).mean(dim=1))
    return torch.cat(out) if out else torch.zeros(0)


def fit_predictor(X: np.ndarray, clips: np.ndarray, index: np.ndarray, head: str,
                  config: PredictorConfig = PredictorConfig()) -> Predictor:
    """Train ``head`` on the normal Train frames X (N, D) with their clip ids and frame indices."""
    if head not in PREDICTOR_HEADS:
        raise InputError(f"unknown predictor head {head!r}; valid: {', '.join(PREDICTOR_HEADS)}")
    X = np.asarray(X, np.float32)
    clips = np.asarray(clips)
    rng = np.random.default_rng([config.seed, 1])  # batch order (the held-out draw is held_out's own)
    val_ids, is_val = held_out(clips, config)
    first = clip_positions(clips, index)[1] == 0  # no predecessor: never a target (its window is itself)
    fit_rows = np.flatnonzero(~is_val & ~first)
    mean, std = standardiser(X[~is_val], config)
    Z = torch.from_numpy((X - mean) / std)
    idx = window_index(clips, index, config.seq_len)  # windows never leave their clip: no train/val mixing
    val_rows = np.flatnonzero(is_val)
    val_targets = np.flatnonzero(is_val & ~first)  # early stopping's loss, first frames left out as in training
    model = _build(head, X.shape[1], config)
    opt = KerasAdam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    best, best_state, best_epoch, wait, epoch = float("inf"), None, 0, 0, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # dropout masks and nothing else: the caller's RNG is restored
        for epoch in range(1, config.max_epochs + 1):
            model.train()
            for b in np.array_split(rng.permutation(fit_rows), max(1, -(-len(fit_rows) // config.batch_size))):
                pred = model(Z[torch.from_numpy(idx[b])])
                loss = ((pred - Z[torch.from_numpy(b)]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            val = float(_errors(model, Z, idx, val_targets).mean())
            if val < best:
                best, best_state, best_epoch, wait = val, copy.deepcopy(model.state_dict()), epoch, 0
            else:
                wait += 1
                if wait >= config.patience:
                    break
    model.load_state_dict(best_state)
    val_scores = _first_from_next(_errors(model, Z, idx, np.arange(len(X))).numpy(), clips, index)[val_rows]
    return Predictor(model, mean, std, head, config, val_ids, val_scores, best_epoch, epoch, best)


def held_out(clips: np.ndarray, config: PredictorConfig) -> tuple[tuple, np.ndarray]:
    """``(held-out Train clip ids, (N,) mask)``: the same draw for every head (and the control)."""
    ids = np.unique(np.asarray(clips).astype(str))
    if len(ids) <= config.val_clips:
        raise InputError(f"the predictor holds out val_clips={config.val_clips} Train clips but there are only {len(ids)}")
    val_ids = tuple(str(c) for c in sorted(np.random.default_rng(config.seed).choice(ids, config.val_clips,
                                                                                   replace=False)))  # plain str: JSON
    return val_ids, np.isin(np.asarray(clips).astype(str), val_ids)


def standardiser(X: np.ndarray, config: PredictorConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` (D,) of the fitting frames, each std floored at ``std_floor`` x the median std."""
    mean, std = X.mean(0), X.std(0)
    floor = config.std_floor * float(np.median(std))
    std = np.maximum(std, floor) if floor > 0 else np.where(std > 0, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def _first_from_next(err: np.ndarray, clips: np.ndarray, index: np.ndarray) -> np.ndarray:
    """A float64 copy of ``err`` with each clip's first frame given its second frame's error."""
    return first_from_next(np.array(err, dtype=np.float64), np.asarray(clips), np.asarray(index))


def copy_last(X_train: np.ndarray, train_clips: np.ndarray, train_index: np.ndarray, X: np.ndarray,
              clips: np.ndarray, index: np.ndarray, config: PredictorConfig = PredictorConfig()
              ) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The control: frame t predicted as frame t-1, standardised as the predictors are (on the
    same fitting clips). Returns ``(test errors (N,), held-out Train errors, held-out clip ids)``."""
    val_ids, is_val = held_out(train_clips, config)
    mean, std = standardiser(np.asarray(X_train, np.float32)[~is_val], config)

    def errors(A, c, i):
        Z = (np.asarray(A, np.float32) - mean) / std
        prev = window_index(np.asarray(c), np.asarray(i), 1)[:, 0]
        return _first_from_next(((Z - Z[prev]) ** 2).mean(axis=1), c, i)

    return errors(X, clips, index), errors(X_train, train_clips, train_index)[is_val], val_ids


def score_predictor(pred: Predictor, X: np.ndarray, clips: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(N,) prediction error of every frame of X (N, D), windows inside each clip."""
    X = np.asarray(X, np.float32)
    if X.shape[1] != len(pred.mean):
        raise InputError(f"features have dim {X.shape[1]}, the predictor was trained on {len(pred.mean)}")
    Z = torch.from_numpy((X - pred.mean) / pred.std)
    idx = window_index(np.asarray(clips), np.asarray(index), pred.config.seq_len)
    return _first_from_next(_errors(pred.model, Z, idx, np.arange(len(X))).numpy(), clips, index)
