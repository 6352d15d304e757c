"""PIL's bilinear ``Image.resize`` on batches of tensors, on any device.

The paper resizes with PIL (torchvision ``Resize`` on a PIL image). ``F.interpolate(...,
antialias=True)`` filters the same way but in floating point, without PIL's fixed-point
weights and its rounding to uint8 after each pass; on Ped2 that moved 1-level pixel
differences into features enough to drop the per-frame cosine to ~0.996. This module
follows PIL's resampling arithmetic instead:

- separable, horizontal pass first, then vertical;
- the triangle filter stretched by the scale factor when shrinking (antialiasing), each
  output's weights normalised to sum 1, then quantised to 22 fractional bits;
- each pass rounds half up and clips to 0..255 (PIL stores a uint8 image in between).

The sums are integer, as PIL's are: 8-bit pixels times 22-bit weights stay below 2**31,
so int32 holds them exactly (float32 sums missed PIL's rounding on ~0.1% of pixels).
The result equals PIL's pixel for pixel for the datasets' frame sizes (tests/test_resize.py:
Ped1 158x238, Ped2 240x360, UMN 240x320, Avenue and the JPEG bench 360x640, to 224x224).
For some other size pairs Pillow 13 evidently runs the vertical pass first (not what its
published C source shows), and pixels then differ by at most one level.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

PRECISION_BITS = 22  # PIL: 32 bits - 8 (uint8 pixel) - 2 (headroom)


@functools.lru_cache(maxsize=64)
def bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices and fixed-point weights (units of 2**-22) of each output pixel:
    ``(out_size, T)`` int64 and int32.

    Rows shorter than ``T`` are padded with index 0 and weight 0.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)  # stretch the filter only when shrinking
    support = 1.0 * filterscale  # triangle filter: support 1
    rows = []
    for out in range(out_size):
        center = (out + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        w = np.array([max(0.0, 1.0 - abs((x - center + 0.5) / filterscale)) for x in range(lo, hi)])
        if w.sum() != 0:
            w = w / w.sum()
        # PIL's fixed point: round half away from zero at 2**-22.
        q = np.trunc(w * (1 << PRECISION_BITS) + np.where(w < 0, -0.5, 0.5)).astype(np.int32)
        rows.append((lo, q))
    taps = max(len(q) for _, q in rows)
    index = np.zeros((out_size, taps), dtype=np.int64)
    weight = np.zeros((out_size, taps), dtype=np.int32)
    for out, (lo, q) in enumerate(rows):
        index[out, : len(q)] = np.arange(lo, lo + len(q))
        weight[out, : len(q)] = q
    return index, weight


@functools.lru_cache(maxsize=64)
def _device_taps(in_size: int, out_size: int, device: str) -> "tuple[torch.Tensor, torch.Tensor]":
    """:func:`bilinear_taps` on ``device``, copied once: a copy from pageable host memory
    per batch would wait for the GPU and stall the pipeline."""
    import torch

    index, weight = bilinear_taps(in_size, out_size)
    return torch.from_numpy(index).to(device), torch.from_numpy(weight).to(device)


def _pass(x: "torch.Tensor", out_size: int, dim: int) -> "torch.Tensor":
    """Resample int32 ``x`` (0..255) along ``dim`` to ``out_size``, as PIL's uint8 pass."""
    import torch

    index, weight = _device_taps(x.shape[dim], out_size, str(x.device))
    shape = [1] * x.dim()
    shape[dim] = out_size
    acc = torch.full((), 1 << (PRECISION_BITS - 1), dtype=torch.int32, device=x.device)  # round half up
    for t in range(index.shape[1]):  # T taps: a few (4 for 360 -> 224)
        acc = acc + x.index_select(dim, index[:, t]) * weight[:, t].view(shape)
    return (acc >> PRECISION_BITS).clamp_(0, 255)


def resize_like_pil(x: "torch.Tensor", size: tuple[int, int]) -> "torch.Tensor":
    """``(B, C, H, W)`` uint8 -> ``(B, C, *size)`` int32 in 0..255, equal to PIL's bilinear
    ``Image.resize`` of each image."""
    import torch

    h, w = size
    x = x.to(torch.int32)
    if x.shape[-1] != w:
        x = _pass(x, w, x.dim() - 1)
    if x.shape[-2] != h:
        x = _pass(x, h, x.dim() - 2)
    return x
