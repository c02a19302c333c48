import numpy as np
import pytest
from onnx import helper

from helpers.onnx_graphs import assert_matches_ort, check_op, make_model, rng


def test_identity():
    check_op("Identity", {"x": rng().standard_normal((2, 3)).astype(np.float32)})


@pytest.mark.parametrize("start,end", [(None, None), (1, None), (-2, None), (0, -1), (-10, 10)])
def test_shape_slices(start, end):
    attrs = {k: v for k, v in {"start": start, "end": end}.items() if v is not None}
    x = rng().standard_normal((2, 3, 4, 5)).astype(np.float32)
    check_op("Shape", {"x": x}, attrs, outputs={"y": np.int64}, opset=15 if attrs else 13)


def test_shape_of_dynamic_input():
    x = rng().standard_normal((2, 3)).astype(np.float32)
    check_op("Shape", {"x": x}, outputs={"y": np.int64}, dynamic_inputs=True)


def test_constant_feeds_a_node():
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [helper.make_node("Constant", [], ["c"], value=helper.make_tensor("c", 1, [2, 3], value.ravel())),
             helper.make_node("Identity", ["c"], ["y"])]
    x = np.zeros((1,), np.float32)
    model = make_model(nodes + [helper.make_node("Identity", ["x"], ["z"])], {"x": x}, ["y", "z"])
    got = assert_matches_ort(model, {"x": x})
    np.testing.assert_array_equal(got["y"], value)


def test_sparse_constant_is_rejected_by_the_pre_scan():
    from paddle2tf.converter.prescan import find_unsupported

    sparse = helper.make_sparse_tensor(helper.make_tensor("v", 1, [2], [1.0, 2.0]),
                                       helper.make_tensor("i", 7, [2], [0, 3]), [4])
    node = helper.make_node("Constant", [], ["y"], sparse_value=sparse)
    model = make_model([node], {}, ["y"])
    assert "Constant (sparse_value)" in find_unsupported(model)


def test_identity_adds_no_op_between_a_conv_and_its_activation():
    """paddle2onnx's Identity after a Conv (MobileNetV2: Conv -> Identity -> Clip(0, 6)) is the tensor itself, so
    the Relu6 reads the BiasAdd directly and grappler can fuse them; same values as ONNX Runtime."""
    from paddle2tf.converter.module import ConvertedModule

    r = rng(3)
    x = r.standard_normal((1, 3, 8, 8)).astype(np.float32) * 4
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Identity", ["c"], ["i"]), helper.make_node("Clip", ["i", "lo", "hi"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], {"w": r.standard_normal((4, 3, 3, 3)).astype(np.float32),
                                                "b": r.standard_normal(4).astype(np.float32),
                                                "lo": np.float32(0), "hi": np.float32(6)})
    assert_matches_ort(model, {"x": x})
    ops = ConvertedModule(model).concrete.graph.get_operations()
    relu6 = [op for op in ops if op.type == "Relu6"]
    assert len(relu6) == 1 and relu6[0].inputs[0].op.type == "BiasAdd"
