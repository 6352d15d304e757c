"""anomaly_ref/data/paths.py: the project's files come from the checkout, or from the copy
installed with the package; nothing is ever written into that copy (issue 24)."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from anomaly_ref.data import manifest, paths
from anomaly_ref.errors import InputError, ManifestError
from anomaly_ref.results import workbook

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def installed(monkeypatch, tmp_path) -> Path:
    """Pretend this package runs installed: no checkout, its packaged copies under tmp_path."""
    packaged = tmp_path / "site" / "anomaly_ref" / "_project"
    for name in paths.PROJECT_FILES:
        (packaged / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, packaged / name)
    monkeypatch.setattr(paths, "CHECKOUT", None)
    monkeypatch.setattr(paths, "PACKAGED", packaged)
    monkeypatch.delenv(manifest.MANIFEST_ENV, raising=False)
    return packaged


def test_a_checkout_reads_its_own_files():
    assert paths.CHECKOUT == ROOT
    for name in paths.PROJECT_FILES:
        assert paths.project_file(name) == ROOT / name and (ROOT / name).is_file()
        assert not paths.is_packaged(ROOT / name)
    assert workbook.DEFAULT_REFERENCE == ROOT / "reference" / "paper_results.csv"


def test_setup_py_packages_the_same_files():
    tree = ast.parse((ROOT / "setup.py").read_text())
    values = [ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and [t.id for t in n.targets] == ["PROJECT_FILES"]]
    assert values == [paths.PROJECT_FILES]


def test_an_installed_copy_reads_the_packaged_files(installed):
    for name in paths.PROJECT_FILES:
        assert paths.project_file(name) == installed / name and paths.is_packaged(installed / name)
    assert manifest.default_path() == installed / "data_manifest.json"
    assert manifest.load().path == installed / "data_manifest.json"


def test_unknown_project_file():
    with pytest.raises(ValueError, match="'README.md' is not a project file; known: data_manifest.json"):
        paths.project_file("README.md")


def test_pins_are_never_written_into_the_installed_manifest(installed):
    file = installed / "data_manifest.json"
    before = file.read_bytes()
    pins = {("features/ped2", "normal_features_convnext_tiny.npy"): ("0" * 64, 4)}
    with pytest.raises(ManifestError, match=r"data_manifest.json is the manifest installed with anomaly-ref; pins "
                                            r"are not written there .*pass --manifest"):
        manifest.write_pins(file, pins)
    assert file.read_bytes() == before


def test_pins_go_to_an_explicit_copy(installed, tmp_path):
    copy = tmp_path / "mine.json"
    shutil.copyfile(installed / "data_manifest.json", copy)
    pins = {("features/ped2", "normal_features_convnext_tiny.npy"): ("0" * 64, 4)}
    assert manifest.write_pins(copy, pins) == list(pins)
    doc = json.loads(copy.read_text())
    art = next(a for a in doc["artifacts"] if a["id"] == "features/ped2")
    assert art["members"][0]["sha256"] == "0" * 64


def test_missing_installed_files_say_reinstall_not_write(installed):
    (installed / "reference" / "paper_results.csv").unlink()
    with pytest.raises(InputError, match="reference CSV not found: .*_project.*reinstall anomaly-ref") as err:
        workbook.load_reference(paths.project_file("reference/paper_results.csv"))
    assert "--out" not in str(err.value)  # never advise writing into the installed package
    (installed / "data_manifest.json").unlink()
    with pytest.raises(ManifestError, match="manifest not found: .*_project.*from the copy installed with anomaly-ref"):
        manifest.load()


def test_missing_checkout_reference_says_regenerate(tmp_path):
    with pytest.raises(InputError, match="regenerate it with: anomaly-ref reference --paper-dir DIR --out"):
        workbook.load_reference(tmp_path / "paper_results.csv")
