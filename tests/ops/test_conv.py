import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from helpers.onnx_graphs import check_op, make_model, rng, run_converted


def _conv(op, x_shape, w_shape, attrs, bias=True, dynamic=False, weight_is_input=False, opset=13,
          dtype=np.float32, seed=0):
    """One Conv/ConvTranspose node; W (and B) are initializers unless ``weight_is_input``."""
    r = rng(seed)
    x = r.standard_normal(x_shape).astype(dtype)
    w = r.standard_normal(w_shape).astype(dtype)
    out_channels = w_shape[0] if op == "Conv" else w_shape[1] * attrs.get("group", 1)
    b = r.standard_normal(out_channels).astype(dtype)
    inputs = {"x": x, "w": w} if weight_is_input else {"x": x}
    initializers = {} if weight_is_input else {"w": w}
    if bias:
        initializers["b"] = b
    names = ["x", "w", "b"] if bias else ["x", "w"]
    check_op(op, inputs, attrs, initializers=initializers, input_names=names, outputs={"y": dtype},
             opset=opset, dynamic_inputs=dynamic)


CONV_CASES = {
    "2d_plain": ((2, 3, 8, 8), (4, 3, 3, 3), {}),
    "2d_pads_stride": ((1, 3, 9, 9), (5, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    "2d_asym_pads_odd": ((1, 2, 7, 9), (3, 2, 3, 2), {"pads": [0, 1, 2, 0], "strides": [2, 3]}),
    "2d_dilation_stride": ((1, 2, 11, 10), (3, 2, 3, 3), {"dilations": [2, 3], "strides": [2, 1],
                                                         "pads": [1, 2, 0, 1]}),
    "2d_same_upper": ((1, 3, 7, 8), (4, 3, 3, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "2d_same_lower": ((1, 3, 7, 8), (4, 3, 4, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 3]}),
    "2d_valid_stride3": ((1, 3, 10, 11), (2, 3, 3, 3), {"auto_pad": "VALID", "strides": [3, 3]}),
    "2d_group2": ((2, 4, 7, 7), (6, 2, 3, 3), {"group": 2, "pads": [1, 0, 1, 0]}),
    "2d_group3_stride_dil": ((1, 6, 10, 9), (3, 2, 2, 3), {"group": 3, "strides": [2, 2],
                                                           "dilations": [2, 1]}),
    "2d_depthwise": ((2, 4, 8, 8), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),
    "2d_depthwise_mult2_stride": ((1, 3, 9, 9), (6, 1, 3, 3), {"group": 3, "strides": [2, 2]}),
    "2d_depthwise_dilated": ((1, 3, 9, 9), (3, 1, 3, 3), {"group": 3, "dilations": [2, 2]}),
    "2d_depthwise_uneven_strides": ((1, 3, 9, 9), (3, 1, 3, 3), {"group": 3, "strides": [1, 2]}),
    "2d_kernel_shape_attr": ((1, 2, 6, 7), (3, 2, 2, 3), {"kernel_shape": [2, 3], "pads": [1, 0, 0, 1]}),
    "1d_pads_stride_dil": ((2, 3, 13), (4, 3, 3), {"pads": [2, 1], "strides": [2], "dilations": [2]}),
    "1d_same_lower": ((1, 2, 10), (3, 2, 4), {"auto_pad": "SAME_LOWER", "strides": [3]}),
    "1d_depthwise": ((1, 4, 11), (8, 1, 3), {"group": 4, "pads": [1, 1]}),
    "1d_depthwise_stride": ((1, 4, 11), (4, 1, 3), {"group": 4, "strides": [2]}),
    "3d_pads": ((1, 2, 5, 6, 7), (3, 2, 3, 3, 3), {"pads": [1, 0, 1, 0, 1, 1]}),
    "3d_dilation_stride": ((1, 2, 9, 8, 9), (2, 2, 2, 3, 2), {"dilations": [2, 1, 3], "strides": [2, 2, 1]}),
    "3d_group2": ((1, 4, 5, 5, 5), (4, 2, 2, 2, 2), {"group": 2, "strides": [2, 1, 2]}),
    "3d_depthwise_same_upper": ((1, 3, 5, 6, 7), (3, 1, 3, 3, 3), {"group": 3, "auto_pad": "SAME_UPPER",
                                                                   "strides": [2, 2, 2]}),
}


@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv(name):
    x_shape, w_shape, attrs = CONV_CASES[name]
    _conv("Conv", x_shape, w_shape, attrs)


def test_conv_no_bias_opset1_semantics():
    # Conv-1 and Conv-11 share one converter; opset 7 is the oldest ONNX Runtime loads.
    _conv("Conv", (1, 2, 6, 6), (3, 2, 3, 3), {"pads": [1, 1, 1, 1]}, bias=False, opset=7)


@pytest.mark.parametrize("attrs,dtype", [
    ({"auto_pad": "SAME_UPPER", "dilations": [2, 2]}, np.float32),
    ({"auto_pad": "SAME_LOWER", "dilations": [2, 3], "strides": [2, 1]}, np.float32),
    ({"strides": [2, 2], "pads": [0, 1, 1, 0]}, np.float64),
])
def test_conv_vs_onnx_reference(attrs, dtype):
    # ONNX Runtime rejects dilated auto_pad SAME and has no float64 Conv: use the ONNX reference
    # implementation (which follows the spec's pad formula with the dilated kernel) instead.
    r = rng(1)
    x = r.standard_normal((1, 2, 8, 9)).astype(dtype)
    w = r.standard_normal((3, 2, 3, 3)).astype(dtype)
    node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    model = make_model([node], {"x": x}, {"y": dtype}, {"w": w})
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = run_converted(model, {"x": x})["y"]
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,x_shape,w_shape,attrs", [
    ("2d_same_upper", (2, 3, 9, 10), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ("1d_pads_depthwise", (1, 4, 11), (4, 1, 3), {"group": 4, "pads": [1, 2]}),
    ("3d_group_dilated", (1, 4, 7, 6, 7), (4, 2, 3, 2, 3), {"group": 2, "dilations": [2, 1, 2],
                                                             "pads": [1, 0, 2, 0, 1, 1]}),
])
def test_conv_dynamic_shapes(name, x_shape, w_shape, attrs):
    _conv("Conv", x_shape, w_shape, attrs, dynamic=True)


@pytest.mark.parametrize("name,x_shape,w_shape,attrs", [
    ("2d_depthwise", (1, 3, 7, 7), (6, 1, 3, 3), {"group": 3, "strides": [2, 2]}),
    ("3d_dilated_group", (1, 4, 7, 6, 7), (4, 2, 3, 2, 3), {"group": 2, "dilations": [2, 1, 2]}),
])
def test_conv_weight_not_constant(name, x_shape, w_shape, attrs):
    # W fed at run time: the kernel layout change happens in TF instead of numpy.
    _conv("Conv", x_shape, w_shape, attrs, weight_is_input=True)


TRANSPOSE_CASES = {
    "2d_plain": ((2, 3, 5, 5), (3, 4, 3, 3), {}),
    "2d_stride_asym_pads": ((1, 3, 5, 6), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 0, 0, 2]}),
    "2d_output_padding": ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 3], "output_padding": [1, 2]}),
    "2d_output_padding_pads": ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [3, 2], "output_padding": [2, 1],
                                                            "pads": [1, 1, 2, 0]}),
    "2d_output_shape": ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [9, 10]}),
    "2d_output_shape_odd": ((1, 2, 4, 4), (2, 3, 4, 3), {"strides": [3, 2], "output_shape": [11, 8]}),
    "2d_same_upper": ((1, 2, 5, 4), (2, 3, 3, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "2d_same_lower": ((1, 2, 5, 4), (2, 3, 3, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 3]}),
    "2d_valid": ((1, 2, 4, 5), (2, 3, 2, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
    "2d_dilation_stride": ((1, 2, 5, 4), (2, 3, 3, 2), {"dilations": [2, 3], "strides": [2, 1],
                                                        "pads": [1, 0, 2, 1]}),
    "2d_group2": ((1, 4, 5, 5), (4, 3, 3, 3), {"group": 2, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "2d_depthwise": ((1, 3, 6, 5), (3, 1, 3, 3), {"group": 3, "strides": [2, 1]}),
    "1d_pads_output_padding": ((2, 3, 7), (3, 2, 4), {"strides": [3], "pads": [1, 2], "output_padding": [1]}),
    "1d_same_upper_dilated": ((1, 2, 6), (2, 2, 3), {"auto_pad": "SAME_UPPER", "strides": [2],
                                                     "dilations": [2]}),
    "3d_stride_pads": ((1, 2, 3, 4, 3), (2, 3, 3, 2, 3), {"strides": [2, 1, 2], "pads": [1, 0, 0, 0, 1, 1]}),
    "3d_group_dilation": ((1, 4, 3, 3, 4), (4, 1, 2, 2, 2), {"group": 2, "dilations": [2, 1, 2],
                                                             "output_padding": [1, 0, 0],
                                                             "strides": [2, 1, 1]}),
}


@pytest.mark.parametrize("name", list(TRANSPOSE_CASES))
def test_conv_transpose(name):
    x_shape, w_shape, attrs = TRANSPOSE_CASES[name]
    _conv("ConvTranspose", x_shape, w_shape, attrs)


def test_conv_transpose_no_bias():
    _conv("ConvTranspose", (1, 3, 4, 4), (3, 2, 3, 3), {"strides": [2, 2]}, bias=False)


@pytest.mark.parametrize("name,x_shape,w_shape,attrs", [
    ("2d_pads_output_padding", (2, 3, 5, 6), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 0, 0, 1],
                                                           "output_padding": [1, 1]}),
    ("2d_same_lower", (1, 2, 5, 4), (2, 3, 4, 3), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    ("1d_group", (1, 4, 7), (4, 2, 3), {"group": 2, "strides": [2], "output_shape": [14]}),
])
def test_conv_transpose_dynamic_shapes(name, x_shape, w_shape, attrs):
    _conv("ConvTranspose", x_shape, w_shape, attrs, dynamic=True)


def test_conv_transpose_weight_not_constant():
    _conv("ConvTranspose", (1, 4, 4, 5), (4, 2, 3, 3), {"group": 2, "strides": [2, 2], "dilations": [2, 1]},
          weight_is_input=True)


@pytest.mark.parametrize("x_shape, w_shape, attrs, padding", [
    ((1, 8, 6, 6), (4, 8, 1, 1), {}, b"VALID"),  # 1x1: TF's CPU kernel runs it as a matrix product
    ((1, 8, 6, 6), (4, 8, 1, 1), {"strides": [2, 2]}, b"VALID"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}, b"SAME"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [0, 0, 1, 1], "strides": [2, 2]}, b"SAME"),  # TF's SAME puts the odd pad last
    ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [2, 2, 2, 2], "dilations": [2, 2]}, b"SAME"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}, b"EXPLICIT"),  # ResNet's stride-2 3x3
    ((1, 4, 8, 8), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, b"SAME"),
    ((1, 4, 8, 8), (4, 1, 3, 3), {"group": 4}, b"VALID"),
])
def test_conv_uses_named_padding_modes(x_shape, w_shape, attrs, padding):
    """Zero pads are VALID and TF's SAME pads are SAME (EXPLICIT only when neither fits): the same values as
    ONNX Runtime, and the padding attribute the TF convolution op gets."""
    from paddle2tf.converter.module import ConvertedModule

    from helpers.onnx_graphs import assert_matches_ort

    r = rng(1)
    x = r.standard_normal(x_shape).astype(np.float32)
    w = r.standard_normal(w_shape).astype(np.float32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], **attrs)], {"x": x}, {"y": np.float32},
                       initializers={"w": w}, opset=13)
    assert_matches_ort(model, {"x": x})
    ops = ConvertedModule(model).concrete.graph.get_operations()
    assert [op.get_attr("padding") for op in ops if op.type in ("Conv2D", "DepthwiseConv2dNative")] == [padding]
    assert not any(op.type in ("Pad", "PadV2") for op in ops)
