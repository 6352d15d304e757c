"""Windows of frames (PROTOCOL §4 steps 3-4), without materialising them.

A :class:`Windows` holds the frame array once plus the start index of every window;
indexing it gathers only the requested windows, so UMN with repvgg_a0 (12,278 windows
x 10 x 1280 floats, 628 MB if copied) costs the 63 MB of its frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils import shuffle as sk_shuffle

from ..errors import InputError

SEQ_LEN = 10  # frames per window in the paper


@dataclass(frozen=True)
class Windows:
    """Windows ``X[s : s + seq_len]`` for each start ``s``, labelled by their last frame."""

    X: np.ndarray  # (N, D) frames
    y: np.ndarray  # (N,) frame labels
    starts: np.ndarray  # (n,) int64 window start indices into X
    seq_len: int = SEQ_LEN
    # (N,) the row of the source features each frame of X is (X may be reordered: shuffled,
    # sorted by clip); None: X is the source itself. Lets a window's scores go back to frames.
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def labels(self) -> np.ndarray:
        """(n,) label of each window: the label of its last frame."""
        return self.y[self.starts + self.seq_len - 1]

    @property
    def label_rows(self) -> np.ndarray:
        """(n,) source row of each window's last frame (the frame that gives its label)."""
        last = self.starts + self.seq_len - 1
        return last if self.rows is None else self.rows[last]

    def frame_rows(self, idx: np.ndarray) -> np.ndarray:
        """Source rows of every frame of the windows ``idx``, each row once."""
        pos = np.unique((self.starts[np.asarray(idx, dtype=np.int64)][:, None] + np.arange(self.seq_len)).ravel())
        return pos if self.rows is None else self.rows[pos]

    def __getitem__(self, idx) -> np.ndarray:
        """(len(idx), seq_len, D) copy of the selected windows only."""
        rows = self.starts[idx][..., None] + np.arange(self.seq_len)  # (k, T) frame indices
        return self.X[rows]

    def subset(self, idx: np.ndarray) -> "Windows":
        """The windows at positions ``idx``, sharing the frame array."""
        return Windows(self.X, self.y, self.starts[np.asarray(idx)], self.seq_len, self.rows)


def _check(X: np.ndarray, y: np.ndarray, seq_len: int) -> None:
    if X.ndim != 2:
        raise InputError(f"X must have shape (n_frames, n_features), found {X.shape}")
    if len(X) != len(y):
        raise InputError(
            f"Found input variables with inconsistent numbers of samples: X has {len(X)}, y has {len(y)}"
        )
    if seq_len < 1:
        raise InputError(f"seq_len must be >= 1, found {seq_len}")


def sliding_windows(X: np.ndarray, y: np.ndarray, seq_len: int = SEQ_LEN) -> Windows:
    """Stride-1 windows over the whole array: ``N - seq_len + 1`` of them.

    X : array of shape (N, D); y : array of shape (N,)
    """
    _check(X, y, seq_len)
    if len(X) < seq_len:
        raise InputError(f"need at least seq_len={seq_len} frames for one window, found {len(X)}")
    return Windows(X, y, np.arange(len(X) - seq_len + 1, dtype=np.int64), seq_len)


def paper_sequences(
    X: np.ndarray, y: np.ndarray, seq_len: int = SEQ_LEN, random_state: int = 42, rows: np.ndarray | None = None
) -> Windows:
    """The notebooks' ``create_sequences``: ``shuffle(X, y, random_state=42)`` of the frames,
    THEN stride-1 windows labelled by their last frame (so a window is 10 random frames).

    rows : (N,) the source row of each frame of X, shuffled along (one permutation for all
    arrays, the one the notebooks' two-array shuffle draws) into :attr:`Windows.rows`.
    """
    _check(X, y, seq_len)
    rows = np.arange(len(X), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    Xs, ys, rs = sk_shuffle(X, y, rows, random_state=random_state)
    w = sliding_windows(Xs, ys, seq_len)
    return Windows(w.X, w.y, w.starts, seq_len, rs)


def clip_window_starts(clips: np.ndarray, seq_len: int = SEQ_LEN) -> np.ndarray:
    """Starts of the windows that lie entirely inside one clip.

    clips : array of shape (N,), the clip id of each frame, frames of a clip contiguous
    and in temporal order. Returns int64 array of shape (n,).
    """
    clips = np.asarray(clips)
    if len(clips) < seq_len:
        return np.empty(0, np.int64)
    same = np.lib.stride_tricks.sliding_window_view(clips, seq_len)  # (N-T+1, T)
    ok = (same == same[:, :1]).all(axis=1)
    return np.flatnonzero(ok).astype(np.int64)


def temporal_windows(
    X: np.ndarray, y: np.ndarray, clips: np.ndarray, seq_len: int = SEQ_LEN, rows: np.ndarray | None = None
) -> Windows:
    """Temporal windows built inside each clip (the strict protocol's sequences).

    X : (N, D) frames sorted by clip then frame index; y : (N,); clips : (N,)
    rows : (N,) the source row of each frame of X (:attr:`Windows.rows`), or None.
    """
    _check(X, y, seq_len)
    if len(clips) != len(X):
        raise InputError(f"clips has {len(clips)} entries, X has {len(X)} frames")
    clips = np.asarray(clips)
    runs = 1 + np.count_nonzero(clips[1:] != clips[:-1]) if len(clips) else 0
    if runs != len(np.unique(clips)):
        raise InputError("frames of each clip must be contiguous (sort by clip, then frame index)")
    return Windows(X, y, clip_window_starts(clips, seq_len), seq_len,
                   None if rows is None else np.asarray(rows, np.int64))
