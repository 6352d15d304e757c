"""Intermediate feature maps of a timm backbone, for patch-level scoring.

The layers are data (``registry.FEATURE_MAP_LAYERS``: module names inside the timm model,
shallow to deep). Forward hooks catch their outputs in the same pass that yields the pooled
features, so the patch bank and the global scorers cost one extraction. Each map is
averaged over a 3x3 neighbourhood (stride 1: a patch sees its surroundings, as in
PatchCore), brought to the grid of the deepest layer by average pooling (or bilinear
upsampling where it is coarser) and concatenated on channels.

Shapes: frames (N, H, W, 3) uint8 RGB -> patches (N, h, w, C) float32 with (h, w) the
deepest layer's grid (lite0 at 224x224: blocks.2 stride 8, blocks.4 stride 16 -> 14x14,
C = 40 + 112) and pooled (N, feature_dim) float32.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..errors import InputError
from ..registry import feature_map_layers, get_backbone
from .fast import preprocess_batch

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureMaps:
    patches: np.ndarray  # (N, h, w, C) float32, the concatenated pooled maps
    pooled: np.ndarray  # (N, feature_dim) float32, the model's globally pooled features
    layers: tuple[str, ...]  # module names the maps came from, shallow to deep


def _module(model: "torch.nn.Module", name: str) -> "torch.nn.Module":
    modules = dict(model.named_modules())
    if name not in modules:
        near = [m for m in modules if m.count(".") <= 1][:20]
        raise InputError(f"layer {name!r} is not a module of the backbone; some valid names: {', '.join(near)}")
    return modules[name]


def _combine(maps: "list[torch.Tensor]") -> "torch.Tensor":
    """(B, C_i, h_i, w_i) maps -> (B, h, w, sum C_i) on the last map's grid."""
    import torch
    import torch.nn.functional as F

    h, w = maps[-1].shape[-2:]
    out = []
    for m in maps:
        m = F.avg_pool2d(m.float(), 3, stride=1, padding=1, count_include_pad=False)
        if m.shape[-2:] != (h, w):
            m = F.adaptive_avg_pool2d(m, (h, w)) if m.shape[-2] >= h else F.interpolate(m, (h, w), mode="bilinear")
        out.append(m)
    return torch.cat(out, dim=1).permute(0, 2, 3, 1).contiguous()


def extract_maps(model: "torch.nn.Module", frames: Sequence, backbone: str, *, layers: Sequence[str] | None = None,
                 batch_size: int = 32, progress: Callable[[int], None] | None = None) -> FeatureMaps:
    """Feature maps and pooled features of ``frames`` (Frames or (H, W, 3) uint8 arrays) with
    ``model`` (from :func:`~.backbones.create_backbone`, eval mode, CPU fp32)."""
    import torch

    spec = get_backbone(backbone)
    layers = tuple(layers) if layers is not None else feature_map_layers(spec.name)
    if not layers:
        raise InputError(f"backbone {spec.name!r} has no feature-map layers in registry.FEATURE_MAP_LAYERS")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, found {batch_size}")
    caught: list = []
    hooks = [_module(model, name).register_forward_hook(lambda _m, _i, out: caught.append(out)) for name in layers]
    patches = pooled = None
    try:
        with torch.inference_mode():
            for s in range(0, len(frames), batch_size):
                items = [frames[i] for i in range(s, min(s + batch_size, len(frames)))]
                imgs = np.stack([getattr(f, "image", f) for f in items])  # (B, H, W, 3) uint8
                x = preprocess_batch(torch.from_numpy(imgs), spec, channels_last=False)
                caught.clear()
                feats = model(x).float()  # (B, feature_dim)
                maps = _combine(list(caught)).numpy()
                if patches is None:
                    patches = np.empty((len(frames), *maps.shape[1:]), np.float32)
                    pooled = np.empty((len(frames), feats.shape[1]), np.float32)
                patches[s:s + len(items)] = maps
                pooled[s:s + len(items)] = feats.numpy()
                if progress:
                    progress(len(items))
    finally:
        for h in hooks:
            h.remove()
    if patches is None:
        raise InputError("no frames to extract feature maps from")
    return FeatureMaps(patches, pooled, layers)
