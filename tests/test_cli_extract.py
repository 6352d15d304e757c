"""anomaly-ref extract end to end on a tiny normal/abnormal folder."""

from __future__ import annotations

import numpy as np
import pytest

from anomaly_ref.cli import main
from anomaly_ref.extract import extract_paper
from anomaly_ref.backbones import create_backbone
from anomaly_ref.frames import open_folders
from anomaly_ref.registry import BACKBONES

PACKAGED = next(b for b in BACKBONES.values() if b.weights_package)


@pytest.fixture
def folders(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    for name, n in (("normal", 3), ("abnormal", 2)):
        (tmp_path / "src" / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(tmp_path / "src" / name / f"{i}.png"), rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    return tmp_path / "src"


@pytest.mark.parametrize("fast", [False, True])
def test_extract_writes_paper_files(folders, tmp_path, capsys, fast):
    out = tmp_path / "out"
    argv = ["extract", "--source", str(folders), "--dataset", "umn", "--backbone", PACKAGED.name, "--out", str(out)]
    argv += ["--fast", "--batch-size", "2", "--workers", "0"] if fast else []
    assert main(argv) == 0
    normal = np.load(out / f"normal_features_{PACKAGED.name}.npy")
    anomaly = np.load(out / f"anomaly_features_{PACKAGED.name}.npy")
    assert normal.shape == (3, PACKAGED.feature_dim) and anomaly.shape == (2, PACKAGED.feature_dim)
    expected = extract_paper(create_backbone(PACKAGED.name), (f.image for f in open_folders(folders, "umn")), PACKAGED)
    np.testing.assert_allclose(np.vstack([normal, anomaly]), expected, rtol=1e-4, atol=1e-5)
    assert (out / f"anomaly_features_{PACKAGED.name}.frames.csv").read_text().splitlines()[1] == "3,abnormal,0,1"
    assert "images/s" in capsys.readouterr().out
    assert not list(out.glob(".all_features_*"))


def test_extract_unknown_layout_is_a_clean_error(tmp_path, capsys):
    assert main(["extract", "--source", str(tmp_path), "--dataset", "umn", "--backbone", PACKAGED.name]) == 2
    assert "unknown layout" in capsys.readouterr().err
