"""``<dataset>.png``: per dataset, ours vs the paper (mean ± std error bars) for every
configuration, one panel per metric, stacked so each panel spans the page width.

Metrics are labelled as the report's tables name them (``report.METRIC_TITLES``); the title
says "ours vs paper" only when the paper's series is drawn, i.e. when the paper published at
least one of the configurations shown."""

from __future__ import annotations

import io
import math
from typing import Sequence

from .. import registry
from .report import METRIC_TITLES
from .sources import Entry

DPI = 100
PANEL_H = 2.4  # inches per metric panel
OURS, PAPER = "#1f77b4", "#ff7f0e"


def _label(e: Entry, protocols: set[str]) -> str:
    base = f"{e.extractor}\n{e.head}"
    return f"{base}\n({e.protocol})" if len(protocols) > 1 else base


def plot_dataset(entries: Sequence[Entry], reference) -> bytes:
    """PNG bytes of :func:`figure`."""
    buf = io.BytesIO()
    figure(entries, reference).savefig(buf, format="png")
    return buf.getvalue()


def figure(entries: Sequence[Entry], reference):
    """The matplotlib Figure for one dataset's entries (those with results); ``reference`` the
    published table. A configuration the paper did not publish has our bar only."""
    # A Figure with its own Agg canvas, not pyplot: no global backend or figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .compare import paper_summary

    ran = [e for e in entries if e.summary is not None]
    datasets = {e.dataset for e in entries}
    assert len(datasets) == 1, datasets
    dataset = registry.get_dataset(datasets.pop())
    protocols = {e.protocol for e in ran}
    n = max(len(ran), 1)
    width = max(8.0, 0.55 * n + 2.0)
    fig = Figure(figsize=(width, PANEL_H * len(registry.METRICS) + 0.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(registry.METRICS), 1, sharex=True)
    xs = range(len(ran))
    published = [paper_summary(reference, e.dataset, e.extractor, e.head) for e in ran]
    for ax, metric in zip(axes, registry.METRICS.values()):
        ours = [e.summary[metric.name] for e in ran]
        ax.errorbar([x - 0.12 for x in xs], [m for m, _ in ours], yerr=[0 if math.isnan(s) else s for _, s in ours],
                    fmt="o", color=OURS, capsize=3, label="ours")
        px = [(x + 0.12, p[metric.name]) for x, p in zip(xs, published) if p]
        if px:
            ax.errorbar([x for x, _ in px], [v[0] for _, v in px], yerr=[v[1] for _, v in px], fmt="s",
                        color=PAPER, capsize=3, label="paper")
        ax.set_ylabel(METRIC_TITLES[metric.name])
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower left", fontsize="small", ncols=2)
    axes[-1].set_xticks(list(xs), [_label(e, protocols) for e in ran], rotation=90 if n > 8 else 0, fontsize="small")
    drawn = "ours vs paper (mean ± std over runs)" if any(published) else \
        "ours (mean ± std over runs; none of these configurations is published)"
    fig.suptitle(f"{dataset.title}: {drawn}")
    return fig
