"""The audit a skeptical reviewer accepts (issue 21): independent partitions, copies and
training-clip frames only ever in training, leakage by source frame, every score kept and
every figure recomputable from ``scores.csv.gz`` alone, shortcut probes on a construction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from anomaly_ref.cli import main
from anomaly_ref.data.featurefiles import write_paper_files
from anomaly_ref.protocol import stats
from anomaly_ref.protocol.features import FrameFeatures
from anomaly_ref.protocol.runner import ProtocolConfig, build_windows, make_splits, window_roles
from anomaly_ref.protocol.sequences import Windows
from anomaly_ref.protocol.splits import clip_partitions, leaked_frame_share
from anomaly_ref.protocol.train import TrainConfig
from anomaly_ref.registry import get_protocol

BACKBONE = "tf_efficientnet_lite0"


def _clips(n_clips=8, n=24, seed=0):
    rng = np.random.default_rng(seed)
    labels, clips, index = [], [], []
    for c in range(1, n_clips + 1):
        cut = int(rng.integers(n // 2, n - 4))
        labels += [0] * cut + [1] * (n - cut)
        clips += [c] * n
        index += list(range(n))
    return np.array(labels), np.array(clips), np.array(index)


# ------------------------------------------------------------------ partitions


def test_every_run_draws_its_own_partition_when_the_clips_allow():
    labels, clips, _ = _clips(n_clips=12)
    parts = clip_partitions(labels, clips, 4, 5, random_state=0)
    keys = [frozenset(frozenset(f.tolist()) for f in p) for p in parts]
    assert len(set(keys)) == 5  # no two runs alike (StratifiedGroupKFold gave runs 2 and 3 the same folds)
    for p in parts:  # each a partition: every clip tested exactly once per run
        assert sorted(c for f in p for c in f.tolist()) == sorted(map(str, range(1, 13)))
    assert [[f.tolist() for f in p] for p in parts] == [
        [f.tolist() for f in p] for p in clip_partitions(labels, clips, 4, 5, random_state=0)]  # seeded


def test_where_only_one_partition_exists_runs_repeat_it_and_say_so(caplog):
    labels, clips, _ = _clips(n_clips=2)
    parts = clip_partitions(labels, clips, 2, 3, random_state=0)
    assert len({frozenset(frozenset(f.tolist()) for f in p) for p in parts}) == 1
    assert "fewer distinct valid partitions" in caplog.text


# ------------------------------------------------------------- leakage by source


def test_a_copy_of_a_test_frame_in_training_is_a_leak():
    # frames 0-3: originals of one clip; rows 4-7: flipped copies of the same frames
    X = np.zeros((8, 2), np.float32)
    data = FrameFeatures(X, np.zeros(8, np.int64), np.array([1] * 8), np.r_[np.arange(4), np.arange(4)],
                         np.array(["original"] * 4 + ["flip"] * 4))
    w = Windows(X, data.y, np.array([0, 4]), seq_len=4, rows=np.arange(8))
    assert leaked_frame_share(w, np.array([1]), np.array([0])) == 0.0  # rows: no overlap
    assert leaked_frame_share(w, np.array([1]), np.array([0]), data.source_codes()) == 1.0  # sources: all


# ------------------------------------------------- a construction, audited


def _construction(folder, seed=0):
    """Test clips (Test001-006) with abnormal tails, flipped copies of clip 1-2's abnormal frames,
    and normal Train clips (Train001-004), as 'anomaly-ref extract --construction paper' names them."""
    rng = np.random.default_rng(seed)
    labels, clips, index, copies = [], [], [], []
    for c in range(1, 7):
        n, cut = 32, int(rng.integers(12, 17))
        for i in range(n):
            labels.append(int(i >= cut)), clips.append(f"Test{c:03d}"), index.append(i), copies.append("original")
            if i >= cut and c <= 3:
                labels.append(1), clips.append(f"Test{c:03d}"), index.append(i), copies.append("flip")
    for c in range(1, 5):
        for i in range(20):
            labels.append(0), clips.append(f"Train{c:03d}"), index.append(i), copies.append("original")
    labels, copies = np.array(labels), np.array(copies)
    X = rng.normal(size=(len(labels), 6)).astype(np.float32) + 0.8 * labels[:, None]
    X[copies == "flip"] += 20.0  # a copy is easy to spot: the shortcut the probes must find
    write_paper_files(folder, BACKBONE, X, clips, index, labels,
                      extra={"augmentation": copies.tolist(), "params": [""] * len(labels)})
    return folder


@pytest.fixture(scope="module")
def construction_audit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("construction")
    folder = _construction(tmp / "feats")
    out = tmp / "audit"
    rc = main(["audit", "--source", str(folder), "--dataset", "ped2", "--backbone", BACKBONE, "--head", "GRU",
               "--head", "last-frame", "--runs", "2", "--max-epochs", "20", "--folds", "3", "--out", str(out)])
    assert rc == 0
    return json.loads((out / "audit.json").read_text()), out


def test_copies_and_training_clips_only_ever_train(construction_audit):
    doc, out = construction_audit
    assert doc["audit"]["protocols"] == ["paper", "paper-val", "temporal", "strict-test-only", "strict", "standard"]
    assert doc["audit"]["construction"] == {"rows": 6 * 32 + 4 * 20 + doc["audit"]["construction"]["copies"],
                                            "copies": doc["audit"]["construction"]["copies"],
                                            "train_clip_frames": 80, "test_clip_originals": 6 * 32}
    scores = pd.read_csv(out / "scores.csv.gz")
    for rung in ("strict-test-only", "strict", "standard"):
        part = scores[scores["rung"] == rung]
        assert (part["copy"] == "original").all() and (part["origin"] == "test").all(), rung
        assert part["clip"].str.startswith("Test").all()
    strict = [e for e in doc["results"] if e["protocol"] == "strict"][0]
    only = [e for e in doc["results"] if e["protocol"] == "strict-test-only"][0]
    for with_train, without in zip(strict["runs"], only["runs"]):
        assert all(f["test_frames_in_train"] == 0.0 for f in with_train["folds"])  # by source frame
        assert with_train["n_train"] > without["n_train"]  # the Train clips' windows, in every fold
    # the paper's rung scores copies and Train frames (as the notebooks did): probe (a) reads them
    scored = {(r["rung"], r["head"]): r for r in doc["audit"]["probes"]["scored"]}
    assert "copy_vs_original" in scored[("paper", "GRU")] and "train_vs_test_clip" in scored[("paper", "GRU")]
    assert ("strict", "GRU") not in scored


def test_the_probes_are_trained_and_scored_with_intervals(construction_audit):
    doc, _ = construction_audit
    trained = {(e["protocol"], e["head"]): e for e in doc["audit"]["probes"]["trained"]}
    assert set(trained) == {("probe:is-copy", h) for h in ("GRU", "last-frame")} | {
        ("probe:is-train-clip", h) for h in ("GRU", "last-frame")}
    for entry in trained.values():
        assert all(min(f["test_classes"]) > 0 for run in entry["runs"] for f in run["folds"])
        interval = entry["stats"]["mean_fold_auc"]["interval"]
        assert interval["n_resamples"] == 1000 and interval["low"] <= interval["high"]


def test_a_probe_finds_a_planted_shortcut():
    """Copies shifted by +3 on every feature: a head trained to tell copies from originals does,
    on clips it never saw (every fold whose weights moved past initialisation)."""
    from anomaly_ref.studies import probes

    rng = np.random.default_rng(0)
    labels, clips, index, copies = [], [], [], []
    for c in range(1, 7):
        cut = int(rng.integers(20, 28))
        rows = [(int(i >= cut), i, "original") for i in range(64)]
        rows += [(1, i, "flip") for i in range(cut, 64)] if c <= 3 else []
        for y, i, k in rows:
            labels.append(y), clips.append(f"Test{c:03d}"), index.append(i), copies.append(k)
    labels, copies = np.array(labels), np.array(copies)
    X = (rng.normal(size=(len(labels), 6)) + 3.0 * (copies == "flip")[:, None]).astype(np.float32)
    data = FrameFeatures(X, labels, np.array(clips), np.array(index), copies)
    config = ProtocolConfig(n_runs=2, n_folds=3, train=TrainConfig(max_epochs=50))
    targets, skipped = probes.plan(data, config)
    assert targets == ["is-copy"] and skipped == []  # no Train clips here: one probe
    (result,) = probes.train_probes(data, targets, ["last-frame"], config)
    moved = [f.metrics["roc_auc"] for run in result.runs for f in run.folds if f.weights_epoch > 0]
    assert len(moved) >= 3 and min(moved) > 0.8, moved


def test_every_figure_can_be_recomputed_from_the_score_file_alone(construction_audit):
    doc, out = construction_audit
    table = pd.read_csv(out / "scores.csv.gz")
    assert len(table) == doc["audit"]["scores_rows"]
    for entry in doc["results"]:
        part = table[(table["rung"] == entry["protocol"]) & (table["head"] == entry["head"])]
        # the per-fold ROC-AUC each fold recorded, from the file
        for run in entry["runs"]:
            for f in run["folds"]:
                rows = part[(part["run"] == run["run"]) & (part["fold"] == f["fold"])]
                assert len(rows) == f["n_test"]
                assert stats.auc(rows["label"], rows["score"]) == pytest.approx(f["metrics"]["roc_auc"], abs=1e-6)
    # one headline and its bootstrap interval, from the file and the positions of frames in clips
    entry = [e for e in doc["results"] if e["protocol"] == "strict"][0]
    part = table[(table["rung"] == "strict") & (table["head"] == entry["head"])]
    # these clips' frames are numbered 0, 1, ...: a frame's number is its position in its clip
    t = stats.Scores(part["run"].to_numpy(), part["fold"].to_numpy(), part["clip"].to_numpy().astype(str),
                     part["frame"].to_numpy(), part["label"].to_numpy(), part["score"].to_numpy())
    recorded = entry["stats"]["mean_fold_auc"]
    assert stats.statistic(t, "mean_fold_auc") == pytest.approx(recorded["estimate"], abs=1e-6)
    interval = stats.bootstrap(t, "mean_fold_auc", n_resamples=doc["audit"]["stats"]["n_resamples"],
                               rng=doc["audit"]["stats"]["seed"])
    assert (interval.low, interval.high) == pytest.approx(
        (recorded["interval"]["low"], recorded["interval"]["high"]), abs=1e-6)


def test_the_partitions_are_recorded_and_differ_between_runs(construction_audit):
    doc, _ = construction_audit
    parts = doc["audit"]["partitions"]["strict"]
    assert len(parts) == 2 and sorted(map(sorted, parts[0])) != sorted(map(sorted, parts[1]))
    assert sorted(c for fold in parts[0] for c in fold) == [f"Test{c:03d}" for c in range(1, 7)]


def test_a_deterministic_scorer_has_no_spread(construction_audit):
    doc, _ = construction_audit
    standard = [e for e in doc["results"] if e["protocol"] == "standard"][0]["stats"]["mean_fold_auc"]["per_run"]
    assert standard["n"] == 1 and standard["std"] is None and standard["std_sample"] is None


def test_every_rung_has_an_interval_and_a_chance_band(construction_audit):
    doc, _ = construction_audit
    for entry in doc["results"]:
        s = entry["stats"]
        lo, hi = s["mean_fold_auc"]["interval"]["low"], s["mean_fold_auc"]["interval"]["high"]
        assert lo <= s["mean_fold_auc"]["estimate"] <= hi or np.isnan(lo)
        band = s["chance"]["permutation"]
        assert band["n_permutations"] >= 200 and band["low"] < band["high"]
        assert s["chance"]["base_rate"]["mean_fold_auc"] == pytest.approx(0.5)
    kinds = {c["kind"] for c in doc["audit"]["comparisons"]}
    assert kinds == {"sequence vs last-frame", "rung vs rung", "recurrent mean, rung vs rung"}
    drop = [c for c in doc["audit"]["comparisons"] if c["kind"].startswith("recurrent") and c["a"].startswith("strict/")]
    assert len(drop) == 1 and drop[0]["low"] <= drop[0]["difference"] <= drop[0]["high"]


def test_strict_splits_hold_no_copy_or_training_clip_on_the_test_side():
    # built in memory: the same rule as the audit, checked window by window
    labels, clips, index = _clips(n_clips=6)
    copies = np.array(["original"] * len(labels))
    data = FrameFeatures(np.zeros((len(labels), 2), np.float32), labels, np.array([f"Test{c:03d}" for c in clips]),
                         index, copies, np.array(["test"] * len(labels)))
    extra = FrameFeatures(np.zeros((40, 2), np.float32), np.zeros(40, np.int64), np.array(["Train001"] * 20 + ["Train002"] * 20),
                          np.r_[np.arange(20), np.arange(20)], np.array(["original"] * 40), np.array(["train"] * 40))
    joined = FrameFeatures(np.r_[data.X, extra.X], np.r_[data.y, extra.y], np.r_[data.clips, extra.clips],
                           np.r_[data.index, extra.index], np.r_[data.copies, extra.copies], np.r_[data.origin, extra.origin])
    spec = get_protocol("strict")
    config = ProtocolConfig(n_runs=3, n_folds=3, train=TrainConfig(max_epochs=1))
    windows, win_clips = build_windows(spec, joined, config)
    roles = window_roles(windows, joined, spec)
    train_windows = np.flatnonzero(roles[1])
    for r in range(3):
        for split in make_splits(spec, windows, win_clips, r, config, roles):
            assert not np.isin(split.test, train_windows).any()
            assert np.isin(train_windows, np.r_[split.train, split.val]).all()  # Train clips train (or validate)


def test_recompute_gives_the_same_statistics_from_the_score_file_alone(construction_audit, tmp_path, capsys):
    doc, out = construction_audit
    assert main(["recompute", str(out), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "audit.json").read_text())
    assert [e["stats"] for e in again["results"]] == [e["stats"] for e in doc["results"]]
    for key in ("rungs", "comparisons", "comparable"):
        assert again["audit"][key] == doc["audit"][key], key
    assert again["audit"]["probes"]["trained"] == doc["audit"]["probes"]["trained"]  # probe scores are kept too
    assert again["audit"]["recomputed"]["config"]["from"].endswith("scores.csv.gz")
    # other draws: the same estimates, other intervals
    assert main(["recompute", str(out), "--seed", "7", "--out", str(tmp_path / "seed7")]) == 0
    seed7 = json.loads((tmp_path / "seed7" / "audit.json").read_text())
    a, b = (d["results"][-1]["stats"]["mean_fold_auc"] for d in (doc, seed7))
    assert a["estimate"] == b["estimate"] and a["interval"] != b["interval"]


def test_recompute_refuses_a_score_file_that_is_not_the_audits(construction_audit, tmp_path, capsys):
    import shutil

    _, out = construction_audit
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    table = pd.read_csv(copy / "scores.csv.gz")
    table.loc[0, "score"] += 0.5
    table.to_csv(copy / "scores.csv.gz", index=False)
    assert main(["recompute", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "sha256 differs" in err and len(err.strip().splitlines()) == 1
    assert json.loads((copy / "audit.json").read_text()) == json.loads((out / "audit.json").read_text())


def test_recompute_rebuilds_the_splits_and_refuses_a_config_that_drifted(construction_audit, tmp_path, capsys):
    import shutil

    doc, out = construction_audit
    copy = tmp_path / "drift"
    shutil.copytree(out, copy)
    edited = json.loads((copy / "audit.json").read_text())
    strict = [e for e in edited["results"] if e["protocol"] == "strict"][0]
    strict["config"]["partition_seed"] = 99  # other partitions than the ones trained on
    (copy / "audit.json").write_text(json.dumps(edited))
    assert main(["recompute", str(copy)]) == 2
    assert "is not the recorded one" in capsys.readouterr().err
