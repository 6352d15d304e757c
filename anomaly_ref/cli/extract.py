"""``anomaly-ref extract``: features of a frame source with one backbone, in the paper's files."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from ..registry import BACKBONES, DATASETS
    from ._checks import add_backbone_option
    from ._frames import SOURCE_HELP, add_frames_options

    p = subparsers.add_parser(
        "extract",
        help="extract backbone features from frames (paper path, or --fast)",
        description=(
            "Write normal_features_<backbone>.npy / anomaly_features_<backbone>.npy (the paper's "
            "format) plus a .frames.csv sidecar (clip, frame index, label per row) and a .json "
            "provenance record. Default: the paper's path (batch 1, fp32). --fast: batched, "
            "channels-last, bf16 autocast on CUDA, streamed to disk. Existing output files are "
            "never replaced unless --force. --construction frames (default): every frame once, "
            "with its own label. --construction paper: the authors' file pair (PROTOCOL §1): UCSD "
            "takes every training frame (--train-source) as normal and balances with flip/rot90/"
            "rot180 copies; Avenue with 8 geometric copies per abnormal frame until balanced; UMN "
            "with 5 random scale/rotation copies per abnormal frame instead of the originals. The "
            "sidecars then name each row's source clip and frame and its copy (augmentation, "
            "params); random copies use --seed, recorded. --plan writes the sidecars and prints the "
            "counts without running a backbone."
        ),
        epilog=(
            "example: anomaly-ref extract --source $ANOMALY_REF_SHARED/data/ucsd_ped2/ucsd_ped2_test.npz "
            "--dataset ped2 --backbone tf_efficientnet_lite0 --fast --out features-ped2"
        ),
    )
    p.add_argument("--source",
                   help="an .npz of $ANOMALY_REF_SHARED/data, a UCSD Test/ folder, an Avenue root, "
                        "or a folder with normal/ and abnormal/; " + SOURCE_HELP)
    p.add_argument("--dataset", required=True, choices=list(DATASETS), help="dataset name recorded per frame")
    add_backbone_option(p, BACKBONES, "backbone to run", required=True)
    p.add_argument("--construction", choices=["frames", "paper"], default="frames",
                   help="frames: each frame once (default); paper: the authors' construction (PROTOCOL §1)")
    p.add_argument("--train-source", help="paper, UCSD: the training clips (an .npz or a UCSD Train/ folder; "
                                          "without --source: the official archive's)")
    p.add_argument("--labels", choices=["official", "notebook"], default="official",
                   help="paper, UCSD: official frame ranges, or the notebook's (Ped1: its own ranges; Ped2: "
                        "official shifted down by one, an assumption)")
    p.add_argument("--seed", type=int, default=0, help="paper: seed of the random copies (Avenue crop, UMN)")
    p.add_argument("--plan", action="store_true",
                   help="paper: write the sidecars and print the counts; no backbone is run")
    p.add_argument("--random-weights", action="store_true", help="random init (no hub access needed)")
    p.add_argument("--fast", action="store_true", help="batched bf16 channels-last path")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch-size", type=int, default=256, help="--fast only")
    p.add_argument("--precision", choices=["bf16", "fp32"], default=None,
                   help="--fast only; default bf16 on CUDA, fp32 on CPU")
    p.add_argument("--compile", action="store_true", help="--fast only: torch.compile the model")
    p.add_argument("--workers", type=int, default=2, help="--fast only: decoding processes")
    p.add_argument("--limit", type=int, default=None, help="only the first N frames (N >= 0)")
    p.add_argument("--out", default="features", help="output folder (default: ./features); its parent must exist")
    p.add_argument("--force", action="store_true", help="replace output files that exist already")
    add_frames_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import time
    from pathlib import Path

    from tqdm import tqdm

    from .. import provenance
    from ..extraction.backbones import RANDOM_SEED, create_backbone
    from ..extraction.paper import extract_paper
    from ..extraction.fast import FastConfig, extract_fast
    from ..data.featurefiles import is_plan, open_features, paper_paths, refuse_overwrite, write_paper_files, write_text
    from ..frames.sources import open_source
    from ..registry import CONSTRUCTIONS, get_backbone
    from ._checks import check_min, check_out_path, resolve_device
    from ._frames import frame_sources

    from ..errors import InputError

    spec = get_backbone(args.backbone)
    if args.construction == "frames" and (args.train_source or args.plan or args.labels != "official"):
        raise InputError("--train-source, --labels notebook and --plan need --construction paper")
    device = resolve_device(args.device)
    if args.limit is not None:
        check_min("--limit", args.limit, 0)
    check_min("--batch-size", args.batch_size, 1)
    check_min("--workers", args.workers, 0)
    out_dir = check_out_path(args.out)
    record_path = out_dir / f"features_{spec.name}.json"
    # An earlier --plan's sidecars are replaced by the extraction's own (same rows, now with features).
    replace_plan = not args.plan and is_plan(out_dir, spec.name)
    finals = paper_paths(out_dir, spec.name)
    refuse_overwrite((finals[:2] if replace_plan else finals) + [record_path], args.force)  # before hours of work
    # without --source, the official archive: test frames, and the training clips a paper construction takes
    args.source, args.train_source = frame_sources(
        args, args.dataset, train=args.construction == "paper" and CONSTRUCTIONS[args.dataset].normal_train)
    construction: dict = {"construction": args.construction}
    extra = None
    if args.construction == "paper":
        from ..frames.construction import open_for

        frames = open_for(args.dataset, args.source, args.train_source, labels=args.labels, seed=args.seed)
        extra = {"augmentation": list(frames.plan.augmentation), "params": frames.plan.params_text()}
        counts = frames.plan.counts()
        c = frames.plan.construction
        construction.update(labels=args.labels, seed=args.seed, counts=counts, note=c.note)
        print(f"{args.dataset} paper construction ({args.labels} labels, seed {args.seed}): "
              f"{counts['normal']} normal rows, {counts['anomaly']} anomaly rows "
              f"({counts['originals']} originals; copies: "
              + ", ".join(f"{k} {v}" for k, v in counts["copies"].items()) + ")")
        if args.labels == "notebook" and c.notebook_ranges is None:
            print(f"assumption: {c.note}")
        if args.plan:
            from ..data.featurefiles import write_sidecars

            for path in write_sidecars(out_dir, spec.name, frames.clips, frames.indices, frames.labels,
                                       extra=extra, force=args.force):
                print(f"wrote {path}")
            return 0
    else:
        frames = open_source(args.source, args.dataset)
    n = len(frames) if args.limit is None else min(args.limit, len(frames))
    view = frames if n == len(frames) else frames[:n]  # a slice decodes eagerly; fine for --limit
    out_dir.mkdir(exist_ok=True)
    model = create_backbone(spec.name, pretrained=not args.random_weights)
    start = time.perf_counter()
    if args.fast:
        precision = args.precision or ("bf16" if device.startswith("cuda") else "fp32")
        config = FastConfig(batch_size=args.batch_size, precision=precision, compile=args.compile,
                            num_workers=args.workers, device=device)
        settings = {"path": "fast", **config.__dict__}
        tmp = out_dir / f".all_features_{spec.name}.{os.getpid()}.npy"  # scratch: (n, D) in source order
        try:
            features = open_features(tmp, n, spec.feature_dim)
            with tqdm(total=n, desc=f"{spec.name} (fast)", unit="img") as bar:
                extract_fast(model, view, spec, out=features, config=config, progress=bar.update)
            seconds = time.perf_counter() - start
            paths = write_paper_files(out_dir, spec.name, features, frames.clips[:n], frames.indices[:n],
                                      frames.labels[:n], force=args.force or replace_plan, extra=_head(extra, n))
        finally:
            features = None  # close the map before deleting its file
            tmp.unlink(missing_ok=True)
    else:
        features = extract_paper(model, view, spec, device=device, progress=True)
        seconds = time.perf_counter() - start
        settings = {"path": "paper", "batch_size": 1, "precision": "fp32", "device": device}
        paths = write_paper_files(out_dir, spec.name, features, frames.clips[:n], frames.indices[:n],
                                  frames.labels[:n], force=args.force or replace_plan, extra=_head(extra, n))
    record = provenance.collect(
        config={"source": str(args.source), "train_source": args.train_source, "dataset": args.dataset, "backbone": spec.timm_id,
                "pretrained": not args.random_weights, "frames": n, **settings, **construction,
                **({"random_seed": RANDOM_SEED} if args.random_weights else {})},
        seeds={"augmentation": args.seed} if args.construction == "paper" else {},
        inputs=[p for p in (args.source, args.train_source) if p and Path(p).is_file()], device=device,
    )
    record["images_per_s"] = n / seconds if seconds > 0 else None
    write_text(record_path, json.dumps(record, indent=1, default=str), force=args.force)
    for label, path in paths.items():
        print(f"wrote {path}")
    print(f"{n} images in {seconds:.1f} s: {n / seconds:.1f} images/s" if seconds > 0 else f"{n} images")
    return 0


def _head(extra: dict | None, n: int) -> dict | None:
    """The first ``n`` rows of each sidecar column (``--limit``)."""
    return None if extra is None else {k: v[:n] for k, v in extra.items()}
