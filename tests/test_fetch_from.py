"""``anomaly-ref fetch --from PATH`` and ``$ANOMALY_REF_FROM`` (issue 14): a folder downloaded
in a browser or copied from a colleague goes through the checks a download gets, then
into the cache; ``reproduce --offline`` then uses it. No network is touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from anomaly_ref.cli import main
from anomaly_ref.data import fetch

from test_fetch import (  # noqa: F401  (fixtures used by name)
    ANOMALY, DS, EXTRACTOR, NORMAL, WB, cache, cache_files, clean_env, feature_paths, folder_arrays,
    make_manifest, npy_bytes, server, sha, sleeps, wb_bytes,
)
from test_fetch_hardening import dropbox_folder_zip

ROWS = 30  # enough for reproduce: windows of 10, a stratified 80/20 split


def write_folder(root: Path, files: dict[str, bytes], top: str = "ped2") -> Path:
    """The folder as a browser download unpacks it: one top folder, a .txt beside the features."""
    folder = root / top
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "Description of the features.txt").write_text("12 feature files\n")
    return folder


def fetch_from(manifest, cache, source, *extra) -> list[str]:
    return ["fetch", "--dataset", DS, "--manifest", str(manifest), "--cache", str(cache), "--from", str(source),
            "--no-progress", *extra]


@pytest.mark.parametrize("layout", ["zip", "folder", "parent-folder"])
def test_from_installs_then_reproduce_offline_uses_it(server, make_manifest, cache, tmp_path, capsys, layout):
    files = folder_arrays(ROWS)
    manifest = make_manifest()
    if layout == "zip":
        source = tmp_path / "ped2.zip"
        source.write_bytes(dropbox_folder_zip(files))
    else:
        folder = write_folder(tmp_path / "download", files)
        source = folder if layout == "folder" else folder.parent  # the folder, or the folder holding it
    rc = main(fetch_from(manifest, cache, source, "--only", "features"))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert cache_files(cache) == feature_paths(files)
    assert all((cache / "features" / DS / n).read_bytes() == d for n, d in files.items())
    assert f"features/{DS}: 12 file(s) verified, copied from {source}" in err
    tofu = json.loads((cache / "features" / DS / fetch.TOFU_NAME).read_text())
    assert {n: r["sha256"] for n, r in tofu.items()} == {n: sha(d) for n, d in files.items()}  # as a download records

    out = tmp_path / "result.json"
    rc = main(["reproduce", "--dataset", DS, "--extractor", EXTRACTOR, "--manifest", str(manifest),
               "--cache", str(cache), "--offline", "--runs", "1", "--max-epochs", "1", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    inputs = json.dumps(json.loads(out.read_text())["provenance"]["inputs"])
    assert str(cache / "features" / DS / NORMAL) in inputs and str(cache / "features" / DS / ANOMALY) in inputs
    assert server.requests() == 0


def test_from_a_zip_without_only_skips_the_workbook_rather_than_downloading_it(server, make_manifest, cache,
                                                                               tmp_path, capsys):
    files = folder_arrays(ROWS)
    source = tmp_path / "ped2.zip"
    source.write_bytes(dropbox_folder_zip(files))
    rc = main(fetch_from(make_manifest(), cache, source))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert cache_files(cache) == feature_paths(files)
    assert f"workbooks/{DS}: not in {source}; skipped" in err
    assert server.requests() == 0  # no download attempt for the workbook


def _object_npy() -> bytes:
    return npy_bytes(np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("fault, match", [
    ("wrong-dim", f"entry 'ped2/{NORMAL}' fails verification: dim: expected 768, found 10"),
    ("missing", f"members differ from the manifest: missing ['{ANOMALY}']"),
    ("object", f"entry 'ped2/{NORMAL}' fails verification: dtype: expected float32, found object (Python objects, a pickle)"),
])
def test_from_a_bad_folder_installs_nothing(make_manifest, cache, tmp_path, capsys, fault, match):
    files = folder_arrays()
    if fault == "wrong-dim":
        files[NORMAL] = npy_bytes(np.zeros((4, 10), np.float32))
    elif fault == "missing":
        del files[ANOMALY]
    else:
        files[NORMAL] = _object_npy()
    folder = write_folder(tmp_path / "download", files)
    rc = main(fetch_from(make_manifest(), cache, folder.parent, "--only", "features"))
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert rc == 2 and [ln for ln in lines if ln.startswith("error:")] == lines[-1:] and match in lines[-1], err
    assert cache_files(cache) == set() and not (cache / "features" / DS / fetch.TOFU_NAME).exists()


def test_from_a_path_that_does_not_exist(make_manifest, cache, tmp_path, capsys):
    rc = main(fetch_from(make_manifest(), cache, tmp_path / "nowhere"))
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: --from ") and err.count("\n") == 1 and cache_files(cache) == set()


def test_from_the_workbook(make_manifest, cache, tmp_path, capsys, wb_bytes):
    (tmp_path / WB).write_bytes(wb_bytes)
    assert main(fetch_from(make_manifest(), cache, tmp_path / WB, "--only", "workbook")) == 0
    assert (cache / "workbooks" / DS / WB).read_bytes() == wb_bytes
    # a wrong workbook: refused against its pin, nothing installed
    (tmp_path / WB).write_bytes(wb_bytes[:-1] + bytes([wb_bytes[-1] ^ 1]))
    rc = main(fetch_from(make_manifest(), tmp_path / "cache2", tmp_path / WB, "--only", "workbook"))
    assert rc == 2 and "fails verification: sha256: expected" in capsys.readouterr().err
    assert [p.split("/")[:3] for p in cache_files(tmp_path / "cache2")] == [[".rejected", "workbooks", DS]]  # kept, not installed


def test_from_env_serves_the_api_and_offline(server, make_manifest, cache, tmp_path, monkeypatch):
    """$ANOMALY_REF_FROM holds one zip or folder per dataset: fetch.features (the bench, reproduce,
    audit) installs from it, even offline, and never touches the network."""
    files = folder_arrays()
    (tmp_path / "copies").mkdir()
    (tmp_path / "copies" / f"{DS}.zip").write_bytes(dropbox_folder_zip(files))
    monkeypatch.setenv(fetch.FROM_ENV, str(tmp_path / "copies"))
    monkeypatch.setenv(fetch.OFFLINE_ENV, "1")
    normal, anomaly = fetch.features(DS, EXTRACTOR, cache=cache, manifest=make_manifest())
    assert normal.read_bytes() == files[NORMAL] and anomaly.read_bytes() == files[ANOMALY]
    assert cache_files(cache) == feature_paths(files) and server.requests() == 0
    shutil.rmtree(tmp_path / "copies")
    monkeypatch.setenv(fetch.FROM_ENV, str(tmp_path / "copies"))
    with pytest.raises(fetch.InputError, match=r"local copies \(\$ANOMALY_REF_FROM\): .* is not a folder"):
        fetch.features(DS, EXTRACTOR, cache=cache, manifest=make_manifest())


def test_copy_file_never_follows_a_link(tmp_path):
    # The folder walk refuses links; a file swapped for one after that check is refused at
    # open (O_NOFOLLOW), with one FetchError and nothing written.
    from anomaly_ref.data import unpack
    from anomaly_ref.data.manifest import Member
    from anomaly_ref.errors import FetchError

    real = tmp_path / "real.xlsx"
    real.write_bytes(b"PK\x03\x04 not much")
    link = tmp_path / "book.xlsx"
    link.symlink_to(real)
    member = Member(name="book.xlsx", sha256=None, size=None)
    with pytest.raises(FetchError, match=r"book\.xlsx: cannot open"):
        unpack.copy_file(link, member, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()
    assert unpack.copy_file(real, member, tmp_path / "ok.xlsx").read_bytes() == real.read_bytes()
