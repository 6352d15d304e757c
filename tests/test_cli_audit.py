"""``anomaly-ref audit``: input checks before any work, feature folders, and a real small audit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import anomaly_ref.extraction.cache as cache_mod
from anomaly_ref.cli import main
from anomaly_ref.data.featurefiles import write_paper_files

BACKBONE = "tf_efficientnet_lite0"


def _features_folder(tmp_path, sidecars=True, n_clips=6, n=40, d=8, seed=0):
    """normal_/anomaly_features files of synthetic clips (normal first, abnormal after a cut)."""
    rng = np.random.default_rng(seed)
    labels, clips, index = [], [], []
    for c in range(1, n_clips + 1):
        cut = int(rng.integers(12, n - 12))
        labels += [0] * cut + [1] * (n - cut)
        clips += [c] * n
        index += list(range(n))
    labels = np.array(labels)
    X = (rng.normal(size=(len(labels), d)) + labels[:, None]).astype(np.float32)
    folder = tmp_path / "feats"
    write_paper_files(folder, BACKBONE, X, clips, index, labels)
    if not sidecars:
        for side in folder.glob("*.frames.csv"):
            side.unlink()
    return folder


@pytest.fixture
def no_extraction(monkeypatch):
    monkeypatch.setattr(cache_mod, "extract_cached", lambda *a, **k: pytest.fail("extracted despite bad input"))


def _audit(*args):
    return main(["audit", "--dataset", "ped2", "--backbone", BACKBONE, *args])


def _one_error_line(capsys, rc):
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("args, message", [
    (["--protocol", "paper,leaky"], "unknown protocol 'leaky'; valid: paper, paper-val, temporal, strict-test-only, strict, standard"),
    (["--head", "Transformer"], "unknown head 'Transformer'; valid: LSTM"),
    (["--scorer", "svm"], "unknown one-class scorer 'svm'; valid: knn, mahalanobis"),
    (["--runs", "0"], "--runs must be >= 1, found 0"),
    (["--folds", "1"], "--folds must be >= 2, found 1"),
    (["--smooth", "-1"], "--smooth must be >= 0 frames"),
    (["--protocol", "standard"], "protocol 'standard' cannot run: it needs the normal training frames (--train-source) "
                                 "(for UCSD Ped2: $ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_train.npz)"),
    (["--folds", "7"], "strict split: 7 folds need at least 7 clips, found 6"),
    (["--clips", "1,99"], "clips ['99'] not found; it has clips 1, 2, 3, 4, 5, 6"),
    (["--train-clips", "1"], "--train-clips selects training clips, but no --train-source was given"),
    (["--sequential", "--precision", "bf16"], "--precision bf16 needs the batched trainer; drop --sequential"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, no_extraction, args, message):
    folder = _features_folder(tmp_path)
    rc = _audit("--source", str(folder), "--out", str(tmp_path / "out"), *args)
    assert message in _one_error_line(capsys, rc)
    assert not (tmp_path / "out").exists()


def test_features_without_sidecars_name_the_rungs_that_can_run(tmp_path, capsys):
    folder = _features_folder(tmp_path, sidecars=False)
    rc = _audit("--source", str(folder), "--protocol", "paper,strict-test-only", "--out", str(tmp_path / "out"))
    err = _one_error_line(capsys, rc)
    assert "protocol 'strict-test-only' cannot run: it needs the clip of every frame" in err
    assert "the authors' Dropbox features have none" in err
    assert "(rungs that can run on these inputs: paper)" in err


def test_a_class_in_too_few_clips_is_refused(tmp_path, capsys):
    folder = _features_folder(tmp_path)
    rc = _audit("--source", str(folder), "--clips", "1,2", "--folds", "3", "--protocol", "strict-test-only",
                "--out", str(tmp_path / "out"))
    assert "3 folds need at least 3 clips, found 2" in _one_error_line(capsys, rc)


def test_feature_files_of_another_backbone_are_named(tmp_path, capsys, no_extraction):
    folder = _features_folder(tmp_path)
    rc = main(["audit", "--dataset", "ped2", "--backbone", "convnext_tiny", "--source", str(folder),
               "--out", str(tmp_path / "out")])
    err = _one_error_line(capsys, rc)
    assert "expected normal_features_convnext_tiny.npy, found normal_features_tf_efficientnet_lite0.npy" in err


def test_repeated_names_run_once(tmp_path, capsys):
    folder = _features_folder(tmp_path)
    out = tmp_path / "out"
    assert _audit("--source", str(folder), "--protocol", "paper,paper", "--head", "LSTM", "--head", "LSTM",
                  "--runs", "1", "--max-epochs", "1", "--out", str(out)) == 0
    doc = json.loads((out / "audit.json").read_text())
    assert [(r["protocol"], r["head"]) for r in doc["results"]] == [("paper", "LSTM")]
    assert doc["kind"] == "audit"  # named for `anomaly-ref report`
    # the feature files and their sidecars are hashed into provenance
    assert sorted(Path(p).name for p in doc["provenance"]["inputs"]) == sorted(
        p.name for p in folder.iterdir())


def test_an_existing_audit_is_not_replaced_without_force(tmp_path, capsys):
    folder = _features_folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "audit.json").write_text("{}")
    rc = _audit("--source", str(folder), "--out", str(out))
    assert "refusing to overwrite" in _one_error_line(capsys, rc)
    assert (out / "audit.json").read_text() == "{}"


def test_audit_of_a_feature_folder_skips_what_cannot_run(tmp_path, capsys):
    folder = _features_folder(tmp_path)
    out = tmp_path / "out"
    rc = _audit("--source", str(folder), "--head", "LSTM", "--head", "last-frame", "--runs", "2",
                "--max-epochs", "2", "--folds", "3", "--out", str(out))
    assert rc == 0
    text = capsys.readouterr().out
    assert "skipping standard: it needs the normal training frames" in text
    doc = json.loads((out / "audit.json").read_text())
    assert doc["audit"]["protocols"] == ["paper", "paper-val", "temporal", "strict-test-only"]
    assert [s["protocol"] for s in doc["audit"]["skipped"]] == ["strict", "standard"]
    assert [(r["protocol"], r["head"]) for r in doc["results"]] == [
        (p, h) for p in ("paper", "paper-val", "temporal", "strict-test-only") for h in ("LSTM", "last-frame")]
    for entry in doc["results"]:
        assert set(entry) >= {"protocol", "head", "config", "runs", "summary"}
        assert len(entry["runs"]) == 2 and set(entry["summary"]["roc_auc"]) == {"mean", "std"}
    strict = [r for r in doc["results"] if r["protocol"] == "strict-test-only"][0]
    assert all(len(run["folds"]) == 3 for run in strict["runs"])
    assert doc["audit"]["features"]["kind"] == "features"
    from anomaly_ref.results.audit_report import ladder_table

    assert ladder_table(doc).count("| `strict-test-only` |") == 2  # one row per head
    assert ladder_table(doc) in (out / "audit.md").read_text()
    assert (out / "audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------- real Ped2 frames, end to end


@pytest.mark.slow
def test_small_audit_on_real_ped2_frames(shared, tmp_path, capsys):
    """2 supervised rungs + standard, 1 head, 1 run, 2 epochs, 4 test clips and 2 training
    clips of the real Ped2 frames, lite0 with real ImageNet weights."""
    ped2 = shared / "data" / "ucsd_ped2"
    cache, out = tmp_path / "cache", tmp_path / "audit"
    args = ["--source", str(ped2 / "ucsd_ped2_test.npz"), "--train-source", str(ped2 / "ucsd_ped2_train.npz"),
            "--clips", "1,2,4,7", "--train-clips", "1,2",
            "--head", "LSTM", "--runs", "1", "--max-epochs", "2", "--folds", "2", "--cache", str(cache)]
    assert _audit(*args, "--protocol", "paper,strict-test-only,strict,standard", "--out", str(out)) == 0
    doc = json.loads((out / "audit.json").read_text())
    audit = doc["audit"]
    assert audit["protocols"] == ["paper", "strict-test-only", "strict", "standard"] and audit["skipped"] == []
    assert audit["n_frames"] == 180 + 180 + 180 + 180 and audit["n_train_frames"] == 120 + 150
    assert audit["features"]["from_cache"] is False
    heads = [(r["protocol"], r["head"]) for r in doc["results"]]
    assert heads == [("paper", "LSTM"), ("strict-test-only", "LSTM"), ("strict", "LSTM"), ("standard", "knn1"),
                     ("standard", "mahalanobis")]
    for entry in doc["results"]:
        auc = entry["summary"]["roc_auc"]["mean"]
        assert 0.0 <= auc <= 1.0
    strict = doc["results"][1]["runs"][0]
    assert sorted(c for f in strict["folds"] for c in f["test_clips"]) == [1, 2, 4, 7]
    assert strict["test_frames_in_train"] == 0.0
    # strict trains on the two normal training clips too: more training windows, the same test clips
    with_train = doc["results"][2]["runs"][0]
    assert sorted(c for f in with_train["folds"] for c in f["test_clips"]) == ["1", "2", "4", "7"]
    assert with_train["test_frames_in_train"] == 0.0
    assert with_train["n_train"] > strict["n_train"]
    assert audit["comparable"]["rung"] == "strict"  # beside standard on the same frames
    assert doc["results"][0]["runs"][0]["test_frames_in_train"] > 0.9  # the paper's leak, measured
    prov = doc["provenance"]
    assert str(ped2 / "ucsd_ped2_test.npz") in prov["inputs"] and "commit" in prov["git"]
    md = (out / "audit.md").read_text()
    assert "| `paper` |" in md and "| `strict-test-only` |" in md and "knn1" in md
    assert (out / "audit.png").read_bytes()[:4] == b"\x89PNG"
    # a second audit of the same frames and backbone reads the cache
    assert _audit(*args, "--protocol", "paper", "--out", str(tmp_path / "again")) == 0
    again = json.loads((tmp_path / "again" / "audit.json").read_text())["audit"]
    assert again["features"]["from_cache"] is True and again["features"]["key"] == audit["features"]["key"]
