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
    """One (dataset, extractor, head, metric) cell, or one failed configuration (``error``)."""

    dataset: str
    extractor: str
    head: str
    metric: str | None = None
    ours: tuple[float, float] | None = None
    paper: tuple[float, float] | None = None
    bound: float | None = None
    ok: bool | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return "error" if self.error else ("ok" if self.ok else "off")


def summary_counts(rows: Iterable[Row]) -> dict[str, int]:
    """How many cells reproduced (``ok``), missed tolerance (``off``), or could not run (``error``)."""
    c = Counter(r.status for r in rows)
    return {k: c.get(k, 0) for k in ("ok", "off", "error")}


def to_markdown(rows: list[Row], title: str = "anomaly-ref: reproduction vs paper") -> str:
    counts = summary_counts(rows)
    lines = [
        f"# {title}",
        "",
        f"cells within tolerance: {counts['ok']}, outside: {counts['off']}, configurations that failed to run: {counts['error']}",
        "",
        "| dataset | extractor | head | metric | ours | paper | delta | bound | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.error:
            lines.append(f"| {r.dataset} | {r.extractor} | {r.head} | | | | | | error: {r.error} |")
            continue
        delta = r.ours[0] - r.paper[0]
        lines.append(
            f"| {r.dataset} | {r.extractor} | {r.head} | {r.metric} | {format_value(*r.ours)} | "
            f"{format_value(*r.paper)} | {delta:+.4f} | {r.bound:.4f} | {r.status} |"
        )
    return "\n".join(lines) + "\n"


def write(rows: list[Row], out_dir: str | Path, stem: str, provenance: dict[str, Any]) -> tuple[Path, Path]:
    """``<stem>.json`` (rows, counts, provenance) and ``<stem>.md`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"counts": summary_counts(rows), "rows": [asdict(r) for r in rows], "provenance": provenance}
    js, md = out / f"{stem}.json", out / f"{stem}.md"
    atomic_write_text(js, dumps_json(doc))
    atomic_write_text(md, to_markdown(rows))
    return js, md
