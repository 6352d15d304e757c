"""Why the velocity scorer runs Farnebäck flow on a thread pool (issue 23).

    ANOMALY_REF_SHARED=/path/to/shared python bench/flow_threads.py

Times ``cv2.calcOpticalFlowFarneback`` (the velocity scorer's parameters) on consecutive
pairs of Ped2 Train frames three ways: one pair at a time with OpenCV on 1 thread, one pair
at a time with OpenCV's own threads (as many as torch uses), and the scorer's way: OpenCV on
1 thread, that many pairs at once in a thread pool. Prints ms per pair. Exits 0 without
running when ``ANOMALY_REF_SHARED`` is not set (says why).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=80, help="consecutive frame pairs timed (default 80)")
    args = p.parse_args(argv)
    shared = os.environ.get("ANOMALY_REF_SHARED")
    if not shared:
        print("skipped: $ANOMALY_REF_SHARED is not set (the benchmark needs the real Ped2 Train frames)")
        return 0
    import cv2
    import numpy as np
    import torch

    from anomaly_ref.protocol.velocity import VelocityConfig

    c = VelocityConfig()
    frames = np.load(Path(shared) / "data" / "ucsd_ped2" / "ucsd_ped2_train.npz")["frames"][:args.pairs + 1]

    def flow(i):
        return cv2.calcOpticalFlowFarneback(frames[i - 1], frames[i], None, c.pyr_scale, c.levels, c.winsize,
                                            c.iterations, c.poly_n, c.poly_sigma, 0)

    threads = torch.get_num_threads()
    before = cv2.getNumThreads()
    rows = []
    try:
        for label, cv_threads, pool in (("one pair at a time, OpenCV 1 thread", 1, 1),
                                        (f"one pair at a time, OpenCV {threads} threads", threads, 1),
                                        (f"{threads} pairs at once, OpenCV 1 thread each (the scorer)", 1, threads)):
            cv2.setNumThreads(cv_threads)
            flow(1)  # warm-up
            t0 = time.perf_counter()
            with ThreadPoolExecutor(pool) as ex:
                list(ex.map(flow, range(1, len(frames))))
            rows.append((label, (time.perf_counter() - t0) / (len(frames) - 1) * 1000))
    finally:
        cv2.setNumThreads(before)
    print(f"{'way':58s} {'ms per pair':>11s}")
    for label, ms in rows:
        print(f"{label:58s} {ms:11.1f}")
    print(f"{len(frames) - 1} pairs of {frames.shape[1]}x{frames.shape[2]} frames; OpenCV {cv2.__version__}, "
          f"torch threads {threads}, os cores {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
