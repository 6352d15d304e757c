"""Official frame archives: fetch -> unpack -> reader -> audit, and hostile archives refused.

Every archive is a tiny synthetic one in the official layout (tests/archives.py), served
by a local HTTP server on 127.0.0.1: the real hosts are unreachable here. Extraction is
replaced by a cheap stand-in (a thumbnail of each decoded frame) so the end-to-end runs
take seconds; the readers still decode every frame.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

import archives
import anomaly_ref.extraction.cache as cache_mod
from anomaly_ref.cli import main
from anomaly_ref.data import framesets
from anomaly_ref.errors import FetchError
from anomaly_ref.frames.sources import open_source
from httpserver import Reply, Server

ROOT = Path(__file__).resolve().parents[1]
BACKBONE = "tf_efficientnet_lite0"
UCSD = "UCSD_Anomaly_Dataset.tar.gz"


@pytest.fixture
def server():
    with Server() as s:
        yield s


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    """A manifest whose frame archives are published on the local server; cache in tmp."""
    doc = json.loads((ROOT / "data_manifest.json").read_text())
    for art in doc["artifacts"]:
        if art["kind"] == "frames-archive":
            art["url"] = server.url(f"/pub/{art['id']}/")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(doc))
    monkeypatch.setenv("ANOMALY_REF_MANIFEST", str(manifest))
    monkeypatch.setenv("ANOMALY_REF_CACHE", str(tmp_path / "cache"))
    for var in ("ANOMALY_REF_MIRROR", "ANOMALY_REF_OFFLINE", "ANOMALY_REF_FROM", "ANOMALY_REF_REQUIRE_PINNED"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def thumbnails(monkeypatch):
    """Features = a 6 x 9 thumbnail of each decoded frame, tiled to the backbone's 1280 dims."""
    import cv2

    def extract(frames, backbone, pretrained, fast, device, progress):
        X = np.stack([np.resize(cv2.resize(frames[i].image[..., 0], (9, 6), interpolation=cv2.INTER_AREA)
                                .astype(np.float32).ravel(), 1280) for i in range(len(frames))])
        return X, 0.01

    monkeypatch.setattr(cache_mod, "_extract", extract)


def _one_error(capsys, rc) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _serve_ucsd(server, tmp_path, files=None, extra=(), data: bytes | None = None) -> Path:
    path = archives.write_tar(tmp_path / UCSD, files or archives.ucsd_files(), extra)
    server.route(f"/pub/frames/ucsd/{UCSD}", Reply(data if data is not None else path.read_bytes()))
    return path


def _installed(cache: Path, art: str = "frames/ucsd") -> list[str]:
    folder = cache / art
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _rejected(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / ".rejected").rglob("*") if p.is_file())


# ------------------------------------------------------------------ end to end, per layout


@pytest.mark.parametrize("dataset", ["ped1", "ped2"])
def test_ucsd_end_to_end_fetch_reader_audit(env, server, capsys, thumbnails, dataset):
    _serve_ucsd(server, env)
    out = env / "audit"
    rc = main(["audit", "--dataset", dataset, "--backbone", BACKBONE, "--protocol", "standard", "--out", str(out),
               "--resamples", "100", "--permutations", "100"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "audit.json").read_text())
    audit = doc["audit"]
    assert audit["protocols"] == ["standard"] and audit["n_frames"] == 20 and audit["n_train_frames"] == 20
    assert str(env / "cache" / "frames" / "ucsd" / "tree" / f"UCSDped{dataset[-1]}" / "Test") == \
        doc["provenance"]["config"]["source"]
    # the labels flowed from UCSDpedN.m through the reader: the bright square is found
    aucs = {e["head"]: e["summary"]["roc_auc"]["mean"] for e in doc["results"]}
    assert min(aucs.values()) > 0.9, aucs
    assert server.requests(f"/pub/frames/ucsd/{UCSD}") == 1
    # a second dataset of the same archive, and the same again: no second download
    framesets.frames("ped2" if dataset == "ped1" else "ped1")
    assert server.requests() == 1


def test_avenue_end_to_end_and_readers(env, server, capsys, thumbnails):
    videos, labels = archives.avenue_archives(env)
    server.route("/pub/frames/avenue/Avenue_Dataset.zip", Reply(videos.read_bytes()))
    server.route("/pub/frames/avenue/ground_truth_demo.zip", Reply(labels.read_bytes()))
    out = env / "audit"
    rc = main(["audit", "--dataset", "avenue", "--backbone", BACKBONE, "--protocol", "standard", "--out", str(out),
               "--resamples", "100", "--permutations", "100"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "audit.json").read_text())
    assert doc["audit"]["n_frames"] == 20 and doc["audit"]["n_train_frames"] == 20
    assert min(e["summary"]["roc_auc"]["mean"] for e in doc["results"]) > 0.9
    tree = framesets.frames("avenue")
    test, train = open_source(tree.test, "avenue"), open_source(tree.train, "avenue")
    assert test.labels == ([0] * 4 + [1] * 6) * 2 and train.labels == [0] * 20
    assert sorted(p.name for p in (tree.root).iterdir()) == [".anomaly-ref-tree.json", "testing_label_mask",
                                                             "testing_videos", "training_videos"]


def test_umn_end_to_end_needs_the_users_ranges(env, server, capsys, thumbnails):
    video = archives.umn_video(env / "src")
    server.route("/pub/frames/umn/Crowd-Activity-All.avi", Reply(video.read_bytes()))
    rc = main(["fetch", "--dataset", "umn", "--only", "frames"])
    assert rc == 0
    assert capsys.readouterr().out.split() == [str(env / "cache" / "frames" / "umn" / "tree")]
    out = env / "audit"
    err = _one_error(capsys, main(["audit", "--dataset", "umn", "--backbone", BACKBONE, "--protocol", "paper",
                                   "--out", str(out)]))
    assert "no frame_ranges.csv" in err and "6602 and 1137" in err
    tree = framesets.frames("umn", offline=True)
    (tree.root / "frame_ranges.csv").write_text("clip,start,stop,label\nscene1,0,20,0\nscene1b,20,30,1\n")
    frames = open_source(tree.test, "umn")
    assert frames.labels == [0] * 20 + [1] * 10 and frames.clips[0] == "scene1"
    assert float(frames[25].image.mean()) > float(frames[5].image.mean())  # the bright square, decoded
    assert framesets.frames("umn", offline=True).root == tree.root  # the user's file does not void the tree
    err = _one_error(capsys, main(["audit", "--dataset", "umn", "--backbone", BACKBONE, "--protocol", "standard",
                                   "--out", str(out)]))
    assert "needs the normal training frames" in err


def test_fetch_only_frames_prints_the_folders_and_uses_a_mirror(env, server, capsys):
    path = archives.write_tar(env / UCSD, archives.ucsd_files())
    server.route(f"/m/frames/{UCSD}", Reply(path.read_bytes()))
    assert main(["fetch", "--dataset", "ped1", "--only", "frames", "--mirror", server.url("/m")]) == 0
    captured = capsys.readouterr()
    tree = env / "cache" / "frames" / "ucsd" / "tree"
    assert captured.out.split() == [str(tree / "UCSDped1" / "Test"), str(tree / "UCSDped1" / "Train")]
    assert "downloaded from " + server.url(f"/m/frames/{UCSD}") in captured.err
    assert "test frames: " + str(tree / "UCSDped1" / "Test") + ": 20 frames in 2 clips, 12 abnormal" in captured.err
    assert "training frames: " + str(tree / "UCSDped1" / "Train") + ": 20 frames in 2 clips, 0 abnormal" in captured.err
    assert server.requests("/pub/frames/ucsd/" + UCSD) == 0
    # offline afterwards: from the cache; the kept archive is the one first-use recorded
    assert main(["fetch", "--dataset", "ped2", "--only", "frames", "--offline"]) == 0
    record = json.loads((env / "cache" / "frames" / "ucsd" / ".tofu.json").read_text())
    assert set(record) == {UCSD}


def test_offline_with_an_empty_cache_names_what_is_missing(env, capsys):
    err = _one_error(capsys, main(["fetch", "--dataset", "avenue", "--only", "frames", "--offline"]))
    assert "offline and 2 archive(s) missing" in err and "Avenue_Dataset.zip" in err and "ground_truth_demo.zip" in err


def test_an_unreachable_host_fails_once_with_the_ways_out(env, capsys, monkeypatch):
    doc = json.loads(Path(os.environ["ANOMALY_REF_MANIFEST"]).read_text())
    for art in doc["artifacts"]:
        if art["kind"] == "frames-archive":
            art["url"] = "http://127.0.0.1:9/nothing/"
    Path(os.environ["ANOMALY_REF_MANIFEST"]).write_text(json.dumps(doc))
    err = _one_error(capsys, main(["fetch", "--dataset", "ped2", "--only", "frames", "--retries", "0"]))
    assert "ways out" in err and "--mirror" in err
    assert _installed(env / "cache") == []


def test_from_a_local_archive_an_archive_folder_or_an_unpacked_folder(env, capsys, tmp_path):
    files = archives.ucsd_files()
    path = archives.write_tar(tmp_path / "saved-as-other-name.tar.gz", files)
    t1 = framesets.frames("ped1", source=path, cache=tmp_path / "c1")
    assert t1.origin == f"copied from {path}" and (t1.test / "UCSDped1.m").is_file()
    unpacked = tmp_path / "unpacked"
    for name, data in files.items():
        (unpacked / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / name).write_bytes(data)
    t2 = framesets.frames("ped2", source=unpacked, cache=tmp_path / "c2")
    assert t2.origin.endswith("(unpacked)")
    kept = sorted(p.relative_to(t2.root).as_posix() for p in t2.root.rglob("*") if p.is_file())
    assert kept == sorted([".anomaly-ref-tree.json"] + [n.split("/", 1)[1] for n in files if framesets.get_layout("ucsd")
                                                      .target(n)])
    assert not any(".DS_Store" in k or "._" in k or "README" in k for k in kept)  # clutter skipped


def test_a_pinned_archive_that_differs_is_rejected_and_kept(env, server, capsys):
    _serve_ucsd(server, env)
    doc = json.loads(Path(os.environ["ANOMALY_REF_MANIFEST"]).read_text())
    for art in doc["artifacts"]:
        if art["id"] == "frames/ucsd":
            art["members"][0]["sha256"] = "0" * 64
    Path(os.environ["ANOMALY_REF_MANIFEST"]).write_text(json.dumps(doc))
    err = _one_error(capsys, main(["fetch", "--dataset", "ped2", "--only", "frames", "--retries", "2"]))
    assert "fails verification: sha256: expected 0000" in err and ".rejected" in err
    assert _installed(env / "cache") == [] and len(_rejected(env / "cache")) == 1  # kept for inspection
    assert server.requests() == 1  # a wrong file is not downloaded again and again


# ------------------------------------------------------------------ hostile archives


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _device(name):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


def _plain(name, size=3):
    info = tarfile.TarInfo(name)
    info.size = size
    return info


HOSTILE_TARS = {
    "symlink member": ({}, [_link("UCSD_Anomaly_Dataset.v1p2/UCSDped2/Test/Test001/001.tif", "/etc/passwd")],
                       "symbolic link"),
    "hard link": ({}, [_link("UCSD_Anomaly_Dataset.v1p2/UCSDped2/Test/x.tif", "/etc/passwd", tarfile.LNKTYPE)],
                  "hard link"),
    "../ path": ({}, [_plain("../../outside.tif")], "climbs out"),
    "absolute path": ({}, [_plain("/tmp/outside.tif")], "absolute"),
    "device": ({}, [_device("UCSD_Anomaly_Dataset.v1p2/dev-null")], "device"),
    "oversize member": ({"UCSD_Anomaly_Dataset.v1p2/UCSDped1/Test/UCSDped1.m": b"%" * (1 << 20 + 1)}, [],
                        "more than the 1048576 allowed"),
    "wrong layout": ("wrong", [], "not the ucsd layout"),
}


@pytest.mark.parametrize("case", list(HOSTILE_TARS))
def test_a_hostile_tar_installs_nothing_and_is_kept(env, server, capsys, tmp_path, case):
    more, extra, message = HOSTILE_TARS[case]
    files = {"data/readme.txt": b"hello", "data/a.tif": b"x"} if more == "wrong" else {**archives.ucsd_files(), **more}
    _serve_ucsd(server, tmp_path, files, extra)
    err = _one_error(capsys, main(["fetch", "--dataset", "ped2", "--only", "frames"]))
    assert message in err, err
    assert "nothing was installed" in err
    assert _installed(env / "cache") == []  # no archive, no tree, no first-use record
    assert [p.name.split(".tar.gz")[0] for p in _rejected(env / "cache")] == ["UCSD_Anomaly_Dataset"]
    assert not (tmp_path / "outside.tif").exists() and not Path("/tmp/outside.tif").exists()
    assert not any((env / "cache" / ".tmp").iterdir())


def test_a_truncated_gzip_is_one_error_line_and_nothing_installed(env, server, capsys, tmp_path):
    whole = archives.write_tar(tmp_path / "whole.tar.gz", archives.ucsd_files()).read_bytes()
    _serve_ucsd(server, tmp_path, data=whole[: len(whole) // 2])
    err = _one_error(capsys, main(["fetch", "--dataset", "ped1", "--only", "frames"]))
    assert "not a readable tar archive" in err and "truncated" in err
    assert _installed(env / "cache") == [] and len(_rejected(env / "cache")) == 1


def test_a_bad_cached_archive_is_moved_aside_and_its_record_forgotten(env, server, capsys, tmp_path):
    _serve_ucsd(server, tmp_path)
    tree = framesets.frames("ped2")
    archive_path = env / "cache" / "frames" / "ucsd" / UCSD
    (tree.root / ".anomaly-ref-tree.json").unlink()  # an interrupted unpack: the tree must be rebuilt
    archive_path.write_bytes(archive_path.read_bytes()[:100])  # and the kept archive is damaged
    rebuilt = framesets.frames("ped2")  # the damaged copy fails its first-use record: downloaded again
    assert (rebuilt.test / "UCSDped2.m").is_file() and server.requests() == 2
    assert len(_rejected(env / "cache")) == 1


@pytest.mark.parametrize("case", ["symlink", "../ path", "truncated"])
def test_a_hostile_zip_installs_nothing(env, server, capsys, tmp_path, case):
    import zipfile

    videos, labels = archives.avenue_archives(tmp_path, n=6)
    data = labels.read_bytes()
    if case == "truncated":
        data = data[: len(data) - 40]
    else:
        bad = tmp_path / "bad.zip"
        with zipfile.ZipFile(labels) as src, zipfile.ZipFile(bad, "w") as dst:
            for info in src.infolist():
                dst.writestr(info, src.read(info))
            if case == "symlink":
                link = zipfile.ZipInfo("ground_truth_demo/testing_label_mask/9_label.mat")
                link.external_attr = (0o120777 << 16)
                dst.writestr(link, "/etc/passwd")
            else:
                dst.writestr("../../evil.mat", b"x")
        data = bad.read_bytes()
    server.route("/pub/frames/avenue/Avenue_Dataset.zip", Reply(videos.read_bytes()))
    server.route("/pub/frames/avenue/ground_truth_demo.zip", Reply(data))
    err = _one_error(capsys, main(["fetch", "--dataset", "avenue", "--only", "frames"]))
    assert {"symlink": "symbolic link", "../ path": "climbs out", "truncated": "not a readable zip"}[case] in err
    # no tree; the culprit in .rejected/; its verified sibling kept, so it is not downloaded again
    assert _installed(env / "cache", "frames/avenue") == [".tofu.json", "Avenue_Dataset.zip"]
    assert [p.name.split(".zip")[0] for p in _rejected(env / "cache")] == ["ground_truth_demo"]


def test_an_unpacked_folder_with_a_symlink_is_refused(env, tmp_path):
    folder = tmp_path / "unpacked" / "UCSDped2" / "Test"
    folder.mkdir(parents=True)
    (folder / "UCSDped2.m").symlink_to("/etc/passwd")
    with pytest.raises(FetchError, match="symbolic link"):
        framesets.frames("ped2", source=tmp_path / "unpacked")


# ------------------------------------------------------------------ readers


def test_avenue_labels_from_mat_files_match_the_official_labels(shared, tmp_path):
    """Synthetic N_label.mat files of the official structure (volLabel: 1 x n cell of masks),
    one per test video with the official per-frame labels: the reader's labels equal
    shared/data/avenue/avenue_test_labels.npz frame for frame."""
    ref = np.load(shared / "data" / "avenue" / "avenue_test_labels.npz")
    root = tmp_path / "avenue"
    (root / "testing_videos").mkdir(parents=True)
    masks = root / "ground_truth_demo" / "testing_label_mask"
    masks.mkdir(parents=True)
    for v in np.unique(ref["video"]):
        rows = ref["video"] == v
        (root / "testing_videos" / f"{int(v):02d}.avi").write_bytes(b"")  # listed, never decoded here
        (masks / f"{int(v)}_label.mat").write_bytes(archives.avenue_label_mat(ref["label"][rows], shape=(3, 4)))
    frames = open_source(root, "avenue")
    assert len(frames) == len(ref["label"]) == 15324
    assert np.array_equal(np.asarray(frames.labels), ref["label"])
    assert np.array_equal(np.asarray(frames.clips), ref["video"]) and np.array_equal(frames.indices, ref["frame"])


@pytest.mark.parametrize("text, message", [
    ("clip,begin,end,label\na,0,5,0\n", "expected the columns clip,start,stop,label"),
    ("clip,start,stop,label\na,0,50,0\n", "start < stop <= 30"),
    ("clip,start,stop,label\na,0,10,0\nb,5,12,1\n", "overlap an earlier range"),
    ("clip,start,stop,label\na,0,x,0\n", "must be integers"),
    ("clip,start,stop,label\na,0,5,2\n", "label 0 or 1"),
])
def test_bad_umn_ranges_name_the_file_and_line(tmp_path, text, message):
    from anomaly_ref.errors import InputError

    archives.umn_video(tmp_path)
    (tmp_path / "frame_ranges.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        open_source(tmp_path, "umn")


# ------------------------------------------------------------------ studies by dataset name


def test_gradcam_scores_on_the_archives_ucsd_masks(env, server, capsys):
    _serve_ucsd(server, env)
    out = env / "gradcam"
    rc = main(["gradcam", "--dataset", "ped2", "--backbone", BACKBONE, "--frames", "2", "--sheet", "1", "--score",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "gradcam.json").read_text())
    tree = env / "cache" / "frames" / "ucsd" / "tree" / "UCSDped2" / "Test"
    assert doc["provenance"]["config"]["source"] == str(tree) == doc["provenance"]["config"]["masks"]
    assert all(0 <= row["pixel_auc"] <= 1 for row in doc["summary"].values())


def test_ucsd_masks_follow_the_frames_and_a_damaged_tree_is_unpacked_again(env, server):
    import shutil

    from anomaly_ref.frames.masks import open_ucsd_masks

    _serve_ucsd(server, env)
    tree = framesets.frames("ped1")
    frames = open_source(tree.test, "ped1")
    masks = open_ucsd_masks(tree.test, frames)
    assert [masks.area(i) > 0 for i in range(len(frames))] == [bool(v) for v in frames.labels]
    shutil.rmtree(tree.test / "Test002_gt")  # files of the layout gone from the tree: rebuilt from the kept archive
    again = framesets.frames("ped1")
    assert (again.test / "Test002_gt" / "001.bmp").is_file() and server.requests() == 1


def test_a_clip_without_pixel_masks_is_one_line(env, server, capsys):
    files = {k: v for k, v in archives.ucsd_files().items() if "UCSDped1/Test/Test002_gt" not in k}
    _serve_ucsd(server, env, files)  # as UCSD Ped1 publishes masks for some clips only
    err = _one_error(capsys, main(["gradcam", "--dataset", "ped1", "--backbone", BACKBONE, "--score",
                                   "--out", str(env / "g")]))
    assert "no pixel masks for test clips [2]" in err and "TestNNN_gt/ exists for [1]" in err


def test_extract_paper_construction_from_the_archive_takes_its_training_clips(env, server, capsys, monkeypatch):
    import dataclasses

    from anomaly_ref import registry

    _serve_ucsd(server, env)
    rc = main(["extract", "--construction", "paper", "--dataset", "ped1", "--backbone", BACKBONE, "--plan",
               "--out", str(env / "features")])
    err = _one_error(capsys, rc)  # Ped1's 34 Train clips of 200 frames are checked: the archive's two are not
    assert "UCSDped1/Train: expected 34 training clips" in err
    monkeypatch.setitem(registry.DATASETS, "ped1",
                        dataclasses.replace(registry.DATASETS["ped1"], train_clip_lengths=(10, 10)))
    rc = main(["extract", "--construction", "paper", "--dataset", "ped1", "--backbone", BACKBONE, "--plan",
               "--out", str(env / "features")])
    assert rc == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    # 20 Train frames + the 8 normal test frames are normal rows; 12 abnormal originals, copies to balance
    assert "28 normal rows, 28 anomaly rows (12 originals" in out, out


def test_manifest_pin_records_a_fetched_archive_then_holds_it_to_the_pin(env, server, capsys):
    import hashlib

    path = _serve_ucsd(server, env)
    framesets.frames("ped2")
    assert main(["manifest", "pin", "--dataset", "ped2"]) == 0  # $ANOMALY_REF_MANIFEST: the test's copy
    doc = json.loads(Path(os.environ["ANOMALY_REF_MANIFEST"]).read_text())
    (member,) = next(a for a in doc["artifacts"] if a["id"] == "frames/ucsd")["members"]
    assert member == {"name": UCSD, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                      "size": path.stat().st_size}
    assert main(["manifest", "verify", "--dataset", "ped1"]) == 0
    assert f"ok        frames/ucsd/{UCSD}" in capsys.readouterr().out


def test_a_full_disk_while_unpacking_rejects_nothing_and_keeps_the_download(env, server, capsys, monkeypatch):
    import errno

    from anomaly_ref.data import archive

    _serve_ucsd(server, env)

    def full(path, mode="r", *args, **kwargs):
        if mode == "xb" and "tree" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(archive, "open", full, raising=False)
    err = _one_error(capsys, main(["fetch", "--dataset", "ped2", "--only", "frames"]))
    assert "cannot write" in err and "No space left on device" in err and "Free space" in err
    assert _installed(env / "cache") == [".tofu.json", UCSD] and _rejected(env / "cache") == []
    monkeypatch.undo()
    monkeypatch.setenv("ANOMALY_REF_CACHE", str(env / "cache"))
    monkeypatch.setenv("ANOMALY_REF_MANIFEST", str(env / "manifest.json"))
    assert main(["fetch", "--dataset", "ped2", "--only", "frames", "--offline"]) == 0  # unpacked, no download
    assert server.requests() == 1


def test_a_file_changed_in_the_tree_is_caught_by_its_size(env, server):
    _serve_ucsd(server, env)
    tree = framesets.frames("ped2")
    frame = tree.test / "Test001" / "001.tif"
    original = frame.read_bytes()
    frame.write_bytes(original[:-10])
    assert framesets.frames("ped2").test == tree.test and frame.read_bytes() == original  # unpacked again



# ------------------------------------------------------------------ what a review found


def _serve_avenue(server, folder, videos_extra=None, labels_files=None):
    videos, labels = archives.avenue_archives(folder)
    if labels_files is not None:
        labels = archives.write_zip(folder / "ground_truth_demo.zip", labels_files)
    server.route("/pub/frames/avenue/Avenue_Dataset.zip", Reply(videos.read_bytes()))
    server.route("/pub/frames/avenue/ground_truth_demo.zip", Reply(labels.read_bytes()))
    return videos, labels


def test_each_kind_of_file_comes_only_from_its_own_archive(env, server, tmp_path):
    import zipfile

    videos, labels = archives.avenue_archives(tmp_path)
    with zipfile.ZipFile(labels) as zf:
        files = {i.filename: zf.read(i) for i in zf.infolist()}
    files["ground_truth_demo/testing_videos/01.avi"] = b"RIFF\0\0\0\0AVI not the real video"
    _serve_avenue(server, env / "src", labels_files=files)
    tree = framesets.frames("avenue")
    with zipfile.ZipFile(videos) as zf:
        assert (tree.root / "testing_videos" / "01.avi").read_bytes() == zf.read("Avenue Dataset/testing_videos/01.avi")


def test_a_missing_kind_of_file_blames_only_the_archive_that_owes_it(env, server, capsys):
    _serve_avenue(server, env / "src", labels_files={"ground_truth_demo/readme.txt": b"no masks here"})
    err = _one_error(capsys, main(["fetch", "--dataset", "avenue", "--only", "frames"]))
    assert "testing_label_mask" in err and "(from ground_truth_demo.zip)" in err
    assert _installed(env / "cache", "frames/avenue") == [".tofu.json", "Avenue_Dataset.zip"]  # the innocent one
    assert [p.name.split(".zip")[0] for p in _rejected(env / "cache")] == ["ground_truth_demo"]


def test_something_that_is_not_a_video_is_not_installed_as_umns(env, server, capsys):
    server.route("/pub/frames/umn/Crowd-Activity-All.avi", Reply(b"<html>Service moved</html>"))
    err = _one_error(capsys, main(["fetch", "--dataset", "umn", "--only", "frames"]))
    assert "does not hold b'RIFF' at byte 0" in err
    assert _installed(env / "cache", "frames/umn") == [] and len(_rejected(env / "cache")) == 1


def test_your_frame_ranges_survive_a_rebuild_of_the_tree(env, server):
    video = archives.umn_video(env / "src")
    server.route("/pub/frames/umn/Crowd-Activity-All.avi", Reply(video.read_bytes()))
    tree = framesets.frames("umn")
    ranges = tree.root / "frame_ranges.csv"
    ranges.write_text("clip,start,stop,label\na,0,30,0\n")
    (tree.root / ".anomaly-ref-tree.json").unlink()  # an interrupted rebuild: the tree is unpacked again
    assert framesets.frames("umn").root == tree.root and ranges.read_text().endswith("a,0,30,0\n")


def test_a_lost_first_use_record_is_made_again(env, server):
    _serve_ucsd(server, env)
    framesets.frames("ped2")
    record = env / "cache" / "frames" / "ucsd" / ".tofu.json"
    first = json.loads(record.read_text())
    record.unlink()
    (env / "cache" / "frames" / "ucsd" / "tree" / ".anomaly-ref-tree.json").unlink()
    framesets.frames("ped2")
    assert json.loads(record.read_text())[UCSD]["sha256"] == first[UCSD]["sha256"] and server.requests() == 1


def test_require_pinned_refuses_an_unpinned_archive_even_when_its_tree_is_cached(env, server, capsys):
    _serve_ucsd(server, env)
    framesets.frames("ped2")
    err = _one_error(capsys, main(["fetch", "--dataset", "ped2", "--only", "frames", "--require-pinned"]))
    assert "not pinned" in err and "manifest pin" in err


def test_archives_from_a_folder_and_from_anomaly_ref_from(env, capsys, monkeypatch, tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    archives.avenue_archives(folder)
    assert main(["fetch", "--dataset", "avenue", "--only", "frames", "--from", str(folder)]) == 0
    assert f"copied from {folder}" in capsys.readouterr().err
    archives.write_tar(folder / UCSD, archives.ucsd_files())
    monkeypatch.setenv("ANOMALY_REF_FROM", str(folder))
    tree = framesets.frames("ped1", offline=True)
    assert tree.origin == f"copied from {folder}"


def test_the_dataset_total_is_capped_while_streaming(env, server, capsys, monkeypatch):
    from anomaly_ref.data import archive

    _serve_ucsd(server, env)
    monkeypatch.setattr(archive, "MAX_TREE_BYTES", 20_000)
    err = _one_error(capsys, main(["fetch", "--dataset", "ped2", "--only", "frames"]))
    assert "past the 20000 bytes allowed in all" in err
    assert _installed(env / "cache") == [] and len(_rejected(env / "cache")) == 1


def test_standard_without_source_takes_the_archive_and_says_when_training_video_is_missing(env, server, capsys):
    video = archives.umn_video(env / "src")
    server.route("/pub/frames/umn/Crowd-Activity-All.avi", Reply(video.read_bytes()))
    err = _one_error(capsys, main(["standard", "--dataset", "umn", "--backbone", BACKBONE, "--out", str(env / "s")]))
    assert "give --train-source (umn has none in its official archive)" in err
    assert (env / "cache" / "frames" / "umn" / "tree" / "Crowd-Activity-All.avi").is_file()  # fetched first
