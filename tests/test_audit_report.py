"""The audit report: synthetic audit documents in, the table, paragraph, plot and files out."""

from __future__ import annotations

import ast
import json
import math
import struct
from pathlib import Path

import pytest

from anomaly_ref import registry
from anomaly_ref.errors import InputError
from anomaly_ref.results import audit_report
from anomaly_ref.results.audit_report import (
    ladder_paragraph,
    ladder_table,
    plot_ladder,
    to_markdown,
    write_audit,
)

HEADS = list(registry.HEADS)  # LSTM, GRU, LSTM_GRU, SimpleRNN, Dense, last-frame
RECURRENT = registry.paper_heads()
SCORERS = ["knn1", "mahalanobis"]
MONITOR = {p.name: p.monitor for p in registry.PROTOCOLS.values()}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def entry(protocol: str, head: str, auc: float, std: float = 0.001, acc: float = 0.95,
          overlap: float | None = 0.5, n_runs: int = 2) -> dict:
    """One result entry as ``ProtocolResult.to_dict()`` writes it, with the given summary."""
    metrics = {"accuracy": acc, "precision": acc, "recall": acc, "f1": acc, "roc_auc": auc}
    runs = [{"run": r, "metrics": metrics, "monitor": MONITOR[protocol], "test_frames_in_train": overlap,
             "n_train": 100, "n_val": 20, "n_test": 30, "epochs": 5, "folds": []} for r in range(n_runs)]
    summary = {m: {"mean": v, "std": std if m == "roc_auc" else 0.0} for m, v in metrics.items()}
    return {"protocol": protocol, "head": head, "config": {}, "runs": runs, "summary": summary}


def rung(protocol: str, auc: float, **kw) -> list[dict]:
    """Every head of a supervised rung (or every scorer of ``standard``) at ROC-AUC ``auc``."""
    names = SCORERS if protocol == "standard" else HEADS
    return [entry(protocol, n, auc, **kw) for n in names]


def make_doc(results: list[dict], skipped: list[dict] = (), dataset: str = "ped2", pretrained: bool = True) -> dict:
    return {
        "audit": {"dataset": dataset, "backbone": "tf_efficientnet_lite0", "pretrained": pretrained,
                  "protocols": list(registry.PROTOCOLS), "heads": HEADS, "scorers": SCORERS,
                  "skipped": list(skipped), "n_frames": 2010, "n_train_frames": 2550, "wall_seconds": 1234.5},
        "results": results,
        "provenance": {"git": {"commit": "abc123", "dirty": False}, "utc": "2025-01-02T03:04:05+00:00",
                       "argv": ["/home/u/.venv/bin/anomaly-ref", "audit", "--dataset", "ped2"], "versions": {}},
    }


def full_doc() -> dict:
    """All five rungs; recurrent means 0.985, 0.97, 0.95, 0.70; the largest step is temporal -> strict."""
    results = [entry("paper", h, a) for h, a in zip(RECURRENT, (0.99, 0.98, 0.99, 0.98))]
    results += [entry("paper", "Dense", 0.97), entry("paper", "last-frame", 0.90)]
    results += rung("paper-val", 0.97) + rung("temporal", 0.95, overlap=0.998) + rung("strict", 0.70, overlap=0.0)
    results += [entry("standard", "knn1", 0.9012, std=0.0, overlap=0.0, n_runs=1),
                entry("standard", "mahalanobis", 0.8811, std=0.0, overlap=0.0, n_runs=1)]
    return make_doc(results)


def table_rows(table: str) -> dict[str, list[str]]:
    """``{rung: cells after the rung}`` from the Markdown table."""
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


# --------------------------------------------------------------------------- table


def test_table_has_one_row_per_rung_in_ladder_order_and_a_column_per_head_and_scorer():
    doc = full_doc()
    doc["results"] = doc["results"][::-1]  # the table orders by the ladder, not by the document
    table = ladder_table(doc)
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    assert header == ["rung", *HEADS, *SCORERS, "early stopping watches", "test frames inside training windows",
                      "test frames inside watched windows"]
    rows = table_rows(table)
    assert list(rows) == list(registry.PROTOCOLS)
    assert all(len(cells) == len(header) - 1 for cells in rows.values())
    assert rows["paper"][-3:-1] == ["test split", "50.0%"]
    assert rows["temporal"][-3:-1] == ["validation split", "99.8%"]
    assert rows["standard"][:len(HEADS)] == ["—"] * len(HEADS)  # no heads on the one-class rung
    assert rows["strict"][len(HEADS):len(HEADS) + 2] == ["—", "—"]  # no scorers on supervised rungs
    assert rows["standard"][len(HEADS):] == ["0.9012 ± 0.0000 (acc 0.950)", "0.8811 ± 0.0000 (acc 0.950)", "—", "0.0%",
                                             "—"]


def test_table_cell_text_for_a_known_value():
    doc = make_doc([entry("paper", "LSTM", 0.9969, std=0.0013, acc=0.979)])
    assert table_rows(ladder_table(doc))["paper"][0] == "0.9969 ± 0.0013 (acc 0.979)"
    assert table_rows(ladder_table(doc))["paper"][1] == "not run"  # GRU was not in this document


def test_nan_shows_n_a():
    doc = make_doc([entry("strict", "LSTM", math.nan, std=math.nan, acc=math.nan, overlap=None)])
    cells = table_rows(ladder_table(doc))["strict"]
    assert cells[0] == "n/a (acc n/a)" and cells[-1] == "n/a"
    assert "n/a under `strict`" in ladder_paragraph(doc)


def test_skipped_rung_is_a_row_with_its_reason():
    doc = make_doc(rung("paper", 0.99), skipped=[{"protocol": "standard", "reason": "no training | frames"}])
    rows = table_rows(ladder_table(doc))
    assert list(rows) == ["paper", "standard"]
    assert rows["standard"][0] == "skipped: no training \\| frames"  # a '|' would break the row


# ----------------------------------------------------------------------- paragraph


def test_paragraph_states_paper_and_strict_means_the_drop_and_the_largest_step():
    text = ladder_paragraph(full_doc())
    assert "0.9850 under `paper`; 0.7000 under `strict`, a drop of 0.2850." in text
    assert "from `temporal` to `strict` (0.2500)" in text
    assert f'"{registry.PROTOCOLS["strict"].removes}"' in text
    assert "knn1 0.9012, mahalanobis 0.8811" in text
    assert "PROTOCOL §10" in text and "Liu et al., CVPR 2018 0.954" in text


def test_largest_step_can_be_early_and_spans_absent_rungs():
    doc = make_doc(rung("paper", 0.99) + rung("temporal", 0.80) + rung("strict", 0.75))
    text = ladder_paragraph(doc)
    assert "from `paper` to `temporal` (0.1900)" in text
    # paper-val is absent: its leakage is removed by the same step, and the text says so
    assert registry.PROTOCOLS["paper-val"].removes in text and registry.PROTOCOLS["temporal"].removes in text


@pytest.mark.parametrize("last_frame, verdict", [  # the recurrent heads' mean is 0.9850
    (0.980, "within 0.01 ROC-AUC: there the sequence contributes nothing"),
    (0.975, "within 0.01 ROC-AUC: there the sequence contributes nothing"),  # exactly 0.01 below
    (0.995, "within 0.01 ROC-AUC: there the sequence contributes nothing"),  # exactly 0.01 above
    (0.9749, "the sequence adds 0.0101 ROC-AUC there"),
    (0.996, "the control beats the recurrent heads by 0.0110"),
])
def test_last_frame_sentence_flips_at_the_threshold(last_frame, verdict):
    doc = full_doc()
    for e in doc["results"]:
        if e["head"] == "last-frame" and e["protocol"] == "paper":
            e["summary"]["roc_auc"]["mean"] = last_frame
    text = ladder_paragraph(doc)
    assert f"reaches {last_frame:.4f} against 0.9850" in text and verdict in text


def test_missing_strict_says_the_drop_cannot_be_stated():
    doc = make_doc(rung("paper", 0.99), skipped=[{"protocol": "strict", "reason": "no clip ids"}])
    text = ladder_paragraph(doc)
    assert "`strict` was skipped (no clip ids)" in text and "cannot be stated" in text
    assert "no step of the ladder can be singled out" in text
    assert "The `standard` rung is not in this audit" in text
    assert "# Leakage audit: UCSD Ped2" in to_markdown(doc)


def test_missing_standard_and_only_paper_and_strict():
    doc = make_doc(rung("paper", 0.99) + rung("strict", 0.60),
                   skipped=[{"protocol": "standard", "reason": "no training frames"}])
    text = ladder_paragraph(doc)
    assert "a drop of 0.3900" in text and "from `paper` to `strict` (0.3900)" in text
    assert "The `standard` rung was skipped (no training frames)" in text


def test_dataset_without_anchors_says_so():
    doc = make_doc(rung("paper", 0.99), dataset="umn")
    assert "No published frame-level ROC-AUC under the standard protocol is recorded for UMN" in ladder_paragraph(doc)


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("results"), "missing key 'results'"),
    (lambda d: d["audit"].pop("heads"), "'audit' lacks 'heads'"),
    (lambda d: d["results"].append(entry("paper", "LSTM", 0.5)), r"results\[6\] repeats protocol 'paper' with head 'LSTM'"),
    (lambda d: d["results"][0].update(protocol="leaky"), "protocol 'leaky'; valid: paper, paper-val"),
])
def test_malformed_documents_name_the_problem(mutate, match):
    doc = make_doc(rung("paper", 0.99))
    mutate(doc)
    with pytest.raises(InputError, match=match):
        to_markdown(doc)


# ------------------------------------------------------------------ plot, markdown


def test_plot_is_a_png_of_the_figure_size():
    png = plot_ladder(full_doc())
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])  # IHDR follows the signature and chunk header
    assert (width, height) == (800, 450)
    assert plot_ladder(make_doc([entry("strict", "LSTM", math.nan, std=math.nan)])).startswith(PNG_SIGNATURE)


def test_module_does_not_import_pyplot():
    # pyplot keeps global figures and may switch the process's backend; the module must not touch it
    tree = ast.parse(Path(audit_report.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "matplotlib.figure.Figure" in names and not any("pyplot" in n for n in names)


def test_markdown_has_title_paragraph_table_rungs_and_provenance():
    md = to_markdown(make_doc(rung("paper", 0.99) + rung("strict", 0.7), pretrained=False))
    assert md.startswith("# Leakage audit: UCSD Ped2, tf_efficientnet_lite0 (random weights)\n")
    assert "a drop of 0.2900" in md and "| `strict` |" in md
    assert f"- `paper`: {registry.PROTOCOLS['paper'].description}" in md and "- `temporal`" not in md
    # the time as every report shows one (valuefmt.utc_text); audit.json keeps the ISO 8601 stamp
    assert "git abc123 (clean)" in md and "- run at: 2025-01-02 03:04 UTC" in md and "+00:00" not in md
    assert "`anomaly-ref audit --dataset ped2`" in md and "/home/u" not in md
    assert "1234.5 s" in md


# --------------------------------------------------------------------------- files


def test_write_audit_writes_the_three_files(tmp_path):
    doc = make_doc([entry("strict", "LSTM", math.nan)])
    paths = write_audit(doc, tmp_path / "audit")
    assert set(paths) == {"json", "md", "png"}
    assert sorted(p.name for p in (tmp_path / "audit").iterdir()) == ["audit.json", "audit.md", "audit.png"]
    text = paths["json"].read_text()
    assert "NaN" not in text  # standard JSON: an undefined ROC-AUC is null
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert back["results"][0]["summary"]["roc_auc"]["mean"] is None
    assert to_markdown(back) == to_markdown(doc)  # the file renders as the document did
    assert paths["md"].read_text(encoding="utf-8") == to_markdown(doc)
    assert paths["png"].read_bytes().startswith(PNG_SIGNATURE)


def test_write_audit_failing_render_keeps_the_results_apart(tmp_path, monkeypatch):
    import anomaly_ref.results.audit_report as ar

    monkeypatch.setattr(ar, "plot_ladder", lambda doc: 1 / 0)
    with pytest.raises(RuntimeError, match="rendering the audit failed .*results are saved in .*audit.unrendered.json"):
        write_audit(full_doc(), tmp_path / "audit")
    assert [p.name for p in (tmp_path / "audit").iterdir()] == ["audit.unrendered.json"]
    assert json.loads((tmp_path / "audit" / "audit.unrendered.json").read_text())["audit"]["dataset"] == "ped2"


def test_write_audit_failing_render_leaves_old_files_untouched(tmp_path, monkeypatch):
    out = tmp_path / "audit"
    write_audit(full_doc(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(doc):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(audit_report, "plot_ladder", broken)
    with pytest.raises(RuntimeError, match="plot failed"):
        write_audit(make_doc(rung("paper", 0.5)), out)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after.pop("audit.unrendered.json")  # the new results, set apart
    assert after == before  # the earlier audit byte-identical, no temp files


def test_write_audit_needs_the_parent_folder(tmp_path):
    with pytest.raises(InputError, match="parent folder .* does not exist"):
        write_audit(full_doc(), tmp_path / "missing" / "audit")
    assert not (tmp_path / "missing").exists()


# ------------------------------------------------- the report's summary and workbook


def test_headline_is_the_paragraphs_first_sentence():
    doc = full_doc()
    assert audit_report.headline(doc) == ("Mean ROC-AUC of the paper's recurrent heads (LSTM, GRU, LSTM_GRU, SimpleRNN): "
                                          "0.9850 under `paper`; 0.7000 under `strict`, a drop of 0.2850.")
    assert ladder_paragraph(doc).startswith(audit_report.headline(doc) + " ")
    skipped = make_doc(rung("paper", 0.99), skipped=[{"protocol": "strict", "reason": "no clip ids"}])
    assert audit_report.headline(skipped).endswith("`strict` was skipped (no clip ids), so the drop from `paper` to "
                                                   "`strict` cannot be stated.")


def test_rung_counts_name_run_skipped_and_absent_rungs():
    doc = make_doc(rung("paper", 0.99) + rung("strict", 0.7), skipped=[{"protocol": "standard", "reason": "no frames"}])
    counts = audit_report.rung_counts(doc)
    assert counts == {"run": ["paper", "strict"], "skipped": ["standard"], "absent": ["paper-val", "temporal"]}
    assert audit_report.rung_counts(full_doc()) == {"run": list(registry.PROTOCOLS), "skipped": [], "absent": []}


def test_ladder_records_are_numbers_one_per_rung_and_head_or_scorer():
    doc = full_doc()
    doc["results"][0]["summary"]["roc_auc"]["mean"] = None  # NaN as the JSON file holds it
    records = audit_report.ladder_records(doc)
    assert len(records) == 4 * len(HEADS) + len(SCORERS)
    assert [(r["rung"], r["head or scorer"]) for r in records][:2] == [("paper", "LSTM"), ("paper", "GRU")]
    first, knn = records[0], records[-2]
    assert first["ROC-AUC mean"] is None and first["Accuracy mean"] == 0.95 and first["runs"] == 2
    assert first["test frames inside training windows"] == 0.5 and first["early stopping watches"] == "test split"
    assert knn["head or scorer"] == "knn1" and knn["ROC-AUC mean"] == 0.9012 and knn["kind"] == "one-class scorer"
    assert all(isinstance(v, (int, float, type(None))) for r in records for k, v in r.items() if "mean" in k or "std" in k)
    skipped = audit_report.ladder_records(make_doc(rung("paper", 0.9), skipped=[{"protocol": "strict", "reason": "x"}]))
    assert skipped[-1] == {**dict.fromkeys(skipped[-1]), "rung": "strict", "skipped": "x"}
