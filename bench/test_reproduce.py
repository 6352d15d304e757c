"""Reproduce every published configuration: 4 datasets x 6 backbones x 4 heads.

``pytest bench -k ped1`` runs the 24 Ped1 cases: it fetches the authors' features
(verified against data_manifest.json), retrains each head under the paper protocol, and
asserts every metric lies within tolerance of the workbook (see compare.Tolerance). A
failing case does not stop the sweep; the diff report (JSON + Markdown) is written to
``$ANOMALY_REF_REPORT_DIR`` (default ``./anomaly-ref-report``) when the module ends.

Environment: ANOMALY_REF_BENCH_RUNS (default 5), ANOMALY_REF_TOLERANCE (default
"abs=0.01,nstd=3"), ANOMALY_REF_PROTOCOL (default paper; the authors' files carry no clip
ids, so only paper and paper-val can run on them: the gap to the paper under paper-val is
what early stopping on the test split bought), ANOMALY_REF_TRAINER (default batched: a
case's 5 runs train at once; sequential: one after another, for comparison), ANOMALY_REF_DEVICE (default cuda if available, else cpu), plus the
fetch variables (ANOMALY_REF_CACHE, ANOMALY_REF_MIRROR, ANOMALY_REF_FROM, ANOMALY_REF_OFFLINE, ...).

When a dataset's features cannot be had (no network, HTTP 404, a file that fails
verification), its first case fails with the one-line error and the ways out; every later
case of that dataset in the same run fails at once with "not run: ..." naming that first
case, without another download attempt, and the diff report lists it as a row with that
reason (status "error").
"""

from __future__ import annotations

import functools
import os

import pytest

from anomaly_ref import registry
from anomaly_ref.results.compare import Tolerance, diff, failures, paper_summary
from anomaly_ref.errors import AnomalyRefError
from anomaly_ref.protocol.features import pair_features
from anomaly_ref.protocol.runner import ProtocolConfig, run_protocol
from anomaly_ref.protocol.train import TrainConfig
from anomaly_ref.results.report import Row

CASES = [
    pytest.param(d, e, h, id=f"{d}-{e}-{h}")
    for d in registry.DATASETS
    for e in registry.paper_backbones()
    for h in registry.paper_heads()
]


class Unavailable(Exception):
    """The features of a dataset cannot be had in this run; the message names the fetch error's type."""


_UNAVAILABLE: dict[str, str] = {}  # dataset -> id of the case whose fetch failed: no second attempt


@functools.lru_cache(maxsize=1)  # cases are ordered so one backbone's 4 heads share a load
def _features(dataset: str, extractor: str):
    from anomaly_ref.data import fetch
    from anomaly_ref.protocol.features import load_pair

    try:
        normal, anomaly = fetch.features(dataset, extractor)
    except AnomalyRefError as exc:
        message = str(exc) if "ways out" in str(exc) else f"{exc}; {fetch.WAYS_OUT}"
        raise Unavailable(f"{type(exc).__name__}: {message}") from None
    return load_pair(normal, anomaly), (normal, anomaly)


@pytest.fixture(scope="module")
def setup():
    import torch

    from anomaly_ref.results.workbook import load_reference

    device = os.environ.get("ANOMALY_REF_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return {
        "reference": load_reference(),
        "tolerance": Tolerance.parse(os.environ.get("ANOMALY_REF_TOLERANCE", "")),
        "runs": int(os.environ.get("ANOMALY_REF_BENCH_RUNS", "5")),
        "device": device,
        "protocol": registry.get_protocol(os.environ.get("ANOMALY_REF_PROTOCOL", "paper")).name,
    }


class Sweep:
    """Rows of every case run so far; the report is rewritten after each case, so an
    interrupted sweep still leaves a report of what it finished."""

    def __init__(self, setup):
        self.setup, self.rows, self.inputs = setup, [], set()
        train = TrainConfig(trainer=os.environ.get("ANOMALY_REF_TRAINER", "batched"))
        self.config = ProtocolConfig(n_runs=setup["runs"], train=train)

    def add(self, *rows: Row) -> None:
        from anomaly_ref import provenance
        from anomaly_ref.results import report

        self.rows.extend(rows)
        prov = provenance.collect(
            config={"protocol": self.setup["protocol"], "runs": self.config.n_runs, "trainer": self.config.train.trainer,
                    "tolerance": str(self.setup["tolerance"])},
            seeds=self.config.seeds(self.setup["protocol"]),
            inputs=sorted(self.inputs),
            device=self.setup["device"],
        )
        report.write(self.rows, os.environ.get("ANOMALY_REF_REPORT_DIR", "anomaly-ref-report"), "reproduce", prov)


@pytest.fixture(scope="module")
def sweep(setup):
    return Sweep(setup)


@pytest.mark.parametrize("dataset, extractor, head", CASES)
def test_reproduce(dataset, extractor, head, setup, sweep):
    case = f"{dataset}/{extractor}/{head}"
    if dataset in _UNAVAILABLE:  # fail fast, and once: no second download in this run
        reason = f"not run: the {dataset} features could not be had (see the failure of {_UNAVAILABLE[dataset]})"
        sweep.add(Row(dataset, extractor, head, error=reason))
        pytest.fail(reason, pytrace=False)
    message = None
    try:
        pair, paths = _features(dataset, extractor)
        sweep.inputs.update(map(str, paths))
        result = run_protocol(setup["protocol"], pair_features(pair), head, sweep.config, device=setup["device"])
    except Unavailable as exc:
        _UNAVAILABLE[dataset] = case
        message = f"cannot run {case}: {exc}"
        sweep.add(Row(dataset, extractor, head, error=str(exc)))
    except Exception as exc:  # a sweep never stops at one cell: the row records the error
        sweep.add(Row(dataset, extractor, head, error=f"{type(exc).__name__}: {exc}"))
        if not isinstance(exc, AnomalyRefError):
            raise
        message = f"cannot run {case}: {exc}"
    if message:  # outside the except block: one line, no chained traceback
        pytest.fail(message, pytrace=False)
    published = paper_summary(setup["reference"], dataset, extractor, head)
    diffs = diff(result.summary, published)
    tol = setup["tolerance"]
    sweep.add(*(Row(dataset, extractor, head, d.metric, d.ours, d.paper, tol.bound(d), tol.ok(d)) for d in diffs))
    bad = failures(diffs, tol)
    assert not bad, f"{dataset}/{extractor}/{head} outside tolerance:\n" + "\n".join(bad)
