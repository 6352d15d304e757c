"""tox's inline plugin (tox 4 loads ``toxfile.py`` beside tox.ini): an environment that sets
``requires_gpu = true`` (``tox -e gpu``) stops with one line naming what is missing when no
CUDA device is there, rather than installing ~6 GB and failing each benchmark in turn.

bench/gpu_check.py is asked twice: before the first install, with tox's own Python (no torch
needed: CUDA_VISIBLE_DEVICES, the NVIDIA driver), and before the commands, with the
environment's Python (torch.cuda.is_available()). Both see the environment's variables, as
the commands will (passenv / setenv applied).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tox.plugin import impl
from tox.tox_env.errors import Fail

GPU_CHECK = Path(__file__).resolve().parent / "bench" / "gpu_check.py"
_checked: set[str] = set()  # environments whose pre-install check passed (it runs once per env)


@impl
def tox_add_env_config(env_conf, state) -> None:
    env_conf.add_config(
        keys=["requires_gpu"], of_type=bool, default=False,
        desc="stop before installing or running anything when no CUDA device is visible (bench/gpu_check.py)",
    )


@impl
def tox_on_install(tox_env, arguments, section, of_type) -> None:
    if tox_env.conf["requires_gpu"] and tox_env.name not in _checked:
        _check(tox_env, sys.executable, "--no-torch")
        _checked.add(tox_env.name)


@impl
def tox_before_run_commands(tox_env) -> None:
    if tox_env.conf["requires_gpu"]:
        _check(tox_env, str(tox_env.env_python()))


def _check(tox_env, python: str, *args: str) -> None:
    done = subprocess.run([python, str(GPU_CHECK), *args], env=tox_env.environment_variables,
                          capture_output=True, text=True)
    if done.returncode:  # tox logs a Fail as "<env>: failed with <message>" and exits 1
        raise Fail(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                   f"{GPU_CHECK} exited {done.returncode}")
