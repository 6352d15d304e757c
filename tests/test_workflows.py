"""The GitHub workflows (.github/workflows/*.yml) validate against the GitHub-workflow JSON
schema that check-jsonschema vendors: they cannot run here, but a typo in a key can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"


def _schema() -> dict:
    import json
    from importlib.resources import files

    return json.loads(files("check_jsonschema").joinpath("builtin_schemas/vendor/github-workflows.json").read_text())


def _load(path: Path):
    import yaml

    doc = yaml.safe_load(path.read_text())
    if True in doc:  # PyYAML reads YAML 1.1, where the bare key `on` is the boolean true
        doc["on"] = doc.pop(True)
    return doc


@pytest.mark.parametrize("name", ["ci.yml", "gpu.yml"])
def test_workflow_matches_schema(name):
    import jsonschema

    doc = _load(WORKFLOWS / name)
    jsonschema.validate(doc, _schema())  # raises ValidationError naming the key


def test_gpu_workflow_runs_tox_gpu_and_uploads_both_artifacts():
    job = _load(WORKFLOWS / "gpu.yml")["jobs"]["bench"]
    assert job["runs-on"] == ["self-hosted", "gpu"]
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "tox -e gpu" in runs and "--benchmark-json=benchmark.json" in runs and "pip install -e '.[test]'" in runs
    uploads = {s["with"]["name"]: s["with"]["path"] for s in job["steps"] if "upload-artifact" in s.get("uses", "")}
    assert uploads == {"anomaly-ref-report": "${{ env.ANOMALY_REF_REPORT_DIR }}", "pytest-benchmark": "benchmark.json"}
    assert "bash .ci/run" in " ".join(s.get("run", "") for s in _load(WORKFLOWS / "ci.yml")["jobs"]["test"]["steps"])


def test_schema_rejects_a_broken_workflow():
    import jsonschema

    doc = _load(WORKFLOWS / "gpu.yml")
    doc["jobs"]["bench"]["runs-onn"] = doc["jobs"]["bench"].pop("runs-on")  # a typo
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema())
