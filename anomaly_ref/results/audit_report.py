"""The leakage audit rendered: the audit document in; ``audit.md``, ``audit.png`` and the file set out.

The audit runs one dataset through the ladder of ``registry.PROTOCOLS`` (from the paper's
protocol to the field's standard one). Its document (``audit.json``, format 2) has the shape::

    {"kind": "audit",
     "audit": {"format": 2, "dataset", "backbone", "pretrained", "protocols", "heads", "scorers",
               "skipped": [{"protocol", "reason"}], "n_frames", "n_train_frames", "construction",
               "partitions", "stats", "comparisons", "comparable", "probes", "scores_file", ...},
     "results": [ProtocolResult.to_dict() | {"stats": {...}}, ...],  # one per (protocol, head or scorer)
     "provenance": {"git": {"commit", "dirty"}, "utc", "argv", ...}}

Format-1 documents (no ``format``: no statistics, and a ``strict`` that is today's
``strict-test-only``) still render, relabelled (:mod:`.audit_doc`). The parts live apart:
:mod:`.audit_doc` reads, :mod:`.audit_tables` tabulates, :mod:`.audit_text` and
:mod:`.audit_steps` say what the figures mean, :mod:`.audit_plot` draws. This module puts
them together and writes the files as a set (:func:`write_audit`). Values may be NaN (ROC-AUC
of a single-class fold) and print as "n/a".
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Mapping

from .. import registry
from ..errors import InputError
from ..fileio import atomic_write_text, dumps_json, replacing
from ..valuefmt import utc_text
from . import audit_doc as d
from .audit_doc import target_rung  # noqa: F401
from .audit_plot import plot_data, plot_ladder  # noqa: F401  (write_audit looks plot_ladder up here)
from .audit_steps import all_steps
from .audit_tables import (  # noqa: F401  (the renderers' public names, imported from here)
    comparable_table, fits_table, ladder_records, ladder_table, partition_lines, probe_scored_table,
    probe_trained_table, rung_table, within_clip_table,
)
from .audit_text import (  # noqa: F401
    LEGACY_TABLE_NOTE, PROBES_NOTE, RUNG_NOTE, TABLE_NOTE, control_claims, early_stopping, headline,
    ladder_paragraph, legacy_note, multiplicity_note, scores_line,
)

Doc = d.Doc


def validate(doc: Doc) -> Mapping[str, Any]:
    """``doc["audit"]`` once the document holds what every renderer reads (InputError if not):
    for readers such as the report, which check a file before rendering anything."""
    return d.read(doc)["audit"]


def rung_counts(doc: Doc) -> dict[str, list[str]]:
    """The ladder's rungs (ladder order) by what the audit did with them: ``run`` (results),
    ``skipped`` (a skip record, no results), ``absent`` (neither: not asked for)."""
    doc = d.read(doc)
    ran, skipped = set(d.ran(doc)), d.skipped(doc)
    return {"run": [p for p in registry.PROTOCOLS if p in ran],
            "skipped": [p for p in registry.PROTOCOLS if p in skipped and p not in ran],
            "absent": [p for p in registry.PROTOCOLS if p not in ran and p not in skipped]}


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
    audit = d.check(doc)
    weights = "" if audit.get("pretrained", True) else " (random weights)"
    return f"{registry.get_dataset(audit['dataset']).title}, {audit['backbone']}{weights}"


def rung_summary(doc: Doc) -> str:
    """``"5 of 6 rungs run; skipped: strict (no training frames); not in the audit: temporal"``."""
    doc = d.read(doc)
    counts, skipped = rung_counts(doc), d.skipped(doc)
    parts = [f"{len(counts['run'])} of {len(registry.PROTOCOLS)} rungs run"]
    for old, new in (doc["audit"].get("relabelled") or {}).items():
        if new in counts["run"]:
            parts[0] += f" (format 1: its {old} shown as {new})"
    if counts["skipped"]:
        parts.append("skipped: " + ", ".join(f"{p} ({skipped[p]})" if skipped[p] else p for p in counts["skipped"]))
    if counts["absent"]:
        parts.append("not in the audit: " + ", ".join(counts["absent"]))
    return "; ".join(parts)


def finding(doc: Doc) -> str:
    """The audit in one line, for a summary (``report.md``, ``anomaly-ref report``'s output):
    ``"leakage audit UCSD Ped2, lite0: 6 of 6 rungs run. Mean per-fold ROC-AUC ... a drop of 0.53 ..."``"""
    return f"leakage audit {title(doc)}: {rung_summary(doc)}. {headline(doc)}"


# What a format-1 strict did that today's strict-test-only does not (issue 21): said beside its description.
LEGACY_RUNG = (" (This file's run predates issue 21: its runs' clip partitions were not drawn independently, and "
               "on a construction its test folds also scored copies and Train-clip frames.)")


def _ladder_block(doc: Doc) -> list[str]:
    """The ladder with its notes: the part every rendering of the audit shows."""
    if d.legacy(doc):
        return [legacy_note(doc), "", LEGACY_TABLE_NOTE, "", ladder_table(doc)]
    return [TABLE_NOTE, "", ladder_table(doc), RUNG_NOTE, "", rung_table(doc)]


def _claims(doc: Doc) -> list[str]:
    lines = control_claims(doc)
    if not lines:
        return []
    return ["Paired differences of the mean per-fold ROC-AUC, recurrent head minus the `last-frame` control (one "
            "frame, no sequence) on the same runs, folds and seeds, with their 95% clip-bootstrap interval: "
            "a difference is claimed only where the interval excludes 0.", "", *[f"- {c}" for c in lines], ""]


def report_section(doc: Doc) -> str:
    """The audit as a section of a larger Markdown report (``report.md``): a level-2 heading,
    the headline and findings, the ladder table (and per-rung chance table) and the control's
    comparisons; ``audit.md`` has the rest."""
    doc = d.read(doc)
    return "\n".join([f"## Leakage audit: {title(doc)}", "", ladder_paragraph(doc), *_ladder_block(doc),
                      *_claims(doc)])


def _sections(doc: Doc) -> list[str]:
    """The format-2 sections after the ladder, each present where the document has its part."""
    audit, lines = doc["audit"], []
    if _claims(doc):
        lines += ["## Does the sequence help?", "", *_claims(doc)]
    lines += ["## What each step changes", "",
              "Each rung is designed to remove one source of leakage, but a step between rungs changes more "
              "than that: every factor it changes is listed, and the step's difference measures them together.",
              "", *([note, ""] if (note := multiplicity_note(doc)) else []), *all_steps(doc)]
    if (audit.get("comparable") or {}).get("rows"):
        comp = audit["comparable"]
        lines += [f"## `{comp.get('rung')}` beside `standard` on identical frames", "",
                  f"The same statistics on the same items: {comp.get('rule', '')}.", "", comparable_table(doc)]
    lines += ["## Fits and early stopping", "", early_stopping(doc), "",
              "Share of fits whose scored weights are their first epoch's (epoch 0 restored):", "", fits_table(doc)]
    lines += ["## Within-clip ROC-AUC", "",
              "Inside one test clip no difference between clips can help a score: the mean of the per-clip "
              "ROC-AUCs over the clips that hold both classes.", "", within_clip_table(doc)]
    probes = audit.get("probes")
    if probes:
        lines += ["## The paper's construction: shortcut probes", "", _construction(audit.get("construction")),
                  "", PROBES_NOTE, "", "### Probe (a): the heads' own scores", "", probe_scored_table(doc),
                  "### Probe (b): heads trained to find the shortcut", "",
                  *[f"- `{k}`: {v}" for k, v in (probes.get("targets") or {}).items()], "", probe_trained_table(doc)]
        lines += [f"- probe `{s.get('probe')}` skipped: {s.get('reason')}" for s in probes.get("skipped") or []]
    parts = partition_lines(doc)
    if parts:
        lines += ["## Partitions", "", "The test clips of each fold, each run its own partition:", "", *parts, ""]
    lines += ["## Scores", "", scores_line(doc), ""]
    return lines


def _construction(c: Mapping[str, Any] | None) -> str:
    if not c:
        return "The source is a construction of the paper's kind."
    return (f"The source is a construction: {c.get('rows')} rows, of which {c.get('copies')} flip / rotation "
            f"copies, {c.get('train_clip_frames')} frames of the normal Train clips and "
            f"{c.get('test_clip_originals')} original test-clip frames.")


def to_markdown(doc: Doc) -> str:
    """The whole ``audit.md``: the headline first, the findings, the ladder, then every other
    part the document holds (format 2), the rungs and the provenance."""
    doc = d.read(doc)
    lines = [f"# Leakage audit: {title(doc)}", "", f"**{headline(doc)}**", "",
             ladder_paragraph(doc)[len(headline(doc)):].strip(), "", "## The ladder", "", *_ladder_block(doc)]
    if not d.legacy(doc):
        lines += _sections(doc)
    lines += ["## The rungs", ""]
    relabelled = set((doc["audit"].get("relabelled") or {}).values())
    lines += [f"- `{p}`: {registry.PROTOCOLS[p].description}{LEGACY_RUNG if d.legacy(doc) and p in relabelled else ''}"
              for p in d.rungs(doc)]
    lines += ["", "## Provenance", "", *_provenance(doc)]
    return "\n".join(lines) + "\n"


SCORES_FILE = "scores.csv.gz"


def scores_blob(table) -> bytes:
    """The score table as gzip'd CSV, byte-identical for identical tables (no gzip time stamp)."""
    import io

    buf = io.BytesIO()
    table.to_csv(buf, index=False, compression={"method": "gzip", "mtime": 0}, float_format="%.17g")  # round-trips float64 exactly
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
