"""Provenance recorded with every result: versions, git state, device, time, input hashes."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .fileio import sha256_file

_PACKAGES = ("torch", "timm", "numpy", "scikit-learn", "pandas", "opencv-python-headless")  # cv2: optical flow


def git_state(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout holding this package."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "anomaly_ref": __version__}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device: str | None = None) -> dict[str, Any]:
    """The compute device a result was produced on."""
    info: dict[str, Any] = {
        "device": device or "cpu",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if device and device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def collect(
    *,
    config: dict[str, Any],
    seeds: dict[str, Any],
    inputs: Iterable[str | os.PathLike] = (),
    device: str | None = None,
) -> dict[str, Any]:
    """Everything needed to trace a result back to its code, data and machine."""
    return {
        "config": config,
        "seeds": seeds,
        "git": git_state(),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "device": device_info(device),
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "argv": sys.argv,
    }
