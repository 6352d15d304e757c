"""The small studies whose result files must not change when code moves (issue 20).

``python tests/golden/make_golden.py OUT`` runs ``reproduce --out``, ``audit`` and
``gradcam`` through the CLI on tiny synthetic inputs and writes their result files,
normalised (:func:`normalise`), to ``OUT/{reproduce,audit,gradcam}.json``.
``tests/test_golden_studies.py`` runs the same calls with today's code and compares, so a
refactor that changes any figure or key fails there. A change that means to change a result
file regenerates them here, in the commit that makes the change, and says so below:

- 122b8ce (before the ``studies/`` stage, issue 20): all three written.
- issue 21 (the audit a skeptical reviewer accepts): ``audit.json`` (strict-test-only and
  strict with training clips, independent partitions, statistics, comparisons) and
  ``reproduce.json`` (``partition_seed`` in the config) rewritten; ``gradcam.json`` unchanged.
- issue 21, later: ``stats_seconds`` (a wall time) is volatile; dropped from ``audit.json`` by
  hand, nothing else in it changed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

BACKBONE = "tf_efficientnet_lite0"
VOLATILE = {"provenance", "wall_seconds", "seconds", "stats_seconds", "throughput", "from_cache"}  # differ run to run, by design


def features_folder(folder: Path, seed: int, n_clips: int = 6, n: int = 30, d: int = 6) -> Path:
    """normal_/anomaly_features files of synthetic clips (normal first, abnormal after a cut), with sidecars."""
    from anomaly_ref.data.featurefiles import write_paper_files

    rng = np.random.default_rng(seed)
    labels, clips, index = [], [], []
    for c in range(1, n_clips + 1):
        cut = int(rng.integers(8, n - 8))
        labels += [0] * cut + [1] * (n - cut)
        clips += [c] * n
        index += list(range(n))
    labels = np.array(labels)
    X = (rng.normal(size=(len(labels), d)) + 0.7 * labels[:, None]).astype(np.float32)
    write_paper_files(folder, BACKBONE, X, clips, index, labels)
    return folder


def frames_npz(path: Path, seed: int, n_clips: int, n: int, abnormal: bool = True) -> Path:
    """Clips of ``n`` gray 32x48 noise frames; from a cut on (``abnormal``) a bright square
    moves through them. Writes ``path`` and, with ``abnormal``, its pixel masks beside it."""
    rng = np.random.default_rng(seed)
    frames, video, frame, label, masks = [], [], [], [], []
    for clip in range(1, n_clips + 1):
        cut = int(rng.integers(n // 2, n - n // 4)) if abnormal else n
        for i in range(n):
            img = rng.integers(0, 60, (32, 48)).astype(np.uint8)
            m = np.zeros((32, 48), bool)
            if i >= cut:
                m[8 + clip % 4:18 + clip % 4, 2 + i % 20:12 + i % 20] = True
                img[m] = 220
            frames.append(img)
            masks.append(m)
            video.append(clip)
            frame.append(i)
            label.append(int(i >= cut))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, frames=np.stack(frames), video=np.array(video), frame=np.array(frame),
             label=np.array(label, np.uint8))
    if abnormal:
        np.savez(path.with_name(path.stem + "_masks.npz"), masks=np.packbits(np.stack(masks), axis=-1),
                 video=np.array(video), frame=np.array(frame), shape=np.array([32, 48]))
    return path


def normalise(doc, root: Path):
    """Drop what differs between runs by design (provenance, wall times, throughput), replace
    the work folder in paths by ``<root>`` and sha256 digests by ``<sha256>``; floats rounded
    to 9 decimals."""
    if isinstance(doc, dict):
        return {k: normalise(v, root) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [normalise(v, root) for v in doc]
    if isinstance(doc, str):  # input files are written anew each run: their hashes differ (zip times)
        return re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", doc.replace(str(root), "<root>"))
    if isinstance(doc, float):
        return round(doc, 9)
    return doc


def run_all(work: Path) -> dict[str, dict]:
    """The three studies on tiny inputs under ``work``: ``{name: normalised result document}``."""
    import torch

    from anomaly_ref.cli import main

    torch.set_num_threads(1)  # the trainers' arithmetic is then the same on every machine's thread count
    features = features_folder(work / "features", seed=0)
    test = frames_npz(work / "frames" / "test.npz", seed=1, n_clips=6, n=24)
    train = frames_npz(work / "frames" / "train.npz", seed=2, n_clips=3, n=8, abnormal=False)
    n, a = (str(features / f"{k}_features_{BACKBONE}.npy") for k in ("normal", "anomaly"))
    calls = {
        "reproduce": (["reproduce", "--normal", n, "--anomaly", a, "--head", "LSTM", "--head", "last-frame",
                       "--runs", "2", "--max-epochs", "3", "--out", str(work / "reproduce.json")],
                      work / "reproduce.json"),
        "audit": (["audit", "--source", str(test), "--train-source", str(train), "--dataset", "ped2",
                   "--backbone", BACKBONE, "--head", "GRU", "--head", "last-frame", "--runs", "2",
                   "--max-epochs", "3", "--folds", "3", "--cache", str(work / "cache"), "--out", str(work / "audit")],
                  work / "audit" / "audit.json"),
        "gradcam": (["gradcam", "--source", str(test), "--dataset", "ped2", "--backbone", "repvgg_a0",
                     "--random-weights", "--formula", "both", "--frames", "6", "--batch-size", "3", "--score",
                     "--sheet", "2", "--out", str(work / "gradcam")],
                    work / "gradcam" / "gradcam.json"),
    }
    out = {}
    for name, (argv, path) in calls.items():
        rc = main(argv)
        assert rc == 0, f"{name}: exit {rc}"
        out[name] = normalise(json.loads(path.read_text()), work)
    return out


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, doc in run_all(Path(tmp)).items():
            (target / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            print(f"wrote {target / f'{name}.json'}")
