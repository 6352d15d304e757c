"""Batched k-th-nearest-neighbour distances in torch, with an optional same-group exclusion.

The patch memory bank (:mod:`.patchbank`), the motion scorer (:mod:`.motion`) and the
velocity scorer (:mod:`.velocity`) all need the distance of many query vectors to the k-th
nearest of many bank vectors. scikit-learn's brute search materialises the whole (m, n)
distance matrix; here queries go in chunks through ``torch.cdist`` so memory stays at
``chunk x n`` floats per location.

Leave-one-clip-out scores need each training frame scored against the bank *without* its
own clip: ``bank_groups`` / ``query_groups`` mark bank entries that share the query's group
as unusable (distance +inf), which equals a bank built from the other clips only when the
bank was subsampled at random.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError

CHUNK_ELEMENTS = 1 << 24  # floats of one (L, chunk, n) distance block (64 MB): bounds memory


def kth_distance(bank: np.ndarray, queries: np.ndarray, k: int = 1, *, bank_groups: np.ndarray | None = None,
                 query_groups: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distance of every query to its ``k``-th nearest bank vector.

    bank : (n, F) or (L, n, F) — with a leading location axis L, each location has its own bank;
    queries : (m, F) or (L, m, F), the same layout;
    bank_groups : (n,) int and query_groups : (m,) int, both or neither: bank entries of the
    query's own group are skipped.
    Returns (m,) or (L, m) float32.
    """
    b = torch.as_tensor(np.asarray(bank, np.float32))
    q = torch.as_tensor(np.asarray(queries, np.float32))
    flat = b.ndim == 2
    if flat:
        b, q = b[None], q[None]
    if b.ndim != 3 or q.ndim != 3 or b.shape[0] != q.shape[0] or b.shape[2] != q.shape[2]:
        raise InputError(f"bank {tuple(bank.shape)} and queries {tuple(queries.shape)} do not match: "
                         "expected (n, F) and (m, F), or (L, n, F) and (L, m, F)")
    L, n, _ = b.shape
    m = q.shape[1]
    if (bank_groups is None) != (query_groups is None):
        raise InputError("bank_groups and query_groups go together: give both or neither")
    if bank_groups is not None:
        bg = torch.as_tensor(np.asarray(bank_groups, np.int64))
        qg = torch.as_tensor(np.asarray(query_groups, np.int64))
        if len(bg) != n or len(qg) != m:
            raise InputError(f"bank_groups has {len(bg)} entries for {n} bank vectors, query_groups {len(qg)} for {m} queries")
        usable = int(min((bg != g).sum() for g in torch.unique(qg)))
    else:
        bg = qg = None
        usable = n
    if not 1 <= k <= usable:
        raise InputError(f"k must be in [1, {usable}] (usable bank vectors per query), found {k}")
    out = torch.empty((L, m), dtype=torch.float32)
    step = max(1, CHUNK_ELEMENTS // max(1, L * n))
    with torch.no_grad():
        for s in range(0, m, step):
            d = torch.cdist(q[:, s:s + step], b, compute_mode="use_mm_for_euclid_dist")  # (L, c, n)
            if bg is not None:
                d.masked_fill_((qg[s:s + step, None] == bg[None, :])[None], float("inf"))
            out[:, s:s + step] = d.topk(k, dim=2, largest=False).values[:, :, -1] if k > 1 else d.amin(dim=2)
    out = out.clamp_min_(0)  # the mm form can round a zero distance slightly negative
    return out[0].numpy() if flat else out.numpy()


def fit_locations(train: np.ndarray) -> np.ndarray:
    """A per-location bank (the camera is fixed, so each grid cell has its own normal vectors):
    (n, L, F) training features -> (L, n, F)."""
    return np.ascontiguousarray(np.asarray(train, np.float32).transpose(1, 0, 2))


def score_locations(bank: np.ndarray, features: np.ndarray, k: int = 1, *, bank_groups: np.ndarray | None = None,
                    query_groups: np.ndarray | None = None, what: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Frame scores (m,) = max over locations of the k-th-NN distance, and the (m, L) cell scores.

    bank : (L, n, F) from :func:`fit_locations`; features : (m, L, F). Groups as in
    :func:`kth_distance` (leave-one-clip-out); ``what`` names the features in errors."""
    q = np.ascontiguousarray(np.asarray(features, np.float32).transpose(1, 0, 2))
    if q.shape[0] != bank.shape[0] or q.shape[2] != bank.shape[2]:
        raise InputError(f"{what} {features.shape} do not fit a bank of {bank.shape}: another grid or another "
                         "vector per cell")
    cells = kth_distance(bank, q, k, bank_groups=bank_groups, query_groups=query_groups).T  # (m, L)
    return cells.max(axis=1), cells
