import numpy as np
from sklearn.model_selection import train_test_split

from anomaly_ref.protocol.features import FrameFeatures
from anomaly_ref.protocol.runner import ProtocolConfig, run_protocol
from anomaly_ref.protocol.sequences import paper_sequences
from anomaly_ref.protocol.splits import paper_split
from anomaly_ref.protocol.train import TrainConfig

FAST = ProtocolConfig(n_runs=2, train=TrainConfig(max_epochs=3))


def _data(n=120, d=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n - n // 3, int), np.ones(n // 3, int)]
    return (rng.normal(size=(n, d)) + y[:, None]).astype(np.float32), y


def test_index_split_equals_splitting_the_window_array():
    X, y = _data()
    w = paper_sequences(X, y)
    arr = w[np.arange(len(w))]
    for r in range(3):
        tr, te = paper_split(w, r)
        a_tr, a_te, y_tr, y_te = train_test_split(arr, w.labels, test_size=0.2, stratify=w.labels, random_state=r)
        np.testing.assert_array_equal(w[tr], a_tr)
        np.testing.assert_array_equal(w[te], a_te)
        np.testing.assert_array_equal(w.labels[te], y_te)


def test_same_seed_same_metrics_and_runs_recorded():
    X, y = _data()
    a = run_protocol("paper", FrameFeatures(X, y), "SimpleRNN", FAST)
    b = run_protocol("paper", FrameFeatures(X, y), "SimpleRNN", FAST)
    assert [r.metrics for r in a.runs] == [r.metrics for r in b.runs]
    assert [r.split_seed for r in a.runs] == [0, 1]
    assert a.runs[0].n_test == round(0.2 * (len(X) - 9)) or a.runs[0].n_test == int(np.ceil(0.2 * (len(X) - 9)))
    c = run_protocol("paper", FrameFeatures(X, y), "SimpleRNN", ProtocolConfig(n_runs=2, model_seed=5, train=TrainConfig(max_epochs=3)))
    assert [r.metrics for r in a.runs] != [r.metrics for r in c.runs]
    d = a.to_dict()
    assert set(d["summary"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert d["config"]["shuffle_seed"] == 42 and len(d["runs"]) == 2


# ------------------------------------------------------------------ the ladder

import pytest  # noqa: E402

import dataclasses  # noqa: E402

import anomaly_ref.protocol.batched as batched  # noqa: E402
import anomaly_ref.protocol.runner as runner  # noqa: E402
import anomaly_ref.protocol.train as train  # noqa: E402
from anomaly_ref.errors import InputError  # noqa: E402

TINY = ProtocolConfig(n_runs=2, n_folds=3, train=TrainConfig(max_epochs=2, patience=1))


def _clips(n_clips=8, n=30, d=3, seed=0):
    """Clips of ``n`` frames, normal then abnormal from a random cut; column 0 is a unique
    frame id, so any window handed anywhere can be traced back to its frames."""
    rng = np.random.default_rng(seed)
    X, y, clips, index = [], [], [], []
    for c in range(n_clips):
        cut = int(rng.integers(8, n - 8))
        y += [0] * cut + [1] * (n - cut)
        clips += [c + 1] * n
        index += list(range(n))
    y = np.array(y)
    X = rng.normal(size=(len(y), d)) + y[:, None]
    X[:, 0] = np.arange(len(y))  # frame id
    return FrameFeatures(X.astype(np.float32), y, np.array(clips), np.array(index))


TRAINERS = ["batched", "sequential"]


def _config(trainer, **kw):
    return dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, trainer=trainer), **kw)


@pytest.fixture
def trace(monkeypatch):
    """Record, per fit, the frame ids of the windows early stopping watched — inside the
    training loops (train._mean_loss, sequential; batched.val_losses, batched) — and of the
    windows scored as the test split (runner.predict_proba, called once per fit in fit order)."""
    seq_monitored: dict[int, set] = {}  # sequential: fit number -> watched windows
    by_val: dict[int, set] = {}  # batched: id of a fit's validation index array -> watched windows
    splits: list = []  # every fit's Split, in fit order (runner.make_splits)
    tests: list[set] = []
    seq_fit = [0]
    real_loss, real_val, real_predict = train._mean_loss, batched.val_losses, runner.predict_proba
    real_fit, real_splits = runner.fit, runner.make_splits

    def ids(windows):
        return {tuple(w[:, 0].astype(int)) for w in windows[np.arange(len(windows))]}

    def loss(model, windows, *a, **k):  # sequential: one call per epoch of the fit in progress
        seq_monitored.setdefault(seq_fit[0], set()).update(ids(windows))
        return real_loss(model, windows, *a, **k)

    def val(stack, batches, val_idx, *a, **k):  # batched: the models still training, their val windows
        for v in val_idx:
            by_val.setdefault(id(v), set()).update(ids(batches.windows.subset(v)))
        return real_val(stack, batches, val_idx, *a, **k)

    def fit(*a, **k):  # sequential fits run before any predict: number them as they end
        out = real_fit(*a, **k)
        seq_fit[0] += 1
        return out

    def make_splits(*a, **k):
        out = real_splits(*a, **k)
        splits.extend(out)
        return out

    def predict(model, windows, *a, **k):
        tests.append(ids(windows))
        return real_predict(model, windows, *a, **k)

    monkeypatch.setattr(train, "_mean_loss", loss)
    monkeypatch.setattr(batched, "val_losses", val)
    monkeypatch.setattr(runner, "predict_proba", predict)
    monkeypatch.setattr(runner, "fit", fit)
    monkeypatch.setattr(runner, "make_splits", make_splits)

    def fits():
        return [(by_val.get(id(s.val)) or seq_monitored.get(j, set()), t) for j, (s, t) in enumerate(zip(splits, tests))]

    return fits


@pytest.mark.parametrize("trainer", TRAINERS)
def test_paper_monitors_the_test_split(trace, trainer):
    # positive control: the instrumentation sees the leak the paper has
    run_protocol("paper", _clips(), "LSTM", _config(trainer))
    fits = trace()
    assert len(fits) == TINY.n_runs
    for monitored, test in fits:
        assert monitored == test


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("protocol", ["paper-val", "temporal", "strict-test-only"])
def test_the_monitor_never_sees_a_test_window(trace, protocol, trainer):
    data = _clips()
    res = run_protocol(protocol, data, "GRU", _config(trainer))
    fits = trace()
    n_fits = TINY.n_runs * (TINY.n_folds if protocol == "strict-test-only" else 1)
    assert len(fits) == n_fits
    clip_of = dict(zip(data.X[:, 0].astype(int), data.clips))
    for monitored, test in fits:
        assert monitored and test and not monitored & test  # no test window is watched
        if protocol == "strict-test-only":  # not even a frame, nor a clip
            m_frames = {f for w in monitored for f in w}
            t_frames = {f for w in test for f in w}
            assert not m_frames & t_frames
            assert not {clip_of[f] for f in m_frames} & {clip_of[f] for f in t_frames}
    assert all(r.monitor == "val" for r in res.runs)


def test_strict_tests_every_clip_once_and_shares_no_frame(trace):
    data = _clips()
    res = run_protocol("strict-test-only", data, "SimpleRNN", TINY)
    for r in res.runs:
        assert len(r.folds) == TINY.n_folds
        tested = [c for f in r.folds for c in f.test_clips]
        assert sorted(tested) == sorted(set(data.clips.tolist()))  # each clip once
        assert all(f.test_frames_in_train == 0.0 for f in r.folds)
        assert r.test_frames_in_train == 0.0
        assert r.n_test == sum(f.n_test for f in r.folds)  # pooled out-of-fold predictions
    for _, test in trace():  # the scored test windows lie inside their clips, in time order
        for w in test:
            assert len({data.clips[f] for f in w}) == 1 and list(w) == list(range(w[0], w[0] + 10))


def test_leakage_is_reported_per_rung():
    data = _clips()
    share = {p: run_protocol(p, data, "LSTM", TINY).runs[0].test_frames_in_train
             for p in ("paper", "temporal", "strict-test-only")}
    assert share["paper"] > 0.95  # shuffled frames: almost every test frame was trained on
    assert 0.3 < share["temporal"] < 1.0  # reported, not hidden
    assert share["strict-test-only"] == 0.0
    # the windows early stopping watches: the test split itself (paper), frames shared with
    # test windows (paper-val: overlapping windows), none (strict: other clips)
    watched = {p: run_protocol(p, data, "LSTM", TINY).runs[0] for p in ("paper", "paper-val", "strict-test-only")}
    assert watched["paper"].test_frames_in_val == 1.0
    assert 0.0 < watched["paper-val"].test_frames_in_val < 1.0
    assert watched["strict-test-only"].test_frames_in_val == 0.0
    assert all(sum(f.test_classes) == f.n_test for f in watched["strict-test-only"].folds)


def test_too_few_windows_to_stratify_is_a_clear_error():
    X, y = _data(n=30)
    y[:] = 0
    y[-1] = 1  # one abnormal frame: one abnormal window, which cannot sit on both sides
    with pytest.raises(InputError, match=r"the random split of windows cannot be stratified \(21 windows, per class"):
        run_protocol("paper", FrameFeatures(X, y), "LSTM", TINY)


def test_clip_rungs_need_clip_ids():
    data = _clips()
    bare = FrameFeatures(data.X, data.y)
    for protocol in ("temporal", "strict-test-only"):
        with pytest.raises(InputError, match=f"protocol '{protocol}' needs the clip of every frame"):
            run_protocol(protocol, bare, "LSTM", TINY)
    with pytest.raises(InputError, match="trains no head"):
        run_protocol("standard", data, "LSTM", TINY)


def test_paper_order_is_the_notebooks_concatenation():
    # frames in source order (classes interleaved) give the same windows as the pair files
    data = _clips()
    order = data.paper_order()
    assert (np.diff(data.y[order]) >= 0).all()
    pair = FrameFeatures(data.X[order], data.y[order])
    a = run_protocol("paper", data, "LSTM", TINY)
    b = run_protocol("paper", pair, "LSTM", TINY)
    assert [r.metrics for r in a.runs] == [r.metrics for r in b.runs]
