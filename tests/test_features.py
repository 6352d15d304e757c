import pickle

import numpy as np
import pytest

from anomaly_ref.errors import InputError
from anomaly_ref.protocol.features import load_array, load_pair, prepare_pair


def _save(tmp_path, name, arr):
    p = tmp_path / name
    np.save(p, arr)
    return p


def test_pair_concatenates_normal_first_as_float32(tmp_path):
    n = _save(tmp_path, "n.npy", np.ones((4, 3), np.float64))
    a = _save(tmp_path, "a.npy", np.full((2, 3), 2.0, np.float64))
    pair = load_pair(n, a)
    assert pair.X.dtype == np.float32 and pair.X.shape == (6, 3)
    assert pair.y.tolist() == [0, 0, 0, 0, 1, 1]
    assert (pair.X[4:] == 2).all() and pair.n_normal == 4 and pair.n_anomaly == 2


def test_4d_maps_are_averaged_over_spatial_axes():
    maps = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    pair = prepare_pair(maps, maps)
    np.testing.assert_allclose(pair.X[:2], maps.mean(axis=(2, 3)))


def test_non_finite_values_are_zeroed_and_counted(caplog):
    x = np.ones((3, 2), np.float32)
    x[0, 0], x[1, 1], x[2, 0] = np.nan, np.inf, -np.inf
    pair = prepare_pair(x, np.ones((2, 2)))
    assert pair.n_replaced == 3
    assert pair.X[0, 0] == 0 and pair.X[1, 1] == 0 and pair.X[2, 0] == 0
    assert "replaced 3 non-finite" in caplog.text


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"normal features file '.*nope\.npy' does not exist"):
        load_pair(tmp_path / "nope.npy", tmp_path / "a.npy")


def test_3d_array_rejected_naming_file(tmp_path):
    n = _save(tmp_path, "n.npy", np.ones((4, 3, 2)))
    a = _save(tmp_path, "a.npy", np.ones((4, 3)))
    with pytest.raises(InputError, match=r"n\.npy.*expected a 2-D .* found 3-D"):
        load_pair(n, a)


def test_mismatched_dims(tmp_path):
    n = _save(tmp_path, "n.npy", np.ones((4, 3)))
    a = _save(tmp_path, "a.npy", np.ones((4, 5)))
    with pytest.raises(InputError, match=r"feature dims differ: .*n\.npy has 3, .*a\.npy has 5"):
        load_pair(n, a)


def test_all_nan_array(tmp_path):
    n = _save(tmp_path, "n.npy", np.ones((4, 3)))
    a = _save(tmp_path, "a.npy", np.full((4, 3), np.nan))
    with pytest.raises(InputError, match=r"a\.npy: all 12 values are non-finite"):
        load_pair(n, a)


def test_empty_array(tmp_path):
    n = _save(tmp_path, "n.npy", np.ones((0, 3)))
    a = _save(tmp_path, "a.npy", np.ones((4, 3)))
    with pytest.raises(InputError, match=r"n\.npy: array is empty"):
        load_pair(n, a)


def test_pickle_is_refused_not_executed(tmp_path):
    p = tmp_path / "evil.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled object array, which is refused"):
        load_array(p)


def _zip_bytes(tmp_path) -> bytes:
    np.savez(tmp_path / "x.npz", a=np.ones(3))
    return (tmp_path / "x.npz").read_bytes()


@pytest.mark.parametrize("content, found", [
    (lambda t: b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1\n", r"text: 'root:x:0:0:root:/root:/bin/bash'"),
    (lambda t: b"", r"an empty file"),
    (_zip_bytes, r"a zip archive \(an \.npz\?\)"),
    (lambda t: pickle.dumps([1, 2, 3]), r"a Python pickle \(refused: loading one runs code\)"),
    (lambda t: bytes(range(200, 256)), r"binary data starting with c8 c9 ca cb cc cd ce cf"),
    (lambda t: "ünïcödé text".encode() * 5, r"text: 'ünïcödé text"),
], ids=["text", "empty", "npz", "pickle", "binary", "utf8-text"])
def test_a_file_that_is_no_npy_is_said_to_be_what_it_is(tmp_path, content, found):
    # numpy, falling back to pickle, calls every such file "pickled (object) data" (issue 24).
    p = tmp_path / "junk.npy"
    p.write_bytes(content(tmp_path))
    with pytest.raises(InputError, match=rf"^features file '.*junk\.npy' is not a \.npy array file: found {found}"):
        load_array(p)


def test_source_and_stream_codes_never_confuse_clip_1_frame_12_with_clip_11_frame_2():
    # Joining ids as text with a NUL separator did: numpy drops the trailing NUL ("1"+"12" == "11"+"2").
    from anomaly_ref.protocol.features import FrameFeatures

    data = FrameFeatures(np.zeros((4, 1), np.float32), np.zeros(4, np.int64), np.array([1, 11, 1, 11]),
                         np.array([12, 2, 12, 2]), np.array(["original", "original", "flip", "flip"]))
    source = data.source_codes()
    assert source[0] != source[1] and source[0] == source[2] and source[1] == source[3]
    assert len(set(data.stream_codes().tolist())) == 4
