"""``anomaly-ref audit``: the protocol ladder, from the paper's protocol to the field's standard one."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..registry import BACKBONES, DATASETS, HEADS, PROTOCOLS, SCORERS
    from ._checks import add_backbone_option, add_trainer_options
    from ._frames import SOURCE_HELP, add_frames_options

    p = sub.add_parser(
        "audit",
        help="leakage audit: every rung of the protocol ladder on the same frames and heads",
        description=(
            "Extract features once (cached by content hash), then run each rung of the protocol "
            f"ladder ({', '.join(PROTOCOLS)}) with each head, and write audit.json, audit.md and "
            "audit.png to --out. Most rungs remove one source of leakage of the paper's protocol "
            "(PROTOCOL §9); audit.md names every factor each step changes (split, training data, "
            "AUC method, validation), so a drop is read as the effect of all of them. 'standard' "
            "fits one-class scorers on normal training frames (--train-source) and scores every "
            "test frame. Rungs not asked for explicitly are skipped, with the reason, when the "
            "inputs cannot support them."
        ),
        epilog=(
            "examples: anomaly-ref audit --source $ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_test.npz "
            "--train-source $ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_train.npz --dataset ped2 "
            "--backbone tf_efficientnet_lite0 --out audit-ped2; "
            "anomaly-ref audit --dataset ped1 --backbone tf_efficientnet_lite0 --out audit-ped1 "
            "(the official frames, fetched on first use)"
        ),
    )
    p.add_argument("--source",
                   help="test frames (an .npz of $ANOMALY_REF_SHARED/data, a UCSD Test/ folder, an Avenue root, "
                        "normal/ + abnormal/ folders) or a folder of extracted feature files with .frames.csv "
                        "sidecars; " + SOURCE_HELP)
    p.add_argument("--train-source", help="normal training frames (or their feature folder) for the standard and "
                                          "strict rungs (default: with --source, none; without, the official "
                                          "archive's training clips)")
    p.add_argument("--dataset", required=True, choices=list(DATASETS),
                   help="dataset the frames belong to (its label layout, clips and published anchors)")
    add_backbone_option(p, BACKBONES, "backbone that extracts the features", required=True)
    p.add_argument("--protocol", action="append", metavar="NAMES",
                   help=f"rungs, comma-separated or repeated (default: all of {', '.join(PROTOCOLS)})")
    p.add_argument("--head", action="append", metavar="NAME",
                   help=f"head, repeatable, or 'all' for the paper's four (choices: {', '.join(HEADS)}; "
                        "default: the paper's four, Dense and last-frame)")
    p.add_argument("--scorer", action="append", metavar="NAME",
                   help=f"one-class scorer of the standard rung, repeatable (choices: {', '.join(SCORERS)}; default: all)")
    p.add_argument("--runs", type=int, default=5, help="runs per rung and head (default 5)")
    p.add_argument("--max-epochs", type=int, default=50, help="epoch cap (default 50, as the paper)")
    p.add_argument("--folds", type=int, default=4, help="strict: clip-grouped folds (default 4)")
    p.add_argument("--knn-k", type=int, default=1, help="standard: neighbours of the knn scorer (default 1)")
    p.add_argument("--smooth", type=float, default=0.0,
                   help="standard: Gaussian sigma (frames) smoothing scores inside each clip (default 0: off)")
    p.add_argument("--clips", help="only these test clips, comma-separated (e.g. 1,2,4,7)")
    p.add_argument("--train-clips", help="only these training clips, comma-separated")
    p.add_argument("--random-weights", action="store_true", help="random backbone init (no hub access needed)")
    p.add_argument("--fast", action="store_true", help="batched extraction path (fp32 on CPU, bf16 on CUDA)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (extraction and training)")
    p.add_argument("--cache", help="extraction cache folder (default: $ANOMALY_REF_CACHE, else the platform cache dir)")
    add_trainer_options(p)
    add_frames_options(p)
    p.add_argument("--resamples", type=int, default=1000,
                   help="clip-bootstrap resamples of every interval (default 1000)")
    p.add_argument("--permutations", type=int, default=200,
                   help="label permutations of every chance band (default 200)")
    p.add_argument("--no-probes", action="store_true",
                   help="on a constructed source, skip the shortcut probes (heads trained to tell copies and "
                        "Train-clip frames from the rest)")
    p.add_argument("--seed", type=int, default=0,
                   help="model/dropout seed of run 0; run r uses seed+r, strict's fold f seed+r+1000f (default 0)")
    p.add_argument("--out", required=True, help="output folder for audit.json, audit.md, audit.png; its parent must exist")
    p.add_argument("--force", action="store_true", help="replace an existing audit in --out")
    p.set_defaults(func=run)


def _names(values: list[str | None] | None, get=None, all_names=()) -> list[str]:
    """``["paper,strict", "temporal", "paper"]`` -> ``["paper", "strict", "temporal"]``:
    split at commas, registry spelling (``get``), repeats dropped, ``all`` -> ``all_names``."""
    out: list[str] = []
    for name in (n.strip() for v in values or [] if v for n in v.split(",") if n.strip()):
        for found in all_names if name == "all" and all_names else [get(name).name if get else name]:
            if found not in out:
                out.append(found)
    return out


def run(args: argparse.Namespace) -> int:

    from ..data.featurefiles import refuse_overwrite
    from ..errors import InputError
    from ..protocol.oneclass import OneClassConfig
    from ..protocol.runner import ProtocolConfig
    from ..registry import SCORERS, get_head, get_protocol, get_scorer, paper_heads
    from ..studies import audit
    from ..studies.audit_stats import StatsConfig
    from ..results.audit_report import write_audit
    from ._checks import check_min, check_out_path, resolve_device, train_config
    from ._frames import frame_sources

    # Every flag is checked, and every split built, before any extraction or training.
    protocols = _names(args.protocol, get_protocol)
    heads = _names(args.head, get_head, paper_heads()) or list(audit.DEFAULT_HEADS)
    scorers = _names(args.scorer, get_scorer) or list(SCORERS)
    for flag, value, low in (("--runs", args.runs, 1), ("--max-epochs", args.max_epochs, 1),
                             ("--folds", args.folds, 2), ("--knn-k", args.knn_k, 1),
                             ("--resamples", args.resamples, 100), ("--permutations", args.permutations, 100)):
        check_min(flag, value, low)
    if args.smooth < 0:
        raise InputError(f"--smooth must be >= 0 frames, found {args.smooth}")
    device = resolve_device(args.device)
    out = check_out_path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    if not args.force:
        refuse_overwrite([out / "audit.json"])
    config = audit.AuditConfig(
        protocols=tuple(protocols) if protocols else audit.AuditConfig().protocols,
        heads=tuple(heads), scorers=tuple(scorers),
        protocol=ProtocolConfig(n_runs=args.runs, model_seed=args.seed, n_folds=args.folds,
                                train=train_config(args)),
        oneclass=OneClassConfig(knn_k=args.knn_k, smooth=args.smooth),
        stats=StatsConfig(n_resamples=args.resamples, n_permutations=args.permutations, seed=args.seed),
        probes=not args.no_probes,
    )

    def say_skipped(plan):
        for s in plan.skipped:
            print(f"skipping {s['protocol']}: {s['reason']}")
        for s in plan.probes_skipped:
            print(f"skipping the {s['probe']} probe: {s['reason']}")

    source, train_source = frame_sources(args, args.dataset)
    doc = audit.run(source, args.dataset, args.backbone, config, train_source=train_source,
                    clips=_names([args.clips]) or None, train_clips=_names([args.train_clips]) or None,
                    pretrained=not args.random_weights, explicit=bool(protocols), cache=args.cache, fast=args.fast,
                    device=device, progress=True, on_plan=say_skipped)
    for path in write_audit(doc, out).values():
        print(f"wrote {path}")
    return 0
