"""Is there a CUDA device for the GPU benchmarks? One line saying what is missing, or nothing.

Used where a GPU run starts, so that a machine without one stops in seconds with one line
rather than minutes later with a traceback per case: ``tox -e gpu`` (toxfile.py, before it
installs anything and again before its commands), ``ANOMALY_REF_REQUIRE_GPU=1 pytest bench``
(bench/conftest.py) and ``python bench/train_speed.py --device cuda``.

Standard library only (toxfile.py runs it with tox's own Python, which may lack torch); torch
is asked last, and only where it is importable, since it is the final word and slow to import.

    python bench/gpu_check.py             # exit 1 and one line on stderr without a CUDA device
    python bench/gpu_check.py --no-torch  # only what is visible without torch (env, driver)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Mapping

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
DRIVER_FILE = Path("/proc/driver/nvidia/version")  # written by the NVIDIA kernel module (Linux)
PREFIX = "no CUDA device"


def hidden_by_env(environ: Mapping[str, str]) -> str | None:
    """Why ``CUDA_VISIBLE_DEVICES`` hides every GPU, or None. CUDA reads the list up to its first
    invalid entry, so an empty value or a first entry that is neither an index nor a
    ``GPU-``/``MIG-`` UUID (``-1``, ``none``) leaves no device."""
    value = environ.get(VISIBLE_ENV)
    if value is None:
        return None
    first = value.split(",")[0].strip()
    if first.isdigit() or first.startswith(("GPU-", "MIG-")):
        return None
    return f"{VISIBLE_ENV}={value!r} hides every GPU (unset it, or name a device: {VISIBLE_ENV}=0)"


def no_driver(environ: Mapping[str, str], driver_file: Path = DRIVER_FILE) -> str | None:
    """Why no NVIDIA driver is visible (Linux only: elsewhere torch decides), or None."""
    if not sys.platform.startswith("linux"):
        return None
    if driver_file.exists() or shutil.which("nvidia-smi", path=environ.get("PATH")):
        return None
    return f"no NVIDIA driver ({driver_file} is absent and nvidia-smi is not on PATH)"


def torch_sees_none() -> str | None:
    """Why torch sees no CUDA device, or None (also None where torch is not installed)."""
    try:
        import torch
    except ImportError:
        return None
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is None); install a CUDA build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees none: torch.cuda.is_available() is False"


def missing(environ: Mapping[str, str] | None = None, use_torch: bool = True) -> str | None:
    """``"no CUDA device: <why>"`` for the first thing missing, cheapest check first; None if
    a GPU is there (as far as the checks asked can tell)."""
    environ = os.environ if environ is None else environ
    why = hidden_by_env(environ) or no_driver(environ) or (torch_sees_none() if use_torch else None)
    return f"{PREFIX}: {why}" if why else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    why = missing(use_torch="--no-torch" not in argv)
    if why:
        print(why, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
