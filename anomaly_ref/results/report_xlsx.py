"""``report.xlsx``: our numbers in the authors' own workbook layout (PROTOCOL §7), for a
reviewer to open beside theirs, plus a sheet of deltas and one of per-run values.

Sheets:

- one per dataset (and per protocol other than ``paper``, titled "<dataset> (<protocol>)")
  laid out exactly as the authors' workbooks: columns A-D the paper's heads, six blocks of
  eight rows, one per paper backbone: the backbone's name, ``==== Summary for HEAD (over N
  runs) ====``, the five metrics as ``Accuracy: 0.9855 ± 0.0028``, a blank row. A
  configuration the report does not hold keeps its name and header and no values.
  :func:`anomaly_ref.results.workbook.parse_workbook` reads these sheets back
  (``sheet=...``; ``allow_missing=True`` where a block is empty).
- ``not in paper``: configurations the paper did not publish (another backbone or head),
  in the same block style, one block per (dataset, protocol, extractor).
- ``deltas``: one row per metric cell: ours, paper, ours − paper, the tolerance bound and
  the verdict, coloured by verdict (conditional formatting, so it survives edits).
- ``runs``: one row per run: seeds and the five metrics.
- ``audit`` (where a leakage audit is among the inputs): one row per rung and head or scorer:
  the mean per-fold ROC-AUC with its 95% interval (CI low / high), its spread over runs
  (population and sample std), the rank-pooled and raw pooled AUC, the within-clip AUC, the
  chance band (low / high, p) and the base-rate reference, the share of fits restoring epoch 0,
  the runs' metric means and stds, and shares of test frames as percentages (format-1 audits:
  the statistics' columns empty).

Every text cell is a string, as every cell of the authors' workbooks is: openpyxl takes a
text starting with "=" (each ``==== Summary ...`` header) for a formula, which a spreadsheet
reads as an invalid formula with no value (pandas: NaN), so :func:`_as_text` undoes that.
"""

from __future__ import annotations

import io
from typing import Sequence

from openpyxl.utils import get_column_letter

from .. import registry
from ..valuefmt import format_value
from .audit_tables import POOLED
from .report import METRIC_TITLES, Row, reason
from .sources import Entry, Loaded

BLOCK_ROWS = 8  # name, header, five metrics, blank
FILLS = {"ok": "C6EFCE", "off": "FFC7CE", "error": "D9D9D9", "not run": "D9D9D9", "unpublished": "DDEBF7"}


def layout_sheet_name(dataset: str, protocol: str) -> str:
    """The sheet holding ``dataset`` under ``protocol`` in the authors' layout."""
    title = registry.get_dataset(dataset).title
    return title if protocol == "paper" else f"{title} ({protocol})"


def _n_runs(entry: Entry) -> int:
    return len(entry.runs) or 5  # a sweep file written before it kept runs: the bench's default


def _write_block(ws, row: int, col: int, name: str, head: str, entry: Entry | None) -> None:
    ws.cell(row, col, name)
    runs = _n_runs(entry) if entry is not None and entry.summary is not None else 5
    ws.cell(row + 1, col, f"==== Summary for {head} (over {runs} runs) ====")
    if entry is None or entry.summary is None:
        return
    for k, m in enumerate(registry.METRICS.values()):
        ws.cell(row + 2 + k, col, f"{m.label}: {format_value(*entry.summary[m.name])}")


def _layout(wb, dataset: str, protocol: str, by_key: dict) -> None:
    ws = wb.create_sheet(layout_sheet_name(dataset, protocol))
    for b, backbone in enumerate(registry.paper_backbones()):
        for c, head in enumerate(registry.paper_heads(), start=1):
            _write_block(ws, 1 + b * BLOCK_ROWS, c, backbone, head, by_key.get((dataset, backbone, head, protocol)))
    for c in range(1, len(registry.paper_heads()) + 1):
        ws.column_dimensions[get_column_letter(c)].width = 42


def _not_in_paper(wb, entries: Sequence[Entry]) -> None:
    others = [e for e in entries if not (registry.BACKBONES[e.extractor].in_paper and registry.HEADS[e.head].in_paper)]
    if not others:
        return
    ws = wb.create_sheet("not in paper")
    groups: dict[tuple, list[Entry]] = {}
    for e in others:
        groups.setdefault((e.dataset, e.protocol, e.extractor), []).append(e)
    row = 1
    for (dataset, protocol, extractor), es in groups.items():
        for c, e in enumerate(es, start=1):
            _write_block(ws, row, c, f"{extractor} ({registry.get_dataset(dataset).title}, {protocol})", e.head, e)
            ws.column_dimensions[get_column_letter(c)].width = 52
        row += BLOCK_ROWS


def _table(wb, title: str, header: list[str], rows: list[list]) -> object:
    ws = wb.create_sheet(title)
    ws.append(header)
    for r in rows:
        ws.append(r)
    ws.freeze_panes = "A2"
    for c, name in enumerate(header, start=1):
        ws.column_dimensions[ws.cell(1, c).column_letter].width = max(10, len(name) + 2)
    return ws


def _deltas(wb, rows: Sequence[Row]) -> None:
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import PatternFill

    header = ["dataset", "extractor", "head", "protocol", "metric", "ours mean", "ours std", "paper mean",
              "paper std", "ours - paper", "bound", "status", "error"]
    table = []
    for r in rows:
        ours = r.ours or (None, None)
        paper = r.paper or (None, None)
        delta = ours[0] - paper[0] if r.ours and r.paper else None
        table.append([r.dataset, r.extractor, r.head, r.protocol, METRIC_TITLES.get(r.metric, r.metric), *ours,
                      *paper, delta, r.bound, r.status, reason(r.status, r.error) or None])
    ws = _table(wb, "deltas", header, table)
    last = len(table) + 1
    status_col = ws.cell(1, header.index("status") + 1).column_letter
    for status, colour in FILLS.items() if table else ():  # the whole row takes its verdict's colour
        fill = PatternFill(start_color=colour, end_color=colour, fill_type="solid")
        ws.conditional_formatting.add(f"A2:M{last}", FormulaRule(formula=[f'${status_col}2="{status}"'], fill=fill))
    for c in ("F", "G", "H", "I", "J", "K"):
        for cell in ws[c][1:]:
            cell.number_format = "0.0000"


def _runs(wb, entries: Sequence[Entry]) -> None:
    header = ["dataset", "extractor", "head", "protocol", "run", "split seed", "model seed", *registry.METRICS,
              "epochs"]
    table = [[e.dataset, e.extractor, e.head, e.protocol, r.get("run"), r.get("split_seed"), r.get("model_seed"),
              *(r["metrics"].get(m) for m in registry.METRICS), r.get("epochs")]
             for e in entries for r in e.runs]
    _table(wb, "runs", header, table)


def _audit(wb, audits: Sequence[Loaded]) -> None:
    from .audit_report import ladder_records, title

    rows = [{"audit": title(f.section), **r} for f in audits for r in ladder_records(f.section)]
    if not rows:
        return
    header = list(rows[0])
    ws = _table(wb, "audit", header, [[r[c] for c in header] for r in rows])
    for c, name in enumerate(header, start=1):
        fmt = _audit_format(name)
        for cell in ws[get_column_letter(c)][1:] if fmt else ():
            cell.number_format = fmt
    ws.column_dimensions["A"].width = 34


def _audit_format(name: str) -> str | None:
    """The number format of an ``audit`` column: shares as percentages, AUCs and their
    intervals, spreads and bands to the workbooks' 4 decimals; counts and text as they are."""
    if name.startswith(("test frames", "fits restoring")):
        return "0.0%"
    if name == "permutation p":
        return "0.000"
    if name.endswith((" mean", " std", POOLED)) or any(k in name for k in ("ROC-AUC", "CI ", "std over", "chance band")):
        return "0.0000"
    return None


def _as_text(wb) -> None:
    """Every cell openpyxl took for a formula becomes the string it was given: the report
    writes no formulas (its colours are conditional-formatting rules, not cells)."""
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


def render(entries: Sequence[Entry], rows: Sequence[Row], audits: Sequence[Loaded] = ()) -> bytes:
    """The workbook's bytes (nothing is written here); ``audits``: the loaded audit files."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    by_key = {e.key: e for e in entries}
    # Every dataset reported gets its layout sheet, even if none of its configurations is
    # the paper's (its blocks then stay empty), so the sheets always line up with the authors'.
    layouts = dict.fromkeys((e.dataset, e.protocol) for e in entries)
    for dataset, protocol in layouts:
        _layout(wb, dataset, protocol, by_key)
    _not_in_paper(wb, entries)
    _deltas(wb, rows)
    _runs(wb, entries)
    _audit(wb, audits)
    _as_text(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
