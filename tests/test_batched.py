"""anomaly_ref.protocol.batched: K fits at once end where K sequential fits end.

Tolerance: weights agree to 1e-5 absolute (float32 rounding of batched vs unbatched matmuls
over a few epochs; observed <= 2e-6), and every model's epochs, best epoch and stop agree
exactly. Dropout is on in half the cases: each model draws its masks from its own
generator, in the order and shapes nn.Dropout would, so even then the fits coincide.
"""

import numpy as np
import pytest
import torch

from anomaly_ref.protocol.batched import StackedHeads, fit_many
from anomaly_ref.protocol.heads import HeadConfig, create_head
from anomaly_ref.protocol.sequences import sliding_windows
from anomaly_ref.protocol.train import TrainConfig, fit
from anomaly_ref.registry import HEADS

ATOL = 1e-5


def _windows(n=260, d=6, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = (rng.normal(size=(n, d)) + y[:, None]).astype(np.float32)
    return sliding_windows(X, y, 5)


def _splits(w, seeds):
    """Training sets of different sizes (as strict folds have), validation = the rest."""
    out = []
    for s in seeds:
        train = np.sort(np.random.default_rng(100 + s).permutation(len(w))[: 150 + 11 * s])
        out.append((train, np.setdiff1d(np.arange(len(w)), train)))
    return out


@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["dropout-off", "dropout-on"])
@pytest.mark.parametrize("head", list(HEADS))
def test_batched_fit_ends_where_sequential_fits_end(head, dropout):
    w, seeds = _windows(), [0, 1, 2]
    cfg = TrainConfig(lr=1e-2, max_epochs=6, patience=2)
    hc = HeadConfig(dropout=dropout)
    splits = _splits(w, seeds)
    sequential, seq_hists = [], []
    for s, (tr, va) in zip(seeds, splits):
        model = create_head(head, 6, seq_len=5, config=hc, random_state=s)
        seq_hists.append(fit(model, w.subset(tr), w.subset(va), config=cfg, random_state=s))
        sequential.append(model)
    models = [create_head(head, 6, seq_len=5, config=hc, random_state=s) for s in seeds]
    hists = fit_many(models, w, [t for t, _ in splits], [v for _, v in splits], config=cfg, seeds=seeds)
    for a, b, ha, hb in zip(sequential, models, seq_hists, hists):
        for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(pb, pa, atol=ATOL, rtol=0, msg=f"{head} {name}")
        assert (hb.epochs, hb.best_epoch, hb.stopped_epoch, hb.weights_epoch) == \
               (ha.epochs, ha.best_epoch, ha.stopped_epoch, ha.weights_epoch)
        np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-5)
        np.testing.assert_allclose(hb.val_loss, ha.val_loss, rtol=1e-5)


def test_a_stopped_model_leaves_the_stack_while_the_others_go_on(monkeypatch):
    # model 0 validates on inverted labels: it stops early; model 1 trains on
    w = _windows()
    flipped = sliding_windows(w.X, 1 - w.y, 5)
    cfg = TrainConfig(lr=1e-2, max_epochs=12, patience=2, restore_best_weights=False)
    tr = np.arange(0, 150)
    va = np.arange(150, len(w))
    # one shared windows object: model 0's validation windows come from the flipped half
    both = sliding_windows(np.concatenate([w.X, flipped.X]), np.concatenate([w.y, flipped.y]), 5)
    va0 = va + len(w.X)
    models = [create_head("GRU", 6, seq_len=5, random_state=s) for s in (0, 1)]
    import anomaly_ref.protocol.batched as batched

    steps = []  # the stack's rows at each Adam step
    real_step = batched.stacked_step
    monkeypatch.setattr(batched, "stacked_step",
                        lambda params, state, active, **kw: (steps.append(len(active)), real_step(params, state, active, **kw)))
    hists = fit_many(models, both, [tr, tr], [va0, va], config=cfg, seeds=[0, 1])
    assert hists[0].stopped_epoch is not None and hists[0].epochs < hists[1].epochs
    per_epoch = int(np.ceil(len(tr) / cfg.batch_size))
    # both models step until model 0 stops; after that the stack holds model 1 alone, so
    # model 0 takes no update and no Adam step
    assert steps == [2] * hists[0].epochs * per_epoch + [1] * (hists[1].epochs - hists[0].epochs) * per_epoch
    # each ends where its own sequential fit ends (model 0 with its weights at the stop)
    for seed, (v, model) in enumerate(zip((va0, va), models)):
        ref = create_head("GRU", 6, seq_len=5, random_state=seed)
        fit(ref, both.subset(tr), both.subset(v), config=cfg, random_state=seed)
        for pa, pb in zip(ref.parameters(), model.parameters()):
            torch.testing.assert_close(pb, pa, atol=ATOL, rtol=0)


@pytest.mark.parametrize("head", list(HEADS))
def test_stacked_forward_equals_each_model(head):
    models = [create_head(head, 7, seq_len=4, random_state=s).eval() for s in range(3)]
    stack = StackedHeads(models)
    x = torch.randn(3, 5, 4, 7)
    out = stack(x)
    for k, model in enumerate(models):
        torch.testing.assert_close(out[k], model(x[k]), atol=1e-6, rtol=1e-5)
    # the rows kept when some models have stopped
    stack.keep([2, 0])
    torch.testing.assert_close(stack(x[[2, 0]]), out[[2, 0]], atol=1e-6, rtol=1e-5)


def test_mismatched_inputs():
    models = [create_head("LSTM", 4, random_state=s) for s in range(2)]
    with pytest.raises(ValueError, match="one architecture"):
        StackedHeads([create_head("LSTM", 4), create_head("GRU", 4)])
    with pytest.raises(ValueError, match="differ in length"):
        fit_many(models, _windows(d=4), [np.arange(10)], [None, None], seeds=[0, 1])
    with pytest.raises(ValueError, match="to every model or to none"):
        fit_many(models, _windows(d=4), [np.arange(10)] * 2, [None, np.arange(10, 20)], seeds=[0, 1])
