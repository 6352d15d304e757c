"""Run one protocol of the registry (``registry.PROTOCOLS``) with one head: windows, splits,
fits and scores per run.

Each protocol is data (:class:`~anomaly_ref.registry.Protocol`): how windows are built
(``shuffled`` as the paper, or ``temporal`` inside clips), how they are split (``random``
stratified 80/20 per run, or ``clip-kfold`` over whole clips) and what early stopping
watches (the ``test`` split as the paper does, or a ``val`` split carved from training).
``paper`` (PROTOCOL §4-§6) reproduces the notebooks, leakage included. The one-class
``standard`` rung has no heads and is run by :mod:`anomaly_ref.protocol.oneclass`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from ..registry import Protocol, get_protocol
from .features import FrameFeatures
from .heads import HeadConfig, create_head
from .metrics import binary_metrics
from .records import FoldResult, ProtocolResult, RunResult, frame_scores
from .sequences import SEQ_LEN, Windows, paper_sequences, temporal_windows
from .splits import (Split, carve_val, carve_val_clips, clip_partitions, leaked_frame_share, paper_split,
                     partition_folds)
from .batched import fit_many
from .train import History, TrainConfig, fit, predict_proba

log = logging.getLogger(__name__)

FOLD_SEED_STRIDE = 1000  # fold f of run r initialises with model_seed + r + 1000 * f


@dataclass(frozen=True)
class ProtocolConfig:
    seq_len: int = SEQ_LEN  # frames per window
    shuffle_seed: int = 42  # sklearn.utils.shuffle(random_state=42) before windowing (paper)
    test_size: float = 0.2  # train_test_split(test_size=0.2, stratify=y)
    n_runs: int = 5  # run r splits with random_state=r
    # Keras left weight init and dropout unseeded; we seed them with model_seed + r.
    model_seed: int = 0
    val_size: float = 0.2  # share of training windows (or clips) carved out for early stopping
    n_folds: int = 4  # folds of the clip-grouped k-fold (strict)
    partition_seed: int = 0  # seeds the one generator that draws every run's clip partition (strict)
    train: TrainConfig = field(default_factory=TrainConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def seeds(self, protocol: str | Protocol = "paper") -> dict[str, Any]:
        """Every seed a run of this config under ``protocol`` uses, for provenance."""
        spec = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
        runs = list(range(self.n_runs))
        out: dict[str, Any] = {"shuffle": self.shuffle_seed} if spec.windows == "shuffled" else {}
        out["split"] = runs  # train_test_split / StratifiedGroupKFold random_state of run r
        if spec.monitor == "val":
            out["val_split"] = runs  # random_state carving run r's validation split
        out["model"] = [self.model_seed + r for r in runs]
        if spec.split == "clip-kfold":
            out["split"] = self.partition_seed  # one generator draws run 0's partition, then run 1's, ...
            out["model_fold_stride"] = FOLD_SEED_STRIDE  # fold f of run r: model[r] + stride * f
        return out


def rung_frames(protocol: Protocol, data: FrameFeatures) -> FrameFeatures:
    """The rows a rung uses: every row, except that a clip-grouped rung without
    ``train_clips`` leaves out the frames of normal training clips, and one with it needs them."""
    if protocol.split != "clip-kfold":
        return data
    train = data.is_train()
    if protocol.train_clips and not train.any():
        raise InputError(f"protocol {protocol.name!r} trains on the normal training clips too, and these "
                         "features hold none (--train-source, or a construction that includes them)")
    return data if protocol.train_clips or not train.any() else data.rows(~train)


def build_windows(protocol: Protocol, data: FrameFeatures, config: ProtocolConfig) -> tuple[Windows, np.ndarray | None]:
    """The protocol's windows, and the clip id of each window (None for shuffled windows): a
    window of copies carries its source frames' clip, so clip-grouped splits keep it with them.
    ``Windows.rows`` maps every frame back to its row of ``data``."""
    if protocol.windows == "shuffled":
        order = data.paper_order()
        return paper_sequences(data.X[order], data.y[order], config.seq_len, random_state=config.shuffle_seed,
                               rows=order), None
    if protocol.windows == "temporal":
        order = data.temporal_order()
        codes = data.stream_codes()[order]  # windows inside each (clip, copy) stream
        windows = temporal_windows(data.X[order], data.y[order], codes, config.seq_len, rows=order)
        if len(windows) == 0:
            raise InputError(f"no clip has {config.seq_len} frames: no temporal window can be built")
        return windows, np.asarray(data.clips)[windows.label_rows]
    raise InputError(f"protocol {protocol.name!r} has no windows ({protocol.windows}): it trains no head")


def window_roles(windows: Windows, data: FrameFeatures, protocol: Protocol | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(testable, always_train)``, (n_windows,) bool each: a window may be tested when its
    last frame is an original frame of a test clip; windows of normal training clips train
    in every fold. (A temporal window lies in one (clip, copy) stream: its last frame speaks
    for all of it.) A protocol that ``tests == "all"`` tests every window of a held-out clip."""
    rows = windows.label_rows
    if protocol is not None and protocol.tests == "all":
        return np.ones(len(rows), bool), np.zeros(len(rows), bool)
    train = data.is_train()[rows]
    return ~data.is_copy()[rows] & ~train, train


def make_splits(protocol: Protocol, windows: Windows, clips: np.ndarray | None, run: int,
                config: ProtocolConfig, roles: tuple[np.ndarray, np.ndarray] | None = None) -> list[Split]:
    """The fits of run ``run``: one :class:`Split` per fold (one fold unless clip-kfold).

    roles : :func:`window_roles` (clip-kfold only): copies and training-clip frames only
    ever train, and folds test the original frames of the held-out test clips."""
    labels = windows.labels
    if protocol.split == "random":
        train, test = paper_split(windows, run, config.test_size)
        if protocol.monitor == "test":
            return [Split(0, train, test, test)]  # the paper: the test split is the monitor
        train, val = carve_val(train, labels, config.val_size, random_state=run)
        return [Split(0, train, val, test)]
    if protocol.split == "clip-kfold":
        if clips is None:
            raise InputError(f"protocol {protocol.name!r} needs clip ids per window")
        testable, always = roles if roles is not None else (None, None)
        partition = clip_partitions(labels, clips, config.n_folds, run + 1, testable=testable, always_train=always,
                                    random_state=config.partition_seed)[run]
        out = []
        for f, (train, test) in enumerate(partition_folds(clips, partition, testable=testable, always_train=always)):
            train, val = carve_val_clips(train, labels, clips, config.val_size, random_state=run)
            out.append(Split(f, train, val, test))
        return out
    raise InputError(f"protocol {protocol.name!r} ({protocol.split}) is not run with heads")


def run_protocol(
    protocol: str | Protocol,
    data: FrameFeatures,
    head: str,
    config: ProtocolConfig = ProtocolConfig(),
    *,
    device: str = "cpu",
    on_fit: Callable[[], None] | None = None,
) -> ProtocolResult:
    """Protocol ``protocol`` with head ``head`` on ``data``, ``config.n_runs`` runs.

    data : frame features (N, D) with labels, and clip ids where the protocol needs them.
    on_fit : called after every fit (progress bars).
    """
    spec = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    if spec.needs_clips and data.clips is None:
        raise InputError(
            f"protocol {spec.name!r} needs the clip of every frame, and these features have "
            "none (no .frames.csv sidecars)"
        )
    data = rung_frames(spec, data)
    windows, clips = build_windows(spec, data, config)
    roles = window_roles(windows, data, spec) if spec.split == "clip-kfold" else None
    jobs = [(r, split) for r in range(config.n_runs) for split in make_splits(spec, windows, clips, r, config, roles)]
    seeds = [config.model_seed + r + FOLD_SEED_STRIDE * split.fold for r, split in jobs]
    models = [create_head(head, windows.X.shape[1], seq_len=config.seq_len, config=config.head, random_state=seed)
              for seed in seeds]
    t0 = time.perf_counter()
    hists = train_models(models, windows, [s for _, s in jobs], seeds, config.train, device=device, on_fit=on_fit)
    share = (time.perf_counter() - t0) / len(jobs)  # batched fits share one wall time
    runs, tables = [], []
    source = data.source_codes()
    for r in range(config.n_runs):
        mine = [i for i, (run, _) in enumerate(jobs) if run == r]
        result, table = _score(windows, clips, [jobs[i][1] for i in mine], [models[i] for i in mine],
                               [hists[i] for i in mine], [seeds[i] for i in mine], r, config, device, share, source)
        runs.append(result)
        tables.append(table)
        log.info("%s %s run %d: %s (%d epochs)", spec.name, head, r, runs[-1].metrics, runs[-1].epochs)
    scores = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    return ProtocolResult(spec.name, head, asdict(config), runs, scores=frame_scores(scores, data))


def train_models(models: list, windows: Windows, splits: list[Split], seeds: list[int], config: TrainConfig,
                 *, device: str = "cpu", on_fit: Callable[[], None] | None = None) -> list[History]:
    """Fit model i on ``splits[i].train`` with early stopping on ``splits[i].val``, seeded by
    ``seeds[i]``: all at once (``config.trainer == "batched"``, the default) or one by one."""
    if config.trainer == "batched":
        return fit_many(models, windows, [s.train for s in splits], [s.val for s in splits],
                        config=config, seeds=seeds, device=device, on_fit=on_fit)
    hists = []
    for model, s, seed in zip(models, splits, seeds):
        hists.append(fit(model, windows.subset(s.train), windows.subset(s.val), config=config,
                         random_state=seed, device=device))
        if on_fit:
            on_fit()
    return hists


def _score(windows: Windows, clips: np.ndarray | None, splits: list[Split], models: list, hists: list[History],
           seeds: list[int], r: int, config: ProtocolConfig, device: str, share: float,
           source: np.ndarray) -> tuple[RunResult, dict[str, np.ndarray]]:
    """Score run ``r``'s fitted models on their test windows; k folds are pooled (the raw
    pooled metrics; per-fold ones are in ``folds``). Also the run's out-of-fold score table."""
    proba = np.full(len(windows), np.nan)
    scored = np.zeros(len(windows), bool)
    folds, table = [], []
    for s, model, hist, seed in zip(splits, models, hists, seeds):
        test = windows.subset(s.test)
        proba[s.test] = predict_proba(model, test, config.train.eval_batch_size, device)
        scored[s.test] = True
        train_classes = np.bincount(windows.labels[s.train], minlength=2).tolist()
        folds.append(FoldResult(
            fold=s.fold, model_seed=seed,
            test_clips=sorted(np.unique(clips[s.test]).tolist()) if clips is not None else [],
            n_train=len(s.train), n_val=len(s.val), n_test=len(s.test), epochs=hist.epochs,
            best_epoch=hist.best_epoch, stopped_epoch=hist.stopped_epoch, weights_epoch=hist.weights_epoch,
            test_frames_in_train=leaked_frame_share(windows, s.train, s.test, source),
            test_frames_in_val=leaked_frame_share(windows, s.val, s.test, source),
            test_classes=np.bincount(test.labels, minlength=2).tolist(),
            metrics=binary_metrics(test.labels, proba[s.test]),
            train_classes=train_classes,
        ))
        table.append({"run": np.full(len(s.test), r), "fold": np.full(len(s.test), s.fold),
                      "row": windows.label_rows[s.test], "label": windows.labels[s.test], "score": proba[s.test],
                      "train_share": np.full(len(s.test), train_classes[1] / max(1, sum(train_classes)))})
        if min(folds[-1].test_classes) == 0:
            log.warning("run %d fold %d tests one class only (%s): its ROC-AUC is undefined; the run's "
                        "pooled metrics are not affected", r, s.fold, folds[-1].test_classes)
    idx = np.flatnonzero(scored)
    one = folds[0] if len(folds) == 1 else None
    result = RunResult(
        run=r, split_seed=r, model_seed=config.model_seed + r, metrics=binary_metrics(windows.labels[idx], proba[idx]),
        n_train=sum(f.n_train for f in folds), n_test=len(idx), epochs=max(f.epochs for f in folds),
        best_epoch=one.best_epoch if one else None, stopped_epoch=one.stopped_epoch if one else None,
        weights_epoch=one.weights_epoch if one else None, seconds=round(share * len(folds), 3),
        monitor="test" if splits[0].monitor_is_test else "val",
        n_val=sum(f.n_val for f in folds),
        test_frames_in_train=float(np.mean([f.test_frames_in_train for f in folds])),
        test_frames_in_val=float(np.mean([f.test_frames_in_val for f in folds])),
        folds=folds if len(folds) > 1 else [],
    )
    return result, {k: np.concatenate([t[k] for t in table]) for k in table[0]}
