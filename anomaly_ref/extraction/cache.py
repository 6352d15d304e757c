"""Features of a frame source, extracted once and cached by content hash.

The key is the sha256 of everything that decides the features and their labels: the
bytes of the source's files and their paths relative to one another
(``FrameSequence.source_files``; the decoded pixels where a source cannot name them), the
rows selected with their clip, index and label, the backbone's pinned weights and
preprocessing, the extraction path and device type, and the source code of the modules
that read frames and extract features (a code change invalidates the cache). A second
audit of the same frames with the same backbone reads the cache instead of extracting.

Layout: ``<cache>/extracted/<key>/features.npy`` (n, D) float32, ``frames.csv`` (row,
clip, index, label per feature row; ``row`` = position in the source) and
``record.json`` (what was extracted, how, how long it took, provenance). The files are
written to temporary names, then renamed into place one after another with
``record.json`` last (:func:`anomaly_ref.fileio.replacing`): an entry without its record
is incomplete and is extracted again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import provenance
from ..data.featurefiles import read_sidecar, write_sidecar
from ..data.paths import cache_dir
from ..errors import InputError
from ..fileio import replacing, sha256_file
from ..frames.base import FrameSequence
from ..registry import get_backbone
from .backbones import RANDOM_SEED
from .paper import as_image

log = logging.getLogger(__name__)

FOLDER = "extracted"
FILES = ("features.npy", "frames.csv", "record.json")  # record last: its presence marks a complete entry
CODE = ("frames/base.py", "frames/sources.py", "frames/video.py", "extraction/backbones.py", "extraction/paper.py",
        "extraction/fast.py", "extraction/resize.py")  # package-relative: what decides the features


@dataclass(frozen=True)
class Extracted:
    """Features of the selected frames, with where each came from."""

    X: np.ndarray  # (n, D) float32
    rows: np.ndarray  # (n,) position of each frame in the source
    clips: np.ndarray  # (n,) clip id
    index: np.ndarray  # (n,) frame index inside its clip
    labels: np.ndarray  # (n,) 0 normal, 1 abnormal
    folder: Path  # the cache entry
    key: str
    digest: str  # content digest of the frame source (source_digest)
    cached: bool  # True when read from the cache, False when extracted now


class _Rows(Sequence):
    """The frames at ``rows`` of a sequence, random access kept (parallel decoders)."""

    def __init__(self, frames: FrameSequence, rows: np.ndarray):
        self.frames, self.rows = frames, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.frames[int(self.rows[i])]


def source_digest(frames: FrameSequence) -> str:
    """sha256 over the source's files (path relative to their common folder, and content),
    or over its decoded pixels where the source cannot name its files."""
    h = hashlib.sha256()
    try:
        files = [Path(f) for f in frames.source_files()]
    except NotImplementedError:
        for i in range(len(frames)):
            h.update(np.ascontiguousarray(as_image(frames[i])).tobytes())
        return "pixels:" + h.hexdigest()
    root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path()
    for path in files:
        h.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return "files:" + h.hexdigest()


def _code_digest() -> str:
    """sha256 of the modules that read frames and turn them into features."""
    import anomaly_ref

    pkg = Path(anomaly_ref.__file__).parent
    h = hashlib.sha256()
    for rel in CODE:
        h.update((pkg / rel).read_bytes())
    return h.hexdigest()


def cache_key(digest: str, frames: FrameSequence, rows: np.ndarray, backbone: str, pretrained: bool, path: str,
              device: str) -> str:
    """Hex key of one extraction (see the module docstring for what it covers)."""
    spec = get_backbone(backbone)
    meta = [(int(r), str(frames.clips[r]), int(frames.indices[r]), int(frames.labels[r])) for r in rows]
    parts = {
        "source": digest,
        "frames": hashlib.sha256(json.dumps(meta).encode()).hexdigest(),
        "dataset": frames.dataset,
        "backbone": spec.timm_id,
        "weights": (spec.weights_package or "hub") if pretrained else f"random, seed {RANDOM_SEED}",
        "preprocessing": [spec.input_size, spec.mean, spec.std],
        "path": path,
        "device": device.split(":")[0],  # kernels differ between device types, not between GPUs of one
        "code": _code_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _read(folder: Path, key: str, dim: int) -> Extracted | None:
    """The cache entry in ``folder`` if complete and consistent; None if absent."""
    if not all((folder / name).is_file() for name in FILES):
        return None
    try:
        record = json.loads((folder / "record.json").read_text())
        X = np.load(folder / "features.npy", allow_pickle=False)
        side = read_sidecar(folder / "frames.csv")
    except (OSError, ValueError) as exc:
        raise InputError(f"cached features in {folder} are unreadable ({exc}); delete the folder to re-extract") from None
    if record.get("key") != key or X.shape != (len(side["row"]), dim):
        raise InputError(
            f"cached features in {folder} do not match their record (key {record.get('key')!r}, "
            f"shape {X.shape}); delete the folder to re-extract"
        )
    return Extracted(X, side["row"], side["clip"], side["index"], side["label"], folder, key,
                     record.get("provenance", {}).get("config", {}).get("source_digest", ""), True)


def extract_cached(
    frames: FrameSequence,
    backbone: str,
    *,
    pretrained: bool = True,
    rows: np.ndarray | None = None,
    cache: str | os.PathLike | None = None,
    fast: bool = False,
    device: str = "cpu",
    progress: bool = False,
) -> Extracted:
    """Features of ``frames[rows]`` (all frames if ``rows`` is None) with ``backbone``.

    fast : the batched path (:mod:`.fast`: fp32 on CPU, bf16 on CUDA) instead of the
    paper's (batch 1, fp32). Both are cached under different keys.
    """
    spec = get_backbone(backbone)
    rows = np.arange(len(frames), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    path = ("fast-bf16" if device.startswith("cuda") else "fast-fp32") if fast else "paper"
    digest = source_digest(frames)
    key = cache_key(digest, frames, rows, spec.name, pretrained, path, device)
    folder = cache_dir(cache) / FOLDER / key
    hit = _read(folder, key, spec.feature_dim)
    if hit is not None:
        log.info("features of %d frames with %s from the cache (%s)", len(rows), spec.name, folder)
        return hit
    X, seconds = _extract(_Rows(frames, rows), spec.name, pretrained, fast, device, progress)
    labels = np.asarray(frames.labels)[rows]
    clips = [frames.clips[r] for r in rows]
    index = np.asarray(frames.indices)[rows]
    record = {
        "key": key, "backbone": spec.timm_id, "pretrained": pretrained, "path": path, "device": device,
        "dataset": frames.dataset, "frames": int(len(rows)), "seconds": round(seconds, 3),
        "images_per_s": round(len(rows) / seconds, 2) if seconds > 0 else None,
        "provenance": provenance.collect(config={"source_digest": digest}, seeds={}, device=device),
    }
    folder.mkdir(parents=True, exist_ok=True)
    finals = [folder / name for name in FILES]
    with replacing(finals) as (npy, csv_path, rec):
        with open(npy, "wb") as f:
            np.save(f, X)
        write_sidecar(csv_path, rows.tolist(), clips, index.tolist(), labels.tolist())
        rec.write_text(json.dumps(record, indent=1, default=str) + "\n")
    log.info("extracted %d frames with %s in %.1f s into %s", len(rows), spec.name, seconds, folder)
    return Extracted(X, rows, read_sidecar(folder / "frames.csv")["clip"], index, labels, folder, key, digest, False)


def _extract(frames: _Rows, backbone: str, pretrained: bool, fast: bool, device: str, progress: bool):
    from .backbones import create_backbone

    model = create_backbone(backbone, pretrained=pretrained)
    spec = get_backbone(backbone)
    t0 = time.perf_counter()
    if fast:
        from .fast import FastConfig, extract_fast

        config = FastConfig(precision="bf16" if device.startswith("cuda") else "fp32", device=device, num_workers=0)
        X = np.zeros((len(frames), spec.feature_dim), np.float32)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(frames), desc=f"{backbone} (fast)", unit="img")
        try:
            extract_fast(model, frames, spec, out=X, config=config, progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
    else:
        from .paper import extract_paper

        X = extract_paper(model, frames, spec, device=device, progress=progress)
    return X, time.perf_counter() - t0
