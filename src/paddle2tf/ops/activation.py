"""Activations: Relu family, Gelu, hard/soft variants, Shrink, Softmax / LogSoftmax / Hardmax."""

from __future__ import annotations

import math

from paddle2tf.converter.registry import converter
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN
from paddle2tf.ops.shared import normalise_axis


def _zero(x):
    import tensorflow as tf

    return tf.zeros([], x.dtype)


@converter("Relu", since=1, elementwise=True)
def relu(node, inputs, attrs, ctx):
    import tensorflow as tf

    return tf.nn.relu(inputs[0])  # TF has integer Relu kernels too (Relu-14 adds int types)


@converter("LeakyRelu", since=1, elementwise=True)
def leaky_relu(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    return tf.where(x < _zero(x), x * attrs.get("alpha", 0.01), x)


@converter("PRelu", since=1, elementwise=True)
def prelu(node, inputs, attrs, ctx):
    """slope * x for x < 0; slope broadcasts to x numpy-style (e.g. per-channel [C, 1, 1])."""
    import tensorflow as tf

    x, slope = inputs[0], inputs[1]
    return tf.where(x < _zero(x), x * slope, x)


@converter("ThresholdedRelu", since=10, elementwise=True)
def thresholded_relu(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    return tf.where(x > attrs.get("alpha", 1.0), x, tf.zeros_like(x))


@converter("Elu", since=1, elementwise=True)
def elu(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    return tf.where(x < _zero(x), attrs.get("alpha", 1.0) * tf.math.expm1(x), x)


def _selu(x, alpha, gamma):
    import tensorflow as tf

    return tf.where(x > _zero(x), gamma * x, (gamma * alpha) * tf.math.expm1(x))


@converter("Selu", since=1, elementwise=True)
def selu_1(node, inputs, attrs, ctx):
    return _selu(inputs[0], attrs.get("alpha", 1.6732), attrs.get("gamma", 1.0507))  # Selu-1's defaults


@converter("Selu", since=6, elementwise=True)
def selu_6(node, inputs, attrs, ctx):
    return _selu(inputs[0], attrs.get("alpha", 1.67326319217681884765625),
                 attrs.get("gamma", 1.05070102214813232421875))


@converter("Celu", since=12, elementwise=True)
def celu(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    alpha = attrs.get("alpha", 1.0)
    return tf.maximum(_zero(x), x) + tf.minimum(_zero(x), alpha * tf.math.expm1(x / alpha))


def gelu_exact(x):
    """0.5 x (1 + erf(x / sqrt 2)), as exporters write it out. tf.nn.gelu(approximate=False) computes
    0.5 x erfc(-x / sqrt 2): measured 15-40% slower on CPU (bert_like's FFN activations, TF 2.21), while
    grappler fuses either form into a preceding MatMul + BiasAdd (_FusedMatMul with GeluExact). In this order
    (0.5 * x first) the TFLite converter also recognises it as its GELU kernel: TFLite has no Erf."""
    import tensorflow as tf

    return 0.5 * x * (1.0 + tf.math.erf(x / tf.cast(math.sqrt(2.0), x.dtype)))


@converter("Gelu", since=1, domain=INTERNAL_DOMAIN, elementwise=True)  # the fuse_gelu pass, opset < 20
@converter("Gelu", since=20, elementwise=True,
           unsupported=lambda node, attrs: None if attrs.get("approximate", "none") in (
               "none", "tanh") else f"approximate={attrs.get('approximate')!r}")
def gelu(node, inputs, attrs, ctx):
    import tensorflow as tf

    # tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as TF
    if attrs.get("approximate", "none") == "tanh":
        return tf.nn.gelu(inputs[0], approximate=True)
    return gelu_exact(inputs[0])


def _hard_sigmoid(x, alpha, beta):
    import tensorflow as tf

    return tf.minimum(tf.maximum(alpha * x + beta, _zero(x)), tf.ones([], x.dtype))


@converter("HardSigmoid", since=1, elementwise=True)
def hard_sigmoid(node, inputs, attrs, ctx):
    return _hard_sigmoid(inputs[0], attrs.get("alpha", 0.2), attrs.get("beta", 0.5))


@converter("HardSwish", since=14, elementwise=True)
def hard_swish(node, inputs, attrs, ctx):
    x = inputs[0]
    return x * _hard_sigmoid(x, 1.0 / 6.0, 0.5)


@converter("Softplus", since=1, elementwise=True)
def softplus(node, inputs, attrs, ctx):
    import tensorflow as tf

    return tf.math.softplus(inputs[0])  # log(exp(x) + 1), computed without overflow


@converter("Mish", since=18, elementwise=True)
def mish(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    return x * tf.tanh(tf.math.softplus(x))


@converter("Softsign", since=1, elementwise=True)
def softsign(node, inputs, attrs, ctx):
    import tensorflow as tf

    return tf.nn.softsign(inputs[0])


@converter("Shrink", since=9)
def shrink(node, inputs, attrs, ctx):
    """x + bias for x < -lambd, x - bias for x > lambd, else 0; integer inputs compute in double and
    truncate back, as the float attributes force."""
    import tensorflow as tf

    x = inputs[0]
    lambd, bias = attrs.get("lambd", 0.5), attrs.get("bias", 0.0)
    xf = x if x.dtype.is_floating else tf.cast(x, tf.float64)
    y = tf.where(xf < -lambd, xf + bias, tf.where(xf > lambd, xf - bias, tf.zeros_like(xf)))
    return y if y.dtype == x.dtype else tf.cast(y, x.dtype)


# -- Softmax family -------------------------------------------------------------------------------

def _softmax(x, axis):
    import tensorflow as tf

    return tf.nn.softmax(x, axis=axis)


def _log_softmax(x, axis):
    import tensorflow as tf

    return tf.nn.log_softmax(x, axis=axis)


def _hardmax(x, axis):
    """One-hot of the first maximum along ``axis`` (tf.argmax returns the first index on ties)."""
    import tensorflow as tf

    depth = x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]
    return tf.one_hot(tf.argmax(x, axis=axis), depth, axis=axis, dtype=x.dtype)


def _coerced_2d(x, axis, fn):
    """Opset < 13: ``fn`` over the last axis of x viewed as 2-D [prod(shape[:axis]), prod(shape[axis:])]."""
    import tensorflow as tf

    rank = x.shape.rank
    axis = normalise_axis(axis, rank)
    if axis == rank - 1:
        return fn(x, rank - 1)  # flattening the leading dims does not change a last-axis op
    dims = x.shape.as_list()
    if None not in dims:
        shape, outer, inner = dims, math.prod(dims[:axis]), math.prod(dims[axis:])
    else:
        shape = tf.shape(x)
        outer, inner = tf.reduce_prod(shape[:axis]), tf.reduce_prod(shape[axis:])
    y = fn(tf.reshape(x, tf.stack([outer, inner]) if hasattr(outer, "dtype") else [outer, inner]), 1)
    return tf.reshape(y, shape)


def _register_softmax_family(op_type: str, fn):
    @converter(op_type, since=1)
    def coerced(node, inputs, attrs, ctx):
        return _coerced_2d(inputs[0], attrs.get("axis", 1), fn)

    @converter(op_type, since=13)
    def single_axis(node, inputs, attrs, ctx):
        x = inputs[0]
        return fn(x, normalise_axis(attrs.get("axis", -1), x.shape.rank))

    coerced.__name__ = f"{op_type.lower()}_1"
    single_axis.__name__ = f"{op_type.lower()}_13"


for _op, _fn in (("Softmax", _softmax), ("LogSoftmax", _log_softmax), ("Hardmax", _hardmax)):
    _register_softmax_family(_op, _fn)
