import pytest

from anomaly_ref.cli import main
from anomaly_ref.compare import diff, format_diff, paper_summary
from anomaly_ref.registry import METRICS
from anomaly_ref.workbook import load_reference


def test_paper_summary_and_diff_against_committed_reference():
    ref = load_reference()
    paper = paper_summary(ref, "avenue", "convnext_tiny", "LSTM")
    assert paper["accuracy"] == (0.9855, 0.0028)  # workbook cell A3, checked by test_workbook
    assert paper_summary(ref, "avenue", "tf_efficientnet_lite0", "LSTM") is None
    ours = {m: (0.9, 0.01) for m in METRICS}
    d = diff(ours, paper)
    assert [x.metric for x in d] == list(METRICS)
    assert d[0].delta == pytest.approx(0.9 - 0.9855)
    table = format_diff(d)
    assert "0.9000 ± 0.0100" in table and "0.9855 ± 0.0028" in table and "-0.0855" in table


def test_reproduce_rejects_mixed_sources(tmp_path, capsys):
    rc = main(["reproduce", "--normal", "n.npy", "--dataset", "ped2", "--extractor", "convnext_tiny"])
    assert rc == 2 and "not a mix" in capsys.readouterr().err


def test_reproduce_offline_with_empty_cache_names_missing_files(tmp_path, capsys):
    rc = main(["reproduce", "--dataset", "ped2", "--extractor", "convnext_tiny",
               "--cache", str(tmp_path), "--offline"])
    err = capsys.readouterr().err
    assert rc == 2 and "normal_features_convnext_tiny.npy" in err
