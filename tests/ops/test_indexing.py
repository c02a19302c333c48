import numpy as np
import pytest

from helpers.onnx_graphs import check_op, rng


def f32(*shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def i64(values):
    return np.array(values, dtype=np.int64)


# -- Gather -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_constant_indices(axis, dynamic):
    indices = i64([[0, -1], [2, -3]])
    check_op("Gather", {"x": f32(3, 4, 5)}, {"axis": axis}, initializers={"i": indices}, dynamic_inputs=dynamic)


@pytest.mark.parametrize("axis", [0, 2, -2])
def test_gather_runtime_indices(axis):
    indices = np.array([1, -1, 0, -2], np.int32)
    check_op("Gather", {"x": f32(3, 4, 5), "i": indices}, {"axis": axis}, dynamic_inputs=True)


def test_gather_scalar_index_int64_data():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    check_op("Gather", {"x": x}, {"axis": 1}, initializers={"i": np.array(-1, np.int64)},
             outputs={"y": np.int64})
    check_op("Gather", {"x": x, "i": np.array(2, np.int64)}, outputs={"y": np.int64}, dynamic_inputs=True)


def test_gather_opset1():
    check_op("Gather", {"x": f32(4, 3), "i": i64([3, 0, 1])}, opset=1)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis, dynamic):
    x = f32(3, 4)
    idx_shape = {0: (2, 3), 1: (3, 2), -1: (2, 4)}[axis]
    dim = x.shape[axis]
    indices = rng(1).integers(-dim, dim, size=idx_shape).astype(np.int64)
    check_op("GatherElements", {"x": x, "i": indices}, {"axis": axis}, dynamic_inputs=dynamic)
    check_op("GatherElements", {"x": x}, {"axis": axis}, initializers={"i": indices})


def test_gather_elements_3d_int32_indices():
    x = np.arange(60, dtype=np.int64).reshape(3, 4, 5)
    indices = rng(2).integers(-4, 4, size=(3, 2, 5)).astype(np.int32)
    check_op("GatherElements", {"x": x, "i": indices}, {"axis": 1}, outputs={"y": np.int64})


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("batch_dims,indices", [
    (0, [[0, 1], [1, -1]]),
    (0, [[1], [0]]),
    (0, [[[0, 1, 2]], [[-1, -2, -3]]]),
    (1, [[1], [0]]),
    (1, [[[0, 1]], [[-1, 0]]]),
    (2, [[[1], [0], [3]], [[2], [-1], [0]]]),
])
def test_gather_nd(batch_dims, indices, dynamic):
    x = f32(2, 3, 4)
    indices = i64(indices)
    check_op("GatherND", {"x": x, "i": indices}, {"batch_dims": batch_dims}, dynamic_inputs=dynamic)
    check_op("GatherND", {"x": x}, {"batch_dims": batch_dims}, initializers={"i": indices})


def test_gather_nd_opset11_int64():
    x = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    check_op("GatherND", {"x": x, "i": i64([[1, 2], [0, -1]])}, outputs={"y": np.int64}, opset=11)


# -- ScatterND / ScatterElements ---------------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("reduction", [None, "add", "mul"])
def test_scatter_nd_slices(reduction, dynamic):
    data = f32(4, 3, 2)
    indices = i64([[0], [2], [-1]]) if reduction is None else i64([[0], [2], [2], [-4]])
    updates = f32(len(indices), 3, 2, seed=1)
    attrs = {"reduction": reduction} if reduction else {}
    check_op("ScatterND", {"x": data, "i": indices, "u": updates}, attrs, opset=16 if reduction else 13,
             dynamic_inputs=dynamic)


@pytest.mark.parametrize("reduction", [None, "add", "mul", "max", "min"])
def test_scatter_nd_elements_int64(reduction):
    data = np.arange(1, 13, dtype=np.int64).reshape(3, 4)
    indices = i64([[0, 1], [2, 3], [1, 0]] + ([] if reduction is None else [[0, 1], [2, 3]]))
    updates = rng(3).integers(-5, 6, size=len(indices)).astype(np.int64)
    attrs = {"reduction": reduction} if reduction else {}
    check_op("ScatterND", {"x": data, "u": updates}, attrs, initializers={"i": indices},
             input_names=["x", "i", "u"], outputs={"y": np.int64}, opset=18)


def test_scatter_nd_depth2_of_3():
    data = f32(2, 3, 4)
    check_op("ScatterND", {"x": data, "i": i64([[1, 2], [0, 0]]), "u": f32(2, 4, seed=4)}, opset=11)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scatter_elements(axis, dynamic):
    data = f32(3, 4)
    # distinct targets along the axis per column/row (reduction none requires no duplicates)
    indices = {0: i64([[1, 0, 2, -1], [-1, 2, 0, 1]]), 1: i64([[3, 0], [-2, 1], [0, -1]]),
               -1: i64([[3, 0], [-2, 1], [0, -1]])}[axis]
    updates = f32(*indices.shape, seed=5)
    check_op("ScatterElements", {"x": data, "i": indices, "u": updates}, {"axis": axis}, dynamic_inputs=dynamic)


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, 1])
def test_scatter_elements_reduction(reduction, axis):
    data = f32(3, 4)
    indices = rng(6).integers(-data.shape[axis], data.shape[axis], size=(4, 4) if axis == 0 else (3, 5))
    updates = f32(*indices.shape, seed=7)
    check_op("ScatterElements", {"x": data, "i": indices.astype(np.int64), "u": updates},
             {"axis": axis, "reduction": reduction}, opset=18)


def test_scatter_elements_reduction_int64_opset16():
    data = np.arange(12, dtype=np.int64).reshape(4, 3)
    indices = i64([[0, 1, 2], [0, 1, 2], [3, 3, 3]])
    updates = i64([[2, 3, 4], [5, 6, 7], [-1, -2, -3]])
    for reduction in ("add", "mul"):
        check_op("ScatterElements", {"x": data, "u": updates}, {"reduction": reduction},
                 initializers={"i": indices}, input_names=["x", "i", "u"], outputs={"y": np.int64}, opset=16)


def test_scatter_opset9():
    check_op("Scatter", {"x": f32(3, 3), "i": i64([[1, 0, 2]]), "u": f32(1, 3, seed=1)}, {"axis": 0}, opset=9)


# -- NonZero / TopK / ArgMax / ArgMin -----------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
def test_non_zero(dynamic):
    x = np.array([[1, 0, 3], [0, 0, 0], [-2, 5, 0]], np.float32)
    check_op("NonZero", {"x": x}, outputs={"y": np.int64}, dynamic_inputs=dynamic)


def test_non_zero_bool_int_and_empty():
    check_op("NonZero", {"x": np.array([[True, False], [False, True]])}, outputs={"y": np.int64})
    check_op("NonZero", {"x": np.array([0, 4, 0, 7], np.int64)}, outputs={"y": np.int64})
    check_op("NonZero", {"x": np.zeros((2, 3), np.int32)}, outputs={"y": np.int64})


def test_non_zero_scalar():
    check_op("NonZero", {"x": np.array(3.0, np.float32)}, outputs={"y": np.int64})
    check_op("NonZero", {"x": np.array(0, np.int64)}, outputs={"y": np.int64})


def test_non_zero_constant_input():
    check_op("NonZero", {}, initializers={"x": np.array([[0, 2], [3, 0]], np.int64)}, outputs={"y": np.int64})


TOPK_X = np.array([[3, 1, 3, 2, 1, 3], [0, 0, 5, 5, -1, 0]], np.float32)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("axis", [-1, 0])
def test_topk_ties_constant_k(largest, axis, dynamic):
    k = 3 if axis == -1 else 2
    check_op("TopK", {"x": TOPK_X}, {"axis": axis, "largest": largest}, outputs={"v": np.float32, "i": np.int64},
             initializers={"k": i64([k])}, opset=11, dynamic_inputs=dynamic)


@pytest.mark.parametrize("largest", [0, 1])
def test_topk_runtime_k_int64_data(largest):
    x = np.array([[5, -3, 7, 7, np.iinfo(np.int64).min, 0], [1, 1, 1, 2, 2, np.iinfo(np.int64).max]], np.int64)
    check_op("TopK", {"x": x, "k": i64([4])}, {"largest": largest}, outputs={"v": np.int64, "i": np.int64},
             opset=11, dynamic_inputs=True)


def test_topk_3d_middle_axis():
    x = f32(2, 7, 3)
    check_op("TopK", {"x": x}, {"axis": 1, "sorted": 1}, outputs={"v": np.float32, "i": np.int64},
             initializers={"k": i64([4])}, opset=11)


def test_topk_opset1_and_10():
    x = f32(3, 6)
    check_op("TopK", {"x": x}, {"k": 2}, outputs={"v": np.float32, "i": np.int64}, opset=1)
    check_op("TopK", {"x": x}, outputs={"v": np.float32, "i": np.int64}, initializers={"k": i64([5])}, opset=10)


ARG_X = np.array([[[1, 4, 4], [4, 0, 0]], [[2, 2, 1], [-1, 2, 2]]], np.float32)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("last", [0, 1])
def test_arg(op, axis, keepdims, last):
    check_op(op, {"x": ARG_X}, {"axis": axis, "keepdims": keepdims, "select_last_index": last},
             outputs={"y": np.int64}, opset=13, dynamic_inputs=axis == 1)


def test_arg_defaults_int_opset11():
    x = np.array([[3, 9, 9], [7, 1, 7]], np.int32)
    check_op("ArgMax", {"x": x}, outputs={"y": np.int64}, opset=11)
    check_op("ArgMin", {"x": x}, {"axis": 1, "keepdims": 0}, outputs={"y": np.int64}, opset=11)


# -- CumSum / OneHot ----------------------------------------------------------------------------
@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, -1])
def test_cumsum(exclusive, reverse, axis):
    check_op("CumSum", {"x": f32(3, 4)}, {"exclusive": exclusive, "reverse": reverse},
             initializers={"axis": np.array(axis, np.int64)}, dynamic_inputs=bool(reverse))


def test_cumsum_runtime_axis_int64():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    check_op("CumSum", {"x": x, "axis": np.array(1, np.int32)}, {"exclusive": 1}, outputs={"y": np.int64},
             dynamic_inputs=True)
    check_op("CumSum", {"x": x, "axis": np.array(-2, np.int64)}, {"reverse": 1}, outputs={"y": np.int64},
             opset=14)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
def test_one_hot(axis, dynamic):
    indices = i64([[0, -1, 3], [5, -5, 2]])  # 5 and -5 are out of range for depth 4
    check_op("OneHot", {"i": indices}, {"axis": axis},
             initializers={"depth": np.array(4, np.int64), "values": np.array([-1.0, 2.0], np.float32)},
             opset=11, dynamic_inputs=dynamic)


def test_one_hot_runtime_depth_int_values_float_indices():
    indices = np.array([1.0, 2.7, -1.0, 0.0], np.float32)
    check_op("OneHot", {"i": indices, "depth": np.array([3], np.int64), "values": i64([0, 7])},
             outputs={"y": np.int64}, opset=11, dynamic_inputs=True)


def test_one_hot_runtime_float_depth():
    indices = np.array([[1.0, 3.0], [-2.0, 0.0]], np.float32)
    check_op("OneHot", {"i": indices, "depth": np.array(4.0, np.float32), "values": np.array([0.5, 3.0], np.float32)},
             {"axis": 0}, opset=11, dynamic_inputs=True)


def test_one_hot_opset9():
    check_op("OneHot", {"i": i64([0, 2, 1])},
             initializers={"depth": np.array([3], np.int64), "values": np.array([0, 1], np.float32)}, opset=9)
