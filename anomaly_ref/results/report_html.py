"""``report.html``: one self-contained page (Jinja2 template ``templates/report.html.j2``).

Everything the page shows is in the file: plots are PNG data URIs, styles are inline, and a
Content-Security-Policy (``default-src 'none'; img-src data:; style-src 'unsafe-inline'``)
forbids the browser to fetch anything, so the page cannot depend on the network even by
mistake (a test renders it in headless Chromium and checks its network log).
"""

from __future__ import annotations

import base64
import html
import re
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import registry
from ..valuefmt import format_value, utc_now_text, utc_text
from .compare import Tolerance
from .report import METRIC_TITLES, Row, reason
from .sources import Entry, Loaded
from .verdicts import Tally, config_status

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CODE = re.compile(r"`([^`]+)`")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tolerance_words(tol: Tolerance) -> str:
    return (f"A metric is reproduced when |ours − paper| ≤ max({tol.abs_tol:g}, {tol.n_std:g} × √(std_ours² + "
            f"std_paper²)): the difference of the means may be at most {tol.abs_tol:g} (the workbooks print 4 "
            f"decimals and our random draws are not Keras'), or {tol.n_std:g} combined run-to-run standard "
            f"deviations if that is wider. Setting: \"{tol}\".")


def _code(text: str) -> str:
    """Escaped text with Markdown `code` spans as <code> (the audit's paragraph and table)."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def _md_table(md: str) -> tuple[list[str], list[list[str]]]:
    """A Markdown pipe table (as audit_report.ladder_table writes it) -> header, rows of HTML cells."""
    lines = [ln.strip() for ln in md.strip().splitlines()]
    split = lambda ln: [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", ln.strip("|"))]
    return [_code(c) for c in split(lines[0])], [[_code(c) for c in split(ln)] for ln in lines[2:]]


def _command(prov: Mapping[str, Any]) -> str:
    argv = [str(a) for a in prov.get("argv") or []]
    # argv[0] is a machine path of the script: its name is what a reader needs.
    return shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else "unknown"


def _gradcam_section(f: Loaded) -> dict:
    """The Grad-CAM++ scorer's tables (as its own gradcam.md has them) and its verdict lines."""
    from .gradcam_report import differences_table, scores_table, versus_motion

    doc = f.section
    scores = _md_table(scores_table(doc)) if doc.get("summary") else None
    diffs = _md_table(differences_table(doc)) if doc.get("formula_difference") else None
    verdicts = [_code(ln[2:]) for ln in versus_motion(doc).splitlines() if ln.startswith("- ")]
    cfg = doc.get("config") or {}
    return {"title": f.title, "path": str(f.path), "scores": scores, "diffs": diffs, "verdicts": verdicts,
            "frames": f"{cfg.get('frames', '?')} of {cfg.get('abnormal_frames', '?')} abnormal frames"
                      f" ({cfg.get('rows_rule', 'rows rule not recorded')}); target layer "
                      f"{cfg.get('target_layer', '?')}"}


def _standard_section(f: Loaded) -> dict:
    """A standard document's tables (as its standard.md has them), its headline and the anchors'
    differing factors (issue 23)."""
    from . import standard_report as sr

    doc = f.section
    table = lambda lines: _md_table("\n".join(lines)) if lines else None  # noqa: E731
    return {"title": f.title, "path": str(f.path), "table": table(sr.standard_table(doc)),
            "headline": sr.headline(doc), "anchors_intro": sr.ANCHORS_INTRO, "anchors": sr.anchors(doc),
            "comparisons_intro": sr.COMPARISONS_INTRO, "comparisons": table(sr.comparison_table(doc)),
            "per_clip_intro": sr.PER_CLIP_INTRO, "per_clip": table(sr.per_clip_table(doc))}


def _matrix(dataset: str, protocol: str, entries: Sequence[Entry], rows: Sequence[Row],
            published: Mapping[tuple, Mapping | None]) -> dict:
    """Backbones x heads of one dataset and protocol; a cell: ROC-AUC ours and, wherever the
    paper has the configuration (run or not), the paper's, and the verdict."""
    es = [e for e in entries if e.dataset == dataset and e.protocol == protocol]
    backbones = [b for b in registry.BACKBONES if any(e.extractor == b for e in es)]
    heads = [h for h in registry.HEADS if any(e.head == h for e in es)]
    cells = {}
    for e in es:
        rs = [r for r in rows if (r.dataset, r.extractor, r.head, r.protocol) == e.key]
        status, paper = config_status(rs), (published.get(e.key) or {}).get("roc_auc")
        within = f"{sum(r.status == 'ok' for r in rs)}/{len(rs)} within" if e.summary and paper else ""
        cells[(e.extractor, e.head)] = {
            "status": status,
            "ours": format_value(*e.summary["roc_auc"]) if e.summary else "—",
            "paper": format_value(*paper) if paper else None,  # None: the status says "unpublished"
            "label": ", ".join(filter(None, [status, within])) if e.summary or paper else f"{status}; unpublished",
            "why": reason(status, e.error),
        }
    compared = "ours vs paper" if any(c["paper"] for c in cells.values()) else "ours"
    return {"protocol": protocol, "backbones": backbones, "heads": heads, "cells": cells, "compared": compared}


def _audit_section(f: Loaded) -> dict:
    """An audit file's section, and its line of the summary (rungs and headline): the headline
    with its intervals, the findings, the ladder with its intervals and chance bands, the
    per-rung chance references, the paired comparisons, strict beside standard and the plot."""
    from . import audit_report as ar
    from .audit_doc import legacy, read

    doc = read(f.section)
    lead = ar.headline(doc)
    rest = ar.ladder_paragraph(doc)[len(lead):]  # the paragraph starts with the headline
    tables = [{"id": "ladder", "note": ar.LEGACY_TABLE_NOTE if legacy(doc) else ar.TABLE_NOTE,
               "table": _md_table(ar.ladder_table(doc))}]
    if not legacy(doc):
        tables.append({"id": "rungs", "note": ar.RUNG_NOTE, "table": _md_table(ar.rung_table(doc))})
        if (doc["audit"].get("comparable") or {}).get("rows"):
            tables.append({"id": "comparable", "note": f"`{doc['audit']['comparable'].get('rung')}` beside "
                           f"`standard` on identical frames and folds, the same statistics.",
                           "table": _md_table(ar.comparable_table(doc))})
    return {"title": f.title, "name": ar.title(doc), "path": str(f.path), "headline": _code(lead),
            "paragraph": _code(rest.strip()), "legacy": _code(ar.legacy_note(doc)), "rungs": ar.rung_summary(doc),
            "tables": [t | {"note": _code(t["note"])} for t in tables],
            "claims": [_code(c) for c in ar.control_claims(doc)],
            "plot": data_uri(ar.plot_ladder(doc))}


def context(files: Sequence[Loaded], entries: Sequence[Entry], rows: Sequence[Row], tallies: Sequence[Tally],
            tolerance: Tolerance, plots: Mapping[str, bytes], title: str,
            published: Mapping[tuple, Mapping | None]) -> dict:
    """What the template shows; ``published``: :func:`.verdicts.published` of ``entries``."""
    datasets = []
    for d in registry.DATASETS:
        es = [e for e in entries if e.dataset == d]
        if not es:
            continue
        protocols = list(dict.fromkeys(e.protocol for e in es))
        configs = []
        for e in es:
            status = config_status([r for r in rows if (r.dataset, r.extractor, r.head, r.protocol) == e.key])
            verdict = f"{status}: {reason(status, e.error)}" if e.error else status
            configs.append({"key": "/".join(e.key), "entry": e, "status": status, "verdict": verdict})
        detail = [r for r in rows if r.dataset == d]
        datasets.append({"key": d, "title": registry.get_dataset(d).title,
                         "matrices": [_matrix(d, p, entries, rows, published) for p in protocols],
                         "configs": configs, "detail": detail,
                         "plot": data_uri(plots[d]) if d in plots else None})
    audits = [_audit_section(f) for f in files if f.kind == "audit"]
    gradcams = [_gradcam_section(f) for f in files if f.kind == "gradcam"]
    standards = [_standard_section(f) for f in files if f.kind == "standard"]
    provenance = [{"path": str(f.path), "kind": f.kind, "sha256": f.sha256, "command": _command(f.provenance),
                   "git": f.provenance.get("git") or {}, "utc": utc_text(f.provenance.get("utc")),
                   "versions": f.provenance.get("versions") or {}, "device": f.provenance.get("device") or {},
                   "seeds": f.provenance.get("seeds") or {}, "inputs": f.provenance.get("inputs") or {}}
                  for f in files]
    from .. import __version__
    from ..provenance import git_state

    written = {"version": __version__, "git": git_state(), "utc": utc_now_text()}
    return {"title": title, "csp": CSP, "written": written, "tallies": tallies, "tolerance": tolerance_words(tolerance),
            "datasets": datasets, "audits": audits, "gradcams": gradcams, "standards": standards, "provenance": provenance,
            "metrics": registry.METRICS, "metric_titles": METRIC_TITLES, "fmt": lambda v: format_value(*v) if v else "—"}


def render(ctx: dict) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("anomaly_ref.results", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,  # a name the template misspells is an error, not a blank
        trim_blocks=True, lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**ctx)
