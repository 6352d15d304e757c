"""Each balancing copy against arrays computed by hand (index maps, not OpenCV)."""

import random

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.frames import augment as aug

H, W = 4, 6
IMG = (np.arange(H * W, dtype=np.uint8).reshape(H, W) + 10)  # distinct values 10..33


def by_map(fn):
    """dst[y, x] = IMG[fn(y, x)] where that lies inside, else 0 (black)."""
    out = np.zeros_like(IMG)
    for y in range(H):
        for x in range(W):
            sy, sx = fn(y, x)
            if 0 <= sy < H and 0 <= sx < W:
                out[y, x] = IMG[sy, sx]
    return out


def test_flips_and_cv2_rotations():
    assert aug.apply("flip", IMG).tolist() == [row[::-1] for row in IMG.tolist()]
    assert aug.apply("vflip", IMG).tolist() == IMG.tolist()[::-1]
    r90 = aug.apply("rot90", IMG)
    assert r90.shape == (W, H)  # transposed: nothing cut
    # clockwise: the first row becomes the last column, read top to bottom
    assert r90[:, -1].tolist() == IMG[0].tolist() and r90[0].tolist() == IMG[::-1, 0].tolist()
    assert aug.apply("rot180", IMG).tolist() == IMG[::-1, ::-1].tolist()


def test_canvas_rotations_cut_the_corners():
    # About (cx, cy) = (3, 2), counter-clockwise by a: dst(x, y) = src(R(-a) (x - c) + c).
    r90 = aug.apply("rot90_canvas", IMG)
    assert r90.shape == IMG.shape
    # a = 90: src_x = cx - (y - cy) = 5 - y, src_y = cy + (x - cx) = x - 1
    assert r90.tolist() == by_map(lambda y, x: (x - 1, 5 - y)).tolist()
    # a = 180: src = 2c - dst -> (4 - y, 6 - x): row 0 and column 0 fall off the canvas
    assert aug.apply("rot180_canvas", IMG).tolist() == by_map(lambda y, x: (4 - y, 6 - x)).tolist()
    # a = 270: src_x = cx + (y - cy) = y + 1, src_y = cy - (x - cx) = 5 - x
    assert aug.apply("rot270_canvas", IMG).tolist() == by_map(lambda y, x: (5 - x, y + 1)).tolist()
    assert (aug.apply("rot90_canvas", IMG) == 0).sum() > 0  # black corners


def test_translate_shifts_and_fills_black():
    big = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30).astype(np.uint8)
    out = aug.translate(big)
    assert (out[:15] == 0).all() and (out[:, :15] == 0).all()
    assert out[15:, 15:].tolist() == big[:5, :15].tolist()


def test_scale_center_crop_on_a_constant_and_a_ramp():
    flat = np.full((H, W), 77, np.uint8)
    assert aug.scale_center_crop(flat).tolist() == flat.tolist()
    # 10 x 10 scaled by 1.2 -> 12 x 12, the centre cut starts at 1: pixel (0, 0) of the
    # copy samples the scaled image at 1, i.e. the source at (1 + 0.5) / 1.2 - 0.5 = 0.75
    ramp = np.tile(np.arange(0, 200, 20, dtype=np.uint8), (10, 1))  # value = 20 x
    out = aug.scale_center_crop(ramp)
    assert out.shape == (10, 10)
    assert out[0, 0] == 15  # 20 * 0.75
    assert out[5, 5] == round(20 * ((6 + 0.5) / 1.2 - 0.5))


def test_crop85_with_a_fixed_seed():
    img = np.arange(20 * 40, dtype=np.int64).reshape(20, 40).astype(np.uint8)
    params = aug.draw("crop85", random.Random(7), img.shape)
    side = int(0.85 * 20)
    ref = random.Random(7)  # the notebook's call order: x, then y
    assert params == {"x": ref.randint(0, 40 - side), "y": ref.randint(0, 20 - side), "side": side} and side == 17
    out = aug.apply("crop85", img, params)
    assert out.shape == img.shape
    # Corner of a resize samples the crop near its corner: the crop's own top-left value.
    x, y = params["x"], params["y"]
    assert abs(int(out[0, 0]) - int(img[y, x])) <= 1
    assert aug.draw("crop85", random.Random(7), img.shape) == params  # seeded: repeatable
    with pytest.raises(InputError, match="does not fit"):
        aug.crop_resize(img, 30, 0, 17)


def test_umn_scale_rotate_pads_or_cuts_then_rotates():
    img = np.full((8, 12), 200, np.uint8)
    small = aug.scale_rotate(img, 0.5, 0.0)  # 6 x 4 centred on 12 x 8: a black frame around
    expect = np.zeros_like(img)
    expect[2:6, 3:9] = 200
    assert small.tolist() == expect.tolist()
    assert aug.scale_rotate(img, 1.2, 0.0).tolist() == img.tolist()  # centre cut of a constant
    assert aug.scale_rotate(IMG, 1.0, 180.0).tolist() == aug.rotate_canvas(IMG, 180).tolist()
    params = aug.draw("scale_rotate", np.random.RandomState(3), IMG.shape)
    np.random.seed(3)  # the notebook's global generator after seeding draws the same
    assert params == {"scale": np.random.uniform(0.8, 1.2), "angle": np.random.uniform(-30, 30)}


def test_bad_input_and_unknown_names():
    with pytest.raises(InputError, match="unknown augmentation 'spin'; valid: original, flip"):
        aug.apply("spin", IMG)
    with pytest.raises(InputError, match="uint8"):
        aug.apply("flip", IMG.astype(np.float32))
    rgb = np.dstack([IMG, IMG + 1, IMG + 2])
    assert aug.apply("rot90", rgb).shape == (W, H, 3)
