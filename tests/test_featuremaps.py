"""Feature maps by registry layer names (issue 23)."""

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.extraction.backbones import create_backbone
from anomaly_ref.extraction.featuremaps import extract_maps
from anomaly_ref.registry import BACKBONES, FEATURE_MAP_LAYERS, feature_map_layers


def test_every_backbone_has_layers():
    assert set(FEATURE_MAP_LAYERS) == set(BACKBONES)


def test_lite0_maps_and_pooled_from_one_pass():
    model = create_backbone("tf_efficientnet_lite0", pretrained=False)
    frames = [np.random.default_rng(i).integers(0, 255, (40, 60, 3), dtype=np.uint8) for i in range(3)]
    maps = extract_maps(model, frames, "tf_efficientnet_lite0", batch_size=2)
    assert maps.patches.shape == (3, 14, 14, 40 + 112) and maps.pooled.shape == (3, 1280)
    import torch

    from anomaly_ref.extraction.fast import preprocess_batch

    with torch.inference_mode():
        want = model(preprocess_batch(torch.from_numpy(np.stack(frames)), "tf_efficientnet_lite0", channels_last=False))
    np.testing.assert_allclose(maps.pooled, want.numpy(), rtol=1e-4, atol=1e-5)
    assert not model._forward_hooks and not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_unknown_layer_names_the_valid_ones():
    model = create_backbone("tf_efficientnet_lite0", pretrained=False)
    with pytest.raises(InputError, match="layer 'blocks.99' is not a module.*valid names"):
        extract_maps(model, [np.zeros((8, 8, 3), np.uint8)], "tf_efficientnet_lite0", layers=("blocks.99",))


@pytest.mark.slow
@pytest.mark.parametrize("backbone", list(FEATURE_MAP_LAYERS))
def test_registry_layers_exist_at_strides_8_and_16(backbone):
    import timm
    import torch

    model = timm.create_model(backbone, pretrained=False, num_classes=0).eval()
    modules, shapes = dict(model.named_modules()), []
    for name in feature_map_layers(backbone):
        modules[name].register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[-2:])))
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    assert shapes == [(28, 28), (14, 14)]
