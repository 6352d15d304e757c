"""Reproduce every published configuration: 4 datasets x 6 backbones x 4 heads.

``pytest bench -k ped1`` runs the 24 Ped1 cases: it fetches the authors' features
(verified against data_manifest.json), retrains each head under the paper protocol, and
asserts every metric lies within tolerance of the workbook (see compare.Tolerance). A
failing case does not stop the sweep. Each finished case writes its own record,
``cases/<dataset>-<extractor>-<head>.json`` (anomaly_ref.results.caserecords), under
``$ANOMALY_REF_REPORT_DIR`` or ``--report-dir`` (default ``./anomaly-ref-report``); in one
process the diff report (reproduce.json + .md) is also rewritten after each case. When the
session ends, the controlling process (bench/conftest.py) merges every record into
reproduce.json and writes the full report (report.html, report.xlsx, <dataset>.png,
report.md). ``pytest bench -n N --dist loadgroup`` (pytest-xdist) runs the cases on N
workers, one (dataset, extractor) pair per worker at a time.

Environment: ANOMALY_REF_BENCH_RUNS (default 5), ANOMALY_REF_TOLERANCE (default
"abs=0.01,nstd=3"), ANOMALY_REF_PROTOCOL (default paper; the authors' files carry no clip
ids, so only paper and paper-val can run on them: the gap to the paper under paper-val is
what early stopping on the test split bought), ANOMALY_REF_TRAINER (default batched: a
case's 5 runs train at once; sequential: one after another, for comparison),
ANOMALY_REF_MAX_EPOCHS (default 50, the paper's; lower only to test the bench quickly), ANOMALY_REF_DEVICE (default cuda if available, else cpu), plus the
fetch variables (ANOMALY_REF_CACHE, ANOMALY_REF_MIRROR, ANOMALY_REF_FROM, ANOMALY_REF_OFFLINE, ...).

When a dataset's features cannot be had (no network, HTTP 404, a file that fails
verification), its first case fails with the one-line error and the ways out; every later
case of that dataset in the same run is skipped at once (pytest says "skipped", with the
reason naming that first case), without another download attempt, and the report lists it
as not run, with that reason. The memo is per process: under pytest-xdist each worker tries such a dataset once.
"""

from __future__ import annotations

import functools
import os

import pytest

from anomaly_ref import registry
from anomaly_ref.results.compare import Tolerance, diff, failures, paper_summary
from anomaly_ref.errors import AnomalyRefError
from anomaly_ref.protocol.runner import ProtocolConfig
from anomaly_ref.protocol.train import TrainConfig
from anomaly_ref.results.report import Row
from anomaly_ref.studies import reproduce

CASES = [
    # One (dataset, extractor) pair's cases share a group: under `pytest -n N --dist loadgroup`
    # they run on one worker, so the pair's features load once (bench/conftest.py registers
    # the mark, which means nothing without pytest-xdist).
    pytest.param(d, e, h, id=f"{d}-{e}-{h}", marks=pytest.mark.xdist_group(f"{d}-{e}"))
    for d in registry.DATASETS
    for e in registry.paper_backbones()
    for h in registry.paper_heads()
]


class Unavailable(Exception):
    """The features of a dataset cannot be had in this run; the message names the fetch error's type."""


_UNAVAILABLE: dict[str, str] = {}  # dataset -> id of the case whose fetch failed: no second attempt


@functools.lru_cache(maxsize=1)  # cases are ordered so one backbone's 4 heads share a load
def _features(dataset: str, extractor: str, protocol: str):
    from anomaly_ref.data import fetch

    try:
        normal, anomaly = fetch.features(dataset, extractor)
    except AnomalyRefError as exc:
        message = str(exc) if "ways out" in str(exc) else f"{exc}; {fetch.WAYS_OUT}"
        raise Unavailable(f"{type(exc).__name__}: {message}") from None
    return reproduce.load(normal, anomaly, protocol), (normal, anomaly)


def _setup() -> dict:
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


@pytest.fixture(scope="module")
def setup():
    return _setup()


class Sweep:
    """Every case this process ran: its result entry (as ``reproduce --out`` writes them, with
    the dataset and extractor) and its verdict rows. Each case's record is written as it
    finishes (caserecords.write_case), so an interrupted sweep, or a crashed worker, still
    leaves what it finished. In one process (no pytest-xdist worker) ``reproduce.json`` (kind
    ``sweep``) and ``reproduce.md`` are also rewritten after each case, as before; workers leave
    that file to the controller, which merges the records when the session ends."""

    def __init__(self, setup, bench):
        self.setup, self.bench, self.rows, self.results, self.inputs = setup, bench, [], [], set()
        # ANOMALY_REF_MAX_EPOCHS caps each fit below the paper's 50 (the tests' short sweeps only).
        train = TrainConfig(trainer=os.environ.get("ANOMALY_REF_TRAINER", "batched"),
                            max_epochs=int(os.environ.get("ANOMALY_REF_MAX_EPOCHS", TrainConfig.max_epochs)))
        self.config = ProtocolConfig(n_runs=setup["runs"], train=train)
        bench.sweep = self

    @classmethod
    def for_session(cls, bench) -> "Sweep":
        return cls(_setup(), bench)

    def add(self, result: dict, *rows: Row) -> None:
        from anomaly_ref import provenance
        from anomaly_ref.results import caserecords, report

        self.results.append(result)
        self.rows.extend(rows)
        prov = provenance.collect(
            config={"protocol": self.setup["protocol"], "runs": self.config.n_runs, "trainer": self.config.train.trainer,
                    "max_epochs": self.config.train.max_epochs,
                    "tolerance": str(self.setup["tolerance"])},
            seeds=self.config.seeds(self.setup["protocol"]),
            inputs=sorted(self.inputs),
            device=self.setup["device"],
        )
        caserecords.write_case(self.bench.report_dir, result, rows, prov)
        if self.bench.worker:  # the controller merges the records: workers never write a shared file
            return
        js, _ = report.write(self.rows, self.bench.report_dir, "reproduce", prov,
                             extra={"kind": "sweep", "results": self.results})
        if js not in self.bench.result_files:
            self.bench.result_files.append(js)

    def failed(self, dataset: str, extractor: str, head: str, error: str, not_run: bool = False) -> None:
        keys = dict(dataset=dataset, extractor=extractor, head=head, protocol=self.setup["protocol"])
        self.add({**keys, "error": error, "not_run": not_run}, Row(**keys, error=error, not_run=not_run))

    def not_run(self, cases) -> None:
        """``[((dataset, extractor, head), skipped?, reason)]`` of cases that did not pass: each
        one that recorded nothing is added (a skip as not run, a failure as failed)."""
        have = {(r["dataset"], r["extractor"], r["head"]) for r in self.results}
        for key, skipped, reason in cases:
            if key not in have:
                self.failed(*key, error=reason, not_run=skipped)


@pytest.fixture(scope="module")
def sweep(setup, bench_session):
    return bench_session.sweep or Sweep(setup, bench_session)


@pytest.mark.parametrize("dataset, extractor, head", CASES)
def test_reproduce(dataset, extractor, head, setup, sweep):
    case = f"{dataset}/{extractor}/{head}"
    if dataset in _UNAVAILABLE:  # fail fast, and once: no second download in this run
        # Not run is not failed: the case that tried fails; the others are skips, with why.
        reason = f"the {dataset} features could not be had (see the failure of {_UNAVAILABLE[dataset]})"
        sweep.failed(dataset, extractor, head, error=reason, not_run=True)
        pytest.skip(reason)
    message = None
    try:
        data, paths = _features(dataset, extractor, setup["protocol"])
        sweep.inputs.update(map(str, paths))
        config = reproduce.ReproduceConfig((head,), setup["protocol"], sweep.config)
        doc = reproduce.run(data, config, inputs=paths, device=setup["device"], dataset=dataset,
                            extractor=extractor, construction="paper")
    except Unavailable as exc:
        _UNAVAILABLE[dataset] = case
        message = f"cannot run {case}: {exc}"
        sweep.failed(dataset, extractor, head, error=str(exc))
    except Exception as exc:  # a sweep never stops at one cell: the row records the error
        sweep.failed(dataset, extractor, head, error=f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, AnomalyRefError):
            raise
        message = f"cannot run {case}: {exc}"
    if message:  # outside the except block: one line, no chained traceback
        pytest.fail(message, pytrace=False)
    (result,) = doc["results"]
    published = paper_summary(setup["reference"], dataset, extractor, head)
    ours = {m: (v["mean"], v["std"]) for m, v in result["summary"].items()}
    diffs = diff(ours, published)
    tol = setup["tolerance"]
    entry = {"dataset": dataset, "extractor": extractor, **result}
    sweep.add(entry, *(Row(dataset, extractor, head, d.metric, d.ours, d.paper, tol.bound(d), tol.ok(d),
                           protocol=setup["protocol"]) for d in diffs))
    bad = failures(diffs, tol)
    assert not bad, f"{dataset}/{extractor}/{head} outside tolerance:\n" + "\n".join(bad)
