import numpy as np
import pytest
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from anomaly_ref.errors import InputError, UnknownNameError
from anomaly_ref.protocol import stats
from anomaly_ref.protocol.rocauc import auc
from anomaly_ref.protocol.stats import (STATISTICS, Scores, bootstrap, clip_resamples, evaluate, fold_aucs,
                                        paired_difference, per_run, rank_percentiles, spread, statistic,
                                        within_clip_aucs)


def clip_table(rng, n_clips=12, n_runs=2, n_folds=3, signal=1.0, calibration=1.0, lengths=(6, 14)):
    """Out-of-fold scores of a k-fold over whole clips, one partition per run. A clip is normal,
    or abnormal from a random onset on; scores = signal * label + clip effect + fold offset
    (fold models calibrated differently) + noise."""
    length = rng.integers(*lengths, n_clips)
    onset = np.where(rng.random(n_clips) < 0.3, length, rng.integers(1, length))
    labels = {c: (np.arange(length[c]) >= onset[c]).astype(int) for c in range(n_clips)}
    clip = np.concatenate([np.full(length[c], c) for c in range(n_clips)])
    index = np.concatenate([np.arange(length[c]) for c in range(n_clips)])
    y = np.concatenate([labels[c] for c in range(n_clips)])
    effect = rng.normal(0, 0.5, n_clips)[clip]
    cols = {k: [] for k in ("run", "fold", "clip", "index", "label", "score")}
    for r in range(n_runs):
        fold = (rng.permutation(n_clips) % n_folds)[clip]
        offset = rng.normal(0, calibration, n_folds)[fold]
        for k, v in zip(cols, (np.full(len(y), r), fold, clip, index, y,
                               signal * y + effect + offset + rng.normal(size=len(y)))):
            cols[k].append(v)
    return Scores.from_columns({k: np.concatenate(v) for k, v in cols.items()}), labels


def resampled(t, counts):
    """The table a clip resample draws, built item by item: clip c repeated counts[c] times,
    each copy a clip of its own in its original run and fold."""
    rows = [np.flatnonzero(t.clip_code == c) for c, k in enumerate(counts) for _ in range(int(k))]
    copy = np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)])
    rows = np.concatenate(rows)
    return Scores(run=t.run[rows], fold=t.fold[rows], clip=copy, index=t.index[rows], label=t.label[rows],
                  score=t.score[rows])


def test_statistics_match_their_definitions():
    t, _ = clip_table(np.random.default_rng(0))
    runs, folds = [], []
    for r in t.runs:
        m = t.run == r
        per_fold = [roc_auc_score(t.label[m & (t.fold == f)], t.score[m & (t.fold == f)])
                    for f in np.unique(t.fold[m])]
        pct = np.empty(len(t))
        for f in np.unique(t.fold[m]):
            u = m & (t.fold == f)
            pct[u] = (rankdata(t.score[u]) - 0.5) / u.sum()
        clips = [roc_auc_score(t.label[m & (t.clip == c)], t.score[m & (t.clip == c)])
                 for c in t.clips if len(np.unique(t.label[m & (t.clip == c)])) == 2]
        runs.append({"mean_fold_auc": np.mean(per_fold), "rank_pooled_auc": roc_auc_score(t.label[m], pct[m]),
                     "raw_pooled_auc": roc_auc_score(t.label[m], t.score[m]), "within_clip_auc": np.mean(clips)})
        folds += per_fold
    for name in STATISTICS:
        assert list(per_run(t, name).values()) == pytest.approx([r[name] for r in runs], abs=1e-12)
        assert statistic(t, name) == pytest.approx(np.mean([r[name] for r in runs]), abs=1e-12)
    assert fold_aucs(t).auc == pytest.approx(folds, abs=1e-12) and fold_aucs(t).n_skipped == 0
    per_clip = within_clip_aucs(t)
    assert np.mean(list(per_clip.values())) == pytest.approx(statistic(t, "within_clip_auc"), abs=1e-12)
    assert all(len(np.unique(t.label[t.clip == c])) == 2 for c in per_clip)


def test_a_table_read_back_from_csv_gives_the_same_statistics(tmp_path):
    """The audit's scores file, read with pandas (str clip ids as objects), recomputes every figure."""
    pd = pytest.importorskip("pandas")
    t, _ = clip_table(np.random.default_rng(8))
    t = Scores(**{**{c: getattr(t, c) for c in ("run", "fold", "index", "label", "score")},
                  "clip": np.array([f"Test{c:03d}" for c in t.clip])})
    pd.DataFrame({c: getattr(t, c) for c in ("run", "fold", "clip", "index", "label", "score")}).to_csv(
        tmp_path / "scores.csv.gz", index=False)
    back = Scores.from_columns(pd.read_csv(tmp_path / "scores.csv.gz"))
    assert back.clip.dtype == object
    for name in STATISTICS:
        assert statistic(back, name) == statistic(t, name)
    assert bootstrap(back, n_resamples=100).low == bootstrap(t, n_resamples=100).low


def test_rank_percentiles_are_mid_ranks_inside_each_fold():
    t = Scores(run=[0, 0, 0, 0, 1, 1], fold=[0, 0, 0, 1, 0, 0], clip=[1, 1, 2, 3, 1, 2], index=[0, 1, 0, 0, 0, 1],
               label=[0, 1, 1, 0, 0, 1], score=[0.2, 0.9, 0.2, 5.0, 3.0, 1.0])
    np.testing.assert_array_equal(rank_percentiles(t), [1 / 3, 5 / 6, 1 / 3, 0.5, 0.75, 0.25])  # 0.2 tied: rank 1.5


def test_a_fold_with_one_class_is_skipped_and_counted():
    t, _ = clip_table(np.random.default_rng(1), n_runs=1)
    keep = ~((t.fold == 0) & (t.label == 1))  # fold 0 now tests normal frames only
    t = t.subset(keep)
    a = fold_aucs(t)
    assert a.n_skipped == 1 and np.isnan(a.auc[a.fold == 0]).all()
    assert statistic(t, "mean_fold_auc") == pytest.approx(np.nanmean(a.auc))


@pytest.mark.parametrize("name", list(STATISTICS))
def test_a_weighted_statistic_is_the_statistic_of_the_resampled_table(name):
    """What the bootstrap computes with weights equals the statistic of the drawn clips, copied."""
    t, _ = clip_table(np.random.default_rng(2))
    M = clip_resamples(len(t.clips), 6, rng=3)
    M[0] = 0
    M[0, :3] = 4  # a draw of few clips, some folds left empty
    want = [statistic(resampled(t, m), name) for m in M]
    np.testing.assert_allclose(evaluate(t, name, M), want, rtol=0, atol=1e-12)


def test_blocks_of_rows_change_nothing(monkeypatch):
    t, _ = clip_table(np.random.default_rng(4))
    M = clip_resamples(len(t.clips), 20, rng=0)
    whole = {n: evaluate(t, n, M) for n in STATISTICS}
    monkeypatch.setattr(stats, "ROW_BLOCK", len(t) * 3)  # 3 resamples per block
    for n in STATISTICS:
        np.testing.assert_array_equal(evaluate(t, n, M), whole[n])


MU, TAU, FRAMES = 1.0, 0.7, 20  # class shift and sd of the clip effect (frame noise sd 1)


def _clips(rng, n_clips):
    """Frames of clips: a third all normal, the rest abnormal from a random onset on; binormal
    scores with a clip random effect. Pooled over infinitely many clips the ROC-AUC is
    Phi(MU / sqrt(2 TAU^2 + 2)) (the two frames of a pair come from different clips)."""
    onset = rng.integers(4, FRAMES - 3, n_clips)
    onset[rng.random(n_clips) < 1 / 3] = FRAMES
    y = np.arange(FRAMES) >= onset[:, None]
    s = rng.normal(0, TAU, (n_clips, 1)) + MU * y + rng.normal(size=(n_clips, FRAMES))
    return y.ravel().astype(int), s.ravel(), np.repeat(np.arange(n_clips), FRAMES)


def test_the_clip_bootstrap_interval_covers_a_known_auc_at_its_rate():
    rng = np.random.default_rng(0)
    truth = auc(*_clips(rng, 20_000)[:2])  # the pooled AUC of the process, from a very large sample
    assert truth == pytest.approx(norm.cdf(MU / np.sqrt(2 * TAU**2 + 2)), abs=0.005)
    hits = []
    for k in range(200):
        y, s, clip = _clips(rng, 30)
        zero = np.zeros_like(clip)
        t = Scores(run=zero, fold=zero, clip=clip, index=np.tile(np.arange(FRAMES), 30), label=y, score=s)
        b = bootstrap(t, "raw_pooled_auc", n_resamples=1000, rng=k)
        assert b.n_undefined == 0 and b.low < b.estimate < b.high
        hits.append(b.low <= truth <= b.high)
    # 95% nominal over 200 simulations: binomial sd 0.015
    assert 0.90 <= np.mean(hits) <= 0.99


def test_bootstrap_is_reproducible_from_its_seed():
    t, _ = clip_table(np.random.default_rng(5))
    a = bootstrap(t, n_resamples=200, rng=7)
    b = bootstrap(t, n_resamples=200, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.distribution, b.distribution)
    assert not np.array_equal(a.distribution, bootstrap(t, n_resamples=200, rng=8).distribution)
    d = a.to_dict()
    assert d["n_resamples"] == 200 and d["low"] <= d["estimate"] <= d["high"] and d["statistic"] == "mean_fold_auc"


def test_paired_difference_of_identical_tables_is_zero():
    t, _ = clip_table(np.random.default_rng(6))
    d = paired_difference(t, t.with_scores(t.score.copy()), "rank_pooled_auc", n_resamples=300)
    assert (d.difference, d.low, d.high, d.share_le_0) == (0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("name", list(STATISTICS))
def test_paired_difference_of_a_better_scorer_excludes_zero(name):
    t, _ = clip_table(np.random.default_rng(7), n_clips=16, signal=0.5)
    better = t.with_scores(t.score + 1.5 * t.label)
    d = paired_difference(better, t, name, n_resamples=300, rng=1)
    assert d.difference > 0 and 0 < d.low <= d.high and d.share_le_0 == 0.0
    assert d.difference == pytest.approx(statistic(better, name) - statistic(t, name))


def test_spread_gives_both_stds_and_none_for_one_value():
    s = spread([0.9, 1.0, np.nan])
    assert (s.mean, s.n, s.n_undefined) == (pytest.approx(0.95), 2, 1)
    assert s.std == pytest.approx(0.05) and s.std_sample == pytest.approx(0.05 * np.sqrt(2))
    one = spread([0.7])
    assert (one.mean, one.std, one.std_sample) == (0.7, None, None)
    assert np.isnan(spread([np.nan]).mean)


def _table(**change):
    cols = dict(run=[0, 0], fold=[0, 0], clip=["a", "b"], index=[0, 0], label=[0, 1], score=[0.1, 0.9])
    return Scores(**{**cols, **change})


@pytest.mark.parametrize("call, error, match", [
    (lambda: _table(label=[0, 2]), InputError, "label must hold labels 0/1; found 2 at position 1"),
    (lambda: _table(score=[0.1]), InputError, "score has 1, expected 2|clip has 2, expected 1"),
    (lambda: _table(score=[0.1, np.inf]), InputError, "score must hold finite values; found inf at position 1"),
    (lambda: _table(index=[0, -3]), InputError, "index must hold frame indices >= 0; found -3"),
    (lambda: _table(fold=[0.0, 1.5]), InputError, "fold must hold integers, got dtype float64"),
    (lambda: _table(clip=np.array(["a", 1], dtype=object)), InputError, "clip ids must be all str or all int"),
    (lambda: Scores.from_columns({"run": [0]}), InputError, r"columns lack \['fold', 'clip'"),
    (lambda: statistic(_table(), "pooled_auc"), UnknownNameError,
     "unknown statistic 'pooled_auc'; valid: mean_fold_auc, rank_pooled_auc, raw_pooled_auc, within_clip_auc"),
    (lambda: bootstrap(_table(), rng=None), InputError, "rng must be a numpy Generator or an int seed, got None"),
    (lambda: bootstrap(_table(), level=95), InputError, r"level must lie in \(0, 1\), got 95"),
    (lambda: bootstrap(_table(), n_resamples=0), InputError, "n_resamples must be an integer >= 1, got 0"),
    (lambda: paired_difference(_table(), _table(clip=[1, 2])), InputError,
     r"only in a \['a', 'b'\], only in b \[1, 2\]"),
    (lambda: paired_difference(_table(), _table(clip=["a", "c"])), InputError,
     r"same test clips: only in a \['b'\], only in b \['c'\]"),
    (lambda: evaluate(_table(), "raw_pooled_auc", np.ones((2, 3))), InputError,
     r"clip_weights must be an array of shape \(B, 2\), got shape \(2, 3\)"),
])
def test_bad_input_says_what_and_where(call, error, match):
    with pytest.raises(error, match=match):
        call()
