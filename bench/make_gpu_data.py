"""Pack the Ped2 frames the GPU run needs into ``.gpu/`` (ignored by git; sent with ``carry``).

``$ANOMALY_REF_SHARED`` does not travel to the device machine and the original npz
(60 MB, LZMA) would not fit the 64 MiB transfer with the rest, so this writes:
- ``ped2_subset.npz``: every 12th frame, lossless, in the shared npz layout (fidelity);
- ``ped2_jpeg.npz``: all 2010 frames as JPEG (quality 90) bytes, concatenated, with
  offsets (memory test; the frames were JPEGs before the shared npz decoded them).

Usage: python bench/make_gpu_data.py [--out .gpu]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from anomaly_ref.data.paths import shared_root
from anomaly_ref.registry import DATASETS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    parser.add_argument("--step", type=int, default=12, help="keep every STEP-th frame in the subset")
    args = parser.parse_args()
    import cv2

    src = shared_root() / "data" / DATASETS["ped2"].labels_file  # the Ped2 test frames and labels
    with np.load(src) as d:
        data = {k: d[k] for k in ("frames", "video", "frame", "label")}
    args.out.mkdir(parents=True, exist_ok=True)
    keep = np.arange(0, len(data["frames"]), args.step)
    np.savez_compressed(args.out / "ped2_subset.npz", **{k: v[keep] for k, v in data.items()})
    blobs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for f in data["frames"]]
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(args.out / "ped2_jpeg.npz", data=np.concatenate(blobs), offsets=offsets,
             **{k: data[k] for k in ("video", "frame", "label")})
    for p in sorted(args.out.iterdir()):
        print(f"{p} {p.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
