"""What the paper's ingredients can honestly do under the field's protocol (issue 23).

Every scorer is fit on the normal Train clips only and scores every test frame (PROTOCOL
§10); the figures are the pooled frame ROC-AUC (the field's) and the mean per-clip AUC,
each with a bootstrap interval over test clips (:mod:`anomaly_ref.protocol.stats`), raw and
temporally smoothed side by side, and, beside them, the pooled AUC with each test clip's
scores min-max scaled first (Liu et al.'s scaling; never a verdict), and every clip's own AUC. Scorers (in this order):

- ``motion``: per-location frame-difference energy kNN (:mod:`~anomaly_ref.protocol.motion`); no backbone;
- ``velocity``: per-location optical-flow histogram kNN (:mod:`~anomaly_ref.protocol.velocity`); no backbone;
- ``knn1``, ``mahalanobis``: the existing global scorers on one pooled vector per frame
  (:mod:`~anomaly_ref.protocol.oneclass`);
- ``patch``: the patch memory bank on intermediate feature maps (:mod:`~anomaly_ref.protocol.patchbank`);
- ``predictor-<head>``: next-feature predictors, one per head (:mod:`~anomaly_ref.protocol.predictor`),
  and ``predictor-copy-last``, their control (frame t predicted as frame t-1, no training);
- ``fused:patch+motion``, ``fused:patch+motion+predictor`` and ``fused:patch+velocity``: z-score
  sums (:mod:`~anomaly_ref.protocol.fusion`); the predictor fused is the head with the lowest
  held-out Train loss (a Train-only choice). ``fused:patch+velocity`` (appearance + velocity,
  as Reiss & Hoshen fuse them) was added, and declared the headline, after the first headline
  (``fused:patch+motion+predictor``) fell short; both stay in every document.

Reference scores (for fusion and reported beside each scorer) are leave-one-Train-clip-out
scores, except the predictors', which are their held-out Train clips' errors. Nothing here
reads a test label or score while fitting. :func:`study` returns one ``{"kind": "standard"}``
document; its ``scores`` keep every frame's raw score of every scorer (and the reference
scores), so any figure can be recomputed. Its ``comparisons`` read the differences the
text draws (each fusion against each of its parts; each predictor against its control and
against the global kNN) off paired clip-bootstrap intervals of the raw pooled AUC.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..frames.base import FrameSequence
from ..protocol import stats
from ..protocol.features import FrameFeatures
from ..protocol.fusion import fuse
from ..protocol.knnsearch import fit_locations, score_locations
from ..protocol.motion import MotionConfig, motion_features
from ..protocol.oneclass import OneClassConfig, fit_scorer, loco_scores, minmax_in_clips, smooth_in_clips
from ..protocol.patchbank import PatchBankConfig, fit_bank, score_patches
from ..protocol.predictor import PREDICTOR_HEADS, PredictorConfig, copy_last, fit_predictor, score_predictor
from ..protocol.velocity import VelocityConfig, velocity_features
from ..registry import get_backbone, get_dataset
from .measure import measured

log = logging.getLogger(__name__)

KIND = "standard"
FORMAT = 1
CONTROL = "predictor-copy-last"  # the predictors' control: frame t predicted as frame t-1
GLOBAL = ("knn", "mahalanobis")  # the existing scorers of protocol/oneclass.py
# Further differences the text reads: flow against frame differences (the one factor between
# them: how motion is measured), and the second declared headline against the first.
PAIRS = (("velocity", "motion"), ("fused:patch+velocity", "fused:patch+motion+predictor"))


@dataclass(frozen=True)
class StandardConfig:
    dataset: str
    backbone: str = "tf_efficientnet_lite0"  # the one backbone with real ImageNet weights offline
    pretrained: bool = True  # False: random weights (seeded), for tests and machines without weights
    smooth: float = 5.0  # Gaussian sigma in frames of the smoothed figures: fixed a priori, never tuned on test
    knn_k: int = 1  # the global kNN scorer's k (oneclass default)
    heads: tuple[str, ...] = PREDICTOR_HEADS  # next-feature predictors to train
    patch: PatchBankConfig = field(default_factory=PatchBankConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)  # the per-cell 1-/2-frame energies
    velocity: VelocityConfig = field(default_factory=VelocityConfig)  # per-cell optical-flow histograms
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    batch_size: int = 32  # frames per backbone forward pass
    n_resamples: int = 1000  # clip-bootstrap resamples of every interval
    level: float = 0.95  # interval level
    seed: int = 0  # bootstrap draws

    def __post_init__(self):
        get_dataset(self.dataset)
        get_backbone(self.backbone)
        if self.smooth < 0:
            raise InputError(f"smooth must be >= 0 frames, found {self.smooth}")
        bad = [h for h in self.heads if h not in PREDICTOR_HEADS]
        if bad:
            raise InputError(f"unknown predictor heads {bad}; valid: {', '.join(PREDICTOR_HEADS)}")
        if self.n_resamples < 1 or self.batch_size < 1:
            raise InputError(f"n_resamples and batch_size must be >= 1, found {self.n_resamples}, {self.batch_size}")


def grey_frames(frames: FrameSequence) -> np.ndarray:
    """(N, H, W) uint8 grey levels of every frame (the mean of R, G, B)."""
    images = getattr(frames, "images", None)
    if isinstance(images, np.ndarray) and images.ndim == 3:  # an .npz of grey frames: no copy per frame
        return images
    return np.stack([np.asarray(f.image, np.float32).mean(axis=2).round().astype(np.uint8) for f in frames])


def frame_table(frames: FrameSequence, X: np.ndarray | None = None) -> FrameFeatures:
    """Clip ids, frame indices and labels of ``frames`` as FrameFeatures (X: (N, D) or a dummy)."""
    n = len(frames)
    X = np.zeros((n, 1), np.float32) if X is None else X
    return FrameFeatures(X, np.asarray(frames.labels, np.int64), np.asarray(frames.clips), np.asarray(frames.indices))


def _check_inputs(test: FrameSequence, train: FrameSequence) -> None:
    if len(train) == 0 or len(test) == 0:
        raise InputError(f"the standard protocol needs Train and Test frames, found {len(train)} and {len(test)}")
    bad = int(np.sum(np.asarray(train.labels) != 0))
    if bad:
        raise InputError(f"the standard protocol fits on normal frames only; {bad} Train frames are labelled abnormal")
    if len(np.unique(np.asarray(train.clips).astype(str))) < 2:
        raise InputError("the standard protocol's leave-one-clip-out references need at least 2 Train clips")


def fit_and_score(test: FrameSequence, train: FrameSequence, config: StandardConfig, *,
                  model=None, progress=None) -> tuple[dict[str, dict], dict[str, dict]]:
    """Run every scorer. Returns ``(scorers, steps)``: per scorer its ``test`` scores (N_test,),
    ``reference`` scores, ``reference_rows`` (Train rows they belong to) and facts of its fit;
    per step (extraction, each scorer) its seconds and peak memory (:mod:`.measure`).

    model : the backbone (default: :func:`~anomaly_ref.extraction.backbones.create_backbone`)."""
    from ..extraction.featuremaps import extract_maps

    _check_inputs(test, train)
    tr, te = frame_table(train), frame_table(test)
    codes = tr.clip_codes()
    every = np.arange(len(train))
    out: dict[str, dict] = {}
    steps: dict[str, dict] = {}

    grey_tr, grey_te = grey_frames(train), grey_frames(test)
    for name, cfg, describe in (("motion", config.motion, motion_features),
                                ("velocity", config.velocity, velocity_features)):
        with measured(steps.setdefault(name, {})):
            bank = fit_locations(describe(grey_tr, tr.clips, tr.index, cfg))
            test_s, _ = score_locations(bank, describe(grey_te, te.clips, te.index, cfg), cfg.k, what=name)
            ref_s, _ = score_locations(bank, bank.transpose(1, 0, 2), cfg.k, bank_groups=codes, query_groups=codes,
                                       what=name)
        out[name] = {"family": name, "test": test_s, "reference": ref_s, "reference_rows": every,
                     "reference_kind": "leave-one-Train-clip-out", "locations": int(bank.shape[0])}
    del grey_tr, grey_te

    with measured(steps.setdefault("extraction", {})):
        if model is None:
            from ..extraction.backbones import create_backbone

            model = create_backbone(config.backbone, pretrained=config.pretrained)
        maps_tr = extract_maps(model, train, config.backbone, batch_size=config.batch_size, progress=progress)
        maps_te = extract_maps(model, test, config.backbone, batch_size=config.batch_size, progress=progress)
    steps["extraction"]["frames"] = len(train) + len(test)

    ocfg = OneClassConfig(knn_k=config.knn_k)
    ftr = FrameFeatures(maps_tr.pooled, tr.y, tr.clips, tr.index)
    for scorer in GLOBAL:
        name = f"knn{config.knn_k}" if scorer == "knn" else scorer
        with measured(steps.setdefault(name, {})):
            test_s = fit_scorer(scorer, maps_tr.pooled, ocfg)(maps_te.pooled)
            ref_s = loco_scores(scorer, ftr, ocfg)
        out[name] = {"family": "global", "test": test_s, "reference": ref_s, "reference_rows": every,
                     "reference_kind": "leave-one-Train-clip-out"}

    with measured(steps.setdefault("patch", {})):
        pbank = fit_bank(maps_tr.patches, tr.clips, config.patch)
        test_p, _ = score_patches(pbank, maps_te.patches, config.patch.k)
        ref_p, _ = score_patches(pbank, maps_tr.patches, config.patch.k, clips=codes)
    out["patch"] = {"family": "patch", "test": test_p, "reference": ref_p, "reference_rows": every,
                    "reference_kind": "leave-one-Train-clip-out (bank entries of the frame's own clip skipped)",
                    "bank_size": int(len(pbank.vectors)), "candidates": int(pbank.candidates),
                    "sampling": pbank.sampling, "layers": list(maps_tr.layers),
                    "patches_per_frame": int(np.prod(maps_tr.patches.shape[1:3])),
                    "channels": int(maps_tr.patches.shape[-1])}

    for head in config.heads:
        name = f"predictor-{head}"
        with measured(steps.setdefault(name, {})):
            pred = fit_predictor(maps_tr.pooled, tr.clips, tr.index, head, config.predictor)
            test_s = score_predictor(pred, maps_te.pooled, te.clips, te.index)
        rows = np.flatnonzero(np.isin(np.asarray(tr.clips).astype(str), pred.val_clips))
        out[name] = {"family": "predictor", "test": test_s, "reference": pred.val_scores, "reference_rows": rows,
                     "reference_kind": f"held-out Train clips {list(pred.val_clips)} (early stopping's)",
                     "best_epoch": pred.best_epoch, "epochs": pred.epochs, "val_loss": pred.val_loss}

    if config.heads:
        with measured(steps.setdefault(CONTROL, {})):
            test_s, ref_s, val_ids = copy_last(maps_tr.pooled, tr.clips, tr.index, maps_te.pooled, te.clips, te.index,
                                               config.predictor)
        rows = np.flatnonzero(np.isin(np.asarray(tr.clips).astype(str), val_ids))
        out[CONTROL] = {"family": "control", "test": test_s, "reference": ref_s, "reference_rows": rows,
                        "reference_kind": f"held-out Train clips {list(val_ids)} (the predictors')"}

    _fusions(out, steps, config)
    return out, steps


def _fusions(out: dict, steps: dict, config: StandardConfig) -> None:
    preds = [n for n in out if out[n]["family"] == "predictor"]
    best = min(preds, key=lambda n: out[n]["val_loss"]) if preds else None  # Train-only choice
    plans = {"fused:patch+motion": ["patch", "motion"]}
    if best:
        plans["fused:patch+motion+predictor"] = ["patch", "motion", best]
    plans["fused:patch+velocity"] = ["patch", "velocity"]
    for name, parts in plans.items():
        with measured(steps.setdefault(name, {})):
            test_s = fuse({p: (out[p]["reference"], out[p]["test"]) for p in parts})
        out[name] = {"family": "fusion", "test": test_s, "reference": None, "reference_rows": None,
                     "reference_kind": "parts standardised on their references", "parts": parts}


def smoothed(entry: dict, name: str, out: dict, tr: FrameFeatures, te: FrameFeatures, sigma: float) -> np.ndarray:
    """The test scores of ``name`` smoothed in time inside each clip; a fusion sums its parts'
    smoothed z-scores, standardised on their smoothed references (never on test frames)."""
    if entry["family"] != "fusion":
        return smooth_in_clips(np.asarray(entry["test"], np.float64), te, sigma)
    parts = {}
    for p in entry["parts"]:
        rows = out[p]["reference_rows"]
        parts[p] = (smooth_in_clips(np.asarray(out[p]["reference"], np.float64), tr.rows(rows), sigma),
                    smooth_in_clips(np.asarray(out[p]["test"], np.float64), te, sigma))
    return fuse(parts)


def figures(te: FrameFeatures, scores: np.ndarray, config: StandardConfig) -> dict[str, Any]:
    """Pooled frame AUC and mean per-clip AUC of ``scores`` (N,), each with its clip-bootstrap
    interval, and ``per_clip``: the AUC of every clip that holds both classes."""
    t = _table(te, scores)
    out = {}
    for key, name in (("pooled_auc", "raw_pooled_auc"), ("mean_clip_auc", "within_clip_auc")):
        iv = stats.bootstrap(t, name, n_resamples=config.n_resamples, level=config.level, rng=config.seed)
        out[key] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high, "n_undefined": iv.n_undefined}
    out["per_clip"] = stats.within_clip_aucs(t)
    out["clips_with_both_classes"] = int(sum(len(np.unique(te.y[np.asarray(te.clips).astype(str) == c])) == 2
                                             for c in np.unique(np.asarray(te.clips).astype(str))))
    return out


def variants(entry: dict, name: str, out: dict, tr: FrameFeatures, te: FrameFeatures,
             config: StandardConfig) -> dict[str, Any]:
    """A scorer's figures: ``raw`` (the field's), ``smoothed`` (σ = config.smooth; None at 0) and
    ``clip_normalised`` (raw scores min-max scaled inside each test clip, Liu et al.'s scaling:
    reported beside, never a verdict, since it reads each test clip's own score range)."""
    return {"raw": figures(te, entry["test"], config),
            "smoothed": figures(te, smoothed(entry, name, out, tr, te, config.smooth), config) if config.smooth
            else None,
            "clip_normalised": figures(te, minmax_in_clips(np.asarray(entry["test"], np.float64), te), config)}


def _table(te: FrameFeatures, scores: np.ndarray) -> stats.Scores:
    n = len(scores)
    return stats.Scores(run=np.zeros(n, int), fold=np.zeros(n, int), clip=np.asarray(te.clips).astype(str),
                        index=np.asarray(te.index), label=te.y, score=np.asarray(scores, np.float64))


def comparisons(out: dict, te: FrameFeatures, config: StandardConfig) -> list[dict[str, Any]]:
    """The differences the text reads, each ``a - b`` in raw pooled AUC with its paired interval
    (every resample draws the same test clips for both sides): each fusion against each of its
    parts, each predictor against the control and against the global kNN, and :data:`PAIRS`."""
    pairs = []
    for name, e in out.items():
        if e["family"] == "fusion":
            pairs += [(name, p) for p in e["parts"]]
        elif e["family"] == "predictor":
            pairs += [(name, b) for b in (CONTROL, f"knn{config.knn_k}") if b in out]
    pairs += [(a, b) for a, b in PAIRS if a in out and b in out]
    rows = []
    for a, b in pairs:
        d = stats.paired_difference(_table(te, out[a]["test"]), _table(te, out[b]["test"]), "raw_pooled_auc",
                                    n_resamples=config.n_resamples, level=config.level, rng=config.seed)
        reading = ("a higher" if d.low > 0 else "b higher" if d.high < 0 else
                   "not resolved: the interval holds 0")
        rows.append({"a": a, "b": b, **d.to_dict(), "reading": reading})
    return rows


def _rounded(a) -> list | None:
    return None if a is None else [float(f"{v:.7g}") for v in np.asarray(a, np.float64)]


def run_standard_study(test: FrameSequence, train: FrameSequence, config: StandardConfig, *,
                       model=None, progress=None) -> dict:
    """Every scorer on ``train`` -> ``test``, with figures: the document without provenance."""
    t0 = time.perf_counter()
    out, steps = fit_and_score(test, train, config, model=model, progress=progress)
    tr, te = frame_table(train), frame_table(test)
    rows = {}
    for name, entry in out.items():
        facts = {k: v for k, v in entry.items() if k not in ("test", "reference", "reference_rows")}
        rows[name] = {**facts, **variants(entry, name, out, tr, te, config), **steps[name]}
    doc = {
        "kind": KIND, "format": FORMAT, "dataset": config.dataset, "backbone": config.backbone,
        "config": asdict(config), "scorers": rows, "comparisons": comparisons(out, te, config),
        "extraction": steps["extraction"],
        "frames": {"test": len(test), "train": len(train), "test_clips": len(np.unique(te.clips.astype(str))),
                   "train_clips": len(np.unique(tr.clips.astype(str))), "abnormal": int(te.y.sum())},
        "scores": {
            "test": {"clip": np.asarray(te.clips).astype(str).tolist(), "index": np.asarray(te.index).tolist(),
                     "label": te.y.tolist(), **{n: _rounded(e["test"]) for n, e in out.items()}},
            "reference": {n: {"rows": None if e["reference_rows"] is None else np.asarray(e["reference_rows"]).tolist(),
                              "score": _rounded(e["reference"])} for n, e in out.items() if e["reference"] is not None},
            "train": {"clip": np.asarray(tr.clips).astype(str).tolist(), "index": np.asarray(tr.index).tolist()},
        },
    }
    doc["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return doc


def recompute(doc: dict) -> dict[str, dict]:
    """Every scorer's figures (:func:`variants`), and the paired comparisons, again from a document's
    kept scores alone: ``{name: {"raw": ..., "smoothed": ... or None, "clip_normalised": ...},
    "comparisons": [...]}``
    (the kept scores are rounded to 7 significant digits, so figures agree to about 1e-6)."""
    cfg = doc["config"]
    config = StandardConfig(dataset=doc["dataset"], backbone=doc["backbone"], smooth=cfg["smooth"],
                            knn_k=cfg["knn_k"], n_resamples=cfg["n_resamples"], level=cfg["level"], seed=cfg["seed"])
    kept = doc["scores"]
    te = FrameFeatures(np.zeros((len(kept["test"]["label"]), 1), np.float32), np.asarray(kept["test"]["label"]),
                       np.asarray(kept["test"]["clip"]), np.asarray(kept["test"]["index"]))
    n_tr = len(kept["train"]["clip"])
    tr = FrameFeatures(np.zeros((n_tr, 1), np.float32), np.zeros(n_tr, np.int64), np.asarray(kept["train"]["clip"]),
                       np.asarray(kept["train"]["index"]))
    out = {}
    for name, row in doc["scorers"].items():
        ref = kept["reference"].get(name)
        out[name] = {"family": row["family"], "parts": row.get("parts"), "test": np.asarray(kept["test"][name]),
                     "reference": None if ref is None else np.asarray(ref["score"]),
                     "reference_rows": None if ref is None else np.asarray(ref["rows"])}
    again = {name: variants(e, name, out, tr, te, config) for name, e in out.items()}
    again["comparisons"] = comparisons(out, te, config)
    return again


def study(test_source, train_source, config: StandardConfig, *, progress: bool = True) -> dict:
    """Open both frame sources, run :func:`run_standard_study`, attach provenance."""
    from pathlib import Path

    from tqdm import tqdm

    from .. import provenance
    from ..frames.sources import open_source

    test = open_source(test_source, config.dataset)
    train = open_source(train_source, config.dataset)
    inputs = [p for p in (test_source, train_source) if Path(p).is_file()]
    prov = provenance.collect(config={"test_source": str(test_source), "train_source": str(train_source),
                                      **asdict(config)},
                              seeds={"bootstrap": config.seed, "patch_bank": config.patch.seed,
                                     "predictor": config.predictor.seed}, inputs=inputs, device="cpu")
    with tqdm(total=len(train) + len(test), desc=f"feature maps {config.backbone}", unit="frame",
              disable=not progress) as bar:
        doc = run_standard_study(test, train, config, progress=bar.update)
    doc["provenance"] = prov
    return doc
