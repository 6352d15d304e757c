"""``anomaly-ref standard``: every one-class scorer of the field's protocol on Train -> Test frames."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from ..registry import BACKBONES, DATASETS  # not studies.standard: that loads torch
    from ._checks import add_backbone_option
    from ._frames import SOURCE_HELP, add_frames_options

    p = subparsers.add_parser(
        "standard",
        help="what the backbones and sequence heads reach under the field's protocol (issue 23)",
        description=(
            "Fit every scorer on the normal Train clips only and score every test frame (PROTOCOL §10): "
            "backbone-free motion baselines (frame-difference energy and optical-flow velocity, kNN per "
            "location), the global kNN and Mahalanobis scorers, a patch memory bank on the backbone's "
            "intermediate maps, next-feature predictors (LSTM, GRU, LSTM_GRU, SimpleRNN, Dense) and fusions "
            "(z-scores standardised on leave-one-Train-clip-out scores). Writes standard.json (kind "
            "'standard': every frame's scores; pooled, mean per-clip and each clip's AUC with clip-bootstrap "
            "intervals, raw, smoothed and under Liu et al.'s per-clip scaling; seconds, peak memory, "
            "provenance) and standard.md into --out."
        ),
        epilog=(
            "example: anomaly-ref standard --source $ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_test.npz "
            "--train-source $ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_train.npz --dataset ped2 "
            "--backbone tf_efficientnet_lite0 --out standard-ped2; "
            "anomaly-ref standard --dataset ped1 --backbone tf_efficientnet_lite0 --out standard-ped1 "
            "(the official frames, fetched on first use)"
        ),
    )
    p.add_argument("--source", help="test frames with labels (an .npz, a UCSD Test/ folder, ...); " + SOURCE_HELP)
    p.add_argument("--train-source", help="the normal Train frames (an .npz, a UCSD Train/ folder; without --source: "
                                          "the official archive's training clips)")
    p.add_argument("--dataset", required=True, choices=list(DATASETS), help="dataset name")
    add_backbone_option(p, BACKBONES, "backbone of the feature maps and pooled features", required=True)
    p.add_argument("--smooth", type=float, default=5.0,
                   help="Gaussian sigma in frames of the smoothed figures (default 5, fixed a priori)")
    p.add_argument("--bank-size", type=int, default=16384, help="patch memory bank size (default 16384)")
    p.add_argument("--bank-sampling", choices=["random", "coreset"], default="random",
                   help="random (default; a Train frame's reference skips its own clip's bank entries) or greedy "
                        "coreset (whose selection also saw the held-out clip)")
    p.add_argument("--resamples", type=int, default=1000, help="clip-bootstrap resamples (default 1000)")
    p.add_argument("--random-weights", action="store_true", help="random init (seeded) instead of pretrained weights")
    p.add_argument("--out", required=True, help="output folder; its parent must exist")
    p.add_argument("--force", action="store_true", help="replace an existing standard.json in --out")
    add_frames_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from ..errors import InputError
    from ..protocol.patchbank import PatchBankConfig
    from ..results.standard_report import headline, write_standard
    from ..studies.standard import StandardConfig, study
    from ._checks import check_min, check_out_path
    from ._frames import frame_sources

    check_min("--bank-size", args.bank_size, 1)
    check_min("--resamples", args.resamples, 1)
    if args.smooth < 0:
        raise InputError(f"--smooth must be >= 0 frames, found {args.smooth}")
    out = check_out_path(args.out)
    if (out / "standard.json").exists() and not args.force:
        raise InputError(f"{out / 'standard.json'} exists; use --force to replace it, or choose another --out")
    config = StandardConfig(dataset=args.dataset, backbone=args.backbone, pretrained=not args.random_weights,
                            smooth=args.smooth, n_resamples=args.resamples,
                            patch=dataclasses.replace(PatchBankConfig(), size=args.bank_size,
                                                      sampling=args.bank_sampling))
    source, train_source = frame_sources(args, args.dataset)
    if train_source is None:
        raise InputError(f"the standard rung fits on normal training frames: give --train-source ({args.dataset} "
                         "has none in its official archive)" if args.source is None else
                         "the standard rung fits on normal training frames: give --train-source")
    doc = study(source, train_source, config)
    paths = write_standard(doc, out)
    for name, row in doc["scorers"].items():
        sm = row["smoothed"]["pooled_auc"]["estimate"] if row.get("smoothed") else float("nan")
        print(f"  {name:32s} pooled AUC {row['raw']['pooled_auc']['estimate']:.3f}  smoothed {sm:.3f}  "
              f"{row['seconds']:.1f} s")
    print(headline(doc))
    print(f"wrote {', '.join(str(p) for p in paths.values())} in {doc['wall_seconds']} s")
    return 0
