"""Where one batched training step's time goes, on this machine.

K = 5 LSTM heads (a case's 5 runs) on Ped2-size windows (1280-d features), batch 32 x 10
frames: milliseconds per phase (gather the windows, forward, backward, Keras-Adam step),
median over ``--steps`` after warm-up, and the top operators of a torch.profiler trace with
the achieved rate of the matrix products (the input projection and its weight gradient are
2 x K x (32 x 10) x D x 4U multiply-adds per step).

    python bench/train_profile.py --out bench/results
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed as ts  # noqa: E402

from anomaly_ref import provenance  # noqa: E402
from anomaly_ref.protocol.adam import stacked_step  # noqa: E402
from anomaly_ref.protocol.batched import StackedHeads, _Batches, _valid_weights  # noqa: E402
from anomaly_ref.protocol.heads import create_head  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--head", default="LSTM")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    prov = provenance.collect(config=vars(args) | {"out": str(args.out)}, seeds={}, device="cpu")
    n0, n1, dim = ts.SIZES["ped2"]
    w = ts.make_windows(n0, n1, dim)
    rng = np.random.default_rng(0)
    models = [create_head(args.head, dim, random_state=k) for k in range(args.k)]
    stack, batches = StackedHeads(models), _Batches(w, "cpu")
    params, adam = list(stack.params.values()), {}
    gens = [torch.Generator().manual_seed(k) for k in range(args.k)]
    everyone = torch.ones(args.k, dtype=torch.bool)

    def step(times=None):
        t0 = time.perf_counter()
        x, y, n_valid = batches.gather([rng.permutation(len(w))[:32] for _ in range(args.k)], 32)
        t1 = time.perf_counter()
        logits = stack(x, gens, n_valid)
        loss = (nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
                * _valid_weights(n_valid, 32, "cpu")).sum(1).sum()
        t2 = time.perf_counter()
        for q in params:
            q.grad = None
        loss.backward()
        t3 = time.perf_counter()
        stacked_step(params, adam, everyone, lr=1e-4, betas=(0.9, 0.999), eps=1e-7)
        t4 = time.perf_counter()
        if times is not None:
            for name, a, b in (("gather", t0, t1), ("forward", t1, t2), ("backward", t2, t3), ("adam", t3, t4)):
                times.setdefault(name, []).append(1000 * (b - a))

    for _ in range(5):
        step()
    times: dict[str, list[float]] = {}
    for _ in range(args.steps):
        step(times)
    phases = {k: statistics.median(v) for k, v in times.items()}
    total = sum(phases.values())
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            step()
    ops = sorted(((e.key, e.self_cpu_time_total / 1000 / 10, e.count // 10) for e in prof.key_averages()),
                 key=lambda r: -r[1])[:10]
    gate = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "LSTM_GRU": 4}[args.head] * 32
    gemm_ms = sum(ms for key, ms, _ in ops if key in ("aten::bmm", "aten::baddbmm"))
    flops = 2 * 2 * args.k * 320 * dim * gate  # input projection + its weight gradient
    lines = [f"{args.head}, K={args.k}, Ped2 size ({dim}-d), batch 32 x 10 frames, {torch.get_num_threads()} threads; "
             f"ms per step (median of {args.steps})", "",
             "| phase | ms | share |", "|---|---:|---:|"]
    lines += [f"| {k} | {v:.2f} | {100 * v / total:.0f}% |" for k, v in phases.items()]
    lines += [f"| step | {total:.2f} | 100% |", "", "Top operators (torch.profiler, self CPU time per step):", "",
              "| operator | ms per step | calls per step |", "|---|---:|---:|"]
    lines += [f"| {key} | {ms:.2f} | {calls} |" for key, ms, calls in ops]
    lines += ["", f"Matrix products (bmm + baddbmm): {gemm_ms:.2f} ms per step; the input projection and its "
                  f"weight gradient alone are {flops / 1e9:.2f} GFLOP, i.e. at least {flops / 1e9 / (gemm_ms / 1000):.0f} "
                  "GFLOP/s achieved in them."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "train_profile_cpu.md").write_text(text)
        (args.out / "train_profile_cpu.json").write_text(json.dumps(
            {"provenance": prov, "phases_ms": phases, "top_ops": ops}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
