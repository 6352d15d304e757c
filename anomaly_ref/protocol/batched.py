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
from .heads import DenseHead, LastFrameHead, RecurrentHead, dropout_mask
from .sequences import Windows
from .train import EarlyStopping, History, TrainConfig

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
                if i:
                    h = _dropout(h, t.between.p, gens, n_valid)
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


def _dropout(x: torch.Tensor, p: float, gens, n_valid) -> torch.Tensor:
    """x : (k, B, ...) -> x * mask; model i's mask covers its first ``n_valid[i]`` rows and
    is drawn from ``gens[i]`` by :func:`~anomaly_ref.protocol.heads.dropout_mask`, exactly
    as the sequential head draws it for a batch of that size. A model without a batch at
    this step draws nothing (its stream stays where the sequential fit's would be)."""
    if gens is None or p == 0:
        return x
    mask = torch.zeros_like(x)
    for i, (g, n) in enumerate(zip(gens, n_valid)):
        if n:
            mask[i, :n] = dropout_mask((n, *x.shape[2:]), p, dtype=x.dtype, device=x.device, generator=g)
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


class _Batches:
    """The frames of a :class:`Windows` on the device, once; each step then gathers its
    windows there (index_select), so no batch crosses the host-device link."""

    def __init__(self, windows: Windows, device: str):
        self.windows, self.device = windows, device
        self.X = torch.from_numpy(np.ascontiguousarray(windows.X)).to(device)  # (N, D)
        self.labels = torch.from_numpy(windows.labels.astype(np.float32)).to(device)  # (n_windows,)
        self.offsets = torch.arange(windows.seq_len, device=device)

    def gather(self, idx: Sequence[np.ndarray], width: int):
        """Windows ``idx[i]`` of model i, padded to ``width``: ((k, width, T, D), (k, width) labels, n_valid)."""
        n_valid = [len(i) for i in idx]
        rows = np.zeros((len(idx), width), np.int64)  # padding: window 0, masked out by the caller
        for i, r in enumerate(idx):
            rows[i, : len(r)] = r
        rows_t = torch.from_numpy(rows).to(self.device)
        starts = torch.from_numpy(self.windows.starts).to(self.device)[rows_t]  # (k, width)
        frames = (starts[..., None] + self.offsets).reshape(-1)  # (k * width * T,)
        x = self.X.index_select(0, frames).view(len(idx), width, self.windows.seq_len, -1)
        return x, self.labels[rows_t], n_valid


def _valid_weights(n_valid: Sequence[int], width: int, device: str) -> torch.Tensor:
    """(k, width): 1/n on each model's first n rows (its batch mean), 0 on padding."""
    w = torch.zeros(len(n_valid), width)
    for i, n in enumerate(n_valid):
        if n:
            w[i, :n] = 1.0 / n
    return w.to(device)


def val_losses(stack: StackedHeads, batches: _Batches, rows: torch.Tensor | None, val_idx: Sequence[np.ndarray],
               device: str) -> np.ndarray:
    """Mean BCE of each model ``rows[i]`` (all if None) on its validation windows
    ``val_idx[i]``, eval mode: the quantity early stopping watches. (k,) float64."""
    k = len(val_idx)
    chunk = max(32, EVAL_ROWS // max(k, 1))
    sums = torch.zeros(k, dtype=torch.float64, device=device)
    with torch.no_grad():
        for lo in range(0, max(len(v) for v in val_idx), chunk):
            x, y, n_valid = batches.gather([v[lo: lo + chunk] for v in val_idx], chunk)
            bce = nn.functional.binary_cross_entropy_with_logits(stack(x, rows), y, reduction="none")
            mask = torch.arange(chunk, device=device)[None] < torch.tensor(n_valid, device=device)[:, None]
            sums += (bce * mask).sum(1).double()
    return sums.cpu().numpy() / np.array([len(v) for v in val_idx])


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
    with ``random_state=seeds[i]`` would. All models index the same ``windows``; they end
    on ``device``, as :func:`~anomaly_ref.protocol.train.fit` leaves its model.

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
        hists = _fit(stack, _Batches(windows, device), [np.asarray(t) for t in train_idx], val_idx, config, seeds,
                     device, on_fit)
    finally:
        torch.set_num_threads(threads)
    for model in models:
        model.to(device)
    stack.write_back(models)
    return hists


def _fit(stack: StackedHeads, batches: _Batches, train_idx, val_idx, config: TrainConfig, seeds, device, on_fit):
    K, bs = len(train_idx), config.batch_size
    rngs = [np.random.default_rng(s) for s in seeds]  # epoch permutations, as fit() draws them
    gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]  # dropout streams
    hists = [History() for _ in range(K)]
    stoppers = [EarlyStopping(config.patience) for _ in range(K)]
    running = np.ones(K, bool)
    adam: dict = {}
    params = list(stack.params.values())
    for epoch in range(config.max_epochs):
        act = np.flatnonzero(running)  # models still training: the stack shrinks as they stop
        rows = None if running.all() else torch.as_tensor(act, device=device)
        orders = {i: rngs[i].permutation(len(train_idx[i])) for i in act}
        totals = torch.zeros(len(act), dtype=torch.float64, device=device)  # summed on the device: no sync per step
        stack.train()
        for s in range(max(math.ceil(len(train_idx[i]) / bs) for i in act)):
            idx = [train_idx[i][orders[i][s * bs:(s + 1) * bs]] for i in act]
            x, y, n_valid = batches.gather(idx, bs)
            logits = stack(x, rows, [gens[i] for i in act], n_valid)
            bce = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
            per_model = (bce * _valid_weights(n_valid, bs, device)).sum(1)  # (k,) each model's batch mean
            for p in params:
                p.grad = None
            per_model.sum().backward()  # model i's weights get model i's gradient only
            stepping = torch.zeros(K, dtype=torch.bool)
            stepping[act[np.array(n_valid) > 0]] = True
            stacked_step(params, adam, stepping.to(device), lr=config.lr, betas=config.betas, eps=config.eps)
            totals += per_model.detach().double() * torch.tensor(n_valid, dtype=torch.float64, device=device)
        for i, total in zip(act, totals.cpu().numpy()):
            hists[i].loss.append(float(total) / len(train_idx[i]))
        have_val = [i for i in act if val_idx[i] is not None]
        if not have_val:
            continue
        stack.eval()
        val_rows = None if len(have_val) == K else torch.as_tensor(have_val, device=device)
        losses = val_losses(stack, batches, val_rows, [val_idx[i] for i in have_val], device)
        for i, val_loss in zip(have_val, losses):
            hists[i].val_loss.append(float(val_loss))
            if stoppers[i].update(epoch, float(val_loss), hists[i], lambda i=i: stack.state_of(i)):
                running[i] = False
                if on_fit:
                    on_fit()
        if not running.any():
            break
    for i in range(K):
        if config.restore_best_weights and stoppers[i].best_state is not None:  # Keras 3 on_train_end
            stack.load_row(i, stoppers[i].best_state)
            hists[i].weights_epoch = hists[i].best_epoch
        if hists[i].weights_epoch is None:
            hists[i].weights_epoch = hists[i].epochs - 1
        if running[i] and on_fit:
            on_fit()
    return hists
