"""Frame sources on tiny generated fixtures (.tif, .avi, .mat, .npz) and the real Ped2 npz."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.frames.base import Frame
from anomaly_ref.frames.sources import (
    open_folders,
    open_source,
    open_ucsd,
    parse_ucsd_gt,
    read_folders,
    read_npz,
    read_ucsd,
)
from anomaly_ref.frames.video import open_avenue, read_avenue
from anomaly_ref.registry import get_dataset

cv2 = pytest.importorskip("cv2")
AVENUE = get_dataset("avenue").key


def gray(h: int, w: int, value: int) -> np.ndarray:
    """A frame whose pixels encode ``value`` (constant image: survives lossy codecs)."""
    return np.full((h, w), value, dtype=np.uint8)


# ---------------------------------------------------------------- npz


def test_read_npz_real_ped2(shared):
    path = shared / "data" / "ucsd_ped2" / "ucsd_ped2_test.npz"
    frames = read_npz(path, "ped2")
    assert len(frames) == 2010
    first = next(frames)
    assert isinstance(first, Frame)
    assert first.image.shape == (240, 360, 3) and first.image.dtype == np.uint8
    assert (first.image[..., 0] == first.image[..., 2]).all()  # gray repeated to RGB
    assert (first.dataset, first.clip, first.index, first.label) == ("ped2", 1, 0, 0)
    seq = frames.frames
    labels = np.array(seq.labels)
    assert labels.sum() == 1648  # README.txt: 1648 abnormal of 2010
    # Clip 1 turns abnormal at frame 61 (1-based): gt_frame 61:180.
    assert (seq.labels[59], seq.labels[60]) == (0, 1)
    with np.load(path) as raw:
        np.testing.assert_array_equal(seq[1000].image[..., 1], raw["frames"][1000])


def test_npz_missing_key_is_named(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, frames=np.zeros((2, 4, 4), np.uint8), video=np.ones(2), frame=np.arange(2))
    with pytest.raises(InputError, match=r"bad\.npz: missing keys \['label'\]"):
        read_npz(path, "ped2")


# --------------------------------------------------------------- UCSD

UCSD_M = """\
TestVideoFile = {};
TestVideoFile{end+1}.gt_frame = [2:3];
% a comment: TestVideoFile{end+1}.gt_frame = [1:1];
TestVideoFile{end+1}.gt_frame = [1, 4:4];
"""


def write_ucsd(root: Path) -> Path:
    test = root / "UCSDped2" / "Test"
    for clip in (1, 2):
        folder = test / f"Test{clip:03d}"
        folder.mkdir(parents=True)
        for n in range(1, 5):  # 001.tif .. 004.tif, 1-based like the dataset
            assert cv2.imwrite(str(folder / f"{n:03d}.tif"), gray(6, 9, 10 * clip + n))
    (test / "Test001_gt").mkdir()  # pixel masks: not a clip
    (test / "Test001" / "._001.tif").write_bytes(b"macOS fork")
    (test / "UCSDped2.m").write_text(UCSD_M)
    return test


def test_parse_ucsd_gt_ranges_and_comments(tmp_path):
    m = tmp_path / "UCSDped1.m"
    m.write_text(UCSD_M + "TestVideoFile{end+1}.gt_frame = [5:90, 140:142];\n")
    gt = parse_ucsd_gt(m)
    assert gt[:2] == [{2, 3}, {1, 4}]
    assert gt[2] == set(range(5, 91)) | {140, 141, 142}


def test_parse_ucsd_gt_bad_range_names_line(tmp_path):
    m = tmp_path / "UCSDped2.m"
    m.write_text("TestVideoFile{end+1}.gt_frame = [1:5];\nTestVideoFile{end+1}.gt_frame = [a:5];\n")
    with pytest.raises(InputError, match=r"UCSDped2\.m:2: cannot read frame range 'a:5'"):
        parse_ucsd_gt(m)


def test_read_ucsd_labels_indices_pixels(tmp_path):
    test = write_ucsd(tmp_path)
    frames = list(read_ucsd(test, "ped2"))
    assert [(f.clip, f.index, f.label) for f in frames] == [
        (1, 0, 0), (1, 1, 1), (1, 2, 1), (1, 3, 0),
        (2, 0, 1), (2, 1, 0), (2, 2, 0), (2, 3, 1),
    ]
    assert all(f.image.shape == (6, 9, 3) for f in frames)
    assert [int(f.image[0, 0, 1]) for f in frames] == [11, 12, 13, 14, 21, 22, 23, 24]
    assert type(open_source(test, "ped2")) is type(open_ucsd(test, "ped2"))


def test_ucsd_more_clips_than_ground_truth(tmp_path):
    test = write_ucsd(tmp_path)
    (test / "Test003").mkdir()
    assert cv2.imwrite(str(test / "Test003" / "001.tif"), gray(6, 9, 0))
    with pytest.raises(InputError, match="ground truth for 2 clips.*Test003"):
        open_ucsd(test, "ped2")


def test_unreadable_image_names_file(tmp_path):
    test = write_ucsd(tmp_path)
    (test / "Test002" / "002.tif").write_bytes(b"not a tiff")
    seq = open_ucsd(test, "ped2")
    with pytest.raises(InputError, match=r"cannot read image .*Test002/002\.tif"):
        seq[5]


# ------------------------------------------------------------- folders


def test_read_folders_normal_then_abnormal(tmp_path):
    for name, values in (("normal", (1, 2, 3)), ("abnormal", (7, 8))):
        (tmp_path / name).mkdir()
        for i, v in enumerate(values):
            assert cv2.imwrite(str(tmp_path / name / f"frame{i + 1}.png"), gray(5, 7, v))
    assert cv2.imwrite(str(tmp_path / "normal" / "frame10.png"), gray(5, 7, 4))  # natural order
    frames = list(read_folders(tmp_path, "umn"))
    assert [int(f.image[0, 0, 0]) for f in frames] == [1, 2, 3, 4, 7, 8]
    assert [f.label for f in frames] == [0, 0, 0, 0, 1, 1]
    assert [f.clip for f in frames] == ["normal"] * 4 + ["abnormal"] * 2
    assert len(open_source(tmp_path, "umn")) == 6


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "normal").mkdir()
    (tmp_path / "abnormal").mkdir()
    (tmp_path / "normal" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"normal: no images"):
        open_folders(tmp_path, "umn")


def test_unknown_layout_lists_expected(tmp_path):
    with pytest.raises(InputError, match="unknown layout.*normal/ \\+ abnormal/"):
        open_source(tmp_path, "umn")


# -------------------------------------------------------------- Avenue


def write_avenue(root: Path, n_frames=(5, 3), size=(16, 24)) -> Path:
    import scipy.io

    h, w = size
    (root / "testing_videos").mkdir(parents=True)
    masks_dir = root / "ground_truth_demo" / "testing_label_mask"
    masks_dir.mkdir(parents=True)
    for video, n in enumerate(n_frames, 1):
        writer = cv2.VideoWriter(str(root / "testing_videos" / f"{video:02d}.avi"),
                                 cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
        assert writer.isOpened()
        for i in range(n):
            writer.write(np.dstack([gray(h, w, 20 * i + 10 * video)] * 3))
        writer.release()
        vol = np.empty((1, n), dtype=object)
        for i in range(n):
            vol[0, i] = np.zeros((h, w), np.uint8)
            vol[0, i][2, 3] = int(i % 2 == 1)  # odd frames abnormal
        scipy.io.savemat(masks_dir / f"{video}_label.mat", {"volLabel": vol})
    return root


def test_read_avenue_labels_and_frames(tmp_path):
    root = write_avenue(tmp_path)
    frames = list(read_avenue(root, AVENUE))
    assert [(f.clip, f.index, f.label) for f in frames] == [
        (1, 0, 0), (1, 1, 1), (1, 2, 0), (1, 3, 1), (1, 4, 0), (2, 0, 0), (2, 1, 1), (2, 2, 0)
    ]
    values = [int(np.median(f.image)) for f in frames]
    expected = [10, 30, 50, 70, 90, 20, 40, 60]
    assert all(abs(v - e) <= 3 for v, e in zip(values, expected)), values  # MJPEG is lossy
    assert frames[0].image.shape == (16, 24, 3)


def test_avenue_random_access_matches_sequential(tmp_path):
    seq = open_avenue(write_avenue(tmp_path), AVENUE)
    sequential = [f.image for f in seq]
    for i in (3, 1, 7, 0, 4):  # jumps backwards and across videos
        np.testing.assert_array_equal(seq[i].image, sequential[i])


def test_avenue_resizes_to_mask_size(tmp_path):
    import scipy.io

    root = write_avenue(tmp_path, n_frames=(2,))
    mat = root / "ground_truth_demo" / "testing_label_mask" / "1_label.mat"
    vol = np.empty((1, 2), dtype=object)
    vol[0, 0] = vol[0, 1] = np.zeros((8, 12), np.uint8)
    scipy.io.savemat(mat, {"volLabel": vol})
    assert open_avenue(root, AVENUE)[1].image.shape == (8, 12, 3)


def test_avenue_frames_make_the_papers_jpeg_round_trip(tmp_path):
    """PROTOCOL §1: the paper writes each frame as JPEG (cv2.imwrite, quality 95) and reads
    it back with cv2.imread; the reader must give exactly those pixels."""
    root = write_avenue(tmp_path, n_frames=(2,))  # masks 16 x 24; the video below is 32 x 48
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(root / "testing_videos" / "01.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (48, 32))
    for _ in range(2):  # texture, so that the JPEG round trip changes pixels
        writer.write(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8))
    writer.release()
    cap = cv2.VideoCapture(str(root / "testing_videos" / "01.avi"))
    cap.read()
    ok, bgr = cap.read()
    assert ok
    bgr = cv2.resize(bgr, (24, 16))  # to the mask size, as the reader does
    expected = cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", bgr)[1], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    image = open_avenue(root, AVENUE)[1].image
    assert not np.array_equal(expected, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # the round trip is visible
    np.testing.assert_array_equal(image, expected)


def test_avenue_mat_without_vollabel(tmp_path):
    import scipy.io

    root = write_avenue(tmp_path)
    scipy.io.savemat(root / "ground_truth_demo" / "testing_label_mask" / "2_label.mat", {"masks": np.zeros(3)})
    with pytest.raises(InputError, match=r"2_label\.mat: no variable 'volLabel' \(found: \['masks'\]\)"):
        open_avenue(root, AVENUE)


def test_avenue_video_shorter_than_labels(tmp_path):
    from anomaly_ref.errors import ExtractionError

    root = write_avenue(tmp_path, n_frames=(3,))
    import scipy.io

    vol = np.empty((1, 4), dtype=object)
    for i in range(4):
        vol[0, i] = np.zeros((16, 24), np.uint8)
    scipy.io.savemat(root / "ground_truth_demo" / "testing_label_mask" / "1_label.mat", {"volLabel": vol})
    frames = read_avenue(root, AVENUE)
    assert len(list(itertools.islice(frames, 3))) == 3
    with pytest.raises(ExtractionError, match=r"01\.avi: cannot decode frame 3"):
        next(frames)
