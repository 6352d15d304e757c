"""Train K models of one head architecture at once (the default trainer).

The fits of a protocol are independent and tiny (batch 32, 10 frames, 32 units), so one
at a time a CPU or GPU mostly waits on Python and kernel launches. Here the K models'
weights are stacked along a leading model axis and every layer runs as one batched
matmul (``baddbmm``) over that axis; recurrent cells are written out step by step.
``torch.func.vmap`` over ``nn.LSTM`` was measured and rejected: it has no batching rule
on the CPU and falls back to one model at a time (bench/RESULTS.md, "batched training").

Each model keeps everything a sequential :func:`~anomaly_ref.protocol.train.fit` has:
its own initial weights (built by :func:`~anomaly_ref.protocol.heads.create_head` with its
own seed), its own epoch permutations of its own training split (the same numpy
``default_rng(seed)`` draws), its own dropout stream (a ``torch.Generator`` seeded like
the sequential fit's, drawing masks of the same shapes in the same order), its own early
stopping counter and best weights, restored at the end as Keras 3 does. A model that has
stopped leaves the stack (no further updates, no Adam state change) while the others go
on. Adam is Keras' own, per model (:mod:`.adam`). With the same seeds a batched fit and K
sequential fits make the same draws, so they end with the same weights up to float
rounding (tests/test_batched.py).
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .adam import stacked_step
from .heads import DenseHead, LastFrameHead, RecurrentHead
from .sequences import Windows
from .train import History, TrainConfig

log = logging.getLogger(__name__)

EVAL_ROWS = 4096  # windows per model-batch when scoring validation splits (bounds memory)


class StackedHeads(nn.Module):
    """K heads of one architecture as one module: parameter ``name`` of model k is
    ``self.param(name)[k]``. Forward maps ``(k, B, T, D)`` windows to ``(k, B)`` logits."""

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        first = models[0]
        if any(_signature(m) != _signature(first) for m in models):
            raise ValueError("StackedHeads needs models of one architecture (same layers and shapes)")
        # The architecture to follow, kept out of the module tree (no weights of its own).
        object.__setattr__(self, "template", copy.deepcopy(first).to("meta"))
        self.names = [n for n, _ in first.named_parameters()]
        self.trainable = {n: p.requires_grad for n, p in first.named_parameters()}
        self.params = nn.ParameterDict()
        for name in self.names:
            stacked = torch.stack([dict(m.named_parameters())[name].detach() for m in models])
            if self.trainable[name]:
                self.params[_key(name)] = nn.Parameter(stacked.clone())
            else:  # e.g. LSTM/SimpleRNN's second bias, frozen at zero as in Keras
                self.register_buffer(_key(name), stacked.clone())
        self.p_drop = first.classifier[0].p
        # Set by fit_many: run the wide input GEMMs (frames x weights) in this dtype (bf16),
        # weights and everything else staying float32. None: float32 throughout.
        self.gemm_dtype: torch.dtype | None = None

    def param(self, name: str, rows: torch.Tensor | None = None) -> torch.Tensor:
        t = self.params[_key(name)] if self.trainable[name] else getattr(self, _key(name))
        return t if rows is None else t[rows]

    def state_of(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's weights, detached copies (early stopping's best weights)."""
        return {n: self.param(n)[k].detach().clone() for n in self.names}

    @torch.no_grad()
    def load_row(self, k: int, state: dict[str, torch.Tensor]) -> None:
        for n, value in state.items():
            self.param(n)[k].copy_(value)

    @torch.no_grad()
    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Copy each model's row into the K original modules."""
        for k, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(self.param(name)[k])

    # ------------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None,
                gens: Sequence[torch.Generator] | None = None, n_valid: Sequence[int] | None = None) -> torch.Tensor:
        """x : (k, B, T, D) windows of the models ``rows`` (all K if None) -> (k, B) logits.

        gens, n_valid : training mode — model i's dropout masks come from ``gens[i]``, drawn
        for its first ``n_valid[i]`` rows only (the rest is padding), as nn.Dropout would
        draw them for a batch of that size. Without gens: eval mode, no dropout.
        """
        t = self.template
        P = lambda name: self.param(name, rows)  # noqa: E731
        if isinstance(t, RecurrentHead):
            h = x
            for i, rnn in enumerate(t.rnns):
                if i:  # nn.LSTM's batch_first output is laid out time-major: nn.Dropout draws in that order
                    h = _dropout(h, t.between.p, gens, n_valid, time_major=True)
                h = _rnn(rnn, f"rnns.{i}.", P, h, last=i == len(t.rnns) - 1, dtype=self.gemm_dtype if i == 0 else None)
        elif isinstance(t, DenseHead):
            h = torch.relu(_linear(x.flatten(2), "flat.1.", P, self.gemm_dtype))
        elif isinstance(t, LastFrameHead):
            h = torch.relu(_linear(x[:, :, -1], "dense.0.", P, self.gemm_dtype))
        else:  # a new head class needs its stacked forward here
            raise NotImplementedError(f"no stacked forward for {type(t).__name__}")
        h = _dropout(h, self.p_drop, gens, n_valid)
        h = torch.relu(_linear(h, "classifier.1.", P))
        h = _dropout(h, self.p_drop, gens, n_valid)
        return _linear(h, "classifier.4.", P).squeeze(-1)


def _signature(model: nn.Module) -> tuple:
    """Layer types and parameter shapes: what must agree for weights to stack."""
    return (tuple(type(m).__name__ for m in model.modules()),
            tuple((n, tuple(p.shape)) for n, p in model.named_parameters()))


def _key(name: str) -> str:
    return name.replace(".", "__")


def _linear(x: torch.Tensor, prefix: str, P: Callable, dtype: torch.dtype | None = None) -> torch.Tensor:
    """(k, B, in) -> (k, B, out) through layer ``prefix`` (weight (k, out, in), bias (k, out))."""
    return _affine(x, P(prefix + "weight"), P(prefix + "bias"), dtype)


def _affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x @ w^T + b`` per model; with ``dtype`` the product runs in that precision and the
    bias is added in float32."""
    if dtype is None:
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
    return torch.bmm(x.to(dtype), w.transpose(1, 2).to(dtype)).float() + b.unsqueeze(1)


def _dropout(x: torch.Tensor, p: float, gens, n_valid, time_major: bool = False) -> torch.Tensor:
    """x : (k, B, ...) -> x * mask, model i's mask drawn from ``gens[i]`` for its first
    ``n_valid[i]`` rows, in the memory order nn.Dropout would fill it (ATen's dropout:
    ``empty_like(input).bernoulli_(1 - p).div_(1 - p)``, so a time-major input is filled
    time-major)."""
    if gens is None or p == 0:
        return x
    mask = torch.zeros_like(x)
    for i, (g, n) in enumerate(zip(gens, n_valid)):
        shape = (x.shape[2], n, *x.shape[3:]) if time_major else (n, *x.shape[2:])
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - p, generator=g).div_(1 - p)
        mask[i, :n] = noise.transpose(0, 1) if time_major else noise
    return x * mask


def _rnn(rnn: nn.RNNBase, prefix: str, P: Callable, x: torch.Tensor, last: bool,
         dtype: torch.dtype | None = None) -> torch.Tensor:
    """One recurrent layer of k models, PyTorch's gate formulas: (k, B, T, in) -> (k, B, T, U),
    or (k, B, U) (the last hidden state) when ``last``. ``dtype``: precision of the input
    projection (all frames x input weights, the one wide GEMM); the recurrence stays float32."""
    k, B, T, _ = x.shape
    G, U = P(prefix + "weight_ih_l0").shape[1], rnn.hidden_size
    w_hh_t, b_hh = P(prefix + "weight_hh_l0").transpose(1, 2), P(prefix + "bias_hh_l0").unsqueeze(1)
    xp = _affine(x.reshape(k, B * T, -1), P(prefix + "weight_ih_l0"), P(prefix + "bias_ih_l0"), dtype).view(k, B, T, G)
    h = x.new_zeros(k, B, U)
    c = x.new_zeros(k, B, U) if isinstance(rnn, nn.LSTM) else None
    out = []
    for step in range(T):
        hp = torch.baddbmm(b_hh, h, w_hh_t)  # (k, B, G)
        xs = xp[:, :, step]
        if isinstance(rnn, nn.LSTM):  # gates i, f, g, o
            i, f, g, o = (xs + hp).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif isinstance(rnn, nn.GRU):  # gates r, z, n; reset applied after the recurrent matmul
            xr, xz, xn = xs.chunk(3, -1)
            hr, hz, hn = hp.chunk(3, -1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
        else:  # nn.RNN, tanh
            h = torch.tanh(xs + hp)
        out.append(h)
    return h if last else torch.stack(out, 2)


# ------------------------------------------------------------------ training


def _gather(windows: Windows, idx: Sequence[np.ndarray], width: int, device: str):
    """Windows ``idx[i]`` of model i, padded to ``width``: ((k, width, T, D), (k, width) labels, n_valid)."""
    n_valid = [len(i) for i in idx]
    T = windows.seq_len
    starts = np.zeros((len(idx), width), np.int64)
    for i, rows in enumerate(idx):
        starts[i, : len(rows)] = windows.starts[rows]
    frames = starts[..., None] + np.arange(T)  # (k, width, T)
    x = torch.from_numpy(windows.X[frames]).to(device)
    y = np.zeros((len(idx), width), np.float32)
    for i, rows in enumerate(idx):
        y[i, : len(rows)] = windows.labels[rows]
    return x, torch.from_numpy(y).to(device), n_valid


def _valid_weights(n_valid: Sequence[int], width: int, device: str) -> torch.Tensor:
    """(k, width): 1/n on each model's first n rows (its batch mean), 0 on padding."""
    w = torch.zeros(len(n_valid), width)
    for i, n in enumerate(n_valid):
        if n:
            w[i, :n] = 1.0 / n
    return w.to(device)


def val_losses(stack: StackedHeads, windows: Windows, rows: torch.Tensor, val_idx: Sequence[np.ndarray],
               device: str) -> np.ndarray:
    """Mean BCE of each model ``rows[i]`` on its validation windows ``val_idx[i]`` (eval mode):
    the quantity early stopping watches. (k,) float64."""
    k = len(val_idx)
    chunk = max(32, EVAL_ROWS // max(k, 1))
    sums = np.zeros(k)
    longest = max(len(v) for v in val_idx)
    with torch.no_grad():
        for lo in range(0, longest, chunk):
            part = [v[lo: lo + chunk] for v in val_idx]
            x, y, n_valid = _gather(windows, part, chunk, device)
            bce = nn.functional.binary_cross_entropy_with_logits(stack(x, rows), y, reduction="none")
            mask = torch.arange(chunk, device=device)[None] < torch.tensor(n_valid, device=device)[:, None]
            sums += (bce * mask).sum(1).double().cpu().numpy()
    return sums / np.array([len(v) for v in val_idx])


def fit_many(
    models: Sequence[nn.Module],
    windows: Windows,
    train_idx: Sequence[np.ndarray],
    val_idx: Sequence[np.ndarray | None],
    *,
    config: TrainConfig = TrainConfig(),
    seeds: Sequence[int],
    device: str = "cpu",
    on_fit: Callable[[], None] | None = None,
) -> list[History]:
    """Train ``models`` (one architecture) in place, model i on windows ``train_idx[i]`` with
    early stopping on ``val_idx[i]``, as K calls of :func:`~anomaly_ref.protocol.train.fit`
    with ``random_state=seeds[i]`` would. All models index the same ``windows``.

    on_fit : called once per model when its training ends (progress bars).
    """
    K = len(models)
    if not (K == len(train_idx) == len(val_idx) == len(seeds)):
        raise ValueError("fit_many: models, train_idx, val_idx and seeds differ in length")
    threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        stack = StackedHeads(models).to(device)
        stack.gemm_dtype = {"fp32": None, "bf16": torch.bfloat16}[config.precision]
        hists = _fit(stack, windows, [np.asarray(t) for t in train_idx], val_idx, config, seeds, device, on_fit)
    finally:
        torch.set_num_threads(threads)
    stack.write_back(models)
    return hists


def _fit(stack: StackedHeads, windows: Windows, train_idx, val_idx, config: TrainConfig, seeds, device, on_fit):
    K, bs = len(train_idx), config.batch_size
    rngs = [np.random.default_rng(s) for s in seeds]  # epoch permutations, as fit() draws them
    gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]  # dropout streams
    hists = [History() for _ in range(K)]
    best = np.full(K, np.inf)
    best_state: list[dict | None] = [None] * K
    wait = np.zeros(K, int)
    running = np.ones(K, bool)
    adam: dict = {}
    params = list(stack.params.values())
    for epoch in range(config.max_epochs):
        act = np.flatnonzero(running)  # models still training: the stack shrinks as they stop
        rows = None if running.all() else torch.as_tensor(act, device=device)
        orders = {i: rngs[i].permutation(len(train_idx[i])) for i in act}
        n_steps = max(math.ceil(len(train_idx[i]) / bs) for i in act)
        totals = np.zeros(K)
        stack.train()
        for s in range(n_steps):
            idx = [train_idx[i][orders[i][s * bs:(s + 1) * bs]] for i in act]
            x, y, n_valid = _gather(windows, idx, bs, device)
            logits = stack(x, rows, [gens[i] for i in act], n_valid)
            bce = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
            per_model = (bce * _valid_weights(n_valid, bs, device)).sum(1)  # (k,) each model's batch mean
            for p in params:
                p.grad = None
            per_model.sum().backward()  # model i's weights get model i's gradient only
            stepping = torch.zeros(K, dtype=torch.bool, device=device)
            stepping[act[np.array(n_valid) > 0]] = True
            stacked_step(params, adam, stepping, lr=config.lr, betas=config.betas, eps=config.eps)
            totals[act] += per_model.detach().double().cpu().numpy() * np.array(n_valid)
        for i in act:
            hists[i].loss.append(totals[i] / len(train_idx[i]))
        have_val = [i for i in act if val_idx[i] is not None]
        if not have_val:
            continue
        stack.eval()
        losses = val_losses(stack, windows, torch.as_tensor(have_val, device=device), [val_idx[i] for i in have_val], device)
        for i, val_loss in zip(have_val, losses):
            h = hists[i]
            h.val_loss.append(float(val_loss))
            # Keras 3 EarlyStopping.on_epoch_end, as in train._epochs
            if best_state[i] is None:
                best_state[i], h.best_epoch = stack.state_of(i), epoch
            wait[i] += 1
            if val_loss < best[i]:
                best[i], wait[i], h.best_epoch = val_loss, 0, epoch
                best_state[i] = stack.state_of(i)
                continue
            if wait[i] >= config.patience and epoch > 0:
                h.stopped_epoch = epoch
                running[i] = False
                if on_fit:
                    on_fit()
        if not running.any():
            break
    for i in range(K):
        if config.restore_best_weights and best_state[i] is not None:  # Keras 3 on_train_end
            stack.load_row(i, best_state[i])
            hists[i].weights_epoch = hists[i].best_epoch
        if hists[i].weights_epoch is None:
            hists[i].weights_epoch = hists[i].epochs - 1
        if running[i] and on_fit:
            on_fit()
    return hists
