"""The reproduction bench, end to end, against a local mirror of synthetic features.

Runs ``pytest bench/test_reproduce.py -k <one case>`` in a subprocess with
ANOMALY_REF_MIRROR pointing at a 127.0.0.1 server laid out like the cache, and checks
the verdict and the diff report it writes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from httpserver import Reply, Server

REPO = Path(__file__).resolve().parents[1]
CASE = "bench/test_reproduce.py::test_reproduce[ped2-convnext_tiny-LSTM]"  # exactly one case


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.fixture(scope="module")
def mirror():
    rng = np.random.default_rng(0)
    # Trivially separable classes: the paper protocol should score ~1.0 on them.
    normal = rng.normal(-2.0, 1.0, (150, 768)).astype(np.float32)
    anomaly = rng.normal(2.0, 1.0, (150, 768)).astype(np.float32)
    with Server() as s:
        s.route("/features/ped2/normal_features_convnext_tiny.npy", Reply(_npy(normal)))
        s.route("/features/ped2/anomaly_features_convnext_tiny.npy", Reply(_npy(anomaly)))
        yield s


def _bench(mirror, tmp_path, *select, **env) -> subprocess.CompletedProcess:
    """The bench in a subprocess against ``mirror`` (a Server or a base URL); ``select``: pytest
    arguments choosing the cases (default: the one CASE)."""
    full = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "ANOMALY_REF_MIRROR": mirror if isinstance(mirror, str) else mirror.base,
        "ANOMALY_REF_CACHE": str(tmp_path / "cache"),
        "ANOMALY_REF_REPORT_DIR": str(tmp_path / "report"),
        "ANOMALY_REF_BENCH_RUNS": "2",
        "ANOMALY_REF_DEVICE": "cpu",
        **env,
    }
    for var in ("ANOMALY_REF_REQUIRE_PINNED", "ANOMALY_REF_FROM", "ANOMALY_REF_OFFLINE"):
        full.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", *(select or [CASE]), "-q", "-p", "no:cacheprovider"],
        cwd=REPO, env=full, capture_output=True, text=True, timeout=600,
    )


def test_bench_passes_and_writes_report(mirror, tmp_path):
    proc = _bench(mirror, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    doc = json.loads((tmp_path / "report" / "reproduce.json").read_text())
    assert doc["kind"] == "sweep"
    assert doc["counts"] == {"ok": 5, "off": 0, "error": 0, "not run": 0, "unpublished": 0}
    assert {r["metric"] for r in doc["rows"]} == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert [(e["dataset"], e["extractor"], e["head"], len(e["runs"])) for e in doc["results"]] == [
        ("ped2", "convnext_tiny", "LSTM", 2)]
    assert doc["rows"][0]["paper"] == [0.9967, 0.0013]  # ped2/convnext_tiny/LSTM accuracy, workbook
    assert len(doc["provenance"]["inputs"]) == 2
    assert doc["provenance"]["config"]["trainer"] == "batched"  # the default path of the bench
    md = (tmp_path / "report" / "reproduce.md").read_text()
    assert "| ped2 | convnext_tiny | LSTM | paper | Accuracy |" in md and "| paper | ROC-AUC |" in md
    # The session's full report: exactly the one case that ran.
    assert "anomaly-ref report: " in proc.stdout
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count('<tr data-config="') == 1 and 'data-config="ped2/convnext_tiny/LSTM/paper"' in page
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {"report.html", "report.xlsx", "report.md", "ped2.png"}


def test_bench_fails_outside_tolerance_and_says_why(mirror, tmp_path):
    proc = _bench(mirror, tmp_path, ANOMALY_REF_TOLERANCE="abs=0,nstd=0")
    assert proc.returncode == 1
    assert "ped2/convnext_tiny/LSTM outside tolerance" in proc.stdout
    assert "accuracy: ours" in proc.stdout and "> 0.0000 (abs=0,nstd=0)" in proc.stdout
    doc = json.loads((tmp_path / "report" / "reproduce.json").read_text())
    assert doc["counts"]["off"] >= 1


def test_bench_records_fetch_errors_as_rows(tmp_path):
    with Server() as empty:  # every path 404
        proc = _bench(empty, tmp_path)
    assert proc.returncode == 1
    assert "cannot run ped2/convnext_tiny/LSTM" in proc.stdout
    doc = json.loads((tmp_path / "report" / "reproduce.json").read_text())
    assert doc["counts"] == {"ok": 0, "off": 0, "error": 1, "not run": 0, "unpublished": 0}


def _refused_port() -> str:
    """A base URL on 127.0.0.1 where nothing listens: connections are refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("source", ["refused-port", "http-404"])
def test_bench_fails_fast_and_once(tmp_path, source):
    """pytest bench/test_reproduce.py -k ped2 with no reachable features and an empty cache:
    one download attempt, one error line for the first case (failed), the other 23 skipped
    (not run is not failed) and 'not run' in the report."""
    import time

    with Server() as server:  # every path 404
        mirror = _refused_port() if source == "refused-port" else server
        start = time.monotonic()
        proc = _bench(mirror, tmp_path, "bench/test_reproduce.py", "-k", "ped2")
        elapsed = time.monotonic() - start
        requests = server.requests()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "During handling" not in out and "Traceback" not in out, out
    assert "1 failed, 23 skipped" in out, out
    assert out.count("FAILED ") == 1, out  # only the case that tried is listed as failed
    first = [ln for ln in out.splitlines() if "cannot run ped2/" in ln]
    assert first and all("ways out:" in ln and "--from PATH" in ln and "--offline" in ln for ln in first), out
    assert len({ln.split("cannot run ")[1].split(":")[0] for ln in first}) == 1  # one case tried
    if source == "http-404":
        assert requests == 1  # one download attempt for the ped2 features, none for the other 23 cases
        assert "HTTP 404" in first[0]
    else:
        assert "cannot connect to" in first[0] and "not retried" in first[0]
    assert elapsed < 60, elapsed  # a few seconds: pytest and torch start-up, then no waits
    doc = json.loads((tmp_path / "report" / "reproduce.json").read_text())
    reasons = [r["error"] for r in doc["rows"]]
    assert doc["counts"] == {"ok": 0, "off": 0, "error": 1, "not run": 23, "unpublished": 0} and len(reasons) == 24
    assert sum(r.startswith("the ped2 features could not be had (see the failure of ped2/") for r in reasons) == 23
    assert not any("not run: not run" in r for r in reasons)
    md = (tmp_path / "report" / "reproduce.md").read_text()
    assert md.count("not run: the ped2 features") == 23 and "not run: not run" not in md


SKIPPER = """
import pytest

def pytest_runtest_setup(item):
    pytest.skip("features unavailable: no route to Dropbox (test plugin)")
"""


def test_bench_reports_skipped_cases_as_not_run(tmp_path):
    # A case that never starts (as when its features cannot be had) is in the report as
    # not run, with pytest's reason; the session's report is written all the same.
    (tmp_path / "skipper.py").write_text(SKIPPER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "ANOMALY_REF_OFFLINE": "1",
           "ANOMALY_REF_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", CASE, "-q", "-p", "no:cacheprovider", "-p", "skipper",
         "--report-dir", str(tmp_path / "report")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0 and "1 skipped" in proc.stdout, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "report" / "reproduce.json").read_text())
    assert doc["counts"]["not run"] == 1
    assert doc["results"][0]["error"] == "features unavailable: no route to Dropbox (test plugin)"
    page = (tmp_path / "report" / "report.html").read_text()
    assert 'data-config="ped2/convnext_tiny/LSTM/paper" class="not-run"' in page


PAIRS = "ped2 and (convnext_tiny or repvgg_a0)"  # 2 backbones x 4 heads = 8 cases


@pytest.fixture(scope="module")
def two_backbones():
    """A mirror of both backbones' ped2 features (separable, so the verdicts are not all one way
    by accident of the data: the tolerance decides them)."""
    rng = np.random.default_rng(1)
    with Server() as s:
        for name, dim in (("convnext_tiny", 768), ("repvgg_a0", 1280)):
            for kind, loc in (("normal", -1.0), ("anomaly", 1.0)):
                s.route(f"/features/ped2/{kind}_features_{name}.npy",
                        Reply(_npy(rng.normal(loc, 1.0, (80, dim)).astype(np.float32))))
        yield s


def _verdicts(report: Path) -> dict:
    doc = json.loads((report / "reproduce.json").read_text())
    keys = [(e["dataset"], e["extractor"], e["head"]) for e in doc["results"]]
    assert len(keys) == len(set(keys)), keys  # each case exactly once
    return {"cases": keys, "counts": doc["counts"],
            "rows": [(r["dataset"], r["extractor"], r["head"], r["metric"], r["ours"], r["ok"]) for r in doc["rows"]]}


def test_bench_under_xdist_merges_one_report(two_backbones, tmp_path):
    """`pytest bench -n 2` gives the report of `-n 0`: every case once, the same verdicts (same
    seeds), merged by the controller from the workers' per-case records; the two workers share
    one empty download cache (--dist load sends both pairs to both), and its file locks let
    each file be downloaded once."""
    runs = {}
    for n in ("0", "2"):
        before = two_backbones.requests()
        proc = _bench(two_backbones, tmp_path / n, "bench/test_reproduce.py", "-k", PAIRS, "-n", n,
                      *(["--dist", "load"] if n != "0" else []), ANOMALY_REF_BENCH_RUNS="2",
                      ANOMALY_REF_MAX_EPOCHS="2")
        out = proc.stdout + proc.stderr
        summary = out.strip().splitlines()[-1]
        assert proc.returncode in (0, 1) and " error" not in summary, out  # verdicts, not crashes
        assert "anomaly-ref report: " in out, out
        assert two_backbones.requests() - before == 4, out  # 2 pairs of files, each downloaded once
        report = tmp_path / n / "report"
        assert len(list((report / "cases").glob("*.json"))) == 8
        runs[n] = _verdicts(report)
        page = (report / "report.html").read_text()
        assert page.count('<tr data-config="') == 8, n
    assert len(runs["0"]["cases"]) == 8 and len(runs["0"]["rows"]) == 40
    assert runs["2"] == runs["0"]
    # The workers' records alone (as an interrupted run leaves them) give the same report.
    from anomaly_ref.cli import main

    assert main(["report", str(tmp_path / "2" / "report" / "cases"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.html").read_text().count('<tr data-config="') == 8
