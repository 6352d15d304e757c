"""Feature files: streamed ``.npy`` writing and the paper's normal/anomaly file pair.

The paper writes ``normal_features_<name>.npy`` (N0, D) and ``anomaly_features_<name>.npy``
(N1, D), float32, with no record of which frame a row is. We write the same files plus a
sidecar ``<file>.frames.csv`` (row, clip, index, label) per file.

Files are written as pooch writes downloads: into a temporary file in the same folder,
moved onto the final name (``os.replace``) only once complete, so a crash never leaves a
truncated or zero-filled file under a paper name. An existing file is never replaced
unless the caller passes ``force=True`` (CLI: ``--force``).
"""

from __future__ import annotations

import csv
import json
import logging
import mmap
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..fileio import replacing

log = logging.getLogger(__name__)

SPLITS = {0: "normal", 1: "anomaly"}  # label -> file prefix, as the paper names them
CHUNK_ROWS = 4096  # rows copied at a time when splitting: bounded memory


def refuse_overwrite(paths: Sequence[str | os.PathLike], force: bool = False) -> None:
    """InputError naming the first of ``paths`` that exists, unless ``force``."""
    if force:
        return
    for path in paths:
        if os.path.lexists(path):
            raise InputError(
                f"refusing to overwrite {path}: it exists already. Choose another output "
                "folder, or pass force=True (CLI: --force) to replace it"
            )


def open_features(path: str | os.PathLike, n_rows: int, dim: int, *, force: bool = False) -> np.memmap:
    """A new ``(n_rows, dim)`` float32 ``.npy`` on disk, mapped for writing row batches.

    The file is created at ``path`` at once (full size, zero-filled): use it for scratch
    files, not for final outputs (:func:`write_paper_files` writes those atomically).
    An existing ``path`` is an InputError unless ``force``.
    """
    refuse_overwrite([path], force)
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, dim))


def write_text(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    """``text`` into ``path`` atomically (temp file + ``os.replace``); see :func:`refuse_overwrite`."""
    path = Path(path)
    refuse_overwrite([path], force)
    with replacing([path]) as (temp,):
        temp.write_text(text)
    return path


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


HEADER = ["row", "clip", "index", "label"]
# A constructed file pair (frames.construction) adds, per row, the copy made of the source
# frame (clip, index): "original", "flip", "rot90", ... and its drawn parameters (JSON).
COPY_COLUMNS = ["augmentation", "params"]


def write_sidecar(path: Path, rows: Sequence[int], clips: Sequence, indices: Sequence[int], labels: Sequence[int],
                  extra: dict[str, Sequence] | None = None) -> None:
    """``row,clip,index,label`` per feature row (``row`` = position in the source), plus the
    :data:`COPY_COLUMNS` when ``extra`` gives them."""
    extra = extra or {}
    if extra and list(extra) != COPY_COLUMNS:
        raise InputError(f"sidecar extra columns must be {COPY_COLUMNS}, found {list(extra)}")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER + list(extra))
        writer.writerows(zip(rows, clips, indices, labels, *extra.values()))


def sidecar_name(path: Path) -> Path:
    return path.with_suffix(".frames.csv")


def read_sidecar(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A ``.frames.csv`` sidecar as arrays: ``row``, ``index``, ``label`` (int64) and ``clip``
    (int64 where every clip id is a number, else str); ``augmentation`` and ``params`` (str)
    where the sidecar has them. Errors name the file and line."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            lines = list(csv.reader(f))
    except OSError as exc:
        raise InputError(f"cannot read sidecar {path}: {exc}") from None
    if not lines or lines[0] not in (HEADER, HEADER + COPY_COLUMNS):
        raise InputError(f"{path}: first line must be {','.join(HEADER)}[,{','.join(COPY_COLUMNS)}], "
                         f"found {lines[0] if lines else 'nothing'}")
    header = lines[0]
    cols: dict[str, list] = {k: [] for k in header}
    for lineno, line in enumerate(lines[1:], 2):
        if len(line) != len(header):
            raise InputError(f"{path}:{lineno}: expected {len(header)} fields ({','.join(header)}), found {len(line)}")
        try:
            row, index, label = int(line[0]), int(line[2]), int(line[3])
        except ValueError:
            raise InputError(f"{path}:{lineno}: row, index and label must be integers, found {line}") from None
        for key, value in zip(header, (row, line[1], index, label, *line[4:])):
            cols[key].append(value)
    clips = cols["clip"]
    out = {k: np.asarray(cols[k], dtype=np.int64) for k in ("row", "index", "label")}
    out.update({k: np.asarray(cols[k], dtype=str) for k in COPY_COLUMNS if k in cols})
    out["clip"] = np.asarray([int(c) for c in clips], np.int64) if all(c.lstrip("-").isdigit() for c in clips) else np.asarray(clips)
    return out


def backbone_of(path: str | os.PathLike) -> str | None:
    """The backbone a paper file name ``normal_features_<b>.npy`` / ``anomaly_features_<b>.npy`` names."""
    m = re.match(r"^(?:normal|anomaly)_features_(?P<backbone>.+)\.npy$", Path(path).name)
    return m["backbone"] if m else None


def construction_of(path: str | os.PathLike) -> str | None:
    """The construction (``paper`` or ``frames``) ``anomaly-ref extract`` recorded for the paper
    file at ``path`` (its ``features_<backbone>.json`` beside it), or None where none is recorded."""
    backbone = backbone_of(path)
    record = Path(path).parent / f"features_{backbone}.json"
    if backbone is None or not record.is_file():
        return None
    try:
        config = json.loads(record.read_text()).get("config") or {}
    except (OSError, ValueError, AttributeError):
        return None  # a record we cannot read says nothing; the result then names no construction
    # Records written before constructions existed extracted the frames as they are.
    return str(config.get("construction", "frames"))


def paper_paths(out_dir: str | os.PathLike, backbone: str) -> list[Path]:
    """Every file :func:`write_paper_files` writes: the two ``.npy`` files, then their sidecars."""
    npys = [Path(out_dir) / paper_name(label, backbone) for label in SPLITS]
    return npys + [sidecar_name(p) for p in npys]


def is_plan(out_dir: str | os.PathLike, backbone: str) -> bool:
    """True when ``out_dir`` holds this backbone's sidecars but neither ``.npy``: what
    ``extract --plan`` leaves, which the extraction itself may replace."""
    finals = paper_paths(out_dir, backbone)
    npys, sides = finals[:len(SPLITS)], finals[len(SPLITS):]
    return not any(os.path.lexists(p) for p in npys) and all(p.is_file() for p in sides)


def write_paper_files(
    out_dir: str | os.PathLike,
    backbone: str,
    features: np.ndarray,
    clips: Sequence,
    indices: Sequence[int],
    labels: Sequence[int],
    *,
    force: bool = False,
    extra: dict[str, Sequence] | None = None,
) -> dict[int, Path]:
    """Split ``features`` (N, D) by label into the paper's two files (source order kept
    inside each), each with its ``.frames.csv`` sidecar. Returns ``{label: path}``.

    All four files are written to temporary files and moved into place together at the
    end. Any of them existing already is an InputError unless ``force``. ``extra``: the
    sidecars' :data:`COPY_COLUMNS` per row, for a constructed pair.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels)
    if len(labels) != len(features):
        raise InputError(f"{len(features)} feature rows but {len(labels)} labels")
    finals = paper_paths(out_dir, backbone)
    refuse_overwrite(finals, force)
    paths = {label: out_dir / paper_name(label, backbone) for label in SPLITS}
    with replacing(finals) as temps:
        npy_temps, csv_temps = temps[:len(SPLITS)], temps[len(SPLITS):]
        for label, npy, side in zip(SPLITS, npy_temps, csv_temps):
            rows = np.flatnonzero(labels == label)  # (N_label,)
            dest = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=(len(rows), features.shape[1]))
            for start in range(0, len(rows), CHUNK_ROWS):
                part = rows[start:start + CHUNK_ROWS]
                dest[start:start + len(part)] = features[part]
                release_pages(dest)
            del dest  # closes the map
            write_sidecar(side, rows.tolist(), [clips[r] for r in rows], [indices[r] for r in rows],
                          labels[rows].tolist(), {k: [v[r] for r in rows] for k, v in (extra or {}).items()})
            log.info("wrote %s (%d rows)", paths[label], len(rows))
    return paths


def write_sidecars(out_dir: str | os.PathLike, backbone: str, clips: Sequence, indices: Sequence[int],
                   labels: Sequence[int], *, extra: dict[str, Sequence] | None = None,
                   force: bool = False) -> list[Path]:
    """Only the two ``.frames.csv`` sidecars :func:`write_paper_files` would write (a plan:
    which rows the files will hold), atomically; no ``.npy`` is written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels)
    finals = paper_paths(out_dir, backbone)[len(SPLITS):]
    refuse_overwrite(finals, force)
    with replacing(finals) as temps:
        for label, side in zip(SPLITS, temps):
            rows = np.flatnonzero(labels == label)
            write_sidecar(side, rows.tolist(), [clips[r] for r in rows], [indices[r] for r in rows],
                          labels[rows].tolist(), {k: [v[r] for r in rows] for k, v in (extra or {}).items()})
    return finals


def read_pair_sidecars(normal: str | os.PathLike, anomaly: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The two sidecars of a ``normal_/anomaly_features`` pair as one table in the frame
    source's order (sorted by ``row``), with ``order``: the position of each of those rows
    in the pair's concatenation (normal rows, then anomaly rows). None if a sidecar is missing."""
    sides = [sidecar_name(Path(p)) for p in (normal, anomaly)]
    if not all(s.is_file() for s in sides):
        return None
    tables = [read_sidecar(s) for s in sides]
    table = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    order = np.argsort(table["row"], kind="stable")
    out = {k: v[order] for k, v in table.items()}
    out["order"] = order
    out["sizes"] = np.array([len(t["row"]) for t in tables])
    return out
