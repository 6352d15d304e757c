import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.rocauc import auc, auc_many, percentiles, row_auc, sort_groups

# few distinct scores, so that ties are common; weights with zeros and fractions
items = st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.5, 0.50001, 0.9, 3.0]),
                           st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0])), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(items)
def test_auc_is_sklearns_weighted_roc_auc(rows):
    y, s, w = (np.array(c) for c in zip(*rows))
    got_w, got = auc(y, s, w), auc(y, s)
    if w[y == 1].sum() > 0 and w[y == 0].sum() > 0:
        assert got_w == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    else:
        assert np.isnan(got_w)  # a class with no weight: undefined, not an error
    if len(np.unique(y)) == 2:
        assert got == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    else:
        assert np.isnan(got)


def test_auc_counts_ties_one_half():
    assert auc([0, 1], [0.3, 0.3]) == 0.5
    assert auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx((1 + 0.5 + 1 + 1) / 4)


def test_auc_many_equals_a_loop_of_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 40, 300) / 7.0  # ties
    W = rng.integers(0, 4, (64, 300)).astype(float)
    W[0] = 0.0
    W[1] = y  # no class-0 weight
    want = np.array([auc(y, s, w) for w in W])
    got = auc_many(y, s, W)
    assert np.isnan(got[:2]).all() and np.isnan(want[:2]).all()
    np.testing.assert_allclose(got[2:], want[2:], rtol=0, atol=1e-12)


def test_grouped_kernels_match_their_definitions():
    """Per-group percentiles are mid-ranks; per-row sorting gives the same AUC as one sort."""
    rng = np.random.default_rng(2)
    s = rng.integers(0, 10, 200).astype(float)
    g = rng.integers(0, 5, 200)
    pct = percentiles(sort_groups(s, g), np.ones((1, 200)))[0]
    for k in range(5):
        v = s[g == k]
        np.testing.assert_array_equal(pct[g == k], (rankdata(v) - 0.5) / len(v))
    y = rng.integers(0, 2, 200).astype(float)
    W = rng.integers(0, 3, (8, 200)).astype(float)
    S = np.broadcast_to(s, W.shape)
    np.testing.assert_allclose(row_auc(S, W * y, W * (1 - y)), auc_many(y, s, W), atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: auc([0, 1, 1], [0.1, 0.9]), "y has 3, expected 2"),
    (lambda: auc([0, 2], [0.1, 0.9]), r"y must hold labels 0/1; found 2 at position 1"),
    (lambda: auc([0, 1], [0.1, np.nan]), "s must hold finite values; found nan at position 1"),
    (lambda: auc([0, 1], [0.1, 0.9], [1.0, -1.0]),
     r"w must hold finite non-negative weights; found -1.0 at position 1"),
    (lambda: auc_many([0, 1], [0.1, 0.9], np.ones(2)), r"W must be an array of shape \(B, 2\), got shape \(2,\)"),
])
def test_bad_input_names_the_parameter_and_value(call, match):
    with pytest.raises(InputError, match=match):
        call()
