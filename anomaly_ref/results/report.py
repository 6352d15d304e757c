"""The diff report against the paper: rows in, JSON and Markdown out."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from .. import registry
from ..fileio import atomic_write_text, dumps_json
from ..valuefmt import format_value

# A metric as every table and plot of the report names it. The workbooks' labels stay in the
# workbook layout (the authors wrote "Auc"); everywhere else ROC-AUC is "ROC-AUC", as in the paper.
METRIC_TITLES = {m: ("ROC-AUC" if m == "roc_auc" else metric.label) for m, metric in registry.METRICS.items()}


@dataclass(frozen=True)
class Row:
    """One (dataset, extractor, head, metric) cell, or one configuration without results
    (``error``: it failed; with ``not_run``: it never started, e.g. its features could not be
    had). ``paper`` is None for a configuration the paper did not publish."""

    dataset: str
    extractor: str
    head: str
    metric: str | None = None
    ours: tuple[float, float] | None = None
    paper: tuple[float, float] | None = None
    bound: float | None = None
    ok: bool | None = None
    error: str | None = None
    protocol: str = "paper"
    not_run: bool = False

    @property
    def status(self) -> str:
        if self.error:
            return "not run" if self.not_run else "error"
        if self.paper is None:
            return "unpublished"
        return "ok" if self.ok else "off"

    @property
    def verdict(self) -> str:
        """The status, with the error where there is one: ``"not run: the ped1 features ..."``."""
        return f"{self.status}: {reason(self.status, self.error)}" if self.error else self.status


def reason(status: str, error: str | None) -> str:
    """``error`` without leading ``"<status>:"`` prefixes, so a verdict carries its status once
    (the bench's not-run reasons begin with "not run: " of their own)."""
    text = (error or "").strip()
    while text.lower().startswith(f"{status}:"):
        text = text[len(status) + 1:].lstrip()
    return text


STATUSES = ("ok", "off", "error", "not run", "unpublished")


def summary_counts(rows: Iterable[Row]) -> dict[str, int]:
    """How many cells reproduced (``ok``), missed tolerance (``off``), have no published
    figure (``unpublished``), and how many configurations failed (``error``) or never ran
    (``not run``)."""
    c = Counter(r.status for r in rows)
    return {k: c.get(k, 0) for k in STATUSES}


def _md_row(cells: Iterable[object]) -> str:
    """One pipe-table row; a "|" or a line break inside a cell would split it, so neither stays."""
    return "| " + " | ".join(" ".join(str(c).split()).replace("|", "\\|") for c in cells) + " |"


HEADER = ("dataset", "extractor", "head", "protocol", "metric", "ours", "paper", "delta", "bound", "status")


def markdown_cells(r: Row) -> tuple[str, ...]:
    """A row's cells under :data:`HEADER`, one per column whatever the row's status."""
    keys = (r.dataset, r.extractor, r.head, r.protocol)
    if r.error:
        return (*keys, "", "", "", "", "", r.verdict)
    metric, ours = METRIC_TITLES.get(r.metric, r.metric), format_value(*r.ours)
    if r.paper is None:
        return (*keys, metric, ours, "—", "", "", r.verdict)
    return (*keys, metric, ours, format_value(*r.paper), f"{r.ours[0] - r.paper[0]:+.4f}", f"{r.bound:.4f}", r.verdict)


def summary_line(counts: dict[str, int]) -> str:
    return (f"cells within tolerance: {counts['ok']}, outside: {counts['off']}, configurations that failed to run: "
            f"{counts['error']}, not run: {counts['not run']}, cells the paper did not publish: {counts['unpublished']}")


def to_markdown(rows: list[Row], title: str = "anomaly-ref: reproduction vs paper", findings: Iterable[str] = (),
                sections: Iterable[str] = ()) -> str:
    """Title, the counts (and ``findings``: further summary lines, e.g. the audit's headline), the
    diff table, then ``sections`` (Markdown, each starting with its own heading)."""
    lines = [f"# {title}", "", summary_line(summary_counts(rows)), "", *(f"{f}\n" for f in findings),
             _md_row(HEADER), "|---" * len(HEADER) + "|", *map(_md_row, map(markdown_cells, rows))]
    return "\n".join(lines) + "\n" + "".join(f"\n{s.rstrip()}\n" for s in sections)


def write(rows: list[Row], out_dir: str | Path, stem: str, provenance: dict[str, Any],
          extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """``<stem>.json`` (rows, counts, provenance, and the keys of ``extra``) and ``<stem>.md``
    under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {**(extra or {}), "counts": summary_counts(rows), "rows": [asdict(r) for r in rows],
           "provenance": provenance}
    js, md = out / f"{stem}.json", out / f"{stem}.md"
    atomic_write_text(js, dumps_json(doc))
    atomic_write_text(md, to_markdown(rows))
    return js, md
