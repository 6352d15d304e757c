import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.nulls import base_rate_scores, permutation_null, permuted_labels
from anomaly_ref.protocol.stats import STATISTICS, Scores, bootstrap, fold_aucs, statistic


def kfold_table(rng, n_clips, n_runs, n_folds, labels, scores):
    """Every frame of every clip scored once per run; each run partitions the clips into folds.
    ``scores(y, clip, fold)`` gives the run's scores."""
    clip = np.concatenate([np.full(len(labels[c]), c) for c in range(n_clips)])
    index = np.concatenate([np.arange(len(labels[c])) for c in range(n_clips)])
    y = np.concatenate([labels[c] for c in range(n_clips)])
    folds = [(rng.permutation(n_clips) % n_folds)[clip] for _ in range(n_runs)]
    return Scores(run=np.repeat(np.arange(n_runs), len(y)), fold=np.concatenate(folds), clip=np.tile(clip, n_runs),
                  index=np.tile(index, n_runs), label=np.tile(y, n_runs),
                  score=np.concatenate([scores(y, clip, f) for f in folds]))


def train_shares(t):
    """Class-1 share of each unit's training set, the other folds of its run (strict, test clips only)."""
    return {(r, f): t.label[(t.run == r) & (t.fold != f)].mean() for r, f in zip(*fold_aucs(t)[:2])}


def test_the_base_rate_scorer_shows_the_pooling_artefact():
    """A scorer that knows nothing but its fold's training base rate: pooled raw scores put it
    below chance (a fold testing many abnormal frames trained on few); every within-fold
    statistic puts it at 0.5 exactly, in the bootstrap too."""
    rng = np.random.default_rng(0)
    share = rng.uniform(0, 0.9, 12)  # unbalanced clips: abnormal share per clip
    labels = {c: (rng.random(rng.integers(20, 40)) < share[c]).astype(int) for c in range(12)}
    t = kfold_table(rng, 12, 3, 4, labels, lambda y, clip, fold: np.zeros(len(y)))
    base = t.with_scores(base_rate_scores(t, train_shares(t)))
    assert statistic(base, "raw_pooled_auc") < 0.42
    for name in ("mean_fold_auc", "rank_pooled_auc", "within_clip_auc"):
        assert statistic(base, name) == 0.5
        b = bootstrap(base, name, n_resamples=200, rng=1)
        assert (b.low, b.high) == (0.5, 0.5)


def circular_labels(rng, n_clips, width=0.4):
    """Each clip abnormal over ``width`` of its length from a uniform random relative onset,
    wrapping round: every relative position is equally often abnormal, so a label borrowed from
    another clip at the same relative position says nothing of the own label."""
    out = {}
    for c in range(n_clips):
        n = rng.integers(30, 60)
        out[c] = (((np.arange(n) / n - rng.random()) % 1.0) < width).astype(int)
    return out


@pytest.mark.parametrize("name", ["mean_fold_auc", "rank_pooled_auc"])
@pytest.mark.parametrize("signal", [0.0, 1.0], ids=["unrelated", "informative"])
def test_the_permutation_null_centres_on_half(name, signal):
    rng = np.random.default_rng(1)
    labels = circular_labels(rng, 40)
    effect = rng.normal(0, 0.5, 40)

    def scores(y, clip, fold):  # clip effects and fold models calibrated differently
        return signal * y + effect[clip] + rng.normal(0, 1, 4)[fold] + rng.normal(size=len(y))

    t = kfold_table(rng, 40, 2, 4, labels, scores)
    band = permutation_null(t, labels, name, n_permutations=200, rng=2)
    assert band.n_permutations == 200 and band.n_undefined == 0
    assert band.mean == pytest.approx(0.5, abs=0.015)
    assert band.low < 0.5 < band.high
    if signal:
        assert band.observed > band.high and band.p_value == pytest.approx(1 / 201)


def test_a_scorer_of_position_in_clip_is_inside_the_band_where_anomalies_share_a_position():
    """The documented limit of the surrogate: labels borrowed at the same relative position
    agree with the true ones when every clip is abnormal at its end."""
    rng = np.random.default_rng(4)
    labels = {c: (np.arange(n) >= 0.7 * n).astype(int) for c, n in enumerate(rng.integers(30, 60, 20))}
    t = kfold_table(rng, 20, 2, 4, labels, lambda y, clip, fold: rng.random(len(y)))
    t = t.with_scores(t.index / np.array([len(labels[c]) for c in t.clip]) + rng.normal(0, 0.1, len(t)))
    band = permutation_null(t, labels, "mean_fold_auc", n_permutations=200)
    assert band.observed > 0.9 and band.p_value > 0.3 and band.mean > 0.9


def test_permuted_labels_borrow_the_same_relative_position():
    labels = {"a": np.array([0, 1, 1]), "b": np.array([0, 0, 1, 1, 0])}
    t = Scores(run=np.zeros(8, int), fold=np.zeros(8, int), clip=["a"] * 3 + ["b"] * 5,
               index=[0, 1, 2, 0, 1, 2, 3, 4], label=[0, 1, 1, 0, 0, 1, 1, 0], score=np.arange(8.0))
    Y = permuted_labels(t, labels, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(Y[0], t.label)  # the identity gives the table's labels back
    # a's frames 0, 1, 2 -> b's 0, 2, 4; b's frames 0..4 -> a's 0, 0.5 -> 1, 1, 1.5 -> 2, 2
    np.testing.assert_array_equal(Y[1], [0, 1, 0, 0, 1, 1, 1, 1])


def test_an_identity_only_null_is_the_observed_statistic():
    rng = np.random.default_rng(3)
    labels = circular_labels(rng, 1)
    t = kfold_table(rng, 1, 2, 1, labels, lambda y, clip, fold: y + rng.normal(size=len(y)))
    for name in STATISTICS:
        band = permutation_null(t, labels, name, n_permutations=5)
        assert band.low == band.high == band.mean == pytest.approx(band.observed)


def _two_clips():
    return Scores(run=[0, 0], fold=[0, 0], clip=["a", "b"], index=[0, 2], label=[0, 1], score=[0.1, 0.9])


@pytest.mark.parametrize("call, match", [
    (lambda: permutation_null(_two_clips(), {"a": [0]}), r"clip_labels lacks 1 clips of the table, e.g. \['b'\]"),
    (lambda: permutation_null(_two_clips(), {"a": [0], "b": [0, 1]}),
     "item 1 of clip 'b' has index 2, past the clip's 2 frame labels"),
    (lambda: permutation_null(_two_clips(), {"a": [0], "b": [1, 1, 0]}),
     "label of item 1 .clip 'b', index 2. is 1, but clip_labels gives 0"),
    (lambda: permutation_null(_two_clips(), {"a": [0], "b": [1, 1, 2]}), r"clip_labels\['b'\] must hold labels 0/1"),
    (lambda: permuted_labels(_two_clips(), {"a": [0], "b": [1, 1, 1]}, [[0, 0]]), r"rows permute range\(2\)"),
    (lambda: base_rate_scores(_two_clips(), {}),
     r"train_share lacks 1 \(run, fold\) units of the table, e.g. \[\(0, 0\)\]"),
    (lambda: base_rate_scores(_two_clips(), {(0, 0): 1.2}), r"unit \(run 0, fold 0\) has 1.2"),
])
def test_bad_input_says_what_and_where(call, match):
    with pytest.raises(InputError, match=match):
        call()
