"""The diff report against the paper: rows in, JSON and Markdown out."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from ..fileio import atomic_write_text, dumps_json
from ..valuefmt import format_value


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


STATUSES = ("ok", "off", "error", "not run", "unpublished")


def summary_counts(rows: Iterable[Row]) -> dict[str, int]:
    """How many cells reproduced (``ok``), missed tolerance (``off``), have no published
    figure (``unpublished``), and how many configurations failed (``error``) or never ran
    (``not run``)."""
    c = Counter(r.status for r in rows)
    return {k: c.get(k, 0) for k in STATUSES}


def to_markdown(rows: list[Row], title: str = "anomaly-ref: reproduction vs paper") -> str:
    counts = summary_counts(rows)
    lines = [
        f"# {title}",
        "",
        f"cells within tolerance: {counts['ok']}, outside: {counts['off']}, configurations that failed to run: "
        f"{counts['error']}, not run: {counts['not run']}, cells the paper did not publish: {counts['unpublished']}",
        "",
        "| dataset | extractor | head | protocol | metric | ours | paper | delta | bound | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r.dataset} | {r.extractor} | {r.head} | {r.protocol} |"
        if r.error:
            lines.append(f"{head} | | | | | | {r.status}: {r.error} |")
        elif r.paper is None:
            lines.append(f"{head} {r.metric} | {format_value(*r.ours)} | — | | | {r.status} |")
        else:
            delta = r.ours[0] - r.paper[0]
            lines.append(
                f"{head} {r.metric} | {format_value(*r.ours)} | "
                f"{format_value(*r.paper)} | {delta:+.4f} | {r.bound:.4f} | {r.status} |"
            )
    return "\n".join(lines) + "\n"


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
