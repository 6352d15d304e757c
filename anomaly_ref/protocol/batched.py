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

    def param(self, name: str) -> torch.Tensor:
        return self.params[_key(name)] if self.trainable[name] else getattr(self, _key(name))

    def state_of(self, k: int) -> dict[str, torch.Tensor]:
        """Row k's weights, detached copies (early stopping's best weights, a stopped model's last)."""
        return {n: self.param(n)[k].detach().clone() for n in self.names}

    @torch.no_grad()
    def keep(self, rows: Sequence[int]) -> None:
        """Drop every row but ``rows`` (models that stopped leave the stack; new parameters)."""
        index = torch.as_tensor(list(rows), device=next(iter(self.params.values())).device)
        for name in self.names:
            kept = self.param(name).index_select(0, index).clone()
            if self.trainable[name]:
                self.params[_key(name)] = nn.Parameter(kept)
            else:
                setattr(self, _key(name), kept)

    # ------------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor, gens: Sequence[torch.Generator] | None = None,
                n_valid: Sequence[int] | None = None) -> torch.Tensor:
        """x : (k, B, T, D), model i's windows in ``x[i]`` -> (k, B) logits.

        gens, n_valid : training mode — model i's dropout masks come from ``gens[i]``, drawn
        for its first ``n_valid[i]`` rows only (the rest is padding), as nn.Dropout would
        draw them for a batch of that size. Without gens: eval mode, no dropout.
        """
        t = self.template
        P = self.param
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
        self.starts = torch.from_numpy(windows.starts).to(device)  # (n_windows,)
        self.offsets = torch.arange(windows.seq_len, device=device)

    def gather(self, idx: Sequence[np.ndarray], width: int):
        """Windows ``idx[i]`` of model i, padded to ``width``: ((k, width, T, D), (k, width) labels, n_valid)."""
        n_valid = [len(i) for i in idx]
        rows = np.zeros((len(idx), width), np.int64)  # padding: window 0, masked out by the caller
        for i, r in enumerate(idx):
            rows[i, : len(r)] = r
        rows_t = torch.from_numpy(rows).to(self.device)
        starts = self.starts[rows_t]  # (k, width)
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


def val_losses(stack: StackedHeads, batches: _Batches, val_idx: Sequence[np.ndarray], device: str) -> np.ndarray:
    """Mean BCE of each model of the stack on its validation windows ``val_idx[i]``, eval
    mode: the quantity early stopping watches. (k,) float64."""
    k = len(val_idx)
    chunk = max(32, EVAL_ROWS // max(k, 1))
    sums = torch.zeros(k, dtype=torch.float64, device=device)
    with torch.no_grad():
        for lo in range(0, max(len(v) for v in val_idx), chunk):
            x, y, n_valid = batches.gather([v[lo: lo + chunk] for v in val_idx], chunk)
            bce = nn.functional.binary_cross_entropy_with_logits(stack(x), y, reduction="none")
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
    on ``device``, as :func:`~anomaly_ref.protocol.train.fit` leaves its model. Either every
    model has validation windows or none has (no early stopping then).

    on_fit : called once per model when its training ends (progress bars).
    """
    K = len(models)
    if not (K == len(train_idx) == len(val_idx) == len(seeds)):
        raise ValueError("fit_many: models, train_idx, val_idx and seeds differ in length")
    if len({v is None for v in val_idx}) > 1:
        raise ValueError("fit_many: give validation windows to every model or to none")
    threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        stack = StackedHeads(models).to(device)
        stack.gemm_dtype = {"fp32": None, "bf16": torch.bfloat16}[config.precision]
        hists, finals = _fit(stack, _Batches(windows, device), [np.asarray(t) for t in train_idx], val_idx, config,
                             seeds, device, on_fit)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        for model, state in zip(models, finals):
            model.to(device)
            for name, p in model.named_parameters():
                p.copy_(state[name])
    return hists


def _fit(stack: StackedHeads, batches: _Batches, train_idx, val_idx, config: TrainConfig, seeds, device, on_fit):
    """The epoch loop of :func:`fit_many`: (histories, each model's final weights)."""
    K, bs = len(train_idx), config.batch_size
    rngs = [np.random.default_rng(s) for s in seeds]  # epoch permutations, as fit() draws them
    gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]  # dropout streams
    hists = [History() for _ in range(K)]
    stoppers = [EarlyStopping(config.patience) for _ in range(K)]
    finals: list[dict | None] = [None] * K
    alive = list(range(K))  # the model of each row of the stack; a model that stops leaves it
    adam: dict = {}
    for epoch in range(config.max_epochs):
        orders = [rngs[i].permutation(len(train_idx[i])) for i in alive]
        totals = torch.zeros(len(alive), dtype=torch.float64, device=device)  # summed on the device: no sync per step
        params = list(stack.params.values())
        for s in range(max(math.ceil(len(train_idx[i]) / bs) for i in alive)):
            idx = [train_idx[i][order[s * bs:(s + 1) * bs]] for i, order in zip(alive, orders)]
            x, y, n_valid = batches.gather(idx, bs)
            logits = stack(x, [gens[i] for i in alive], n_valid)
            bce = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
            per_model = (bce * _valid_weights(n_valid, bs, device)).sum(1)  # (k,) each model's batch mean
            for p in params:
                p.grad = None
            per_model.sum().backward()  # model i's weights get model i's gradient only
            # a model whose (smaller) training split has run out this epoch skips the step
            stepping = torch.tensor([n > 0 for n in n_valid], device=device)
            stacked_step(params, adam, stepping, lr=config.lr, betas=config.betas, eps=config.eps)
            totals += per_model.detach().double() * torch.tensor(n_valid, dtype=torch.float64, device=device)
        for i, total in zip(alive, totals.cpu().numpy()):
            hists[i].loss.append(float(total) / len(train_idx[i]))
        if val_idx[0] is None:
            continue
        losses = val_losses(stack, batches, [val_idx[i] for i in alive], device)
        stopped = []
        for row, (i, val_loss) in enumerate(zip(alive, losses)):
            hists[i].val_loss.append(float(val_loss))
            if stoppers[i].update(epoch, float(val_loss), hists[i], lambda row=row: stack.state_of(row)):
                stopped.append(row)
        if stopped:
            for row in stopped:
                finals[alive[row]] = stack.state_of(row)
                if on_fit:
                    on_fit()
            keep = [row for row in range(len(alive)) if row not in stopped]
            alive = [alive[row] for row in keep]
            if not alive:
                break
            stack.keep(keep)
            _keep_rows(adam, keep)
    for row, i in enumerate(alive):
        finals[i] = stack.state_of(row)
        if on_fit:
            on_fit()
    for i in range(K):
        if config.restore_best_weights and stoppers[i].best_state is not None:  # Keras 3 on_train_end
            finals[i] = stoppers[i].best_state
            hists[i].weights_epoch = hists[i].best_epoch
        if hists[i].weights_epoch is None:
            hists[i].weights_epoch = hists[i].epochs - 1
    return hists, finals


def _keep_rows(adam: dict, rows: list[int]) -> None:
    """Adam's moments and step counts of the rows kept in the stack (see StackedHeads.keep)."""
    if not adam:
        return
    index = torch.as_tensor(rows, device=adam["step"].device)
    adam["step"] = adam["step"].index_select(0, index)
    adam["m"] = [m.index_select(0, index) for m in adam["m"]]
    adam["v"] = [v.index_select(0, index) for v in adam["v"]]
