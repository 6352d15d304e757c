"""Time the whole ``standard`` rung (issue 23) on real Ped2: extraction and every scorer.

    ANOMALY_REF_SHARED=/path/to/shared python bench/standard_rung.py --out bench/results

Runs :func:`anomaly_ref.studies.standard.study` on the UCSD Ped2 Train and Test frames of
``$ANOMALY_REF_SHARED/data/ucsd_ped2/`` with ``tf_efficientnet_lite0`` (real weights), prints
one line per step (seconds, peak RSS) and the total wall time against the issue's budget
(10 minutes on 2 CPU cores, extraction included), and writes ``standard_rung.json`` (the
timings, the study's figures and provenance, without the per-frame scores) into ``--out``.
Exits 0 without running when ``ANOMALY_REF_SHARED`` is not set (says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BUDGET_S = 600  # the budget for the whole rung on the 2-core CPU, extraction included


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="folder for standard_rung.json (default: print only)")
    p.add_argument("--backbone", default="tf_efficientnet_lite0")
    args = p.parse_args(argv)
    shared = os.environ.get("ANOMALY_REF_SHARED")
    if not shared:
        print("skipped: $ANOMALY_REF_SHARED is not set (the benchmark needs the real Ped2 frames)")
        return 0
    data = Path(shared) / "data" / "ucsd_ped2"
    from anomaly_ref.studies.standard import StandardConfig, study

    t0 = time.perf_counter()
    doc = study(data / "ucsd_ped2_test.npz", data / "ucsd_ped2_train.npz",
                StandardConfig(dataset="ped2", backbone=args.backbone), progress=False)
    wall = time.perf_counter() - t0
    steps = {"extraction": doc["extraction"], **doc["scorers"]}
    print(f"{'step':34s} {'seconds':>8s} {'peak RSS MB':>12s} {'pooled AUC':>11s} {'smoothed':>9s}")
    for name, row in steps.items():
        raw = row.get("raw", {}).get("pooled_auc", {}).get("estimate")
        sm = (row.get("smoothed") or {}).get("pooled_auc", {}).get("estimate")
        print(f"{name:34s} {row['seconds']:8.1f} {row['peak_rss_mb']:12.1f} "
              f"{'' if raw is None else f'{raw:.3f}':>11s} {'' if sm is None else f'{sm:.3f}':>9s}")
    print(f"whole rung: {wall:.1f} s (budget {BUDGET_S} s: {'within' if wall <= BUDGET_S else 'OVER'}); "
          f"cpu threads {__import__('torch').get_num_threads()}, os cores {os.cpu_count()}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        slim = {k: v for k, v in doc.items() if k != "scores"}
        slim["bench"] = {"wall_seconds": round(wall, 1), "budget_seconds": BUDGET_S, "argv": sys.argv}
        (out / "standard_rung.json").write_text(json.dumps(slim, indent=1, default=str) + "\n")
        print(f"wrote {out / 'standard_rung.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
