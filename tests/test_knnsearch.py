"""Batched k-th-NN distances (issue 23) against a brute-force reference."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from anomaly_ref.errors import InputError
from anomaly_ref.protocol import knnsearch
from anomaly_ref.protocol.knnsearch import kth_distance


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 30), m=st.integers(1, 20), k=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_matches_brute_force_with_groups(n, m, k, seed):
    rng = np.random.default_rng(seed)
    bank, queries = rng.normal(size=(n, 4)), rng.normal(size=(m, 4))
    bg, qg = rng.integers(0, 3, n), rng.integers(0, 3, m)
    usable = min((bg != g).sum() for g in np.unique(qg))
    if usable < k:
        with pytest.raises(InputError, match="k must be in"):
            kth_distance(bank, queries, k, bank_groups=bg, query_groups=qg)
        return
    got = kth_distance(bank, queries, k, bank_groups=bg, query_groups=qg)
    d = np.linalg.norm(queries[:, None] - bank[None], axis=2)
    d[qg[:, None] == bg[None, :]] = np.inf
    want = np.sort(d, axis=1)[:, k - 1]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_locations_and_chunks(monkeypatch):
    monkeypatch.setattr(knnsearch, "CHUNK_ELEMENTS", 7)  # forces one query per chunk
    rng = np.random.default_rng(0)
    bank, q = rng.normal(size=(3, 10, 2)), rng.normal(size=(3, 5, 2))
    got = kth_distance(bank, q, 2)
    want = np.sort(np.linalg.norm(q[:, :, None] - bank[:, None], axis=3), axis=2)[:, :, 1]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_errors():
    with pytest.raises(InputError, match="give both or neither"):
        kth_distance(np.zeros((3, 2)), np.zeros((1, 2)), bank_groups=np.zeros(3))
    with pytest.raises(InputError, match="do not match"):
        kth_distance(np.zeros((3, 2)), np.zeros((1, 3)))
