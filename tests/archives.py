"""Tiny synthetic archives in the official layouts (UCSD tar.gz, Avenue zips, UMN video).

Frames are small grey images of a blob walking across the frame; an abnormal frame holds a
second, bright square (so a one-class scorer has something to find). Each archive also
carries the clutter real ones have (``.DS_Store``, macOS ``._`` forks, a README), which the
layouts must skip.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np

H, W = 48, 72


def frame(t: int, abnormal: bool, seed: int = 0) -> np.ndarray:
    """(H, W) uint8: noise, a walking blob, and a bright square when ``abnormal``."""
    rng = np.random.default_rng(seed * 1000 + t)
    img = rng.integers(60, 90, (H, W)).astype(np.uint8)
    x = (4 + 3 * t) % (W - 10)
    img[20:30, x:x + 8] = 30
    if abnormal:
        img[5:20, 40:60] = 250
    return img


def _encode(img: np.ndarray, ext: str) -> bytes:
    import cv2

    ok, data = cv2.imencode(ext, img)
    assert ok
    return data.tobytes()


def ucsd_files(n_train: int = 2, n_test: int = 2, n: int = 10) -> dict[str, bytes]:
    """``{path in the archive: bytes}`` of a UCSD v1p2 tree: Ped1 and Ped2, ``n`` frames a clip;
    test clip c is abnormal on frames 5..n (1-based, the .m file's convention)."""
    files: dict[str, bytes] = {}
    top = "UCSD_Anomaly_Dataset.v1p2"
    for ped in (1, 2):
        base = f"{top}/UCSDped{ped}"
        for c in range(1, n_train + 1):
            for t in range(n):
                files[f"{base}/Train/Train{c:03d}/{t + 1:03d}.tif"] = _encode(frame(t, False, c), ".tif")
        lines = ["TestVideoFile = {};"]
        for c in range(1, n_test + 1):
            lines.append(f"TestVideoFile{{end+1}}.gt_frame = [5:{n}];")
            for t in range(n):
                files[f"{base}/Test/Test{c:03d}/{t + 1:03d}.tif"] = _encode(frame(t, t + 1 >= 5, 50 + c), ".tif")
                mask = np.zeros((H, W), np.uint8)
                if t + 1 >= 5:
                    mask[5:20, 40:60] = 255
                files[f"{base}/Test/Test{c:03d}_gt/{t + 1:03d}.bmp"] = _encode(mask, ".bmp")
        files[f"{base}/Test/UCSDped{ped}.m"] = "\n".join(lines).encode()
        files[f"{base}/Test/Test001/._001.tif"] = b"\x00\x05\x16\x07 macOS fork"
    files[f"{top}/.DS_Store"] = b"\x00\x00\x00\x01Bud1"
    files[f"{top}/README.txt"] = b"UCSD Anomaly Detection Dataset (synthetic test copy)"
    return files


def write_tar(path: Path, files: dict[str, bytes], extra=()) -> Path:
    """A ``.tar.gz`` of ``files``; ``extra``: TarInfo objects (links, devices) added as they are."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_video(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """An MJPG ``.avi`` of grey ``frames`` (3 identical channels), as OpenCV writes it."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for img in frames:
        writer.write(np.repeat(img[..., None], 3, axis=2))
    writer.release()
    return path


def avenue_label_mat(labels: np.ndarray, shape=(H, W)) -> bytes:
    """An ``N_label.mat`` as the official one: ``volLabel``, a 1 x n cell of uint8 masks, a
    frame abnormal iff its mask has a nonzero pixel."""
    import scipy.io

    cell = np.empty((1, len(labels)), dtype=object)
    for i, label in enumerate(labels):
        mask = np.zeros(shape, np.uint8)
        if label:
            mask[: max(1, shape[0] // 3), shape[1] // 2:] = 1  # any region: a frame is abnormal iff nonzero
        cell[0, i] = mask
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"volLabel": cell}, do_compression=True)
    return buf.getvalue()


def avenue_archives(folder: Path, n_train: int = 2, n_test: int = 2, n: int = 10) -> tuple[Path, Path]:
    """``Avenue_Dataset.zip`` and ``ground_truth_demo.zip`` in ``folder``; test video c is
    abnormal on frames 4.. (0-based)."""
    vids: dict[str, bytes] = {}
    tmp = folder / "_videos"
    for kind, count in (("training", n_train), ("testing", n_test)):
        for c in range(1, count + 1):
            frames = [frame(t, kind == "testing" and t >= 4, (kind == "testing") * 50 + c) for t in range(n)]
            vids[f"Avenue Dataset/{kind}_videos/{c:02d}.avi"] = write_video(tmp / f"{kind}{c}.avi", frames).read_bytes()
    vids["Avenue Dataset/readme.txt"] = b"CUHK Avenue (synthetic test copy)"
    labels = {f"ground_truth_demo/testing_label_mask/{c}_label.mat":
              avenue_label_mat(np.arange(n) >= 4) for c in range(1, n_test + 1)}
    labels["ground_truth_demo/show_gt.m"] = b"% demo script"
    return write_zip(folder / "Avenue_Dataset.zip", vids), write_zip(folder / "ground_truth_demo.zip", labels)


def umn_video(folder: Path, n: int = 30) -> Path:
    """``Crowd-Activity-All.avi``: frames 20.. abnormal (the ranges a test then writes)."""
    return write_video(folder / "Crowd-Activity-All.avi", [frame(t, t >= 20, 7) for t in range(n)])
