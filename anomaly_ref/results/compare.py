"""Put a reproduced summary beside the paper's published figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import InputError
from ..registry import METRICS
from ..valuefmt import format_value


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

    reference : the table of :func:`anomaly_ref.results.workbook.load_reference`.
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


@dataclass(frozen=True)
class Tolerance:
    """How far a reproduced mean may sit from the published one and still count as reproduced.

    A metric passes iff ``|ours - paper| <= max(abs_tol, n_std * sqrt(std_ours**2 + std_paper**2))``:
    an absolute floor (the workbooks print 4 decimals and our RNG is not Keras') widened
    by the run-to-run spread both sides report.
    """

    abs_tol: float = 0.01  # absolute floor on |delta| of the means
    n_std: float = 3.0  # multiples of the combined population std of the 5-run spreads

    def bound(self, d: MetricDiff) -> float:
        return max(self.abs_tol, self.n_std * float(np.hypot(d.ours[1], d.paper[1])))

    def ok(self, d: MetricDiff) -> bool:
        return bool(np.isfinite(d.delta)) and abs(d.delta) <= self.bound(d)

    def __str__(self) -> str:
        return f"abs={self.abs_tol:g},nstd={self.n_std:g}"

    @classmethod
    def parse(cls, text: str) -> "Tolerance":
        """``"abs=0.01,nstd=3"`` (either part optional) -> Tolerance."""
        fields = {"abs": "abs_tol", "nstd": "n_std"}
        values = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            if key not in fields:
                raise InputError(f"tolerance {text!r}: unknown key {key!r}; valid: {', '.join(fields)}")
            try:
                values[fields[key]] = float(value)
            except ValueError:
                raise InputError(f"tolerance {text!r}: {key} must be a number, found {value!r}") from None
            if values[fields[key]] < 0:
                raise InputError(f"tolerance {text!r}: {key} must be >= 0, found {value}")
        return cls(**values)


def failures(diffs: list[MetricDiff], tol: Tolerance) -> list[str]:
    """One line per metric outside tolerance: field, value, threshold."""
    return [
        f"{d.metric}: ours {format_value(*d.ours)} vs paper {format_value(*d.paper)}, "
        f"|delta| {abs(d.delta):.4f} > {tol.bound(d):.4f} ({tol})"
        for d in diffs
        if not tol.ok(d)
    ]
