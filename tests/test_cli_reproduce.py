import json

import numpy as np
import pytest

from anomaly_ref.cli import main
from anomaly_ref.fileio import sha256_file


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    n, a = tmp_path / "normal_features_x.npy", tmp_path / "anomaly_features_x.npy"
    np.save(n, rng.normal(size=(60, 5)).astype(np.float32))
    np.save(a, (rng.normal(size=(30, 5)) + 2).astype(np.float32))
    return n, a


def test_reproduce_prints_summary_and_writes_provenance(pair, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["reproduce", "--normal", str(pair[0]), "--anomaly", str(pair[1]), "--head", "GRU",
               "--head", "Dense", "--runs", "2", "--max-epochs", "2", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "==== Summary for GRU (over 2 runs) ====" in text and "Summary for Dense" in text
    doc = json.loads(out.read_text())
    assert [r["head"] for r in doc["results"]] == ["GRU", "Dense"]
    assert len(doc["results"][0]["runs"]) == 2
    # named for `anomaly-ref report`: "x" in normal_features_x.npy is no backbone, so no extractor
    assert (doc["kind"], doc["dataset"], doc["extractor"], doc["construction"]) == ("reproduce", None, None, None)
    prov = doc["provenance"]
    assert prov["inputs"][str(pair[0])] == sha256_file(pair[0])
    assert prov["seeds"] == {"shuffle": 42, "split": [0, 1], "model": [0, 1]}
    assert {"python", "torch", "numpy", "anomaly_ref"} <= set(prov["versions"])
    assert prov["versions"]["opencv-python-headless"]  # optical flow's results depend on OpenCV's version
    assert "commit" in prov["git"] and prov["device"]["device"] == "cpu"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--head", "Transformer"], "unknown head 'Transformer'; valid: LSTM"),
        (["--runs", "0"], "--runs must be >= 1"),
    ],
)
def test_user_errors_are_one_line(pair, capsys, args, message):
    rc = main(["reproduce", "--normal", str(pair[0]), "--anomaly", str(pair[1]), *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_file_is_one_line(tmp_path, capsys):
    rc = main(["reproduce", "--normal", str(tmp_path / "no.npy"), "--anomaly", str(tmp_path / "a.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and "no.npy' does not exist" in err and "Traceback" not in err


def test_help_mentions_every_head(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for head in ("LSTM", "GRU", "LSTM_GRU", "SimpleRNN", "Dense"):
        assert head in text


def test_head_all_expands_to_the_paper_heads_in_workbook_order():
    from anomaly_ref.cli.reproduce import _heads

    assert _heads(None) == ["LSTM"]
    assert _heads(["all"]) == ["LSTM", "GRU", "LSTM_GRU", "SimpleRNN"]
    assert _heads(["Dense", "all", "GRU"]) == ["Dense", "LSTM", "GRU", "LSTM_GRU", "SimpleRNN"]


@pytest.mark.parametrize(
    "normal, anomaly, message",
    [
        (np.ones((20, 3, 2)), np.ones((20, 3)), "expected a 2-D (frames, features) array"),
        (np.ones((20, 3)), np.ones((20, 4)), "feature dims differ"),
        (np.ones((20, 3)), np.full((20, 3), np.nan), "values are non-finite"),
    ],
    ids=["3d-array", "mismatched-dims", "all-nan"],
)
def test_bad_arrays_are_one_line(tmp_path, capsys, normal, anomaly, message):
    n, a = tmp_path / "n.npy", tmp_path / "a.npy"
    np.save(n, normal)
    np.save(a, anomaly)
    rc = main(["reproduce", "--normal", str(n), "--anomaly", str(a)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-epochs", "0"], "--max-epochs must be >= 1, found 0"),
        (["--folds", "1"], "--folds must be >= 2, found 1"),
        (["--protocol", "strict-test-only"], "--protocol strict-test-only needs the clip of every frame"),
        (["--device", "gpu"], "--device 'gpu' is not a device"),
        (["--out", "no/such/dir/r.json"], "its folder no/such/dir does not exist"),
    ],
)
def test_typos_fail_before_any_training(pair, capsys, monkeypatch, args, message):
    import anomaly_ref.protocol.runner as protocols

    monkeypatch.setattr(protocols, "fit", lambda *a, **k: pytest.fail("trained despite a bad flag"))
    rc = main(["reproduce", "--normal", str(pair[0]), "--anomaly", str(pair[1]), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
