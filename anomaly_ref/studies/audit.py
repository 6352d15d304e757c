"""The leakage audit: every rung of the protocol ladder on the same frames, heads and seeds.

Most rungs of ``registry.PROTOCOLS`` remove one source of leakage from the rung before
(PROTOCOL §9), but a step may change more than one factor (split, training data, AUC
method, validation): ``results.audit_steps`` names them all, and a drop is read as their
joint effect. Supervised rungs train
the heads (:func:`anomaly_ref.protocol.runner.run_protocol`); the ``standard`` rung fits
one-class scorers on the normal training clips (:mod:`anomaly_ref.protocol.oneclass`).

In: test frames (and normal training frames for ``standard``) as
:class:`~anomaly_ref.protocol.features.FrameFeatures`. Out: a list of result entries, each
shaped as an entry of ``reproduce --out`` (protocol, head, config, runs, summary).
:func:`prepare` checks an audit end to end before any work and :func:`execute` runs it,
returning the audit document; :mod:`anomaly_ref.results.audit_report` renders and writes it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..errors import InputError
from .. import provenance
from ..protocol.features import FrameFeatures, join_training
from ..protocol.oneclass import OneClassConfig, run_standard, scorer_name
from ..protocol.records import ProtocolResult
from ..protocol.runner import ProtocolConfig, build_windows, make_splits, run_protocol, rung_frames, window_roles
from ..registry import PROTOCOLS, SCORERS, get_dataset, get_head, get_protocol, get_scorer, paper_heads
from . import probes
from .audit_files import AUDIT_FORMAT
from .audit_stats import StatsConfig, describe, probe_entries, score_table
from .inputs import Source, load_features, open_input

DEFAULT_HEADS = (*paper_heads(), "Dense", "last-frame")  # the paper's four, the baseline, the control


@dataclass(frozen=True)
class AuditConfig:
    protocols: tuple[str, ...] = tuple(PROTOCOLS)  # rungs, run in ladder order
    heads: tuple[str, ...] = DEFAULT_HEADS
    scorers: tuple[str, ...] = tuple(SCORERS)  # one-class scorers of the standard rung
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    oneclass: OneClassConfig = field(default_factory=OneClassConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)  # intervals and chance bands
    probes: bool = True  # on a constructed source (copies, Train frames): train the shortcut probes too

    def __post_init__(self):
        for kind, names, get in (("protocol", self.protocols, get_protocol), ("head", self.heads, get_head),
                                 ("scorer", self.scorers, get_scorer)):
            for name in names:
                get(name)  # unknown names raise, listing the valid ones
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise InputError(f"{kind} {', '.join(map(repr, repeated))} given more than once")
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
    if spec.train_clips and not inputs.clips:
        return "it needs the clip of every test frame (.frames.csv sidecars)"
    if spec.needs_train_frames and not inputs.train_clips:
        return "it needs the clip of every training frame (.frames.csv sidecars)"
    return None


def rung_data(spec, test: FrameFeatures, train: FrameFeatures | None) -> FrameFeatures:
    """The frames a supervised rung trains and tests on: the test source as given (a
    construction with its copies and Train frames, as the notebooks had it), and for a rung
    that trains on the normal training clips too, the training source joined to it."""
    return join_training(test, train) if spec.train_clips else test


def standard_data(test: FrameFeatures, train: FrameFeatures | None) -> tuple[FrameFeatures, FrameFeatures]:
    """``(test frames, normal training frames)`` of the standard rung: the original frames of
    the test clips, and the training source or, in a construction, its Train frames."""
    keep = ~test.is_copy() & ~test.is_train()
    return test.rows(keep), train if train is not None else test.rows(test.is_train())


def check_splits(rungs: list[str], test: FrameFeatures, config: AuditConfig, train: FrameFeatures | None = None) -> None:
    """Build every run's splits of every supervised rung now (cheap), so an impossible split
    (a class in fewer clips than folds, a training fold of one clip) fails before training."""
    for name in rungs:
        spec = get_protocol(name)
        if not spec.trains_heads:
            continue
        data = rung_frames(spec, rung_data(spec, test, train))
        windows, clips = build_windows(spec, data, config.protocol)
        roles = window_roles(windows, data, spec) if spec.split == "clip-kfold" else None
        for r in range(config.protocol.n_runs):
            make_splits(spec, windows, clips, r, config.protocol, roles)


def n_fits(rungs: list[str], config: AuditConfig) -> int:
    """Model fits the supervised rungs will make (for progress bars)."""
    per_run = {n: config.protocol.n_folds if get_protocol(n).split == "clip-kfold" else 1
               for n in rungs if get_protocol(n).trains_heads}
    return sum(per_run.values()) * len(config.heads) * config.protocol.n_runs


def run_audit(
    test: FrameFeatures,
    train: FrameFeatures | None,
    config: AuditConfig,
    rungs: list[str],
    *,
    device: str = "cpu",
    on_fit: Callable[[], None] | None = None,
) -> list[ProtocolResult]:
    """Every rung of ``rungs`` × head (× scorer for ``standard``), in ladder order; each
    result carries its out-of-fold score table (``ProtocolResult.scores``)."""
    results = []
    for name in rungs:
        spec = get_protocol(name)
        if not spec.trains_heads:
            frames, normal = standard_data(test, train)
            for scorer in config.scorers:
                results.append(run_standard(frames, normal, scorer, config.oneclass))
            continue
        data = rung_data(spec, test, train)
        for head in config.heads:
            results.append(run_protocol(spec, data, head, config.protocol, device=device, on_fit=on_fit))
    return results


# ---------------------------------------------------------------- one entry point


@dataclass(frozen=True)
class Plan:
    """An audit checked end to end before any extraction or training (:func:`prepare`)."""

    config: AuditConfig
    dataset: str
    backbone: str
    pretrained: bool
    test: Source
    train: Source | None  # opened only when the standard rung runs
    rungs: list[str]  # in ladder order
    skipped: list[dict[str, str]]  # {"protocol", "reason"} of default rungs the inputs cannot support
    probes: list[str] = field(default_factory=list)  # shortcut probes to train (a constructed source)
    probes_skipped: list[dict[str, str]] = field(default_factory=list)  # {"probe", "reason"}


def prepare(source, dataset: str, backbone: str, config: AuditConfig = AuditConfig(), *, train_source=None,
            clips: list[str] | None = None, train_clips: list[str] | None = None, pretrained: bool = True,
            explicit: bool = False) -> Plan:
    """Open the inputs (metadata only), choose the rungs, and build every split.

    explicit : the rungs were asked for by name, so one that cannot run is an error
    (InputError naming the rungs that can) instead of being skipped with its reason.
    """
    spec = get_dataset(dataset)
    if train_clips and train_source is None:
        raise InputError("--train-clips selects training clips, but no --train-source was given")
    test = open_input(source, spec.key, backbone, clips)
    train = open_input(train_source, spec.key, backbone, train_clips) if train_source is not None else None
    hint = f"for {spec.title}: $ANOMALY_REF_SHARED/data/{spec.train_frames_file}" if spec.train_frames_file else ""
    if train is not None and test.has_train_rows:
        raise InputError(f"{test.path} already holds the normal training clips (a construction with Train frames): "
                         "drop --train-source")
    inputs = Inputs(clips=test.clips is not None, train=train is not None or test.has_train_rows,
                    train_clips=train is None or train.clips is not None, train_hint=hint)
    rungs, skipped = plan(config, inputs, explicit=explicit)
    needs_train = any(get_protocol(n).needs_train_frames for n in rungs)
    if train is not None and needs_train and (train.labels != 0).any():
        raise InputError(f"training frames {train.path}: {int((train.labels != 0).sum())} are labelled abnormal; "
                         "the standard and strict rungs train on them as normal frames only")
    skeleton = test.skeleton()
    check_splits(rungs, skeleton, config, train.skeleton() if train is not None and needs_train else None)
    targets, probes_skipped = probes.plan(skeleton, config.protocol) if config.probes else ([], [])
    return Plan(config, spec.key, backbone, pretrained, test, train if needs_train else None, rungs, skipped,
                targets, probes_skipped)


def execute(p: Plan, *, cache=None, fast: bool = False, device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """Extract (or read) the features, run every rung, and return the audit document:
    ``{"kind": "audit", "audit": {...}, "results": [...], "provenance": {...}}`` (see
    :mod:`anomaly_ref.results.audit_report`; ``kind`` names the file for ``anomaly-ref report``)."""
    t0 = time.perf_counter()
    # Provenance is taken before the work: the code and inputs as they were when it began.
    prov = provenance.collect(
        config={"audit": asdict(p.config), "dataset": p.dataset, "backbone": p.backbone, "pretrained": p.pretrained,
                "source": str(p.test.path), "train_source": str(p.train.path) if p.train else None,
                "fast": fast, "rungs": p.rungs},
        seeds={n: p.config.protocol.seeds(n) for n in p.rungs if get_protocol(n).trains_heads},
        inputs=[f for s in (p.test, p.train) if s is not None for f in s.files(p.backbone)],
        device=device,
    )
    opts = dict(pretrained=p.pretrained, cache=cache, fast=fast, device=device, progress=progress)
    test, test_info = load_features(p.test, p.backbone, **opts)
    train, train_info = load_features(p.train, p.backbone, **opts) if p.train is not None else (None, None)
    bar = None
    if progress:
        from tqdm import tqdm

        extra = len(p.probes) * len(p.config.heads) * p.config.protocol.n_runs * p.config.protocol.n_folds
        bar = tqdm(total=n_fits(p.rungs, p.config) + extra, desc="fits", unit="fit")
    on_fit = bar.update if bar else None
    try:
        results = run_audit(test, train, p.config, p.rungs, device=device, on_fit=on_fit)
        trained = probes.train_probes(test, p.probes, p.config.heads, p.config.protocol, device=device, on_fit=on_fit)
    finally:
        if bar:
            bar.close()
    table = score_table(results + trained)  # the probes' scores are kept too
    t1 = time.perf_counter()
    main = probes.ladder_rows(table)
    statistics = describe([r.to_dict() for r in results], main, test, p.config.stats)
    shortcut = {"scored": probes.score_shortcuts(main),
                "trained": probe_entries([r.to_dict() for r in trained], table, test, p.config.stats),
                "targets": probes.TARGETS, "skipped": p.probes_skipped} if _construction(test) else None
    entries = [r.to_dict() | {"stats": statistics["entries"][f"{r.protocol}/{r.head}"]} for r in results]
    n_train = int(len(train.y)) if train is not None else int(test.is_train().sum())
    audit = {
        "format": AUDIT_FORMAT, "dataset": p.dataset, "backbone": p.backbone, "pretrained": p.pretrained,
        "protocols": p.rungs, "heads": list(p.config.heads),
        "scorers": [scorer_name(s, p.config.oneclass) for s in p.config.scorers] if "standard" in p.rungs else [],
        "skipped": p.skipped, "n_frames": int(len(test.y)), "n_train_frames": n_train,
        "construction": _construction(test), "partitions": partitions(entries),
        "stats": statistics["config"], "rungs": statistics["rungs"], "comparisons": statistics["comparisons"],
        "comparable": statistics["comparable"], "probes": shortcut,
        "features": test_info, "train_features": train_info, "stats_seconds": round(time.perf_counter() - t1, 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    return {"kind": "audit", "audit": audit, "results": entries, "provenance": prov, "scores": table}


def _construction(test: FrameFeatures) -> dict[str, int] | None:
    """Rows of a constructed source by kind (copies, training-clip frames), or None for plain frames."""
    if test.copies is None and test.origin is None:
        return None
    copy, train = test.is_copy(), test.is_train()
    return {"rows": int(len(test.y)), "copies": int(copy.sum()), "train_clip_frames": int(train.sum()),
            "test_clip_originals": int((~copy & ~train).sum())}


def partitions(entries: list[dict]) -> dict[str, list[list[list]]]:
    """``{rung: [run][fold] -> test clips}`` of every clip-grouped rung (the same for each head)."""
    out = {}
    for e in entries:
        folds = [[f["test_clips"] for f in run["folds"]] for run in e["runs"]]
        if any(folds) and e["protocol"] not in out:
            out[e["protocol"]] = folds
    return out


def run(source, dataset: str, backbone: str, config: AuditConfig = AuditConfig(), *, train_source=None,
        clips: list[str] | None = None, train_clips: list[str] | None = None, pretrained: bool = True,
        explicit: bool = False, cache=None, fast: bool = False, device: str = "cpu", progress: bool = False,
        on_plan: Callable[[Plan], Any] | None = None) -> dict[str, Any]:
    """The audit of ``source`` in one call: :func:`prepare` (every check, before any work),
    ``on_plan(plan)`` (e.g. say which rungs are skipped and why), then :func:`execute`."""
    p = prepare(source, dataset, backbone, config, train_source=train_source, clips=clips, train_clips=train_clips,
                pretrained=pretrained, explicit=explicit)
    if on_plan is not None:
        on_plan(p)
    return execute(p, cache=cache, fast=fast, device=device, progress=progress)
