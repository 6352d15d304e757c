"""anomaly_ref.studies.audit: which rungs run on which inputs, and config checks."""

import pytest

from anomaly_ref.errors import InputError, UnknownNameError
from anomaly_ref.studies.audit import AuditConfig, Inputs, n_fits, plan
from anomaly_ref.protocol.runner import ProtocolConfig


def test_default_ladder_skips_with_reasons_and_explicit_rungs_fail():
    config = AuditConfig()
    rungs, skipped = plan(config, Inputs(clips=False, train=False), explicit=False)
    assert rungs == ["paper", "paper-val"]
    assert [s["protocol"] for s in skipped] == ["temporal", "strict-test-only", "strict", "standard"]
    assert "no .frames.csv sidecars" in skipped[0]["reason"]
    with pytest.raises(InputError, match=r"protocol 'temporal' cannot run: .* \(rungs that can run on these inputs: paper\)"):
        plan(AuditConfig(protocols=("paper", "temporal")), Inputs(clips=False, train=False), explicit=True)
    rungs, skipped = plan(config, Inputs(clips=True, train=True), explicit=False)
    assert rungs == ["paper", "paper-val", "temporal", "strict-test-only", "strict", "standard"] and skipped == []
    # test clips but no training frames: strict (which trains on them) and standard are skipped, saying why
    rungs, skipped = plan(config, Inputs(clips=True, train=False), explicit=False)
    assert rungs == ["paper", "paper-val", "temporal", "strict-test-only"]
    assert [s["protocol"] for s in skipped] == ["strict", "standard"]
    assert all("--train-source" in s["reason"] for s in skipped)


def test_config_refuses_unknown_and_repeated_names():
    with pytest.raises(UnknownNameError, match="unknown head 'Transformer'"):
        AuditConfig(heads=("Transformer",))
    with pytest.raises(InputError, match="head 'LSTM' given more than once"):
        AuditConfig(heads=("LSTM", "GRU", "LSTM"))
    with pytest.raises(InputError, match="no protocol selected"):
        AuditConfig(protocols=())


def test_fit_count_for_progress():
    config = AuditConfig(heads=("LSTM", "GRU"), protocol=ProtocolConfig(n_runs=3, n_folds=4))
    # paper, paper-val, temporal: 1 fit per run; strict-test-only and strict: 4 each; standard: none
    assert n_fits(["paper", "paper-val", "temporal", "strict-test-only", "strict", "standard"], config) == (3 + 8) * 2 * 3
