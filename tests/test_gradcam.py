"""Grad-CAM++ maps on real Ped2 frames: shapes, ranges, both formulas against independent
computations, batched maps equal to one-by-one maps on every available device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomaly_ref.errors import InputError
from anomaly_ref.extraction.backbones import create_backbone
from anomaly_ref.extraction.fast import preprocess_batch
from anomaly_ref.extraction.gradcam import (
    FORMULAS, GradCAMPlusPlusMaps, classifier, overlay, target_layer, untrained_head,
)

# Real ImageNet weights: random-weight backbones give nearly flat raw maps (repvgg_a0's vary by
# ~1% of their value), where min-max scaling magnifies float32 rounding past the 1e-5 bound.
BACKBONE = "tf_efficientnet_lite0"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def ped2(shared):
    """Three real abnormal Ped2 frames (clips 2, 6, 11) as (3, 240, 360, 3) uint8."""
    from anomaly_ref.frames.sources import open_npz

    frames = open_npz(shared / "data" / "ucsd_ped2" / "ucsd_ped2_test.npz", "ped2")
    rows = [300, 900, 1750]
    assert all(frames.labels[r] == 1 for r in rows)
    return np.stack([frames[r].image for r in rows])


@pytest.fixture(scope="module")
def model():
    backbone = create_backbone(BACKBONE)
    return classifier(backbone, untrained_head(backbone.num_features, 2, seed=0))


def _input(images, device="cpu"):
    return preprocess_batch(torch.from_numpy(images).to(device), BACKBONE, channels_last=False)


def _hooked(model, layer, x):
    """Activations of ``layer`` and gradients of each row's larger logit, by our own hooks."""
    saved = {}

    def keep(module, inputs, output):
        saved["A"] = output
        output.register_hook(lambda g: saved.__setitem__("G", g))

    handle = layer.register_forward_hook(keep)
    try:
        logits = model(x)
        logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
    finally:
        handle.remove()
    return saved["A"].detach(), saved["G"].detach()


def test_maps_have_the_frame_shape_and_range(model, ped2):
    name, layer = target_layer(model[0])
    assert name == "conv_head"
    cam = GradCAMPlusPlusMaps(model, layer, size=ped2.shape[1:3])
    try:
        maps = cam.maps(_input(ped2), None, FORMULAS)
    finally:
        cam.close()
    for formula, m in maps.items():
        assert m.shape == (3, 240, 360), formula
        assert np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1, formula
        assert (m.reshape(3, -1).max(1) > 0.99).all(), f"{formula}: each map is min-max normalised"


def _minmax(x):
    """Per-map min-max as pytorch-grad-cam scales (1e-7 added to the range): the raw maps of
    random weights peak near 2e-3, where that epsilon moves values by ~5e-5."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    return (x - lo) / (1e-7 + (x - lo).amax(dim=(-2, -1), keepdim=True))


def test_paper_formula_equals_protocol_8_recomputed(model, ped2):
    """PROTOCOL §8, written out again here in torch from activations and gradients that
    this test's own hooks caught: alpha = g^2 / (2 g^2 + A * sum_ij g^3), zero denominator
    -> 1, w = sum relu(g) alpha, relu(sum w A), min-max, bilinear upsampling, min-max."""
    _, layer = target_layer(model[0])
    x = _input(ped2)
    A, G = _hooked(model, layer, x)
    s = (G**3).sum(dim=(2, 3), keepdim=True)
    denom = 2 * G**2 + A * s
    alpha = G**2 / torch.where(denom == 0, torch.ones_like(denom), denom)
    w = (torch.relu(G) * alpha).sum(dim=(2, 3))
    cam = torch.relu((w[:, :, None, None] * A).sum(1, keepdim=True))
    up = torch.nn.functional.interpolate(_minmax(cam), size=(240, 360), mode="bilinear", align_corners=False)
    expected = _minmax(up)[:, 0].numpy()
    ours = GradCAMPlusPlusMaps(model, layer, formula="paper", size=(240, 360))
    try:
        got = ours.maps(x, None, ["paper"])["paper"]
    finally:
        ours.close()
    assert np.abs(got - expected).max() < 1e-5


def test_gradcampp_formula_equals_the_librarys_own(model, ped2):
    from pytorch_grad_cam import GradCAMPlusPlus

    _, layer = target_layer(model[0])
    x = _input(ped2)
    library = GradCAMPlusPlus(model, [layer])
    try:
        expected = library(x, None)
    finally:
        library.activations_and_grads.release()
    ours = GradCAMPlusPlusMaps(model, layer, formula="gradcam++")  # size: the input's, as the library's
    try:
        got = ours.maps(x, None, ["gradcam++"])["gradcam++"]
    finally:
        ours.close()
    assert got.shape == expected.shape == (3, 224, 224)
    assert np.abs(got - expected).max() < 1e-6


def test_both_formulas_from_one_pass_equal_separate_passes(model, ped2):
    _, layer = target_layer(model[0])
    x = _input(ped2[:2])
    both = GradCAMPlusPlusMaps(model, layer, size=(240, 360))
    try:
        together = both.maps(x, None, FORMULAS)
        alone = {f: both.maps(x, None, [f])[f] for f in FORMULAS}
    finally:
        both.close()
    for f in FORMULAS:
        np.testing.assert_allclose(together[f], alone[f], atol=1e-6)
    assert np.abs(together["paper"] - together["gradcam++"]).max() > 1e-3  # the formulas do differ


@pytest.mark.parametrize("device", DEVICES)
def test_batched_maps_equal_one_by_one(model, ped2, device):
    """The GPU path (many frames per backward pass, on a device) equals per-frame maps."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    m = model.to(device)
    _, layer = target_layer(m[0])
    cam = GradCAMPlusPlusMaps(m, layer, size=(240, 360))
    targets = [ClassifierOutputTarget(c) for c in (0, 1, 0)]
    try:
        batched = cam.maps(_input(ped2, device), targets, FORMULAS)
        single = [cam.maps(_input(ped2[i:i + 1], device), targets[i:i + 1], FORMULAS) for i in range(3)]
    finally:
        cam.close()
        model.to("cpu")
    for f in FORMULAS:
        np.testing.assert_allclose(batched[f], np.concatenate([s[f] for s in single]), atol=2e-4)


def test_target_layer_default_is_the_last_conv_and_names_are_checked():
    repvgg = create_backbone("repvgg_a0", pretrained=False)  # the paper's Grad-CAM++ backbone
    convs = [n for n, mod in repvgg.named_modules() if isinstance(mod, torch.nn.Conv2d)]
    assert target_layer(repvgg)[0] == convs[-1] == "stages.3.0.conv_1x1.conv"
    assert target_layer(repvgg, "stages.3.0.conv_kxk.conv")[0] == "stages.3.0.conv_kxk.conv"
    with pytest.raises(InputError, match="no layer 'nope'.*conv_1x1"):
        target_layer(repvgg, "nope")


def test_unknown_formula_lists_the_valid_ones(model):
    with pytest.raises(InputError, match="valid: paper, gradcam\\+\\+"):
        GradCAMPlusPlusMaps(model, target_layer(model[0])[1], formula="textbook")


def test_untrained_head_is_seeded_and_leaves_the_global_rng():
    state = torch.random.get_rng_state()
    a, b = untrained_head(8, 2, seed=3), untrained_head(8, 2, seed=3)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, untrained_head(8, 2, seed=4).weight)
    assert torch.equal(state, torch.random.get_rng_state())


def test_overlay_is_jet_at_alpha_04():
    rgb = np.zeros((4, 6, 3), np.uint8)
    cam = np.ones((4, 6), np.float32)  # JET at 1.0 is dark red: (128, 0, 0) in RGB
    out = overlay(rgb, cam)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])  # 0.4 * heat + 0.6 * black, scaled to the max
    with pytest.raises(InputError, match="differ in size"):
        overlay(rgb, cam[:3])
