import numpy as np
import pytest
from onnx import helper

from helpers.onnx_graphs import assert_matches_ort, check_op, make_model, rng

OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
       "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]
# Opset at which axes became an input.
INPUT_SINCE = {op: 13 if op == "ReduceSum" else 18 for op in OPS}


def _x(op, shape=(2, 3, 4, 5), seed=0):
    x = rng(seed).standard_normal(shape).astype(np.float32)
    if op == "ReduceLogSum":
        x = np.abs(x) + 0.1  # log of a positive sum
    if op == "ReduceProd":
        x = (0.5 + rng(seed).random(shape)).astype(np.float32)  # keeps the product O(1)
    return x


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("axes,keepdims", [(None, 1), (None, 0), ([1], 1), ([1, -1], 0), ([0, 2, 3], 1)])
def test_reduce_attribute_axes(op, axes, keepdims):
    attrs = {"keepdims": keepdims}
    if axes is not None:
        attrs["axes"] = axes
    opset = INPUT_SINCE[op] - 1 if op == "ReduceSum" else 13
    check_op(op, {"x": _x(op)}, attrs, opset=opset)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([-1, 0], 0), ([], 1), (None, 0)])
def test_reduce_input_axes(op, axes, keepdims):
    init = {} if axes is None else {"axes": np.array(axes, np.int64)}
    check_op(op, {"x": _x(op)}, {"keepdims": keepdims}, initializers=init, opset=INPUT_SINCE[op])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("axes", [[], None, [2]])
def test_reduce_noop_with_empty_axes(op, axes):
    init = {} if axes is None else {"axes": np.array(axes, np.int64)}
    check_op(op, {"x": _x(op)}, {"noop_with_empty_axes": 1}, initializers=init, opset=INPUT_SINCE[op])


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceSumSquare"])
def test_reduce_dynamic_shapes(op):
    check_op(op, {"x": _x(op)}, {"keepdims": 0}, initializers={"axes": np.array([1, 3], np.int64)},
             opset=INPUT_SINCE[op], dynamic_inputs=True)


@pytest.mark.parametrize("axes", [[1, 2], []])
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_axes_computed_at_run_time(axes, noop):
    x = _x("ReduceSum")
    a = np.array(axes, np.int64)
    nodes = [helper.make_node("Identity", ["a"], ["axes"]),
             helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1, noop_with_empty_axes=noop)]
    model = make_model(nodes, {"x": x, "a": a}, ["y"], opset=13)
    assert_matches_ort(model, {"x": x, "a": a})


def test_reduce_large_sum():
    # A 4096-element sum: accumulation order differs between TF and ORT, so 1e-4 absolute.
    x = _x("ReduceSum", (4, 64, 64))
    check_op("ReduceSum", {"x": x}, {"keepdims": 0}, initializers={"axes": np.array([1, 2], np.int64)},
             rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"])
def test_reduce_int64(op):
    x = rng().integers(-3, 4, (3, 4)).astype(np.int64)
    check_op(op, {"x": x}, {"axes": [1]}, outputs={"y": np.int64}, opset=11)


def test_reduce_log_sum_exp_large_values():
    x = (rng().standard_normal((3, 4)) * 100).astype(np.float32)
    check_op("ReduceLogSumExp", {"x": x}, {"axes": [1]}, opset=13)
