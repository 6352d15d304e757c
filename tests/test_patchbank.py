"""Patch memory bank (issue 23)."""

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.patchbank import PatchBankConfig, fit_bank, greedy_coreset, score_patches


def normal_patches(n, rng, P=16, C=8):
    """(n, 4, 4, C): every patch a small perturbation of one of 3 normal textures."""
    textures = np.eye(C)[:3] * 3
    pick = rng.integers(0, 3, (n, P))
    return (textures[pick] + rng.normal(0, 0.05, (n, P, C))).reshape(n, 4, 4, C).astype(np.float32)


@pytest.mark.parametrize("sampling", ["random", "coreset"])
def test_unseen_patch_raises_the_score(sampling):
    rng = np.random.default_rng(0)
    train = normal_patches(40, rng)
    bank = fit_bank(train, np.repeat(np.arange(4), 10), PatchBankConfig(size=200, sampling=sampling, projection=4))
    assert len(bank.vectors) == 200 and bank.candidates == 40 * 16
    test = normal_patches(6, rng)
    test[3, 2, 1] = np.eye(8)[6] * 3  # a texture no training frame has
    scores, per_patch = score_patches(bank, test)
    assert per_patch.shape == (6, 16)
    assert scores[3] > 5 * np.delete(scores, 3).max()


def test_coreset_covers_outliers_random_may_not():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 0.01, (500, 3)), [[10, 10, 10]]]
    picked = greedy_coreset(X, 5, projection=3, rng=np.random.default_rng(0))
    assert 500 in picked and len(set(picked)) == 5


def test_leave_one_clip_out_skips_own_clip():
    rng = np.random.default_rng(0)
    train = normal_patches(8, rng)
    clips = np.repeat([0, 1], 4)
    bank = fit_bank(train, clips, PatchBankConfig(size=10**6))  # every patch kept
    own, _ = score_patches(bank, train)
    loco, _ = score_patches(bank, train, clips=clips)
    assert own.max() < 0.01 and np.all(loco > 0.05)  # own patch found (mm-form rounding ~1e-3); without it, far


@pytest.mark.parametrize("kw, match", [({"size": 0}, "size must be >= 1"), ({"sampling": "kmeans"}, "valid: random"),
                                       ({"k": 0}, "k must be >= 1")])
def test_config_errors(kw, match):
    with pytest.raises(InputError, match=match):
        PatchBankConfig(**kw)


def test_channel_mismatch_is_refused():
    bank = fit_bank(np.zeros((2, 4, 3), np.float32), [0, 1])
    with pytest.raises(InputError, match="another backbone or layers"):
        score_patches(bank, np.zeros((1, 4, 5), np.float32))
