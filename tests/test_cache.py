"""anomaly_ref.extraction.cache: extract once, read back; the key covers what decides features."""

import json

import numpy as np
import pytest

import anomaly_ref.extraction.cache as cache
from anomaly_ref.errors import InputError
from anomaly_ref.frames.sources import open_folders, open_npz

BACKBONE = "tf_efficientnet_lite0"


@pytest.fixture
def fake_extract(monkeypatch):
    """Count extractions; features = mean pixel per frame, repeated (no model needed)."""
    calls = []

    def extract(frames, backbone, pretrained, fast, device, progress):
        calls.append(len(frames))
        X = np.stack([np.full(1280, frames[i].image.mean(), np.float32) for i in range(len(frames))])
        return X, 0.01

    monkeypatch.setattr(cache, "_extract", extract)
    return calls


def _npz(path, n=6, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(path, frames=rng.integers(0, 255, (n, 8, 8), dtype=np.uint8), video=np.repeat([1, 2], n // 2),
             frame=np.tile(np.arange(n // 2), 2), label=np.array([0, 1] * (n // 2)))
    return open_npz(path, "ped2")


def test_second_extraction_reads_the_cache(tmp_path, fake_extract):
    frames = _npz(tmp_path / "a.npz")
    first = cache.extract_cached(frames, BACKBONE, cache=tmp_path / "c")
    again = cache.extract_cached(frames, BACKBONE, cache=tmp_path / "c")
    assert fake_extract == [6] and not first.cached and again.cached and again.key == first.key
    np.testing.assert_array_equal(again.X, first.X)
    np.testing.assert_array_equal(again.labels, [0, 1] * 3)
    np.testing.assert_array_equal(again.clips, [1, 1, 1, 2, 2, 2])
    record = json.loads((first.folder / "record.json").read_text())
    assert record["key"] == first.key and "git" in record["provenance"]
    # a subset of rows, other weights, other device types: new keys
    sub = cache.extract_cached(frames, BACKBONE, rows=np.array([0, 3]), cache=tmp_path / "c")
    rnd = cache.extract_cached(frames, BACKBONE, pretrained=False, cache=tmp_path / "c")
    assert len({first.key, sub.key, rnd.key}) == 3 and fake_extract == [6, 2, 6]
    np.testing.assert_array_equal(sub.rows, [0, 3])


def test_same_pixels_other_labels_is_another_key(tmp_path, fake_extract):
    # normal/ and abnormal/ folders: the labels come from folder names, not file bytes
    import cv2

    for folder in ("a/normal", "a/abnormal", "b/normal", "b/abnormal"):
        (tmp_path / folder).mkdir(parents=True)
    img = np.full((8, 8, 3), 7, np.uint8)
    cv2.imwrite(str(tmp_path / "a/normal/1.png"), img)
    cv2.imwrite(str(tmp_path / "a/abnormal/1.png"), img + 1)
    cv2.imwrite(str(tmp_path / "b/normal/1.png"), img + 1)  # the two files swapped
    cv2.imwrite(str(tmp_path / "b/abnormal/1.png"), img)
    a = cache.extract_cached(open_folders(tmp_path / "a", "umn"), BACKBONE, cache=tmp_path / "c")
    b = cache.extract_cached(open_folders(tmp_path / "b", "umn"), BACKBONE, cache=tmp_path / "c")
    assert a.key != b.key and fake_extract == [2, 2]


def test_a_code_change_invalidates_the_cache(tmp_path, fake_extract, monkeypatch):
    frames = _npz(tmp_path / "a.npz")
    first = cache.extract_cached(frames, BACKBONE, cache=tmp_path / "c")
    monkeypatch.setattr(cache, "_code_digest", lambda: "edited")
    assert cache.extract_cached(frames, BACKBONE, cache=tmp_path / "c").key != first.key


def test_an_inconsistent_entry_is_named(tmp_path, fake_extract):
    frames = _npz(tmp_path / "a.npz")
    first = cache.extract_cached(frames, BACKBONE, cache=tmp_path / "c")
    np.save(first.folder / "features.npy", np.zeros((2, 1280), np.float32))
    with pytest.raises(InputError, match=f"cached features in {first.folder} do not match their record.*delete the folder"):
        cache.extract_cached(frames, BACKBONE, cache=tmp_path / "c")
