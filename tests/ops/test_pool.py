import numpy as np
import pytest
from onnx import helper

from helpers.onnx_graphs import check_op, make_model, rng, run_converted, run_ort


def _x(shape, dtype=np.float32, seed=0):
    r = rng(seed)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return r.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return r.standard_normal(shape).astype(dtype)


def _pool(op, shape, attrs, opset=12, dtype=np.float32, dynamic=False, indices=False, **tolerance):
    outputs = {"y": dtype, "i": np.int64} if indices else {"y": dtype}
    check_op(op, {"x": _x(shape, dtype)}, attrs, outputs=outputs, opset=opset, dynamic_inputs=dynamic,
             **tolerance)


MAX_CASES = {
    "2d_k2s2": ((2, 3, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "2d_asym_pads_odd": ((1, 2, 7, 9), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [0, 1, 2, 0]}),
    "2d_ceil": ((1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    # ceil_mode would add a window starting in the end pad: the spec drops it.
    "2d_ceil_drops_pad_window": ((1, 1, 4, 5), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1,
                                                "pads": [0, 0, 1, 1]}),
    "2d_dilations": ((1, 2, 9, 10), {"kernel_shape": [2, 3], "strides": [2, 1], "dilations": [2, 2],
                                     "pads": [1, 0, 0, 1]}),
    "2d_same_upper": ((1, 2, 7, 8), {"kernel_shape": [3, 2], "strides": [2, 3], "auto_pad": "SAME_UPPER"}),
    "2d_same_lower": ((1, 2, 7, 8), {"kernel_shape": [4, 4], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    "2d_valid_ceil": ((1, 2, 8, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID",
                                     "ceil_mode": 1}),
    "1d_pads_ceil": ((2, 3, 10), {"kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": 1}),
    "3d_pads": ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 2], "pads": [1, 0, 1, 0, 1, 0]}),
    "3d_dilations_ceil": ((1, 2, 7, 6, 8), {"kernel_shape": [2, 2, 2], "strides": [2, 1, 2], "ceil_mode": 1,
                                            "dilations": [2, 1, 2]}),
}


@pytest.mark.parametrize("name", list(MAX_CASES))
def test_max_pool(name):
    shape, attrs = MAX_CASES[name]
    _pool("MaxPool", shape, attrs)


@pytest.mark.parametrize("shape,attrs", [
    ((2, 3, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 0, 1]}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 2], "strides": [2, 2], "storage_order": 1, "ceil_mode": 1}),
    ((1, 2, 9), {"kernel_shape": [3], "strides": [2], "dilations": [2], "pads": [2, 1], "ceil_mode": 1}),
    ((1, 2, 5, 6, 5), {"kernel_shape": [2, 2, 3], "strides": [2, 2, 1], "pads": [0, 1, 1, 1, 0, 1]}),
    ((1, 2, 5, 6, 5), {"kernel_shape": [2, 3, 2], "strides": [1, 2, 2], "storage_order": 1,
                       "auto_pad": "SAME_UPPER"}),
])
def test_max_pool_indices(shape, attrs):
    _pool("MaxPool", shape, attrs, indices=True)


@pytest.mark.parametrize("dtype,shape", [
    (np.int8, (1, 3, 7, 8)), (np.uint8, (1, 3, 7, 8)), (np.int8, (1, 2, 5, 5, 6)), (np.float64, (1, 2, 5, 5, 6)),
])
def test_max_pool_dtypes(dtype, shape):
    # 3-D int8/float64 have no TF CPU MaxPool3D kernel and take the gather path.
    n = len(shape) - 2
    attrs = {"kernel_shape": [3] * n, "strides": [2] * n, "pads": [1] * n + [0] * n, "ceil_mode": 1}
    _pool("MaxPool", shape, attrs, dtype=dtype)


def test_average_pool_float16_3d():
    # No float16 AvgPool3D kernel on TF CPU: gather path. Tolerance 1e-2: float16 keeps ~3 digits.
    _pool("AveragePool", (1, 2, 5, 6, 5), {"kernel_shape": [3, 2, 3], "pads": [1, 0, 1, 1, 1, 0]},
          dtype=np.float16, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("opset,attrs,indices", [
    (7, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0]}, False),
    (8, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 1, 0], "storage_order": 1}, True),
    (10, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, True),
    (11, {"kernel_shape": [2, 3], "strides": [2, 2], "dilations": [2, 1], "ceil_mode": 1}, False),
])
def test_max_pool_opsets(opset, attrs, indices):
    _pool("MaxPool", (1, 2, 8, 9), attrs, opset=opset, indices=indices)


@pytest.mark.parametrize("attrs,indices", [
    ({"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, False),
    ({"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1}, True),
    ({"kernel_shape": [2, 2], "strides": [1, 2], "dilations": [2, 2], "pads": [1, 1, 1, 0]}, False),
])
def test_max_pool_dynamic_shapes(attrs, indices):
    _pool("MaxPool", (2, 3, 9, 8), attrs, dynamic=True, indices=indices)


AVG_CASES = {
    "2d_pads_exclude": ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "2d_pads_include": ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                                       "count_include_pad": 1}),
    "2d_asym_pads_odd": ((1, 2, 7, 9), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [0, 1, 2, 0]}),
    "2d_ceil_exclude": ((1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    # count_include_pad with ceil_mode is supported where the last windows end inside the padding.
    "2d_ceil_include_pads": ((1, 2, 9, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1,
                                            "pads": [1, 0, 1, 1], "count_include_pad": 1}),
    "2d_ceil_include_pads_dropped_window": ((1, 2, 4, 5), {"kernel_shape": [2, 2], "strides": [2, 2],
                                                           "ceil_mode": 1, "pads": [0, 0, 1, 1],
                                                           "count_include_pad": 1}),
    "2d_same_upper_exclude": ((1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 3],
                                             "auto_pad": "SAME_UPPER"}),
    "2d_same_lower_include": ((1, 2, 7, 8), {"kernel_shape": [4, 3], "strides": [2, 2],
                                             "auto_pad": "SAME_LOWER", "count_include_pad": 1}),
    "2d_valid": ((1, 2, 8, 9), {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "VALID"}),
    "1d_pads_ceil": ((2, 3, 10), {"kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": 1}),
    "3d_pads_exclude": ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 2],
                                          "pads": [1, 0, 1, 0, 1, 0]}),
}


@pytest.mark.parametrize("name", list(AVG_CASES))
def test_average_pool(name):
    shape, attrs = AVG_CASES[name]
    _pool("AveragePool", shape, attrs)


CEIL_INCLUDE_PADS = {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 0, 1, 1],
                     "count_include_pad": 1}


@pytest.mark.parametrize("shape,attrs,dynamic,rejected", [
    ((1, 2, 8, 7), CEIL_INCLUDE_PADS, False, True),  # the last ceil_mode windows pass the end padding
    ((1, 2, 5, 6, 7), {"kernel_shape": [3, 3, 2], "strides": [2, 2, 2], "pads": [1, 1, 0, 0, 1, 1],
                       "ceil_mode": 1, "count_include_pad": 1}, False, True),
    ((1, 2, 9, 8), CEIL_INCLUDE_PADS, True, True),  # spatial size unknown at check time
    ((1, 2, 9, 8), CEIL_INCLUDE_PADS, False, False),  # every window ends inside the padding
    ((1, 2, 8, 7), {**CEIL_INCLUDE_PADS, "count_include_pad": 0}, False, False),
])
def test_average_pool_include_pad_with_ceil_windows_past_the_padding_is_rejected(shape, attrs, dynamic, rejected):
    # The ONNX reference counts the positions past the end padding in the divisor; ONNX Runtime and
    # PyTorch (and the converter) count only the input and the explicit pads.
    from paddle2tf.converter.prescan import find_unsupported

    node = helper.make_node("AveragePool", ["x"], ["y"], name="pool", **attrs)
    model = make_model([node], {"x": _x(shape)}, ["y"], opset=19, dynamic_inputs=dynamic)
    expected = {"AveragePool (count_include_pad=1 with ceil_mode windows past the end padding: the ONNX "
                "reference counts them in the divisor, ONNX Runtime does not)": ["pool"]}
    assert find_unsupported(model) == (expected if rejected else {})


@pytest.mark.parametrize("shape,attrs", [
    ((1, 2, 9, 10), {"kernel_shape": [3, 2], "strides": [2, 2], "dilations": [2, 3], "pads": [1, 0, 2, 1]}),
    ((1, 2, 9, 10), {"kernel_shape": [2, 2], "strides": [2, 1], "dilations": [2, 2], "pads": [1, 1, 1, 0],
                     "count_include_pad": 1, "ceil_mode": 1}),
    ((1, 2, 6, 7, 6), {"kernel_shape": [2, 2, 2], "strides": [1, 2, 2], "dilations": [2, 1, 2],
                       "ceil_mode": 1}),
])
def test_average_pool_dilations(shape, attrs):
    _pool("AveragePool", shape, attrs, opset=19)


@pytest.mark.parametrize("opset,attrs", [
    (7, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0]}),
    (7, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0], "count_include_pad": 1}),
    (10, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 1, 0], "ceil_mode": 1}),
])
def test_average_pool_opsets(opset, attrs):
    _pool("AveragePool", (1, 2, 8, 9), attrs, opset=opset)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 2], "ceil_mode": 1},
    {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER", "count_include_pad": 1},
])
def test_average_pool_dynamic_shapes(attrs):
    _pool("AveragePool", (2, 3, 9, 8), attrs, dynamic=True)


@pytest.mark.parametrize("opset,shape,attrs", [
    (11, (1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 1]}),
    (11, (1, 2, 7, 8), {"kernel_shape": [2, 2], "p": 1}),
    (11, (2, 3, 9), {"kernel_shape": [3], "strides": [2], "p": 3, "auto_pad": "SAME_UPPER"}),
    (11, (1, 2, 4, 5, 4), {"kernel_shape": [2, 2, 2], "p": 2, "pads": [0, 1, 0, 1, 0, 1]}),
    (18, (1, 2, 7, 8), {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1, "p": 2}),
    (18, (1, 2, 9, 8), {"kernel_shape": [2, 2], "strides": [1, 2], "dilations": [2, 3], "p": 3}),
])
def test_lp_pool(opset, shape, attrs):
    _pool("LpPool", shape, attrs, opset=opset)


def test_lp_pool_dynamic_shapes():
    _pool("LpPool", (2, 3, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 0, 1]},
          opset=11, dynamic=True)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 2, 3, 4, 5)])  # 2-D: the dynamic-shape test below
def test_global_pools(op, shape):
    _pool(op, shape, {})


@pytest.mark.parametrize("op,attrs", [
    ("GlobalAveragePool", {}), ("GlobalMaxPool", {}), ("GlobalLpPool", {"p": 3}),
])
def test_global_pools_dynamic_shapes(op, attrs):
    _pool(op, (2, 3, 6, 7), attrs, dynamic=True)


@pytest.mark.parametrize("op,mode,extra", [
    ("MaxPool", "SAME_UPPER", {}),
    ("MaxPool", "SAME_LOWER", {}),
    ("AveragePool", "SAME_LOWER", {"count_include_pad": 1}),
    ("AveragePool", "SAME_UPPER", {"count_include_pad": 0}),
])
def test_dilated_same_pooling_follows_spec_pads(op, mode, extra):
    # ONNX Runtime pads dilated SAME pooling for the undilated kernel (wrong output shape against the
    # spec and ONNX shape inference). The spec's pads are total = (ceil(in/s) - 1)*s + (k-1)*d + 1 - in,
    # split by mode: compare with the same pooling given those pads explicitly, which ORT gets right.
    x = _x((1, 2, 9, 8))
    attrs = {"kernel_shape": [2, 3], "strides": [1, 2], "dilations": [2, 2], **extra}
    totals = [(9 - 1) * 1 + 3 - 9, (4 - 1) * 2 + 5 - 8]  # [2, 3]
    small, big = [t // 2 for t in totals], [t - t // 2 for t in totals]
    pads = small + big if mode == "SAME_UPPER" else big + small
    explicit = make_model([helper.make_node(op, ["x"], ["y"], pads=pads, **attrs)], {"x": x}, ["y"], opset=19)
    auto = make_model([helper.make_node(op, ["x"], ["y"], auto_pad=mode, **attrs)], {"x": x}, ["y"], opset=19)
    want = run_ort(explicit, {"x": x})["y"]
    got = run_converted(auto, {"x": x})["y"]
    assert got.shape == want.shape == (1, 2, 9, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_unknown_auto_pad_is_rejected_before_conversion():
    from paddle2tf.converter.prescan import find_unsupported

    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad="SAME_MIDDLE")
    model = make_model([node], {"x": _x((1, 1, 4, 4))}, ["y"])
    assert list(find_unsupported(model)) == ["MaxPool (auto_pad=SAME_MIDDLE)"]


@pytest.mark.parametrize("size, attrs", [
    (8, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),  # ResNet's stem (not TF's SAME)
    (8, {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    (9, {"kernel_shape": [2, 3], "strides": [1, 2], "pads": [0, 1, 1, 0]}),
])
def test_max_pool_pads_with_edge_copies(size, attrs):
    """Pads of 1 take copies of the edge elements, not -inf (an unbounded value TFLite's int8 calibration cannot
    quantise): same results as ONNX Runtime on all-negative inputs, where a zero pad would win the max."""
    from paddle2tf.converter.module import ConvertedModule

    from helpers.onnx_graphs import assert_matches_ort

    x = -np.abs(_x((1, 2, size, size))) - 1
    model = make_model([helper.make_node("MaxPool", ["x"], ["y"], **attrs)], {"x": x}, {"y": np.float32}, opset=12)
    assert_matches_ort(model, {"x": x})
    graph = ConvertedModule(model).concrete.graph
    assert "MirrorPad" in {op.type for op in graph.get_operations()}
    constants = [op.get_attr("value") for op in graph.get_operations() if op.type == "Const"]
    assert not any(np.isinf(np.frombuffer(c.tensor_content, np.float32)).any() for c in constants
                   if c.dtype == 1 and c.tensor_content)


@pytest.mark.parametrize("op, attrs", [
    ("AveragePool", {"kernel_shape": [1, 1]}),
    ("AveragePool", {"kernel_shape": [1, 1], "strides": [1, 1], "pads": [0, 0, 0, 0], "count_include_pad": 1}),
    ("MaxPool", {"kernel_shape": [1, 1], "ceil_mode": 1}),
])
def test_single_element_windows_emit_no_pool(op, attrs):
    """A 1x1, stride-1, unpadded pool (Paddle's AdaptiveAvgPool2D at its output size, in VGG-16) is the
    identity: the same values as ONNX Runtime and no pooling op in the TF graph."""
    from paddle2tf.converter.module import ConvertedModule

    from helpers.onnx_graphs import assert_matches_ort

    x = _x((2, 3, 5, 6))
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node(op, ["r"], ["y"], **attrs)]
    model = make_model(nodes, {"x": x}, {"y": np.float32}, opset=12)
    assert_matches_ort(model, {"x": x}, rtol=0, atol=0)
    op_types = {o.type for o in ConvertedModule(model).concrete.graph.get_operations()}
    assert not op_types & {"AvgPool", "MaxPool", "MaxPoolV2"}, op_types


# Issue #15: a feature map shorter than one window. Short by a stride or more, the output is empty along that axis
# (ONNX Runtime returns it; TF's VALID pool raises); short by less, ONNX Runtime and Paddle round the size toward
# zero and compute one window over the elements there are (TF's oneDNN pool raises). Static and dynamic spatial
# sizes; a dynamic map that is long enough runs through the same guard (pad to one window, trim to ONNX's size).
EMPTY_POOL_CASES = {
    "max_k2s2_height1": ("MaxPool", (2, 3, 1, 6), {"kernel_shape": [2, 2], "strides": [2, 2]}, (2, 3, 1, 3)),
    "max_k3_width2": ("MaxPool", (1, 2, 5, 2), {"kernel_shape": [3, 3]}, (1, 2, 3, 0)),
    "max_k3s2_width2": ("MaxPool", (1, 2, 5, 2), {"kernel_shape": [3, 3], "strides": [1, 2]}, (1, 2, 3, 1)),
    "max_k3s2_width1": ("MaxPool", (1, 2, 5, 1), {"kernel_shape": [3, 3], "strides": [1, 2]}, (1, 2, 3, 0)),
    "avg_k2s2_height1": ("AveragePool", (2, 3, 1, 6), {"kernel_shape": [2, 2], "strides": [2, 2]}, (2, 3, 1, 3)),
    "avg_k4s2_height1_pad": ("AveragePool", (2, 3, 1, 6), {"kernel_shape": [4, 2], "strides": [2, 2],
                                                           "pads": [1, 0, 0, 0], "count_include_pad": 1},
                             (2, 3, 0, 3)),
    "max_1d_k4": ("MaxPool", (2, 3, 3), {"kernel_shape": [4]}, (2, 3, 0)),
    "max_k2s2_long_enough": ("MaxPool", (2, 3, 5, 6), {"kernel_shape": [2, 2], "strides": [2, 2]}, (2, 3, 2, 3)),
    "max_ceil_one_window": ("MaxPool", (1, 2, 1, 5), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
                            (1, 2, 1, 3)),
}


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("name", list(EMPTY_POOL_CASES))
def test_pool_output_shorter_than_one_window(name, dynamic):
    op, shape, attrs, expected = EMPTY_POOL_CASES[name]
    x = _x(shape)
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"], dynamic_inputs=dynamic)
    want = run_ort(model, {"x": x})["y"]
    assert want.shape == expected  # what ONNX Runtime computes: the reference
    got = run_converted(model, {"x": x})["y"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
