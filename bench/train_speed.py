"""Training speed: the 20 fits (4 paper heads x 5 runs) of one (dataset, extractor) pair,
sequential vs batched vs the authors' Keras code, and the projected 480-fit sweep.

Synthetic features with a published shape (the paper protocol does not care what the
numbers are): ``ped2`` = our real Ped2 set's shape (362 + 1648 rows, 1280-d, the lite0
features of reference/), ``umn`` = the authors' UMN files (6602 + 5685 rows, 768-d).
Every fit runs exactly ``--epochs`` epochs (patience = epochs: no early stop), so all
trainers do the same work; a 50-epoch fit costs 50 / epochs times as much (epochs are
alike: same windows, same steps).

The sweep projection measures seconds per training window per epoch for each paper head
and each feature width of the paper's backbones (512, 768, 1024, 1280) and multiplies by
the windows of every (dataset, backbone) pair: 50 epochs (the cap; early stopping only
shortens it), 80% of windows trained, the other 20% validated each epoch.

    python bench/train_speed.py --out bench/results            # CPU, prints one table
    python bench/train_speed.py --device cuda --out bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from anomaly_ref import provenance, registry
from anomaly_ref.protocol.batched import fit_many
from anomaly_ref.protocol.heads import create_head
from anomaly_ref.protocol.sequences import Windows, paper_sequences
from anomaly_ref.protocol.splits import paper_split
from anomaly_ref.protocol.train import TrainConfig, fit

SIZES = {  # name: (n_normal, n_anomaly, dim)
    "ped2": (362, 1648, 1280),
    "umn": (registry.DATASETS["umn"].n_normal, registry.DATASETS["umn"].n_anomaly, 768),
}
# Rows of each dataset's feature files. UMN: the authors' files (registry). Avenue: 11,612
# + 11,612 (PROTOCOL §1). Ped1 "about 20,000" and Ped2 by the notebooks' construction
# (every Train frame normal + normal Test frames, abnormal balanced to equal): estimates.
SWEEP_ROWS = {"avenue": 23224, "ped1": 20000, "ped2": 2 * (2550 + 362), "umn": 12287}
RUNS = 5


def make_windows(n_normal: int, n_anomaly: int, dim: int, seed: int = 0) -> Windows:
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_normal, int), np.ones(n_anomaly, int)]
    X = (rng.normal(size=(len(y), dim)) + 0.5 * y[:, None]).astype(np.float32)
    return paper_sequences(X, y)


def _config(epochs: int, threads: int, trainer: str, precision: str = "fp32") -> TrainConfig:
    return TrainConfig(max_epochs=epochs, patience=epochs, num_threads=threads, trainer=trainer, precision=precision)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_sequential(w: Windows, head: str, epochs: int, device: str, threads: int = 1) -> float:
    """Seconds for the 5 runs of ``head``, one fit after another."""
    splits = [paper_split(w, r) for r in range(RUNS)]
    t = time.perf_counter()
    for r, (train, test) in enumerate(splits):
        model = create_head(head, w.X.shape[1], random_state=r)
        fit(model, w.subset(train), w.subset(test), config=_config(epochs, threads, "sequential"),
            random_state=r, device=device)
    _sync(device)
    return time.perf_counter() - t


def time_batched(w: Windows, head: str, epochs: int, device: str, threads: int = 1, precision: str = "fp32",
                 runs: int = RUNS) -> float:
    """Seconds for the ``runs`` runs of ``head``, all at once."""
    splits = [paper_split(w, r) for r in range(runs)]
    models = [create_head(head, w.X.shape[1], random_state=r) for r in range(runs)]
    t = time.perf_counter()
    fit_many(models, w, [s[0] for s in splits], [s[1] for s in splits],
             config=_config(epochs, threads, "batched", precision), seeds=list(range(runs)), device=device)
    _sync(device)
    return time.perf_counter() - t


def time_keras(w: Windows, head: str, epochs: int, threads: int = 1) -> float:
    """Seconds for the 5 runs of ``head`` with the notebooks' Keras model and ``model.fit``."""
    from anomaly_ref.protocol import keras_ref as kr

    k = kr.keras()
    cfg = _config(epochs, threads, "sequential")
    splits = [paper_split(w, r) for r in range(RUNS)]
    data = [(w[train], w.labels[train], w[test], w.labels[test]) for train, test in splits]  # outside the clock
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        for r, (xtr, ytr, xte, yte) in enumerate(data):
            k.utils.set_random_seed(r)
            model = kr.compile_like_notebooks(kr.build(head, w.X.shape[1]), cfg)
            kr.fit_like_notebooks(model, xtr, ytr, xte, yte, cfg)
        return time.perf_counter() - t
    finally:
        torch.set_num_threads(before)


def plans(args) -> list[tuple[str, int, str]]:
    """(trainer, threads, precision) rows of the table."""
    out = [("sequential", 1, "fp32")]
    out += [("batched", t, "fp32") for t in args.threads]
    out += [("batched", args.threads[-1], "bf16")] if args.bf16 else []
    out += [("keras", 1, "fp32")] if args.keras else []
    return out


def time_fits(w: Windows, head: str, trainer: str, threads: int, precision: str, epochs: int, device: str) -> float:
    if trainer == "sequential":
        return time_sequential(w, head, epochs, device, threads)
    if trainer == "batched":
        return time_batched(w, head, epochs, device, threads, precision)
    return time_keras(w, head, epochs, threads)


def pair_table(args, heads) -> list[dict]:
    rows = []
    for size in args.sizes:
        w = make_windows(*SIZES[size])
        for trainer, threads, precision in plans(args):
            seconds = {head: time_fits(w, head, trainer, threads, precision, args.epochs, args.device)
                       for head in heads}
            total = sum(seconds.values())
            rows.append({"size": size, "windows": len(w), "dim": w.X.shape[1], "trainer": trainer,
                         "threads": threads, "precision": precision, "epochs": args.epochs, "seconds": total,
                         "per_head": seconds, "projected_50_epochs_s": total * 50 / args.epochs})
            print(f"{size:>5} {trainer:>10} threads={threads} {precision}: 20 fits x {args.epochs} epochs in "
                  f"{total:7.1f} s (50 epochs: {total * 50 / args.epochs:8.0f} s)", flush=True)
    return rows


def sweep_projection(args, heads) -> dict:
    """Seconds per training window per epoch (validation included) for each head and width,
    then the 480-fit sweep: sum over datasets x backbones x heads of 5 fits' work."""
    dims = sorted({b.feature_dim for b in registry.BACKBONES.values() if b.in_paper})
    n = 2010  # reference set: windows are alike, cost scales with their number
    cost = {}
    trainers = [p for p in plans(args) if p[0] != "keras" and (p[0] == "sequential" or p[1] == args.threads[-1])]
    for trainer, threads, precision in trainers:
        label = f"{trainer}-{precision}-{threads}t"
        for dim in dims:
            w = make_windows(n // 5, n - n // 5, dim)
            train_windows = RUNS * len(paper_split(w, 0)[0])
            for head in heads:
                seconds = time_fits(w, head, trainer, threads, precision, args.epochs, args.device)
                cost[(label, head, dim)] = seconds / (args.epochs * train_windows)
                print(f"cost {label:>18} {head:>9} dim {dim:>4}: {cost[(label, head, dim)] * 1e6:7.1f} us/window-epoch",
                      flush=True)
    total = {label: 0.0 for label, _, _ in cost}
    for dataset, rows in SWEEP_ROWS.items():
        train_windows = RUNS * int(0.8 * (rows - 9))
        for backbone in registry.paper_backbones():
            dim = registry.BACKBONES[backbone].feature_dim
            for head in heads:
                for label in total:
                    total[label] += cost[(label, head, dim)] * train_windows * 50
    return {"dims": dims, "epochs_measured": args.epochs, "rows": SWEEP_ROWS,
            "cost_us_per_window_epoch": {f"{t}/{h}/{d}": c * 1e6 for (t, h, d), c in cost.items()},
            "sweep_seconds_50_epochs": total}


def to_markdown(rows: list[dict], sweep: dict | None, device: str) -> str:
    base = {(r["size"]): r["seconds"] for r in rows if r["trainer"] == "sequential"}
    keras = {(r["size"]): r["seconds"] for r in rows if r["trainer"] == "keras"}
    lines = [f"device {device}; torch {torch.__version__}; {os.cpu_count()} CPUs; load average "
             f"{os.getloadavg()[0]:.2f}", "",
             "| size | windows x dim | trainer | threads | precision | 20 fits x epochs (s) "
             "| 20 fits x 50 epochs (projected, s) | vs sequential | vs Keras |", "|---|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        vs_k = f"{keras[r['size']] / r['seconds']:.1f}x" if r["size"] in keras else "—"
        lines.append(f"| {r['size']} | {r['windows']} x {r['dim']} | {r['trainer']} | {r['threads']} | {r['precision']} | "
                     f"{r['seconds']:.1f} ({r['epochs']} ep) | {r['projected_50_epochs_s']:.0f} | "
                     f"{base[r['size']] / r['seconds']:.2f}x | {vs_k} |")
    if sweep:
        lines += ["", "480-fit sweep, 50 epochs each (projected): " + ", ".join(
            f"{label} {sec / 3600:.2f} h" for label, sec in sweep["sweep_seconds_50_epochs"].items())]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=2, help="epochs per fit (default 2)")
    p.add_argument("--sizes", type=lambda s: s.split(","), default=list(SIZES))
    p.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")], default=[1, 2],
                   help="torch threads for the batched trainer (default 1,2)")
    p.add_argument("--keras", action=argparse.BooleanOptionalAction, default=True, help="time the Keras models too")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                   help="time the batched trainer's bf16 input GEMMs too")
    p.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True, help="project the 480-fit sweep")
    p.add_argument("--out", type=Path, help="folder for train_speed_<device>.md and .json")
    args = p.parse_args(argv)
    if args.device.startswith("cuda"):
        import gpu_check  # bench/gpu_check.py, beside this script

        why = gpu_check.missing()
        if why:  # one line, not a CUDA traceback from the first fit
            print(f"{why}; --device {args.device} needs one", file=sys.stderr)
            return 1
    heads = registry.paper_heads()
    prov = provenance.collect(config=vars(args) | {"out": str(args.out)}, seeds={"runs": list(range(RUNS))},
                              device=args.device)
    rows = pair_table(args, heads)
    sweep = sweep_projection(args, heads) if args.sweep else None
    text = to_markdown(rows, sweep, args.device)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"train_speed_{args.device.split(':')[0]}"
        (args.out / f"{stem}.md").write_text(text)
        (args.out / f"{stem}.json").write_text(json.dumps({"provenance": prov, "rows": rows, "sweep": sweep}, indent=1,
                                                          default=str))
        print(f"wrote {args.out / stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
