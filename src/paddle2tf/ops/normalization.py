"""BatchNormalization (inference), InstanceNormalization, LayerNormalization, GroupNormalization,
LpNormalization, LRN, MeanVarianceNormalization.

All of them are element-wise once the statistics are known, so they are computed with broadcasting in
the ONNX (channels-first) layout, except BatchNormalization on an input that is already channels-last
(a Conv's output), which stays in that layout.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from paddle2tf.converter.context import ChannelsLast
from paddle2tf.converter.registry import converter
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN

# -- BatchNormalization ---------------------------------------------------------------------------


def _wants_extra_outputs(node) -> bool:
    return any(name for name in node.output[1:])


def _bn_unsupported_v1(node, attrs):
    if _wants_extra_outputs(node):
        return "training-mode outputs (mean/var/saved statistics) requested"
    return None


def _bn_unsupported_v14(node, attrs):
    if attrs.get("training_mode", 0):
        return "training_mode=1"
    return _bn_unsupported_v1(node, attrs)


def _batch_norm(node, inputs, attrs, ctx, spatial: bool = True):
    """y = x * a + b with a = scale / sqrt(var + eps), b = bias - mean * a.

    Parameters have shape (C,) (spatial) or (C, D1, ..., Dk) (opset < 9 with spatial=0) and are
    broadcast against (N, C, D1, ..., Dk).
    """
    import tensorflow as tf

    eps = attrs.get("epsilon", 1e-5)
    statics = [ctx.static(i) for i in range(1, 5)]
    if all(v is not None for v in statics):
        scale, bias, mean, var = (np.asarray(v, np.float64) for v in statics)
        a = scale / np.sqrt(var + np.float64(np.float32(eps)))
        b = bias - mean * a
        # Per-channel parameters broadcast on the last axis of a channels-last input: stay in its layout.
        channels_last = ctx.has_channels_last(0) and a.ndim == 1
        x = ctx.channels_last(0) if channels_last else inputs[0]
        dtype = x.dtype.as_numpy_dtype
        shape = [-1] if channels_last else _param_shape(a.shape, x.shape.rank, spatial)
        a = ctx.constant(a.astype(dtype).reshape(shape), key="bn_scale")
        b = ctx.constant(b.astype(dtype).reshape(shape), key="bn_shift")
        if channels_last and x.shape.rank == 4 and x.dtype == tf.float32:
            return ChannelsLast(_scale_shift_nhwc(x, a, b))
        return ChannelsLast(x * a + b) if channels_last else x * a + b
    x = inputs[0]
    rank = x.shape.rank
    scale, bias, mean, var = (tf.cast(inputs[i], x.dtype) for i in range(1, 5))
    shape = _param_shape(scale.shape, rank, spatial)
    scale, bias, mean, var = (tf.reshape(t, shape) for t in (scale, bias, mean, var))
    a = scale * tf.math.rsqrt(var + tf.cast(eps, x.dtype))
    return (x - mean) * a + bias


def _param_shape(shape, rank: int, spatial: bool) -> list[int]:
    if spatial or len(shape) <= 1:
        return [1, -1] + [1] * (rank - 2)
    return [1, *shape]


def _scale_shift_nhwc(x, a, b):
    """x * a + b per channel of an NHWC float32 tensor, as TF's inference FusedBatchNormV3 with mean 0, variance 1
    and epsilon 0 (it computes x * (a * rsqrt(1)) + b: the same values). One pass over x where Mul + AddV2 make
    two; measured on [8, 28, 28, 512] followed by Relu: 9.8 vs 14.4 ms. For a BatchNormalization that cannot be
    folded into a Conv (DenseNet's, after a Concat)."""
    import tensorflow as tf

    channels = [int(a.shape[0])]
    return tf.raw_ops.FusedBatchNormV3(x=x, scale=a, offset=b, mean=np.zeros(channels, np.float32),
                                       variance=np.ones(channels, np.float32), epsilon=0.0, is_training=False,
                                       data_format="NHWC")[0]


@converter("BatchNormalization", since=1, unsupported=_bn_unsupported_v1)
def batch_norm_v1(node, inputs, attrs, ctx):
    # Opsets 1 and 6: is_test is a hint; with only Y requested the inference formula is the answer.
    return _batch_norm(node, inputs, attrs, ctx, spatial=bool(attrs.get("spatial", 1)))


@converter("BatchNormalization", since=7, unsupported=_bn_unsupported_v1)
def batch_norm_v7(node, inputs, attrs, ctx):
    return _batch_norm(node, inputs, attrs, ctx, spatial=bool(attrs.get("spatial", 1)))


@converter("BatchNormalization", since=9, unsupported=_bn_unsupported_v1)
def batch_norm_v9(node, inputs, attrs, ctx):
    return _batch_norm(node, inputs, attrs, ctx)


@converter("BatchNormalization", since=14, unsupported=_bn_unsupported_v14)
def batch_norm_v14(node, inputs, attrs, ctx):
    # From 15 scale/bias and mean/var may have their own float types; the formula is unchanged.
    return _batch_norm(node, inputs, attrs, ctx)


# -- InstanceNormalization ------------------------------------------------------------------------


@converter("InstanceNormalization", since=1)
def instance_norm(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    rank = x.shape.rank
    eps = attrs.get("epsilon", 1e-5)
    shape = [1, -1] + [1] * (rank - 2)
    scale = tf.reshape(tf.cast(inputs[1], x.dtype), shape)
    bias = tf.reshape(tf.cast(inputs[2], x.dtype), shape)
    mean, var = tf.nn.moments(x, axes=list(range(2, rank)), keepdims=True)
    return (x - mean) * (tf.math.rsqrt(var + tf.cast(eps, x.dtype)) * scale) + bias


# -- LayerNormalization ---------------------------------------------------------------------------


def _stash_dtype(x_dtype, stash_type: int):
    """The computation type: stash_type (float32 by default), never narrower than a double input."""
    import tensorflow as tf

    stash = tf.as_dtype(helper.tensor_dtype_to_np_dtype(stash_type))
    return x_dtype if x_dtype == tf.float64 else stash


def _layer_norm(xs, axes: list[int], eps: float):
    """(normalised, mean, inverse std) of xs over ``axes``.

    Written as mean, subtract, square, mean, rsqrt: measured fastest on CPU (bert_like's [8, 128, 768], TF 2.21
    with oneDNN) against tf.nn.moments, which grappler fuses into _MklLayerNorm (2-5% slower), and
    tf.nn.moments + tf.nn.batch_normalization, Keras 3's LayerNormalization (15% slower).
    """
    import tensorflow as tf

    mean = tf.reduce_mean(xs, axis=axes, keepdims=True)
    centred = xs - mean
    inv_std = tf.math.rsqrt(tf.reduce_mean(tf.square(centred), axis=axes, keepdims=True) + tf.cast(eps, xs.dtype))
    return centred * inv_std, mean, inv_std


@converter("LayerNormalization", since=1, domain=INTERNAL_DOMAIN)  # the fuse_layer_norm pass, opset < 17
@converter("LayerNormalization", since=17)
def layer_norm(node, inputs, attrs, ctx):
    """Normalise over axes [axis, rank); outputs Y, Mean and InvStdDev (both keep the reduced axes as 1)."""
    import tensorflow as tf

    x = inputs[0]
    rank = x.shape.rank
    axis = attrs.get("axis", -1)
    axis = axis + rank if axis < 0 else axis
    dtype = _stash_dtype(x.dtype, attrs.get("stash_type", 1))
    normalised, mean, inv_std = _layer_norm(tf.cast(x, dtype), list(range(axis, rank)), attrs.get("epsilon", 1e-5))
    y = tf.cast(normalised, x.dtype) * tf.cast(inputs[1], x.dtype)
    if inputs[2] is not None:
        y = y + tf.cast(inputs[2], x.dtype)
    return [y, mean, inv_std]


# -- GroupNormalization ---------------------------------------------------------------------------


def _group_normalised(x, num_groups: int, eps: float, dtype):
    """x (N, C, ...) normalised per (n, group) over C/G channels and all spatial positions.

    Returns the normalised tensor viewed as (N, G, C/G * spatial) and the original shape.
    """
    import tensorflow as tf

    shape = tf.shape(x)
    grouped = tf.reshape(tf.cast(x, dtype), tf.stack([shape[0], num_groups, -1]))
    mean, var = tf.nn.moments(grouped, axes=[2], keepdims=True)
    return (grouped - mean) * tf.math.rsqrt(var + tf.cast(eps, dtype)), shape


@converter("GroupNormalization", since=18)
def group_norm_v18(node, inputs, attrs, ctx):
    """Opset 18: scale and bias have one value per group (deprecated in 21 for this reason)."""
    import tensorflow as tf

    x = inputs[0]
    groups = attrs["num_groups"]
    normalised, shape = _group_normalised(x, groups, attrs.get("epsilon", 1e-5), x.dtype)
    scale = tf.reshape(tf.cast(inputs[1], x.dtype), [1, groups, 1])
    bias = tf.reshape(tf.cast(inputs[2], x.dtype), [1, groups, 1])
    y = tf.reshape(normalised * scale + bias, shape)
    return tf.ensure_shape(y, x.shape)


@converter("GroupNormalization", since=21)
def group_norm_v21(node, inputs, attrs, ctx):
    """Opset 21: scale and bias have one value per channel; statistics in stash_type."""
    import tensorflow as tf

    x = inputs[0]
    dtype = _stash_dtype(x.dtype, attrs.get("stash_type", 1))
    normalised, shape = _group_normalised(x, attrs["num_groups"], attrs.get("epsilon", 1e-5), dtype)
    normalised = tf.ensure_shape(tf.reshape(tf.cast(normalised, x.dtype), shape), x.shape)
    param_shape = [1, -1] + [1] * (x.shape.rank - 2)
    scale = tf.reshape(tf.cast(inputs[1], x.dtype), param_shape)
    bias = tf.reshape(tf.cast(inputs[2], x.dtype), param_shape)
    return normalised * scale + bias


# -- LpNormalization ------------------------------------------------------------------------------


@converter("LpNormalization", since=1, unsupported=lambda node, attrs: None if attrs.get("p", 2) in (1, 2)
           else f"p={attrs.get('p')} (only 1 and 2 are defined)")
def lp_norm(node, inputs, attrs, ctx):
    """x / ||x||_p along axis; a zero norm gives 0 (as ONNX Runtime does), not NaN."""
    import tensorflow as tf

    x = inputs[0]
    axis = attrs.get("axis", -1)
    if attrs.get("p", 2) == 1:
        norm = tf.reduce_sum(tf.abs(x), axis=axis, keepdims=True)
    else:
        norm = tf.sqrt(tf.reduce_sum(tf.square(x), axis=axis, keepdims=True))
    return tf.math.divide_no_nan(x, norm)


# -- LRN ------------------------------------------------------------------------------------------


@converter("LRN", since=1)
def lrn(node, inputs, attrs, ctx):
    """y = x / (bias + alpha / size * sum of x² over channels [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta.

    tf.nn.local_response_normalization has a symmetric window and does not divide alpha by size, so
    the windowed sum is built explicitly from shifted slices of the zero-padded squares.
    """
    import tensorflow as tf

    x = inputs[0]
    size = attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    rank = x.shape.rank
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    squared = tf.square(x)
    padded = tf.pad(squared, [[0, 0], [before, after]] + [[0, 0]] * (rank - 2))
    channels = tf.shape(x)[1]
    total = squared if size == 1 else sum(padded[:, i:i + channels] for i in range(size))
    total = tf.ensure_shape(total, x.shape)
    return x / tf.pow(tf.cast(bias, x.dtype) + tf.cast(alpha / size, x.dtype) * total, tf.cast(beta, x.dtype))


# -- MeanVarianceNormalization --------------------------------------------------------------------


@converter("MeanVarianceNormalization", since=9)
def mean_variance_norm(node, inputs, attrs, ctx):
    """The ONNX function body: (X - E[X]) / (sqrt(E[X²] - E[X]²) + 1e-9) over ``axes`` (default 0, 2, 3)."""
    import tensorflow as tf

    x = inputs[0]
    rank = x.shape.rank
    axes = sorted({a + rank if a < 0 else a for a in attrs.get("axes", [0, 2, 3])})
    mean = tf.reduce_mean(x, axis=axes, keepdims=True)
    mean_sq = tf.reduce_mean(tf.square(x), axis=axes, keepdims=True)
    std = tf.sqrt(mean_sq - tf.square(mean))
    return (x - mean) / (std + tf.cast(1e-9, x.dtype))
