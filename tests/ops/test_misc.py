import numpy as np
import pytest
from onnx import helper

from paddle2tf.errors import UnsupportedModelError

from helpers.onnx_graphs import assert_matches_ort, check_op, make_model, rng


def test_dropout_inference_with_mask():
    x = rng().standard_normal((2, 3)).astype(np.float32)
    check_op("Dropout", {"x": x}, initializers={"r": np.float32(0.3), "t": np.array(False)},
             outputs={"y": np.float32, "mask": np.bool_})


def test_dropout_training_mode_is_rejected():
    from helpers.onnx_graphs import run_converted

    x = rng().standard_normal((2, 3)).astype(np.float32)
    node = helper.make_node("Dropout", ["x", "r", "t"], ["y"])
    model = make_model([node], {"x": x}, ["y"], {"r": np.float32(0.3), "t": np.array(True)})
    with pytest.raises(UnsupportedModelError, match="training mode"):
        run_converted(model, {"x": x})


@pytest.mark.parametrize("k", [0, 1, -2])
def test_eye_like(k):
    check_op("EyeLike", {"x": np.zeros((3, 5), np.int32)}, {"k": k, "dtype": 1})


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_compress(axis):
    x = rng().standard_normal((3, 4)).astype(np.float32)
    condition = np.array([True, False, True], np.bool_)
    attrs = {} if axis is None else {"axis": axis}
    check_op("Compress", {"x": x, "c": condition}, attrs, dynamic_inputs=True)


def test_center_crop_pad():
    x = rng().standard_normal((7, 4, 3)).astype(np.float32)
    check_op("CenterCropPad", {"x": x, "s": np.array([4, 7], np.int64)}, {"axes": [0, 1]}, opset=18)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows(op, periodic):
    check_op(op, {"n": np.array(10, np.int32)}, {"periodic": periodic}, opset=17, atol=1e-6)


def test_det():
    check_op("Det", {"x": rng().standard_normal((2, 3, 3)).astype(np.float32)}, opset=11, rtol=1e-4)


def test_reverse_sequence():
    x = rng().standard_normal((4, 3, 2)).astype(np.float32)
    check_op("ReverseSequence", {"x": x, "lens": np.array([4, 1, 3], np.int64)}, {"batch_axis": 1, "time_axis": 0})


@pytest.mark.parametrize("attrs", [{}, {"sorted": 0}, {"axis": 0}, {"axis": -1, "sorted": 1}])
def test_unique(attrs):
    x = np.array([[2, 1, 2], [0, 1, 0], [2, 1, 2], [3, 3, 3]], np.float32)
    outputs = {"y": np.float32, "indices": np.int64, "inverse": np.int64, "counts": np.int64}
    node = helper.make_node("Unique", ["x"], list(outputs), **attrs)
    assert_matches_ort(make_model([node], {"x": x}, outputs), {"x": x})
