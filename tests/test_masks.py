"""Pixel masks: the real Ped2 masks agree with the frames' recorded mask areas; rows are checked."""

from __future__ import annotations

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.frames.masks import open_masks
from anomaly_ref.frames.sources import open_npz


def test_real_ped2_masks_match_the_mask_areas(shared):
    folder = shared / "data" / "ucsd_ped2"
    frames = open_npz(folder / "ucsd_ped2_test.npz", "ped2")
    masks = open_masks(folder / "ucsd_ped2_test_masks.npz", frames)
    with np.load(folder / "ucsd_ped2_test.npz") as data:
        area = data["mask_area"]
    for row in (0, 61, 900, 2009):
        m = masks[row]
        assert m.shape == (240, 360) and m.dtype == bool
        assert m.sum() == masks.area(row) == area[row]
        assert (m.sum() > 0) == bool(frames.labels[row])


def _write(tmp_path, video, frame):
    n = len(video)
    np.savez(tmp_path / "f.npz", frames=np.zeros((n, 4, 10), np.uint8), video=np.array(video),
             frame=np.array(frame), label=np.ones(n, np.uint8))
    packed = np.packbits(np.ones((2, 4, 10), bool), axis=-1)
    np.savez(tmp_path / "m.npz", masks=packed, video=np.array([1, 1]), frame=np.array([0, 1]), shape=np.array([4, 10]))
    return open_npz(tmp_path / "f.npz", "ped2")


def test_masks_unpack_to_the_frame_width(tmp_path):
    masks = open_masks(tmp_path / "m.npz", _write(tmp_path, [1, 1], [0, 1]))
    assert masks[1].shape == (4, 10) and masks[1].all() and masks.area(0) == 40


def test_masks_of_other_frames_are_refused(tmp_path):
    frames = _write(tmp_path, [1, 2], [0, 0])
    with pytest.raises(InputError, match="row 1 is clip 1 frame 1, but the frame source's row 1 is clip 2 frame 0"):
        open_masks(tmp_path / "m.npz", frames)
    with pytest.raises(InputError, match="2 masks but the frame source has 3"):
        open_masks(tmp_path / "m.npz", _write(tmp_path, [1, 1, 1], [0, 1, 2]))
