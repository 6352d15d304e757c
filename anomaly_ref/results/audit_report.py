"""The leakage audit rendered: the audit document in, Markdown, a PNG and the file set out.

The audit runs one dataset through the ladder of ``registry.PROTOCOLS`` (from the paper's
protocol to the field's standard one), each rung removing one source of leakage. Its
document (``audit.json``) has the shape::

    {"kind": "audit",
     "audit": {"dataset", "backbone", "pretrained", "protocols", "heads", "scorers",
               "skipped": [{"protocol", "reason"}], "n_frames", "n_train_frames", "wall_seconds"},
     "results": [ProtocolResult.to_dict(), ...],   # one per (protocol, head or scorer)
     "provenance": {"git": {"commit", "dirty"}, "utc", "argv", ...}}

Everything here is pure rendering except :func:`write_audit`, which writes the three files
as a set. Metric values may be NaN (ROC-AUC of a single-class fold) and print as "n/a".
"""

from __future__ import annotations

import io
import math
import shlex
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

from .. import registry
from ..errors import InputError
from ..fileio import atomic_write_text, dumps_json, replacing
from ..valuefmt import format_value, utc_text

NA = "n/a"
DASH = "—"  # a cell that does not apply: heads on the one-class rung, scorers on supervised rungs
# Two ROC-AUCs this close are the same figure at the spread of 5 runs: a last-frame
# control this close to the recurrent heads means the sequence adds nothing.
SAME_AUC = 0.01
MONITORS = {"test": "test split", "val": "validation split", "none": DASH}
FIG_SIZE, FIG_DPI = (8.0, 4.5), 100  # -> an 800 x 450 pixel PNG
MARKERS = ("s", "^", "D", "v", "P", "X")  # one per scorer at the standard rung

Doc = Mapping[str, Any]
Entry = Mapping[str, Any]


# ------------------------------------------------------------------ reading the document


def _audit(doc: Doc) -> Mapping[str, Any]:
    """``doc["audit"]``, checked for the keys every renderer needs."""
    for key in ("audit", "results"):
        if key not in doc:
            raise InputError(f"audit document: missing key {key!r} "
                             "(expected audit.json with 'audit', 'results', 'provenance')")
    missing = [k for k in ("dataset", "backbone", "heads", "scorers") if k not in doc["audit"]]
    if missing:
        raise InputError(f"audit document: 'audit' lacks {', '.join(map(repr, missing))}")
    return doc["audit"]


def _entries(doc: Doc) -> dict[tuple[str, str], Entry]:
    """``{(protocol, head or scorer): result entry}``; an unknown rung or a repeated pair is an error."""
    out: dict[tuple[str, str], Entry] = {}
    for i, e in enumerate(doc["results"]):
        if e.get("protocol") not in registry.PROTOCOLS:
            raise InputError(f"audit document: results[{i}] has protocol {e.get('protocol')!r}; "
                             f"valid: {', '.join(registry.PROTOCOLS)}")
        key = (e["protocol"], e.get("head"))
        if key in out:
            raise InputError(f"audit document: results[{i}] repeats protocol {key[0]!r} with head {key[1]!r}")
        out[key] = e
    return out


def validate(doc: Doc) -> Mapping[str, Any]:
    """``doc["audit"]`` once the document holds what every renderer reads (InputError if not):
    for readers such as the report, which check a file before rendering anything."""
    audit = _audit(doc)
    _entries(doc)
    return audit


def _skipped(doc: Doc) -> dict[str, str]:
    """``{protocol: reason}`` of the rungs the audit could not run."""
    return {s["protocol"]: str(s.get("reason", "")) for s in doc["audit"].get("skipped") or []}


def _rungs(doc: Doc) -> list[str]:
    """Rungs with results or a skip record, in ladder order."""
    present = {p for p, _ in _entries(doc)} | set(_skipped(doc))
    return [p for p in registry.PROTOCOLS if p in present]


def _supervised(protocol: str) -> bool:
    return not registry.PROTOCOLS[protocol].needs_train_frames


def _num(x: Any) -> float:
    """A JSON metric as a float; None (NaN written by a strict encoder) becomes NaN."""
    return math.nan if x is None else float(x)


def _stat(entry: Entry, metric: str = "roc_auc") -> tuple[float, float]:
    """``(mean, std)`` of ``metric`` in an entry's summary (NaN where absent)."""
    s = entry.get("summary", {}).get(metric, {})
    return _num(s.get("mean")), _num(s.get("std"))


def _paper_heads(doc: Doc) -> list[str]:
    """The audit's heads that are columns of the published workbooks (the recurrent ones).
    A head the registry does not know still gets a column, but is not one of these."""
    return [h for h in doc["audit"]["heads"] if h in registry.HEADS and registry.HEADS[h].in_paper]


def _recurrent_mean(doc: Doc, protocol: str) -> float | None:
    """Mean over the paper's heads present under ``protocol`` of their ROC-AUC means;
    None if none ran there, NaN if any of them is NaN."""
    entries = _entries(doc)
    means = [_stat(entries[(protocol, h)])[0] for h in _paper_heads(doc) if (protocol, h) in entries]
    return sum(means) / len(means) if means else None


def _fmt(x: float | None, digits: int = 4) -> str:
    return NA if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _value(mean: float, std: float) -> str:
    """``format_value`` with NaN as "n/a": ``"0.9969 ± 0.0013"``, ``"n/a"``, ``"0.9969 ± n/a"``."""
    if math.isnan(mean):
        return NA
    return f"{mean:.4f} ± {NA}" if math.isnan(std) else format_value(mean, std)


# ------------------------------------------------------------------------ the table


def _cell(entry: Entry | None) -> str:
    """``"0.9969 ± 0.0013 (acc 0.979)"``: ROC-AUC mean ± std and the accuracy mean."""
    if entry is None:
        return "not run"
    return f"{_value(*_stat(entry))} (acc {_fmt(_stat(entry, 'accuracy')[0], 3)})"


def _rung_runs(entries: Mapping[tuple[str, str], Entry], protocol: str) -> list[Mapping[str, Any]]:
    return [r for (p, _), e in entries.items() if p == protocol for r in e.get("runs", [])]


def _monitor(runs: list[Mapping[str, Any]]) -> str:
    seen = list(dict.fromkeys(str(r.get("monitor", "none")) for r in runs))
    return ", ".join(MONITORS.get(m, m) for m in seen) or DASH


def _share(runs: list[Mapping[str, Any]], key: str) -> float | None:
    """Mean ``key`` (a share of test frames) over the runs that recorded it; None if none did."""
    shares = [s for r in runs if r.get(key) is not None and not math.isnan(s := _num(r[key]))]
    return sum(shares) / len(shares) if shares else None


def _overlap(runs: list[Mapping[str, Any]], key: str = "test_frames_in_train") -> str:
    """:func:`_share` as ``"99.8%"``; "n/a" where no run recorded it."""
    share = _share(runs, key)
    return NA if share is None else f"{100 * share:.1f}%"


def ladder_table(doc: Doc) -> str:
    """Markdown table: one row per rung (ladder order), one column per head then per scorer,
    then what early stopping watches and the shares of test frames that sit inside
    training windows and inside the windows early stopping watched."""
    audit, entries, skipped = _audit(doc), _entries(doc), _skipped(doc)
    heads, scorers = list(audit["heads"]), list(audit["scorers"])
    extra = ["early stopping watches", "test frames inside training windows",
             "test frames inside watched windows"]
    cols = heads + scorers + extra
    lines = ["| rung | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for p in _rungs(doc):
        runs = _rung_runs(entries, p)
        if not runs and p in skipped:
            reason = " ".join(skipped[p].split()).replace("|", "\\|")  # one line, no cell breaks
            cells = [f"skipped: {reason}"] + [""] * (len(cols) - 1)
        else:
            sup = _supervised(p)
            cells = [_cell(entries.get((p, h))) if sup else DASH for h in heads]
            cells += [DASH if sup else _cell(entries.get((p, s))) for s in scorers]
            cells += [_monitor(runs), _overlap(runs), _overlap(runs, "test_frames_in_val") if sup else DASH]
        lines.append(f"| `{p}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ladder_records(doc: Doc) -> list[dict[str, Any]]:
    """The ladder as data, for a spreadsheet: one record per (rung, head or scorer) in ladder
    order, metric means and stds as numbers (None where undefined), shares as fractions; a
    skipped rung without results is one record with its ``skipped`` reason and no figures."""
    from .report import METRIC_TITLES

    audit, entries, skipped = _audit(doc), _entries(doc), _skipped(doc)
    names = [*audit["heads"], *audit["scorers"]]
    stats = [f"{METRIC_TITLES[m]} {k}" for m in registry.METRICS for k in ("mean", "std")]
    columns = ["rung", "head or scorer", "kind", "runs", *stats, "early stopping watches",
               "test frames inside training windows", "test frames inside watched windows", "skipped"]
    order = {n: i for i, n in enumerate(names)}
    records = []
    for p in _rungs(doc):
        keys = sorted((k for k in entries if k[0] == p), key=lambda k: (order.get(k[1], len(names)), str(k[1])))
        if not keys:
            records.append({**dict.fromkeys(columns), "rung": p, "skipped": skipped.get(p)})
        for _, name in keys:
            e, sup = entries[(p, name)], _supervised(p)
            runs = e.get("runs", [])
            nums = [None if math.isnan(v) else v for m in registry.METRICS for v in _stat(e, m)]
            monitor = _monitor(runs)
            records.append({**dict.fromkeys(columns), "rung": p, "head or scorer": name,
                            "kind": "supervised head" if sup else "one-class scorer", "runs": len(runs),
                            **dict(zip(stats, nums)), "early stopping watches": None if monitor == DASH else monitor,
                            "test frames inside training windows": _share(runs, "test_frames_in_train"),
                            "test frames inside watched windows": _share(runs, "test_frames_in_val") if sup else None})
    return records


# -------------------------------------------------------------------- the paragraph


def _why_missing(doc: Doc, protocol: str) -> str:
    reason = _skipped(doc).get(protocol)
    return f"was skipped ({reason})" if reason is not None else "is not in this audit"


def _largest_step(doc: Doc) -> str:
    """The sentence naming the neighbouring supervised rungs with the largest ROC-AUC drop."""
    steps = [(p, m) for p in _rungs(doc) if _supervised(p)
             for m in [_recurrent_mean(doc, p)] if m is not None and not math.isnan(m)]
    if len(steps) < 2:
        return "Fewer than two supervised rungs have figures, so no step of the ladder can be singled out."
    drop, a, b = max((x[1] - y[1], x[0], y[0]) for x, y in pairwise(steps))
    if drop <= 0:
        return "No step between neighbouring supervised rungs lowers the mean ROC-AUC."
    # Rungs absent between a and b leave their leakage to this step too: quote them all.
    ladder = list(registry.PROTOCOLS)
    causes = [registry.PROTOCOLS[p].removes for p in ladder[ladder.index(a) + 1: ladder.index(b) + 1]]
    return (f"The largest drop between neighbouring rungs is from `{a}` to `{b}` ({drop:.4f}), "
            f"the step that removes " + " and ".join(f'"{c}"' for c in causes) + ".")


def _control(doc: Doc) -> str:
    """The last-frame control against the recurrent heads under ``paper``; "" if either is absent."""
    lf, rec = _entries(doc).get(("paper", "last-frame")), _recurrent_mean(doc, "paper")
    if lf is None or rec is None:
        return ""
    lf_auc = _stat(lf)[0]
    if math.isnan(lf_auc) or math.isnan(rec):
        return "The `last-frame` control cannot be compared with the recurrent heads under `paper` (n/a)."
    gap = rec - lf_auc
    head = f"Under `paper` the `last-frame` control (one frame, no sequence) reaches {lf_auc:.4f} against {rec:.4f}"
    if abs(gap) <= SAME_AUC + 1e-12:  # tolerance for float noise in a difference of 4-decimal figures
        return f"{head}, within {SAME_AUC} ROC-AUC: there the sequence contributes nothing."
    if gap > 0:
        return f"{head}: the sequence adds {gap:.4f} ROC-AUC there."
    return f"{head}: the control beats the recurrent heads by {-gap:.4f}, so the sequence does not help there."


def _standard(doc: Doc) -> str:
    entries = _entries(doc)
    got = [(s, _stat(entries[("standard", s)])[0]) for s in doc["audit"]["scorers"] if ("standard", s) in entries]
    if not got:
        return f"The `standard` rung {_why_missing(doc, 'standard')}, so no one-class figure is available."
    figs = ", ".join(f"{s} {_fmt(m)}" for s, m in got)
    return (f"Under `standard` (one-class scorers fit on normal training frames only, the field's "
            f"protocol) the scorers reach ROC-AUC {figs}.")


def _anchors(dataset: registry.Dataset) -> str:
    if not dataset.standard_anchors:
        return f"No published frame-level ROC-AUC under the standard protocol is recorded for {dataset.title}."
    figs = "; ".join(f"{method} {auc:g}" for method, auc in dataset.standard_anchors)
    return (f"For orientation, published frame-level ROC-AUCs on {dataset.title} under the standard "
            f"protocol (PROTOCOL §10): {figs}.")


def headline(doc: Doc) -> str:
    """The audit's finding in one sentence: the recurrent heads' mean ROC-AUC under ``paper`` and
    under ``strict``, and the drop between them (or why it cannot be stated)."""
    heads = ", ".join(_paper_heads(doc)) or "none in this audit"
    paper, strict = _recurrent_mean(doc, "paper"), _recurrent_mean(doc, "strict")
    said = [f"{_fmt(m)} under `{p}`" if m is not None else f"`{p}` {_why_missing(doc, p)}"
            for p, m in (("paper", paper), ("strict", strict))]
    if paper is None or strict is None or math.isnan(paper - strict):
        end = ", so the drop from `paper` to `strict` cannot be stated."
    else:
        delta = paper - strict
        end = f", a drop of {delta:.4f}." if delta >= 0 else f", a rise of {-delta:.4f} (no drop)."
    return f"Mean ROC-AUC of the paper's recurrent heads ({heads}): {said[0]}; {said[1]}{end}"


def ladder_paragraph(doc: Doc) -> str:
    """One paragraph stating the audit's findings, every number taken from ``doc`` or the registry."""
    dataset = registry.get_dataset(_audit(doc)["dataset"])
    parts = [headline(doc), _largest_step(doc), _control(doc), _standard(doc), _anchors(dataset)]
    return " ".join(p for p in parts if p) + "\n"


def rung_counts(doc: Doc) -> dict[str, list[str]]:
    """The ladder's rungs (ladder order) by what the audit did with them: ``run`` (results),
    ``skipped`` (a skip record, no results), ``absent`` (neither: not asked for)."""
    ran, skipped = {p for p, _ in _entries(doc)}, _skipped(doc)
    return {"run": [p for p in registry.PROTOCOLS if p in ran],
            "skipped": [p for p in registry.PROTOCOLS if p in skipped and p not in ran],
            "absent": [p for p in registry.PROTOCOLS if p not in ran and p not in skipped]}


# ------------------------------------------------------------------------- the plot


def plot_ladder(doc: Doc) -> bytes:
    """PNG bytes (800 x 450 px): ROC-AUC mean ± std by rung, one line per head over the
    supervised rungs, one marker per scorer at ``standard``."""
    # A Figure with its own Agg canvas, not pyplot: no global backend or figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    audit, entries = _audit(doc), _entries(doc)
    rungs = [p for p in registry.PROTOCOLS if any(k[0] == p for k in entries)]
    x = {p: i for i, p in enumerate(rungs)}
    fig = Figure(figsize=FIG_SIZE, dpi=FIG_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for h in audit["heads"]:
        pts = [(x[p], *_stat(entries[(p, h)])) for p in rungs if _supervised(p) and (p, h) in entries]
        if pts:
            xs, ms, sds = zip(*pts)
            paper = h in registry.HEADS and registry.HEADS[h].in_paper  # baselines and controls dashed
            ax.errorbar(xs, ms, yerr=[0 if math.isnan(s) else s for s in sds], marker="o", capsize=3,
                        linestyle="-" if paper else "--", label=h)
    for i, s in enumerate(audit["scorers"]):
        if ("standard", s) in entries:
            m, sd = _stat(entries[("standard", s)])
            ax.errorbar([x["standard"]], [m], yerr=[0 if math.isnan(sd) else sd], marker=MARKERS[i % len(MARKERS)],
                        markersize=8, linestyle="none", color="black", capsize=3, label=f"{s} (one-class)")
    ax.set_xticks(range(len(rungs)), rungs)
    ax.set_xlim(-0.5, max(len(rungs), 1) - 0.5)
    ax.set_ylabel("ROC-AUC (mean ± std over runs)")
    weights = "" if audit.get("pretrained", True) else ", random weights"
    ax.set_title(f"Leakage audit: {registry.get_dataset(audit['dataset']).title}, {audit['backbone']}{weights}")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --------------------------------------------------------------- the report and files


def _provenance(doc: Doc) -> list[str]:
    prov, audit = doc.get("provenance") or {}, doc["audit"]
    git = prov.get("git") or {}
    dirty = {True: "uncommitted changes", False: "clean"}.get(git.get("dirty"), "dirty state unknown")
    argv = [str(a) for a in prov.get("argv") or []]
    # argv[0] is the full path of the script: a machine path has no place in a report.
    command = shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else "unknown"
    wall = audit.get("wall_seconds")
    lines = [
        f"- code: git {git.get('commit') or 'unknown'} ({dirty})",
        f"- run at: {utc_text(prov.get('utc'))}",
        f"- command: `{command}`",
        f"- wall time: {f'{wall:.1f} s' if wall is not None else 'unknown'}",
    ]
    if audit.get("n_frames") is not None:
        lines.append(f"- frames: {audit['n_frames']} test, {audit.get('n_train_frames', 'n/a')} normal training")
    return lines


def title(doc: Doc) -> str:
    """``"UCSD Ped2, tf_efficientnet_lite0"`` (``" (random weights)"`` appended where so)."""
    audit = _audit(doc)
    weights = "" if audit.get("pretrained", True) else " (random weights)"
    return f"{registry.get_dataset(audit['dataset']).title}, {audit['backbone']}{weights}"


TABLE_NOTE = ("Cells: ROC-AUC mean ± std over runs (accuracy mean). The last two columns: the share of "
              "test frames that also sit inside a training window, and inside a window early stopping "
              "watched; under `standard`, the share of test frames identical to a training frame.")


def rung_summary(doc: Doc) -> str:
    """``"4 of 5 rungs run; skipped: strict (no clip ids); not in the audit: temporal"``."""
    counts, skipped = rung_counts(doc), _skipped(doc)
    parts = [f"{len(counts['run'])} of {len(registry.PROTOCOLS)} rungs run"]
    if counts["skipped"]:
        parts.append("skipped: " + ", ".join(f"{p} ({skipped[p]})" if skipped[p] else p for p in counts["skipped"]))
    if counts["absent"]:
        parts.append("not in the audit: " + ", ".join(counts["absent"]))
    return "; ".join(parts)


def finding(doc: Doc) -> str:
    """The audit in one line, for a summary (``report.md``, ``anomaly-ref report``'s output):
    ``"leakage audit UCSD Ped2, lite0: 5 of 5 rungs run. Mean ROC-AUC ... a drop of 0.53."``"""
    return f"leakage audit {title(doc)}: {rung_summary(doc)}. {headline(doc)}"


def report_section(doc: Doc) -> str:
    """The audit as a section of a larger Markdown report (``report.md``): a level-2 heading,
    the findings paragraph and the ladder table; audit.md has the rungs and provenance too."""
    return "\n".join([f"## Leakage audit: {title(doc)}", "", ladder_paragraph(doc), TABLE_NOTE, "",
                      ladder_table(doc)])


def to_markdown(doc: Doc) -> str:
    """The whole ``audit.md``: title, findings paragraph, ladder table, rungs, provenance."""
    lines = [
        f"# Leakage audit: {title(doc)}",
        "",
        ladder_paragraph(doc),
        "## The ladder",
        "",
        TABLE_NOTE,
        "",
        ladder_table(doc),
        "## The rungs",
        "",
    ]
    lines += [f"- `{p}`: {registry.PROTOCOLS[p].description}" for p in _rungs(doc)]
    lines += ["", "## Provenance", "", *_provenance(doc)]
    return "\n".join(lines) + "\n"


SCORES_FILE = "scores.csv.gz"


def scores_blob(table) -> bytes:
    """The score table as gzip'd CSV, byte-identical for identical tables (no gzip time stamp)."""
    import io

    buf = io.BytesIO()
    table.to_csv(buf, index=False, compression={"method": "gzip", "mtime": 0}, float_format="%.9g")
    return buf.getvalue()


def write_audit(doc: Doc, out_dir: str | Path) -> dict[str, Path]:
    """``audit.json``, ``audit.md``, ``audit.png`` and (when the document carries its score
    table, a pandas DataFrame under ``"scores"``) ``scores.csv.gz`` under ``out_dir``, all or none.

    Everything is rendered in memory first; the files are then moved into place together,
    so a failure leaves any earlier audit in the folder as it was (a rendering failure saves
    the document alone as ``audit.unrendered.json``). ``out_dir`` is created
    if missing; its parent must exist. ``audit.json`` names the score file and its sha256.
    Returns ``{"json": path, "md": path, "png": path[, "scores": path]}``.
    """
    import hashlib

    out = Path(out_dir)
    if not out.parent.is_dir():
        raise InputError(f"cannot write the audit to {out}: its parent folder {out.parent} does not exist")
    doc = dict(doc)
    table = doc.pop("scores", None)
    blobs: dict[str, bytes] = {}
    if table is not None:
        blobs["scores"] = scores_blob(table)
        doc["audit"] = dict(doc["audit"]) | {"scores_file": SCORES_FILE,
                                              "scores_sha256": hashlib.sha256(blobs["scores"]).hexdigest(),
                                              "scores_rows": int(len(table))}
    text = dumps_json(doc)  # NaN (an undefined ROC-AUC) becomes null
    try:
        blobs = {"json": text.encode("utf-8"), "md": to_markdown(doc).encode("utf-8"), "png": plot_ladder(doc)} | blobs
    except Exception as exc:  # a rendering bug must not lose hours of fits: keep the results
        out.mkdir(exist_ok=True)
        keep = atomic_write_text(out / "audit.unrendered.json", text)
        if "scores" in blobs:
            (out / SCORES_FILE).write_bytes(blobs["scores"])
        raise RuntimeError(f"rendering the audit failed ({type(exc).__name__}: {exc}); its results are saved in "
                           f"{keep}: write_audit(json.load(open(path)), out_dir) renders them again") from exc
    paths = {kind: out / (SCORES_FILE if kind == "scores" else f"audit.{kind}") for kind in blobs}
    out.mkdir(exist_ok=True)
    with replacing(list(paths.values())) as temps:
        for temp, blob in zip(temps, blobs.values()):
            temp.write_bytes(blob)
    return paths
