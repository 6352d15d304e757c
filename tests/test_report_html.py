"""report.html: self-contained, and what a reviewer sees in a real browser."""

from __future__ import annotations

import os
from pathlib import Path
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


class _Cells(HTMLParser):
    """The text of every matrix cell (``data-cell="extractor/head"``) and of ``id``'d elements."""

    def __init__(self):
        super().__init__()
        self.cells: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self._open: list[tuple[str, str, str]] = []  # (tag, what, key)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-cell" in a:
            self._open.append((tag, "cells", a["data-cell"]))
        elif "id" in a:
            self._open.append((tag, "ids", a["id"]))
        for _, what, key in self._open:
            getattr(self, what).setdefault(key, "")

    def handle_data(self, data):
        for _, what, key in self._open:
            getattr(self, what)[key] += data

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            self._open.pop()


def _texts(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    return p


def test_configurations_that_did_not_run_show_the_published_figure(tmp_path):
    from anomaly_ref import registry
    from anomaly_ref.valuefmt import format_value
    from resultfiles import paper, unreachable_sweep

    js, _ = unreachable_sweep(tmp_path / "bench")  # Ped1 unreachable: 1 failed, 23 not run
    html = full_report.build([js]).blobs["report.html"].decode()
    page = _texts(html)
    assert len(page.cells) == 24
    for b in registry.paper_backbones():
        for h in registry.paper_heads():
            text = " ".join(page.cells[f"{b}/{h}"].split())
            assert f"paper {format_value(*paper('ped1', b, h)['roc_auc'])}" in text, text
            assert "not published" not in text
    assert "paper 0.9976 ± 0.0004" in page.cells["convnext_tiny/LSTM"]  # the example
    assert "not run" in page.cells["convnext_tiny/GRU"] and "error" in page.cells["convnext_tiny/LSTM"]
    # The bench's reason carries its own "not run:": the page says it once.
    assert "not run: not run" not in html and html.count("not run: the ped1 features could not be had") == 23 * 2


def test_an_unpublished_cell_says_so_once_and_the_time_is_in_one_notation(report):
    path, _ = report
    page = _texts(path.read_text())
    text = page.cells["tf_efficientnet_lite0/Dense"]
    assert text.count("published") == 1 and "paper" not in text, text
    written = " ".join(page.ids["written"].split())
    assert re.search(r", \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", written) and "+00:00" not in written, written
    assert "+00:00" not in path.read_text()  # the inputs' run times too


REAL_AUDIT = Path(__file__).resolve().parent / "data" / "audit_format1_ped2_lite0.json"  # format 1 (before issue 21)


def test_the_summary_leads_with_the_audits_rungs_and_headline(tmp_path):
    import json

    from anomaly_ref.results.audit_report import headline

    sweep, _ = mixed_sweep(tmp_path / "sweep.json")
    doc = json.loads(REAL_AUDIT.read_text())  # format 1: its strict is today's strict-test-only
    page = _texts(full_report.build([sweep, REAL_AUDIT]).blobs["report.html"].decode())
    summary = " ".join(page.ids["audit-summary"].split())
    assert "5 of 6 rungs run (format 1: its strict shown as strict-test-only)" in summary
    assert " ".join(_code(headline(doc)).split()) in summary, summary
    assert "a drop of" in summary and "under strict-test-only (format 1's strict)" in summary
    # Without its strict rung (and with temporal skipped) the same audit says what it lacks.
    doc["results"] = [r for r in doc["results"] if r["protocol"] not in ("strict", "temporal")]
    doc["audit"]["skipped"] = [{"protocol": "temporal", "reason": "no clip ids"}]
    partial = tmp_path / "audit.json"
    partial.write_text(json.dumps(doc))
    page = _texts(full_report.build([sweep, partial]).blobs["report.html"].decode())
    summary = " ".join(page.ids["audit-summary"].split())
    assert "3 of 6 rungs run" in summary and "skipped: temporal" in summary
    assert "not in the audit: strict-test-only, strict" in summary
    assert "cannot be stated" in summary and "a drop of" not in summary


def test_the_audit_section_shows_intervals_chance_band_and_comparisons(tmp_path):
    # A format-2 audit (tests/golden/audit.json, as today's audit writes it) in a real browser:
    # the headline with its intervals, the ladder with a CI beside every mean, the per-rung
    # chance references, the paired comparisons and the plot.
    import json

    from anomaly_ref.results.audit_report import headline

    exe, why = browser.find()
    if exe is None:
        if os.environ.get(browser.REQUIRE_ENV):
            pytest.fail(why)
        pytest.skip(why)
    doc = json.loads(GOLDEN_AUDIT.read_text()) | {"provenance": {"git": {"commit": "abc", "dirty": False}}}
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(doc))
    html_path = full_report.write(full_report.build([path]), tmp_path / "out")["report.html"]
    dom, shot, requests = browser.render(exe, html_path, tmp_path / "browser", size=(1280, 3000))
    assert requests == []
    text = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"</?code>", "", dom)).split())  # code spans read inline
    assert " ".join(_code(headline(doc)).split()) in text
    assert "0.8575 [0.7837, 0.9233]" in text and "± 0.0546 (0.0386)" in text and "[0.7337, 0.8409], p = 0.015" in text
    assert "raw pooled ROC-AUC (biased on k-fold rungs)" in text and "base-rate scorer" in text
    assert "GRU vs last-frame under paper: +0.0206 [−0.1366, +0.1643]: no difference detectable at this resolution" in text
    assert 'class="audit audit-ladder"' in dom and 'class="audit audit-comparable"' in dom
    assert shot.stat().st_size > 10_000


GOLDEN_AUDIT = Path(__file__).resolve().parent / "golden" / "audit.json"


def _code(text: str) -> str:
    """The headline as the page shows it: Markdown code spans become <code>, whose text remains."""
    return text.replace("`", "")
