"""Two audits compared on one rung (``studies/audit_pair.py``, ``anomaly-ref audit-diff``):
the difference and its interval are the paired bootstrap of the two sides' own scores, only
original test-clip frames count, clip ids match across naming schemes, and every factor that
differs between the audits is named."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from anomaly_ref.cli import main
from anomaly_ref.errors import InputError
from anomaly_ref.protocol import stats
from anomaly_ref.results.audit_pair_text import to_markdown
from anomaly_ref.studies.audit_pair import clip_id, compare
from anomaly_ref.studies.audit_stats import StatsConfig

HEADS = ("LSTM", "GRU")
CLIPS = 6


def table(seed: int, shift: float, clip_name=str, extra_rows: bool = False) -> pd.DataFrame:
    """Scores of two heads under ``strict``: 2 runs x 3 folds over 6 clips of 20 frames, each
    clip normal then abnormal; ``shift`` raises every abnormal item's score (a better side)."""
    rng = np.random.default_rng(seed)
    rows = []
    for head in HEADS:
        for run in range(2):
            for clip in range(1, CLIPS + 1):
                fold = (clip + run) % 3
                for frame in range(20):
                    label = int(frame >= 12)
                    rows.append(("strict", head, run, fold, clip_name(clip), frame, "original", "test", label,
                                 rng.normal() + label * (0.5 + shift)))
                    if extra_rows and label:  # a copy and a Train-clip frame: scored, never compared
                        rows.append(("strict", head, run, fold, clip_name(clip), frame, "flip", "test", 1, 9.0))
                if extra_rows:  # named like a test clip: only the origin column tells them apart
                    rows.append(("strict", head, run, fold, f"Train{clip:03d}", 0, "original", "train", 0, -9.0))
    return pd.DataFrame(rows, columns=["rung", "head", "run", "fold", "clip", "frame", "copy", "origin", "label",
                                       "score"])


def write_audit(folder, t: pd.DataFrame, *, patience: int = 5, commit: str = "abc", construction=None):
    folder.mkdir()
    blob = gzip.compress(t.to_csv(index=False).encode(), mtime=0)
    (folder / "scores.csv.gz").write_bytes(blob)
    partitions = [[sorted({str(c) for c in t.loc[(t.run == r) & (t.fold == f) & (t.origin == "test"), "clip"]})
                   for f in range(3)] for r in range(2)]
    doc = {"audit": {"format": 2, "dataset": "ped2", "backbone": "tf_efficientnet_lite0", "pretrained": True,
                     "scores_file": "scores.csv.gz", "scores_sha256": hashlib.sha256(blob).hexdigest(),
                     "partitions": {"strict": partitions}, "construction": construction},
           "results": [],
           "provenance": {"config": {"audit": {"protocol": {"train": {"patience": patience}}},
                                     "source": str(folder / "x.npz")},
                          "git": {"commit": commit}, "inputs": {"x.npz": "0" * 64}}}
    (folder / "audit.json").write_text(json.dumps(doc))
    return folder


def as_scores(t: pd.DataFrame, head: str) -> stats.Scores:
    part = t[(t["head"] == head) & (t["copy"] == "original") & (t["origin"] == "test")]
    return stats.Scores(*(part[c].to_numpy() for c in ("run", "fold")), part["clip"].map(clip_id).to_numpy(),
                        *(part[c].to_numpy() for c in ("frame", "label", "score")))


def test_the_difference_is_the_paired_bootstrap_of_the_two_sides(tmp_path):
    ta, tb = table(1, shift=1.0), table(2, shift=0.0)
    a, b = write_audit(tmp_path / "a", ta, patience=51), write_audit(tmp_path / "b", tb)
    doc = compare(a, b, config=StatsConfig(n_resamples=300, seed=3))
    for row in doc["heads"]:
        want = stats.paired_difference(as_scores(ta, row["head"]), as_scores(tb, row["head"]), n_resamples=300, rng=3)
        assert row["difference"] == pytest.approx(want.difference)
        assert (row["low"], row["high"]) == pytest.approx((want.low, want.high))
    mean = doc["recurrent_mean"]
    assert mean["difference"] == pytest.approx(np.mean([r["difference"] for r in doc["heads"]]))
    # the mean's interval: one clip draw for both sides and both heads, recomputed here
    M = stats.clip_resamples(CLIPS, 300, 3)
    dist = np.mean([stats.evaluate(as_scores(ta, h), "mean_fold_auc", M)
                    - stats.evaluate(as_scores(tb, h), "mean_fold_auc", M) for h in HEADS], axis=0)
    assert (mean["low"], mean["high"]) == pytest.approx(tuple(np.percentile(dist, [2.5, 97.5])))
    assert mean["bootstrap_mean"] == pytest.approx(dist.mean())
    assert (mean["basic_low"], mean["basic_high"]) == pytest.approx((2 * mean["difference"] - mean["high"],
                                                                    2 * mean["difference"] - mean["low"]))
    per_run = {r: np.mean([stats.per_run(as_scores(ta, h), "mean_fold_auc")[r]
                           - stats.per_run(as_scores(tb, h), "mean_fold_auc")[r] for h in HEADS]) for r in (0, 1)}
    assert mean["per_run"] == pytest.approx(per_run)
    assert mean["difference"] > 0 and mean["low"] > 0  # the shifted side is the better one
    assert doc["frames"] == {"a": CLIPS * 20, "b": CLIPS * 20, "both": CLIPS * 20, "identical": True}
    assert [f["factor"] for f in doc["factors"]] == ["config audit.protocol.train.patience"]  # not the source path
    md = to_markdown(doc)
    assert "| config audit.protocol.train.patience | 51 | 5 |" in md
    assert "The difference measures this one factor" in md and "the interval excludes 0" in md


def test_copies_train_frames_and_clip_names_do_not_change_the_comparison(tmp_path):
    ta = table(1, shift=0.3)
    named = table(1, shift=0.3, clip_name=lambda c: f"Test{c:03d}", extra_rows=True)
    b = write_audit(tmp_path / "b", table(2, shift=0.0, extra_rows=True))  # Train clips on both sides
    plain = compare(write_audit(tmp_path / "a", ta), b, config=StatsConfig(n_resamples=200))
    other = compare(write_audit(tmp_path / "a2", named, construction={"copies": 60}), b,
                    config=StatsConfig(n_resamples=200))
    assert other["clips"] == plain["clips"] == [str(c) for c in sorted(range(1, CLIPS + 1), key=str)]
    for key in ("difference", "low", "high"):
        assert other["recurrent_mean"][key] == pytest.approx(plain["recurrent_mean"][key])
    assert "construction (training rows: copies, Train-clip frames)" in [f["factor"] for f in other["factors"]]


def test_no_factor_and_no_difference_reads_as_noise(tmp_path):
    t = table(1, shift=0.0)
    doc = compare(write_audit(tmp_path / "a", t), write_audit(tmp_path / "b", t), config=StatsConfig(n_resamples=100))
    assert doc["factors"] == [] and doc["recurrent_mean"]["difference"] == 0
    md = to_markdown(doc)
    assert "No recorded factor differs" in md and "No difference in the recurrent heads' mean is detectable" in md


def test_partitions_and_code_are_factors(tmp_path):
    ta, tb = table(1, 0.0), table(1, 0.0)
    tb["fold"] = (tb["clip"].astype(int) - 1) // 2  # clips {1, 2}, {3, 4}, {5, 6}: another partition
    relabelled = ta.copy()
    relabelled["fold"] = (relabelled["fold"] + 1) % 3  # the same partition, its folds numbered otherwise
    same = compare(write_audit(tmp_path / "a0", ta), write_audit(tmp_path / "b0", relabelled),
                   config=StatsConfig(n_resamples=100))
    assert same["factors"] == []
    doc = compare(write_audit(tmp_path / "a", ta), write_audit(tmp_path / "b", tb, commit="def"),
                  config=StatsConfig(n_resamples=100))
    assert [f["factor"] for f in doc["factors"]] == [
        "clip partitions (which clips share a fold; so which models score which clip)", "code (git commit of the run)"]


def test_bad_inputs_name_the_file(tmp_path):
    t = table(1, 0.0)
    a, b = write_audit(tmp_path / "a", t), write_audit(tmp_path / "b", t)
    with pytest.raises(InputError, match="no recurrent head of the paper scored test frames under 'strict-test-only'"):
        compare(a, b, rung="strict-test-only")
    tampered = copy.deepcopy(t)
    tampered.loc[0, "score"] += 1
    (b / "scores.csv.gz").write_bytes(gzip.compress(tampered.to_csv(index=False).encode()))
    with pytest.raises(InputError, match=r"b/scores.csv.gz: sha256 differs from the one .*b/audit.json records"):
        compare(a, b)


def test_cli_prints_and_writes(tmp_path, capsys):
    a, b = write_audit(tmp_path / "a", table(1, 1.0)), write_audit(tmp_path / "b", table(2, 0.0))
    assert main(["audit-diff", str(a), str(b), "--resamples", "200", "--out", str(tmp_path / "pair")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {a} − {b} under `strict`")
    doc = json.loads((tmp_path / "pair" / "pair.json").read_text())
    assert doc["kind"] == "audit-pair" and doc["config"]["n_resamples"] == 200
    assert (tmp_path / "pair" / "pair.md").read_text() in out
    assert main(["audit-diff", str(a), str(tmp_path / "missing")]) == 2
    assert "error: cannot read" in capsys.readouterr().err


def test_clips_that_would_merge_or_disagree_are_refused(tmp_path):
    t = table(1, 0.0)
    b = write_audit(tmp_path / "b", t)
    merged = t.copy()
    merged.loc[merged["clip"] == "2", "clip"] = "Test001"  # reads as clip 1 beside the real "1"
    with pytest.raises(InputError, match=r"a/scores.csv.gz: test clips '1' and 'Test001' would both read as clip '1'"):
        compare(write_audit(tmp_path / "a", merged), b)
    relabelled = t.copy()
    relabelled.loc[(relabelled["clip"] == "3") & (relabelled["frame"] == 0), "label"] = 1
    with pytest.raises(InputError, match=r"label 1 shared frames differently \(first: clip 3 frame 0\)"):
        compare(write_audit(tmp_path / "c", relabelled), b)
    other = write_audit(tmp_path / "d", t)
    doc = json.loads((other / "audit.json").read_text())
    doc["audit"]["dataset"] = "ped1"
    (other / "audit.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="audits 'ped1' and .* 'ped2': audit-diff pairs test clips of one dataset"):
        compare(other, b)


def test_a_difference_whose_two_intervals_disagree_is_unresolved():
    doc = {"a": {"folder": "A", "rung": "strict"}, "b": {"folder": "B", "rung": "strict"}, "n_clips": 12,
           "frames": {"a": 10, "b": 10, "both": 10, "identical": True}, "factors": [], "heads": []}
    mean = {"head": "LSTM", "a": 0.8, "b": 0.74, "difference": 0.06, "low": -0.016, "high": 0.088,
            "basic_low": 0.032, "basic_high": 0.136, "bootstrap_mean": 0.039, "fragile": True, "n_resamples": 1000,
            "per_run": {"0": -0.017, "1": 0.168}}
    md = to_markdown(doc | {"recurrent_mean": mean})
    assert "Unresolved: the recurrent heads' mean differs by +0.0600" in md and "disagree on whether it excludes 0" in md
    assert "−0.0170 to +0.1680 (2 runs)" in md and "the basic interval disagrees: unresolved" in md
    settled = to_markdown(doc | {"recurrent_mean": mean | {"fragile": False}})
    assert "Unresolved" not in settled and "No difference in the recurrent heads' mean is detectable" in settled


def test_cli_checks_its_output_folder_before_the_work(tmp_path, capsys):
    a, b = write_audit(tmp_path / "a", table(1, 1.0)), write_audit(tmp_path / "b", table(2, 0.0))
    out = tmp_path / "pair"
    assert main(["audit-diff", str(a), str(b), "--resamples", "100", "--out", str(out)]) == 0
    first = (out / "pair.json").read_text()
    capsys.readouterr()
    assert main(["audit-diff", str(a), str(b), "--resamples", "200", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {out} already holds pair.json or pair.md")
    assert (out / "pair.json").read_text() == first  # nothing replaced
    assert main(["audit-diff", str(a), str(b), "--resamples", "200", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "pair.json").read_text())["config"]["n_resamples"] == 200
    assert main(["audit-diff", str(a), str(b), "--out", str(tmp_path / "no" / "such")]) == 2
    assert "does not exist" in capsys.readouterr().err
