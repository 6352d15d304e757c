import pytest

from anomaly_ref.cli import main
from anomaly_ref.results.compare import diff, format_diff, paper_summary
from anomaly_ref.registry import METRICS
from anomaly_ref.results.workbook import load_reference


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


from anomaly_ref.results.compare import MetricDiff, Tolerance, failures  # noqa: E402
from anomaly_ref.errors import InputError  # noqa: E402


def test_tolerance_bound_uses_floor_or_combined_spread():
    tol = Tolerance(abs_tol=0.01, n_std=3)
    tight = MetricDiff("f1", (0.985, 0.001), (0.9967, 0.0013))  # bound = 0.01 (floor)
    assert tol.bound(tight) == 0.01 and not tol.ok(tight)
    wide = MetricDiff("f1", (0.95, 0.02), (0.97, 0.0))  # bound = 3 * 0.02 = 0.06
    assert tol.bound(wide) == pytest.approx(0.06) and tol.ok(wide)
    assert not tol.ok(MetricDiff("roc_auc", (float("nan"), 0.0), (0.99, 0.0)))
    [msg] = failures([tight, wide], tol)
    assert msg.startswith("f1: ours 0.9850 ± 0.0010 vs paper 0.9967 ± 0.0013, |delta| 0.0117 > 0.0100")


def test_tolerance_parse():
    assert Tolerance.parse("abs=0.02,nstd=2") == Tolerance(0.02, 2.0)
    assert Tolerance.parse("nstd=0") == Tolerance(0.01, 0.0)
    assert str(Tolerance()) == "abs=0.01,nstd=3"
    with pytest.raises(InputError, match="unknown key 'rel'; valid: abs, nstd"):
        Tolerance.parse("rel=0.1")
    with pytest.raises(InputError, match="abs must be a number, found 'x'"):
        Tolerance.parse("abs=x")
