"""A constructed feature pair (copies of frames) as audit input: copies stay with their
source clip in clip-grouped splits, and temporal windows never cross from one copy stream
into another."""

from __future__ import annotations

import numpy as np
import pytest

from anomaly_ref.data.featurefiles import write_paper_files
from anomaly_ref.errors import InputError
from anomaly_ref.frames.construction import Meta, plan
from anomaly_ref.protocol.runner import ProtocolConfig, build_windows, make_splits
from anomaly_ref.registry import get_protocol
from anomaly_ref.studies.inputs import load_features, open_input

BACKBONE = "tf_efficientnet_lite0"


def constructed_folder(tmp_path):
    """The Ped2 recipe over 8 training clips and 8 test clips of 20 frames (frames 8..19
    abnormal): 128 copies of the first 43 abnormal frames balance 160 + 64 normal rows."""
    clips = [f"{part}{k:03d}" for part in ("Train", "Test") for k in range(1, 9) for _ in range(20)]
    index = np.tile(np.arange(20), 16)
    label = np.r_[np.zeros(160, np.int64), np.tile((np.arange(20) >= 8).astype(np.int64), 8)]
    p = plan("ped2", Meta(np.array(clips), index, label, np.r_[np.ones(160, bool), np.zeros(160, bool)]))
    assert p.counts()["copies"] == {"flip": 43, "rot90": 43, "rot180": 42}
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(p), 3)).astype(np.float32)
    write_paper_files(tmp_path, BACKBONE, X, p.clips.tolist(), p.index.tolist(), p.label.tolist(),
                      extra={"augmentation": list(p.augmentation), "params": p.params_text()})
    return p


def test_constructed_pair_reaches_the_audit_with_its_copies(tmp_path):
    p = constructed_folder(tmp_path)
    src = open_input(tmp_path, "ped2", BACKBONE)
    assert src.copies is not None and sorted(set(src.copies)) == ["flip", "original", "rot180", "rot90"]
    data, info = load_features(src, BACKBONE)
    assert info["kind"] == "features" and len(data.y) == len(p)
    assert (data.copies == np.asarray(p.augmentation)).all()  # sidecar order is the plan's
    config = ProtocolConfig(n_folds=4)
    # temporal windows: one (clip, copy) stream each, in time order
    windows, win_clips = build_windows(get_protocol("temporal"), data, config)
    order = data.temporal_order()
    streams = np.char.add(np.asarray(data.clips)[order].astype(str), np.asarray(data.copies)[order].astype(str))
    for s in windows.starts:
        assert len(set(streams[s:s + 10])) == 1
        assert (np.diff(np.asarray(data.index)[order][s:s + 10]) == 1).all()
    copy_windows = [i for i, s in enumerate(windows.starts) if data.copies[order][s] != "original"]
    assert copy_windows  # copies make windows of their own
    # strict: no source clip - originals or copies - on both sides of any fold
    for split in make_splits(get_protocol("strict-test-only"), windows, win_clips, 0, config):
        assert not set(win_clips[split.train]) & set(win_clips[split.test])
        assert not set(win_clips[split.val]) & set(win_clips[split.test])
    # the skeleton the audit checks its splits on carries the copies too
    assert (src.skeleton().copies == data.copies).all()


def test_pairs_without_copies_are_unchanged(tmp_path):
    X = np.zeros((30, 2), np.float32)
    write_paper_files(tmp_path, BACKBONE, X, [1] * 15 + [2] * 15, list(range(15)) * 2, [0] * 20 + [1] * 10)
    src = open_input(tmp_path, "ped2", BACKBONE)
    data, _ = load_features(src, BACKBONE)
    assert src.copies is None and data.copies is None
    assert (data.stream_codes() == data.clip_codes()).all()


def test_a_feature_file_that_is_no_npy_is_said_to_be_what_it_is(tmp_path):
    # Without sidecars the rows are counted from the .npy headers, never by np.load (issue 24).
    np.save(tmp_path / f"anomaly_features_{BACKBONE}.npy", np.zeros((3, 2), np.float32))
    (tmp_path / f"normal_features_{BACKBONE}.npy").write_text("normal,features\n1,2\n")
    with pytest.raises(InputError, match=rf"normal_features_{BACKBONE}\.npy: expected a \.npy array file, "
                                         r"found text: 'normal,features'"):
        open_input(tmp_path, "ped2", BACKBONE)
