"""The paper path's images/s per backbone on this machine's CPU (reference figures).

Real Ped2 frames, random weights for the six paper backbones (the hub is unreachable),
the packaged weights for tf_efficientnet_lite0; ``--warmup`` images, then ``--images``
timed. Prints a markdown table with the load average (the CPU may be shared).

    ANOMALY_REF_SHARED=../shared python bench/cpu_paper_path.py
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from anomaly_ref.backbones import create_backbone
from anomaly_ref.extract import extract_paper
from anomaly_ref.frames import read_npz
from anomaly_ref.paths import shared_root
from anomaly_ref.registry import BACKBONES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    seq = read_npz(shared_root() / "data" / "ucsd_ped2" / "ucsd_ped2_test.npz", "ped2").frames
    images = [seq[i].image for i in range(0, len(seq), len(seq) // (args.images + args.warmup))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average before {os.getloadavg()[0]:.2f}")
    print("| backbone | weights | paper path img/s (batch 1, fp32, CPU) |\n|---|---|---:|")
    for spec in BACKBONES.values():
        model = create_backbone(spec.name, pretrained=bool(spec.weights_package))
        extract_paper(model, images[: args.warmup], spec)
        t = time.perf_counter()
        extract_paper(model, images[args.warmup: args.warmup + args.images], spec)
        ips = args.images / (time.perf_counter() - t)
        print(f"| {spec.name} | {'packaged' if spec.weights_package else 'random'} | {ips:.1f} |", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
