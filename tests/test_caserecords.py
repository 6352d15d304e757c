"""The bench's per-case records: merged in registry order whatever the order they were written in."""

from __future__ import annotations

import json

import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.results import caserecords
from anomaly_ref.results.report import Row


def _case(tmp_path, head, value):
    result = {"dataset": "ped2", "extractor": "convnext_tiny", "head": head, "protocol": "paper", "error": f"e{value}"}
    caserecords.write_case(tmp_path, result, [Row("ped2", "convnext_tiny", head, error=f"e{value}")],
                           {"inputs": {f"/x/{head}.npy": "0" * 64}, "seeds": [0]})


def test_merge_orders_by_registry_and_unions_inputs(tmp_path):
    for head, v in (("SimpleRNN", 1), ("LSTM", 2), ("GRU", 3)):  # not registry order
        _case(tmp_path, head, v)
    doc = json.loads(caserecords.merge(tmp_path).read_text())
    assert [e["head"] for e in doc["results"]] == ["LSTM", "GRU", "SimpleRNN"]
    assert [r["head"] for r in doc["rows"]] == ["LSTM", "GRU", "SimpleRNN"]
    assert len(doc["provenance"]["inputs"]) == 3 and doc["provenance"]["records"] == 3
    assert doc["kind"] == "sweep" and doc["counts"]["error"] == 3
    caserecords.clear(tmp_path)
    assert caserecords.merge(tmp_path) is None


def test_a_damaged_record_is_one_error_naming_it(tmp_path):
    _case(tmp_path, "LSTM", 1)
    (caserecords.folder(tmp_path) / "ped2-convnext_tiny-GRU.json").write_text("{")
    with pytest.raises(InputError, match="ped2-convnext_tiny-GRU.json: not a case record"):
        caserecords.merge(tmp_path)


def test_expand_reads_a_folder_and_refuses_an_empty_one(tmp_path):
    _case(tmp_path, "LSTM", 1)
    assert caserecords.expand([caserecords.folder(tmp_path)]) == [str(caserecords.folder(tmp_path) / "ped2-convnext_tiny-LSTM.json")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no \\*.json"):
        caserecords.expand([tmp_path / "empty"])
