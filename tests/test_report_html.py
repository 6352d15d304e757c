"""report.html: self-contained, and what a reviewer sees in a real browser."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

import numpy as np
import pytest

import browser
from anomaly_ref.results import full_report
from anomaly_ref.results.report_html import CSP
from resultfiles import mixed_sweep


class _Page(HTMLParser):
    """Summary counts (``data-dataset`` rows, ``data-count`` cells), configuration rows,
    and every URL-valued attribute."""

    def __init__(self):
        super().__init__()
        self.counts: dict[str, dict[str, str]] = {}
        self.configs: list[str] = []
        self.urls: list[str] = []
        self.csp: str | None = None
        self._row: str | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = a.get("content")
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "poster", "data") and v]
        if tag == "tr" and "data-dataset" in a:
            self._row = a["data-dataset"]
            self.counts[self._row] = {}
        if tag == "tr" and "data-config" in a:
            self.configs.append(a["data-config"])
        if tag == "td" and self._row and "data-count" in a:
            self._cell = a["data-count"]

    def handle_data(self, data):
        if self._cell:
            self.counts[self._row][self._cell] = data.strip()
            self._cell = None

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None


def _parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    path, expected = mixed_sweep(tmp / "sweep.json")
    paths = full_report.write(full_report.build([path]), tmp / "out")
    return paths["report.html"], expected


def _check(page: _Page, expected: dict) -> None:
    assert page.counts["ped2"] == {k: str(v) for k, v in expected.items()}
    assert page.configs == ["ped2/convnext_tiny/LSTM/paper", "ped2/repvgg_a0/GRU/paper", "ped2/mobileone_s0/LSTM/paper",
                            "ped2/poolformer_s12/SimpleRNN/paper", "ped2/tf_efficientnet_lite0/Dense/paper"]


def test_page_is_self_contained(report):
    path, expected = report
    html = path.read_text()
    page = _parse(html)
    assert page.csp == CSP and "default-src 'none'" in page.csp
    assert page.urls and all(u.startswith("data:image/png;base64,") for u in page.urls), page.urls
    assert not re.search(r"url\(|@import|https?://", html), "a fetchable reference in the page"
    _check(page, expected)


@pytest.fixture(scope="module")
def chromium():
    exe, why = browser.find()
    if exe is None:
        if os.environ.get(browser.REQUIRE_ENV) == "1":
            pytest.fail(f"{why}; {browser.REQUIRE_ENV}=1 requires a browser")
        pytest.skip(why)
    return exe


def test_control_page_requests_are_seen(chromium, tmp_path):
    # Without this, "no requests" below could mean the check sees nothing.
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/x.png">'
                    '<script>fetch("https://example.invalid/y")</script>')
    _, _, requests = browser.render(chromium, page, tmp_path / "work")
    assert "http://127.0.0.1:9/x.png" in requests and "https://example.invalid/y" in requests


def test_report_in_chromium(chromium, report, tmp_path):
    path, expected = report
    dom, shot, requests = browser.render(chromium, path, tmp_path / "work", size=(1280, 2000))
    assert requests == [], f"the page fetched {requests}"
    _check(_parse(dom), expected)
    assert "Tolerance rule." in dom
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (2000, 1280)
    assert img.std() > 10  # a rendered page, not a blank one
    # The summary table's "within tolerance" cells are green: the styles applied.
    rgb = np.asarray(Image.open(shot).convert("RGB"))
    assert ((rgb == (198, 239, 206)).all(axis=-1)).sum() > 500
