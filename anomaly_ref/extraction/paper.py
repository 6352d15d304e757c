"""The paper's feature extraction, exactly (PROTOCOL §2): one image per forward pass, fp32.

Per image: RGB uint8 -> ``ToPILImage`` -> ``Resize((224, 224))`` (PIL bilinear, antialiased,
no crop) -> ``ToTensor`` -> ``Normalize(mean, std)`` -> model -> ``(D,)`` float32.
The fast, batched path lives in :mod:`anomaly_ref.extraction.fast`.

Global torch flags are left as the caller set them: the paper ran PyTorch's defaults, in
which cuDNN convolutions on an A100/H100/H200 may use TF32.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from ..errors import InputError
from ..registry import Backbone, as_backbone

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def _paper_transform(size: tuple[int, int], mean: tuple, std: tuple) -> Callable:
    from torchvision import transforms

    # The notebooks' transform, verbatim (ToPILImage first: they start from a numpy array).
    return transforms.Compose([
        transforms.ToPILImage(),
        transforms.Resize(size),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])


def preprocess_paper(rgb: np.ndarray, backbone: Backbone | str) -> "torch.Tensor":
    """``(H, W, 3)`` uint8 RGB -> ``(3, 224, 224)`` float32, normalised as the paper does."""
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        raise InputError(
            "preprocess_paper expects an (H, W, 3) uint8 RGB array, found "
            f"{getattr(rgb, 'shape', None)} {getattr(rgb, 'dtype', type(rgb).__name__)}"
        )
    spec = as_backbone(backbone)
    return _paper_transform(spec.input_size, spec.mean, spec.std)(rgb)


def as_image(item) -> np.ndarray:
    """The ``(H, W, 3)`` array of a :class:`~anomaly_ref.frames.base.Frame`, or a bare array as is."""
    return getattr(item, "image", item)


def extract_paper(
    model: "torch.nn.Module",
    images: Iterable[np.ndarray],
    backbone: Backbone | str,
    *,
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Features of each image, batch 1, fp32: ``(N, D)`` float32 in input order.

    ``images`` yields ``(H, W, 3)`` uint8 RGB arrays (or Frames). ``model`` must be in
    eval mode (as :func:`~anomaly_ref.extraction.backbones.create_backbone` returns it).

    Side effect: ``model`` itself is moved to ``device`` in place (``nn.Module.to``) and
    stays there after the call; no copy is made, since backbones can be large. Move it
    back yourself (``model.cpu()``) if you need it elsewhere.
    """
    import torch

    spec = as_backbone(backbone)
    model = model.to(device)
    if model.training:
        raise InputError("extract_paper needs a model in eval mode (call model.eval())")
    rows = []
    items = images
    if progress:
        from tqdm import tqdm

        items = tqdm(images, desc=f"{spec.name} (paper)", unit="img")
    with torch.inference_mode():
        for item in items:
            x = preprocess_paper(as_image(item), spec).unsqueeze(0).to(device)  # (1, 3, 224, 224)
            rows.append(model(x).float().cpu().numpy().reshape(-1))  # (D,)
    if not rows:
        return np.zeros((0, spec.feature_dim), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)  # (N, D)
