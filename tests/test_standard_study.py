"""The standard study (issue 23) end to end on synthetic clips, with random-weight lite0."""

import json

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.frames.sources import open_source
from anomaly_ref.protocol.predictor import PredictorConfig
from anomaly_ref.studies.standard import StandardConfig, fit_and_score, run_standard_study

BACKBONE = "tf_efficientnet_lite0"


def blob_clip(n, rng, fast_from=None, h=48, w=64):
    frames, labels, x = np.full((n, h, w), 60, np.uint8), np.zeros(n, np.uint8), float(rng.integers(0, 40))
    for t in range(n):
        fast = fast_from is not None and t >= fast_from
        x = (x + (6 if fast else 1.5)) % (w - 8)
        frames[t, 20:28, int(x):int(x) + 8] = 220
        labels[t] = int(fast)
    return np.clip(frames + rng.integers(0, 3, frames.shape), 0, 255).astype(np.uint8), labels


def write_npz(path, clips):
    np.savez(path, frames=np.concatenate([f for f, _ in clips]),
             video=np.concatenate([[c + 1] * len(f) for c, (f, _) in enumerate(clips)]).astype(np.int16),
             frame=np.concatenate([np.arange(len(f)) for f, _ in clips]).astype(np.int16),
             label=np.concatenate([lab for _, lab in clips]).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("std")
    train = write_npz(root / "train.npz", [blob_clip(14, rng) for _ in range(4)])
    test = write_npz(root / "test.npz", [blob_clip(14, rng, 7), blob_clip(14, rng, 5)])
    poisoned = np.load(test)
    frames, labels = poisoned["frames"].copy(), poisoned["label"].copy()
    second = poisoned["video"] == 2  # only the second test clip: noise frames, labels flipped
    frames[second] = rng.integers(0, 256, frames[second].shape).astype(np.uint8)
    labels[second] = 1 - labels[second]
    np.savez(root / "poisoned.npz", frames=frames, video=poisoned["video"], frame=poisoned["frame"], label=labels)
    return open_source(train, "ped2"), open_source(test, "ped2"), open_source(root / "poisoned.npz", "ped2")


@pytest.fixture(scope="module")
def model():
    from anomaly_ref.extraction.backbones import create_backbone

    return create_backbone(BACKBONE, pretrained=False)


CONFIG = StandardConfig(dataset="ped2", backbone=BACKBONE, pretrained=False, heads=("GRU", "Dense"), n_resamples=20,
                        predictor=PredictorConfig(max_epochs=3, val_clips=1))


def test_no_scorer_touches_a_test_frame_while_fitting(sources, model):
    """Poison one test clip (noise frames, flipped labels): every scorer's fitted state, and every
    score of the untouched clip (raw and smoothed, fusions and the control included), stay bit for
    bit. A scorer fit or standardised on test frames would move the untouched clip's scores."""
    from anomaly_ref.studies.standard import frame_table, smoothed

    train, test, poisoned = sources
    a, _ = fit_and_score(test, train, CONFIG, model=model)
    b, _ = fit_and_score(poisoned, train, CONFIG, model=model)
    assert set(a) == set(b) and {"velocity", "predictor-copy-last", "fused:patch+motion+predictor",
                                 "fused:patch+velocity"} <= set(a)
    tr, te_a, te_b = frame_table(train), frame_table(test), frame_table(poisoned)
    clean = np.asarray(test.clips) == 1
    for name in a:
        if a[name]["reference"] is not None:  # the fitted state's scores of Train frames
            np.testing.assert_array_equal(a[name]["reference"], b[name]["reference"], err_msg=name)
        facts = {k: v for k, v in a[name].items() if k not in ("test", "reference", "reference_rows")}
        assert facts == {k: v for k, v in b[name].items() if k not in ("test", "reference", "reference_rows")}
        np.testing.assert_array_equal(np.asarray(a[name]["test"])[clean], np.asarray(b[name]["test"])[clean],
                                      err_msg=name)
        np.testing.assert_array_equal(smoothed(a[name], name, a, tr, te_a, 5.0)[clean],
                                      smoothed(b[name], name, b, tr, te_b, 5.0)[clean], err_msg=name)
    assert not np.allclose(a["patch"]["test"][~clean], b["patch"]["test"][~clean])  # the poison did reach them


def test_document(sources, model):
    train, test, _ = sources
    doc = run_standard_study(test, train, CONFIG, model=model)
    assert doc["kind"] == "standard"
    names = list(doc["scorers"])
    assert names[:5] == ["motion", "velocity", "knn1", "mahalanobis", "patch"]
    assert {"predictor-GRU", "predictor-Dense", "predictor-copy-last", "fused:patch+motion",
            "fused:patch+motion+predictor", "fused:patch+velocity"} <= set(names)
    compared = {(c["a"], c["b"]) for c in doc["comparisons"]}
    assert {("fused:patch+motion", "motion"), ("fused:patch+motion", "patch"), ("predictor-GRU", "predictor-copy-last"),
            ("predictor-Dense", "knn1"), ("fused:patch+velocity", "velocity"), ("velocity", "motion"),
            ("fused:patch+velocity", "fused:patch+motion+predictor")} <= compared
    for c in doc["comparisons"]:
        assert c["low"] <= c["difference"] <= c["high"] and c["reading"]
    for name, row in doc["scorers"].items():
        for variant in ("raw", "smoothed", "clip_normalised"):
            fig = row[variant]["pooled_auc"]
            assert fig["low"] <= fig["estimate"] <= fig["high"], (name, variant)
            assert set(row[variant]["per_clip"]) == {"1", "2"}  # both test clips hold both classes
        # scaling inside a clip moves the pooled figure, never a clip's own AUC
        assert row["clip_normalised"]["per_clip"] == pytest.approx(row["raw"]["per_clip"])
        assert row["seconds"] >= 0 and row["peak_rss_mb"] > 0
        assert len(doc["scores"]["test"][name]) == len(test)
    for name in ("motion", "velocity"):  # the fast blob is what moves differently
        assert doc["scorers"][name]["raw"]["pooled_auc"]["estimate"] > 0.9, name
    patch = doc["scorers"]["patch"]
    assert patch["bank_size"] == min(CONFIG.patch.size, patch["candidates"]) and patch["layers"] == ["blocks.2", "blocks.4"]
    # every figure recomputable from the kept scores
    from sklearn.metrics import roc_auc_score

    kept = doc["scores"]["test"]
    assert roc_auc_score(kept["label"], kept["motion"]) == pytest.approx(
        doc["scorers"]["motion"]["raw"]["pooled_auc"]["estimate"], abs=1e-6)
    json.dumps(doc)  # plain JSON types


def test_abnormal_train_frames_are_refused(sources, model):
    train, test, _ = sources
    with pytest.raises(InputError, match="Train frames are labelled abnormal"):
        fit_and_score(test, test, CONFIG, model=model)


def test_config_errors():
    with pytest.raises(InputError, match="unknown predictor heads"):
        StandardConfig(dataset="ped2", heads=("CNN",))
    with pytest.raises(InputError, match="smooth must be >= 0"):
        StandardConfig(dataset="ped2", smooth=-1)
