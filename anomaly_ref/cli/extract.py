"""``anomaly-ref extract``: features of a frame source with one backbone, in the paper's files."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from ..registry import BACKBONES, DATASETS

    p = subparsers.add_parser(
        "extract",
        help="extract backbone features from frames (paper path, or --fast)",
        description=(
            "Write normal_features_<backbone>.npy / anomaly_features_<backbone>.npy (the paper's "
            "format) plus a .frames.csv sidecar (clip, frame index, label per row) and a .json "
            "provenance record. Default: the paper's path (batch 1, fp32). --fast: batched, "
            "channels-last, bf16 autocast on CUDA, streamed to disk."
        ),
    )
    p.add_argument("--source", required=True,
                   help="an .npz of $ANOMALY_REF_SHARED/data, a UCSD Test/ folder, an Avenue root, "
                        "or a folder with normal/ and abnormal/")
    p.add_argument("--dataset", required=True, choices=list(DATASETS), help="dataset name recorded per frame")
    p.add_argument("--backbone", required=True, choices=list(BACKBONES))
    p.add_argument("--random-weights", action="store_true", help="random init (no hub access needed)")
    p.add_argument("--fast", action="store_true", help="batched bf16 channels-last path")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch-size", type=int, default=256, help="--fast only")
    p.add_argument("--precision", choices=["bf16", "fp32"], default=None,
                   help="--fast only; default bf16 on CUDA, fp32 on CPU")
    p.add_argument("--compile", action="store_true", help="--fast only: torch.compile the model")
    p.add_argument("--workers", type=int, default=2, help="--fast only: decoding processes")
    p.add_argument("--limit", type=int, default=None, help="only the first N frames")
    p.add_argument("--out", default="features", help="output folder (default: ./features)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from tqdm import tqdm

    from .. import provenance
    from ..backbones import create_backbone
    from ..extract import extract_paper
    from ..extract_fast import FastConfig, extract_fast
    from ..featurefiles import open_features, write_paper_files
    from ..frames import open_source
    from ..registry import get_backbone

    spec = get_backbone(args.backbone)
    frames = open_source(args.source, args.dataset)
    n = len(frames) if args.limit is None else min(args.limit, len(frames))
    view = frames if n == len(frames) else frames[:n]  # a slice decodes eagerly; fine for --limit
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = create_backbone(spec.name, pretrained=not args.random_weights)
    start = time.perf_counter()
    if args.fast:
        precision = args.precision or ("bf16" if args.device.startswith("cuda") else "fp32")
        config = FastConfig(batch_size=args.batch_size, precision=precision, compile=args.compile,
                            num_workers=args.workers, device=args.device)
        tmp = out_dir / f".all_features_{spec.name}.npy"
        out = open_features(tmp, n, spec.feature_dim)
        with tqdm(total=n, desc=f"{spec.name} (fast)", unit="img") as bar:
            features = extract_fast(model, view, spec, out=out, config=config, progress=bar.update)
        settings = {"path": "fast", **config.__dict__}
    else:
        features = extract_paper(model, (f.image for f in view), spec, device=args.device, progress=True)
        settings = {"path": "paper", "batch_size": 1, "precision": "fp32", "device": args.device}
    seconds = time.perf_counter() - start
    paths = write_paper_files(out_dir, spec.name, features, frames.clips[:n], frames.indices[:n], frames.labels[:n])
    if args.fast:
        del features, out
        tmp.unlink()
    record = provenance.collect(
        config={"source": str(args.source), "dataset": args.dataset, "backbone": spec.timm_id,
                "pretrained": not args.random_weights, "frames": n, **settings},
        seeds={}, inputs=[args.source] if Path(args.source).is_file() else [], device=args.device,
    )
    record["images_per_s"] = n / seconds
    (out_dir / f"features_{spec.name}.json").write_text(json.dumps(record, indent=1, default=str))
    for label, path in paths.items():
        print(f"wrote {path}")
    print(f"{n} images in {seconds:.1f} s: {n / seconds:.1f} images/s")
    return 0
