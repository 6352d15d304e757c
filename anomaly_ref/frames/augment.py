"""The notebooks' class-balancing copies (PROTOCOL §1) as pure functions on image arrays.

Every function takes an ``(H, W)`` or ``(H, W, C)`` uint8 array and returns a new one, with
OpenCV's defaults as the notebooks called it: bilinear interpolation (``INTER_LINEAR``),
constant black borders. Deterministic copies take no parameters; the random ones take the
values they drew (:func:`draw` draws them from a seeded generator, in the notebooks' order),
so a copy is a function of its recorded parameters alone.

Conventions (where the notebooks are not readable, the common form is assumed and said):
- UCSD: ``cv2.flip(img, 1)`` (horizontal), ``cv2.rotate`` by 90 clockwise (shape transposed)
  and by 180.
- Avenue: rotations by 90/180/270 degrees with ``getRotationMatrix2D`` about the centre
  ``(w // 2, h // 2)`` (positive = counter-clockwise, OpenCV's sense) and ``warpAffine`` on
  the same ``(w, h)`` canvas, so corners are cut and filled black; ``cv2.flip`` 0 (vertical)
  and 1 (horizontal); ``cv2.resize`` by 1.2 then the centre ``(h, w)`` cut; translation by
  (+15, +15) px; a random square of ``int(0.85 * min(h, w))`` px at ``x = randint(0, w - s)``,
  ``y = randint(0, h - s)`` (Python ``random``) resized back to ``(w, h)``.
- UMN: scale ``s ~ U(0.8, 1.2)`` (``cv2.resize`` to ``(int(w s), int(h s))``, then
  centred black padding or the centre cut back to ``(h, w)``), then rotation by
  ``a ~ U(-30, 30)`` degrees about the centre on the same canvas (numpy's legacy global
  generator: ``RandomState`` given a seed draws what ``np.random.seed(seed)`` would).
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np

from ..errors import InputError

CROP_SHARE = 0.85  # Avenue: side of the random square, as a share of the short side
SCALE_UP = 1.2  # Avenue: scale before the centre cut
SHIFT = (15, 15)  # Avenue: translation (x, y) in px
UMN_SCALE = (0.8, 1.2)
UMN_ANGLE = (-30.0, 30.0)


def _check(img: np.ndarray) -> np.ndarray:
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim in (2, 3)):
        raise InputError(
            f"augmentations take (H, W) or (H, W, C) uint8 arrays, found "
            f"{getattr(img, 'shape', None)} {getattr(img, 'dtype', type(img).__name__)}"
        )
    return img


def flip_h(img: np.ndarray) -> np.ndarray:
    """Mirror left-right: ``cv2.flip(img, 1)``."""
    import cv2

    return cv2.flip(_check(img), 1)


def flip_v(img: np.ndarray) -> np.ndarray:
    """Mirror top-bottom: ``cv2.flip(img, 0)``."""
    import cv2

    return cv2.flip(_check(img), 0)


def rot90_cw(img: np.ndarray) -> np.ndarray:
    """``cv2.rotate(img, ROTATE_90_CLOCKWISE)``: (H, W) -> (W, H), nothing cut."""
    import cv2

    return cv2.rotate(_check(img), cv2.ROTATE_90_CLOCKWISE)


def rot180(img: np.ndarray) -> np.ndarray:
    """``cv2.rotate(img, ROTATE_180)``."""
    import cv2

    return cv2.rotate(_check(img), cv2.ROTATE_180)


def rotate_canvas(img: np.ndarray, angle: float) -> np.ndarray:
    """Rotate by ``angle`` degrees (counter-clockwise) about ``(w // 2, h // 2)`` on the same
    ``(h, w)`` canvas; what leaves the canvas is cut, what enters is black."""
    import cv2

    h, w = _check(img).shape[:2]
    m = cv2.getRotationMatrix2D((w // 2, h // 2), float(angle), 1.0)  # (2, 3)
    return cv2.warpAffine(img, m, (w, h))


def scale_center_crop(img: np.ndarray, factor: float = SCALE_UP) -> np.ndarray:
    """``cv2.resize`` by ``factor`` (``fx = fy``), then the centre ``(h, w)`` cut."""
    import cv2

    h, w = _check(img).shape[:2]
    big = cv2.resize(img, None, fx=factor, fy=factor)
    top, left = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return np.ascontiguousarray(big[top:top + h, left:left + w])


def translate(img: np.ndarray, dx: int = SHIFT[0], dy: int = SHIFT[1]) -> np.ndarray:
    """Shift by ``(dx, dy)`` px on the same canvas (``warpAffine``), black where uncovered."""
    import cv2

    h, w = _check(img).shape[:2]
    return cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h))


def crop_resize(img: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """The ``side`` x ``side`` square at ``(x, y)`` resized back to ``(w, h)``."""
    import cv2

    h, w = _check(img).shape[:2]
    if not (0 <= x <= w - side and 0 <= y <= h - side and side > 0):
        raise InputError(f"crop ({x}, {y}, side {side}) does not fit a {w}x{h} image")
    return cv2.resize(np.ascontiguousarray(img[y:y + side, x:x + side]), (w, h))


def scale_rotate(img: np.ndarray, scale: float, angle: float) -> np.ndarray:
    """UMN: resize by ``scale`` to ``(int(w s), int(h s))``; pad with black (centred) or cut
    the centre back to ``(h, w)``; then :func:`rotate_canvas` by ``angle``."""
    import cv2

    h, w = _check(img).shape[:2]
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    small = cv2.resize(img, (nw, nh))
    out = np.zeros_like(img)
    # Overlap of the (nh, nw) image centred on the (h, w) canvas.
    ch, cw = min(h, nh), min(w, nw)
    sy, sx = (nh - ch) // 2, (nw - cw) // 2  # cut inside the scaled image
    dy, dx = (h - ch) // 2, (w - cw) // 2  # place on the canvas
    out[dy:dy + ch, dx:dx + cw] = small[sy:sy + ch, sx:sx + cw]
    return rotate_canvas(out, angle)


# name -> (function of (img, **params), how its params are drawn or None). The names are
# what the .frames.csv sidecars record per row.
def _draw_crop(rng: random.Random, shape: tuple[int, int]) -> dict:
    h, w = shape
    side = int(CROP_SHARE * min(h, w))
    return {"x": rng.randint(0, w - side), "y": rng.randint(0, h - side), "side": side}


def _draw_scale_rotate(rng: np.random.RandomState, shape: tuple[int, int]) -> dict:
    return {"scale": float(rng.uniform(*UMN_SCALE)), "angle": float(rng.uniform(*UMN_ANGLE))}


AUGMENTATIONS: dict[str, tuple[Callable[..., np.ndarray], Callable | None]] = {
    "original": (lambda img: img, None),
    "flip": (flip_h, None),
    "vflip": (flip_v, None),
    "rot90": (rot90_cw, None),
    "rot180": (rot180, None),
    "rot90_canvas": (lambda img: rotate_canvas(img, 90), None),
    "rot180_canvas": (lambda img: rotate_canvas(img, 180), None),
    "rot270_canvas": (lambda img: rotate_canvas(img, 270), None),
    "scale1.2_crop": (scale_center_crop, None),
    "translate15": (translate, None),
    "crop85": (crop_resize, _draw_crop),
    "scale_rotate": (scale_rotate, _draw_scale_rotate),
}

# Which generator a seed makes: the notebooks' own kind (Avenue: Python random; UMN: numpy's
# legacy global generator), so a seed gives the draws the notebook would make after seeding.
GENERATORS = {"crop85": random.Random, "scale_rotate": np.random.RandomState}


def check_name(name: str) -> None:
    if name not in AUGMENTATIONS:
        raise InputError(f"unknown augmentation {name!r}; valid: {', '.join(AUGMENTATIONS)}")


def is_random(name: str) -> bool:
    check_name(name)
    return AUGMENTATIONS[name][1] is not None


def draw(name: str, rng, shape: tuple[int, int]) -> dict:
    """The parameters of one copy of kind ``name`` for an image of ``shape = (h, w)``, drawn
    from ``rng`` ({} for a deterministic kind)."""
    check_name(name)
    drawer = AUGMENTATIONS[name][1]
    return {} if drawer is None else drawer(rng, shape)


def apply(name: str, img: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Copy ``name`` of ``img`` with the drawn ``params`` (see :func:`draw`)."""
    check_name(name)
    return AUGMENTATIONS[name][0](_check(img), **(params or {}))
