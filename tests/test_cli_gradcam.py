"""anomaly-ref gradcam end to end on two real Ped2 frames, and its input errors."""

from __future__ import annotations

import json

import numpy as np

from anomaly_ref.cli import main
from anomaly_ref.extraction.localisation import SCORES
from anomaly_ref.studies.gradcam import BASELINES


def test_gradcam_scores_two_real_frames(shared, tmp_path, capsys):
    source = shared / "data" / "ucsd_ped2" / "ucsd_ped2_test.npz"
    out = tmp_path / "out"
    argv = ["gradcam", "--source", str(source), "--dataset", "ped2", "--backbone", "tf_efficientnet_lite0",
            "--formula", "both", "--frames", "2", "--batch-size", "2", "--score", "--sheet", "1", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "gradcam.json").read_text())
    assert doc["kind"] == "gradcam" and doc["config"]["frames"] == 2 and doc["config"]["target_layer"] == "conv_head"
    assert doc["config"]["weights"].startswith("pretrained")
    assert set(doc["summary"]) == {"paper/paper", "paper/gradcam++", *BASELINES}
    for row in doc["summary"].values():
        assert all(0 <= row[s] <= 1 for s in SCORES) and row["n"] == 2
    assert [(f["clip"], f["index"]) for f in doc["frames"]] == [(1, 60), (7, 79)]  # every 824th abnormal frame
    assert 0 < doc["formula_difference"]["paper"]["mean_abs_diff"] < 1
    assert doc["throughput"]["maps_per_s"] > 0 and doc["provenance"]["inputs"]
    assert (out / "contact_sheet.png").stat().st_size > 0 and len(list((out / "overlays").glob("*.png"))) == 4
    assert "| `motion` | baseline |" in (out / "gradcam.md").read_text()
    assert "maps/s" in capsys.readouterr().out
    assert main(argv) == 2  # an existing result is not replaced without --force
    assert "--force" in capsys.readouterr().err


def test_score_without_masks_is_one_error_line(tmp_path, capsys):
    np.savez(tmp_path / "f.npz", frames=np.zeros((2, 8, 8), np.uint8), video=np.array([1, 1]),
             frame=np.array([0, 1]), label=np.array([0, 1], np.uint8))
    argv = ["gradcam", "--source", str(tmp_path / "f.npz"), "--dataset", "ped2", "--backbone", "repvgg_a0",
            "--score", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --score needs pixel masks")
    assert not (tmp_path / "out").exists()
