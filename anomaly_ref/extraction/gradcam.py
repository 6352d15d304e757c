"""Grad-CAM++ maps of any registered backbone, with the paper's formula or the textbook one.

Built on pytorch-grad-cam (``grad-cam``): its activation and gradient hooks, targets,
ReLU, min-max scaling and upsampling are used as they are; only the channel weights differ.

Formulas (PROTOCOL §8), for activations ``A`` ``(B, K, h, w)`` of the target layer and
the gradients ``g`` of the target score with respect to them:

- ``paper`` (the notebooks' hand-written Grad-CAM++):
  ``alpha_kij = g_kij^2 / (2 g_kij^2 + A_kij * S_k)``, ``S_k = sum_ij g_kij^3``,
  a zero denominator replaced by 1;
- ``gradcam++`` (the textbook denominator ``2 g^2 + sum_ab(A_kab) g_kij^3``): pytorch-grad-cam's
  own ``GradCAMPlusPlus.get_cam_weights``, called unchanged.

Both then weigh channels by ``w_k = sum_ij relu(g_kij) alpha_kij``; the map is
``relu(sum_k w_k A_k)``, min-max normalised, bilinearly upsampled (``cv2.resize``) to the
requested size (the frame's, by default the network input's) and min-max normalised again
(pytorch-grad-cam's ``scale_cam_image``, which adds 1e-7 to the range: on maps whose raw
maximum is ~1e-3 that shifts values by ~1e-4 from an exact min-max).
:meth:`GradCAMPlusPlusMaps.maps` computes several formulas from ONE forward/backward pass.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

import numpy as np
from pytorch_grad_cam import GradCAMPlusPlus

from ..errors import InputError
from ..registry import GRADCAM_FORMULAS as FORMULAS  # named in the registry: the CLI lists them without torch

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

OVERLAY_ALPHA = 0.4  # the paper's heat-map weight in its overlays (JET colour map)


def paper_weights(activations: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Channel weights of the notebooks' Grad-CAM++: ``(B, K, h, w)`` twice -> ``(B, K)``."""
    g2 = grads**2
    s = (g2 * grads).sum(axis=(2, 3), keepdims=True)  # S_k = sum_ij g^3, (B, K, 1, 1)
    denom = 2 * g2 + activations * s
    alpha = g2 / np.where(denom == 0, 1, denom)  # the notebooks replace a zero denominator by 1
    return (np.maximum(grads, 0) * alpha).sum(axis=(2, 3))


class GradCAMPlusPlusMaps(GradCAMPlusPlus):
    """pytorch-grad-cam's Grad-CAM++ with a choice of formula and of output size.

    model : ``(B, 3, H, W) -> (B, n_outputs)``; target_layer : a module inside it;
    size : ``(H, W)`` of the maps (default: the input's).
    """

    def __init__(self, model: "torch.nn.Module", target_layer: "torch.nn.Module", *, formula: str = "paper",
                 size: tuple[int, int] | None = None):
        super().__init__(model, [target_layer])  # first: BaseCAM.__del__ needs its hooks object
        self.formula = check_formula(formula)
        self.size = size

    def get_cam_weights(self, input_tensor, target_layers, target_category, activations, grads):
        if self.formula == "paper":
            return paper_weights(activations, grads)
        return super().get_cam_weights(input_tensor, target_layers, target_category, activations, grads)

    def get_target_width_height(self, input_tensor):
        if self.size is None:
            return super().get_target_width_height(input_tensor)
        return self.size[1], self.size[0]  # cv2 wants (width, height)

    def maps(self, x: "torch.Tensor", targets: Sequence | None, formulas: Sequence[str] = FORMULAS) -> dict[str, np.ndarray]:
        """``{formula: (B, H, W) float32 in [0, 1]}`` from one forward and one backward pass.

        targets : one pytorch-grad-cam target per row of ``x``; None = the larger logit.
        The first formula runs the library's whole ``forward``; the others re-weigh the
        activations and gradients its hooks kept from that pass.
        """
        for f in formulas:
            check_formula(f)
        out = {}
        try:
            for i, formula in enumerate(formulas):
                self.formula = formula
                if i == 0:
                    out[formula] = self(x, targets)
                else:
                    out[formula] = self.aggregate_multi_layers(self.compute_cam_per_layer(x, targets, False))
        finally:
            self.activations_and_grads.clear()  # do not keep a batch's tensors alive until the next
        return out

    def close(self) -> None:
        """Remove the hooks (a second map object on the same backbone would otherwise see them)."""
        self.activations_and_grads.release()


def check_formula(name: str) -> str:
    if name not in FORMULAS:
        raise InputError(f"unknown Grad-CAM++ formula {name!r}; valid: {', '.join(FORMULAS)}")
    return name


def conv_layer_names(model: "torch.nn.Module") -> list[str]:
    """Names of the ``nn.Conv2d`` modules of ``model``, in module order."""
    import torch

    return [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]


def target_layer(model: "torch.nn.Module", name: str | None = None) -> tuple[str, "torch.nn.Module"]:
    """``(name, module)``: the module called ``name``, or by default the paper's rule, the
    last ``nn.Conv2d`` in module order."""
    convs = conv_layer_names(model)
    if name is None:
        if not convs:
            raise InputError(f"{type(model).__name__} has no nn.Conv2d layer; name a target layer")
        name = convs[-1]
    try:
        return name, model.get_submodule(name)
    except AttributeError:
        raise InputError(f"no layer {name!r} in {type(model).__name__}; its last convolutions are: "
                         f"{', '.join(convs[-5:])}") from None


def classifier(backbone: "torch.nn.Module", head: "torch.nn.Module") -> "torch.nn.Module":
    """``backbone`` (pooled features ``(B, D)``) followed by ``head``; eval mode."""
    import torch

    return torch.nn.Sequential(backbone, head).eval()


def untrained_head(dim: int, n_classes: int = 2, *, seed: int = 0) -> "torch.nn.Module":
    """The paper's untrained ``n_classes`` head: ``nn.Linear(dim, n_classes)`` with PyTorch's
    default init, drawn from a private RNG seeded ``seed`` (the global RNG is left alone)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Linear(dim, n_classes)


def overlay(rgb: np.ndarray, cam: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB and a ``(H, W)`` map in [0, 1] -> ``(H, W, 3)`` uint8 RGB: the
    JET heat map weighted ``alpha`` over the frame (pytorch-grad-cam's ``show_cam_on_image``)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if rgb.shape[:2] != cam.shape:
        raise InputError(f"overlay: frame {rgb.shape[:2]} and map {cam.shape} differ in size")
    return show_cam_on_image(rgb.astype(np.float32) / 255, cam, use_rgb=True, image_weight=1 - alpha)
