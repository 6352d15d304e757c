"""The report a reviewer opens: result files in, a folder of outputs out.

``build`` reads any mix of result files (:mod:`.sources`), judges every configuration
against the paper (:mod:`.verdicts`), and renders ``report.html`` (:mod:`.report_html`),
``report.xlsx`` (:mod:`.report_xlsx`), ``<dataset>.png`` (:mod:`.report_plots`) and
``report.md`` (:mod:`.report`); ``write`` puts them in a folder all together or not at all.
Each leakage audit among the inputs leads the summary of the page and of ``report.md`` (its
rungs and headline drop, :mod:`.audit_report`), has its section there, and a sheet of the workbook.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import registry
from ..errors import InputError
from ..fileio import replacing
from . import report_html, report_plots, report_xlsx, sources, verdicts
from .compare import Tolerance
from .report import Row, to_markdown

log = logging.getLogger(__name__)
TITLE = "anomaly-ref: reproduction vs paper"


@dataclass
class Report:
    files: list[sources.Loaded]
    entries: list[sources.Entry]
    rows: list[Row]
    tallies: list[verdicts.Tally]
    blobs: dict[str, bytes]  # file name -> bytes


def build(paths: Sequence[str | os.PathLike], tolerance: Tolerance | None = None, reference=None,
          dataset: str | None = None, extractor: str | None = None, title: str = TITLE) -> Report:
    """Read, judge and render; nothing is written. ``dataset``/``extractor``: assumed for
    older reproduce files that do not record them. Raises InputError for an empty list or
    any file that cannot be used (naming it)."""
    from .workbook import load_reference

    if not paths:
        raise InputError("no result files given: name at least one (reproduce --out, the bench's reproduce.json, "
                         "an audit's audit.json)")
    tolerance = tolerance or Tolerance()
    reference = load_reference() if reference is None else reference
    files = [sources.load(p, dataset, extractor) for p in paths]
    entries = sources.merge(files)
    if not entries and not any(f.section is not None for f in files):
        raise InputError(f"{files[0].path}: holds no results to report")
    rows = verdicts.judge(entries, reference, tolerance)
    tallies = verdicts.tallies(rows)
    plots = {d: report_plots.plot_dataset([e for e in entries if e.dataset == d], reference)
             for d in registry.DATASETS if any(e.dataset == d and e.summary is not None for e in entries)}
    ctx = report_html.context(files, entries, rows, tallies, tolerance, plots, title,
                              verdicts.published(entries, reference))
    audits = [f for f in files if f.kind == "audit"]
    standards = [f for f in files if f.kind == "standard"]
    blobs = {
        "report.html": report_html.render(ctx).encode("utf-8"),
        "report.md": _markdown(rows, title, audits, standards).encode("utf-8"),
        "report.xlsx": report_xlsx.render(entries, rows, audits),
        **{f"{d}.png": png for d, png in plots.items()},
    }
    return Report(files, entries, rows, tallies, blobs)


def _markdown(rows: Sequence[Row], title: str, audits: Sequence[sources.Loaded],
              standards: Sequence[sources.Loaded] = ()) -> str:
    """The diff table, led by each audit's rungs and headline and followed by its ladder, then
    each standard document's "what these features can honestly do" table."""
    from .audit_report import finding, report_section
    from .standard_report import report_section as standard_section

    docs = [f.section for f in audits]
    return to_markdown(list(rows), title, [finding(d) for d in docs],
                       [report_section(d) for d in docs] + [standard_section(f.section) for f in standards])


def write(report: Report, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Every output under ``out_dir`` (created if missing; its parent must exist), moved into
    place together once all are rendered: an earlier report there stays whole until then."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot write the report to {out}: it is a file, not a folder")
    if not out.parent.is_dir():
        raise InputError(f"cannot write the report to {out}: its parent folder {out.parent} does not exist")
    out.mkdir(exist_ok=True)
    paths = {name: out / name for name in report.blobs}
    with replacing(list(paths.values())) as temps:
        for temp, name in zip(temps, paths):
            temp.write_bytes(report.blobs[name])
    log.info("wrote %s", ", ".join(map(str, paths.values())))
    return paths
