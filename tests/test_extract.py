"""The paper's preprocessing and batch-1 extraction; the fast path's fidelity to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from anomaly_ref.extraction.backbones import create_backbone
from anomaly_ref.errors import InputError
from anomaly_ref.extraction.paper import extract_paper, preprocess_paper
from anomaly_ref.registry import BACKBONES, IMAGENET_MEAN, IMAGENET_STD

PACKAGED = next(b for b in BACKBONES.values() if b.weights_package)  # real weights offline
SMALL = "repvgg_a0"  # cheap random-weight model for shape/plumbing tests


def rgb_images(n: int, h: int = 60, w: int = 90, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_preprocess_paper_is_pil_bilinear_totensor_normalize():
    rgb = rgb_images(1, 240, 360)[0]
    out = preprocess_paper(rgb, PACKAGED)
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    resized = np.asarray(Image.fromarray(rgb).resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255
    expected = (resized - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_preprocess_paper_rejects_non_rgb_uint8(bad):
    with pytest.raises(InputError, match=r"\(H, W, 3\) uint8 RGB"):
        preprocess_paper(bad, PACKAGED)


def test_extract_paper_rows_are_single_image_forwards():
    model = create_backbone(SMALL, pretrained=False)
    images = rgb_images(3)
    feats = extract_paper(model, iter(images), SMALL)
    assert feats.shape == (3, BACKBONES[SMALL].feature_dim) and feats.dtype == np.float32
    with torch.inference_mode():
        second = model(preprocess_paper(images[1], SMALL)[None]).numpy()[0]
    np.testing.assert_array_equal(feats[1], second)
    assert extract_paper(model, [], SMALL).shape == (0, BACKBONES[SMALL].feature_dim)


def test_extract_paper_needs_eval_mode():
    model = create_backbone(SMALL, pretrained=False).train()
    with pytest.raises(InputError, match="eval mode"):
        extract_paper(model, rgb_images(1), SMALL)


# ------------------------------------------------------------- fast path

from anomaly_ref.extraction.fast import FastConfig, extract_fast, extract_jpeg, preprocess_batch  # noqa: E402
from anomaly_ref.data.featurefiles import open_features  # noqa: E402
from anomaly_ref.frames.sources import read_npz  # noqa: E402

CPU_FP32 = FastConfig(device="cpu", precision="fp32", batch_size=16, num_workers=0)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) arrays: (N,)."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def ped2_subset(shared):
    """64 real Ped2 frames spread over all 12 clips (every 31st frame)."""
    seq = read_npz(shared / "data" / "ucsd_ped2" / "ucsd_ped2_test.npz", "ped2").frames
    return [seq[i] for i in range(0, len(seq), 31)][:64]


@pytest.fixture(scope="module")
def packaged_model():
    return create_backbone(PACKAGED.name)


@pytest.fixture(scope="module")
def paper_features(packaged_model, ped2_subset):
    return extract_paper(packaged_model, ped2_subset, PACKAGED)


def test_preprocess_batch_matches_paper_per_image():
    images = rgb_images(4, 240, 360, seed=1)
    batch = preprocess_batch(torch.from_numpy(np.stack(images)), PACKAGED)  # (4, 3, 224, 224)
    assert batch.shape == (4, 3, 224, 224)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    paper = torch.stack([preprocess_paper(img, PACKAGED) for img in images])
    torch.testing.assert_close(batch, paper, rtol=0, atol=1e-6)
    mixed = preprocess_batch([torch.from_numpy(images[0]), torch.from_numpy(images[1][:100])], PACKAGED)
    assert mixed.shape == (2, 3, 224, 224)
    torch.testing.assert_close(mixed[0], batch[0])


def test_fast_fp32_matches_paper_on_real_ped2(packaged_model, ped2_subset, paper_features, tmp_path):
    out = open_features(tmp_path / "f.npy", len(ped2_subset), PACKAGED.feature_dim)
    fast = extract_fast(packaged_model, ped2_subset, PACKAGED, out=out, config=CPU_FP32)
    assert fast is out
    cos = cosine(np.asarray(fast), paper_features)
    assert cos.min() >= 0.999, cos.min()
    reread = np.load(tmp_path / "f.npy")
    np.testing.assert_array_equal(reread, np.asarray(fast))


def test_fast_bf16_autocast_and_workers_on_cpu(packaged_model, ped2_subset, paper_features):
    config = FastConfig(device="cpu", precision="bf16", batch_size=8, num_workers=2)
    frames = ped2_subset[:16]
    fast = extract_fast(packaged_model, frames, PACKAGED, config=config)
    cos = cosine(fast, paper_features[:16])
    assert cos.min() >= 0.99, cos.min()
    assert not np.array_equal(fast, paper_features[:16])  # bf16 really was used


def test_fast_from_jpeg_bytes_on_cpu(packaged_model, ped2_subset):
    import cv2

    frames = [f.image for f in ped2_subset[:8]]
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
             for img in frames]
    decoded = [cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
               for j in jpegs]
    paper = extract_paper(packaged_model, decoded, PACKAGED)
    fast = extract_jpeg(packaged_model, jpegs, PACKAGED, config=CPU_FP32)
    assert cosine(fast, paper).min() >= 0.999


def test_fast_rejects_wrong_output_shape(packaged_model):
    with pytest.raises(InputError, match=r"out has shape \(3, 5\); expected \(2, 1280\)"):
        extract_fast(packaged_model, rgb_images(2), PACKAGED, out=np.zeros((3, 5), np.float32), config=CPU_FP32)
    with pytest.raises(InputError, match="unknown precision 'fp16'; valid: fp32, bf16"):
        FastConfig(precision="fp16")


def test_as_backbone_accepts_a_spec_or_a_registered_name():
    from anomaly_ref.errors import UnknownNameError
    from anomaly_ref.registry import as_backbone

    assert as_backbone(PACKAGED) is PACKAGED and as_backbone(PACKAGED.name) is PACKAGED
    with pytest.raises(UnknownNameError, match="unknown backbone 'nope'; valid: "):
        as_backbone("nope")
