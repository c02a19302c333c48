"""QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, QLinearConv, ConvInteger, FakeQuant.

Integer arithmetic is done exactly: products of (x - zero_point) terms are accumulated in float64
(exact for any realistic int8/uint8 reduction size), like the int32 accumulators of the spec.
Rounding is half to even (``tf.round``), as the spec's ``rint``; results saturate to the output type.
"""

from __future__ import annotations

from onnx import TensorProto

from paddle2tf.converter.registry import converter
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN
from paddle2tf.ops.conv import check_conv_attrs, conv_checks
from paddle2tf.ops.shared import normalise_axis

# Integer quantized types: (TF dtype, min, max).
INTEGER_RANGES = {
    "uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767),
}
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")
OUTPUT_DTYPES = {
    TensorProto.UINT8: "uint8", TensorProto.INT8: "int8", TensorProto.UINT16: "uint16",
    TensorProto.INT16: "int16", TensorProto.FLOAT8E4M3FN: "float8_e4m3fn", TensorProto.FLOAT8E5M2: "float8_e5m2",
}


def _check_output_dtype(node, attrs):
    """output_dtype other than (u)int8, (u)int16, FLOAT8E4M3FN, FLOAT8E5M2 (4-bit and FNUZ types)."""
    output_dtype = attrs.get("output_dtype", 0)
    if output_dtype and output_dtype not in OUTPUT_DTYPES:
        return f"output_dtype={TensorProto.DataType.Name(output_dtype)}"
    return None


def per_axis(param, x, axis: int, block_size: int = 0):
    """A scale/zero point broadcastable to x: scalar (per tensor), 1-D along ``axis``, or blocked."""
    import tensorflow as tf

    rank = x.shape.rank
    if param.shape.rank == 0:
        return param
    axis = normalise_axis(axis, rank)
    if block_size:
        index = tf.range(tf.shape(x)[axis]) // block_size
        return tf.gather(param, index, axis=axis)
    if param.shape.rank == 1 and rank > 0:
        return tf.reshape(param, [-1 if i == axis else 1 for i in range(rank)])
    return param


def saturate_to(values, dtype: str):
    """Rounded float values -> integer dtype, clamped to its range."""
    import tensorflow as tf

    low, high = INTEGER_RANGES[dtype]
    return tf.cast(tf.clip_by_value(values, tf.cast(low, values.dtype), tf.cast(high, values.dtype)), dtype)


def quantize(x, scale, zero_point, dtype: str, saturate: bool = True):
    """saturate(round(x / scale) + zero_point); float8 outputs have no zero point (it must be 0)."""
    import tensorflow as tf

    from paddle2tf.ops.elementwise import cast_to

    scaled = x / tf.cast(scale, x.dtype)
    if dtype in FLOAT8_TYPES:
        return cast_to(tf.cast(scaled, tf.float32), dtype, saturate)
    if dtype not in INTEGER_RANGES:
        raise NotImplementedError(f"QuantizeLinear to {dtype}")
    wide = tf.float64 if x.dtype == tf.float64 else tf.float32
    values = tf.round(tf.cast(scaled, wide))
    if zero_point is not None:
        values = values + tf.cast(zero_point, wide)
    return saturate_to(values, dtype)


@converter("QuantizeLinear", since=10, unsupported=_check_output_dtype)
def quantize_linear(node, inputs, attrs, ctx):
    """One converter for 10 (per tensor), 13 (axis), 19 (float8, saturate), 21 (blocks, output_dtype)."""
    x, scale, zero_point = inputs[0], inputs[1], inputs[2]
    axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
    if zero_point is not None:
        dtype = zero_point.dtype.name
        zero_point = per_axis(zero_point, x, axis, block)
    else:
        dtype = OUTPUT_DTYPES.get(attrs.get("output_dtype", 0), "uint8")
    if dtype in FLOAT8_TYPES:
        zero_point = None
    return quantize(x, per_axis(scale, x, axis, block), zero_point, dtype, bool(attrs.get("saturate", 1)))


@converter("DequantizeLinear", since=10)
def dequantize_linear(node, inputs, attrs, ctx):
    """(x - zero_point) * scale, in the scale's dtype (computed in float32, or float64 for doubles)."""
    import tensorflow as tf

    x, scale, zero_point = inputs[0], inputs[1], inputs[2]
    axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
    wide = tf.float64 if scale.dtype == tf.float64 or x.dtype in (tf.int32,) else tf.float32
    values = tf.cast(x, wide)
    if zero_point is not None:
        values = values - tf.cast(per_axis(zero_point, x, axis, block), wide)
    return tf.cast(values * tf.cast(per_axis(scale, x, axis, block), wide), scale.dtype)


@converter("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(node, inputs, attrs, ctx):
    """uint8 quantization over the range [min(0, min x), max(0, max x)]: y, y_scale, y_zero_point."""
    import tensorflow as tf

    x = inputs[0]
    low = tf.minimum(tf.reduce_min(x), 0.0)
    high = tf.maximum(tf.reduce_max(x), 0.0)
    scale = (high - low) / 255.0
    zero_point = saturate_to(tf.round(0.0 - low / scale), "uint8")
    return [quantize(x, scale, zero_point, "uint8"), scale, zero_point]


def _requantize(accumulated, multiplier, zero_point, dtype: str):
    """saturate(round(accumulated * multiplier) + zero_point), in float64 (the products are exact)."""
    import tensorflow as tf

    values = accumulated * tf.cast(multiplier, tf.float64)
    if zero_point is not None:
        values = values + tf.cast(zero_point, tf.float64)
    return saturate_to(tf.round(values), dtype)


def _centred(x, zero_point, zero_point_shape=None):
    import tensorflow as tf

    values = tf.cast(x, tf.float64)
    if zero_point is None:
        return values
    zero_point = tf.cast(zero_point, tf.float64)
    if zero_point_shape is not None and zero_point.shape.rank == 1:
        zero_point = tf.reshape(zero_point, zero_point_shape)
    return values - zero_point


def _qlinear_matmul_check(node, attrs, values):
    """int8 output: the ONNX node tests expect out-of-range results to wrap around (the ONNX reference
    casts without saturating); the spec and ONNX Runtime saturate to [-128, 127], like this converter."""
    output_type = values.elem_type(node.input[7] if len(node.input) > 7 and node.input[7] else node.input[0])
    if output_type == TensorProto.INT8:
        return "int8 output: the ONNX reference wraps around, the spec and ONNX Runtime saturate"
    return None


@converter("QLinearMatMul", since=10, unsupported=_qlinear_matmul_check)
def qlinear_matmul(node, inputs, attrs, ctx):
    """(a - a_zp) @ (b - b_zp) * (a_scale * b_scale / y_scale) + y_zp; per-row a / per-column b params."""
    from paddle2tf.ops.matmul import numpy_matmul

    a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = (inputs[i] for i in range(8))
    row = [-1, 1] if a.shape.rank and a.shape.rank >= 2 else None
    a_scale_ = a_scale
    if row is not None and a_scale.shape.rank == 1:
        import tensorflow as tf

        a_scale_ = tf.reshape(a_scale, row)
    accumulated = numpy_matmul(_centred(a, a_zp, row), _centred(b, b_zp))
    multiplier = a_scale_ * b_scale / y_scale
    dtype = (y_zp if y_zp is not None else a).dtype.name
    return _requantize(accumulated, multiplier, y_zp, dtype)


class _NoStatics:
    """A converter context whose inputs are never constant (the conv builds its filter in TF)."""

    def static(self, index):
        return None


def _integer_conv(node, x, x_zp, w, w_zp, attrs):
    """conv(x - x_zp, w - w_zp) in float64 (exact), NC... layout; w_zp may be per output channel."""
    from paddle2tf.converter.layout import to_channels_first, to_channels_last
    from paddle2tf.ops.conv import convolve

    rank = x.shape.rank
    x_centred = _centred(x, x_zp)
    w_centred = _centred(w, w_zp, [-1] + [1] * (rank - 1))
    return to_channels_first(convolve(to_channels_last(x_centred), w_centred, None, attrs, _NoStatics()))


@converter("ConvInteger", since=10, unsupported=check_conv_attrs)
def conv_integer(node, inputs, attrs, ctx):
    import tensorflow as tf

    return tf.cast(_integer_conv(node, inputs[0], inputs[2], inputs[1], inputs[3], attrs), tf.int32)


@converter("QLinearConv", since=10, unsupported=conv_checks(weight_index=3))
def qlinear_conv(node, inputs, attrs, ctx):
    """saturate(round((conv(x - x_zp, w - w_zp) + B) * x_scale * w_scale / y_scale) + y_zp)."""
    import tensorflow as tf

    x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias = (inputs[i] for i in range(9))
    rank = x.shape.rank
    accumulated = _integer_conv(node, x, x_zp, w, w_zp, attrs)
    if bias is not None:
        accumulated = accumulated + tf.reshape(tf.cast(bias, tf.float64), [-1] + [1] * (rank - 2))
    if w_scale.shape.rank == 1:  # per output channel
        w_scale = tf.reshape(w_scale, [-1] + [1] * (rank - 2))
    multiplier = tf.cast(x_scale, tf.float32) * tf.cast(w_scale, tf.float32) / tf.cast(y_scale, tf.float32)
    dtype = (y_zp if y_zp is not None else x).dtype.name
    return _requantize(accumulated, multiplier, y_zp, dtype)


@converter("FakeQuant", since=1, domain=INTERNAL_DOMAIN, foldable=False, elementwise=True)
def fake_quant(node, inputs, attrs, ctx):
    """The qdq_as_fake_quant pass (``--tflite int8`` with the model's scales): 2^8 levels over [min, max]; never
    folded, so TFLite's converter reads the range from the op."""
    import tensorflow as tf

    return tf.quantization.fake_quant_with_min_max_vars(tf.cast(inputs[0], tf.float32), attrs["min"], attrs["max"],
                                                        num_bits=8, narrow_range=False)
