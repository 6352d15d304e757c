"""GPU benchmarks: a ``cuda`` fixture that skips without a GPU, except under ``tox -e gpu``.

``ANOMALY_REF_REQUIRE_GPU=1`` (set by ``tox -e gpu``) stops the session before it collects
anything, with one line naming what is missing (bench/gpu_check.py), so a GPU run cannot pass
by silently skipping every case, nor spend minutes failing each case in its fixture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_ENV = "ANOMALY_REF_REQUIRE_GPU"


@pytest.fixture(scope="session")
def cuda() -> str:
    """The CUDA device to benchmark on."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    reason = "no CUDA device (torch.cuda.is_available() is False)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, but {REQUIRE_ENV}=1 (tox -e gpu) requires one")
    pytest.skip(f"{reason}; run on a GPU machine, e.g. tox -e gpu")


# ------------------------------------------------------------- the session's report
# The bench writes the same report as `anomaly-ref report` when the session ends, from the
# result files this session wrote (the sweep's reproduce.json, each audit's audit.json), so
# it covers exactly the cases that ran. A case that was selected but never recorded a
# result (skipped, or failed before training) is added to the sweep as "not run", with the
# reason pytest gives. pytest calls pytest_sessionfinish after Ctrl-C too, so an
# interrupted sweep still leaves a report of what finished.
#
# Under pytest-xdist (`pytest bench -n N --dist loadgroup`) each worker writes one record per
# case (anomaly_ref.results.caserecords) and sends its other result files (audit.json,
# gradcam.json) to the controller with its workeroutput; the controller (the process whose
# config has no `workerinput`) merges the records into reproduce.json and writes the report.

REPORT_ENV = "ANOMALY_REF_REPORT_DIR"


@dataclass
class BenchSession:
    """What the bench's cases share with the session's end: where the report goes, the result
    files written so far, and the reproduction sweep (if one started)."""

    report_dir: Path
    result_files: list = field(default_factory=list)
    sweep: object = None
    cases: dict = field(default_factory=dict)  # nodeid -> ((dataset, extractor, head), its test module)
    outcomes: dict = field(default_factory=dict)  # nodeid -> (skipped?, reason) of reproduce cases not passed
    worker: str | None = None  # the pytest-xdist worker id; None in the controlling (or only) process


SESSION = pytest.StashKey[BenchSession]()
NODEID = pytest.StashKey[str]()  # a case's node id at collection (xdist's loadgroup appends "@group" later)
WORKER_FILES = "anomaly_ref_result_files"  # workeroutput key: a worker's result files other than its records


class _Controller:
    """pytest-xdist's hook on the controller, registered only when xdist is active."""

    def __init__(self, bench: "BenchSession"):
        self.bench = bench

    def pytest_testnodedown(self, node, error):
        self.bench.result_files.extend(getattr(node, "workeroutput", {}).get(WORKER_FILES, []))


FRAME_STUDIES = "--frame-studies"


def pytest_addoption(parser):
    parser.addoption("--report-dir", default=None,
                     help=f"folder of the bench's report (default ${REPORT_ENV}, else ./anomaly-ref-report)")
    parser.addoption(FRAME_STUDIES, action="store_true", default=False,
                     help="also run the studies on frames (the audit: official archives of hundreds of MB, an "
                          "extraction per backbone); without it they are deselected, so -k ped1 means the "
                          "reproduction cases only")


def _require_gpu(config) -> None:
    """Under ANOMALY_REF_REQUIRE_GPU=1 without a GPU, stop the session: one line, before any case
    is collected (xdist workers are not started yet)."""
    if os.environ.get(REQUIRE_ENV) != "1" or getattr(config, "workerinput", None) is not None:
        return
    import gpu_check  # bench/gpu_check.py: this conftest's folder is on sys.path

    why = gpu_check.missing()
    if why:
        pytest.exit(f"{why}, but {REQUIRE_ENV}=1 (tox -e gpu) requires one", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_configure(config):
    _require_gpu(config)
    folder = config.getoption("--report-dir") or os.environ.get(REPORT_ENV) or "anomaly-ref-report"
    config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's group (one worker under --dist loadgroup)")
    config.addinivalue_line("markers", f"frames: a study on frames, run only with {FRAME_STUDIES}")
    worker = (getattr(config, "workerinput", None) or {}).get("workerid")
    bench = config.stash[SESSION] = BenchSession(Path(folder), worker=worker)
    if worker is None:
        from anomaly_ref.results import caserecords

        caserecords.clear(bench.report_dir)  # before any worker starts: this session's records only
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_Controller(bench), "anomaly-ref-bench-controller")


@pytest.fixture(scope="session")
def bench_session(pytestconfig) -> BenchSession:
    return pytestconfig.stash[SESSION]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    if not config.getoption(FRAME_STUDIES):  # opted into, never pulled in by a dataset name alone
        frames = [item for item in items if item.get_closest_marker("frames")]
        if frames:
            config.hook.pytest_deselected(items=frames)
            items[:] = [item for item in items if not item.get_closest_marker("frames")]
    for item in items:
        item.stash[NODEID] = item.nodeid
        spec = getattr(item, "callspec", None)
        if item.originalname == "test_reproduce" and spec is not None:
            key = tuple(spec.params[k] for k in ("dataset", "extractor", "head"))
            config.stash[SESSION].cases[item.nodeid] = (key, item.module)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    bench = item.config.stash[SESSION]
    nodeid = item.stash.get(NODEID, item.nodeid)
    if nodeid in bench.cases and (report.skipped or report.failed):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else (str(longrepr).strip().splitlines() or ["?"])[-1]
        reason = str(reason).removeprefix("Skipped: ")  # pytest's prefix; the verdict says "not run"
        # A skip at any phase means the case never ran; a failure counts only if the case
        # recorded no result of its own (Sweep.not_run keeps what a case recorded).
        bench.outcomes.setdefault(nodeid, (bool(report.skipped), str(reason)))
    return report


def pytest_sessionfinish(session, exitstatus):
    bench = session.config.stash.get(SESSION, None)
    if bench is None:
        return
    from anomaly_ref.errors import AnomalyRefError
    from anomaly_ref.results import caserecords, full_report

    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    say = tr.write_line if tr else print
    missing = [(bench.cases[n][0], *bench.outcomes[n]) for n in bench.cases if n in bench.outcomes]
    try:
        if missing and bench.sweep is None:  # no case reached the sweep fixture: start one to record them
            module = next(m for n, (_, m) in bench.cases.items() if n in bench.outcomes)
            module.Sweep.for_session(bench)
        if bench.sweep is not None:
            bench.sweep.not_run(missing)
    except (AnomalyRefError, ValueError) as exc:  # e.g. a bad ANOMALY_REF_* setting failed every case's setup
        say(f"anomaly-ref report not written: {exc}")
        return
    if bench.worker is not None:  # the controller writes the report, from every worker's files
        session.config.workeroutput[WORKER_FILES] = [
            str(f) for f in bench.result_files if Path(f).parent != caserecords.folder(bench.report_dir)]
        return
    try:
        merged = caserecords.merge(bench.report_dir)  # every process's cases, in registry order
    except AnomalyRefError as exc:
        say(f"anomaly-ref report not written: {exc}")
        return
    files = [str(merged)] if merged else []
    sweep_file = str(Path(bench.report_dir) / "reproduce.json")
    files = list(dict.fromkeys(files + [str(f) for f in bench.result_files if str(f) != sweep_file]))
    if not files:
        return
    try:
        paths = full_report.write(full_report.build(files), bench.report_dir)
        say(f"anomaly-ref report: {', '.join(str(p) for p in paths.values())}")
    except AnomalyRefError as exc:  # the per-case files are written already; say why the page is not
        say(f"anomaly-ref report not written: {exc}")
