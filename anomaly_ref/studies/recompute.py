"""An audit's figures again, from what it kept: no extraction, no training.

:func:`recompute` reads an audit's ``audit.json`` and ``scores.csv.gz`` (checked against the
sha256 the audit records) and the labels and clips of its source, and recomputes every
statistic (:mod:`.audit_stats`) and every train/test overlap share. The overlaps need the
splits: they are rebuilt from the recorded config (the same windows, partitions and
validation carves, all seeded) and checked fold by fold against the recorded sizes and test
clips before anything is replaced, so a rebuild that drifted from the audit is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from .. import provenance
from ..errors import InputError
from ..protocol.features import FrameFeatures
from ..protocol.runner import ProtocolConfig, build_windows, make_splits, rung_frames, window_roles
from ..protocol.splits import leaked_frame_share
from ..registry import get_protocol
from . import probes
from .audit import rung_data
from .audit_files import read_kept
from .audit_stats import StatsConfig, describe, probe_entries
from .inputs import open_input

SPLIT_FIELDS = ("seq_len", "shuffle_seed", "test_size", "n_runs", "model_seed", "val_size", "n_folds", "partition_seed")


def recompute(folder, *, source=None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The audit document of ``folder`` with every statistic recomputed from its score file
    and every overlap share from its rebuilt splits; ``source``: the audit's test source if
    not where ``audit.json`` says (only labels and clips are read); ``overrides``: fields of
    :class:`StatsConfig` to change (resamples, permutations, seed; the rest as recorded). The
    document records ``recomputed`` (when, by which code, from which files)."""
    doc, path, scores, table = read_kept(folder)
    audit = doc["audit"]
    recorded = doc["provenance"]["config"]
    src = source or recorded["source"]
    test = open_input(src, audit["dataset"], audit["backbone"]).skeleton()
    train_src = recorded.get("train_source")
    train = open_input(train_src, audit["dataset"], audit["backbone"]).skeleton() if train_src else None
    cfg = replace(StatsConfig(**audit["stats"]), **(overrides or {}))
    entries = [{k: v for k, v in e.items() if k != "stats"} for e in doc["results"]]
    for e in entries:
        overlaps_again(e, test, train)
    main = probes.ladder_rows(table)
    statistics = describe(entries, main, test, cfg)
    doc["results"] = [e | {"stats": statistics["entries"][f"{e['protocol']}/{e['head']}"]} for e in entries]
    audit.update(stats=statistics["config"], rungs=statistics["rungs"], comparisons=statistics["comparisons"],
                 comparable=statistics["comparable"])
    if audit.get("probes"):
        trained = audit["probes"]["trained"]
        for e in trained:
            overlaps_again(e, test, None)
        audit["probes"]["scored"] = probes.score_shortcuts(main)
        if all((table["rung"] == e["protocol"]).any() for e in trained):  # probe scores kept (later audits)
            audit["probes"]["trained"] = probe_entries(trained, table, test, cfg)
    audit["recomputed"] = provenance.collect(
        config={"from": str(scores), "stats": asdict(cfg), "source": str(src), "train_source": train_src,
                "overlaps": "rebuilt splits, checked against the recorded sizes and test clips"},
        seeds={"stats": cfg.seed}, inputs=[scores, path], device="cpu")
    return doc


def overlaps_again(entry: dict, test: FrameFeatures, train: FrameFeatures | None) -> None:
    """Rebuild ``entry``'s splits and set every fold's and run's ``test_frames_in_train`` and
    ``test_frames_in_val`` from them (source frames: a copy counts as its source). One-class
    entries (no splits) are left as they are."""
    name = entry["protocol"]
    if name.startswith(probes.PREFIX):
        spec = probes.spec(name.removeprefix(probes.PREFIX))
        data = probes.probe_data(test, name.removeprefix(probes.PREFIX))
    else:
        spec = get_protocol(name)
        if not spec.trains_heads:
            return
        data = rung_frames(spec, rung_data(spec, test, train))
    config = ProtocolConfig(**{k: entry["config"][k] for k in SPLIT_FIELDS})
    windows, clips = build_windows(spec, data, config)
    roles = window_roles(windows, data, spec) if spec.split == "clip-kfold" else None
    source = data.source_codes()
    for run in entry["runs"]:
        splits = make_splits(spec, windows, clips, run["run"], config, roles)
        folds = run["folds"] or [run]
        if len(splits) != len(folds):
            raise InputError(f"{name}/{entry['head']} run {run['run']}: {len(splits)} folds rebuilt, {len(folds)} recorded")
        for split, fold in zip(splits, folds):
            sizes = (len(split.train), len(split.val), len(split.test))
            if sizes != (fold["n_train"], fold["n_val"], fold["n_test"]) or (run["folds"] and sorted(
                    map(str, fold["test_clips"])) != sorted(map(str, set(clips[split.test].tolist())))):
                raise InputError(f"{name}/{entry['head']} run {run['run']} fold {split.fold}: the rebuilt split "
                                 f"({sizes}) is not the recorded one; the audit cannot be recomputed with this code")
            fold["test_frames_in_train"] = leaked_frame_share(windows, split.train, split.test, source)
            fold["test_frames_in_val"] = leaked_frame_share(windows, split.val, split.test, source)
        if run["folds"]:
            for key in ("test_frames_in_train", "test_frames_in_val"):
                run[key] = sum(f[key] for f in run["folds"]) / len(run["folds"])
