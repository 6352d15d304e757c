"""Put a reproduced summary beside the paper's published figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .registry import METRICS
from .workbook import format_value


@dataclass(frozen=True)
class MetricDiff:
    metric: str
    ours: tuple[float, float]  # (mean, population std) over our runs
    paper: tuple[float, float]  # (mean, std) from reference/paper_results.csv

    @property
    def delta(self) -> float:
        """ours - paper, on the means."""
        return self.ours[0] - self.paper[0]


def paper_summary(reference, dataset: str, extractor: str, head: str) -> dict[str, tuple[float, float]] | None:
    """``{metric: (mean, std)}`` the paper published for one configuration, or None if absent.

    reference : the table of :func:`anomaly_ref.workbook.load_reference`.
    """
    rows = reference[
        (reference["dataset"] == dataset) & (reference["extractor"] == extractor) & (reference["model"] == head)
    ]
    if rows.empty:
        return None
    return {r.metric: (float(r.mean), float(r.std)) for r in rows.itertuples(index=False)}


def diff(ours: Mapping[str, tuple[float, float]], paper: Mapping[str, tuple[float, float]]) -> list[MetricDiff]:
    return [MetricDiff(m, tuple(ours[m]), tuple(paper[m])) for m in METRICS]


def format_diff(diffs: list[MetricDiff]) -> str:
    """A small aligned table: metric, ours, paper, delta of the means."""
    lines = [f"{'metric':<10} {'ours':>17} {'paper':>17} {'delta':>8}"]
    for d in diffs:
        lines.append(f"{d.metric:<10} {format_value(*d.ours):>17} {format_value(*d.paper):>17} {d.delta:>+8.4f}")
    return "\n".join(lines)
