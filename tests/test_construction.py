"""The authors' constructions (PROTOCOL §1): row plans, counts from label files, the real
Ped2 construction, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anomaly_ref.cli import main
from anomaly_ref.data.featurefiles import read_pair_sidecars
from anomaly_ref.errors import InputError
from anomaly_ref.frames import augment
from anomaly_ref.frames.construction import Meta, meta_from_labels, notebook_labels, plan, predict_counts
from anomaly_ref.registry import CONSTRUCTIONS, DATASETS, BACKBONES, Construction, get_construction

PACKAGED = next(b for b in BACKBONES.values() if b.weights_package)


def meta(n_train, test_labels, clip="Test001"):
    test_labels = list(test_labels)
    n = len(test_labels)
    return Meta(np.array(["Train001"] * n_train + [clip] * n), np.r_[np.arange(n_train), np.arange(n)],
                np.r_[np.zeros(n_train, np.int64), test_labels], np.r_[np.ones(n_train, bool), np.zeros(n, bool)])


def test_every_dataset_has_a_construction_of_known_copies():
    assert set(CONSTRUCTIONS) == set(DATASETS)
    for c in CONSTRUCTIONS.values():
        for name in c.copies:
            augment.check_name(name)
    with pytest.raises(Exception, match="valid: avenue, ped1, ped2, umn"):
        get_construction("ped3")


def test_fill_keeps_originals_first_and_stops_at_balance():
    # 10 normal (6 train + 4 test) vs 3 abnormal -> 7 copies: frames 1 and 2 give 3 each, frame 3 one.
    m = meta(6, [0, 1, 1, 0, 0, 1, 0])
    p = plan("ped2", m)
    assert p.counts() == {"normal": 10, "anomaly": 10, "originals": 3, "copies": {"flip": 3, "rot90": 2, "rot180": 2}}
    ab = np.flatnonzero(p.label == 1)
    assert list(p.augmentation[i] for i in ab) == ["original"] * 3 + ["flip", "rot90", "rot180"] * 2 + ["flip"]
    assert p.index[ab].tolist() == [1, 2, 5, 1, 1, 1, 2, 2, 2, 5]
    assert (p.label[:10] == 0).all() and p.clips[:6].tolist() == ["Train001"] * 6  # train first


def test_ratio_uses_only_copies_and_seeded_draws_are_recorded():
    c = get_construction("umn")
    m = Meta(np.array(["normal"] * 11 + ["abnormal"] * 2), np.r_[np.arange(11), np.arange(2)],
             np.r_[np.zeros(11, np.int64), np.ones(2, np.int64)], np.zeros(13, bool))
    p = plan(c, m, seed=5, shape=(24, 32))
    assert p.counts() == {"normal": 11, "anomaly": 10, "originals": 0, "copies": {"scale_rotate": 10}}
    again, other = plan(c, m, seed=5, shape=(24, 32)), plan(c, m, seed=6, shape=(24, 32))
    assert again.params == p.params and other.params != p.params
    rng = np.random.RandomState(5)
    assert p.params[11] == {"scale": rng.uniform(0.8, 1.2), "angle": rng.uniform(-30, 30)}
    assert json.loads(p.params_text()[11]) == p.params[11] and p.params_text()[0] == ""


def test_notebook_labels_shift_official_by_one_and_match_ped1_ranges():
    # official 3:5 (1-based) in a 6-frame clip -> notebook range(2, 5): files 2, 3, 4
    m = meta(0, [0, 0, 1, 1, 1, 0])
    ped2 = get_construction("ped2")
    assert notebook_labels(m, ped2).tolist() == [0, 1, 1, 1, 0, 0]
    m = meta(0, [0, 0, 0, 0, 1, 1])  # official 5:6, the clip's end: notebook loses the last frame
    assert notebook_labels(m, ped2).tolist() == [0, 0, 0, 1, 1, 0]


def test_plan_needs_training_clips_and_known_labels():
    with pytest.raises(InputError, match="needs? .*training|no training clips"):
        plan("ped2", meta(0, [0, 1, 0]))
    with pytest.raises(InputError, match="unknown labels 'mine'; valid: official, notebook"):
        plan("ped2", meta(2, [0, 1]), labels="mine")
    with pytest.raises(InputError, match="avenue: --labels notebook applies .* \\(UCSD\\)"):
        plan("avenue", meta(0, [0, 1]), labels="notebook")


# -------------------------------------------------------------- label files only


def test_row_counts_from_label_files(shared):
    """The authors' file shapes, predicted without frames; Avenue and UMN as published."""
    avenue = predict_counts("avenue", shared)
    assert (avenue["normal"], avenue["anomaly"], avenue["originals"]) == (11612, 11612, 3712)
    assert avenue["copies"] == {k: 988 if i < 4 else 987 for i, k in enumerate(get_construction("avenue").copies)}
    assert predict_counts("umn", shared) == {"normal": 6602, "anomaly": 5685, "originals": 0,
                                             "copies": {"scale_rotate": 5685}}
    for key in ("avenue", "umn"):  # the registry's (and so the manifest's) known rows
        got = predict_counts(key, shared)
        assert (got["normal"], got["anomaly"]) == (DATASETS[key].n_normal, DATASETS[key].n_anomaly)
    ped1 = predict_counts("ped1", shared)
    assert ped1 == {"normal": 6800 + 3155, "anomaly": 9955, "originals": 4045,
                    "copies": {"flip": 1970, "rot90": 1970, "rot180": 1970}}
    ped1_nb = predict_counts("ped1", shared, "notebook")
    assert (ped1_nb["normal"], ped1_nb["originals"]) == (6800 + 3171, 4029)  # PROTOCOL §1: 4029 abnormal
    ped2 = predict_counts("ped2", shared)
    assert ped2 == {"normal": 2550 + 362, "anomaly": 2912, "originals": 1648,
                    "copies": {"flip": 422, "rot90": 421, "rot180": 421}}


def test_ped1_notebook_ranges_against_the_official_ones_shifted(shared):
    """PROTOCOL §1 calls the Ped1 notebook's ranges the official ones shifted down by one.
    That holds for 32 of 36 clips; in Test012, 022, 023 and 026 the notebook starts where the
    official range starts, so its table gives 4029 abnormal frames, the bare shift 4033."""
    m = meta_from_labels("ped1", shared)
    test = ~m.train
    shifted = notebook_labels(m, Construction("ped1", True, (), "fill"))  # no ranges: the shift rule
    table = notebook_labels(m, get_construction("ped1"))
    differ = table != shifted
    assert sorted(set(m.clips[differ])) == ["Test012", "Test022", "Test023", "Test026"]
    assert (m.index[differ] + 1).tolist() == [129, 15, 7, 76]  # one frame each: the official start - 1
    assert int(table[test].sum()) == 4029 and int((table[test] != m.label[test]).sum()) == 64
    assert int(shifted[test].sum()) == 4033


# ------------------------------------------------------------- the real Ped2 set


def test_ped2_paper_construction_from_real_frames(shared, tmp_path):
    from anomaly_ref.data.featurefiles import write_sidecars
    from anomaly_ref.frames.construction import open_for

    d = shared / "data" / "ucsd_ped2"
    frames = open_for("ped2", d / "ucsd_ped2_test.npz", d / "ucsd_ped2_train.npz")
    p = frames.plan
    name = PACKAGED.name
    write_sidecars(tmp_path, name, frames.clips, frames.indices, frames.labels,
                   extra={"augmentation": list(p.augmentation), "params": p.params_text()})
    table = read_pair_sidecars(tmp_path / f"normal_features_{name}.npy", tmp_path / f"anomaly_features_{name}.npy")
    assert tuple(table["sizes"]) == (2912, 2912)
    aug, clip, label = table["augmentation"], table["clip"].astype(str), table["label"]
    assert (clip[:2550] == np.repeat([f"Train{k:03d}" for k in range(1, 17)],
                                     DATASETS["ped2"].train_clip_lengths)).all()
    assert set(aug[label == 0]) == {"original"} and int((label[2550:2912] == 0).sum()) == 362
    ab = aug[label == 1]
    assert (ab[:1648] == "original").all() and (ab[1648:] != "original").all()  # originals first
    assert ab[1648:1654].tolist() == ["flip", "rot90", "rot180"] * 2  # the notebook's order per frame
    assert {k: int((ab == k).sum()) for k in ("flip", "rot90", "rot180")} == {"flip": 422, "rot90": 421, "rot180": 421}
    # every row names its source frame; copies are copies of abnormal test frames, walked in order
    assert all(c.startswith(("Train", "Test")) for c in clip) and (table["index"] >= 0).all()
    copies = list(zip(clip[label == 1][1648:], table["index"][label == 1][1648:]))
    originals = list(zip(clip[label == 1][:1648], table["index"][label == 1][:1648]))
    assert list(dict.fromkeys(copies)) == originals[:422]
    # pixels: a copy is the named OpenCV operation on its source frame
    for kind, fn in (("rot90", augment.rot90_cw), ("flip", augment.flip_h)):
        i = int(np.flatnonzero(np.asarray(p.augmentation) == kind)[0])
        src = frames.source[int(p.source[i])]
        assert (f"Test{src.clip[4:]}", src.index) == (frames.clips[i], frames.indices[i])
        np.testing.assert_array_equal(frames[i].image, fn(src.image))


def test_extract_plan_prints_counts_and_writes_only_sidecars(tmp_path, capsys):
    lengths = DATASETS["ped2"].train_clip_lengths
    train = _npz(tmp_path / "train.npz", list(range(1, 17)), lengths)
    test = _npz(tmp_path / "test.npz", [1, 2, 3, 4], [300] * 4)
    with np.load(test) as z:
        items = dict(z)
    items["label"][items["frame"] >= 10] = 1  # official range 11:300 in each clip
    np.savez(test, **items)
    argv = ["extract", "--source", str(test), "--train-source", str(train), "--dataset", "ped2",
            "--backbone", PACKAGED.name, "--construction", "paper", "--labels", "notebook", "--plan",
            "--out", str(tmp_path / "plan")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # notebook labels: the range shifted down by one, 10:299 -> 290 abnormal and 10 normal frames per
    # clip; normal rows 2550 + 40, copies 2590 - 1160 = 1430 = 476 x 3 + 2
    assert "2590 normal rows, 2590 anomaly rows (1160 originals; copies: flip 477, rot90 477, rot180 476)" in out
    assert "assumption: " in out
    assert sorted(f.name for f in (tmp_path / "plan").iterdir()) == [
        f"anomaly_features_{PACKAGED.name}.frames.csv", f"normal_features_{PACKAGED.name}.frames.csv"]


# ---------------------------------------------------------------------- bad input


def _one_error(capsys, pattern):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert __import__("re").search(pattern, lines[0]), lines[0]


def _npz(path, clips, lengths, label=0):
    video = np.repeat(clips, lengths).astype(np.int16)
    frame = np.concatenate([np.arange(n) for n in lengths]).astype(np.int16)
    np.savez(path, frames=np.zeros((len(video), 8, 12), np.uint8), video=video, frame=frame,
             label=np.full(len(video), label, np.uint8))
    return path


def test_paper_ucsd_without_or_with_wrong_training_clips(tmp_path, capsys):
    test = _npz(tmp_path / "test.npz", [1], [12])
    base = ["extract", "--source", str(test), "--dataset", "ped2", "--backbone", PACKAGED.name,
            "--construction", "paper", "--random-weights", "--out", str(tmp_path / "out")]
    assert main(base) == 2
    _one_error(capsys, r"ped2: the paper construction needs the training clips \(--train-source\)")
    train = _npz(tmp_path / "train.npz", [1, 2], [5, 5])
    assert main(base + ["--train-source", str(train)]) == 2
    _one_error(capsys, r"train\.npz: expected 16 training clips of .* found 2 clips of \[5, 5\]")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_paper_construction_bad_folder_and_unreadable_frame(tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    base = ["extract", "--dataset", "umn", "--backbone", PACKAGED.name, "--construction", "paper",
            "--random-weights", "--out", str(tmp_path / "out")]
    (tmp_path / "flat").mkdir()
    cv2.imwrite(str(tmp_path / "flat" / "0.png"), np.zeros((8, 8, 3), np.uint8))
    assert main(base + ["--source", str(tmp_path / "flat")]) == 2
    _one_error(capsys, r"flat: unknown layout")
    src = tmp_path / "umn"
    for name, n in (("normal", 4), ("abnormal", 2)):
        (src / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(src / name / f"{i}.png"), np.full((16, 24, 3), 40 * i, np.uint8))
    (src / "abnormal" / "1.png").write_bytes(b"not a png")
    assert main(base + ["--source", str(src)]) == 2
    _one_error(capsys, r"cannot read image .*abnormal/1\.png")
    assert not list((tmp_path / "out").glob("*features*"))  # nothing under the paper's names


def test_manifest_records_the_predicted_rows_and_refuses_other_lengths(shared, tmp_path):
    """Where the construction's prediction is a published shape (Avenue, UMN), the manifest
    pins it, so a downloaded file of another length is refused. Ped1/Ped2 stay unpinned:
    their predictions rest on an assumed construction (PROTOCOL §1) and no shape is published."""
    from anomaly_ref.data import manifest
    from anomaly_ref.data.integrity import array_problem

    m = manifest.load(manifest.default_path())
    rows = {(art.dataset, mem.cls): mem.rows for art, mem in manifest.iter_members(m) if mem.is_feature}
    for key in ("avenue", "umn"):
        got = predict_counts(key, shared)
        assert rows[(key, "normal")] == got["normal"] and rows[(key, "anomaly")] == got["anomaly"]
    assert rows[("ped1", "normal")] is None and rows[("ped2", "anomaly")] is None
    member = next(mem for art, mem in manifest.iter_members(m) if art.dataset == "avenue" and mem.cls == "anomaly")
    short = tmp_path / member.name
    np.save(short, np.zeros((11611, member.dim), np.float32))
    assert array_problem(short, member) == f"rows: expected 11612, found 11611 (shape (11611, {member.dim}))"


def test_umn_paper_extraction_writes_copies_with_their_draws(tmp_path, capsys):
    """UMN's recipe end to end on tiny folders: only copies are anomaly rows, each the
    recorded random scale/rotation of its source frame; the files and sidecars agree."""
    cv2 = pytest.importorskip("cv2")
    from anomaly_ref.data.featurefiles import read_sidecar
    from anomaly_ref.frames.construction import open_for

    src = tmp_path / "umn"
    rng = np.random.default_rng(1)
    for name, n in (("normal", 7), ("abnormal", 3)):
        (src / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(src / name / f"{i}.png"), rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    frames = open_for("umn", src, seed=3)
    assert frames.plan.counts() == {"normal": 7, "anomaly": 6, "originals": 0, "copies": {"scale_rotate": 6}}
    i = 7 + 2  # the first copy of abnormal/1.png (two copies per frame: int(7 / 3))
    source = frames.source[int(frames.plan.source[i])]
    assert (source.clip, source.index) == ("abnormal", 1)
    np.testing.assert_array_equal(frames[i].image, augment.scale_rotate(source.image, **frames.plan.params[i]))
    out = tmp_path / "out"
    argv = ["extract", "--source", str(src), "--dataset", "umn", "--backbone", PACKAGED.name, "--random-weights",
            "--construction", "paper", "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    name = PACKAGED.name
    assert np.load(out / f"anomaly_features_{name}.npy").shape == (6, PACKAGED.feature_dim)
    side = read_sidecar(out / f"anomaly_features_{name}.frames.csv")
    assert side["augmentation"].tolist() == ["scale_rotate"] * 6
    assert [json.loads(p) for p in side["params"]] == list(frames.plan.params[7:])
    record = json.loads((out / f"features_{name}.json").read_text())
    assert record["seeds"] == {"augmentation": 3} and record["config"]["counts"]["anomaly"] == 6


def test_ucsd_train_folder_joins_the_test_clips(tmp_path):
    """The official layout: Train/TrainNNN/NNN.tif (all normal) beside Test/ (UCSDped2.m)."""
    cv2 = pytest.importorskip("cv2")
    from anomaly_ref.frames.sources import JoinedFrames, open_source

    for clip, n in ((1, 3), (2, 2)):
        folder = tmp_path / "Train" / f"Train{clip:03d}"
        folder.mkdir(parents=True)
        for k in range(1, n + 1):
            cv2.imwrite(str(folder / f"{k:03d}.tif"), np.full((6, 8), 10 * clip + k, np.uint8))
    (tmp_path / "Test" / "Test001").mkdir(parents=True)
    for k in range(1, 5):
        cv2.imwrite(str(tmp_path / "Test" / "Test001" / f"{k:03d}.tif"), np.full((6, 8), 100 + k, np.uint8))
    (tmp_path / "Test" / "UCSDped2.m").write_text("TestVideoFile{end+1}.gt_frame = [3:4];\n")
    train, test = open_source(tmp_path / "Train", "ped2"), open_source(tmp_path / "Test", "ped2")
    assert (train.clips, train.indices, train.labels) == ([1, 1, 1, 2, 2], [0, 1, 2, 0, 1], [0] * 5)
    joined = JoinedFrames(train, test)
    assert joined.clips == ["Train001"] * 3 + ["Train002"] * 2 + ["Test001"] * 4
    assert joined.labels == [0] * 7 + [1, 1] and joined.train.tolist() == [True] * 5 + [False] * 4
    assert joined[3].image[0, 0, 0] == 21 and joined[8].image[0, 0, 0] == 104
    with pytest.raises(InputError, match="no TrainNNN clip folders"):
        from anomaly_ref.frames.sources import open_ucsd_train
        open_ucsd_train(tmp_path / "Test", "ped2")


def test_extract_after_plan_replaces_the_plan_sidecars(tmp_path, capsys):
    # README: "drop --plan to extract" — the plan's sidecars must not block the extraction,
    # while a finished extraction is still protected.
    lengths = DATASETS["ped2"].train_clip_lengths
    train = _npz(tmp_path / "train.npz", list(range(1, 17)), lengths)
    test = _npz(tmp_path / "test.npz", [1], [700], label=1)  # 700 abnormal x 3 copies can balance 2550
    base = ["extract", "--source", str(test), "--train-source", str(train), "--dataset", "ped2",
            "--backbone", PACKAGED.name, "--construction", "paper", "--random-weights", "--limit", "3",
            "--out", str(tmp_path / "out")]
    assert main(base + ["--plan"]) == 0
    assert main(base) == 0
    names = sorted(f.name for f in (tmp_path / "out").iterdir())
    assert f"normal_features_{PACKAGED.name}.npy" in names and f"features_{PACKAGED.name}.json" in names
    capsys.readouterr()
    assert main(base) == 2  # the extraction's own files are not replaced without --force
    _one_error(capsys, r"refusing to overwrite .*normal_features_")
