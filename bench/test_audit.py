"""The leakage audit on real frames: ``pytest bench --frame-studies -k audit`` (``-k "audit and ped1"``
for one dataset). Without ``--frame-studies`` these cases are deselected: ``pytest bench -k ped1``
means the 24 reproduction cases only.

For each dataset: its frames are UCSD Ped2's in ``$ANOMALY_REF_SHARED/data`` (12 test clips,
16 normal training clips) where that folder holds them, and otherwise the dataset's official
archive, fetched, verified and unpacked into the cache on first use
(:mod:`anomaly_ref.data.framesets`; ``$ANOMALY_REF_MIRROR``, ``$ANOMALY_REF_OFFLINE`` and
``$ANOMALY_REF_FROM`` as for the features). An archive that cannot be had fails the first case of
its dataset with the ways out, and the dataset's other cases skip without trying again.
Runs the whole protocol ladder (``registry.PROTOCOLS``)
with every audit head and one-class scorer, and writes ``audit-<dataset>-<backbone>/``
(audit.json, audit.md, audit.png) into the bench report folder
(``$ANOMALY_REF_REPORT_DIR`` or ``--report-dir``, default ``./anomaly-ref-report``) beside ``reproduce.md``, and
the ladder tables of all audits there into its ``audit.md``.

Cases: ``tf_efficientnet_lite0`` with its real ImageNet weights, and ``convnext_tiny`` (the
paper's first backbone) with random weights, since the hub is unreachable offline; set
``ANOMALY_REF_AUDIT_PRETRAINED=1`` where the hub is reachable to audit convnext_tiny's real
weights instead. ``ANOMALY_REF_BENCH_RUNS`` (default 5) runs per rung and head;
``ANOMALY_REF_DEVICE`` as for the reproduction bench. The bench checks what must hold
whatever the numbers: every rung ran, every metric is a number, both strict rungs share no
source frame between train and test, the paper rung's leak is measured, and every entry has
its interval and chance band and its scores in ``scores.csv.gz``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import pytest

from anomaly_ref import registry
from anomaly_ref.data.paths import shared_root

CASES = [
    # one xdist worker per dataset: its fail-once memo and its fetch are shared by its cases
    pytest.param(d.key, backbone, pretrained, id=f"audit-{d.key}-{backbone}",
                 marks=[pytest.mark.frames, pytest.mark.xdist_group(f"audit-{d.key}")])
    for d in registry.DATASETS.values()
    for backbone, pretrained in (("tf_efficientnet_lite0", True),
                                 ("convnext_tiny", os.environ.get("ANOMALY_REF_AUDIT_PRETRAINED") == "1"))
]
_UNAVAILABLE: dict[str, str] = {}  # dataset -> the case whose fetch failed (fail once, then skip)


def frame_sources(dataset: str) -> tuple[Path, Path | None, str]:
    """``(test frames, training frames, where from)``: the shared folder's, else the official archive."""
    from anomaly_ref.data import framesets
    from anomaly_ref.frames.video import UMN_RANGES

    spec = registry.get_dataset(dataset)
    shared = shared_root(required=False)
    if shared is not None and spec.train_frames_file and (shared / "data" / spec.train_frames_file).is_file():
        data = shared / "data"
        return data / spec.labels_file, data / spec.train_frames_file, f"$ANOMALY_REF_SHARED/data ({spec.title})"
    tree = framesets.frames(dataset, progress=True)
    if dataset == "umn" and not (tree.test / UMN_RANGES).is_file():  # fetched, but its labels are the user's
        pytest.skip(f"UMN: no {tree.test / UMN_RANGES} (the notebooks' frame ranges are not published; "
                    "docs/fetch.md, UMN's labels)")
    return tree.test, tree.train, f"the official archive ({tree.artifact}, {tree.origin})"


def summarize(report: Path) -> Path:
    """``audit.md`` in the bench report: the ladder table of every audit there, each under its
    title, rewritten after each case (the full pages are in the ``audit-*/`` folders)."""
    import json

    from anomaly_ref.fileio import atomic_write_text
    from anomaly_ref.results.audit_report import ladder_paragraph, ladder_table, title

    parts = ["# Leakage audits in this bench report", ""]
    for path in sorted(report.glob("audit-*/audit.json")):
        doc = json.loads(path.read_text())
        parts += [f"## {title(doc)}", "", ladder_paragraph(doc), ladder_table(doc),
                  f"Full page: [{path.parent.name}/audit.md]({path.parent.name}/audit.md)", ""]
    return atomic_write_text(report / "audit.md", "\n".join(parts))


@pytest.mark.parametrize("dataset, backbone, pretrained", CASES)
def test_audit(dataset, backbone, pretrained, bench_session):
    import torch

    from anomaly_ref.protocol.runner import ProtocolConfig
    from anomaly_ref.studies.audit import AuditConfig, run
    from anomaly_ref.results.audit_report import write_audit

    from anomaly_ref.errors import FetchError, ManifestError

    case = f"audit-{dataset}-{backbone}"
    if dataset in _UNAVAILABLE:
        pytest.skip(f"the {dataset} frames could not be had (see the failure of {_UNAVAILABLE[dataset]})")
    try:
        test_frames, train_frames, origin = frame_sources(dataset)
    except (FetchError, ManifestError) as exc:
        _UNAVAILABLE[dataset] = case
        pytest.fail(f"cannot run {case}: {exc}", pytrace=False)
    print(f"{case}: frames from {origin}")
    runs = int(os.environ.get("ANOMALY_REF_BENCH_RUNS", "5"))
    device = os.environ.get("ANOMALY_REF_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    config = dataclasses.replace(AuditConfig(), protocol=ProtocolConfig(n_runs=runs))
    doc = run(test_frames, dataset, backbone, config, train_source=train_frames, pretrained=pretrained,
              device=device, progress=True)
    report = bench_session.report_dir
    written = write_audit(doc, report / f"audit-{dataset}-{backbone}")
    assert written["scores"].is_file()
    bench_session.result_files.append(written["json"])  # the session's report shows its ladder
    summarize(report)

    # every rung runs, except (UMN: no normal training video) the rungs that train on the training clips
    lacking = [] if train_frames else [p for p in registry.PROTOCOLS if registry.get_protocol(p).needs_train_frames]
    assert [s["protocol"] for s in doc["audit"]["skipped"]] == lacking
    assert doc["audit"]["protocols"] == [p for p in registry.PROTOCOLS if p not in lacking]
    for entry in doc["results"]:
        for metric, value in entry["summary"].items():
            assert math.isfinite(value["mean"]), f"{entry['protocol']}/{entry['head']}: {metric} is {value['mean']}"
        if entry["protocol"] in ("strict-test-only", "strict"):
            assert all(run["test_frames_in_train"] == 0.0 for run in entry["runs"])
        interval = entry["stats"]["mean_fold_auc"]["interval"]
        assert interval["low"] <= entry["stats"]["mean_fold_auc"]["estimate"] <= interval["high"]
        assert entry["stats"]["chance"]["permutation"]["n_permutations"] >= 200
        if entry["protocol"] == "paper":
            assert all(run["test_frames_in_train"] > 0.9 for run in entry["runs"])
