"""``anomaly-ref gradcam``: Grad-CAM++ maps of abnormal frames, overlays, and localisation scores."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    # From the registry, not extraction/studies.gradcam: those load pytorch-grad-cam and torch.
    from ..registry import BACKBONES, DATASETS, GRADCAM_FORMULAS, GRADCAM_TARGETS, MASKS_SUFFIX
    from ._checks import add_backbone_option
    from ._frames import SOURCE_HELP, add_frames_options

    p = subparsers.add_parser(
        "gradcam",
        help="Grad-CAM++ maps of abnormal frames, overlays, and localisation scores on pixel masks",
        description=(
            "Grad-CAM++ of a backbone on the abnormal frames of a frame source (PROTOCOL §8): the paper's "
            "target (an untrained 2-class head) and/or a cross-fitted anomaly head; the paper's formula "
            "and/or the textbook one (all formulas from one backward pass). Writes gradcam.json (kind "
            "'gradcam': summary, per-frame scores, provenance), gradcam.md, overlays/*.png and "
            "contact_sheet.png into --out. With --score, each map is scored against the pixel masks "
            "(pointing game, pixel ROC-AUC, top-k% IoU) beside a centre-prior and a motion baseline. "
            "Backbones whose pretrained weights cannot be loaded here run with random weights (seeded), "
            "and the output says so."
        ),
        epilog=(
            "example: anomaly-ref gradcam --source $ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_test.npz "
            "--dataset ped2 --backbone tf_efficientnet_lite0 --target both --formula both --frames 16 --score "
            "--out gradcam-ped2"
        ),
    )
    p.add_argument("--source", help="frames: an .npz of $ANOMALY_REF_SHARED/data, a UCSD Test/ folder, an Avenue "
                                    "root, or normal/ + abnormal/ folders; " + SOURCE_HELP)
    p.add_argument("--dataset", required=True, choices=list(DATASETS), help="dataset name recorded per frame")
    add_backbone_option(p, BACKBONES, "backbone whose maps to compute", required=True)
    p.add_argument("--target", choices=[*GRADCAM_TARGETS, "both"], default="paper",
                   help="paper: untrained 2-class head, larger logit (default); anomaly-head: logistic head "
                        "fitted on the other clips (odd/even clip numbers); both")
    p.add_argument("--formula", choices=[*GRADCAM_FORMULAS, "both"], default="paper",
                   help="Grad-CAM++ weights: the notebooks' (paper, default) or the textbook/pytorch-grad-cam "
                        "one (gradcam++); both: both from one pass, and their difference measured")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--frames", type=int, default=16,
                       help="N abnormal frames, a uniform subsample in source order (every s-th, s = abnormal // N; "
                            "default 16)")
    which.add_argument("--all", action="store_true", help="every abnormal frame")
    p.add_argument("--score", action="store_true", help="score the maps against the pixel masks (needs --masks)")
    p.add_argument("--masks", default=None,
                   help=f"pixel masks .npz (default: the source's name with {MASKS_SUFFIX}, if it exists)")
    p.add_argument("--layer", default=None, help="target layer name inside the backbone (default: its last nn.Conv2d)")
    p.add_argument("--random-weights", action="store_true", help="random init (seeded) instead of pretrained weights")
    p.add_argument("--batch-size", type=int, default=8, help="frames per forward/backward pass (default 8)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--sheet", type=int, default=6, help="frames on the contact sheet and in overlays/ (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the untrained head and of random weights")
    p.add_argument("--out", required=True, help="output folder; its parent must exist")
    p.add_argument("--force", action="store_true", help="replace an existing gradcam.json in --out")
    add_frames_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..results.gradcam_report import write_gradcam
    from ..registry import GRADCAM_FORMULAS, GRADCAM_TARGETS
    from ..studies.gradcam import GradcamConfig, study
    from ._checks import check_min, check_out_path, resolve_device
    from ._frames import frame_sources

    device = resolve_device(args.device)
    check_min("--batch-size", args.batch_size, 1)
    check_min("--sheet", args.sheet, 0)
    if not args.all:
        check_min("--frames", args.frames, 1)
    out = check_out_path(args.out)
    if (out / "gradcam.json").exists() and not args.force:
        raise InputError(f"{out / 'gradcam.json'} exists; use --force to replace it, or choose another --out")
    config = GradcamConfig(
        backbone=args.backbone,
        targets=GRADCAM_TARGETS if args.target == "both" else (args.target,),
        formulas=GRADCAM_FORMULAS if args.formula == "both" else (args.formula,),
        pretrained=not args.random_weights, layer=args.layer, batch_size=args.batch_size, device=device,
        seed=args.seed, score=args.score,
    )
    source = frame_sources(args, args.dataset, train=False)[0]
    doc, kept = study(source, args.dataset, config, masks=args.masks, n_frames=None if args.all else args.frames,
                      sheet=args.sheet)
    paths = write_gradcam(doc, kept, out)
    print(f"{doc['config']['backbone']}: {doc['config']['weights']}; target layer {doc['config']['target_layer']}")
    for name, row in doc["summary"].items():
        print(f"  {name:26s} pointing {row['pointing_game']:.3f}  pixel AUC {row['pixel_auc']:.3f}  "
              f"top-k IoU {row['topk_iou']:.3f}")
    print(f"{doc['throughput']['maps_per_s']:.2f} maps/s on {device}; wrote {', '.join(str(p) for p in paths.values())}")
    return 0
