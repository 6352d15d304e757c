"""Why protocol/batched.py stacks weights itself instead of using ``torch.func.vmap``.

One training step (forward, backward) of K heads on K batches of 32 windows, three ways:
- ``loop``: K separate nn.Module heads, one after another (the sequential trainer's work);
- ``vmap``: ``torch.func.stack_module_state`` + ``functional_call`` under ``vmap`` and
  ``grad`` over the same nn.Module heads (nn.LSTM/GRU/RNN inside);
- ``stacked``: :class:`anomaly_ref.protocol.batched.StackedHeads` (``baddbmm`` over a
  leading model axis, recurrent cells written out).
Dropout is off in all three (HeadConfig(dropout=0)): under ``vmap`` the heads' explicit
dropout masks (drawn in place on an unbatched tensor) are refused, and the comparison is
about the layers, not the masks. Prints milliseconds per step (median of ``--steps``) and
writes them with provenance.

    python bench/batched_choice.py --out bench/results
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from anomaly_ref import provenance
from anomaly_ref.protocol.batched import StackedHeads
from anomaly_ref.protocol.heads import HeadConfig, create_head


def _loop(models, x, y):
    for m, xb, yb in zip(models, x, y):
        m.zero_grad(set_to_none=True)
        nn.functional.binary_cross_entropy_with_logits(m(xb), yb).backward()


def _vmap_step(models):
    from torch.func import functional_call, grad, stack_module_state, vmap

    params, buffers = stack_module_state(models)
    base = models[0]

    def loss(p, b, xb, yb):
        return nn.functional.binary_cross_entropy_with_logits(functional_call(base, (p, b), (xb,)), yb)

    g = vmap(grad(loss), in_dims=(0, 0, 0, 0), randomness="different")
    return lambda x, y: g(params, buffers, x, y)


def _stacked_step(models):
    stack = StackedHeads(models)
    gens = [torch.Generator().manual_seed(i) for i in range(len(models))]

    def step(x, y):
        stack.zero_grad(set_to_none=True)
        logits = stack(x, gens, [x.shape[1]] * x.shape[0])
        nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(1).sum().backward()
    return step


def measure(head: str, K: int, dim: int, steps: int, device: str) -> dict:
    no_dropout = HeadConfig(dropout=0.0)
    models = [create_head(head, dim, config=no_dropout, random_state=k).to(device).train() for k in range(K)]
    x = torch.randn(K, 32, 10, dim, device=device)
    y = torch.randint(0, 2, (K, 32), device=device).float()
    out = {}
    for name, make in (("loop", lambda: (lambda a, b: _loop(models, a, b))), ("vmap", lambda: _vmap_step(models)),
                       ("stacked", lambda: _stacked_step(models))):
        try:
            fn = make()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fn(x, y)  # warm-up (and vmap's fallback warnings, if any)
            times = []
            for _ in range(steps):
                t = time.perf_counter()
                fn(x, y)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
            out[name] = {"ms": 1000 * statistics.median(times),
                         "warnings": sorted({str(w.message)[:160] for w in caught})}
        except Exception as exc:  # a way that cannot run is a result too
            out[name] = {"ms": None, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    prov = provenance.collect(config=vars(args) | {"out": str(args.out)}, seeds={}, device=args.device)
    rows = []
    lines = [f"device {args.device}, {torch.get_num_threads()} threads; ms per training step (forward + backward) "
             "of K heads, batch 32 x 10 frames", "", "| head | K | dim | loop | vmap | stacked |", "|---|---:|---:|---:|---:|---:|"]
    for head in ("LSTM", "GRU", "SimpleRNN"):
        for K in (5, 20):
            dim = 1280
            r = measure(head, K, dim, args.steps, args.device)
            rows.append({"head": head, "K": K, "dim": dim, **r})
            cell = lambda k: f"{r[k]['ms']:.1f}" if r[k]["ms"] is not None else "error"  # noqa: E731
            lines.append(f"| {head} | {K} | {dim} | {cell('loop')} | {cell('vmap')} | {cell('stacked')} |")
            print(lines[-1], flush=True)
    notes = sorted({w for r in rows for w in r["vmap"].get("warnings", [])} | {r["vmap"]["error"] for r in rows if "error" in r["vmap"]})
    lines += ["", "vmap messages:"] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"batched_choice_{args.device.split(':')[0]}"
        (args.out / f"{stem}.md").write_text(text)
        (args.out / f"{stem}.json").write_text(json.dumps({"provenance": prov, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
