"""Grad-CAM++ on a frame source: maps for the chosen targets and formulas, scored on pixel masks.

Targets (``TARGETS``):

- ``paper``: the notebooks' model (PROTOCOL §8) — the backbone with an untrained 2-class
  head, explaining the class with the larger logit;
- ``anomaly-head``: a logistic normal-vs-abnormal head on the backbone's pooled features,
  cross-fitted by clip (:mod:`anomaly_ref.extraction.anomaly_head`), explaining the abnormal
  log-odds of frames from clips it was not fitted on.

Every requested formula comes from the same forward/backward pass. Baselines
(``BASELINES``: centre prior, motion) are scored on the same frames and masks. The document
:func:`run_gradcam` returns is described in :func:`run_gradcam`'s docstring; :func:`study`
runs it on a frame source from its path (frames, masks, rows, provenance), as
``anomaly-ref gradcam`` and the bench do. :mod:`anomaly_ref.results.gradcam_report` renders it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ExtractionError, InputError
from ..extraction import localisation
from ..extraction.gradcam import FORMULAS, GradCAMPlusPlusMaps, check_formula, classifier, target_layer, untrained_head
from ..frames.base import FrameSequence
from ..frames.masks import Masks
from ..registry import GRADCAM_TARGETS as TARGETS, MASKS_SUFFIX, get_backbone  # the CLI lists them without torch

log = logging.getLogger(__name__)

BASELINES = ("centre-prior", "motion")


@dataclass(frozen=True)
class GradcamConfig:
    backbone: str
    targets: tuple[str, ...] = ("paper",)  # of TARGETS
    formulas: tuple[str, ...] = ("paper",)  # of FORMULAS; all from one backward pass
    pretrained: bool = True  # False: random weights (seed below); also the fallback without weights
    layer: str | None = None  # target layer name inside the backbone; None = its last nn.Conv2d
    batch_size: int = 8  # frames per forward/backward pass
    device: str = "cpu"
    seed: int = 0  # the paper target's untrained head and random-weight backbones
    score: bool = True  # score maps against masks (needs masks)

    def __post_init__(self):
        get_backbone(self.backbone)
        for t in self.targets:
            if t not in TARGETS:
                raise InputError(f"unknown Grad-CAM++ target {t!r}; valid: {', '.join(TARGETS)}")
        for f in self.formulas:
            check_formula(f)
        if not self.targets or not self.formulas:
            raise InputError("at least one target and one formula are needed")


def method_name(target: str, formula: str) -> str:
    """Key of one map kind in the results: ``"<target>/<formula>"``."""
    return f"{target}/{formula}"


def select_rows(labels: Sequence[int], n: int | None = None) -> np.ndarray:
    """Rows of the abnormal frames; with ``n``, every ``s``-th of them (``s = max(1, A // n)``,
    ``A`` abnormal frames), the first ``n`` of those: a uniform subsample in source order."""
    rows = np.flatnonzero(np.asarray(labels) == 1)
    if not len(rows):
        raise InputError("the frame source has no abnormal frames (label 1) to map")
    if n is None:
        return rows
    if n < 1:
        raise InputError(f"--frames must be >= 1, found {n}")
    return rows[:: max(1, len(rows) // n)][:n]


def load_backbone(name: str, pretrained: bool, seed: int):
    """``(model, weights description)``; random weights (seeded) when the real ones cannot be had."""
    from ..extraction.backbones import create_backbone

    spec = get_backbone(name)
    if pretrained:
        try:
            return create_backbone(name, pretrained=True), f"pretrained ({spec.weights_package or spec.timm_id})"
        except ExtractionError as exc:
            log.warning("%s: %s", name, exc)
            note = f"random (seed {seed}): pretrained weights could not be loaded here"
            return create_backbone(name, pretrained=False, seed=seed), note
    return create_backbone(name, pretrained=False, seed=seed), f"random (seed {seed}): as asked"


def neighbour_row(frames: FrameSequence, row: int, lookup: dict) -> int:
    """The row of the previous frame of ``row``'s clip, else the next one (a clip's first frame)."""
    clip, index = frames.clips[row], frames.indices[row]
    for other in (index - 1, index + 1):
        if (clip, other) in lookup:
            return lookup[(clip, other)]
    raise InputError(f"clip {clip} frame {index} has no neighbouring frame for the motion baseline")


def _fit_anomaly_head(frames: FrameSequence, backbone: str, pretrained: bool, device: str, progress: bool):
    from ..extraction.anomaly_head import fit_heads, parity_folds
    from ..extraction.cache import extract_cached

    feats = extract_cached(frames, backbone, pretrained=pretrained, fast=True, device=device, progress=progress)
    folds = parity_folds(feats.clips)
    head, described = fit_heads(feats.X, feats.labels, feats.clips, folds)
    return head, folds, described


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def run_gradcam(frames: FrameSequence, rows: np.ndarray, config: GradcamConfig, *, masks: Masks | None = None,
                keep: Sequence[int] = (), progress: Callable[[int], Any] | None = None) -> tuple[dict, dict]:
    """Maps of ``frames[rows]`` for every target and formula; scores against ``masks``.

    Returns ``(doc, kept)``. ``kept`` holds the images, masks and maps
    (``{"rows", "labels", "images", "masks", "maps": {method: [(H, W)]}}``) of the rows in ``keep``,
    for overlays. ``doc``::

        {"kind": "gradcam",
         "config": {backbone, weights, target_layer, targets, formulas, batch_size, device, seed,
                    frames, abnormal_frames, rows_rule, centre_sigma, motion_sigma},
         "summary": {method: {"pointing_game", "pixel_auc", "topk_iou": mean over frames, "n": frames,
                              "kind": "gradcam" | "baseline", "target", "formula"}},
         "formula_difference": {target: {"mean_abs_diff", "spearman": means over frames, "n"}},
         "anomaly_head": {"folds": [Fold], "rule"} (only with that target),
         "throughput": {"maps_per_s", "map_seconds", "passes", "batch_size", "device"},
         "frames": [{"row", "clip", "index", "mask_area", "scores": {method: {score: value}},
                     "formula_difference": {target: {"mean_abs_diff", "spearman"}}}]}

    ``method`` is ``"<target>/<formula>"`` or a baseline name; ``summary`` and per-frame
    ``scores`` are empty when ``config.score`` is False. ``provenance`` is added by the caller.
    """
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from scipy.stats import spearmanr

    from ..extraction.anomaly_head import fold_of
    from ..extraction.fast import preprocess_batch

    keep = {int(r) for r in keep}
    if config.score and masks is None:
        raise InputError("scoring maps needs the pixel masks of the frames (--masks)")
    spec = get_backbone(config.backbone)
    device = torch.device(config.device)
    backbone, weights = load_backbone(spec.name, config.pretrained, config.seed)
    layer_name, layer = target_layer(backbone, config.layer)
    backbone = backbone.to(device)
    heads, head_doc, folds = {}, None, None
    if "paper" in config.targets:
        heads["paper"] = untrained_head(spec.feature_dim, 2, seed=config.seed)
    if "anomaly-head" in config.targets:
        head, folds, described = _fit_anomaly_head(frames, spec.name, not weights.startswith("random"),
                                                   config.device, progress is not None)
        heads["anomaly-head"] = head
        head_doc = {"rule": "clips split by parity (odd vs even clip number); each fold's head is fitted "
                            "on the other fold's clips and maps only its own", "folds": [asdict(f) for f in described]}
    models = {t: classifier(backbone, h.to(device)) for t, h in heads.items()}
    h, w = frames[int(rows[0])].image.shape[:2]
    centre = localisation.centre_prior((h, w))
    lookup = {(c, i): r for r, (c, i) in enumerate(zip(frames.clips, frames.indices))}
    per_frame, kept = [], {"rows": [], "labels": [], "images": [], "masks": [], "maps": {}}
    map_seconds, passes = 0.0, 0
    for start in range(0, len(rows), config.batch_size):
        batch = [int(r) for r in rows[start:start + config.batch_size]]
        images = np.stack([frames[r].image for r in batch])  # (B, H, W, 3) uint8
        x = preprocess_batch(torch.from_numpy(images).to(device), spec, channels_last=False)
        maps = {}
        for target, model in models.items():
            targets = None if target == "paper" else [
                ClassifierOutputTarget(fold_of(frames.clips[r], folds)) for r in batch]
            cam = GradCAMPlusPlusMaps(model, layer, size=(h, w))
            t0 = time.perf_counter()
            try:
                out = cam.maps(x, targets, config.formulas)
            finally:
                cam.close()
            map_seconds += time.perf_counter() - t0
            passes += len(batch)
            for formula, m in out.items():
                maps[method_name(target, formula)] = m
        for b, r in enumerate(batch):
            entry = {"row": r, "clip": frames.clips[r], "index": frames.indices[r], "scores": {},
                     "formula_difference": {}}
            if len(config.formulas) == 2:
                for target in models:
                    a, c = (maps[method_name(target, f)][b] for f in FORMULAS)
                    rho = spearmanr(a.ravel(), c.ravel()).statistic
                    entry["formula_difference"][target] = {"mean_abs_diff": float(np.abs(a - c).mean()),
                                                           "spearman": float(rho)}
            frame_maps = {k: v[b] for k, v in maps.items()}
            if config.score or r in keep:
                nb = neighbour_row(frames, r, lookup)
                frame_maps["centre-prior"] = centre
                frame_maps["motion"] = localisation.motion_map(images[b], frames[nb].image)
            if config.score:
                mask = masks[r]
                entry["mask_area"] = int(mask.sum())
                entry["scores"] = {k: localisation.scores(v, mask) for k, v in frame_maps.items()}
            if r in keep:
                kept["rows"].append(r)
                kept["labels"].append(f"clip{frames.clips[r]}_frame{frames.indices[r]:03d}")
                kept["images"].append(images[b])
                kept["masks"].append(masks[r] if masks is not None else None)
                for k, v in frame_maps.items():
                    kept["maps"].setdefault(k, []).append(v)
            per_frame.append(entry)
        if progress is not None:
            progress(len(batch))
    doc = {
        "kind": "gradcam",
        "config": {
            "backbone": spec.name, "weights": weights, "target_layer": layer_name,
            "targets": list(models), "formulas": list(config.formulas), "batch_size": config.batch_size,
            "device": config.device, "seed": config.seed, "frames": len(rows),
            "abnormal_frames": int(np.sum(np.asarray(frames.labels) == 1)),
            "rows_rule": "abnormal frames in source order, every s-th (s = abnormal // frames), first `frames`",
            "centre_sigma": localisation.CENTRE_SIGMA, "motion_sigma": localisation.MOTION_SIGMA,
            "motion_rule": "|frame - previous frame of the clip| (next frame for a clip's first), "
                           "Gaussian-smoothed, min-max normalised",
        },
        "summary": _summary(per_frame, models, config.formulas) if config.score else {},
        "formula_difference": _differences(per_frame, models) if len(config.formulas) == 2 else {},
        "throughput": {"maps_per_s": passes / map_seconds if map_seconds > 0 else None,
                       "map_seconds": round(map_seconds, 3), "passes": passes,
                       "batch_size": config.batch_size, "device": config.device,
                       "counts": "one pass = one frame and one target, all formulas from it"},
        "frames": per_frame,
    }
    if head_doc is not None:
        doc["anomaly_head"] = head_doc
    return doc, kept


def _summary(per_frame: list[dict], models: dict, formulas: Sequence[str]) -> dict:
    methods = [(method_name(t, f), "gradcam", t, f) for t in models for f in formulas]
    methods += [(b, "baseline", None, None) for b in BASELINES]
    out = {}
    for name, kind, target, formula in methods:
        out[name] = {s: _mean([e["scores"][name][s] for e in per_frame]) for s in localisation.SCORES}
        out[name].update(n=len(per_frame), kind=kind, target=target, formula=formula)
    return out


def _differences(per_frame: list[dict], models: dict) -> dict:
    return {t: {k: _mean([e["formula_difference"][t][k] for e in per_frame]) for k in ("mean_abs_diff", "spearman")}
            | {"n": len(per_frame)} for t in models}


# ---------------------------------------------------------------- one entry point


def default_masks(source: str | os.PathLike) -> Path | None:
    """The pixel masks beside an ``.npz`` frame source (``<stem>_masks.npz``), if they exist."""
    path = Path(source)
    candidate = path.with_name(path.stem + MASKS_SUFFIX)
    return candidate if path.suffix == ".npz" and candidate.is_file() else None


def study(source: str | os.PathLike, dataset: str, config: GradcamConfig, *, masks: str | os.PathLike | None = None,
          n_frames: int | None = 16, sheet: int = 6, progress: bool = True) -> tuple[dict, dict]:
    """Grad-CAM++ of ``source``'s abnormal frames: ``(document with provenance, kept frames)``.

    masks : pixel masks (default: :func:`default_masks`); needed when ``config.score``.
    n_frames : a uniform subsample of the abnormal frames (:func:`select_rows`); None: all.
    sheet : frames kept for the contact sheet and overlays, evenly spaced over the mapped ones.
    """
    from tqdm import tqdm

    from .. import provenance
    from ..frames.masks import has_ucsd_masks, open_masks, open_ucsd_masks
    from ..frames.sources import open_source

    start = time.perf_counter()
    frames = open_source(source, dataset)
    masks_path = masks or default_masks(source)
    if masks_path is None and config.score and has_ucsd_masks(source):  # the official TestNNN_gt/ masks
        masks_path = Path(source)
        opened = open_ucsd_masks(source, frames)
    else:
        if config.score and masks_path is None:
            raise InputError(f"--score needs pixel masks: pass --masks (no {MASKS_SUFFIX} file beside {source}, "
                             "and it is no UCSD Test/ folder with TestNNN_gt/ masks)")
        opened = open_masks(masks_path, frames) if masks_path else None
    rows = select_rows(frames.labels, n_frames)
    keep = rows[np.unique(np.linspace(0, len(rows) - 1, min(sheet, len(rows))).round().astype(int))] if sheet else []
    inputs = [p for p in (source, masks_path) if p and Path(p).is_file()]
    # Collected before the run: the git state is the code that runs, not the code at the end.
    prov = provenance.collect(config={"source": str(source), "masks": str(masks_path), **asdict(config)},
                              seeds={"head": config.seed, "random_weights": config.seed}, inputs=inputs,
                              device=config.device)
    with tqdm(total=len(rows), desc=f"Grad-CAM++ {config.backbone}", unit="frame", disable=not progress) as bar:
        doc, kept = run_gradcam(frames, rows, config, masks=opened, keep=keep, progress=bar.update)
    doc["provenance"] = prov
    doc["wall_seconds"] = round(time.perf_counter() - start, 1)
    return doc, kept
