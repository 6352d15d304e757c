"""Evaluation protocols: how windows are built, split, trained on and scored.

``paper`` (PROTOCOL §4-§6) reproduces the notebooks, leakage included: frames shuffled
before windowing, a stratified random split of overlapping windows per run
(``random_state = run``), early stopping on the test split.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from .heads import HeadConfig, create_head
from .metrics import binary_metrics, summarize
from .sequences import SEQ_LEN, Windows, paper_sequences
from .train import TrainConfig, fit, predict_proba

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaperConfig:
    seq_len: int = SEQ_LEN  # frames per window
    shuffle_seed: int = 42  # sklearn.utils.shuffle(random_state=42) before windowing
    test_size: float = 0.2  # train_test_split(test_size=0.2, stratify=y)
    n_runs: int = 5  # run r splits with random_state=r
    # Keras left weight init and dropout unseeded; we seed them with model_seed + r.
    model_seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def seeds(self) -> dict[str, Any]:
        """Every seed a run of this config uses, for provenance."""
        runs = range(self.n_runs)
        return {"shuffle": self.shuffle_seed, "split": list(runs), "model": [self.model_seed + r for r in runs]}


@dataclass
class RunResult:
    run: int
    split_seed: int
    model_seed: int
    metrics: dict[str, float]
    n_train: int
    n_test: int
    epochs: int
    best_epoch: int | None
    stopped_epoch: int | None
    weights_epoch: int | None  # the epoch whose weights were scored
    seconds: float


@dataclass
class ProtocolResult:
    protocol: str
    head: str
    config: dict[str, Any]
    runs: list[RunResult]

    @property
    def summary(self) -> dict[str, tuple[float, float]]:
        return summarize([r.metrics for r in self.runs])

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "head": self.head,
            "config": self.config,
            "runs": [asdict(r) for r in self.runs],
            "summary": {m: {"mean": mu, "std": sd} for m, (mu, sd) in self.summary.items()},
        }


def paper_split(windows: Windows, run: int, test_size: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Indices of run ``run``'s ``train_test_split(..., stratify=y, random_state=run)``.

    Splitting an index array gives exactly the partition that splitting the window array
    would, without copying the windows.
    """
    idx = np.arange(len(windows))
    train_idx, test_idx = train_test_split(
        idx, test_size=test_size, stratify=windows.labels, random_state=run
    )
    return train_idx, test_idx


def run_paper(
    X: np.ndarray,
    y: np.ndarray,
    head: str,
    config: PaperConfig = PaperConfig(),
    *,
    device: str = "cpu",
) -> ProtocolResult:
    """The paper protocol on frames ``X`` of shape (N, D) with labels ``y`` of shape (N,)."""
    windows = paper_sequences(X, y, config.seq_len, random_state=config.shuffle_seed)
    runs = []
    for r in range(config.n_runs):
        t0 = time.perf_counter()
        train_idx, test_idx = paper_split(windows, r, config.test_size)
        train, test = windows.subset(train_idx), windows.subset(test_idx)
        seed = config.model_seed + r
        model = create_head(head, X.shape[1], seq_len=config.seq_len, config=config.head, random_state=seed)
        hist = fit(model, train, test, config=config.train, random_state=seed, device=device)
        proba = predict_proba(model, test, config.train.eval_batch_size, device)
        metrics = binary_metrics(test.labels, proba)
        runs.append(
            RunResult(
                run=r, split_seed=r, model_seed=seed, metrics=metrics,
                n_train=len(train), n_test=len(test), epochs=hist.epochs,
                best_epoch=hist.best_epoch, stopped_epoch=hist.stopped_epoch,
                weights_epoch=hist.weights_epoch,
                seconds=round(time.perf_counter() - t0, 3),
            )
        )
        log.info("%s run %d: %s (%d epochs)", head, r, metrics, hist.epochs)
    return ProtocolResult("paper", head, asdict(config), runs)
