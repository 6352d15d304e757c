"""anomaly-ref extract end to end on a tiny normal/abnormal folder."""

from __future__ import annotations

import numpy as np
import pytest

from anomaly_ref.cli import main
from anomaly_ref.extraction.paper import extract_paper
from anomaly_ref.extraction.backbones import create_backbone
from anomaly_ref.frames.sources import open_folders
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


def _argv(folders, out, *extra):
    return ["extract", "--source", str(folders), "--dataset", "umn", "--backbone", PACKAGED.name,
            "--random-weights", "--out", str(out), *extra]


def _one_error_line(capsys, pattern):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert __import__("re").search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("extra, pattern", [
    (["--device", "gpu"], r"^error: --device 'gpu' is not a device: use cpu, cuda or cuda:N"),
    (["--limit", "-1"], r"^error: --limit must be >= 0, found -1$"),
    (["--batch-size", "0", "--fast"], r"^error: --batch-size must be >= 1, found 0$"),
])
def test_user_mistakes_give_one_error_line(folders, tmp_path, capsys, extra, pattern):
    assert main(_argv(folders, tmp_path / "out", *extra)) == 2
    _one_error_line(capsys, pattern)
    assert not (tmp_path / "out").exists()


def test_cuda_without_a_gpu_suggests_cpu(folders, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(_argv(folders, tmp_path / "out", "--device", "cuda")) == 2
    _one_error_line(capsys, r"no CUDA device.*use --device cpu")


def test_out_under_a_missing_folder(folders, tmp_path, capsys):
    assert main(_argv(folders, tmp_path / "missing" / "out")) == 2
    _one_error_line(capsys, r"missing does not exist")


@pytest.mark.parametrize("fast", [False, True])
def test_existing_outputs_need_force(folders, tmp_path, capsys, fast):
    out = tmp_path / "out"
    out.mkdir()
    cached = out / f"normal_features_{PACKAGED.name}.npy"
    cached.write_bytes(b"the authors' file")
    extra = ["--fast", "--workers", "0"] if fast else []
    assert main(_argv(folders, out, *extra)) == 2
    _one_error_line(capsys, rf"refusing to overwrite .*normal_features_{PACKAGED.name}\.npy.*--force")
    assert cached.read_bytes() == b"the authors' file"
    assert main(_argv(folders, out, *extra, "--force")) == 0
    assert np.load(cached).shape == (3, PACKAGED.feature_dim)
    assert not list(out.glob(".*"))  # no scratch or temp files left


def test_fast_scratch_file_is_removed_when_extraction_fails(folders, tmp_path, monkeypatch):
    import anomaly_ref.extraction.fast as extract_fast

    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(extract_fast, "extract_fast", crash)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="out of memory"):
        main(_argv(folders, out, "--fast", "--workers", "0"))
    assert list(out.iterdir()) == []


def test_help_names_both_constructions(capsys):
    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--construction frames (default): every frame once" in text
    assert "--construction paper: the authors' file pair (PROTOCOL §1)" in text


def test_frames_construction_refuses_paper_only_flags(folders, tmp_path, capsys):
    assert main(_argv(folders, tmp_path / "out", "--plan")) == 2
    _one_error_line(capsys, r"--train-source, --labels notebook and --plan need --construction paper")
