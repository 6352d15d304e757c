"""The leakage audit: every rung of the protocol ladder on the same frames, heads and seeds.

Each rung of ``registry.PROTOCOLS`` removes one source of leakage from the rung before
(PROTOCOL §9), so the drop between neighbours names its cause. Supervised rungs train
the heads (:func:`anomaly_ref.protocol.runner.run_protocol`); the ``standard`` rung fits
one-class scorers on the normal training clips (:mod:`anomaly_ref.protocol.oneclass`).

In: test frames (and normal training frames for ``standard``) as
:class:`~anomaly_ref.protocol.features.FrameFeatures`. Out: a list of result entries, each
shaped as an entry of ``reproduce --out`` (protocol, head, config, runs, summary).
:mod:`.audit_report` renders them; ``anomaly-ref audit`` extracts, runs and writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..protocol.features import FrameFeatures
from ..protocol.oneclass import OneClassConfig, run_standard
from ..protocol.runner import ProtocolConfig, build_windows, make_splits, run_protocol
from ..registry import PROTOCOLS, SCORERS, get_head, get_protocol, get_scorer, paper_heads

DEFAULT_HEADS = (*paper_heads(), "Dense", "last-frame")  # the paper's four, the baseline, the control


@dataclass(frozen=True)
class AuditConfig:
    protocols: tuple[str, ...] = tuple(PROTOCOLS)  # rungs, run in ladder order
    heads: tuple[str, ...] = DEFAULT_HEADS
    scorers: tuple[str, ...] = tuple(SCORERS)  # one-class scorers of the standard rung
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    oneclass: OneClassConfig = field(default_factory=OneClassConfig)

    def __post_init__(self):
        for name in self.protocols:
            get_protocol(name)  # unknown names raise, listing the valid ones
        for name in self.heads:
            get_head(name)
        for name in self.scorers:
            get_scorer(name)
        if not self.protocols:
            raise InputError("no protocol selected")

    def ordered(self) -> list[str]:
        """The selected rungs in ladder order."""
        return [p for p in PROTOCOLS if p in self.protocols]


@dataclass(frozen=True)
class Inputs:
    """What the audit's inputs offer, known before any extraction (cheap to check)."""

    clips: bool  # clip id of every test frame
    train: bool  # normal training frames given
    train_clips: bool = True  # clip id of every training frame
    train_hint: str = ""  # where training frames can be found, for the skip reason


def plan(config: AuditConfig, inputs: Inputs, explicit: bool = True) -> tuple[list[str], list[dict[str, str]]]:
    """``(rungs to run, [{"protocol", "reason"}] skipped)``.

    A rung that cannot run on these inputs is an InputError when the user asked for it
    (``explicit``), and skipped with its reason when it was only part of the default ladder.
    """
    why = {name: _why_not(get_protocol(name), inputs) for name in config.ordered()}
    runnable = [name for name, reason in why.items() if reason is None]
    skipped = [{"protocol": name, "reason": reason} for name, reason in why.items() if reason]
    if skipped and explicit:
        first = skipped[0]
        raise InputError(f"protocol {first['protocol']!r} cannot run: {first['reason']} "
                         f"(rungs that can run on these inputs: {', '.join(runnable) or 'none'})")
    if not runnable:
        raise InputError("no protocol of the ladder can run on these inputs: " + "; ".join(
            f"{s['protocol']}: {s['reason']}" for s in skipped))
    return runnable, skipped


def _why_not(spec, inputs: Inputs) -> str | None:
    if spec.needs_clips and not inputs.clips:
        return ("it needs the clip of every frame, and the features have no .frames.csv sidecars "
                "(the authors' Dropbox features have none; 'anomaly-ref extract' writes them)")
    if spec.needs_train_frames and not inputs.train:
        hint = f" ({inputs.train_hint})" if inputs.train_hint else ""
        return f"it needs the normal training frames (--train-source){hint}, and none were given"
    if spec.needs_train_frames and not inputs.train_clips:
        return "it needs the clip of every training frame (.frames.csv sidecars)"
    return None


def check_splits(rungs: list[str], test: FrameFeatures, config: AuditConfig) -> None:
    """Build every run's splits of every supervised rung now (cheap), so an impossible split
    (a class in fewer clips than folds, a training fold of one clip) fails before training."""
    for name in rungs:
        spec = get_protocol(name)
        if spec.needs_train_frames:
            continue
        windows, clips = build_windows(spec, test, config.protocol)
        for r in range(config.protocol.n_runs):
            make_splits(spec, windows, clips, r, config.protocol)


def n_fits(rungs: list[str], config: AuditConfig) -> int:
    """Model fits the supervised rungs will make (for progress bars)."""
    per_run = {n: config.protocol.n_folds if get_protocol(n).split == "clip-kfold" else 1
               for n in rungs if not get_protocol(n).needs_train_frames}
    return sum(per_run.values()) * len(config.heads) * config.protocol.n_runs


def run_audit(
    test: FrameFeatures,
    train: FrameFeatures | None,
    config: AuditConfig,
    rungs: list[str],
    *,
    device: str = "cpu",
    on_fit: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Every rung of ``rungs`` × head (× scorer for ``standard``): result entries in ladder order."""
    results = []
    for name in rungs:
        spec = get_protocol(name)
        if spec.needs_train_frames:
            for scorer in config.scorers:
                results.append(run_standard(test, train, scorer, config.oneclass).to_dict())
            continue
        for head in config.heads:
            results.append(run_protocol(spec, test, head, config.protocol, device=device, on_fit=on_fit).to_dict())
    return results


# ------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Source:
    """An audit input, opened cheaply: frame metadata known, features not yet computed.

    Either a frame source (anything :func:`~anomaly_ref.frames.sources.open_source` reads)
    or a folder of already extracted ``normal_/anomaly_features_<backbone>.npy`` files.
    """

    path: Path
    labels: np.ndarray  # (n,) of the selected frames
    clips: np.ndarray | None  # (n,) or None (feature files without sidecars)
    index: np.ndarray | None  # (n,) or None
    rows: np.ndarray  # (n,) positions of the selected frames in the source
    frames: Any = None  # the FrameSequence (frame sources only)

    @property
    def is_features(self) -> bool:
        return self.frames is None

    def skeleton(self) -> FrameFeatures:
        """Labels and clips with a dummy (n, 1) feature: enough to check splits before extracting."""
        return FrameFeatures(np.zeros((len(self.labels), 1), np.float32), self.labels, self.clips, self.index)


def feature_files(folder: Path, backbone: str) -> tuple[Path, Path]:
    from ..data.featurefiles import paper_name

    return folder / paper_name(0, backbone), folder / paper_name(1, backbone)


def open_input(path: str | os.PathLike, dataset: str, backbone: str, clips: list[str] | None = None) -> Source:
    """Open ``path`` (frames, or a folder of feature files for ``backbone``), keeping only
    the frames of ``clips`` (compared as text) when given."""
    from ..data.featurefiles import read_sidecar, sidecar_name
    from ..frames.sources import open_source

    path = Path(path)
    normal, anomaly = feature_files(path, backbone)
    if path.is_dir() and normal.is_file():
        if not anomaly.is_file():
            raise InputError(f"{path}: has {normal.name} but not {anomaly.name}")
        sides = [sidecar_name(p) for p in (normal, anomaly)]
        if all(s.is_file() for s in sides):
            tables = [read_sidecar(s) for s in sides]
            table = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
            order = np.argsort(table["row"], kind="stable")
            labels, cl, index = table["label"][order], table["clip"][order], table["index"][order]
        else:
            n0, n1 = (np.load(p, mmap_mode="r").shape[0] for p in (normal, anomaly))
            labels, cl, index = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)], None, None
        frames = None
    else:
        frames = open_source(path, dataset)
        labels, cl, index = np.asarray(frames.labels), np.asarray(frames.clips), np.asarray(frames.indices)
    rows = np.arange(len(labels), dtype=np.int64)
    if clips:
        if cl is None:
            raise InputError(f"{path}: cannot select clips {clips}: the feature files have no .frames.csv sidecars")
        have = cl.astype(str)
        missing = [c for c in clips if c not in set(have)]
        if missing:
            raise InputError(f"{path}: clips {missing} not found; it has clips {', '.join(dict.fromkeys(have))}")
        rows = np.flatnonzero(np.isin(have, clips))
    sel = lambda a: None if a is None else a[rows]  # noqa: E731
    return Source(path, labels[rows], sel(cl), sel(index), rows, frames)


def load_features(src: Source, backbone: str, *, pretrained: bool = True, cache=None, fast: bool = False,
                  device: str = "cpu", progress: bool = False) -> tuple[FrameFeatures, dict[str, Any]]:
    """The features of ``src``'s selected frames, extracted (cached by content hash) or read
    from its feature files; plus what to record about where they came from."""
    if src.is_features:
        from ..protocol.features import load_frames

        normal, anomaly = feature_files(src.path, backbone)
        data = load_frames(normal, anomaly)
        if len(src.rows) != len(data.y):
            keep = np.zeros(len(data.y), bool)
            keep[src.rows] = True
            data = FrameFeatures(data.X[keep], data.y[keep], data.clips[keep], data.index[keep])
        return data, {"kind": "features", "files": [str(normal), str(anomaly)]}
    from ..extraction.cache import extract_cached

    ext = extract_cached(src.frames, backbone, pretrained=pretrained, rows=src.rows, cache=cache, fast=fast,
                         device=device, progress=progress)
    info = {"kind": "frames", "cache": str(ext.folder), "key": ext.key, "from_cache": ext.cached}
    return FrameFeatures(ext.X, ext.labels.astype(np.int64), ext.clips, ext.index), info
