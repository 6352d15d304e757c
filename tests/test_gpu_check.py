"""Without a GPU, the GPU runs stop at once with one line (issue 24): bench/gpu_check.py, and
where it is asked: ``tox -e gpu`` (toxfile.py, the real tox.ini), ``ANOMALY_REF_REQUIRE_GPU=1
pytest bench`` (bench/conftest.py), ``bench/train_speed.py --device cuda``.

Every run here hides the GPUs with ``CUDA_VISIBLE_DEVICES=""``, so it stops the same way on
a machine that has one.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = "no CUDA device: CUDA_VISIBLE_DEVICES='' hides every GPU (unset it, or name a device: CUDA_VISIBLE_DEVICES=0)"


def _load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = _load_gpu_check()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_REF_")}
    return {**env, "CUDA_VISIBLE_DEVICES": "", **extra}


def _lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


# ------------------------------------------------------------------ the check itself


@pytest.mark.parametrize("value, hides", [
    ("", True), ("-1", True), ("none", True), (" ", True), ("0", False), ("1,0", False),
    ("GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", False), ("MIG-GPU-1/0/0", False),
])
def test_cuda_visible_devices(value, hides):
    why = gpu_check.hidden_by_env({"CUDA_VISIBLE_DEVICES": value})
    assert (why is not None) == hides
    if hides:
        assert why.startswith(f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU")
    assert gpu_check.hidden_by_env({}) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the driver check is Linux's")
def test_driver(tmp_path):
    driver = tmp_path / "version"
    env = {"PATH": str(tmp_path / "bin")}
    assert gpu_check.no_driver(env, driver) == (
        f"no NVIDIA driver ({driver} is absent and nvidia-smi is not on PATH)")
    driver.write_text("NVRM version: 550\n")
    assert gpu_check.no_driver(env, driver) is None
    driver.unlink()
    (tmp_path / "bin").mkdir()
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.write_text("#!/bin/sh\n")
    smi.chmod(0o755)
    assert gpu_check.no_driver(env, driver) is None


def test_first_missing_thing_is_named():
    assert gpu_check.missing({"CUDA_VISIBLE_DEVICES": ""}, use_torch=False) == HIDDEN


def test_script_prints_one_line():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--no-torch"], env=_env(),
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == "" and done.stderr == HIDDEN + "\n"


# ------------------------------------------------------------------ where it is asked


def test_tox_gpu_without_a_gpu_stops_before_installing(tmp_path):
    """The real tox.ini and toxfile.py; a fresh work dir, so tox would have to install all."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "tox", "--workdir", str(tmp_path / "tox"), "-e", "gpu"], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - start
    lines = _lines(done)
    assert done.returncode != 0, lines
    assert seconds < 60, f"{seconds:.0f} s"
    assert [line for line in lines if "CUDA" in line or "GPU" in line] == [f"gpu: failed with {HIDDEN}"], lines
    assert not any("commands[" in line or "install" in line for line in lines), lines  # nothing ran or installed
    site = list((tmp_path / "tox" / "gpu").glob("lib/python*/site-packages"))
    assert site and not any((s / name).exists() for s in site for name in ("anomaly_ref", "torch"))


def _tox_config(workdir: Path, env: str, *keys: str) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "tox", "--workdir", str(workdir), "config", "-e", env, "-k", *keys],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out: dict[str, str] = {}
    key = None
    for line in done.stdout.splitlines()[1:]:  # "[testenv:gpu]", then "key = value" or indented list items
        if line.startswith(" ") and key:
            out[key] += ("\n" if out[key] else "") + line.strip()
        elif " = " in line or line.endswith(" ="):
            key, _, value = line.partition(" =")
            out[key] = value.strip()
    return out


def test_tox_gpu_runs_only_gpu_cases_and_every_command(tmp_path):
    conf = _tox_config(tmp_path / "tox", "gpu", "requires_gpu", "ignore_errors", "commands", "pass_env")
    assert conf["requires_gpu"] == "True" and "CUDA_VISIBLE_DEVICES" in conf["pass_env"].split()
    # ignore_errors: the training table (second command) runs even when a benchmark case
    # failed; tox still exits with the first failure's code.
    assert conf["ignore_errors"] == "True"
    pytest_cmd, train_cmd = conf["commands"].splitlines()
    assert train_cmd == "python bench/train_speed.py --device cuda --no-keras"
    assert _tox_config(tmp_path / "tox", "py311", "requires_gpu")["requires_gpu"] == "False"

    args = shlex.split(pytest_cmd)
    assert args[:2] == ["pytest", "bench"]
    done = subprocess.run([sys.executable, "-m", "pytest", *args[1:], "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--report-dir", str(tmp_path / "report")], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    cases = [line for line in done.stdout.splitlines() if "::" in line]
    assert not any("cpu" in case for case in cases), [c for c in cases if "cpu" in c]
    assert {c.split("::")[0] for c in cases} == {"bench/test_extract_throughput.py", "bench/test_reproduce.py",
                                                 "bench/test_train_speed.py"}
    assert sum("test_train_speed_gpu[" in c for c in cases) == 4


def test_ignore_errors_runs_the_next_command(tmp_path):
    """What the gpu env relies on, in tox's own terms (tox 4: ignore_errors)."""
    (tmp_path / "tox.ini").write_text(
        "[testenv:two]\npackage = skip\nignore_errors = true\ncommands =\n"
        "    python -c \"raise SystemExit(3)\"\n    python -c \"print('second command ran')\"\n")
    done = subprocess.run([sys.executable, "-m", "tox", "--workdir", str(tmp_path / "tox"), "-e", "two"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert "second command ran" in done.stdout and done.returncode == 3, done.stdout + done.stderr


def test_bench_with_gpu_required_stops_at_session_start(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "bench"), "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=_env(ANOMALY_REF_REQUIRE_GPU="1"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert _lines(done) == [f"Exit: {HIDDEN}, but ANOMALY_REF_REQUIRE_GPU=1 (tox -e gpu) requires one"]
    assert list(tmp_path.iterdir()) == []  # no report, no case ran


def test_train_speed_on_cuda_without_a_gpu_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "train_speed.py"), "--device", "cuda", "--no-keras"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and _lines(done) == [f"{HIDDEN}; --device cuda needs one"]
