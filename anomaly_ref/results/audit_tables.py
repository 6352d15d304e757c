"""The audit's tables, as Markdown (audit.md, report.md; the HTML report parses them) and
as records (the workbook's ``audit`` sheet).

A format-2 document gets the long ladder (one row per rung × head or scorer, with the
interval, spread, the other statistics and the chance band) and the tables of its other
parts; a format-1 document keeps the wide table it was always shown with (one row per rung,
a column per head and scorer), since it holds no statistics to put in the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import registry
from . import audit_doc as d
from .audit_fmt import DASH, NA, bracket, cell, difference_text, fmt, pct, spread_text, with_ci

MONITORS = {"test": "test split", "val": "validation split", "none": DASH}
LADDER_COLUMNS = ["rung", "head or scorer", "mean per-fold ROC-AUC [95% CI]", "± sample std (population std) over runs",
                  "rank-pooled ROC-AUC [95% CI]", "raw pooled ROC-AUC (biased on k-fold rungs)",
                  "chance band of the mean per-fold ROC-AUC (label permutation)"]
LEGACY_EXTRA = ["early stopping watches", "test frames inside training windows", "test frames inside watched windows"]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _skip_row(doc: d.Doc, p: str, width: int) -> list[str]:
    return [f"`{p}`", f"skipped: {d.skipped(doc)[p]}"] + [""] * (width - 2)


# ------------------------------------------------------------------------ the ladder


def _band_text(e: d.Entry) -> str:
    b = d.band(e)
    if not b:
        return NA
    p = d.num(b.get("p_value"))
    return f"{bracket(d.num(b.get('low')), d.num(b.get('high')))}, p = {fmt(p, 3)}"


def _spread_cell(e: d.Entry) -> str:
    s = d.spread(e)
    return spread_text(s) or f"— ({s.n} run{'s' if s.n != 1 else ''})"  # one value: no spread, no "±"


def ladder_row(p: str, name: str, e: d.Entry) -> list[str]:
    """One rung × head (or scorer) of the format-2 ladder."""
    raw = d.estimate(e, "raw_pooled_auc")
    return [f"`{p}`", name, with_ci(d.value(e), d.interval(e)), _spread_cell(e),
            with_ci(d.num(d.estimate(e, "rank_pooled_auc")), d.interval(e, "rank_pooled_auc")),
            fmt(raw), _band_text(e)]


def ladder_table(doc: d.Doc) -> str:
    """Markdown: the ladder (format 2: one row per rung × head or scorer; format 1: one row
    per rung, a column per head and scorer, as it was always shown)."""
    doc = d.read(doc)
    if d.legacy(doc):
        return _legacy_table(doc)
    es, skipped, rows = d.entries(doc), d.skipped(doc), []
    for p in d.rungs(doc):
        got = d.names(doc, p)
        if not got and p in skipped:
            rows.append(_skip_row(doc, p, len(LADDER_COLUMNS)))
        rows += [ladder_row(p, n, es[(p, n)]) for n in got]
    return table(LADDER_COLUMNS, rows)


def _legacy_cell(e: d.Entry | None) -> str:
    """``"0.9969 ± 0.0015 (0.0013), acc 0.979"``: ROC-AUC mean, sample (population) std over
    runs where there are several, and the accuracy mean."""
    if e is None:
        return "not run"
    mean = d.value(e)
    spread = spread_text(d.spread(e)) if not math.isnan(mean) else ""
    return f"{fmt(mean)}{' ' + spread if spread else ''}, acc {fmt(d.summary(e, 'accuracy')[0], 3)}"


def _legacy_table(doc: d.Doc) -> str:
    audit, es, skipped = doc["audit"], d.entries(doc), d.skipped(doc)
    heads, scorers = list(audit["heads"]), list(audit["scorers"])
    cols = ["rung", *heads, *scorers, *LEGACY_EXTRA]
    rows = []
    for p in d.rungs(doc):
        runs = d.rung_runs(doc, p)
        if not runs and p in skipped:
            rows.append([f"`{p}`", f"skipped: {skipped[p]}"] + [""] * (len(cols) - 2))
            continue
        sup = d.supervised(p)
        cells = [_legacy_cell(es.get((p, h))) if sup else DASH for h in heads]
        cells += [DASH if sup else _legacy_cell(es.get((p, s))) for s in scorers]
        cells += [monitor(runs), pct(d.run_share(runs, "test_frames_in_train")),
                  pct(d.run_share(runs, "test_frames_in_val")) if sup else DASH]
        rows.append([f"`{p}`", *cells])
    return table(cols, rows)


def monitor(runs: list[Mapping[str, Any]]) -> str:
    seen = list(dict.fromkeys(str(r.get("monitor", "none")) for r in runs))
    return ", ".join(MONITORS.get(m, m) for m in seen) or DASH


# ------------------------------------------------------------- per rung: chance, leakage


def rung_table(doc: d.Doc) -> str:
    """Per rung: what early stopping watches, the test frames that also sit in training (or
    watched) windows, and the base-rate scorer's value of each statistic (a scorer that
    outputs each fold's training base rate: 0.5 except the raw pooled AUC on k-fold rungs)."""
    doc = d.read(doc)
    es, rows = d.entries(doc), []
    for p in d.ran(doc):
        runs = d.rung_runs(doc, p)
        rates = {" / ".join(fmt(d.num(b.get(k))) for k in ("mean_fold_auc", "rank_pooled_auc", "raw_pooled_auc"))
                 for n in d.names(doc, p) if (b := d.base_rate(es[(p, n)]))}
        rows.append([f"`{p}`", monitor(runs), pct(d.run_share(runs, "test_frames_in_train")),
                     pct(d.run_share(runs, "test_frames_in_val")) if d.supervised(p) else DASH,
                     "; ".join(sorted(rates)) or NA])
    return table(["rung", "early stopping watches", "test frames inside training windows",
                  "test frames inside watched windows",
                  "base-rate scorer: mean per-fold / rank-pooled / raw pooled ROC-AUC"], rows)


# ------------------------------------------------------------------------- the fits


def fits_table(doc: d.Doc) -> str:
    """Per supervised rung × head: the fits whose scored weights are their first epoch's."""
    doc = d.read(doc)
    es, heads = d.entries(doc), list(doc["audit"]["heads"])
    rows = []
    for p in (p for p in d.ran(doc) if d.supervised(p)):
        cells = []
        for h in heads:
            if (p, h) not in es:
                cells.append("not run")
                continue
            f = d.fits(es[(p, h)])
            cells.append(f"{f['restored_epoch_0']} of {f['known']} ({pct(f['restored_epoch_0'] / f['known'])})"
                         if f["known"] else NA)
        rows.append([f"`{p}`", *cells])
    return table(["rung", *heads], rows)


# ------------------------------------------------------------ strict beside standard


def comparable_table(doc: d.Doc) -> str:
    """The supervised rung and the one-class scorers on the identical frames and folds."""
    comp = d.read(doc)["audit"].get("comparable") or {}
    rows = []
    for r in comp.get("rows") or []:
        m, rp = r.get("mean_fold_auc") or {}, r.get("rank_pooled_auc") or {}
        rows.append([f"`{r['supervised']}`", f"`{r['one_class']}`", f"{r.get('n_items', NA)} ({r.get('n_clips', NA)})",
                     f"{fmt(d.num(m.get('supervised')))} / {fmt(d.num(m.get('one_class')))}",
                     f"{fmt(d.num(rp.get('supervised')))} / {fmt(d.num(rp.get('one_class')))}",
                     difference_text(r.get("difference") or {})])
    return table(["supervised", "one-class", "frames scored (test clips)", "mean per-fold ROC-AUC: supervised / one-class",
                  "rank-pooled ROC-AUC: supervised / one-class",
                  "difference supervised − one-class [95% CI]: reading"], rows)


# ----------------------------------------------------------------------- the probes


def _probe_cell(x: Mapping[str, Any] | None) -> str:
    if not x:
        return DASH
    return (f"{fmt(d.num(x.get('auc')))} (per-run mean {fmt(d.num(x.get('per_run_mean')))}; "
            f"{x.get('n_positive', NA)} vs {x.get('n_negative', NA)})")


def probe_scored_table(doc: d.Doc) -> str:
    """Probe (a): AUC of the heads' own scores for copy vs original (abnormal items) and for
    Train-clip vs test-clip frame (normal items), on the rungs that score such items."""
    probes = d.read(doc)["audit"].get("probes") or {}
    rows = [[f"`{r['rung']}`", r["head"], _probe_cell(r.get("copy_vs_original")), _probe_cell(r.get("train_vs_test_clip"))]
            for r in probes.get("scored") or []]
    return table(["rung", "head or scorer", "copy vs original, abnormal items: AUC (per-run mean; n copy vs original)",
                  "Train- vs test-clip frame, normal items: AUC (per-run mean; n Train vs test)"], rows)


def probe_trained_table(doc: d.Doc) -> str:
    """Probe (b): heads trained on clip-grouped folds to predict "is a copy" / "is a Train-clip frame"."""
    probes = d.read(doc)["audit"].get("probes") or {}
    rows = []
    for e in probes.get("trained") or []:
        target = str(e.get("protocol", "")).removeprefix("probe:")
        rows.append([target, e.get("head", NA), with_ci(d.value(e), d.interval(e)), _spread_cell(e)])
    return table(["target", "head", "mean per-fold ROC-AUC [95% CI]", "± sample std (population std) over runs"], rows)


# ----------------------------------------------------------- within clips, partitions


def within_clip_table(doc: d.Doc) -> str:
    """Per rung × head or scorer: the mean of the ROC-AUCs inside each test clip that holds
    both classes (no between-clip differences can help), with how many and their range."""
    doc = d.read(doc)
    es, rows = d.entries(doc), []
    for p in d.ran(doc):
        for n in d.names(doc, p):
            w = (es[(p, n)].get("stats") or {}).get("within_clip_auc") or {}
            vals = [d.num(v) for v in (w.get("clips") or {}).values() if v is not None]
            vals = [v for v in vals if not math.isnan(v)]
            rows.append([f"`{p}`", n, fmt(d.num(w.get("estimate"))), str(len(vals)),
                         fmt(min(vals)) if vals else NA, fmt(max(vals)) if vals else NA])
    return table(["rung", "head or scorer", "within-clip ROC-AUC (mean over clips)", "clips with both classes",
                  "lowest", "highest"], rows)


def partition_lines(doc: d.Doc) -> list[str]:
    """``- `strict` run 0: fold 0 {4, 5}; fold 1 {1, 3}; ...``: each run's test clips by fold."""
    lines = []
    for p, runs in (d.read(doc)["audit"].get("partitions") or {}).items():
        for r, folds in enumerate(runs):
            parts = "; ".join(f"fold {i} {{{', '.join(map(str, clips))}}}" for i, clips in enumerate(folds))
            lines.append(f"- `{p}` run {r}: {parts}")
    return lines


# ------------------------------------------------------------------ the workbook sheet


POOLED = ", per run, folds pooled"  # the summary metrics' columns: what they are on k-fold rungs


def ladder_records(doc: d.Doc) -> list[dict[str, Any]]:
    """The ladder as data, for a spreadsheet: one record per (rung, head or scorer) in ladder
    order; figures as numbers (None where undefined or not recorded: a format-1 document has
    no intervals), shares as fractions; a skipped rung without results is one record with its
    ``skipped`` reason and no figures. The summary's metric columns (``ROC-AUC mean, per run,
    folds pooled`` ...) are each run's test metrics over runs, as the notebooks print them: on a
    k-fold rung each run's figure pools its folds' predictions, biased like the raw pooled AUC,
    and the header says so."""
    from .report import METRIC_TITLES

    doc = d.read(doc)
    es, skipped = d.entries(doc), d.skipped(doc)
    metrics = [f"{METRIC_TITLES[m]} {k}{POOLED}" for m in registry.METRICS for k in ("mean", "std")]
    columns = ["rung", "head or scorer", "kind", "runs", "mean per-fold ROC-AUC", "CI low", "CI high",
               "std over runs (population)", "std over runs (sample)", "rank-pooled ROC-AUC", "rank-pooled CI low",
               "rank-pooled CI high", "raw pooled ROC-AUC (biased on k-fold rungs)", "within-clip ROC-AUC",
               "chance band low", "chance band high", "permutation p", "base-rate raw pooled ROC-AUC",
               "fits restoring epoch 0 (share)", *metrics, "early stopping watches",
               "test frames inside training windows", "test frames inside watched windows", "skipped"]
    nan = lambda x: None if x is None or math.isnan(x) else x  # noqa: E731
    records = []
    for p in d.rungs(doc):
        got = d.names(doc, p)
        if not got:
            records.append({**dict.fromkeys(columns), "rung": p, "skipped": skipped.get(p)})
        for name in got:
            e, sup = es[(p, name)], d.supervised(p)
            runs, s = e.get("runs", []), d.spread(e)
            iv, rp = d.interval(e) or (None, None), d.interval(e, "rank_pooled_auc") or (None, None)
            b, base, f = d.band(e) or {}, d.base_rate(e) or {}, d.fits(e)
            within = ((e.get("stats") or {}).get("within_clip_auc") or {}).get("estimate")
            nums = [nan(v) for m in registry.METRICS for v in d.summary(e, m)]
            watched = monitor(runs)
            records.append({
                **dict.fromkeys(columns), "rung": p, "head or scorer": name,
                "kind": "supervised head" if sup else "one-class scorer", "runs": len(runs),
                "mean per-fold ROC-AUC": nan(d.value(e)) if e.get("stats") else None,
                "CI low": nan(iv[0]), "CI high": nan(iv[1]), "std over runs (population)": s.std,
                "std over runs (sample)": s.std_sample, "rank-pooled ROC-AUC": nan(d.estimate(e, "rank_pooled_auc")),
                "rank-pooled CI low": nan(rp[0]), "rank-pooled CI high": nan(rp[1]),
                "raw pooled ROC-AUC (biased on k-fold rungs)": nan(d.estimate(e, "raw_pooled_auc")),
                "within-clip ROC-AUC": nan(d.num(within)) if within is not None else None,
                "chance band low": nan(d.num(b.get("low"))) if b else None,
                "chance band high": nan(d.num(b.get("high"))) if b else None,
                "permutation p": nan(d.num(b.get("p_value"))) if b else None,
                "base-rate raw pooled ROC-AUC": nan(d.num(base.get("raw_pooled_auc"))) if base else None,
                "fits restoring epoch 0 (share)": f["restored_epoch_0"] / f["known"] if sup and f["known"] else None,
                **dict(zip(metrics, nums)), "early stopping watches": None if watched == DASH else watched,
                "test frames inside training windows": d.run_share(runs, "test_frames_in_train"),
                "test frames inside watched windows": d.run_share(runs, "test_frames_in_val") if sup else None})
    return records
