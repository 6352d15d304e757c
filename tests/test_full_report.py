"""anomaly-ref report: kinds of result files, merging, verdicts, bad input, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anomaly_ref.cli import main
from anomaly_ref.errors import InputError
from anomaly_ref.results import full_report, sources
from resultfiles import PROV, entry, mixed_sweep, paper, write

REPO = Path(__file__).resolve().parents[1]
OLD_REPRODUCE = REPO / "reference" / "ped2_tf_efficientnet_lite0_batched.json"  # written before "kind"
OLD_AUDIT = REPO / "tests" / "data" / "audit_format1_ped2_lite0.json"  # format 1 (before issue 21)


def test_verdicts_of_a_mixed_sweep(tmp_path):
    path, expected = mixed_sweep(tmp_path / "sweep.json")
    report = full_report.build([path])
    (ped2, total) = report.tallies
    assert ped2.dataset == "ped2" and total.dataset == "all"
    got = {"configurations": ped2.configurations, "ran": ped2.ran, **ped2.cells}
    assert got == expected
    status = {(r.extractor, r.head): r.status for r in report.rows}
    assert status[("mobileone_s0", "LSTM")] == "error" and status[("poolformer_s12", "SimpleRNN")] == "not run"


@pytest.mark.parametrize("path, kind", [(OLD_REPRODUCE, "reproduce"), (OLD_AUDIT, "audit")])
def test_older_files_are_recognised_by_their_keys(path, kind):
    loaded = sources.load(path, dataset="ped2")
    assert loaded.kind == kind and "kind" not in json.loads(path.read_text())
    if kind == "reproduce":  # the extractor is read from the paper's feature-file names
        assert {e.extractor for e in loaded.entries} == {"tf_efficientnet_lite0"}
        assert [e.head for e in loaded.entries] == ["LSTM", "GRU", "LSTM_GRU", "SimpleRNN", "Dense"]


def test_older_sweep_files_are_rebuilt_from_their_rows(tmp_path):
    rows = [{"dataset": "ped2", "extractor": "convnext_tiny", "head": "LSTM", "metric": m, "ours": [mu, sd],
             "paper": [mu, sd], "bound": 0.01, "ok": True, "error": None}
            for m, (mu, sd) in paper("ped2", "convnext_tiny", "LSTM").items()]
    rows.append({"dataset": "ped2", "extractor": "convnext_tiny", "head": "GRU", "error": "FetchError: 404"})
    path = write(tmp_path / "reproduce.json", {"counts": {}, "rows": rows, "provenance": PROV})
    loaded = sources.load(path)
    assert loaded.kind == "sweep"
    assert [(e.head, e.error) for e in loaded.entries] == [("LSTM", None), ("GRU", "FetchError: 404")]


GRADCAM = REPO / "reference" / "ped2_gradcam" / "tf_efficientnet_lite0.json"  # a real anomaly-ref gradcam run


def test_a_gradcam_file_gets_its_section():
    doc = json.loads(GRADCAM.read_text())
    report = full_report.build([GRADCAM])
    page = report.blobs["report.html"].decode()
    assert "Grad-CAM++ localisation: tf_efficientnet_lite0" in page
    motion = doc["summary"]["motion"]
    # every method's row with its three scores as the scorer recorded them
    for name, row in doc["summary"].items():
        cells = "".join(f"<td>{row[s]:.3f}</td>" for s in ("pointing_game", "pixel_auc", "topk_iou"))
        assert f"<code>{name}</code>" in page and cells in page, name
    beats = [n for n, r in doc["summary"].items() if r["kind"] == "gradcam"
             and any(r[s] > motion[s] for s in ("pointing_game", "pixel_auc", "topk_iou"))]
    assert page.count("beats the motion baseline on no score") == 4 - len(beats)
    assert "Spearman rank correlation" in page  # the two formulas' difference


def test_a_malformed_gradcam_file_is_refused(tmp_path):
    path = write(tmp_path / "g.json", {"kind": "gradcam", "config": {}, "summary": {"paper/paper": 0.3},
                                       "provenance": PROV})
    with pytest.raises(InputError, match=r"g.json.*'summary' must map each method"):
        full_report.build([path])


def test_two_files_that_agree_are_merged(tmp_path):
    e = entry("ped2", "convnext_tiny", "LSTM", paper("ped2", "convnext_tiny", "LSTM"))
    a = write(tmp_path / "a.json", {"kind": "reproduce", "results": [e], "provenance": PROV})
    b = write(tmp_path / "b.json", {"kind": "reproduce", "results": [e], "provenance": PROV})
    (merged,) = sources.merge([sources.load(a), sources.load(b)])
    assert merged.sources == (str(a), str(b))


def test_two_constructions_of_one_configuration_are_refused_even_when_they_agree(tmp_path):
    e = entry("ped2", "convnext_tiny", "LSTM", paper("ped2", "convnext_tiny", "LSTM"))
    a = write(tmp_path / "a.json", {"kind": "reproduce", "construction": "frames", "results": [e], "provenance": PROV})
    b = write(tmp_path / "b.json", {"kind": "reproduce", "construction": "paper", "results": [e], "provenance": PROV})
    with pytest.raises(InputError, match=r"b.json and .*a.json report ped2/convnext_tiny/LSTM/paper on different "
                                         r"constructions of the dataset \(paper vs frames\)"):
        full_report.build([a, b])


def test_reproduce_records_the_construction_of_its_features(tmp_path):
    from anomaly_ref.data.featurefiles import construction_of

    npy = tmp_path / "normal_features_convnext_tiny.npy"
    assert construction_of(npy) is None  # no extraction record: nothing is claimed
    record = tmp_path / "features_convnext_tiny.json"
    record.write_text(json.dumps({"config": {"construction": "paper"}}))
    assert construction_of(npy) == "paper"
    record.write_text(json.dumps({"config": {}}))  # written before constructions existed
    assert construction_of(npy) == "frames"


def test_two_files_that_disagree_are_refused(tmp_path):
    e = entry("ped2", "convnext_tiny", "LSTM", paper("ped2", "convnext_tiny", "LSTM"))
    other = entry("ped2", "convnext_tiny", "LSTM", paper("ped2", "convnext_tiny", "LSTM", shift=-0.01))
    a = write(tmp_path / "a.json", {"kind": "reproduce", "results": [e], "provenance": PROV})
    b = write(tmp_path / "b.json", {"kind": "sweep", "results": [other], "provenance": PROV})
    with pytest.raises(InputError, match=r"b.json and .*a.json disagree on ped2/convnext_tiny/LSTM/paper: "
                                         r"accuracy mean .* refuses to choose"):
        full_report.build([a, b])


def _cli_fails(args, out: Path, capsys, match: str) -> None:
    assert main(["report", *map(str, args), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert match in err, err


def test_bad_input_is_one_error_line_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "report"
    good, _ = mixed_sweep(tmp_path / "good.json")
    truncated = tmp_path / "truncated.json"
    truncated.write_text(good.read_text()[:200])
    unknown_kind = write(tmp_path / "unknown.json", {"kind": "timing", "provenance": PROV})
    unknown_keys = write(tmp_path / "keys.json", {"rows_per_second": 3})
    no_dataset = write(tmp_path / "nods.json", {"results": [{"head": "LSTM", "protocol": "paper", "summary": {}}],
                                                 "provenance": {}})
    _cli_fails([], out, capsys, "no result files given")
    _cli_fails([good, truncated], out, capsys, f"{truncated}: not valid JSON (truncated or damaged?)")
    _cli_fails([unknown_kind], out, capsys, f"{unknown_kind}: 'kind': unknown result kind 'timing'; valid: reproduce")
    _cli_fails([unknown_keys], out, capsys, f"{unknown_keys}: unknown kind of result file: no 'kind' field")
    _cli_fails([no_dataset], out, capsys, "names no dataset")
    _cli_fails([tmp_path / "absent.json"], out, capsys, "no such file")
    assert not out.exists()


def test_a_failed_build_leaves_an_earlier_report_whole(tmp_path, capsys):
    good, _ = mixed_sweep(tmp_path / "good.json")
    out = tmp_path / "report"
    assert main(["report", str(good), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"report.html", "report.xlsx", "report.md", "ped2.png"}
    bad = write(tmp_path / "bad.json", {"kind": "sweep", "results": "oops", "provenance": PROV})
    _cli_fails([good, bad], out, capsys, "'results' must be a list")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_cli_on_the_real_lite0_results(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(OLD_REPRODUCE), str(OLD_AUDIT), "--dataset", "ped2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ped2: 5 configurations (5 ran): 0 cells within tolerance, 0 outside, 25 without a published figure" in text
    # the audit's rungs and headline drop, as report.md leads with them (issue 24)
    # (a format-1 audit: its strict trained on the test clips only, today's strict-test-only)
    assert "leakage audit UCSD Ped2, tf_efficientnet_lite0: 5 of 6 rungs run (format 1: its strict shown as " \
           "strict-test-only); not in the audit: strict. Mean ROC-AUC of the paper's recurrent heads (LSTM, GRU, " \
           "LSTM_GRU, SimpleRNN): 0.9961 under 'paper'; 0.4617 under 'strict-test-only' (format 1's 'strict'), " \
           "a drop of 0.5344 (format 1: no interval recorded)." in text
    page = (out / "report.html").read_text()
    assert "Leakage audit: UCSD Ped2, tf_efficientnet_lite0" in page
    assert OLD_REPRODUCE.name in page and "7dedfbc015347892f5a39ae5206531761ffcbb7b5cdc57c5698737eed6f5b029" in page


def test_real_runs_that_agree_merge_and_runs_that_differ_are_refused():
    # The batched and sequential trainers agree run for run (to float rounding): one
    # configuration, both files named. The earlier recorded run (another code version) differs.
    batched, sequential, earlier = (REPO / "reference" / f"ped2_tf_efficientnet_lite0_{s}.json"
                                    for s in ("batched", "sequential", "paper"))
    merged = sources.merge([sources.load(p, dataset="ped2") for p in (batched, sequential)])
    assert len(merged) == 5 and all(e.sources == (str(batched), str(sequential)) for e in merged)
    with pytest.raises(InputError, match=r"_paper.json and .*_batched.json disagree on "
                                         r"ped2/tf_efficientnet_lite0/LSTM/paper: accuracy mean"):
        full_report.build([batched, earlier], dataset="ped2")


def test_report_md_leads_with_the_audit_and_holds_its_ladder(tmp_path):
    from anomaly_ref.results.audit_report import headline, ladder_table

    good, _ = mixed_sweep(tmp_path / "sweep.json")
    doc = json.loads(OLD_AUDIT.read_text())
    md = full_report.build([good, OLD_AUDIT]).blobs["report.md"].decode()
    summary = md.split("| dataset |")[0]  # everything above the diff table
    assert "leakage audit UCSD Ped2, tf_efficientnet_lite0: 5 of 6 rungs run" in summary
    assert headline(doc) in summary
    assert "## Leakage audit: UCSD Ped2, tf_efficientnet_lite0" in md and ladder_table(doc) in md
    assert "| `strict-test-only` |" in md and "| `strict` |" not in md  # format 1's strict, under today's name
    # a format-2 audit: the same headline (with its intervals) and its ladder with a CI beside each mean
    golden = json.loads((REPO / "tests" / "golden" / "audit.json").read_text()) | {"provenance": {}}
    path = tmp_path / "audit2.json"
    path.write_text(json.dumps(golden))
    md = full_report.build([good, path]).blobs["report.md"].decode()
    assert headline(golden) in md.split("| dataset |")[0] and ladder_table(golden) in md
    assert "| `strict` | GRU | 0.8575 [0.7837, 0.9233] | ± 0.0546 (0.0386) |" in md
