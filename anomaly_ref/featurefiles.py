"""Feature files: streamed ``.npy`` writing and the paper's normal/anomaly file pair.

The paper writes ``normal_features_<name>.npy`` (N0, D) and ``anomaly_features_<name>.npy``
(N1, D), float32, with no record of which frame a row is. We write the same files plus a
sidecar ``<file>.frames.csv`` (row, clip, index, label) per file.
"""

from __future__ import annotations

import csv
import logging
import mmap
import os
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

SPLITS = {0: "normal", 1: "anomaly"}  # label -> file prefix, as the paper names them
CHUNK_ROWS = 4096  # rows copied at a time when splitting: bounded memory


def open_features(path: str | os.PathLike, n_rows: int, dim: int) -> np.memmap:
    """A new ``(n_rows, dim)`` float32 ``.npy`` on disk, mapped for writing row batches."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, dim))


def release_pages(array: np.ndarray) -> None:
    """Write a memory map's dirty pages to disk and drop them from this process's resident
    set, so that streaming N rows does not grow memory with N. A no-op for plain arrays."""
    if not isinstance(array, np.memmap):
        return
    array.flush()
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(handle, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        # Shared file mapping: the data stays in the file and the page cache.
        handle.madvise(mmap.MADV_DONTNEED)


def paper_name(label: int, backbone: str) -> str:
    return f"{SPLITS[label]}_features_{backbone}.npy"


def write_sidecar(path: Path, rows: Sequence[int], clips: Sequence, indices: Sequence[int], labels: Sequence[int]) -> None:
    """``row,clip,index,label`` per feature row (``row`` = position in the source)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "clip", "index", "label"])
        writer.writerows(zip(rows, clips, indices, labels))


def write_paper_files(
    out_dir: str | os.PathLike,
    backbone: str,
    features: np.ndarray,
    clips: Sequence,
    indices: Sequence[int],
    labels: Sequence[int],
) -> dict[int, Path]:
    """Split ``features`` (N, D) by label into the paper's two files (source order kept
    inside each), each with its ``.frames.csv`` sidecar. Returns ``{label: path}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels)
    if len(labels) != len(features):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    paths = {}
    for label in SPLITS:
        rows = np.flatnonzero(labels == label)  # (N_label,)
        path = out_dir / paper_name(label, backbone)
        dest = open_features(path, len(rows), features.shape[1])
        for start in range(0, len(rows), CHUNK_ROWS):
            part = rows[start:start + CHUNK_ROWS]
            dest[start:start + len(part)] = features[part]
            release_pages(dest)
        del dest  # closes the map
        write_sidecar(
            path.with_suffix(".frames.csv"), rows.tolist(),
            [clips[r] for r in rows], [indices[r] for r in rows], labels[rows].tolist(),
        )
        paths[label] = path
        log.info("wrote %s (%d rows)", path, len(rows))
    return paths
