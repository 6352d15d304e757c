import numpy as np
import torch

from anomaly_ref.protocol.heads import create_head
from anomaly_ref.protocol.sequences import sliding_windows
from anomaly_ref.protocol.train import TrainConfig, _mean_loss, fit


def _data(n=240, d=6, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = (rng.normal(size=(n, d)) + 1.5 * y[:, None]).astype(np.float32)
    return X, y


def test_early_stopping_restores_best_epoch():
    # Validation labels are the training labels inverted: learning makes val_loss worse,
    # so the best epoch is early and the model must end with that epoch's weights.
    X, y = _data()
    train = sliding_windows(X, y, 3)
    val = sliding_windows(X, 1 - y, 3)
    cfg = TrainConfig(lr=1e-2, max_epochs=40, patience=3)
    model = create_head("GRU", X.shape[1], seq_len=3)
    hist = fit(model, train, val, config=cfg, random_state=0)
    assert hist.stopped_epoch is not None and hist.stopped_epoch < 39
    best = int(np.argmin(hist.val_loss))
    assert hist.best_epoch == best and hist.weights_epoch == best
    assert hist.stopped_epoch == best + cfg.patience
    assert hist.val_loss[-1] > hist.val_loss[best]
    assert np.isclose(_mean_loss(model, val, cfg, "cpu"), hist.val_loss[best], rtol=1e-6)


def test_best_weights_restored_at_the_epoch_cap_too():
    # Keras 3 restores the best weights in on_train_end even when early stopping never fired.
    X, y = _data()
    train, val = sliding_windows(X, y, 3), sliding_windows(X, 1 - y, 3)
    cfg = TrainConfig(lr=1e-2, max_epochs=4, patience=10)
    model = create_head("LSTM", 6, seq_len=3)
    hist = fit(model, train, val, config=cfg)
    best = int(np.argmin(hist.val_loss))
    assert hist.stopped_epoch is None and hist.epochs == 4
    assert hist.weights_epoch == hist.best_epoch == best < 3
    assert np.isclose(_mean_loss(model, val, cfg, "cpu"), hist.val_loss[best], rtol=1e-6)


def test_restore_switched_off_keeps_last_weights():
    X, y = _data()
    train, val = sliding_windows(X, y, 3), sliding_windows(X, 1 - y, 3)
    cfg = TrainConfig(lr=1e-2, max_epochs=4, patience=10, restore_best_weights=False)
    model = create_head("LSTM", 6, seq_len=3)
    hist = fit(model, train, val, config=cfg)
    assert hist.weights_epoch == 3
    assert np.isclose(_mean_loss(model, val, cfg, "cpu"), hist.val_loss[3], rtol=1e-6)


def test_training_learns_and_is_seeded_without_touching_global_rng():
    X, y = _data()
    w = sliding_windows(X, y, 3)
    cfg = TrainConfig(lr=5e-3, max_epochs=5)
    state = torch.random.get_rng_state()
    runs = []
    for seed in (7, 7, 8):
        model = create_head("LSTM", 6, seq_len=3, random_state=seed)
        runs.append(fit(model, w, w, config=cfg, random_state=seed).loss)
    assert torch.equal(state, torch.random.get_rng_state())
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert runs[0][-1] < runs[0][0]
