"""Two ``reproduce --out`` (or ``audit.json``) files side by side under the bench's tolerance rule.

For every (protocol, head) present in both: each metric's mean ± std in A and in B, the
difference of the means, the bound ``max(abs, nstd * sqrt(std_A² + std_B²))`` of
:class:`anomaly_ref.results.compare.Tolerance`, and whether it holds. Prints Markdown;
exits 1 if any metric is outside the bound.

    python bench/compare_results.py A.json B.json [--tolerance abs=0.01,nstd=3] [--names A B]
"""

from __future__ import annotations

import argparse
import json
import sys

from anomaly_ref.registry import METRICS
from anomaly_ref.results.compare import Tolerance, diff
from anomaly_ref.valuefmt import format_value


def summaries(path: str) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    doc = json.loads(open(path).read())
    return {(r["protocol"], r["head"]): {m: (v["mean"], v["std"]) for m, v in r["summary"].items()}
            for r in doc["results"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tolerance", default="")
    p.add_argument("--names", nargs=2, default=["A", "B"])
    args = p.parse_args(argv)
    tol = Tolerance.parse(args.tolerance)
    a, b = summaries(args.a), summaries(args.b)
    lines = [f"| protocol | head | metric | {args.names[0]} | {args.names[1]} | delta | bound ({tol}) | |",
             "|---|---|---|---|---|---:|---:|---|"]
    bad = 0
    for key in [k for k in a if k in b]:
        for d in diff(a[key], b[key]):
            ok = tol.ok(d)
            bad += not ok
            lines.append(f"| {key[0]} | {key[1]} | {d.metric} | {format_value(*d.ours)} | {format_value(*d.paper)} | "
                         f"{d.delta:+.4f} | {tol.bound(d):.4f} | {'ok' if ok else 'OUTSIDE'} |")
    n = sum(1 for k in a if k in b) * len(METRICS)
    print("\n".join(lines))
    print(f"\n{n - bad} of {n} metrics within the bound")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
