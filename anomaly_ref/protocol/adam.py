"""Adam exactly as Keras 3 computes it, for one model or for K stacked models at once.

Keras 3 on the torch backend (``keras/src/backend/torch/optimizers/torch_adam.py``)::

    alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)      # float32
    m = m * beta_1 + g * (1 - beta_1);  v = v * beta_2 + g**2 * (1 - beta_2)
    p -= (m * alpha) / (sqrt(v) + epsilon)

``torch.optim.Adam`` adds epsilon to ``sqrt(v) / sqrt(1 - beta_2**t)`` instead, i.e. an
epsilon larger by ``1 / sqrt(1 - beta_2**t)`` (x31.6 at step 1). Both trainers use this
module, so sequential and batched fits make the same updates, and both make Keras' updates
(tests/test_keras_parity.py compares the weights after identical steps in both frameworks).

For stacked models every tensor carries a leading model axis K, and each model has its own
step count: a model that has no batch at a step, or has stopped early, is frozen — neither
its weights nor its moments nor its step count change.
"""

from __future__ import annotations

from typing import Iterable

import torch


def _alpha(lr: float, betas: tuple[float, float], step: torch.Tensor) -> torch.Tensor:
    """Keras' bias-corrected step size, float32 as Keras computes it; ``step`` (K,) or ()."""
    t = step.to(torch.float32)
    b1, b2 = (torch.tensor(b, dtype=torch.float32, device=t.device) for b in betas)
    return lr * torch.sqrt(1 - b2**t) / (1 - b1**t)


@torch.no_grad()
def stacked_step(params: Iterable[torch.Tensor], state: dict, active: torch.Tensor, *, lr: float,
                 betas: tuple[float, float], eps: float) -> None:
    """One Keras-Adam step of K stacked models, in place.

    params : tensors of shape (K, ...) with ``.grad`` set; state : a dict this function
    fills (moments per tensor, step count per model); active : (K,) bool, the models
    that take this step (the others keep weights, moments and step count).
    """
    params = list(params)
    if "step" not in state:
        state["step"] = torch.zeros(active.shape[0], dtype=torch.int64, device=active.device)
        state["m"] = [torch.zeros_like(p) for p in params]
        state["v"] = [torch.zeros_like(p) for p in params]
    state["step"] += active.to(torch.int64)
    alpha = _alpha(lr, betas, state["step"].clamp(min=1))  # (K,); clamp: never-stepped rows stay finite
    b1, b2 = betas
    every = bool(active.all())
    for p, m, v in zip(params, state["m"], state["v"]):
        view = (-1,) + (1,) * (p.dim() - 1)  # broadcast (K,) over the parameter's own axes
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        _update(p, g, m, v, alpha.view(view), b1, b2, eps, None if every else active.view(view))


def _update(p, g, m, v, alpha, b1, b2, eps, active=None) -> None:
    """The Keras update of one tensor, in place; rows where ``active`` is False untouched.

    ``alpha`` is a tensor broadcastable to ``p`` (one step size per model). The order of
    operations is the torch backend's (multiply, then add), so results match Keras to the
    last bits that float32 rounding leaves (tests/test_keras_parity.py).
    """
    if active is None:  # every model steps: in place, one temporary
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        p.sub_(torch.mul(m, alpha).div_(v.sqrt().add_(eps)))
        return
    m_new = torch.add(m * b1, g, alpha=1 - b1)
    v_new = torch.addcmul(v * b2, g, g, value=1 - b2)
    p_new = p - torch.mul(m_new, alpha).div_(v_new.sqrt().add_(eps))
    m.copy_(torch.where(active, m_new, m))
    v.copy_(torch.where(active, v_new, v))
    p.copy_(torch.where(active, p_new, p))


class KerasAdam(torch.optim.Optimizer):
    """``torch.optim`` interface to Keras' Adam for one model (the sequential trainer)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-7):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.int64)
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                b1, b2 = group["betas"]
                alpha = _alpha(group["lr"], group["betas"], state["step"]).to(p.device)
                _update(p, p.grad, state["m"], state["v"], alpha, b1, b2, group["eps"])
        return loss
