import numpy as np
import pytest
from onnx import helper

from helpers.onnx_graphs import assert_matches_ort, check_op, make_model, rng, run_converted, run_ort

F32, F64, I32, I64 = np.float32, np.float64, np.int32, np.int64
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-7, -1e-7, 30.0, -30.0, 100.0, -100.0], F32)


def data(shape, dtype=F32, scale=3.0, seed=0):
    return (rng(seed).standard_normal(shape) * scale).astype(dtype)


# (op, attrs, opset): every attribute variant runs on float32, dynamically shaped, and on special values
CASES = [
    ("Relu", {}, 13),
    ("LeakyRelu", {}, 13),
    ("LeakyRelu", {"alpha": 0.2}, 16),
    ("LeakyRelu", {"alpha": 1.5}, 13),
    ("Elu", {}, 13),
    ("Elu", {"alpha": 0.5}, 13),
    ("Selu", {}, 13),
    ("Selu", {"alpha": 2.0, "gamma": 0.5}, 13),
    ("Celu", {}, 13),
    ("Celu", {"alpha": 2.5}, 13),
    ("Gelu", {}, 20),
    ("Gelu", {"approximate": "none"}, 20),
    ("Gelu", {"approximate": "tanh"}, 20),
    ("HardSigmoid", {}, 13),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.6}, 13),
    ("HardSwish", {}, 14),
    ("Mish", {}, 18),
    ("Softplus", {}, 13),
    ("Softsign", {}, 13),
    ("ThresholdedRelu", {}, 10),
    ("ThresholdedRelu", {"alpha": 0.5}, 10),
    ("ThresholdedRelu", {"alpha": -1.0}, 10),
    ("Shrink", {}, 9),
    ("Shrink", {"lambd": 1.5, "bias": 0.7}, 9),
    ("Sigmoid", {}, 13),
    ("Tanh", {}, 13),
]


def case_id(case):
    op, attrs, _ = case
    return op + "".join(f"-{k}={v}" for k, v in attrs.items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_activation(case):
    op, attrs, opset = case
    check_op(op, {"x": data((2, 3, 4, 5))}, attrs, opset=opset)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_activation_specials_dynamic(case):
    op, attrs, opset = case
    check_op(op, {"x": SPECIALS}, attrs, opset=opset, dynamic_inputs=True)


# ONNX Runtime has float64 kernels only for some of these ops; for the others the reference is ONNX Runtime
# in float32 on the same values (so the float32 tolerance still applies)
ORT_FLOAT64 = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Shrink", "Mish"}


@pytest.mark.parametrize("op,opset", [("Relu", 13), ("LeakyRelu", 16), ("Elu", 13), ("Selu", 13),
                                      ("Softplus", 13), ("Sigmoid", 13), ("Tanh", 13), ("HardSigmoid", 13),
                                      ("ThresholdedRelu", 10), ("Softsign", 13), ("Gelu", 20),
                                      ("Shrink", 9), ("Mish", 18), ("HardSwish", 14)])  # Celu: float only
def test_activation_float64(op, opset):
    x = data((3, 4), F64)
    if op in ORT_FLOAT64:
        check_op(op, {"x": x}, outputs={"y": F64}, opset=opset)
        return
    node = helper.make_node(op, ["x"], ["y"])
    want = run_ort(make_model([node], {"x": x.astype(F32)}, ["y"], opset=opset), {"x": x.astype(F32)})["y"]
    got = run_converted(make_model([node], {"x": x}, {"y": F64}, opset=opset), {"x": x})["y"]
    assert got.dtype == F64
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [I32, np.int8])  # ONNX Runtime has no int64 Relu
def test_relu_integers(dtype):
    check_op("Relu", {"x": rng().integers(-10, 10, (3, 4)).astype(dtype)}, outputs={"y": dtype}, opset=14)


@pytest.mark.parametrize("dtype", [I32, I64])
def test_shrink_integers(dtype):
    # x + bias is computed in floating point and truncated back to the integer type
    x = np.arange(-5, 6, dtype=dtype)
    check_op("Shrink", {"x": x}, {"lambd": 1.5, "bias": 0.7}, outputs={"y": dtype}, opset=9)


def test_selu_opset6_defaults():
    check_op("Selu", {"x": data((3, 4))}, opset=6)


def test_selu_opset1_defaults():
    # ONNX Runtime has no Selu-1 kernel: Selu-1's defaults were alpha=1.6732, gamma=1.0507
    x = data((3, 4))
    model = make_model([helper.make_node("Selu", ["x"], ["y"])], {"x": x}, ["y"], opset=1)
    want = np.where(x > 0, 1.0507 * x, 1.0507 * 1.6732 * np.expm1(x))
    np.testing.assert_allclose(run_converted(model, {"x": x})["y"], want, rtol=1e-5, atol=1e-5)


def test_gelu_unknown_approximation_rejected():
    from paddle2tf.errors import UnsupportedModelError

    x = data((2,))
    model = make_model([helper.make_node("Gelu", ["x"], ["y"], approximate="fast")], {"x": x}, ["y"], opset=20)
    with pytest.raises(UnsupportedModelError, match="approximate"):
        run_converted(model, {"x": x})


# -- PRelu ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("slope_shape", [(1,), (3, 1, 1), (5,), (4, 5), (2, 3, 4, 5), ()])
@pytest.mark.parametrize("constant", [True, False])
def test_prelu(slope_shape, constant):
    x = data((2, 3, 4, 5))
    slope = rng(1).uniform(-0.5, 1.5, slope_shape).astype(F32)
    if constant:
        check_op("PRelu", {"x": x}, initializers={"slope": slope}, opset=9)
    else:
        check_op("PRelu", {"x": x, "slope": slope}, opset=16)


def test_prelu_dynamic():
    check_op("PRelu", {"x": data((2, 3, 4)), "slope": rng(1).uniform(0, 1, (3, 1)).astype(F32)},
             dynamic_inputs=True, opset=16)


@pytest.mark.parametrize("dtype", [F64, I32, I64])
def test_prelu_dtypes(dtype):
    x = (data((2, 3, 4)) * 3).astype(dtype)
    slope = np.array([2, 3, -1], dtype).reshape(3, 1)
    check_op("PRelu", {"x": x}, initializers={"slope": slope}, outputs={"y": dtype}, opset=16)


# -- Softmax family -------------------------------------------------------------------------------

SOFTMAX_OPS = ["Softmax", "LogSoftmax", "Hardmax"]


@pytest.mark.parametrize("op", SOFTMAX_OPS)
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
def test_softmax_opset11_flattens(op, axis):
    attrs = {} if axis is None else {"axis": axis}
    check_op(op, {"x": data((2, 3, 4))}, attrs, opset=11)


@pytest.mark.parametrize("op", SOFTMAX_OPS)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -2])
def test_softmax_opset13_single_axis(op, axis):
    attrs = {} if axis is None else {"axis": axis}
    check_op(op, {"x": data((2, 3, 4))}, attrs, opset=13)


@pytest.mark.parametrize("op", SOFTMAX_OPS)
@pytest.mark.parametrize("opset,axis", [(11, 1), (11, 2), (13, 1), (13, -1)])
def test_softmax_dynamic(op, opset, axis):
    check_op(op, {"x": data((2, 3, 4))}, {"axis": axis}, opset=opset, dynamic_inputs=True)


def test_softmax_opset1_default_axis():
    check_op("Softmax", {"x": data((2, 3, 4))}, opset=7)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_float64(op):
    check_op(op, {"x": data((2, 3, 4), F64)}, {"axis": 1}, outputs={"y": F64}, opset=13)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_large_and_infinite(op):
    x = np.array([[1000.0, 1001.0, -1000.0], [-np.inf, 0.0, 1.0], [5.0, 5.0, 5.0]], F32)
    check_op(op, {"x": x}, opset=13)


@pytest.mark.parametrize("opset", [11, 13])
def test_hardmax_ties_pick_first(opset):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, -5.0, -1.0, -1.0]], F32)
    got = check_op("Hardmax", {"x": x}, {"axis": 1 if opset == 11 else -1}, opset=opset)
    np.testing.assert_array_equal(got["y"], [[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_family_constant_folded(opset):
    # constant inputs: the converters run eagerly at conversion time
    x = data((2, 4))
    nodes = [helper.make_node("Hardmax", ["c"], ["h"], axis=1),
             helper.make_node("Softmax", ["c"], ["s"], axis=0),
             helper.make_node("PRelu", ["c", "slope"], ["p"]),
             helper.make_node("Sum", ["x", "h", "s", "p"], ["y"])]
    inits = {"c": data((2, 4), seed=3), "slope": np.array([0.5, 2.0, -1.0, 0.1], F32)}
    model = make_model(nodes, {"x": x}, ["y"], initializers=inits, opset=opset)
    assert_matches_ort(model, {"x": x})
