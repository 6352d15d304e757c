"""anomaly_ref.cli._checks: the shared checks of typed CLI values."""

from __future__ import annotations

import os

import pytest
import torch

from anomaly_ref.cli._checks import check_min, check_out_path, resolve_device
from anomaly_ref.errors import InputError


@pytest.mark.parametrize("text", ["cpu", "CPU", " cpu "])
def test_cpu_is_always_accepted(text):
    assert resolve_device(text) == "cpu"


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cpu:0", "", "cuda0"])
def test_invalid_device_names_the_value_and_the_choices(text):
    with pytest.raises(InputError, match=r"is not a device: use cpu, cuda or cuda:N"):
        resolve_device(text)


@pytest.mark.parametrize("text", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_says_so_and_suggests_cpu(monkeypatch, text):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match=r"no CUDA device.*use --device cpu"):
        resolve_device(text)


def test_cuda_index_beyond_the_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0"
    assert resolve_device("cuda") == "cuda"
    with pytest.raises(InputError, match=r"'cuda:3'.*has 1 CUDA device"):
        resolve_device("cuda:3")


def test_out_path_in_an_existing_folder(tmp_path):
    assert check_out_path(tmp_path / "out.json") == tmp_path / "out.json"
    assert check_out_path("relative.json").name == "relative.json"


def test_out_path_whose_folder_is_missing(tmp_path):
    with pytest.raises(InputError, match=r"folder .*missing.* does not exist"):
        check_out_path(tmp_path / "missing" / "out.json")


def test_out_path_under_a_file(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match=r"a_file is a file, not a folder"):
        check_out_path(tmp_path / "a_file" / "out.json")


def test_out_path_in_a_read_only_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root ignores chmod
    with pytest.raises(InputError, match=r"is not writable"):
        check_out_path(tmp_path / "out.json")


def test_check_min():
    assert check_min("--limit", 0, 0) == 0
    assert check_min("--runs", 5, 1) == 5
    with pytest.raises(InputError, match=r"^--limit must be >= 0, found -1$"):
        check_min("--limit", -1, 0)


def test_early_stopping_off_trains_every_epoch_and_keeps_the_last_weights():
    # The measurement behind the audit's early-stopping policy: no stop, nothing restored.
    import numpy as np

    from anomaly_ref.cli import build_parser
    from anomaly_ref.cli._checks import train_config
    from anomaly_ref.protocol.features import FrameFeatures
    from anomaly_ref.protocol.runner import ProtocolConfig, run_protocol

    args = build_parser().parse_args(["audit", "--source", "x", "--dataset", "ped2", "--backbone",
                                      "tf_efficientnet_lite0", "--out", "o", "--max-epochs", "4",
                                      "--early-stopping", "off"])
    config = train_config(args)
    assert config.patience > config.max_epochs and not config.restore_best_weights
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40), np.ones(40)].astype(np.int64)
    data = FrameFeatures(rng.normal(size=(80, 3)).astype(np.float32), y)
    res = run_protocol("paper-val", data, "Dense", ProtocolConfig(n_runs=2, train=config))
    assert [(r.epochs, r.weights_epoch) for r in res.runs] == [(4, 3), (4, 3)]
