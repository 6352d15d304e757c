"""featurefiles: the paper's file pair, written atomically and never over existing files."""

from __future__ import annotations

import numpy as np
import pytest

import anomaly_ref.data.featurefiles as featurefiles
from anomaly_ref.errors import InputError
from anomaly_ref.data.featurefiles import open_features, paper_paths, write_paper_files, write_text

FEATS = np.arange(12, dtype=np.float32).reshape(4, 3)
META = dict(clips=[1, 1, 2, 2], indices=[0, 1, 0, 1], labels=[0, 1, 1, 0])


def test_paper_files_split_by_label_with_sidecars(tmp_path):
    paths = write_paper_files(tmp_path, "m", FEATS, **META)
    assert paths[0].name == "normal_features_m.npy" and paths[1].name == "anomaly_features_m.npy"
    np.testing.assert_array_equal(np.load(paths[0]), FEATS[[0, 3]])
    np.testing.assert_array_equal(np.load(paths[1]), FEATS[[1, 2]])
    assert (tmp_path / "anomaly_features_m.frames.csv").read_text().splitlines() == [
        "row,clip,index,label", "1,1,1,1", "2,2,0,1"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paper_paths(tmp_path, "m"))


def test_existing_file_is_not_replaced_without_force(tmp_path):
    (tmp_path / "anomaly_features_m.npy").write_bytes(b"the authors' file")
    with pytest.raises(InputError, match=r"refusing to overwrite .*anomaly_features_m\.npy.*force=True \(CLI: --force\)"):
        write_paper_files(tmp_path, "m", FEATS, **META)
    assert (tmp_path / "anomaly_features_m.npy").read_bytes() == b"the authors' file"
    assert not (tmp_path / "normal_features_m.npy").exists()  # checked before anything is written
    write_paper_files(tmp_path, "m", FEATS, **META, force=True)
    np.testing.assert_array_equal(np.load(tmp_path / "anomaly_features_m.npy"), FEATS[[1, 2]])


def test_a_crash_mid_write_leaves_no_partial_files(tmp_path, monkeypatch):
    (tmp_path / "normal_features_m.npy").write_bytes(b"old")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(featurefiles, "write_sidecar", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_paper_files(tmp_path, "m", FEATS, **META, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["normal_features_m.npy"]  # no temp files left
    assert (tmp_path / "normal_features_m.npy").read_bytes() == b"old"


def test_labels_must_match_rows(tmp_path):
    with pytest.raises(InputError, match="4 feature rows but 3 labels"):
        write_paper_files(tmp_path, "m", FEATS, clips=[1] * 3, indices=[0] * 3, labels=[0] * 3)


def test_open_features_and_write_text_refuse_existing_files(tmp_path):
    path = tmp_path / "f.npy"
    open_features(path, 2, 3)[:] = 1
    with pytest.raises(InputError, match=r"refusing to overwrite .*f\.npy"):
        open_features(path, 2, 3)
    assert open_features(path, 1, 3, force=True).shape == (1, 3)
    write_text(tmp_path / "r.json", "{}")
    with pytest.raises(InputError, match=r"refusing to overwrite .*r\.json"):
        write_text(tmp_path / "r.json", "[]")
    assert write_text(tmp_path / "r.json", "[]", force=True).read_text() == "[]"


def test_written_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the final files must not stay private."""
    import os
    import stat

    from anomaly_ref.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.json", "{}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        paths = write_paper_files(tmp_path / "f", "convnext_tiny", np.zeros((3, 2), np.float32), [1, 1, 1], [0, 1, 2], [0, 1, 0])
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in paths.values())
    finally:
        os.umask(old)
