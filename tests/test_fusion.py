"""Score fusion on reference (Train) distributions (issue 23)."""

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.fusion import Standardiser, fuse


def test_standardiser_uses_reference_only():
    s = Standardiser.fit(np.array([1.0, 3.0]))
    assert (s.mean, s.std) == pytest.approx((2.0, np.sqrt(2)))
    np.testing.assert_allclose(s(np.array([2.0, 2 + np.sqrt(2)])), [0, 1])


def test_fuse_sums_z_scores_and_scale_does_not_matter():
    rng = np.random.default_rng(0)
    ref_a, ref_b = rng.normal(size=50), rng.normal(size=50)
    a, b = rng.normal(size=10), rng.normal(size=10)
    base = fuse({"a": (ref_a, a), "b": (ref_b, b)})
    scaled = fuse({"a": (1000 * ref_a + 5, 1000 * a + 5), "b": (ref_b, b)})
    np.testing.assert_allclose(base, scaled)
    np.testing.assert_allclose(base, Standardiser.fit(ref_a)(a) + Standardiser.fit(ref_b)(b))


def test_errors():
    with pytest.raises(InputError, match=">= 2 finite reference"):
        Standardiser.fit(np.array([1.0]))
    with pytest.raises(InputError, match="different numbers of frames"):
        fuse({"a": (np.ones(3), np.ones(2)), "b": (np.ones(3), np.ones(4))})
    with pytest.raises(InputError, match="at least one"):
        fuse({})
