"""Reproduce every published configuration: 4 datasets x 6 backbones x 4 heads.

``pytest bench -k ped1`` runs the 24 Ped1 cases: it fetches the authors' features
(verified against data_manifest.json), retrains each head under the paper protocol, and
asserts every metric lies within tolerance of the workbook (see compare.Tolerance). A
failing case does not stop the sweep; the diff report (JSON + Markdown) is written to
``$ANOMALY_REF_REPORT_DIR`` (default ``./anomaly-ref-report``) when the module ends.

Environment: ANOMALY_REF_BENCH_RUNS (default 5), ANOMALY_REF_TOLERANCE (default
"abs=0.01,nstd=3"), ANOMALY_REF_DEVICE (default cuda if available, else cpu), plus the
fetch variables (ANOMALY_REF_CACHE, ANOMALY_REF_MIRROR, ANOMALY_REF_OFFLINE, ...).
"""

from __future__ import annotations

import functools
import os

import pytest

from anomaly_ref import registry
from anomaly_ref.compare import Tolerance, diff, failures, paper_summary
from anomaly_ref.errors import AnomalyRefError
from anomaly_ref.report import Row

CASES = [
    pytest.param(d, e, h, id=f"{d}-{e}-{h}")
    for d in registry.DATASETS
    for e in registry.paper_backbones()
    for h in registry.paper_heads()
]


@functools.lru_cache(maxsize=1)  # cases are ordered so one backbone's 4 heads share a load
def _features(dataset: str, extractor: str):
    from anomaly_ref import fetch
    from anomaly_ref.features import load_pair

    normal, anomaly = fetch.features(dataset, extractor)
    return load_pair(normal, anomaly), (normal, anomaly)


@pytest.fixture(scope="module")
def setup():
    import torch

    from anomaly_ref.workbook import load_reference

    device = os.environ.get("ANOMALY_REF_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return {
        "reference": load_reference(),
        "tolerance": Tolerance.parse(os.environ.get("ANOMALY_REF_TOLERANCE", "")),
        "runs": int(os.environ.get("ANOMALY_REF_BENCH_RUNS", "5")),
        "device": device,
    }


@pytest.fixture(scope="module")
def sweep(setup):
    """Collects a row per cell; writes the diff report once the module's cases are done."""
    rows: list[Row] = []
    inputs: set[str] = set()
    yield rows, inputs
    from anomaly_ref import provenance, report

    prov = provenance.collect(
        config={"protocol": "paper", "runs": setup["runs"], "tolerance": str(setup["tolerance"])},
        seeds={"shuffle": 42, "split": list(range(setup["runs"])), "model": list(range(setup["runs"]))},
        inputs=sorted(inputs),
        device=setup["device"],
    )
    out = os.environ.get("ANOMALY_REF_REPORT_DIR", "anomaly-ref-report")
    if rows:
        report.write(rows, out, "reproduce", prov)


@pytest.mark.parametrize("dataset, extractor, head", CASES)
def test_reproduce(dataset, extractor, head, setup, sweep):
    from anomaly_ref.protocols import PaperConfig, run_paper

    rows, inputs = sweep
    try:
        pair, paths = _features(dataset, extractor)
    except AnomalyRefError as exc:
        rows.append(Row(dataset, extractor, head, error=str(exc)))
        pytest.fail(f"cannot get the features of {dataset}/{extractor}: {exc}", pytrace=False)
    inputs.update(map(str, paths))
    result = run_paper(pair.X, pair.y, head, PaperConfig(n_runs=setup["runs"]), device=setup["device"])
    published = paper_summary(setup["reference"], dataset, extractor, head)
    diffs = diff(result.summary, published)
    tol = setup["tolerance"]
    rows.extend(Row(dataset, extractor, head, d.metric, d.ours, d.paper, tol.bound(d), tol.ok(d)) for d in diffs)
    bad = failures(diffs, tol)
    assert not bad, f"{dataset}/{extractor}/{head} outside tolerance:\n" + "\n".join(bad)
