import numpy as np
from sklearn.model_selection import train_test_split

from anomaly_ref.protocol.runner import PaperConfig, paper_split, run_paper
from anomaly_ref.protocol.sequences import paper_sequences
from anomaly_ref.protocol.train import TrainConfig

FAST = PaperConfig(n_runs=2, train=TrainConfig(max_epochs=3))


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
    a = run_paper(X, y, "SimpleRNN", FAST)
    b = run_paper(X, y, "SimpleRNN", FAST)
    assert [r.metrics for r in a.runs] == [r.metrics for r in b.runs]
    assert [r.split_seed for r in a.runs] == [0, 1]
    assert a.runs[0].n_test == round(0.2 * (len(X) - 9)) or a.runs[0].n_test == int(np.ceil(0.2 * (len(X) - 9)))
    c = run_paper(X, y, "SimpleRNN", PaperConfig(n_runs=2, model_seed=5, train=TrainConfig(max_epochs=3)))
    assert [r.metrics for r in a.runs] != [r.metrics for r in c.runs]
    d = a.to_dict()
    assert set(d["summary"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert d["config"]["shuffle_seed"] == 42 and len(d["runs"]) == 2
