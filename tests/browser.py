"""Headless Chromium for the report tests: render a page, dump its DOM, take a screenshot,
and list the network requests the page made.

Network requests are read from Chromium's NetLog (``--log-net-log``): every URL request
the browser starts is logged there with its network isolation key; those made on behalf
of a ``file://`` page carry a key that starts with ``file://``, while the browser's own
background traffic (time sync, account checks) carries none, so the page's requests can
be told apart from the browser's. The test's control page (an <img> and a fetch() to
http(s) URLs) shows that the check sees requests when there are some.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-dev-shm-usage"]
REQUIRE_ENV = "ANOMALY_REF_REQUIRE_BROWSER"  # .ci/run sets it unless ANOMALY_REF_SKIP_BROWSER=1


def find() -> tuple[str | None, str]:
    """(path of a Chromium that renders a page, "") or (None, why not)."""
    exe = next((p for p in map(shutil.which, NAMES) if p), None)
    if exe is None:
        return None, f"no Chromium on PATH (looked for {', '.join(NAMES)}; Debian: apt-get install chromium)"
    try:
        proc = subprocess.run([exe, *FLAGS, "--dump-dom", "data:text/html,<p>ok</p>"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{exe} cannot run: {exc}"
    if "<p>ok</p>" not in proc.stdout:
        return None, f"{exe} cannot render a page (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return exe, ""


def page_requests(netlog: Path) -> list[str]:
    """URLs of the requests a file:// page made (see the module doc)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and str(e["params"].get("network_isolation_key", "")).startswith("file://")]


def render(exe: str, page: Path, work: Path, size=(1280, 2000)) -> tuple[str, Path, list[str]]:
    """(rendered DOM, screenshot path, URLs the page requested)."""
    work.mkdir(parents=True, exist_ok=True)
    url = page.resolve().as_uri()
    common = [exe, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={size[0]},{size[1]}"]
    netlog = work / "netlog.json"
    dom = subprocess.run([*common, f"--log-net-log={netlog}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    shot = work / "screenshot.png"
    subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    return dom, shot, page_requests(netlog)
