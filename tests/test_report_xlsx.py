"""report.xlsx is the authors' workbook layout: the project's own parser reads it back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from anomaly_ref import registry
from anomaly_ref.errors import WorkbookError
from anomaly_ref.results import full_report
from anomaly_ref.results.report_xlsx import layout_sheet_name
from anomaly_ref.results.workbook import parse_workbook
from resultfiles import PROV, entry, mixed_sweep, write


def _random_entries(rng, datasets, protocol="paper", n_runs=5):
    """Every paper configuration of ``datasets`` with random figures."""
    return [entry(d, b, h, {m: (float(rng.uniform(0.3, 1.0)), float(rng.uniform(0, 0.05))) for m in registry.METRICS},
                  protocol=protocol, n_runs=n_runs)
            for d in datasets for b in registry.paper_backbones() for h in registry.paper_heads()]


def _expected(results, dataset, protocol="paper"):
    """What the sheet must read back: the 4-decimal text we wrote, as numbers."""
    return {(e["extractor"], e["head"], m): (float(f"{v['mean']:.4f}"), float(f"{v['std']:.4f}"))
            for e in results if e["dataset"] == dataset and e["protocol"] == protocol
            for m, v in e["summary"].items()}


def _parsed(df):
    return {(r.extractor, r.model, r.metric): (r.mean, r.std) for r in df.itertuples()}


def test_every_dataset_sheet_reads_back_exactly(tmp_path):
    results = _random_entries(np.random.default_rng(0), list(registry.DATASETS))
    path = write(tmp_path / "all.json", {"kind": "sweep", "results": results, "provenance": PROV})
    xlsx = tmp_path / "report.xlsx"
    xlsx.write_bytes(full_report.build([path]).blobs["report.xlsx"])
    for d in registry.DATASETS:
        # Strict: the parser as it reads the authors' workbooks, every block present.
        df = parse_workbook(xlsx, d, sheet=layout_sheet_name(d, "paper"))
        assert len(df) == 120
        assert _parsed(df) == _expected(results, d)


def test_partial_sheets_and_other_protocols_read_back(tmp_path):
    rng = np.random.default_rng(1)
    results = _random_entries(rng, ["ped1"], n_runs=3)[:7] + _random_entries(rng, ["ped1"], protocol="paper-val")[5:9]
    path = write(tmp_path / "part.json", {"kind": "sweep", "results": results, "provenance": PROV})
    xlsx = tmp_path / "report.xlsx"
    xlsx.write_bytes(full_report.build([path]).blobs["report.xlsx"])
    for protocol, n in (("paper", 7), ("paper-val", 4)):
        sheet = layout_sheet_name("ped1", protocol)
        with pytest.raises(WorkbookError, match="metric 'Accuracy' is missing"):  # blocks without values
            parse_workbook(xlsx, "ped1", sheet=sheet)
        df = parse_workbook(xlsx, "ped1", sheet=sheet, allow_missing=True)
        assert len(df) == 5 * n and _parsed(df) == _expected(results, "ped1", protocol)
    ws = openpyxl.load_workbook(xlsx)[layout_sheet_name("ped1", "paper")]
    assert ws["A1"].value == "convnext_tiny" and ws["A2"].value == "==== Summary for LSTM (over 3 runs) ===="


def test_deltas_and_runs_sheets(tmp_path):
    path, _ = mixed_sweep(tmp_path / "sweep.json")
    report = full_report.build([path])
    wb = openpyxl.load_workbook(io.BytesIO(report.blobs["report.xlsx"]))
    assert wb.sheetnames == ["UCSD Ped2", "not in paper", "deltas", "runs"]
    deltas = list(wb["deltas"].iter_rows(values_only=True))
    header, body = deltas[0], deltas[1:]
    assert len(body) == len(report.rows)
    by_status = {}
    for row in body:
        by_status[row[header.index("status")]] = by_status.get(row[header.index("status")], 0) + 1
    assert by_status == {"ok": 5, "off": 5, "error": 1, "not run": 1, "unpublished": 5}
    ok = next(r for r in body if r[header.index("status")] == "ok")
    assert ok[header.index("ours - paper")] == pytest.approx(0.0)
    assert wb["deltas"].conditional_formatting  # verdict colours as rules, so they survive sorting
    runs = list(wb["runs"].iter_rows(values_only=True))
    assert len(runs) == 1 + 3 * 2  # three configurations ran, two runs each
    other = wb["not in paper"]
    assert other["A1"].value == "tf_efficientnet_lite0 (UCSD Ped2, paper)"
    assert other["A3"].value == "Accuracy: 0.9000 ± 0.0100"


REAL_AUDIT = Path(__file__).resolve().parents[1] / "reference" / "ped2_audit" / "lite0" / "audit.json"
PAPER_WORKBOOK = "Results of Sequential Neural Networks for {}.xlsx"


@pytest.fixture(scope="module")
def mixed_xlsx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xlsx")
    path, _ = mixed_sweep(tmp / "sweep.json")
    xlsx = tmp / "report.xlsx"
    xlsx.write_bytes(full_report.build([path, REAL_AUDIT]).blobs["report.xlsx"])
    return xlsx


def test_no_cell_is_a_formula(mixed_xlsx):
    wb = openpyxl.load_workbook(mixed_xlsx)
    formulas = [f"{ws.title}!{c.coordinate}: {c.value!r}" for ws in wb for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []


def test_summary_headers_read_back_as_text(mixed_xlsx):
    header = "==== Summary for LSTM (over 2 runs) ===="
    ws = openpyxl.load_workbook(mixed_xlsx, data_only=True)["UCSD Ped2"]  # what a spreadsheet shows
    assert ws["A1"].value == "convnext_tiny" and ws["A2"].value == header
    assert all(ws.cell(r, c).value is not None for r in range(2, 49, 8) for c in range(1, 5))
    df = pd.read_excel(mixed_xlsx, sheet_name="UCSD Ped2", header=None)
    assert df.iloc[1, 0] == header and df.iloc[2, 0] == "Accuracy: " + df.iloc[2, 0].split(": ")[1]
    assert df.iloc[:, :4].map(lambda v: isinstance(v, str) or pd.isna(v)).all().all()


def test_cells_are_strings_where_the_authors_are(mixed_xlsx, shared):
    # The authors' workbooks hold every cell as a string: so does our layout sheet.
    theirs = openpyxl.load_workbook(shared / "paper" / PAPER_WORKBOOK.format("UCSD Ped2")).active
    ours = openpyxl.load_workbook(mixed_xlsx)["UCSD Ped2"]
    kinds = {(c.row, c.column): c.data_type for row in theirs.iter_rows() for c in row if c.value is not None}
    assert set(kinds.values()) == {"s"}
    assert {ours.cell(r, c).data_type for (r, c) in kinds if ours.cell(r, c).value is not None} == {"s"}


def test_audit_sheet_one_row_per_rung_and_head_or_scorer(mixed_xlsx):
    doc = json.loads(REAL_AUDIT.read_text())
    wb = openpyxl.load_workbook(mixed_xlsx, data_only=True)
    assert wb.sheetnames == ["UCSD Ped2", "not in paper", "deltas", "runs", "audit"]
    header, *body = wb["audit"].iter_rows(values_only=True)
    assert len(body) == len(doc["results"])
    col = {name: i for i, name in enumerate(header)}
    first = doc["results"][0]
    row = next(r for r in body if (r[col["rung"]], r[col["head or scorer"]]) == (first["protocol"], first["head"]))
    assert row[col["audit"]] == "UCSD Ped2, tf_efficientnet_lite0"
    assert row[col["ROC-AUC mean, per run, folds pooled"]] == pytest.approx(first["summary"]["roc_auc"]["mean"])
    assert isinstance(row[col["test frames inside training windows"]], float)
    df = pd.read_excel(mixed_xlsx, sheet_name="audit")
    assert df["ROC-AUC mean, per run, folds pooled"].dtype == float and df["runs"].dtype.kind == "i"


def test_the_committed_example_workbook_has_no_formula():
    # docs/report/ is what a reader opens first: regenerated by the command in its README.
    wb = openpyxl.load_workbook(Path(__file__).resolve().parents[1] / "docs" / "report" / "report.xlsx")
    assert not [c.coordinate for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]


def test_audit_sheet_has_the_intervals_spreads_and_chance_band(tmp_path):
    # A format-2 audit (as today's audit writes it): the statistics as numbers beside the ladder.
    golden = json.loads((Path(__file__).resolve().parent / "golden" / "audit.json").read_text())
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(golden | {"provenance": {}}))
    sweep, _ = mixed_sweep(tmp_path / "sweep.json")
    xlsx = tmp_path / "report.xlsx"
    xlsx.write_bytes(full_report.build([sweep, path]).blobs["report.xlsx"])
    df = pd.read_excel(xlsx, sheet_name="audit")
    for col in ("mean per-fold ROC-AUC", "CI low", "CI high", "std over runs (population)", "std over runs (sample)",
                "rank-pooled ROC-AUC", "raw pooled ROC-AUC (biased on k-fold rungs)", "chance band low",
                "chance band high", "base-rate raw pooled ROC-AUC"):
        assert col in df.columns and df[col].dtype == float, col
    row = df[(df["rung"] == "strict") & (df["head or scorer"] == "GRU")].iloc[0]
    assert (row["CI low"], row["mean per-fold ROC-AUC"], row["CI high"]) == pytest.approx((0.783684577, 0.857488481,
                                                                                            0.923333333))
    assert (row["std over runs (population)"], row["std over runs (sample)"]) == pytest.approx((0.038599592, 0.054588067))
    assert (row["chance band low"], row["chance band high"]) == pytest.approx((0.733738479, 0.840867527))
    assert row["base-rate raw pooled ROC-AUC"] == pytest.approx(0.44212963)
    knn = df[(df["rung"] == "standard") & (df["head or scorer"] == "knn1")].iloc[0]
    assert pd.isna(knn["std over runs (population)"])  # one deterministic run: no spread
    ws = openpyxl.load_workbook(xlsx)["audit"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("CI low") + 1).number_format == "0.0000"
