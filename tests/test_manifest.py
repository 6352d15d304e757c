"""data_manifest.json: agrees with the registry and the paper's sums; bad manifests fail clearly."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from anomaly_ref.data import manifest as mf
from anomaly_ref import registry
from anomaly_ref.cli import main
from anomaly_ref.errors import ManifestError

ROOT = Path(__file__).resolve().parent.parent
DOC = json.loads((ROOT / "data_manifest.json").read_text())


def write(tmp_path: Path, doc) -> Path:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def edited(fn) -> dict:
    doc = copy.deepcopy(DOC)
    fn(doc)
    return doc


@pytest.fixture(autouse=True)
def no_manifest_env(monkeypatch):
    monkeypatch.delenv(mf.MANIFEST_ENV, raising=False)


def test_repo_manifest_loads_by_default():
    man = mf.load()
    assert man.path == ROOT / "data_manifest.json" and man.schema_version == mf.SCHEMA_VERSION


SHA256 = re.compile(r"[0-9a-f]{64}")


def check_feature_folder(man: mf.Manifest, key: str) -> None:
    ds = registry.DATASETS[key]
    art = man.artifact(f"features/{key}")
    assert art.kind == "dropbox-folder-zip" and art.dataset == key and art.url == ds.features_url
    expected = {
        (f"{cls}_features_{b}.npy", b, cls, registry.BACKBONES[b].feature_dim,
         ds.n_normal if cls == "normal" else ds.n_anomaly)
        for b in registry.paper_backbones() for cls in ("normal", "anomaly")
    }
    assert {(m.name, m.extractor, m.cls, m.dim, m.rows) for m in art.members} == expected
    assert len(art.members) == 12
    assert all(m.dtype == "float32" for m in art.members)
    # The authors publish no sums: a member is unpinned (None) until 'manifest pin' records one.
    assert all(m.sha256 is None or SHA256.fullmatch(m.sha256) for m in art.members)


@pytest.mark.parametrize("key", list(registry.DATASETS))
def test_feature_folder_matches_registry(key):
    check_feature_folder(mf.load(), key)


def test_pinned_feature_folder_still_matches_registry(tmp_path):
    """The documented workflow: 'manifest pin' fills sha256, the result is committed."""
    path = write(tmp_path, DOC)
    art = mf.load(path).artifact("features/ped2")
    mf.write_pins(path, {(art.id, m.name): (f"{i:064x}", 100 + i) for i, m in enumerate(art.members)})
    check_feature_folder(mf.load(path), "ped2")


def test_umn_row_counts():
    art = mf.load().artifact("features/umn")
    assert {m.cls: m.rows for m in art.members} == {"normal": 6602, "anomaly": 5685}


@pytest.mark.parametrize("key", list(registry.DATASETS))
def test_workbook_entries_match_paper_sums(shared, key):
    sums = dict(reversed(line.split("  ", 1)) for line in (shared / "paper" / "SHA256SUMS").read_text().splitlines())
    ds = registry.DATASETS[key]
    art = mf.load().artifact(f"workbooks/{key}")
    (m,) = art.members
    assert art.kind == "file" and m.name == ds.workbook
    assert m.sha256 == sums[ds.workbook] and m.size == (shared / "paper" / ds.workbook).stat().st_size
    assert art.url == (f"https://raw.githubusercontent.com/{registry.PAPER_REPO}/{registry.PAPER_COMMIT}/"
                       f"Sequential_Model_Results_XLSX/{quote(ds.workbook)}")


def swap_names(i: int, j: int):
    """Exchange the names of members i and j of features/ped2 (artifact 2), nothing else."""
    def edit(doc):
        a, b = doc["artifacts"][2]["members"][i], doc["artifacts"][2]["members"][j]
        a["name"], b["name"] = b["name"], a["name"]
    return edit


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["artifacts"][0]["members"][0].__setitem__("dim", "768"),
         r"\$\.artifacts\[0\]\.members\[0\]\.dim: '768' is not of type 'integer'"),
        (lambda d: d.__setitem__("schema_version", 2), r"\$\.schema_version: expected 1, found 2; .*upgrade anomaly-ref"),
        (lambda d: d["artifacts"][0]["members"][1].__setitem__("sha256", "ABC"),
         r"\$\.artifacts\[0\]\.members\[1\]\.sha256: 'ABC' does not match '\^\[0-9a-f\]\{64\}\$' \(found 'ABC'\); fix the entry"),
        (lambda d: d["artifacts"][0]["members"][0].__setitem__("name", "../x.npy"),
         r"\$\.artifacts\[0\]\.members\[0\]\.name: '\.\./x\.npy' does not match"),
        (lambda d: d["artifacts"][0]["members"][0].__setitem__("dtype", "float64"),
         r"\$\.artifacts\[0\]\.members\[0\]\.dtype: 'float32' was expected \(found 'float64'\)"),
        (lambda d: d["artifacts"][4]["members"][0].__setitem__("sha256", None),
         r"\$\.artifacts\[4\]\.members\[0\]\.sha256: None is not of type 'string'"),
        (lambda d: d["artifacts"][0].__setitem__("kind", "ftp"), r"\$\.artifacts\[0\]\.kind: 'ftp' is not one of"),
        (lambda d: d["artifacts"][0]["members"][0].__setitem__("dim", 100),
         r"\$\.artifacts\[0\]\.members\[0\]\.dim: expected 768 \(registry, convnext_tiny\), found 100"),
        (lambda d: d["artifacts"][3]["members"][0].__setitem__("rows", 6600),
         r"\$\.artifacts\[3\]\.members\[0\]\.rows: expected 6602 \(registry, umn\), found 6600"),
        (lambda d: d["artifacts"][0]["members"][0].__setitem__("extractor", "resnet50"),
         r"\.extractor: expected one of convnext_tiny, .*found 'resnet50'"),
        (lambda d: d["artifacts"][0].__setitem__("dataset", "shanghaitech"), r"\.dataset: expected one of avenue, ped1"),
        (lambda d: d["artifacts"][1].__setitem__("id", d["artifacts"][0]["id"]), r"\$\.artifacts\[1\]\.id: duplicate id 'features/avenue'"),
        (lambda d: d["artifacts"][0]["members"].append(dict(d["artifacts"][0]["members"][0])),
         r"\$\.artifacts\[0\]\.members\[12\]\.name: duplicate member 'normal_features_convnext_tiny\.npy'"),
        (swap_names(0, 1),  # a name that disagrees with its class would swap the labels
         r"\$\.artifacts\[2\]\.members\[0\]\.name: expected 'normal_features_convnext_tiny\.npy' \(the paper's "
         r"name for class 'normal', extractor 'convnext_tiny'\), found 'anomaly_features_convnext_tiny\.npy'; fix the entry"),
        (swap_names(0, 2),
         r"\$\.artifacts\[2\]\.members\[0\]\.name: expected 'normal_features_convnext_tiny\.npy' .*"
         r"found 'normal_features_repvgg_a0\.npy'"),
    ],
    ids=["type", "version", "sha-format", "traversal-name", "dtype", "workbook-unpinned", "kind",
         "dim-vs-registry", "rows-vs-registry", "extractor", "dataset", "dup-id", "dup-member",
         "name-vs-class", "name-vs-extractor"],
)
def test_bad_manifest_names_file_path_and_values(tmp_path, edit, match):
    path = write(tmp_path, edited(edit))
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(path))}: {match}" if match.startswith(r"\$") else match) as info:
        mf.load(path)
    assert str(path) in str(info.value)


def test_invalid_json_names_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "schema_version": 1,\n  "artifacts": [,]\n}')
    with pytest.raises(ManifestError, match=rf"{path}: line 3 column 17: not valid JSON"):
        mf.load(path)


def test_manifest_location_env_and_missing(tmp_path, monkeypatch):
    path = write(tmp_path, DOC)
    monkeypatch.setenv(mf.MANIFEST_ENV, str(path))
    assert mf.load().path == path
    monkeypatch.setenv(mf.MANIFEST_ENV, str(tmp_path / "nope.json"))
    with pytest.raises(ManifestError, match=r"manifest not found: .*nope\.json \(from \$ANOMALY_REF_MANIFEST\); pass --manifest"):
        mf.load()


def test_unknown_artifact_lists_valid_ids():
    with pytest.raises(ManifestError, match=r"no artifact 'features/x'; valid: features/avenue, "):
        mf.load().artifact("features/x")


def test_write_pins_fills_only_null_pins(tmp_path):
    path = write(tmp_path, DOC)
    wb = DOC["artifacts"][4]
    pins = {("features/avenue", "normal_features_repvgg_a0.npy"): ("a" * 64, 123),
            (wb["id"], wb["members"][0]["name"]): ("b" * 64, 1)}  # already pinned: must not change
    assert mf.write_pins(path, pins) == [("features/avenue", "normal_features_repvgg_a0.npy")]
    man = mf.load(path)
    assert man.artifact("features/avenue").member("normal_features_repvgg_a0.npy").sha256 == "a" * 64
    assert man.artifact("features/avenue").member("normal_features_repvgg_a0.npy").size == 123
    assert man.artifact(wb["id"]).members[0].sha256 == wb["members"][0]["sha256"]
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_validate(tmp_path, capsys):
    assert main(["manifest", "validate"]) == 0
    assert "11 artifacts, 56 members" in capsys.readouterr().out
    path = write(tmp_path, edited(lambda d: d.pop("artifacts")))
    assert main(["manifest", "validate", "--manifest", str(path)]) == 2
    assert f"error: {path}: $: 'artifacts' is a required property" in capsys.readouterr().err
