"""The CLI starts without the heavy libraries (issue 24): ``import anomaly_ref.cli``, every
``--help``, every argument error, ``fetch`` from a filled cache, ``manifest`` and ``reference``
import none of torch, OpenCV, pytorch-grad-cam, timm or matplotlib (they cost ~5 s of CPU
before argparse even ran). Each case runs in a fresh interpreter, since this one has loaded
them all long ago, and reports the forbidden modules found in ``sys.modules`` afterwards.
The commands are read from the parser, so a new subcommand is checked without a new line here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import anomaly_ref
from anomaly_ref.cli import build_parser, main

from test_fetch import DS, EXTRACTOR, cache, clean_env, folder_arrays, make_manifest, server, sleeps  # noqa: F401
from test_fetch_from import write_folder

FORBIDDEN = ("torch", "cv2", "pytorch_grad_cam", "timm", "matplotlib")
SRC = Path(anomaly_ref.__file__).resolve().parents[1]

# Runs argv (a JSON list; null: import only) through main, then prints the exit code, the
# forbidden modules loaded and what the command printed, as one JSON line.
PROBE = """
import contextlib, io, json, sys
argv = json.loads(sys.argv[1])
from anomaly_ref.cli import main
buf, rc = io.StringIO(), None
if argv is not None:
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
print(json.dumps({"rc": rc, "loaded": [m for m in sys.argv[2:] if m in sys.modules], "output": buf.getvalue()}))
"""


def probe(argv: list[str] | None, **env: str) -> dict:
    """``argv`` run by ``anomaly_ref.cli.main`` in a fresh interpreter: its rc, output and
    the forbidden modules it loaded."""
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), *FORBIDDEN], capture_output=True,
                          text=True, timeout=120, cwd=SRC,  # `-c` puts the cwd first on the path
                          env={**os.environ, "PYTHONPATH": path, **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def commands(parser: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every (sub)command path of the CLI: ``()``, ``("audit",)``, ..., ``("manifest", "verify")``."""
    parser = parser or build_parser()
    out = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += commands(sub, (*prefix, name))
    return out


def _id(path: tuple[str, ...]) -> str:
    return " ".join(path) or "anomaly-ref"


def assert_light(result: dict, rc: int) -> None:
    assert result["rc"] == rc, result["output"]
    assert result["loaded"] == [], f"loaded {result['loaded']}; output: {result['output'][-500:]}"


def test_import_is_light():
    assert_light(probe(None), None)


@pytest.mark.parametrize("path", commands(), ids=_id)
def test_help_is_light(path):
    result = probe([*path, "--help"])
    assert_light(result, 0)
    assert "usage: anomaly-ref" in result["output"]


@pytest.mark.parametrize("path", commands(), ids=_id)
def test_argument_error_is_light(path):
    assert_light(probe([*path, "--no-such-option"]), 2)  # its one-line text: tests/test_cli.py


@pytest.fixture
def filled_cache(make_manifest, cache, tmp_path) -> tuple[Path, Path]:
    """(manifest, cache): the cache holding the ped2 feature folder (small synthetic arrays),
    installed as ``fetch --from`` installs a browser download."""
    manifest = make_manifest()
    folder = write_folder(tmp_path / "download", folder_arrays())
    assert main(["fetch", "--dataset", DS, "--only", "features", "--from", str(folder), "--manifest", str(manifest),
                 "--cache", str(cache), "--no-progress"]) == 0
    return manifest, cache


def test_fetch_from_the_cache_is_light(filled_cache):
    manifest, cache = filled_cache
    # --extractor: the older spelling, so this test runs unchanged on the code before issue 24
    result = probe(["fetch", "--dataset", DS, "--extractor", EXTRACTOR, "--only", "features", "--offline",
                    "--manifest", str(manifest), "--no-progress"], ANOMALY_REF_CACHE=str(cache))
    assert_light(result, 0)
    assert f"normal_features_{EXTRACTOR}.npy" in result["output"] and "ok: 2 verified file(s)" in result["output"]


def test_manifest_is_light(filled_cache):
    manifest, cache = filled_cache
    assert_light(probe(["manifest", "validate", "--manifest", str(manifest)]), 0)
    result = probe(["manifest", "verify", "--manifest", str(manifest), "--cache", str(cache), "--dataset", DS])
    assert_light(result, 0)
    assert f"unpinned  features/{DS}/normal_features_{EXTRACTOR}.npy" in result["output"]


def test_reference_check_is_light(shared):
    result = probe(["reference", "--check"], ANOMALY_REF_SHARED=str(shared))
    assert_light(result, 0)
    assert "ok: 480 rows" in result["output"]
