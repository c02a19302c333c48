import numpy as np
import pytest

from paddle2tf.errors import BadInputError
from paddle2tf.frontend.sources import InputSpec
from paddle2tf.verify.feeds import (
    DYNAMIC_BATCH,
    DYNAMIC_OTHER,
    FLOAT_RANGE,
    INT_RANGE,
    describe_generated,
    load_feeds,
    make_feeds,
)

SPECS = [InputSpec("x", "float32", (None, 3, 4)), InputSpec("ids", "int64", (None, None)),
         InputSpec("mask", "bool", (2,))]


def test_generated_feeds_are_seeded_and_in_range():
    a, b, c = make_feeds(SPECS, seed=1), make_feeds(SPECS, seed=1), make_feeds(SPECS, seed=2)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["x"], c["x"])
    assert a["x"].shape == (DYNAMIC_BATCH, 3, 4) and a["x"].dtype == np.float32
    assert a["x"].min() >= FLOAT_RANGE[0] and a["x"].max() < FLOAT_RANGE[1]
    assert a["ids"].shape == (DYNAMIC_BATCH, DYNAMIC_OTHER) and a["ids"].dtype == np.int64
    assert a["ids"].min() >= INT_RANGE[0] and a["ids"].max() < INT_RANGE[1]
    assert a["mask"].dtype == bool


def test_load_feeds_validates_names_dtypes_shapes(tmp_path):
    good = {"x": np.zeros((5, 3, 4), np.float32), "ids": np.zeros((5, 7), np.int64), "mask": np.zeros(2, bool)}
    path = tmp_path / "f.npz"
    np.savez(path, **good)
    assert load_feeds(str(path), SPECS)["x"].shape == (5, 3, 4)
    cases = [({"x": good["x"], "ids": good["ids"]}, "missing: mask"),
             ({**good, "extra": good["mask"]}, "unexpected: extra"),
             ({**good, "x": good["x"].astype(np.float64)}, "is float64"),
             ({**good, "x": np.zeros((5, 4, 4), np.float32)}, "has shape")]
    for feeds, message in cases:
        np.savez(path, **feeds)
        with pytest.raises(BadInputError, match=message):
            load_feeds(str(path), SPECS)
    path.write_bytes(b"not a zip")
    with pytest.raises(BadInputError, match="not a readable .npz"):
        load_feeds(str(path), SPECS)
    np.save(tmp_path / "x.npy", good["x"])  # (was: "'numpy.ndarray' object does not support the context manager")
    with pytest.raises(BadInputError, match=r"x.npy: one unnamed array \(.npy\); give an .npz"):
        load_feeds(str(tmp_path / "x.npy"), SPECS)


def test_paddledetection_size_inputs_are_generated_as_an_image_at_its_own_size():
    specs = [InputSpec("image", "float32", (None, 3, 64, 48)), InputSpec("im_shape", "float32", (None, 2)),
             InputSpec("scale_factor", "float32", (None, 2))]
    feeds = make_feeds(specs, seed=0)
    np.testing.assert_array_equal(feeds["im_shape"], [[64, 48]] * DYNAMIC_BATCH)
    np.testing.assert_array_equal(feeds["scale_factor"], np.ones((DYNAMIC_BATCH, 2)))
    np.testing.assert_array_equal(feeds["image"], make_feeds(specs[:1], seed=0)["image"])  # same draws as before
    assert describe_generated(specs, 0).endswith("im_shape = the image's H, W, scale_factor = 1 "
                                                 "(PaddleDetection's inputs)")
    # declared [N, ?]: still the two values (the 2 was generated as 32 and im_shape's H, W could not fill it)
    dynamic = make_feeds([specs[0], InputSpec("im_shape", "float32", (None, None))], seed=0)
    np.testing.assert_array_equal(dynamic["im_shape"], [[64, 48]] * DYNAMIC_BATCH)
    # other names, or another shape, keep the uniform draws
    plain = make_feeds([InputSpec("im_size", "float32", (None, 2)), InputSpec("scale_factor", "float32", (3,))])
    assert plain["im_size"].min() < 0 and not np.any(plain["scale_factor"] == 1)
    assert "PaddleDetection" not in describe_generated([InputSpec("x", "float32", (None, 2))], 0)
