"""Channels-last layout propagation: parity with ONNX Runtime and how many transposes the graph pays.

Conv/pool regions run channels-last (N...C); elementwise ops follow their inputs' layout; a consumer that
needs the ONNX layout gets one transpose back. Tolerances: the ONNX Runtime defaults of tests/helpers/onnx_graphs.py
(rtol = atol = 1e-5).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from paddle2tf.converter.module import ConvertedModule

from helpers.onnx_graphs import assert_matches_ort, make_model, rng


def transposes(model) -> int:
    graph = ConvertedModule(model).concrete.graph
    return sum(op.type == "Transpose" for op in graph.get_operations())


def conv_weights(r, c_out: int, c_in: int, k: int = 3) -> np.ndarray:
    return r.standard_normal((c_out, c_in, k, k)).astype(np.float32) * 0.3


def residual_block_model(dynamic: bool):
    """Conv-Relu-Conv + residual, MaxPool, per-channel and per-column constants, GAP, Flatten."""
    r = rng(1)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["res"], name="residual"),
        helper.make_node("MaxPool", ["res"], ["pool"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["pool", "per_channel"], ["scaled"], name="per_channel_mul"),
        helper.make_node("Add", ["scaled", "per_column"], ["shifted"], name="per_column_add"),
        helper.make_node("Clip", ["shifted", "zero", "six"], ["clipped"], name="relu6"),
        helper.make_node("GlobalAveragePool", ["clipped"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["y"], name="flatten"),
    ]
    inits = {"w1": conv_weights(r, 8, 3), "b1": r.standard_normal(8).astype(np.float32),
             "w2": conv_weights(r, 8, 8), "per_channel": r.standard_normal((8, 1, 1)).astype(np.float32),
             "per_column": r.standard_normal(5).astype(np.float32), "zero": np.float32(0), "six": np.float32(6)}
    x = r.standard_normal((2, 3, 9, 9)).astype(np.float32)
    return make_model(nodes, {"x": x}, ["y"], inits, dynamic_inputs=dynamic), {"x": x}


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_conv_region_pays_one_transpose_in_and_one_out(dynamic):
    model, feeds = residual_block_model(dynamic)
    assert_matches_ort(model, feeds)
    assert transposes(model) == 2


def test_value_needed_in_both_layouts_is_transposed_once():
    """A conv output read by a Reshape (ONNX layout) and by a Relu (channels-last) on two outputs."""
    r = rng(2)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Reshape", ["c", "shape"], ["flat"], name="reshape"),
        helper.make_node("Relu", ["c"], ["relu"], name="relu"),
        helper.make_node("Sigmoid", ["c"], ["sig"], name="sigmoid"),
    ]
    inits = {"w": conv_weights(r, 4, 3), "shape": np.array([2, -1], np.int64)}
    x = r.standard_normal((2, 3, 6, 6)).astype(np.float32)
    model = make_model(nodes, {"x": x}, ["flat", "relu", "sig"], inits)
    assert_matches_ort(model, {"x": x})
    # x in, c back once for the Reshape; Relu and Sigmoid then use that ONNX-layout c (no more transposes).
    assert transposes(model) == 2


def test_elementwise_with_onnx_layout_operands_of_lower_rank():
    """Operands that are graph inputs (not constants) of rank 3 and 1 broadcast against a conv output."""
    r = rng(3)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Mul", ["c", "gate"], ["gated"], name="gate_mul"),
        helper.make_node("Sub", ["gated", "column"], ["y"], name="column_sub"),
    ]
    x = r.standard_normal((2, 3, 6, 7)).astype(np.float32)
    gate = r.standard_normal((4, 1, 5)).astype(np.float32)
    column = r.standard_normal(5).astype(np.float32)
    feeds = {"x": x, "gate": gate, "column": column}
    for dynamic in (False, True):
        assert_matches_ort(make_model(nodes, feeds, ["y"], {"w": conv_weights(r, 4, 3)}, dynamic_inputs=dynamic),
                           feeds)


def test_concat_and_batch_norm_stay_channels_last():
    """DenseNet-style: concat of a graph input with conv outputs, then BatchNormalization and Relu."""
    r = rng(4)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["x", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["x", "c1", "c2"], ["cat"], name="concat", axis=1),
        helper.make_node("BatchNormalization", ["cat", "scale", "bias", "mean", "var"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["y"], name="relu"),
    ]
    channels = 3 + 4 + 5
    inits = {"w1": conv_weights(r, 4, 3), "w2": conv_weights(r, 5, 3),
             "scale": r.standard_normal(channels).astype(np.float32),
             "bias": r.standard_normal(channels).astype(np.float32),
             "mean": r.standard_normal(channels).astype(np.float32),
             "var": r.uniform(0.5, 2, channels).astype(np.float32)}
    x = r.standard_normal((2, 3, 6, 6)).astype(np.float32)
    model = make_model(nodes, {"x": x}, ["y"], inits)
    assert_matches_ort(model, {"x": x})
    assert transposes(model) == 2
    # The normalisation (not foldable into a Conv after the Concat) is one FusedBatchNormV3, not Mul + AddV2.
    op_types = [op.type for op in ConvertedModule(model).concrete.graph.get_operations()]
    assert op_types.count("FusedBatchNormV3") == 1 and "Mul" not in op_types, op_types


def test_average_pool_same_windows_exclude_padding():
    """count_include_pad=0 with pads equal to TF's SAME pads uses TF's SAME average (divisor = real taps)."""
    r = rng(5)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("AveragePool", ["c"], ["y"], name="avg", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
    ]
    x = r.standard_normal((1, 3, 9, 9)).astype(np.float32)
    assert_matches_ort(make_model(nodes, {"x": x}, ["y"], {"w": conv_weights(r, 4, 3, k=1)}), {"x": x})


def test_conv_of_constants_is_folded_in_onnx_layout():
    """A conv whose inputs are all constant runs at conversion time; its channels-last result is stored
    in the ONNX layout like every folded value, and a consumer reads it as usual."""
    r = rng(6)
    nodes = [helper.make_node("Conv", ["k", "w"], ["c"], name="conv_of_constants"),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    inits = {"k": r.standard_normal((1, 3, 5, 5)).astype(np.float32), "w": conv_weights(r, 2, 3)}
    x = r.standard_normal((1, 2, 3, 3)).astype(np.float32)
    model = make_model(nodes, {"x": x}, ["y"], inits)
    assert_matches_ort(model, {"x": x})
    ops = {op.type for op in ConvertedModule(model).concrete.graph.get_operations()}
    assert "Conv2D" not in ops and "Transpose" not in ops


def test_io_layout_nhwc_matches_ort_with_transposed_io():
    """--io-layout nhwc: a 4-D input and output exchanged channels-last; the values are ONNX Runtime's on the
    ONNX layout, transposed (1e-5)."""
    from helpers.onnx_graphs import run_ort

    r = np.random.default_rng(0)
    w = r.standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"]),
             helper.make_node("ReduceMean", ["y"], ["m"], axes=[2, 3], keepdims=0)]
    model = make_model(nodes, {"x": (np.float32, (2, 3, 8, 6))}, ["y", "m"], {"w": w})
    x = r.standard_normal((2, 3, 8, 6)).astype(np.float32)
    want = run_ort(model, {"x": x})
    converted = ConvertedModule(model, io_layout="nhwc")
    infos = {t.onnx_name: t for t in [*converted.signature.inputs, *converted.signature.outputs]}
    assert infos["x"].shape == [2, 8, 6, 3] and infos["x"].layout == "nhwc"
    assert infos["y"].layout == "nhwc" and infos["m"].layout == "onnx"  # rank 2 stays as is
    raw = converted.concrete(np.transpose(x, (0, 2, 3, 1)))
    np.testing.assert_allclose(raw[infos["y"].tf_name].numpy(), np.transpose(want["y"], (0, 2, 3, 1)), rtol=1e-5,
                               atol=1e-5)
    got = converted({"x": x})  # ONNX layout in and out
    for name in ("y", "m"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)
    # The conv region meets the boundary channels-last: the one layout change left is y's, for ReduceMean.
    assert sum(op.type == "Transpose" for op in converted.concrete.graph.get_operations()) == 1


def test_layout_changes_of_dynamic_and_empty_tensors():
    """NC... <-> N...C as reshape / rank-3 transpose / reshape: the same values as numpy's transpose, also with
    dynamic dims, rank 5 and an empty batch (no -1 in the reshapes)."""
    import tensorflow as tf

    from paddle2tf.converter.layout import to_channels_first, to_channels_last

    r = rng(5)
    for shape in [(2, 3, 4, 5), (1, 2, 3, 4, 5), (0, 3, 4, 5)]:
        x = r.standard_normal(shape).astype(np.float32)
        last = tf.function(to_channels_last, input_signature=[tf.TensorSpec([None] * len(shape), tf.float32)])
        first = tf.function(to_channels_first, input_signature=[tf.TensorSpec([None] * len(shape), tf.float32)])
        perm = [0, *range(2, len(shape)), 1]
        np.testing.assert_array_equal(last(x).numpy(), np.transpose(x, perm))
        np.testing.assert_array_equal(first(np.transpose(x, perm)).numpy(), x)
        np.testing.assert_array_equal(to_channels_last(tf.constant(x)).numpy(), np.transpose(x, perm))
