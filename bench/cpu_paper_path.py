"""The paper path's images/s per backbone on this machine's CPU (reference figures).

Real Ped2 frames, random weights for the six paper backbones (the hub is unreachable),
the packaged weights for tf_efficientnet_lite0; ``--warmup`` images, then ``--images``
timed. Prints a markdown table with the load average (the CPU may be shared); with
``--out DIR`` also writes it to ``DIR/cpu_paper_path.md`` and the figures with provenance
(git hash, versions, CPU count, input hash) to ``DIR/cpu_paper_path.json``.

    ANOMALY_REF_SHARED=../shared python bench/cpu_paper_path.py --out bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from anomaly_ref import provenance
from anomaly_ref.extraction.backbones import create_backbone
from anomaly_ref.extraction.paper import extract_paper
from anomaly_ref.frames.sources import read_npz
from anomaly_ref.data.paths import shared_root
from anomaly_ref.registry import BACKBONES, DATASETS

PED2 = DATASETS["ped2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, help="folder for cpu_paper_path.md and .json")
    args = parser.parse_args()
    source = shared_root() / "data" / PED2.labels_file
    seq = read_npz(source, PED2.key).frames
    images = [seq[i].image for i in range(0, len(seq), len(seq) // (args.images + args.warmup))]
    lines = [f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
             f"load average before {os.getloadavg()[0]:.2f}",
             "| backbone | weights | paper path img/s (batch 1, fp32, CPU) |", "|---|---|---:|"]
    print("\n".join(lines), flush=True)
    rows = []
    for spec in BACKBONES.values():
        model = create_backbone(spec.name, pretrained=bool(spec.weights_package))
        extract_paper(model, images[: args.warmup], spec)
        t = time.perf_counter()
        extract_paper(model, images[args.warmup: args.warmup + args.images], spec)
        ips = args.images / (time.perf_counter() - t)
        weights = "packaged" if spec.weights_package else "random"
        rows.append({"backbone": spec.name, "weights": weights, "images_per_s": ips})
        lines.append(f"| {spec.name} | {weights} | {ips:.1f} |")
        print(lines[-1], flush=True)
    lines.append(f"load average after {os.getloadavg()[0]:.2f}")
    print(lines[-1])
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cpu_paper_path.md").write_text("\n".join(lines) + "\n")
        record = provenance.collect(config={"images": args.images, "warmup": args.warmup, "dataset": PED2.key},
                                    seeds={}, inputs=[source], device="cpu")
        (args.out / "cpu_paper_path.json").write_text(json.dumps({**record, "rows": rows}, indent=1, default=str))
        print(f"wrote {args.out / 'cpu_paper_path.md'} and .json")


if __name__ == "__main__":
    main()
