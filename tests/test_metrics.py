import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.metrics import binary_metrics, format_summary, summarize
from anomaly_ref.valuefmt import format_value


def _by_hand(y, p):
    """Confusion counts and the Mann-Whitney U form of ROC-AUC, independent of sklearn."""
    pred = p > 0.5
    tp = np.sum(pred & (y == 1)); fp = np.sum(pred & (y == 0)); fn = np.sum(~pred & (y == 1))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    pos, neg = p[y == 1], p[y == 0]
    pairs = len(pos) * len(neg)
    auc = ((pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()) / pairs if pairs else np.nan
    return {"accuracy": np.mean(pred == y), "precision": prec, "recall": rec, "f1": f1, "roc_auc": auc}


@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.2, 0.5, 0.50001, 0.7, 1.0])), min_size=2, max_size=60))
def test_metrics_match_definitions(pairs):
    y = np.array([a for a, _ in pairs]); p = np.array([b for _, b in pairs])
    got = binary_metrics(y, p)
    want = _by_hand(y, p)
    for k in ("accuracy", "precision", "recall", "f1"):
        assert got[k] == pytest.approx(want[k])
    if len(np.unique(y)) == 2:
        assert got["roc_auc"] == pytest.approx(want["roc_auc"])
    else:
        assert np.isnan(got["roc_auc"])


def test_threshold_is_strict():
    m = binary_metrics(np.array([1, 0]), np.array([0.5, 0.2]))
    assert m["recall"] == 0.0 and m["precision"] == 0.0  # 0.5 is not > 0.5


def test_summary_uses_population_std_and_workbook_format():
    runs = [{m: v for m in ("accuracy", "precision", "recall", "f1", "roc_auc")} for v in (0.9, 1.0)]
    s = summarize(runs)
    assert s["f1"] == pytest.approx((0.95, 0.05))  # ddof=0; ddof=1 would give 0.0707
    assert format_value(0.98554, 0.00276) == "0.9855 ± 0.0028"
    text = format_summary(s, "LSTM", 2)
    assert text.splitlines()[0] == "==== Summary for LSTM (over 2 runs) ===="
    assert "Auc: 0.9500 ± 0.0500" in text


def test_length_mismatch():
    with pytest.raises(InputError, match="y_true has 3, proba has 2"):
        binary_metrics(np.array([0, 1, 1]), np.array([0.1, 0.9]))
