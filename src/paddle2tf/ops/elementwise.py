"""Elementwise arithmetic, math, comparison, logical, bitwise, Clip, Cast and Sigmoid/Tanh.

ONNX broadcasting is numpy-style from opset 7 (8 for the variadic ops), which TF's binary ops do too.
Before opset 7 the binary ops took ``broadcast``/``axis`` attributes: only ``axis`` needs work (the
right operand is aligned at ``axis`` instead of at the end), suffix matching is numpy broadcasting.
"""

from __future__ import annotations

import functools

from onnx import TensorProto

from paddle2tf.converter.registry import converter
from paddle2tf.onnxutil.dtypes import DTYPE_NAMES as ONNX_TO_TF_DTYPE
from paddle2tf.ops.shared import normalise_axis

FLT_MAX = 3.4028234663852886e38  # numeric_limits<float>::max(), the Clip-6 attribute defaults

# Largest finite value of the float8 types: Cast's saturate=1 (the default) clamps to it.
FLOAT8_MAX = {"float8_e4m3fn": 448.0, "float8_e5m2": 57344.0}


def _legacy_rhs(a, b, attrs):
    """Opset < 7 ``broadcast=1, axis=k``: B's dims line up with A's from ``axis`` on (trailing 1s added)."""
    import tensorflow as tf

    if not attrs.get("broadcast", 0) or "axis" not in attrs:
        return b
    trailing = a.shape.rank - normalise_axis(attrs["axis"], a.shape.rank) - b.shape.rank
    for _ in range(max(trailing, 0)):
        b = tf.expand_dims(b, -1)
    return b


def _via(x, dtype, fn):
    """``fn(x)`` computed in ``dtype`` (for dtypes TF has no kernel for), cast back to x's dtype."""
    import tensorflow as tf

    return tf.cast(fn(tf.cast(x, dtype)), x.dtype)


# -- binary arithmetic ------------------------------------------------------------------------------

def _register_binary(op_type: str, since: int, compute):
    @converter(op_type, since=since, elementwise=True)
    def convert(node, inputs, attrs, ctx):
        import tensorflow as tf

        a = inputs[0]
        return compute(tf, a, _legacy_rhs(a, inputs[1], attrs))

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


def _div(tf, a, b):
    if a.dtype.is_integer:
        return tf.truncatediv(a, b)  # ONNX integer Div truncates toward zero
    return tf.realdiv(a, b)


_BINARY = {
    # op: (first opset, compute(tf, a, b))
    "Add": (1, lambda tf, a, b: tf.add(a, b)),
    "Sub": (1, lambda tf, a, b: tf.subtract(a, b)),
    "Mul": (1, lambda tf, a, b: tf.multiply(a, b)),
    "Div": (1, _div),
    "Equal": (1, lambda tf, a, b: tf.equal(a, b)),
    "Less": (1, lambda tf, a, b: tf.less(a, b)),
    "Greater": (1, lambda tf, a, b: tf.greater(a, b)),
    "LessOrEqual": (12, lambda tf, a, b: tf.less_equal(a, b)),
    "GreaterOrEqual": (12, lambda tf, a, b: tf.greater_equal(a, b)),
    "And": (1, lambda tf, a, b: tf.logical_and(a, b)),
    "Or": (1, lambda tf, a, b: tf.logical_or(a, b)),
    "Xor": (1, lambda tf, a, b: tf.math.logical_xor(a, b)),
    "BitwiseAnd": (18, lambda tf, a, b: tf.bitwise.bitwise_and(a, b)),
    "BitwiseOr": (18, lambda tf, a, b: tf.bitwise.bitwise_or(a, b)),
    "BitwiseXor": (18, lambda tf, a, b: tf.bitwise.bitwise_xor(a, b)),
}

for _op, (_since, _compute) in _BINARY.items():
    _register_binary(_op, _since, _compute)


@converter("Pow", since=1, elementwise=True)
def pow_(node, inputs, attrs, ctx):
    """Pow: the exponent may have another dtype (opset 12+); the result has the base's dtype."""
    import tensorflow as tf

    x = inputs[0]
    y = _legacy_rhs(x, inputs[1], attrs)
    if x.dtype.is_floating:
        if y.dtype == x.dtype:
            return tf.pow(x, y)
        if y.dtype.is_floating:  # compute in the wider float, like C++ promotion does
            wide = tf.float64 if tf.float64 in (x.dtype, y.dtype) else tf.float32
            return tf.cast(tf.pow(tf.cast(x, wide), tf.cast(y, wide)), x.dtype)
        return tf.pow(x, tf.cast(y, x.dtype))
    if y.dtype.is_floating:  # integer base, float exponent: pow in double, truncated to the base dtype
        return tf.cast(tf.pow(tf.cast(x, tf.float64), tf.cast(y, tf.float64)), x.dtype)
    # integer ** integer: exact; a negative exponent gives 1/x**n truncated (TF refuses those)
    y = tf.cast(y, x.dtype)
    zero, one = tf.zeros([], x.dtype), tf.ones([], x.dtype)
    positive = tf.pow(x, tf.maximum(y, zero))
    odd = tf.not_equal(tf.math.floormod(y, 2 * one), zero)
    negative = tf.where(tf.equal(x, one), one,
                        tf.where(tf.equal(x, -one), tf.where(odd, -one, one), zero))
    return tf.where(tf.less(y, zero), negative, positive)


@converter("Mod", since=10)
def mod(node, inputs, attrs, ctx):
    """fmod=0: sign of the divisor (floormod); fmod=1: sign of the dividend (C fmod, truncatemod).

    The spec requires fmod=1 for floats (ONNX Runtime rejects fmod=0 there); fmod=0 on floats is
    computed as numpy's floor-mod, the natural extension.
    """
    import tensorflow as tf

    a, b = inputs[0], inputs[1]
    if not attrs.get("fmod", 0) or a.dtype.is_unsigned:  # unsigned: both modes agree
        return tf.math.floormod(a, b)
    if a.dtype in (tf.int8, tf.int16, tf.float16, tf.bfloat16):  # no TruncateMod kernel: widen (exact)
        wide = tf.float32 if a.dtype.is_floating else tf.int32
        return tf.cast(tf.truncatemod(tf.cast(a, wide), tf.cast(b, wide)), a.dtype)
    return tf.truncatemod(a, b)


@converter("BitShift", since=11, unsupported=lambda node, attrs: None if attrs.get("direction") in (
    "LEFT", "RIGHT") else f"direction={attrs.get('direction')!r}")
def bit_shift(node, inputs, attrs, ctx):
    import tensorflow as tf

    shift = tf.bitwise.left_shift if attrs["direction"] == "LEFT" else tf.bitwise.right_shift
    return shift(inputs[0], inputs[1])


# -- variadic -------------------------------------------------------------------------------------

def _operands(inputs):
    # index, never iterate: NodeInputs returns None past its end, so its iterator does not stop
    values = [inputs[i] for i in range(len(inputs)) if inputs[i] is not None]
    if not values:
        raise ValueError("variadic op without inputs")
    return values


@converter("Max", since=1, elementwise=True)
def max_(node, inputs, attrs, ctx):
    import tensorflow as tf

    return functools.reduce(tf.maximum, _operands(inputs))  # NaN propagates, as in ONNX Runtime


@converter("Min", since=1, elementwise=True)
def min_(node, inputs, attrs, ctx):
    import tensorflow as tf

    return functools.reduce(tf.minimum, _operands(inputs))


@converter("Sum", since=1, elementwise=True)
def sum_(node, inputs, attrs, ctx):
    import tensorflow as tf

    return functools.reduce(tf.add, _operands(inputs))  # not add_n: operands broadcast


@converter("Mean", since=1, elementwise=True)
def mean(node, inputs, attrs, ctx):
    import tensorflow as tf

    values = _operands(inputs)
    total = functools.reduce(tf.add, values)
    return tf.realdiv(total, tf.constant(len(values), total.dtype))


# -- unary ----------------------------------------------------------------------------------------

def _register_unary(op_type: str, since: int, compute):
    @converter(op_type, since=since, elementwise=True)
    def convert(node, inputs, attrs, ctx):
        import tensorflow as tf

        return compute(tf, inputs[0])

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


_UNARY = {
    # op: (first opset, compute(tf, x)); all are the TF op of the same meaning, on the same dtypes
    "Neg": (1, lambda tf, x: tf.negative(x)),
    "Exp": (1, lambda tf, x: tf.exp(x)),
    "Log": (1, lambda tf, x: tf.math.log(x)),
    "Sqrt": (1, lambda tf, x: tf.sqrt(x)),
    "Reciprocal": (1, lambda tf, x: tf.math.reciprocal(x)),
    "Floor": (1, lambda tf, x: tf.floor(x)),
    "Ceil": (1, lambda tf, x: tf.math.ceil(x)),
    "Round": (11, lambda tf, x: tf.round(x)),  # half to even in both
    "Sin": (7, lambda tf, x: tf.sin(x)),
    "Cos": (7, lambda tf, x: tf.cos(x)),
    "Tan": (7, lambda tf, x: tf.tan(x)),
    "Asin": (7, lambda tf, x: tf.asin(x)),
    "Acos": (7, lambda tf, x: tf.acos(x)),
    "Atan": (7, lambda tf, x: tf.atan(x)),
    "Sinh": (9, lambda tf, x: tf.sinh(x)),
    "Cosh": (9, lambda tf, x: tf.cosh(x)),
    "Asinh": (9, lambda tf, x: tf.asinh(x)),
    "Acosh": (9, lambda tf, x: tf.acosh(x)),
    "Atanh": (9, lambda tf, x: tf.atanh(x)),
    "IsNaN": (9, lambda tf, x: tf.math.is_nan(x)),
    "Not": (1, lambda tf, x: tf.logical_not(x)),
    "BitwiseNot": (18, lambda tf, x: tf.bitwise.invert(x)),
    "Sigmoid": (1, lambda tf, x: tf.sigmoid(x)),
    "Tanh": (1, lambda tf, x: tf.tanh(x)),
}

for _op, (_since, _compute) in _UNARY.items():
    _register_unary(_op, _since, _compute)


@converter("Abs", since=1, elementwise=True)
def abs_(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    return tf.identity(x) if x.dtype.is_unsigned else tf.abs(x)  # TF has no unsigned Abs kernel


@converter("Sign", since=9, elementwise=True)
def sign(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    if x.dtype.is_unsigned:  # TF has no unsigned Sign kernel
        return tf.cast(tf.greater(x, tf.zeros([], x.dtype)), x.dtype)
    return tf.sign(x)


@converter("Erf", since=9, elementwise=True)
def erf(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    if x.dtype.is_floating:
        return tf.math.erf(x)
    return _via(x, tf.float64, tf.math.erf)  # integer Erf: erf computed in double, cast back


@converter("IsInf", since=10)
def is_inf(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    negative, positive = attrs.get("detect_negative", 1), attrs.get("detect_positive", 1)
    if negative and positive:
        return tf.math.is_inf(x)
    if positive:
        return tf.equal(x, tf.constant(float("inf"), x.dtype))
    if negative:
        return tf.equal(x, tf.constant(float("-inf"), x.dtype))
    return tf.zeros_like(x, dtype=tf.bool)


@converter("Where", since=9, elementwise=True)
def where(node, inputs, attrs, ctx):
    import tensorflow as tf

    return tf.where(inputs[0], inputs[1], inputs[2])  # where_v2: broadcasts all three


# -- Clip -----------------------------------------------------------------------------------------

def _clip(x, low, high):
    """Min(high, Max(x, low)): when low > high every value becomes high (spec); NaN propagates."""
    import tensorflow as tf

    def bound(value):  # a tensor input, or an attribute float (float16 turns FLT_MAX into inf)
        return tf.cast(value if hasattr(value, "dtype") else tf.constant(value, tf.float64), x.dtype)

    if low is not None:
        x = tf.maximum(x, bound(low))
    if high is not None:
        x = tf.minimum(x, bound(high))
    return x


@converter("Clip", since=1, elementwise=True)
def clip_1(node, inputs, attrs, ctx):
    return _clip(inputs[0], attrs.get("min"), attrs.get("max"))  # Clip-1: no defaults, absent = unbounded


@converter("Clip", since=6, elementwise=True)
def clip_6(node, inputs, attrs, ctx):
    return _clip(inputs[0], attrs.get("min", -FLT_MAX), attrs.get("max", FLT_MAX))


@converter("Clip", since=11, elementwise=True)
def clip_11(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    if x.dtype.is_floating and (_static_scalar(ctx, 1), _static_scalar(ctx, 2)) == (0.0, 6.0):
        return tf.nn.relu6(x)  # the form grappler fuses into a preceding convolution; NaN stays NaN
    # An absent bound is the type's limit (numeric_limits lowest/max), so ±inf clamps to the largest finite.
    low = inputs[1] if ctx.has_input(1) else (x.dtype.min if x.dtype.is_floating else None)
    high = inputs[2] if ctx.has_input(2) else (x.dtype.max if x.dtype.is_floating else None)
    return _clip(x, low, high)


def _static_scalar(ctx, index: int) -> float | None:
    value = ctx.static(index)
    return float(value) if value is not None and value.size == 1 else None


# -- Cast -----------------------------------------------------------------------------------------

def _target_dtype(to) -> str | None:
    if isinstance(to, str):  # Cast-1: the type's name
        try:
            to = TensorProto.DataType.Value(to.upper())
        except ValueError:
            return None
    return ONNX_TO_TF_DTYPE.get(to)


def _cast_unsupported(node, attrs):
    """Targets without an exact TF cast: STRING, FLOAT8E4M3FNUZ, FLOAT8E5M2FNUZ, INT4, UINT4."""
    to = attrs.get("to")
    if _target_dtype(to) is not None:
        return None
    try:
        name = to if isinstance(to, str) else TensorProto.DataType.Name(to)
    except ValueError:
        name = str(to)
    return f"cast to {name}"


def cast_to(x, dtype, saturate: bool = True):
    """ONNX Cast: float->int truncates toward zero (tf.cast does), anything->bool is x != 0.

    To float8 (round to nearest even in both): ``saturate`` (default) clamps out-of-range values to
    the type's largest finite value, and infinities too for E4M3FN (E5M2 keeps them); without it
    TF's conversion gives what the spec asks (NaN for E4M3FN, inf for E5M2).
    """
    import tensorflow as tf

    dtype = tf.as_dtype(dtype)
    if x.dtype == dtype:
        return tf.identity(x)
    if x.dtype == tf.string or dtype == tf.string:
        raise NotImplementedError("Cast from/to string")
    if dtype == tf.bool:
        return tf.not_equal(x, tf.zeros([], x.dtype))
    if dtype.name in FLOAT8_MAX:
        if x.dtype.name in FLOAT8_MAX:  # float8 -> float8: through float32 (exact widening)
            x = tf.cast(x, tf.float32)
        if not x.dtype.is_floating:
            x = tf.cast(x, tf.float32)
        if saturate:  # out-of-range values and infinities become the largest finite value
            limit = tf.constant(FLOAT8_MAX[dtype.name], x.dtype)
            x = tf.where(x > limit, limit, tf.where(x < -limit, -limit, x))  # NaN stays NaN
        if dtype.name == "float8_e5m2":
            return _to_e5m2_canonical_nan(x)
    return tf.cast(x, dtype)


def _to_e5m2_canonical_nan(x):
    """float -> E5M2 with ONNX's NaN encoding (0x7F | sign); TF's cast gives 0x7E for a quiet NaN.

    E5M2 is the top byte of float16: the rounded value goes through float16 exactly, NaNs are
    replaced by the float16 NaN 0x7F00 (with the input's sign), whose conversion keeps that byte.
    """
    import tensorflow as tf
    from tensorflow.python.framework import dtypes

    exact = tf.cast(tf.cast(x, dtypes.float8_e5m2), tf.float16)
    bits, width = (tf.bitcast(x, tf.uint64), 64) if x.dtype == tf.float64 else (
        tf.bitcast(tf.cast(x, tf.float32), tf.uint32), 32)  # float16 -> float32 keeps a NaN's sign
    sign = tf.cast(tf.bitwise.right_shift(bits, tf.constant(width - 1, bits.dtype)), tf.uint16)
    nan = tf.bitcast(tf.bitwise.bitwise_or(tf.bitwise.left_shift(sign, tf.constant(15, tf.uint16)),
                                           tf.constant(0x7F00, tf.uint16)), tf.float16)
    return tf.cast(tf.where(tf.math.is_nan(x), nan, exact), dtypes.float8_e5m2)



@converter("Cast", since=1, elementwise=True, unsupported=_cast_unsupported)
def cast(node, inputs, attrs, ctx):
    return cast_to(inputs[0], _target_dtype(attrs["to"]), bool(attrs.get("saturate", 1)))


@converter("CastLike", since=15)
def cast_like(node, inputs, attrs, ctx):
    return cast_to(inputs[0], inputs[1].dtype, bool(attrs.get("saturate", 1)))
