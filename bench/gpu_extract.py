"""Feature-extraction throughput on one GPU, every figure from one run of this script.

Per backbone (random weights: the hub is unreachable), on real Ped2 frames:
- paper path: ``extract_paper``, batch 1 fp32, PIL preprocessing per image (host frames);
- fast, model only: ``(B, 3, 224, 224)`` already on the GPU, channels-last, bf16 autocast,
  ``torch.compile`` (default mode) where the time budget allows;
- fast pipeline: ``extract_fast`` from host uint8 frames (DataLoader workers, pinned
  copies, PIL-exact GPU resize, streamed output);
- fidelity: per-frame cosine of fast bf16 (and eager fp32) to the paper path.
Then, for convnext_tiny: end to end from 640x360 JPEG bytes (nvJPEG batched decode), and
peak host memory of streaming the 2010 Ped2 frames vs 4x as many (separate processes).

Prints a markdown table and writes JSON (``--out``, default ``$OUT``).
``--smoke`` runs tiny sizes on the CPU to check the script itself.

    python bench/make_gpu_data.py          # once, here: packs .gpu/
    PYTHONPATH=. python bench/gpu_extract.py --device cuda --out $OUT
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anomaly_ref.extraction.backbones import create_backbone  # noqa: E402
from anomaly_ref.extraction.paper import extract_paper  # noqa: E402
from anomaly_ref.extraction.fast import FastConfig, extract_fast, extract_jpeg, forward, prepare_model  # noqa: E402
from anomaly_ref.data.featurefiles import open_features  # noqa: E402
from anomaly_ref.frames.base import FrameSequence, to_rgb  # noqa: E402
from anomaly_ref.frames.sources import read_npz  # noqa: E402
from anomaly_ref import provenance  # noqa: E402
from anomaly_ref.registry import BACKBONES, DATASETS, paper_backbones  # noqa: E402

TARGET = paper_backbones()[0]  # convnext_tiny: the throughput targets
PED2 = DATASETS["ped2"].key  # the frames packed by make_gpu_data.py


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class ArrayFrames(FrameSequence):
    """Gray frames in memory, repeated ``repeat`` times: the memory test's growing source."""

    def __init__(self, gray: np.ndarray, repeat: int = 1):
        n = len(gray) * repeat
        super().__init__(PED2, [0] * n, range(n), [0] * n)
        self.gray = gray

    def _image(self, i: int) -> np.ndarray:
        return to_rgb(self.gray[i % len(self.gray)], PED2)


def nvidia_smi() -> str | None:
    """``name, driver_version, memory.total`` as nvidia-smi prints them (None without it)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def load_jpegs(path: Path) -> list[bytes]:
    with np.load(path) as d:
        data, offsets = d["data"], d["offsets"]
    return [data[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]


def decode_gray(jpegs: list[bytes]) -> np.ndarray:
    import cv2

    return np.stack([cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_GRAYSCALE) for j in jpegs])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


def time_model_only(prepared, config: FastConfig, dim: int, iters: int) -> float:
    """images/s of forward passes on a batch already on the device (compiled on warm-up)."""
    x = torch.randn(config.batch_size, 3, 224, 224, device=config.device)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(3):
            out = forward(prepared, x, config)
        sync(config.device)
        assert out.shape == (config.batch_size, dim)
        t = time.perf_counter()
        for _ in range(iters):
            forward(prepared, x, config)
        sync(config.device)
    return config.batch_size * iters / (time.perf_counter() - t)


def bench_backbone(name, args, subset_rgb, pipeline_frames, results, t_start):
    spec = BACKBONES[name]
    row = {"backbone": name}
    model = create_backbone(name, pretrained=False)

    # Paper path: batch 1 fp32 with per-image PIL preprocessing, after warm-up.
    extract_paper(model, subset_rgb[: args.warmup], spec, device=args.device)
    sync(args.device)
    n = min(args.paper_images, len(subset_rgb))
    t = time.perf_counter()
    paper = extract_paper(model, subset_rgb[:n], spec, device=args.device)
    sync(args.device)
    row["paper_ips"] = n / (time.perf_counter() - t)
    log(f"{name}: paper path {row['paper_ips']:.1f} img/s ({n} images)")

    # Fast fp32 eager: fidelity to the paper path (same TF32 defaults as the paper path).
    fp32 = FastConfig(device=args.device, precision="fp32", batch_size=args.batch, num_workers=0)
    fast32 = extract_fast(model, subset_rgb[:n], spec, config=fp32)
    row["cos_fp32_min"] = float(cosine(fast32, paper).min())

    # Fast bf16 eager, model only.
    eager = FastConfig(device=args.device, batch_size=args.batch, num_workers=args.workers)
    prepared = prepare_model(model, eager)
    row["fast_eager_ips"] = time_model_only(prepared, eager, spec.feature_dim, args.iters)

    # Compiled, if the time budget allows (compiling happens in the first forward).
    over = time.perf_counter() - t_start > args.compile_budget
    compiled = args.compile and not over
    config = FastConfig(device=args.device, batch_size=args.batch, num_workers=args.workers, compile=compiled)
    if compiled:
        t = time.perf_counter()
        try:
            prepared = prepare_model(model, config)
            row["fast_ips"] = time_model_only(prepared, config, spec.feature_dim, args.iters)
        except Exception as exc:  # a missing toolchain must not cost the whole run
            log(f"{name}: torch.compile failed ({type(exc).__name__}: {str(exc)[:300]}); eager instead")
            row["compile_error"] = f"{type(exc).__name__}: {exc}"[:2000]
            compiled = False
            config = FastConfig(device=args.device, batch_size=args.batch, num_workers=args.workers)
            prepared = prepare_model(model, config)
    if compiled:
        row["compile_s"] = time.perf_counter() - t  # includes the warm-up and timed iterations
    else:
        row["fast_ips"] = row["fast_eager_ips"]
        row["compile_s"] = None
    row["compiled"] = compiled
    log(f"{name}: fast model-only {row['fast_ips']:.0f} img/s (eager {row['fast_eager_ips']:.0f}, compiled={compiled})")

    # Fidelity of the fast bf16 path (the one timed) to the paper path.
    fast16 = extract_fast(model, subset_rgb[:n], spec, config=config, prepared=prepared)
    row["cos_bf16_min"] = float(cosine(fast16, paper).min())
    row["cos_bf16_mean"] = float(cosine(fast16, paper).mean())

    # Pipeline from host frames (decode/copy in workers, GPU resize), warm then timed.
    extract_fast(model, pipeline_frames[: args.batch * 2], spec, config=config, prepared=prepared)
    sync(args.device)
    t = time.perf_counter()
    extract_fast(model, pipeline_frames, spec, config=config, prepared=prepared)
    sync(args.device)
    row["pipeline_ips"] = len(pipeline_frames) / (time.perf_counter() - t)
    row["speedup"] = row["fast_ips"] / row["paper_ips"]
    log(f"{name}: pipeline {row['pipeline_ips']:.0f} img/s; cos bf16 min {row['cos_bf16_min']:.5f}, fp32 min {row['cos_fp32_min']:.6f}")
    results["backbones"].append(row)
    return model, prepared, config


def bench_jpeg(model, prepared, config, jpegs, args, results):
    """End to end from 640x360 JPEG bytes: nvJPEG decode, PIL-exact resize, model, to host."""
    from anomaly_ref.extraction.fast import decode_jpegs, jpeg_batches

    spec = BACKBONES[TARGET]
    extract_jpeg(model, jpegs[: config.batch_size * 2], spec, config=config, prepared=prepared)
    sync(args.device)
    t = time.perf_counter()
    extract_jpeg(model, jpegs, spec, config=config, prepared=prepared)
    sync(args.device)
    e2e = len(jpegs) / (time.perf_counter() - t)
    t = time.perf_counter()
    for _, data in jpeg_batches(jpegs, config.batch_size):
        decode_jpegs(data, args.device)
    sync(args.device)
    decode = len(jpegs) / (time.perf_counter() - t)
    results["jpeg"] = {"backbone": TARGET, "images": len(jpegs), "size": "640x360",
                       "e2e_ips": e2e, "decode_only_ips": decode}
    log(f"JPEG 640x360 -> {TARGET}: end to end {e2e:.0f} img/s (decode alone {decode:.0f} img/s)")


def _rss_mib(pid: int | str = "self") -> float:
    """Resident set of a process, MiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _children() -> list[str]:
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


class RssSampler:
    """Peak resident memory of this process and of it plus its workers, sampled every 20 ms."""

    def __init__(self):
        import threading

        self.peak_self = self.peak_total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.02):
            own = _rss_mib()
            self.peak_self = max(self.peak_self, own)
            self.peak_total = max(self.peak_total, own + sum(_rss_mib(c) for c in _children()))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def memory_child(args) -> None:
    """One process: stream ``repeat`` x 2010 frames into a .npy; print peak RSS as JSON."""
    import tempfile

    gray = decode_gray(load_jpegs(args.data / "ped2_jpeg.npz"))
    if args.smoke:
        gray = gray[:40]
    frames = ArrayFrames(gray, args.memory_child)
    spec = BACKBONES[TARGET]
    model = create_backbone(TARGET, pretrained=False)
    # Batch 128: 6 workers x 2 prefetched batches = 12 batches (1536 frames) in flight, fewer
    # than 2010, so both runs fill the pipeline and differ only in the number of frames.
    config = FastConfig(device=args.device, batch_size=args.memory_batch, num_workers=args.workers)
    base = _rss_mib()
    with tempfile.TemporaryDirectory() as tmp, RssSampler() as rss:
        out = open_features(Path(tmp) / "f.npy", len(frames), spec.feature_dim)
        t = time.perf_counter()
        extract_fast(model, frames, spec, out=out, config=config)
        sync(args.device)
        secs = time.perf_counter() - t
        assert np.isfinite(out[-1]).all() and np.abs(out[-1]).sum() > 0  # the last row was written
    print(json.dumps({
        "frames": len(frames), "seconds": secs,
        "rss_before_extract_mib": base,
        "peak_rss_mib": rss.peak_self,  # this process, during extraction
        "peak_total_rss_mib": rss.peak_total,  # with its DataLoader workers
        "process_lifetime_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def bench_memory(args, results) -> None:
    rows = []
    for repeat in (1, 4):
        cmd = [sys.executable, __file__, "--memory-child", str(repeat), "--device", args.device,
               "--data", str(args.data), "--memory-batch", str(args.memory_batch), "--workers", str(args.workers)]
        cmd += ["--smoke"] if args.smoke else []
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"memory child failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        log(f"memory: {row['frames']} frames, peak RSS {row['peak_rss_mib']:.0f} MiB "
            f"(before extraction {row['rss_before_extract_mib']:.0f}), with workers {row['peak_total_rss_mib']:.0f} MiB")
    results["memory"] = rows


def table(results) -> str:
    lines = [
        "| backbone | paper path img/s (batch 1, fp32) | fast model-only img/s (bf16, channels-last) | compiled | fast / paper | fast pipeline img/s (host frames) | cos bf16 min | cos fp32 min |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results["backbones"]:
        lines.append(
            f"| {r['backbone']} | {r['paper_ips']:.1f} | {r['fast_ips']:.0f} (eager {r['fast_eager_ips']:.0f}) | "
            f"{'yes' if r['compiled'] else 'no'} | {r['speedup']:.1f}x | {r['pipeline_ips']:.0f} | "
            f"{r['cos_bf16_min']:.5f} | {r['cos_fp32_min']:.6f} |"
        )
    if "jpeg" in results:
        j = results["jpeg"]
        lines += ["", f"End to end from {j['size']} JPEG bytes ({j['images']} images, {j['backbone']}, nvJPEG "
                  f"batched decode + PIL-exact GPU resize + model + copy to host): {j['e2e_ips']:.0f} img/s; "
                  f"decode alone {j['decode_only_ips']:.0f} img/s"]
    if "memory" in results:
        lines += ["", "| frames streamed | RSS before extraction MiB | peak RSS during extraction MiB | peak incl. workers MiB | seconds |",
                  "|---:|---:|---:|---:|---:|"]
        for m in results["memory"]:
            lines.append(f"| {m['frames']} | {m['rss_before_extract_mib']:.0f} | {m['peak_rss_mib']:.0f} | "
                         f"{m['peak_total_rss_mib']:.0f} | {m['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", type=Path, default=Path(".gpu"))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out")))
    parser.add_argument("--backbones", default=",".join(paper_backbones()))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--iters", type=int, default=30, help="timed model-only batches")
    parser.add_argument("--memory-batch", type=int, default=128)
    parser.add_argument("--paper-images", type=int, default=160)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--compile-budget", type=float, default=240,
                        help="seconds into the run after which backbones are no longer compiled")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU check of the script)")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.iters, args.paper_images, args.warmup, args.workers = 4, 2, 6, 1, 2
        args.memory_batch = 4
    if args.memory_child:
        return memory_child(args)

    t_start = time.perf_counter()
    import timm
    import torchvision

    results = {
        "argv": sys.argv, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "timm": timm.__version__, "device": args.device, "batch": args.batch, "backbones": [],
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        # python, versions, CPU count, git (None where the copy has no commits), nvidia-smi
        "provenance": provenance.collect(config=vars(args) | {"data": str(args.data), "out": str(args.out)},
                                         seeds={}, device=args.device),
        "nvidia_smi": nvidia_smi() if args.device.startswith("cuda") else None,
    }
    log(f"torch {results['torch']} torchvision {results['torchvision']} timm {results['timm']} on {results['gpu'] or args.device}")
    prov = results["provenance"]
    log(f"python {prov['versions']['python']}, {prov['device']['cpu_count']} CPUs, git {prov['git']['commit']}"
        f" (dirty {prov['git']['dirty']}); nvidia-smi: {results['nvidia_smi']}")
    subset = read_npz(args.data / "ped2_subset.npz", PED2).frames
    subset_rgb = [f.image for f in subset]  # (240, 360, 3) uint8, lossless Ped2 frames
    jpegs = load_jpegs(args.data / "ped2_jpeg.npz")
    pipeline_frames = ArrayFrames(decode_gray(jpegs[: (16 if args.smoke else 2048)]))
    args.out.mkdir(parents=True, exist_ok=True)

    def save():
        (args.out / "gpu_extract.json").write_text(json.dumps(results, indent=1))
        (args.out / "gpu_extract.md").write_text(table(results) + "\n")

    names = args.backbones.split(",")
    for name in sorted(names, key=lambda n: n != TARGET):  # the target first: its figures matter most
        model, prepared, config = bench_backbone(name, args, subset_rgb, pipeline_frames, results, t_start)
        save()
        if name == TARGET:
            import cv2

            big = [cv2.imencode(".jpg", cv2.resize(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), (640, 360)),
                                [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                   for j in jpegs[: (8 if args.smoke else 2048)]]
            bench_jpeg(model, prepared, config, big, args, results)
            save()
            if not args.skip_memory:
                bench_memory(args, results)
                save()
        del model, prepared
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    results["total_s"] = time.perf_counter() - t_start
    save()
    print(table(results))
    log(f"done in {results['total_s']:.0f} s")


if __name__ == "__main__":
    main()
