"""The studies write the same result files as the code before the ``studies/`` stage (issue 20).

``tests/golden/*.json`` were written by ``tests/golden/make_golden.py`` at commit 122b8ce,
when ``reproduce``, ``audit`` and ``gradcam`` were still assembled in the CLI and in
``results/``; here the same three CLI calls run on today's code and must give the same
documents (keys, order-free; every figure to 1e-9), apart from provenance and wall times.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
import make_golden  # noqa: E402

NAMES = ("reproduce", "audit", "gradcam")


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    return make_golden.run_all(tmp_path_factory.mktemp("studies"))


@pytest.mark.parametrize("name", NAMES)
def test_a_study_writes_what_it_wrote_before_the_move(today, name):
    before = json.loads((GOLDEN / f"{name}.json").read_text())
    # Round-trip through JSON as the committed file did (tuples become lists).
    assert json.loads(json.dumps(today[name], sort_keys=True)) == before


def test_the_comparison_sees_a_changed_figure(today):
    # The check can fail: one run's ROC-AUC moved by 1e-6 is a difference.
    before = json.loads((GOLDEN / "audit.json").read_text())
    changed = json.loads(json.dumps(today["audit"], sort_keys=True))
    changed["results"][0]["runs"][0]["metrics"]["roc_auc"] += 1e-6
    assert changed != before
