"""Start-up time of the CLI (issue 24): ``anomaly-ref --help``, ``anomaly-ref audit --help``
and a ``fetch`` served from a filled cache, each a fresh process, N times; prints a Markdown
table (median, min, max wall seconds) with the commit and the machine. Reported, not asserted:
a shared machine's load moves these figures (tests/test_cli_imports.py asserts what matters,
that none of these commands imports torch, OpenCV or pytorch-grad-cam).

    python bench/cli_startup.py [--repeats 5] [--src DIR]

``--src``: the folder holding the ``anomaly_ref`` package to time (default: this checkout),
e.g. an older commit's ``git archive`` for a before/after table. The cache holds synthetic
Ped2 features (12 small arrays), installed once with ``fetch --from`` as a browser download
would be; the manifest is the checkout's ``data_manifest.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from anomaly_ref import registry  # noqa: E402  (names only: no heavy import)
from anomaly_ref.provenance import git_state  # noqa: E402

DATASET = "ped2"
BACKBONE = registry.paper_backbones()[0]


def cli(src: Path, *argv: str, env: dict | None = None) -> float:
    """Wall seconds of ``python -m anomaly_ref ARGV`` (``src`` first on the path); fails loudly."""
    env = {**os.environ, "PYTHONPATH": str(src), **(env or {})}
    start = time.perf_counter()
    # cwd: not the checkout, which `python -m` would put before ``src`` on the path
    proc = subprocess.run([sys.executable, "-m", "anomaly_ref", *argv], env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"anomaly-ref {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return seconds


def fill_cache(src: Path, work: Path) -> Path:
    """A cache holding the Ped2 feature folder (4 rows per file), installed by ``fetch --from``."""
    folder, cache = work / "download" / DATASET, work / "cache"
    folder.mkdir(parents=True)
    for name in registry.paper_backbones():
        for kind in ("normal", "anomaly"):
            np.save(folder / f"{kind}_features_{name}.npy",
                    np.zeros((4, registry.BACKBONES[name].feature_dim), np.float32))
    (folder / "Description of the features.txt").write_text("12 feature files\n")
    cli(src, "fetch", "--dataset", DATASET, "--only", "features", "--from", str(folder), "--cache", str(cache),
        "--manifest", str(ROOT / "data_manifest.json"), "--no-progress")
    return cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs of each command (default 5)")
    ap.add_argument("--src", type=Path, default=ROOT, help="folder holding the anomaly_ref package to time")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = fill_cache(args.src, Path(tmp))
        fetch = ["fetch", "--dataset", DATASET, "--extractor", BACKBONE, "--only", "features", "--offline"]
        cases = {  # --extractor: the spelling older commits accept too (--backbone's alias)
            "anomaly-ref --help": ["--help"],
            "anomaly-ref audit --help": ["audit", "--help"],
            f"anomaly-ref {' '.join(fetch)} (cached)":
                [*fetch, "--cache", str(cache), "--manifest", str(ROOT / "data_manifest.json"), "--no-progress"],
        }
        load_before = os.getloadavg()[0]
        times = {label: [cli(args.src, *argv) for _ in range(args.repeats)] for label, argv in cases.items()}
        load_after = os.getloadavg()[0]
    git = git_state(args.src)  # of the copy timed (None for an exported tree: say which commit it is)
    print(f"commit {git.get('commit')} (dirty: {git.get('dirty')}), package from {args.src}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {load_before:.2f} before, {load_after:.2f} after; {args.repeats} runs each, wall seconds\n")
    print("| command | median | min | max |")
    print("|---|---:|---:|---:|")
    for label, ts in times.items():
        print(f"| `{label}` | {statistics.median(ts):.2f} | {min(ts):.2f} | {max(ts):.2f} |")


if __name__ == "__main__":
    main()
