import numpy as np
import pytest
from onnx import helper

from paddle2tf.converter.module import ConvertedModule

from helpers.onnx_graphs import check_op, make_model, rng


def _f(*shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),          # 1-D left operand
    ((3, 4), (4,)),          # 1-D right operand
    ((4,), (4,)),            # vector dot -> scalar
    ((2, 3, 4), (4, 5)),     # batch x matrix
    ((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch dims
    ((4,), (2, 4, 3)),       # 1-D with batch on the other side
    ((2, 3, 4), (4,)),
])
def test_matmul_shapes(a_shape, b_shape):
    check_op("MatMul", {"a": _f(*a_shape), "b": _f(*b_shape, seed=1)})


def test_matmul_dynamic():
    check_op("MatMul", {"a": _f(2, 3, 4), "b": _f(2, 4, 5, seed=1)}, dynamic_inputs=True)


def test_matmul_constant_weight():
    check_op("MatMul", {"a": _f(2, 3, 4)}, initializers={"w": _f(4, 6, seed=1)})


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_matmul_linear_layer_folds_batch_axes(dynamic):
    """[B, S, K] @ [K, N] runs as one 2-D MatMul (no BatchMatMul), also with every dim symbolic."""
    feeds = {"a": _f(2, 3, 5, 4), "b": _f(4, 6, seed=1)}
    check_op("MatMul", feeds, dynamic_inputs=dynamic)
    model = make_model([helper.make_node("MatMul", ["a", "b"], ["y"])], feeds, ["y"], dynamic_inputs=dynamic)
    ops = {op.type for op in ConvertedModule(model).concrete.graph.get_operations()}
    assert "MatMul" in ops and not ops & {"BatchMatMulV2", "BatchMatMulV3"}


def test_matmul_int32():
    a = rng().integers(-5, 5, (3, 4)).astype(np.int32)
    b = rng(1).integers(-5, 5, (4, 2)).astype(np.int32)
    check_op("MatMul", {"a": a, "b": b}, outputs={"y": np.int32})


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, 2.0)])
def test_gemm(trans_a, trans_b, alpha, beta):
    a = _f(4, 3) if trans_a else _f(3, 4)
    b = _f(5, 4, seed=1) if trans_b else _f(4, 5, seed=1)
    check_op("Gemm", {"a": a, "b": b, "c": _f(3, 5, seed=2)},
             {"transA": trans_a, "transB": trans_b, "alpha": alpha, "beta": beta})


@pytest.mark.parametrize("c_shape", [(5,), (1, 5), (3, 1), (1,), ()])
def test_gemm_broadcast_c(c_shape):
    check_op("Gemm", {"a": _f(3, 4), "b": _f(4, 5, seed=1)}, {"beta": 0.5},
             initializers={"c": _f(*c_shape, seed=2)})


def test_gemm_without_c():
    check_op("Gemm", {"a": _f(3, 4), "b": _f(5, 4, seed=1)}, {"transB": 1, "alpha": 2.0})


def test_gemm_dynamic():
    check_op("Gemm", {"a": _f(3, 4), "b": _f(5, 4, seed=1), "c": _f(5, seed=2)}, {"transB": 1},
             dynamic_inputs=True)


@pytest.mark.parametrize("opset", [7, 9])
def test_gemm_old_opsets(opset):
    check_op("Gemm", {"a": _f(3, 4), "b": _f(4, 5, seed=1), "c": _f(3, 5, seed=2)}, {"alpha": 0.7},
             opset=opset)


@pytest.mark.parametrize("a_dtype,b_dtype", [(np.uint8, np.uint8), (np.int8, np.int8), (np.uint8, np.int8)])
def test_matmul_integer(a_dtype, b_dtype):
    a = rng().integers(0 if a_dtype == np.uint8 else -128, 128, (3, 4)).astype(a_dtype)
    b = rng(1).integers(0 if b_dtype == np.uint8 else -128, 128, (4, 5)).astype(b_dtype)
    check_op("MatMulInteger", {"a": a, "b": b}, outputs={"y": np.int32}, opset=10)


def test_matmul_integer_zero_points():
    a = rng().integers(0, 255, (2, 3, 4)).astype(np.uint8)
    b = rng(1).integers(0, 255, (4, 5)).astype(np.uint8)
    check_op("MatMulInteger", {"a": a, "b": b}, outputs={"y": np.int32}, opset=10,
             initializers={"a_zp": np.array(12, np.uint8), "b_zp": np.array(130, np.uint8)})


def test_matmul_integer_per_column_zero_point():
    a = rng().integers(0, 255, (3, 4)).astype(np.uint8)
    b = rng(1).integers(0, 255, (4, 5)).astype(np.uint8)
    check_op("MatMulInteger", {"a": a, "b": b}, outputs={"y": np.int32}, opset=10, dynamic_inputs=True,
             initializers={"a_zp": np.array(7, np.uint8),
                           "b_zp": rng(2).integers(0, 255, (5,)).astype(np.uint8)})


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),                          # implicit: trace
    ("ij,jk", [(3, 4), (4, 5)]),               # implicit output "ik"
    ("ba,bc", [(3, 4), (3, 5)]),               # implicit output sorted: "ac"
    ("i,i", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (1, 5, 4, 2)]),  # ellipsis broadcast, implicit output
    ("b...d,bd->b...", [(2, 3, 4, 5), (2, 5)]),
    ("bhqd, bhkd -> bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),  # spaces
    ("ij,ij->", [(3, 4), (3, 4)]),
])
def test_einsum(equation, shapes):
    inputs = {f"x{i}": _f(*s, seed=i) for i, s in enumerate(shapes)}
    check_op("Einsum", inputs, {"equation": equation}, opset=12)


def test_einsum_dynamic():
    check_op("Einsum", {"a": _f(2, 3, 4), "b": _f(2, 4, 5, seed=1)}, {"equation": "...ij,...jk->...ik"},
             opset=12, dynamic_inputs=True)


def test_einsum_int64():
    a = rng().integers(-5, 5, (3, 4)).astype(np.int64)
    b = rng(1).integers(-5, 5, (4, 2)).astype(np.int64)
    check_op("Einsum", {"a": a, "b": b}, {"equation": "ij,jk->ik"}, outputs={"y": np.int64}, opset=12)
