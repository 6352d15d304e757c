"""Score fusion: each scorer standardised on normal reference scores, then summed.

Scores of different scorers live on different scales (a patch distance, a motion energy
distance, a prediction error). Each is turned into a z-score with the mean and standard
deviation of that scorer's *reference* scores: leave-one-Train-clip-out scores (or, for the
predictor, its held-out Train clips), i.e. how unseen normal video scores. Test frames never
enter the standardisation. The fused score is the sum of the z-scores.

Shapes: reference (n_r,) per scorer; scores (N,) per scorer; fused (N,).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Standardiser:
    mean: float
    std: float

    @classmethod
    def fit(cls, reference: np.ndarray) -> "Standardiser":
        """From a scorer's reference scores (n_r,) of normal Train frames unseen by its fit."""
        ref = np.asarray(reference, np.float64)
        if len(ref) < 2 or not np.all(np.isfinite(ref)):
            raise InputError(f"standardisation needs >= 2 finite reference scores, found {len(ref)}")
        std = float(ref.std(ddof=1))
        return cls(float(ref.mean()), std if std > 0 else 1.0)  # constant reference: shift only

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return (np.asarray(scores, np.float64) - self.mean) / self.std


def fuse(parts: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Sum of z-scores: ``parts`` maps a scorer name to (reference scores (n_r,), scores (N,))."""
    if not parts:
        raise InputError("fusion needs at least one scorer")
    lengths = {name: len(s) for name, (_, s) in parts.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(f"fused scorers score different numbers of frames: {lengths}")
    return np.sum([Standardiser.fit(ref)(s) for ref, s in parts.values()], axis=0)
