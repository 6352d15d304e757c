"""The Grad-CAM++ runner's frame choices and the rendering of its document (no model needed)."""

from __future__ import annotations

import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.frames.base import FrameSequence
from anomaly_ref.studies.gradcam import GradcamConfig, neighbour_row, select_rows
from anomaly_ref.results.gradcam_report import scores_table, to_markdown, versus_motion


def test_select_rows_is_a_uniform_subsample_of_abnormal_frames():
    labels = [0, 1, 1, 0, 1, 1, 1, 1, 1, 0]  # 7 abnormal
    assert select_rows(labels).tolist() == [1, 2, 4, 5, 6, 7, 8]
    assert select_rows(labels, 3).tolist() == [1, 4, 6]  # every 7 // 3 = 2nd, the first 3
    assert select_rows(labels, 100).tolist() == [1, 2, 4, 5, 6, 7, 8]
    with pytest.raises(InputError, match="no abnormal frames"):
        select_rows([0, 0])


def test_motion_neighbour_is_the_previous_frame_of_the_clip():
    frames = FrameSequence("ped2", [1, 1, 1, 2, 2], [0, 1, 2, 0, 1], [1, 1, 1, 1, 1])
    lookup = {(c, i): r for r, (c, i) in enumerate(zip(frames.clips, frames.indices))}
    assert [neighbour_row(frames, r, lookup) for r in range(5)] == [1, 0, 1, 4, 3]


def test_config_names_are_checked():
    with pytest.raises(InputError, match="valid: paper, anomaly-head"):
        GradcamConfig("repvgg_a0", targets=("gradients",))
    with pytest.raises(InputError, match="valid: paper, gradcam"):
        GradcamConfig("repvgg_a0", formulas=("plain",))


def test_table_and_verdict_against_motion():
    row = lambda kind, p, a, i: {"pointing_game": p, "pixel_auc": a, "topk_iou": i, "n": 4, "kind": kind}  # noqa: E731
    doc = {"summary": {"paper/paper": row("gradcam", 0.5, 0.7, 0.1), "anomaly-head/paper": row("gradcam", 0.1, 0.9, 0.3),
                       "centre-prior": row("baseline", 0.0, 0.6, 0.0), "motion": row("baseline", 0.3, 0.8, 0.2)}}
    table = scores_table(doc)
    assert "| `paper/paper` | gradcam | 0.500 | 0.700 | 0.100 | 4 |" in table
    verdict = versus_motion(doc)
    assert "`paper/paper`: beats motion on pointing game (" in verdict
    assert "`anomaly-head/paper`: beats motion on pixel ROC-AUC, top-k% IoU" in verdict
    assert "centre-prior" not in verdict


def test_markdown_shows_the_run_time_as_every_report_does():
    doc = {"config": {"backbone": "repvgg_a0", "weights": "random", "target_layer": "conv", "frames": 2,
                      "abnormal_frames": 4, "rows_rule": "every 2nd"},
           "throughput": {"maps_per_s": 1.0, "device": "cpu", "batch_size": 2, "counts": "2 maps"},
           "provenance": {"argv": ["anomaly-ref", "gradcam"], "git": {"commit": "abc", "dirty": False},
                          "utc": "2026-12-07T17:15:02+00:00"}}
    assert "- commit abc (dirty: False), run at 2026-12-07 17:15 UTC" in to_markdown(doc)
