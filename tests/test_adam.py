"""anomaly_ref.protocol.adam: Keras' Adam arithmetic, one model or K stacked models."""

import numpy as np
import torch

from anomaly_ref.protocol.adam import KerasAdam, stacked_step

LR, BETAS, EPS = 1e-2, (0.9, 0.999), 1e-7


def keras_reference(p, grads):
    """Keras 3's Adam.update_step, written out in numpy float32."""
    p, m, v = p.astype(np.float32).copy(), np.zeros_like(p, np.float32), np.zeros_like(p, np.float32)
    for t, g in enumerate(grads, 1):
        alpha = np.float32(LR) * np.sqrt(np.float32(1) - np.float32(BETAS[1]) ** np.float32(t)) / (
            np.float32(1) - np.float32(BETAS[0]) ** np.float32(t))
        m = m * np.float32(BETAS[0]) + g * np.float32(1 - BETAS[0])
        v = v * np.float32(BETAS[1]) + g * g * np.float32(1 - BETAS[1])
        p = p - (m * alpha) / (np.sqrt(v) + np.float32(EPS))
    return p


def test_keras_adam_follows_keras_arithmetic():
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(5, 3)).astype(np.float32)
    grads = [rng.normal(scale=1e-3, size=(5, 3)).astype(np.float32) for _ in range(6)]
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = KerasAdam([p], lr=LR, betas=BETAS, eps=EPS)
    for g in grads:
        p.grad = torch.from_numpy(g)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), keras_reference(p0, grads), rtol=0, atol=1e-7)
    # torch.optim.Adam puts epsilon elsewhere: with small gradients that is visible
    q = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    torch_opt = torch.optim.Adam([q], lr=LR, betas=BETAS, eps=EPS)
    for g in grads:
        q.grad = torch.from_numpy(g)
        torch_opt.step()
    assert np.abs(q.detach().numpy() - keras_reference(p0, grads)).max() > 1e-6


def test_stacked_step_is_per_model_keras_adam_and_freezes_inactive_models():
    rng = np.random.default_rng(1)
    K = 3
    p0 = rng.normal(size=(K, 4, 2)).astype(np.float32)
    stacked = torch.from_numpy(p0.copy())
    state = {}
    # model 2 takes no step at steps 1 and 3 (no batch, or stopped)
    pattern = [[True, True, True], [True, True, False], [True, True, True], [True, False, False]]
    grads = [rng.normal(scale=1e-2, size=(K, 4, 2)).astype(np.float32) for _ in pattern]
    for g, act in zip(grads, pattern):
        stacked.grad = torch.from_numpy(g)
        before = (stacked.clone(), [x.clone() for x in state.get("m", [])])
        stacked_step([stacked], state, torch.tensor(act), lr=LR, betas=BETAS, eps=EPS)
        for k, a in enumerate(act):
            if not a:  # frozen: weights and moments unchanged
                assert torch.equal(stacked[k], before[0][k])
                if before[1]:
                    assert torch.equal(state["m"][0][k], before[1][0][k])
    assert state["step"].tolist() == [4, 3, 2]
    for k in range(K):
        mine = [g[k] for g, act in zip(grads, pattern) if act[k]]
        np.testing.assert_allclose(stacked[k].numpy(), keras_reference(p0[k], mine), rtol=0, atol=1e-7)
