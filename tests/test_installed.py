"""anomaly-ref installed from a wheel, not run from a checkout (issue 24).

A wheel of this tree (built from its sdist, as tox does; ``pip install .`` runs the same
build_py hook on the tree) is installed with ``pip install --no-deps --target`` into a folder
outside the checkout; every command then runs with its cwd
outside the checkout and only that folder on PYTHONPATH (the venv supplies the dependencies).
It must find the manifest and the reference CSV that setup.py packaged, and write nothing
into them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from anomaly_ref.cli import main

from test_fetch import DS, WB, folder_arrays
from test_fetch_from import write_folder

ROOT = Path(__file__).resolve().parents[1]
# What the build reads (pyproject.toml's readme included); copied so the build's build/ and
# *.egg-info land in a temporary folder, not in the checkout.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "data_manifest.json", "anomaly_ref",
                "reference")

pytestmark = pytest.mark.slow  # a wheel build and a dozen interpreter start-ups: ~1 minute on 2 busy cores


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"], cwd=cwd,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The folder the wheel is installed into."""
    tmp = tmp_path_factory.mktemp("installed")
    src = tmp / "src"
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "_project"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    # sdist, then a wheel of it, as tox builds (MANIFEST.in must carry the files setup.py
    # packages); with this venv's setuptools, so no index is needed.
    sdist = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; "
                            "print(b.build_sdist(r'%s'))" % (tmp / "sdist")], cwd=src, capture_output=True, text=True)
    assert sdist.returncode == 0, sdist.stderr
    (tarball,) = (tmp / "sdist").glob("anomaly_ref-*.tar.gz")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp / "wheel"), str(tarball), cwd=tmp)
    (wheel,) = (tmp / "wheel").glob("anomaly_ref-*.whl")
    _pip("install", "--no-deps", "--target", str(tmp / "site"), str(wheel), cwd=tmp)
    return tmp / "site"


@pytest.fixture
def run(site, tmp_path):
    """Run a command as an installed user would: cwd outside the checkout, PYTHONPATH = the
    install folder only (not the checkout, whatever this test process was given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANOMALY_REF_")}
    env.update(PYTHONPATH=str(site), NO_PROXY="127.0.0.1,localhost")
    work = tmp_path / "work"
    work.mkdir()

    def run_(*cmd: str | Path, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(c) for c in cmd], cwd=work, env={**env, **extra_env}, capture_output=True,
                              text=True)

    return run_


def test_the_installed_copy_is_the_one_imported(site, run):
    # The venv may hold an editable install of some checkout (a setuptools finder on
    # sys.meta_path): the installed folder must win, for the package and its CLI.
    done = run(sys.executable, "-c", "import anomaly_ref.cli, anomaly_ref.data.paths as p; "
                                     "print(anomaly_ref.cli.__file__); print(p.CHECKOUT); print(p.PACKAGED)")
    assert done.returncode == 0, done.stderr
    cli, checkout, packaged = done.stdout.split()
    assert Path(cli).is_relative_to(site) and checkout == "None"
    assert Path(packaged) == site / "anomaly_ref" / "_project"
    for name in ("data_manifest.json", "reference/paper_results.csv"):  # copies of the checkout's files
        assert (Path(packaged) / name).read_bytes() == (ROOT / name).read_bytes()


def test_reference_check_uses_the_packaged_csv(site, run, shared):
    done = run(site / "bin" / "anomaly-ref", "reference", "--check", ANOMALY_REF_SHARED=str(shared))
    assert done.returncode == 0, done.stdout + done.stderr
    csv = site / "anomaly_ref" / "_project" / "reference" / "paper_results.csv"
    assert done.stdout.strip() == f"ok: 480 rows of {shared / 'paper'} match {csv}"


def test_manifest_validate_uses_the_packaged_manifest(site, run):
    done = run(site / "bin" / "anomaly-ref", "manifest", "validate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: {site / 'anomaly_ref' / '_project' / 'data_manifest.json'}: ")


def test_fetch_offline_from_a_filled_cache_and_no_pin_into_site_packages(site, run, shared, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    folder = write_folder(tmp_path / "download", folder_arrays())
    monkeypatch.delenv("ANOMALY_REF_MANIFEST", raising=False)
    # Fill the cache with this checkout's code (the same manifest): the features from a local
    # folder, the workbook from the shared copy (its sha256 is pinned).
    assert main(["fetch", "--dataset", DS, "--cache", str(cache), "--from", str(folder), "--only", "features",
                 "--no-progress"]) == 0
    assert main(["fetch", "--dataset", DS, "--cache", str(cache), "--from", str(shared / "paper" / WB),
                 "--only", "workbook", "--no-progress"]) == 0

    done = run(site / "bin" / "anomaly-ref", "fetch", "--dataset", DS, "--offline", "--cache", cache, "--no-progress")
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()  # the verified paths: 12 feature files and the workbook
    assert len(printed) == 13 and all(Path(p).is_relative_to(cache) for p in printed)
    assert done.stderr.splitlines()[-1] == f"ok: 13 verified file(s) in {cache}"

    # The ped2 features are unpinned: `manifest pin` would write, and must refuse the packaged manifest.
    manifest = site / "anomaly_ref" / "_project" / "data_manifest.json"
    before = manifest.read_bytes()
    done = run(site / "bin" / "anomaly-ref", "manifest", "pin", "--cache", cache)
    assert done.returncode == 2 and done.stderr.strip() == (
        f"error: {manifest} is the manifest installed with anomaly-ref; pins are not written there (a reinstall "
        "would undo them): pass --manifest (or set $ANOMALY_REF_MANIFEST) naming the data_manifest.json of your "
        "anomaly-ref checkout, or a copy of this file")
    assert manifest.read_bytes() == before


def test_bench_collects_against_the_installed_copy(site, run):
    # bench/ from the checkout, the package from the install: pytest's rootdir is the
    # checkout (its pyproject.toml), which must not make the checkout's package importable.
    code = ("import sys, pytest; rc = pytest.main(sys.argv[1:]); "
            "print('anomaly_ref from', sys.modules['anomaly_ref'].__file__); sys.exit(rc)")
    done = run(sys.executable, "-c", code, ROOT / "bench", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"anomaly_ref from {site / 'anomaly_ref' / '__init__.py'}"
    assert sum("test_reproduce.py::test_reproduce[" in line for line in lines) == 96
