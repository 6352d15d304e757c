"""Grad-CAM++ on real Ped2 frames: ``pytest bench -k gradcam``.

Two kinds of case, for the paper's Grad-CAM++ backbone (``repvgg_a0``; random weights where
the hub is unreachable, as the output says) and ``tf_efficientnet_lite0`` (real weights):

- ``test_gradcam_scores``: ``anomaly-ref gradcam --target both --formula both --score`` on a
  uniform subsample of the abnormal frames (``ANOMALY_REF_GRADCAM_FRAMES``, default 48; the
  committed table in reference/ped2_gradcam.md used 412), written to
  ``gradcam-ped2-<backbone>/`` in the bench report folder (``$ANOMALY_REF_REPORT_DIR``);
- ``test_gradcam_throughput``: maps/s (one frame, one target, both formulas from one pass)
  on the CPU and, where one exists, a CUDA device, at batch 1 and 8; each case adds its row
  to ``gradcam_speed.md`` in the report folder.

The bench checks what must hold whatever the numbers: every score is a number in [0, 1],
both formulas and both baselines are scored on the same frames, and maps are produced.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from anomaly_ref.data.paths import shared_root
from anomaly_ref.extraction.localisation import SCORES

BACKBONES = ("repvgg_a0", "tf_efficientnet_lite0")
SPEED_FRAMES = 32


def _source() -> Path:
    path = shared_root() / "data" / "ucsd_ped2" / "ucsd_ped2_test.npz"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the Grad-CAM++ bench needs the real Ped2 test frames", pytrace=False)
    return path


@pytest.mark.parametrize("backbone", BACKBONES, ids=[f"gradcam-ped2-{b}" for b in BACKBONES])
def test_gradcam_scores(backbone, bench_session):
    from anomaly_ref.cli import main

    frames = os.environ.get("ANOMALY_REF_GRADCAM_FRAMES", "48")
    out = Path(bench_session.report_dir) / f"gradcam-ped2-{backbone}"
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = ["gradcam", "--source", str(_source()), "--dataset", "ped2", "--backbone", backbone, "--target", "both",
            "--formula", "both", "--frames", frames, "--score", "--out", str(out), "--force"]
    assert main(argv) == 0
    doc = json.loads((out / "gradcam.json").read_text())
    assert doc["kind"] == "gradcam" and len(doc["summary"]) == 6
    bench_session.result_files.append(out / "gradcam.json")  # the session's report shows its section
    for name, row in doc["summary"].items():
        assert row["n"] == int(frames), name
        for s in SCORES:
            assert math.isfinite(row[s]) and 0 <= row[s] <= 1, f"{name}: {s} = {row[s]}"
    assert all(f["test_auc"] is not None for f in doc["anomaly_head"]["folds"])


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("backbone", BACKBONES)
def test_gradcam_throughput(backbone, device, batch_size, bench_session):
    import torch

    from anomaly_ref.fileio import atomic_write_text
    from anomaly_ref.frames.sources import open_npz
    from anomaly_ref.studies.gradcam import GradcamConfig, run_gradcam, select_rows

    frames = open_npz(_source(), "ped2")
    rows = select_rows(frames.labels, SPEED_FRAMES)
    config = GradcamConfig(backbone, targets=("paper",), formulas=("paper", "gradcam++"), batch_size=batch_size,
                           device=device, score=False)
    run_gradcam(frames, rows[:batch_size], config)  # warm-up: first-call allocations, cuDNN choices
    t0 = time.perf_counter()
    doc, _ = run_gradcam(frames, rows, config)
    wall = time.perf_counter() - t0
    tp = doc["throughput"]
    assert tp["passes"] == len(rows) and tp["maps_per_s"] > 0
    row = {"backbone": backbone, "weights": doc["config"]["weights"], "device": device, "batch": batch_size,
           "frames": len(rows), "maps_per_s": round(tp["maps_per_s"], 2),
           "frames_per_s_end_to_end": round(len(rows) / wall, 2), "threads": torch.get_num_threads()}
    log = Path(bench_session.report_dir) / "gradcam_speed.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    lines = [x for x in lines if (x["backbone"], x["device"], x["batch"]) != (backbone, device, batch_size)] + [row]
    atomic_write_text(log, "".join(json.dumps(x) + "\n" for x in lines))
    table = ["| backbone | weights | device | batch | maps/s | frames/s end to end | torch threads |",
             "|---|---|---|---|---|---|---|"]
    table += [f"| {x['backbone']} | {x['weights']} | {x['device']} | {x['batch']} | {x['maps_per_s']} | "
              f"{x['frames_per_s_end_to_end']} | {x['threads']} |" for x in lines]
    atomic_write_text(Path(bench_session.report_dir) / "gradcam_speed.md", "# Grad-CAM++ maps/s (both formulas from one pass)\n\n"
                      + "\n".join(table) + "\n")
