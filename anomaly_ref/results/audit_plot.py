"""``audit.png``: each rung's heads (and scorers) with their interval, over the chance band.

:func:`plot_data` decides what is drawn (tested as data); :func:`plot_ladder` only draws it.
A format-2 point is the mean per-fold ROC-AUC with its 95% clip-bootstrap interval, and each
rung gets a grey band: the span of its entries' label-permutation chance bands. A format-1
point is the ROC-AUC mean ± population std over runs, as it was always drawn (no band).
"""

from __future__ import annotations

import io
import math
from typing import Any

from .. import registry
from . import audit_doc as d

FIG_SIZE, FIG_DPI = (9.0, 4.5), 100  # -> a 900 x 450 pixel PNG
WIDTH = 0.7  # of the x unit a rung's points spread over
CHANCE = 0.5


def plot_data(doc: d.Doc) -> dict[str, Any]:
    """``{"rungs", "ylabel", "title", "chance", "bands": {rung: (x0, x1, low, high)},
    "series": {name: {"kind", "points": [(x, y, low, high, rung)]}}}``; NaN bounds for a point
    without an interval."""
    doc = d.read(doc)
    audit, es, legacy = doc["audit"], d.entries(doc), d.legacy(doc)
    rungs = d.ran(doc)
    series: dict[str, dict[str, Any]] = {}
    bands = {}
    for x, p in enumerate(rungs):
        got = d.names(doc, p)
        for i, n in enumerate(got):
            e = es[(p, n)]
            off = x + (WIDTH * ((i + 0.5) / len(got) - 0.5) if len(got) > 1 else 0.0)
            y = d.value(e)
            if legacy:
                std = d.summary(e)[1]
                low, high = (y - std, y + std) if not math.isnan(std) else (math.nan, math.nan)
            else:
                low, high = d.interval(e) or (math.nan, math.nan)
            kind = ("scorer" if not d.supervised(p) else
                    "paper head" if n in registry.HEADS and registry.HEADS[n].in_paper else "other head")
            series.setdefault(n, {"kind": kind, "points": []})["points"].append((off, y, low, high, p))
        lows_highs = [(d.num(b.get("low")), d.num(b.get("high"))) for n in got if (b := d.band(es[(p, n)]))]
        lows_highs = [(lo, hi) for lo, hi in lows_highs if not (math.isnan(lo) or math.isnan(hi))]
        if lows_highs:
            bands[p] = (x - WIDTH / 2 - 0.05, x + WIDTH / 2 + 0.05, min(lo for lo, _ in lows_highs),
                        max(hi for _, hi in lows_highs))
    weights = "" if audit.get("pretrained", True) else ", random weights"
    title = f"Leakage audit: {registry.get_dataset(audit['dataset']).title}, {audit['backbone']}{weights}"
    ylabel = ("ROC-AUC (mean ± std over runs; format 1)" if legacy else
              "mean per-fold ROC-AUC [95% CI over test clips]")
    return {"rungs": rungs, "ylabel": ylabel, "title": title, "chance": CHANCE, "bands": bands, "series": series}


def plot_ladder(doc: d.Doc) -> bytes:
    """PNG bytes (900 x 450 px) of :func:`plot_data`."""
    # A Figure with its own Agg canvas, not pyplot: no global backend or figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = plot_data(doc)
    fig = Figure(figsize=FIG_SIZE, dpi=FIG_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, (p, (x0, x1, low, high)) in enumerate(data["bands"].items()):
        ax.fill_between([x0, x1], [low, low], [high, high], color="grey", alpha=0.25, linewidth=0,
                        label="chance band (label permutation; span of the heads' bands)" if i == 0 else None)
    ax.axhline(data["chance"], color="grey", linestyle=":", linewidth=1, label="0.5")
    markers = iter("os^Dv<>PXh*")
    for name, s in data["series"].items():
        xs, ys, lows, highs, _ = zip(*s["points"])
        err = [[0 if math.isnan(lo) else y - lo for y, lo in zip(ys, lows)],
               [0 if math.isnan(hi) else hi - y for y, hi in zip(ys, highs)]]
        style = dict(color="black", markersize=7) if s["kind"] == "scorer" else {}
        ax.errorbar(xs, ys, yerr=err, marker=next(markers, "o"), linestyle="none", capsize=3,
                    label=f"{name} (one-class)" if s["kind"] == "scorer" else name, **style)
    rungs = data["rungs"]
    ax.set_xticks(range(len(rungs)), rungs)
    ax.set_xlim(-0.6, max(len(rungs), 1) - 0.4)
    ax.set_ylabel(data["ylabel"])
    ax.set_title(data["title"])
    ax.grid(alpha=0.3, axis="y")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
