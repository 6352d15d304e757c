"""Patch-level appearance scorer: a kNN memory bank of normal training patches (PatchCore-like).

Every patch (one grid cell of a backbone's intermediate feature maps,
:mod:`anomaly_ref.extraction.featuremaps`) of the normal training frames is a candidate; the
bank keeps ``size`` of them, drawn at random or by greedy coreset (farthest-point selection
on a random projection, PatchCore's approximation), and records how many it kept. A frame's
score is the max over its patches of the distance to the nearest bank patch: one unseen
object anywhere makes the frame abnormal.

Shapes: patches (N, h, w, C) or (N, P, C); bank vectors (B, C); scores (N,).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from .knnsearch import kth_distance

SAMPLINGS = ("random", "coreset")


@dataclass(frozen=True)
class PatchBankConfig:
    size: int = 16384  # bank patches kept (of N*P candidates; Ped2 Train: 2550 x 196 = 499,800)
    sampling: str = "random"  # "random": a Train frame's reference skips its own clip's bank entries (a bank ~
    # (n-1)/n the size, drawn from all clips); "coreset": the greedy selection also saw the held-out clip
    k: int = 1  # distance to the k-th nearest bank patch
    projection: int = 128  # coreset only: random projection width for the farthest-point search
    candidates: int = 100_000  # coreset only: random pre-sample the greedy search runs on (its cost is size x candidates)
    seed: int = 0  # subsample, projection and first coreset point

    def __post_init__(self):
        if self.size < 1:
            raise InputError(f"patch bank size must be >= 1, found {self.size}")
        if self.sampling not in SAMPLINGS:
            raise InputError(f"unknown patch bank sampling {self.sampling!r}; valid: {', '.join(SAMPLINGS)}")
        if self.k < 1:
            raise InputError(f"patch bank k must be >= 1, found {self.k}")
        if self.projection < 1 or self.candidates < 1:
            raise InputError(f"projection and candidates must be >= 1, found {self.projection}, {self.candidates}")


@dataclass(frozen=True)
class PatchBank:
    vectors: np.ndarray  # (B, C) float32
    clips: np.ndarray  # (B,) int64 clip code of the frame each patch came from
    candidates: int  # patches it was drawn from
    sampling: str


def as_patches(patches: np.ndarray) -> np.ndarray:
    """(N, h, w, C) or (N, P, C) -> (N, P, C) float32."""
    patches = np.asarray(patches, np.float32)
    if patches.ndim == 4:
        patches = patches.reshape(len(patches), -1, patches.shape[-1])
    if patches.ndim != 3:
        raise InputError(f"patches must be (N, h, w, C) or (N, P, C), found shape {patches.shape}")
    return patches


def greedy_coreset(X: np.ndarray, size: int, *, projection: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (size,) of a farthest-point selection on ``X`` (n, C) projected to ``projection`` dims."""
    x = torch.from_numpy(np.ascontiguousarray(X, np.float32))
    if projection < x.shape[1]:
        g = torch.Generator().manual_seed(int(rng.integers(2**31)))
        x = x @ (torch.randn(x.shape[1], projection, generator=g) / projection**0.5)
    picked = np.empty(size, np.int64)
    picked[0] = int(rng.integers(len(x)))
    dist = torch.linalg.vector_norm(x - x[picked[0]], dim=1)
    for i in range(1, size):
        picked[i] = int(torch.argmax(dist))
        dist = torch.minimum(dist, torch.linalg.vector_norm(x - x[picked[i]], dim=1))
    return picked


def fit_bank(patches: np.ndarray, clips: np.ndarray, config: PatchBankConfig = PatchBankConfig()) -> PatchBank:
    """The bank of the normal training frames' patches (N, ..., C) with each frame's clip code (N,)."""
    p = as_patches(patches)
    clips = np.asarray(clips)
    if len(clips) != len(p):
        raise InputError(f"{len(p)} frames of patches but {len(clips)} clip ids")
    n, P, C = p.shape
    flat = p.reshape(-1, C)
    owner = np.repeat(np.unique(clips.astype(str), return_inverse=True)[1], P)
    rng = np.random.default_rng(config.seed)
    size = min(config.size, len(flat))
    if config.sampling == "random" or size == len(flat):
        keep = np.sort(rng.choice(len(flat), size, replace=False))
    else:
        pool = np.sort(rng.choice(len(flat), min(config.candidates, len(flat)), replace=False))
        size = min(size, len(pool))
        keep = np.sort(pool[greedy_coreset(flat[pool], size, projection=config.projection, rng=rng)])
    return PatchBank(np.ascontiguousarray(flat[keep]), owner[keep].astype(np.int64), len(flat), config.sampling)


def score_patches(bank: PatchBank, patches: np.ndarray, k: int = 1, *,
                  clips: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame scores (m,) = max over patches of the k-th-NN distance to the bank, and (m, P) patch scores.

    clips : (m,) clip codes in the bank's coding (training frames only): each frame is then
    scored without its own clip's bank patches (leave-one-clip-out)."""
    p = as_patches(patches)
    if p.shape[2] != bank.vectors.shape[1]:
        raise InputError(f"patches have {p.shape[2]} channels, the bank {bank.vectors.shape[1]}: another backbone or layers")
    m, P, C = p.shape
    groups = None if clips is None else np.repeat(np.asarray(clips, np.int64), P)
    d = kth_distance(bank.vectors, p.reshape(-1, C), k, bank_groups=None if groups is None else bank.clips,
                     query_groups=groups).reshape(m, P)
    return d.max(axis=1), d
