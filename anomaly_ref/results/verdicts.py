"""Configurations in, verdicts out: each metric of each configuration against the paper.

Pure: :func:`judge` takes the merged entries of :mod:`.sources`, the published table
(:func:`.workbook.load_reference`) and a :class:`.compare.Tolerance`, and returns one
:class:`.report.Row` per metric (or one per configuration without results), which the
renderers (Markdown, HTML, XLSX, plots) all read, so every output shows the same verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .. import registry
from .compare import Tolerance, diff, paper_summary
from .report import STATUSES, Row, summary_counts
from .sources import Entry


def published(entries: Sequence[Entry], reference) -> dict[tuple, dict[str, tuple[float, float]] | None]:
    """``{entry.key: the paper's {metric: (mean, std)}, or None}`` for every entry, run or not:
    a configuration that did not run still has the figure it would have been judged against."""
    return {e.key: paper_summary(reference, e.dataset, e.extractor, e.head) for e in entries}


def judge(entries: Sequence[Entry], reference, tolerance: Tolerance) -> list[Row]:
    rows: list[Row] = []
    for e in entries:
        keys = dict(dataset=e.dataset, extractor=e.extractor, head=e.head, protocol=e.protocol)
        if e.summary is None:
            rows.append(Row(**keys, error=e.error or "no results", not_run=e.not_run))
            continue
        figures = paper_summary(reference, e.dataset, e.extractor, e.head)
        if figures is None:  # not a configuration of the paper (a backbone or head it did not use)
            rows += [Row(**keys, metric=m, ours=tuple(e.summary[m])) for m in registry.METRICS]
            continue
        rows += [Row(**keys, metric=d.metric, ours=d.ours, paper=d.paper, bound=tolerance.bound(d), ok=tolerance.ok(d))
                 for d in diff(e.summary, figures)]
    return rows


@dataclass(frozen=True)
class Tally:
    """One dataset's line of the summary: configurations and cells by verdict."""

    dataset: str
    configurations: int  # all configurations reported (run or not)
    ran: int  # configurations with results
    cells: dict[str, int]  # STATUSES -> count (error / not run count configurations, the rest metric cells)


def tallies(rows: Sequence[Row]) -> list[Tally]:
    """Per dataset (registry order), and a last line ``"all"`` over every dataset."""
    out = []
    groups = [(d, [r for r in rows if r.dataset == d]) for d in registry.DATASETS]
    for name, rs in [*((d, rs) for d, rs in groups if rs), ("all", list(rows))]:
        configs = {(r.dataset, r.extractor, r.head, r.protocol) for r in rs}
        ran = {(r.dataset, r.extractor, r.head, r.protocol) for r in rs if not r.error}
        out.append(Tally(name, len(configs), len(ran), summary_counts(rs)))
    return out


def config_status(rows: Sequence[Row]) -> str:
    """One verdict for a configuration's rows: its error, else ``off`` if any metric is
    off, ``unpublished`` without paper figures, else ``ok``."""
    statuses = {r.status for r in rows}
    for s in ("not run", "error", "off", "unpublished"):
        if s in statuses:
            return s
    assert statuses <= set(STATUSES), statuses
    return "ok"
