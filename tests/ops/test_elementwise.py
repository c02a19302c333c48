import math

import numpy as np
import pytest
from onnx import TensorProto, helper

from helpers.onnx_graphs import assert_matches_ort, check_op, make_model, rng, run_converted

F32, F64, I32, I64 = np.float32, np.float64, np.int32, np.int64


def data(shape, dtype, low=-5, high=5, seed=0):
    g = rng(seed)
    if np.dtype(dtype).kind in "iu":
        return g.integers(low, high, size=shape).astype(dtype)
    return g.uniform(low, high, size=shape).astype(dtype)


def nonzero(shape, dtype, seed=1):
    x = data(shape, dtype, seed=seed)
    return np.where(x == 0, np.ones_like(x), x)


def specials(dtype):
    return np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5], dtype)


# -- binary arithmetic ------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [F32, F64, I32, I64])
@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((3, 1), (2, 1, 4)), ((2, 3), ())])
def test_arithmetic(op, dtype, shapes):
    a, b = data(shapes[0], dtype), nonzero(shapes[1], dtype)
    check_op(op, {"a": a, "b": b}, outputs={"y": dtype})


def test_integer_div_truncates_toward_zero():
    a = np.array([-7, 7, -7, 7, -1, 1, 0], I64)
    b = np.array([2, -2, -2, 2, 3, -3, 5], I64)
    got = check_op("Div", {"a": a, "b": b}, outputs={"y": I64})
    np.testing.assert_array_equal(got["y"], [-3, -3, 3, 3, 0, 0, 0])


def test_float_div_special_values():
    a = np.array([1.0, -1.0, 0.0, np.inf, np.nan, 3.0], F32)
    b = np.array([0.0, 0.0, 0.0, np.inf, 1.0, -0.0], F32)
    check_op("Div", {"a": a, "b": b})


@pytest.mark.parametrize("op", ["Add", "Mul", "Div"])
def test_arithmetic_dynamic(op):
    check_op(op, {"a": data((2, 3, 4), F32), "b": nonzero((3, 1), F32)}, dynamic_inputs=True)


def test_constant_operand():
    check_op("Sub", {"a": data((2, 3), F32)}, initializers={"b": np.float32(1.5)})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
@pytest.mark.parametrize("b_shape,axis", [((3, 4), 1), ((2,), 0), ((4,), None), ((), None)])
def test_legacy_broadcast_attribute(op, b_shape, axis):
    # opset 6 binary ops: ONNX Runtime has no kernels below opset 7, so compare with numpy
    a, b = data((2, 3, 4), F32, 0.5, 2), data(b_shape, F32, 0.5, 2, seed=1)
    attrs = {"broadcast": 1} | ({"axis": axis} if axis is not None else {})
    model = make_model([helper.make_node(op, ["a", "b"], ["y"], **attrs)], {"a": a, "b": b}, ["y"], opset=6)
    aligned = b.reshape(b_shape + (1,) * (3 - axis - len(b_shape))) if axis is not None else b
    want = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power}[op](a, aligned)
    np.testing.assert_allclose(run_converted(model, {"a": a, "b": b})["y"], want, rtol=1e-5, atol=1e-5)


# -- Pow ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("base,exp", [(F32, F32), (F64, F64), (F32, I32), (F32, I64), (F64, F32),
                                      (F32, F64), (I32, I32), (I64, I64), (I64, I32), (I32, F32), (I64, F64)])
def test_pow_dtypes(base, exp):
    if np.dtype(base).kind == "f":
        x = data((3, 4), base, 0.1, 3)
        y = data((4,), exp, -3, 4, seed=1)
    else:
        x = np.array([[3, 2, -1, 1, 0, 5, -2, 4], [-3, 2, -1, 1, 7, 1, -2, 0]], base)
        y = np.array([3, -1, -3, -5, 2, 0, 3, 1], exp) if np.dtype(exp).kind != "f" else \
            np.array([1.5, 0.5, 2.0, -1.0, 0.5, 1.9, 3.0, 2.5], exp)
    check_op("Pow", {"x": x, "y": y}, outputs={"z": base})


def test_pow_float_specials():
    x = np.array([-8.0, -8.0, 0.0, 0.0, np.nan, 1.0, np.inf, 2.0], F32)
    y = np.array([1 / 3, 2.0, -1.0, 0.0, 0.0, np.nan, -1.0, 0.5], F32)
    check_op("Pow", {"x": x, "y": y}, outputs={"z": F32})


def test_pow_dynamic_broadcast():
    check_op("Pow", {"x": data((2, 3, 1), F32, 0.1, 2), "y": data((1, 4), F32, -2, 2)}, outputs={"z": F32},
             dynamic_inputs=True)


# -- Mod ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [I32, I64, np.int8, np.int16, np.uint8, np.uint32])
def test_mod_integers(fmod, dtype):
    if np.dtype(dtype).kind == "u":
        a, b = data((3, 4), dtype, 0, 50), data((4,), dtype, 1, 9)
    else:
        a, b = data((3, 4), dtype, -20, 20), nonzero((4,), dtype)
    check_op("Mod", {"a": a, "b": b}, {"fmod": fmod}, outputs={"y": dtype})


@pytest.mark.parametrize("dtype", [F32, F64, np.float16])
def test_mod_float_fmod(dtype):
    a = np.array([5.5, -5.5, 5.5, -5.5, 0.0, 7.0], dtype)
    b = np.array([3.0, 3.0, -3.0, -3.0, 2.0, 7.0], dtype)
    check_op("Mod", {"a": a, "b": b}, {"fmod": 1}, outputs={"y": dtype})


def test_mod_float_floor_mode_matches_numpy():
    # fmod=0 on floats is invalid before opset 28 (ONNX Runtime refuses it): numpy's floor-mod semantics
    a = np.array([5.5, -5.5, 5.5, -5.5], F32)
    b = np.array([3.0, 3.0, -3.0, -3.0], F32)
    model = make_model([helper.make_node("Mod", ["a", "b"], ["y"])], {"a": a, "b": b}, ["y"])
    np.testing.assert_allclose(run_converted(model, {"a": a, "b": b})["y"], np.mod(a, b))


# -- variadic -------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("shapes", [[(2, 3)], [(2, 3), (2, 3)], [(2, 1, 3), (4, 1), (3,)]])
def test_variadic(op, shapes):
    inputs = {f"x{i}": data(shape, F32, seed=i) for i, shape in enumerate(shapes)}
    check_op(op, inputs)


@pytest.mark.parametrize("op,dtype", [("Max", I32), ("Max", I64), ("Max", F64), ("Min", I32), ("Min", I64),
                                      ("Min", F64), ("Sum", F64)])  # Sum: floats only
def test_variadic_dtypes(op, dtype):
    inputs = {"a": data((2, 3), dtype), "b": data((3,), dtype, seed=1), "c": data((2, 1), dtype, seed=2)}
    check_op(op, inputs, outputs={"y": dtype})


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_nan(op):
    a = np.array([np.nan, 1.0, 2.0, np.inf], F32)
    b = np.array([1.0, np.nan, 3.0, -np.inf], F32)
    check_op(op, {"a": a, "b": b})


def test_variadic_dynamic():
    check_op("Max", {"a": data((2, 1, 3), F32), "b": data((4, 1), F32, seed=1)}, dynamic_inputs=True)


# -- unary ----------------------------------------------------------------------------------------

UNARY_FLOAT = ["Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Erf",
               "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
               "Sigmoid", "Tanh"]


# ONNX Runtime has float64 kernels for these only; the others are checked against numpy in float64
ORT_FLOAT64 = {"Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
               "Sigmoid", "Tanh"}
NUMPY_UNARY = {"Erf": np.vectorize(math.erf), "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos,
               "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh, "Asinh": np.arcsinh, "Acosh": np.arccosh,
               "Atanh": np.arctanh}


@pytest.mark.parametrize("op", UNARY_FLOAT)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_unary_float(op, dtype):
    # values straddle every domain edge (Log/Sqrt of negatives, Asin of |x| > 1, ...): NaN must match
    x = np.concatenate([data((20,), dtype, -3, 3), np.array([0.5, -0.5, 1.5, 2.5, -2.5, 1.0, -1.0, 0.0], dtype)])
    if dtype == F32 or op in ORT_FLOAT64:
        check_op(op, {"x": x}, outputs={"y": dtype})
        return
    model = make_model([helper.make_node(op, ["x"], ["y"])], {"x": x}, {"y": dtype})
    with np.errstate(invalid="ignore", divide="ignore"):
        want = NUMPY_UNARY[op](x)
    np.testing.assert_allclose(run_converted(model, {"x": x})["y"], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["Neg", "Abs", "Exp", "Log", "Sqrt", "Floor", "Ceil", "Round", "Sign", "Sigmoid",
                                "Tanh", "Reciprocal", "Erf"])
def test_unary_specials(op):
    check_op(op, {"x": specials(F32)})


@pytest.mark.parametrize("op", ["Neg", "Abs", "Sign"])
@pytest.mark.parametrize("dtype", [I32, I64, np.int8])
def test_unary_integers(op, dtype):
    check_op(op, {"x": data((3, 4), dtype, -5, 6)}, outputs={"y": dtype})


@pytest.mark.parametrize("op", ["Abs", "Sign"])
def test_unary_unsigned(op):
    check_op(op, {"x": np.array([0, 1, 7, 255], np.uint8)}, outputs={"y": np.uint8})


def test_round_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001], F32)
    got = check_op("Round", {"x": x})
    np.testing.assert_array_equal(got["y"], [0, 2, 2, -0, -2, -2, 2, 3])


def test_unary_dynamic():
    check_op("Sqrt", {"x": data((2, 3, 4), F32, 0, 4)}, dynamic_inputs=True)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_isnan(dtype):
    check_op("IsNaN", {"x": specials(dtype)}, outputs={"y": np.bool_})


@pytest.mark.parametrize("neg,pos", [(None, None), (1, 0), (0, 1), (0, 0)])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_isinf(neg, pos, dtype):
    attrs = {k: v for k, v in {"detect_negative": neg, "detect_positive": pos}.items() if v is not None}
    check_op("IsInf", {"x": specials(dtype)}, attrs, outputs={"y": np.bool_})


# -- comparison and logic -------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [F32, F64, I32, I64])
def test_comparison(op, dtype):
    a, b = data((2, 3, 4), dtype, -2, 3), data((3, 1), dtype, -2, 3, seed=1)
    check_op(op, {"a": a, "b": b}, outputs={"y": np.bool_})


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparison_nan(op):
    a = np.array([np.nan, np.nan, 1.0, np.inf, -np.inf, 0.0], F32)
    b = np.array([np.nan, 1.0, np.nan, np.inf, np.inf, -0.0], F32)
    check_op(op, {"a": a, "b": b}, outputs={"y": np.bool_})


def test_equal_bool():
    a, b = np.array([True, False, True]), np.array([[True], [False]])
    check_op("Equal", {"a": a, "b": b}, outputs={"y": np.bool_})


def test_comparison_dynamic():
    check_op("Less", {"a": data((2, 3), F32), "b": data((3,), F32, seed=1)}, outputs={"y": np.bool_},
             dynamic_inputs=True)


def test_comparison_legacy_axis():
    a, b = data((2, 3, 4), F32), data((3,), F32, seed=1)
    node = helper.make_node("Greater", ["a", "b"], ["y"], broadcast=1, axis=1)
    model = make_model([node], {"a": a, "b": b}, {"y": np.bool_}, opset=6)
    np.testing.assert_array_equal(run_converted(model, {"a": a, "b": b})["y"], a > b.reshape(3, 1))


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logical(op):
    a = rng(0).integers(0, 2, (2, 3, 4)).astype(bool)
    b = rng(1).integers(0, 2, (3, 1)).astype(bool)
    check_op(op, {"a": a, "b": b}, outputs={"y": np.bool_})


def test_not():
    check_op("Not", {"x": np.array([[True, False], [False, False]])}, outputs={"y": np.bool_})


@pytest.mark.parametrize("dtype", [F32, I32, I64, np.uint8])
@pytest.mark.parametrize("dynamic", [False, True])
def test_where(dtype, dynamic):
    cond = rng(0).integers(0, 2, (2, 1, 4)).astype(bool)
    x = data((3, 4), F32).astype(dtype)
    y = data((2, 3, 1), F32, seed=1).astype(dtype)
    check_op("Where", {"c": cond, "x": x, "y": y}, outputs={"z": dtype}, dynamic_inputs=dynamic, opset=16)


# -- bitwise --------------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.uint64])
def test_bit_shift(direction, dtype):
    x = np.array([[1, 2, 3, 255], [16, 7, 128, 0]], dtype)
    y = np.array([1, 2, 0, 3], dtype)
    check_op("BitShift", {"x": x, "y": y}, {"direction": direction}, outputs={"z": dtype})


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [I32, I64, np.uint8])
def test_bitwise(op, dtype):
    a = data((2, 3, 4), dtype, 0 if np.dtype(dtype).kind == "u" else -100, 100)
    b = data((3, 1), dtype, 0, 100, seed=1)
    check_op(op, {"a": a, "b": b}, outputs={"y": dtype}, opset=18)


@pytest.mark.parametrize("dtype", [I32, I64, np.uint8])
def test_bitwise_not(dtype):
    x = data((3, 4), dtype, 0 if np.dtype(dtype).kind == "u" else -100, 100)
    check_op("BitwiseNot", {"x": x}, outputs={"y": dtype}, opset=18)


# -- Clip -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (None, 0.5), (-0.5, None), (None, None), (2.0, -1.0)])
@pytest.mark.parametrize("dtype", [F32, F64, I32, I64])
def test_clip_inputs(bounds, dtype):
    low, high = bounds
    x = data((3, 4), dtype, -3, 3)
    inits, names = {}, ["x"]
    for name, value in (("lo", low), ("hi", high)):
        if value is not None:
            inits[name] = np.array(value, dtype)
        names.append(name if value is not None else "")
    while names[-1] == "":
        names.pop()
    check_op("Clip", {"x": x}, outputs={"y": dtype}, initializers=inits, input_names=names, opset=13)


@pytest.mark.parametrize("bounds", [(0.0, 6.0), (0.0, None), (None, 1.0)], ids=["relu6", "no_max", "no_min"])
def test_clip_specials(bounds):
    """Clip(0, 6) becomes Relu6 (fusable into a conv); an absent bound clamps ±inf to the largest finite."""
    low, high = bounds
    inits = {name: np.float32(v) for name, v in (("lo", low), ("hi", high)) if v is not None}
    x = np.concatenate([data((8,), F32, -8, 8), specials(F32)])
    names = ["x", "lo" if low is not None else "", *(["hi"] if high is not None else [])]
    check_op("Clip", {"x": x}, initializers=inits, input_names=names, opset=11)


def test_clip_runtime_bounds_dynamic():
    x = np.concatenate([data((6,), F32, -3, 3), specials(F32)])
    check_op("Clip", {"x": x, "lo": np.array(-1.0, F32), "hi": np.array(2.0, F32)}, opset=11,
             dynamic_inputs=True)


def test_clip_nan_and_inf():
    check_op("Clip", {"x": specials(F32)}, initializers={"lo": np.float32(-1), "hi": np.float32(1)}, opset=11)


@pytest.mark.parametrize("attrs", [{}, {"min": -1.0}, {"max": 0.5}, {"min": -0.5, "max": 0.5}])
@pytest.mark.parametrize("opset", [1, 6])
def test_clip_attributes(attrs, opset):
    # ONNX Runtime has no Clip-1/6 kernels: compare with numpy. Clip-6 defaults are +-FLT_MAX, Clip-1 has none
    x = np.array([np.inf, -np.inf, np.nan, 3.0, -3.0, 0.25], F32)
    model = make_model([helper.make_node("Clip", ["x"], ["y"], **attrs)], {"x": x}, ["y"], opset=opset)
    default = np.finfo(F32).max if opset == 6 else np.inf
    want = np.minimum(np.maximum(x, attrs.get("min", -default)), attrs.get("max", default))
    np.testing.assert_array_equal(run_converted(model, {"x": x})["y"], want)


# -- Cast -----------------------------------------------------------------------------------------

CAST_CASES = [
    (F32, I32), (F32, I64), (F64, I32), (F32, np.int8), (F32, np.uint8), (F32, np.bool_), (F64, np.bool_),
    (I32, np.bool_), (np.bool_, F32), (np.bool_, I64), (I64, I32), (I32, I64), (I64, F32), (F32, F64),
    (F64, F32), (F32, np.float16), (np.float16, F32), (I32, F64), (F32, F32),
]


@pytest.mark.parametrize("src,dst", CAST_CASES)
def test_cast(src, dst):
    if src == np.bool_:
        x = rng().integers(0, 2, (3, 4)).astype(bool)
    elif dst == np.uint8:
        x = data((3, 4), src, 0, 200)
    else:
        x = np.concatenate([data((10,), src, -100, 100), np.array([0, -0.0, 0.5, -0.5, 2.7, -2.7], src)])
    to = helper.np_dtype_to_tensor_dtype(np.dtype(dst))
    check_op("Cast", {"x": x}, {"to": to}, outputs={"y": dst})


def test_cast_specials_to_bool():
    check_op("Cast", {"x": specials(F32)}, {"to": TensorProto.BOOL}, outputs={"y": np.bool_})


def test_cast_dynamic():
    check_op("Cast", {"x": data((2, 3), F32)}, {"to": TensorProto.INT64}, outputs={"y": I64}, dynamic_inputs=True)


def test_cast_opset1_string_type():
    x = np.array([1.7, -1.7, 0.0], F32)
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to="INT32")], {"x": x}, {"y": I32}, opset=1)
    np.testing.assert_array_equal(run_converted(model, {"x": x})["y"], [1, -1, 0])


def test_cast_to_string_rejected():
    from paddle2tf.errors import UnsupportedModelError

    x = np.array([1.0], F32)
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING)], {"x": x},
                       {"y": np.object_})
    with pytest.raises(UnsupportedModelError, match="STRING"):
        run_converted(model, {"x": x})


@pytest.mark.parametrize("src,dst", [(F32, I64), (I32, F32), (F64, np.bool_), (np.bool_, F64)])
def test_cast_like(src, dst):
    x = rng().integers(0, 2, (2, 3)).astype(bool) if src == np.bool_ else data((2, 3), src)
    like = np.zeros((1,), dst)
    check_op("CastLike", {"x": x}, initializers={"like": like}, outputs={"y": dst}, opset=15)


def test_constant_folded_chain():
    # every input of Pow/Cast/Max is constant: they run eagerly at conversion time (constant folding)
    x = data((2, 4), I64)
    nodes = [helper.make_node("Pow", ["c1", "c2"], ["p"]),
             helper.make_node("Cast", ["f"], ["fi"], to=TensorProto.INT64),
             helper.make_node("Max", ["p", "fi"], ["m"]),
             helper.make_node("Add", ["x", "m"], ["y"])]
    inits = {"c1": np.array([2, -1, 3, 1], I64), "c2": np.array([3, -3, -1, 0], I64),
             "f": np.array([-2.7, 0.5, 1.9, -0.2], F32)}
    model = make_model(nodes, {"x": x}, {"y": I64}, initializers=inits)
    assert_matches_ort(model, {"x": x})


@pytest.mark.parametrize("to", [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E5M2])
@pytest.mark.parametrize("saturate", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_cast_to_float8_matches_onnx_reference_bits(to, saturate, dtype):
    """ONNX Runtime has no float8 numpy type: compare the bit patterns with the ONNX reference."""
    from onnx.reference import ReferenceEvaluator

    import paddle2tf.tools.backend

    x = np.array([0.0, -0.0, 0.3, -1.7, 100.0, 449.0, 6e4, -6e4, np.inf, -np.inf, np.nan, 3e-5], dtype)
    node = helper.make_node("Cast", ["x"], ["y"], to=to, saturate=saturate)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(
        np.dtype(dtype)), [12])], [helper.make_tensor_value_info("y", to, [12])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = paddle2tf.tools.backend.prepare(model).run([x])[0]
    assert got.view(np.uint8).tolist() == expected.view(np.uint8).tolist()


def test_bfloat16_model_input_and_output():
    """bfloat16 signatures are bfloat16 (not the float32 storage type); the backend speaks raw bits."""
    import paddle2tf.tools.backend

    x = np.array([1.0, -2.5, 3.14159, 65504.0], np.float32)
    cast = helper.make_node("Cast", ["x"], ["b"], to=TensorProto.BFLOAT16)
    back = helper.make_node("Cast", ["b"], ["y"], to=TensorProto.FLOAT)
    graph = helper.make_graph([cast, back], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("b", TensorProto.BFLOAT16, [4]),
                               helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    bits, y = paddle2tf.tools.backend.prepare(model).run([x])
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(y, (bits.astype(np.uint32) << 16).view(np.float32))
    np.testing.assert_allclose(y, x, rtol=1e-2)
