"""Shortcut probes of a constructed source: can the heads tell a copy, or a Train-clip frame,
from the rest? (issue 21, item 7)

The paper's UCSD construction (PROTOCOL §1) makes every flip / rotation copy abnormal and
takes most normal rows from the Train clips, which hold no anomaly. "Is this a copy?" and
"is this a Train-clip frame?" then predict the label without any anomaly being recognised.
Two probes measure how much:

- :func:`score_shortcuts` (probe a, no training): among the items a rung scores, the ROC-AUC
  of the heads' scores for copy vs original among abnormal items, and for Train-clip vs
  test-clip frame among normal items. 0.5: the score does not separate them.
- :func:`train_probes` (probe b): the same heads, trained on clip-grouped folds (each run its
  own partition, as ``strict``) to predict "is a copy" among abnormal frames and "is a
  Train-clip frame" among normal frames, scored on held-out clips: what the shortcut offers
  a head that looks for it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from ..protocol import stats
from ..protocol.features import FrameFeatures
from ..protocol.records import ProtocolResult
from ..registry import Protocol

PROBE = Protocol(
    "probe",
    "Temporal windows inside each (clip, copy) stream; each run its own partition of the clips into "
    "k folds; early stopping on held-out training clips; every window of a held-out clip tested.",
    windows="temporal", split="clip-kfold", monitor="val", tests="all",
)
TARGETS = {
    "is-copy": "among abnormal frames: a flip / rotation copy (1) or an original frame (0)",
    "is-train-clip": "among normal frames: a frame of a Train clip (1) or of a test clip (0)",
}


def probe_data(data: FrameFeatures, target: str) -> FrameFeatures | None:
    """The rows and labels of probe ``target`` (:data:`TARGETS`), or None where ``data`` has
    no such contrast (no copies, no Train-clip frames)."""
    copy, train = data.is_copy(), data.is_train()
    if target == "is-copy":
        keep, y = data.y == 1, copy
    elif target == "is-train-clip":
        keep, y = data.y == 0, train
    else:
        raise KeyError(target)
    if not (y[keep].any() and (~y[keep]).any()):
        return None
    # origin None: the probe's own labels say which frames are Train frames; nothing is held back.
    return replace(data.rows(keep), y=y[keep].astype(np.int64), origin=None)


PREFIX = "probe:"  # a probe's rung name in result entries and the score table: PREFIX + target


def spec(target: str) -> Protocol:
    return replace(PROBE, name=f"{PREFIX}{target}", description=f"{PROBE.description} Label: {TARGETS[target]}.")


def ladder_rows(table):
    """The score table's rows of the ladder's rungs, without the probes' rows."""
    return table[~table["rung"].str.startswith(PREFIX)]


def plan(data: FrameFeatures, config) -> tuple[list[str], list[dict[str, str]]]:
    """``(targets that can be probed, [{"probe", "reason"}] that cannot)`` on ``data`` (its
    labels and clips suffice: every run's splits are built now, before any training)."""
    from ..errors import InputError
    from ..protocol.runner import build_windows, make_splits, window_roles

    ok, skipped = [], []
    for target in TARGETS:
        probe = probe_data(data, target)
        if probe is None:
            continue
        try:
            windows, clips = build_windows(PROBE, probe, config)
            roles = window_roles(windows, probe, PROBE)
            for r in range(config.n_runs):
                make_splits(PROBE, windows, clips, r, config, roles)
        except InputError as exc:
            skipped.append({"probe": target, "reason": str(exc)})
            continue
        ok.append(target)
    return ok, skipped


def train_probes(data: FrameFeatures, targets: Sequence[str], heads: Sequence[str], config, *, device: str = "cpu",
                 on_fit: Callable[[], None] | None = None) -> list[ProtocolResult]:
    """Probe (b): every head trained on every target of ``targets`` (:func:`plan`)."""
    from ..protocol.runner import run_protocol

    return [run_protocol(spec(target), probe_data(data, target), head, config, device=device, on_fit=on_fit)
            for target in targets for head in heads]


def score_shortcuts(table) -> list[dict[str, Any]]:
    """Probe (a), per rung × head whose scored items hold copies or Train-clip frames: the
    ROC-AUC of the scores for copy vs original among abnormal items and for Train-clip vs
    test-clip frame among normal items (pooled over runs and folds; with the per-run mean)."""
    out = []
    for (rung, head), part in table.groupby(["rung", "head"], sort=False):
        row: dict[str, Any] = {"rung": rung, "head": head}
        for name, mask, positive in (("copy_vs_original", part["label"] == 1, part["copy"] != "original"),
                                     ("train_vs_test_clip", part["label"] == 0, part["origin"] == "train")):
            sub, pos = part[mask], positive[mask]
            if pos.all() or not pos.any():
                continue
            runs = [stats.auc(pos[sub["run"] == r].to_numpy().astype(int), sub.loc[sub["run"] == r, "score"].to_numpy())
                    for r in sorted(sub["run"].unique())]
            row[name] = {"auc": stats.auc(pos.to_numpy().astype(int), sub["score"].to_numpy()),
                         "per_run_mean": float(np.nanmean(runs)), "n_positive": int(pos.sum()),
                         "n_negative": int((~pos).sum())}
        if len(row) > 2:
            out.append(row)
    return out
