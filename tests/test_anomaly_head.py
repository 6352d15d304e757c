"""The cross-fitted anomaly head: folds by clip parity, and the folded torch layer equals scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomaly_ref.errors import InputError
from anomaly_ref.extraction.anomaly_head import fit_heads, fold_of, parity_folds


def toy(n_clips=4, per_clip=30, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    clips = np.repeat(np.arange(1, n_clips + 1), per_clip)
    y = (rng.random(len(clips)) < 0.6).astype(int)
    X = rng.normal(size=(len(clips), dim)) * [1, 10, 0.1, 5, 2] + [3, -2, 0, 50, 1]
    X[:, 0] += 2 * y  # one informative feature
    return X.astype(np.float32), y, clips


def test_parity_folds_and_fold_of():
    folds = parity_folds([3, 1, 2, 2, 4, 5])
    assert folds == [(1, 3, 5), (2, 4)]
    assert fold_of(5, folds) == 0 and fold_of("4", folds) == 1
    with pytest.raises(InputError, match="odd and even"):
        parity_folds([1, 3])
    with pytest.raises(InputError, match="in no fold"):
        fold_of(7, folds)


def test_folded_layer_equals_the_sklearn_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, clips = toy()
    folds = parity_folds(clips)
    head, described = fit_heads(X, y, clips, folds)
    assert head.weight.shape == (2, 5)
    with torch.no_grad():
        out = head(torch.from_numpy(X)).double().numpy()
    for f, test in enumerate(folds):
        train = ~np.isin(clips, test)
        pipe = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000))
        pipe.fit(X[train].astype(np.float64), y[train])
        np.testing.assert_allclose(out[:, f], pipe.decision_function(X.astype(np.float64)), rtol=1e-4, atol=1e-4)
        d = described[f]
        assert d.test_clips == test and set(d.train_clips).isdisjoint(test)
        assert d.n_train == train.sum() and d.n_test == (~train).sum() and d.test_auc > 0.7


def test_a_fold_without_both_classes_is_an_error():
    X, y, clips = toy()
    y[np.isin(clips, [2, 4])] = 1
    with pytest.raises(InputError, match="only one class"):
        fit_heads(X, y, clips, parity_folds(clips))
