"""bench/test_audit.py: frame studies are opted into, and an unreachable archive fails once.

Runs the bench in a subprocess (as a user does) against a local server that answers 404.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from httpserver import Server

REPO = Path(__file__).resolve().parents[1]


def _bench(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "ANOMALY_REF_CACHE": str(tmp_path / "cache"),
            "ANOMALY_REF_REPORT_DIR": str(tmp_path / "report"), "ANOMALY_REF_DEVICE": "cpu", **env}
    for var in ("ANOMALY_REF_REQUIRE_PINNED", "ANOMALY_REF_FROM", "ANOMALY_REF_OFFLINE"):
        full.pop(var, None)
    return subprocess.run([sys.executable, "-m", "pytest", "bench", *args, "-q", "-p", "no:cacheprovider"],
                          cwd=REPO, env=full, capture_output=True, text=True, timeout=600)


def test_a_dataset_name_alone_selects_the_reproduction_cases_only(tmp_path):
    plain = _bench(tmp_path, "--collect-only", "-k", "ped1")
    assert "24/" in plain.stdout and "test_audit" not in plain.stdout, plain.stdout
    opted = _bench(tmp_path, "--collect-only", "--frame-studies", "-k", "audit and ped1")
    assert opted.stdout.count("test_audit[audit-ped1-") == 2, opted.stdout


def test_an_unreachable_archive_fails_the_first_case_once_with_the_ways_out(tmp_path):
    with Server() as server:  # every path 404
        proc = _bench(tmp_path, "--frame-studies", "-k", "audit and ped1", "-rfs", ANOMALY_REF_MIRROR=server.base)
        requests = server.requests()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed, 1 skipped" in out and "Traceback" not in out, out
    failed = [ln for ln in out.splitlines() if "cannot run audit-ped1-" in ln]
    assert failed and "HTTP 404" in failed[0] and "ways out" in failed[0], out
    assert "the ped1 frames could not be had (see the failure of audit-ped1-" in out
    assert requests == 1  # one download attempt; the second case did not try again
