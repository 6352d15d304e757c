"""anomaly-ref standard: its input errors are one line and exit 2 (issue 23)."""

import pytest

from anomaly_ref.cli import main


@pytest.mark.parametrize("extra, message", [
    (["--bank-size", "0"], "error: --bank-size must be >= 1, found 0"),
    (["--smooth", "-1"], "error: --smooth must be >= 0 frames, found -1.0"),
    (["--out", "/nonexistent-dir/x"], "error: cannot write /nonexistent-dir/x: its folder /nonexistent-dir does not exist"),
])
def test_input_errors_are_one_line(tmp_path, capsys, extra, message):
    argv = ["standard", "--source", str(tmp_path / "t.npz"), "--train-source", str(tmp_path / "tr.npz"),
            "--dataset", "ped2", "--backbone", "tf_efficientnet_lite0", "--out", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)


def test_missing_source_names_it(tmp_path, capsys):
    argv = ["standard", "--source", str(tmp_path / "t.npz"), "--train-source", str(tmp_path / "tr.npz"),
            "--dataset", "ped2", "--backbone", "tf_efficientnet_lite0", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "t.npz: not an .npz file or a folder" in capsys.readouterr().err


def test_existing_output_needs_force(tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "standard.json").write_text("{}")
    argv = ["standard", "--source", "s", "--train-source", "t", "--dataset", "ped2", "--backbone",
            "tf_efficientnet_lite0", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "use --force" in capsys.readouterr().err
