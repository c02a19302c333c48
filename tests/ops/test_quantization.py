import numpy as np
import pytest

from helpers.onnx_graphs import check_op, rng


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_quantize_linear_per_tensor(dtype):
    x = (rng().standard_normal((2, 3, 4)) * 40).astype(np.float32)
    x.flat[:4] = [0.5, 1.5, -0.5, 2.5]  # ties round to even
    check_op("QuantizeLinear", {"x": x}, initializers={"s": np.float32(0.5), "zp": dtype(3)},
             outputs={"y": dtype})


def test_quantize_linear_per_axis():
    x = (rng().standard_normal((2, 3, 4)) * 40).astype(np.float32)
    check_op("QuantizeLinear", {"x": x}, {"axis": 1},
             initializers={"s": np.array([0.5, 1.0, 2.0], np.float32), "zp": np.array([0, 10, 250], np.uint8)},
             outputs={"y": np.uint8})


def test_dequantize_linear_per_axis():
    x = rng().integers(-128, 127, (2, 3, 4)).astype(np.int8)
    check_op("DequantizeLinear", {"x": x}, {"axis": 1},
             initializers={"s": np.array([0.5, 1.0, 2.0], np.float32), "zp": np.array([0, 10, -5], np.int8)})


def test_dynamic_quantize_linear():
    x = rng().standard_normal((3, 5)).astype(np.float32)
    check_op("DynamicQuantizeLinear", {"x": x}, outputs={"y": np.uint8, "s": np.float32, "zp": np.uint8},
             opset=11)


QLINEAR_MATMUL_INPUTS = ["a", "as", "azp", "b", "bs", "bzp", "ys", "yzp"]


def _qlinear_matmul_args(dtype):
    info = np.iinfo(dtype)
    feeds = {"a": rng().integers(info.min, info.max, (2, 3, 4)).astype(dtype),
             "b": rng(1).integers(info.min, info.max, (4, 5)).astype(dtype)}
    inits = {"as": np.float32(0.02), "azp": dtype(3), "bs": np.float32(0.03), "bzp": dtype(1),
             "ys": np.float32(0.5), "yzp": dtype(2)}
    return feeds, inits


def test_qlinear_matmul():
    feeds, inits = _qlinear_matmul_args(np.uint8)
    check_op("QLinearMatMul", feeds, initializers=inits, input_names=QLINEAR_MATMUL_INPUTS,
             outputs={"y": np.uint8}, opset=10)


@pytest.mark.parametrize("dtype,rejected", [(np.int8, True), (np.uint8, False)])
def test_qlinear_matmul_int8_output_is_rejected(dtype, rejected):
    # The ONNX node tests expect int8 results that wrap around; the spec and ONNX Runtime saturate.
    from onnx import helper

    from paddle2tf.converter.prescan import find_unsupported

    from helpers.onnx_graphs import make_model

    feeds, inits = _qlinear_matmul_args(dtype)
    node = helper.make_node("QLinearMatMul", QLINEAR_MATMUL_INPUTS, ["y"], name="qmm")
    model = make_model([node], feeds, {"y": dtype}, inits, opset=10)
    expected = {"QLinearMatMul (int8 output: the ONNX reference wraps around, the spec and ONNX Runtime "
                "saturate)": ["qmm"]}
    assert find_unsupported(model) == (expected if rejected else {})


def test_qlinear_conv_per_channel():
    x = rng().integers(0, 255, (1, 3, 6, 6)).astype(np.uint8)
    # 7-bit weights: ONNX Runtime's uint8 x int8 kernel on AVX2 CPUs without VNNI adds pairs of products in int16
    # (vpmaddubsw), which saturates for full-range weights (off by up to 54 here); |w| <= 63 cannot saturate.
    w = rng(1).integers(-63, 63, (4, 3, 3, 3)).astype(np.int8)
    check_op("QLinearConv", {"x": x},
             {"pads": [1, 1, 1, 1], "strides": [2, 1]},
             initializers={"xs": np.float32(0.05), "xzp": np.uint8(128), "w": w,
                           "ws": np.array([0.01, 0.02, 0.03, 0.04], np.float32), "wzp": np.zeros(4, np.int8),
                           "ys": np.float32(0.3), "yzp": np.uint8(100), "b": np.array([5, -7, 0, 100], np.int32)},
             input_names=["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp", "b"], outputs={"y": np.uint8}, opset=10)


def test_conv_integer():
    x = rng().integers(0, 255, (1, 2, 5, 5)).astype(np.uint8)
    w = rng(1).integers(0, 255, (3, 2, 2, 2)).astype(np.uint8)
    check_op("ConvInteger", {"x": x, "w": w}, {"pads": [0, 1, 0, 1]}, initializers={"xzp": np.uint8(7)},
             outputs={"y": np.int32}, opset=10)
