"""Dropout (inference), EyeLike, Compress, CenterCropPad, the window functions, Det, ReverseSequence, Unique."""

from __future__ import annotations

import math

import numpy as np

from paddle2tf.converter.registry import converter
from paddle2tf.errors import UnsupportedModelError
from paddle2tf.onnxutil.dtypes import DTYPE_NAMES as ONNX_TO_TF_DTYPE
from paddle2tf.ops.shared import normalise_axis


# -- Dropout -----------------------------------------------------------------------------------------
@converter("Dropout", since=1)
def dropout(node, inputs, attrs, ctx):
    """Inference: the output is the input and the mask all ones (bool from opset 10, else x's dtype).

    Before opset 7 ``is_test`` selected the mode; like ONNX Runtime, the converter always runs
    inference (models are exported for inference). From opset 12 a ``training_mode`` input must be
    absent or constant false: a training-mode dropout is random.
    """
    import tensorflow as tf

    x = inputs[0]
    if ctx.opset() >= 12 and ctx.has_input(2):
        training = ctx.static(2)
        if training is None or bool(np.asarray(training)):
            raise UnsupportedModelError(f"node '{node.name}': Dropout in training mode (random)")
    mask = tf.ones_like(x, dtype=tf.bool) if ctx.opset() >= 10 else tf.ones_like(x)
    return [x, mask]  # x itself, as Identity: no op between a producer and what grappler would fuse it with


# -- EyeLike -----------------------------------------------------------------------------------------
def _dtype_check(node, attrs):
    """Output dtypes without a TF equivalent (string, 4-bit, FNUZ float8)."""
    dtype = attrs.get("dtype")
    return None if dtype is None or dtype in ONNX_TO_TF_DTYPE else f"dtype={dtype}"


@converter("EyeLike", since=9, unsupported=_dtype_check)
def eye_like(node, inputs, attrs, ctx):
    """Ones on the k-th diagonal of a matrix shaped like the (2-D) input."""
    import tensorflow as tf

    x = inputs[0]
    dtype = ONNX_TO_TF_DTYPE[attrs["dtype"]] if "dtype" in attrs else x.dtype
    shape = tf.shape(x)
    rows, cols = tf.range(shape[0])[:, None], tf.range(shape[1])[None, :]
    return tf.cast(tf.equal(cols - rows, attrs.get("k", 0)), dtype)


# -- Compress ----------------------------------------------------------------------------------------
@converter("Compress", since=9)
def compress(node, inputs, attrs, ctx):
    """Slices of x along ``axis`` (the flattened x without it) where condition is true; a condition
    shorter than the axis selects among the first len(condition) slices only."""
    import tensorflow as tf

    x, condition = inputs[0], tf.cast(inputs[1], tf.bool)
    if "axis" in attrs:
        axis = normalise_axis(attrs["axis"], x.shape.rank)
    else:
        x, axis = tf.reshape(x, [-1]), 0
    n = tf.minimum(tf.shape(condition)[0], tf.shape(x)[axis])
    return tf.boolean_mask(tf.gather(x, tf.range(n), axis=axis), condition[:n], axis=axis)


# -- CenterCropPad -----------------------------------------------------------------------------------
@converter("CenterCropPad", since=18)
def center_crop_pad(node, inputs, attrs, ctx):
    """Per axis: crop the centre (start (dim - target) // 2) or zero-pad around it (before: diff // 2)."""
    import tensorflow as tf

    x, target = inputs[0], tf.cast(inputs[1], tf.int32)
    rank = x.shape.rank
    axes = [normalise_axis(a, rank) for a in attrs.get("axes", range(rank))]
    for i, axis in enumerate(axes):
        size, want = tf.shape(x)[axis], target[i]
        crop = tf.maximum(size - want, 0)
        begin = [0] * rank
        sizes = [-1] * rank
        begin[axis], sizes[axis] = crop // 2, tf.minimum(size, want)
        x = tf.slice(x, tf.stack(begin), tf.stack(sizes))
        pad = tf.maximum(want - size, 0)
        paddings = [[0, 0]] * rank
        paddings[axis] = [pad // 2, pad - pad // 2]
        x = tf.pad(x, tf.stack([tf.stack(p) for p in paddings]))
    return x


# -- window functions --------------------------------------------------------------------------------
def _window_dtype_check(node, attrs):
    """output_datatype without a TF equivalent (string, 4-bit, FNUZ float8)."""
    return _dtype_check(node, {"dtype": attrs.get("output_datatype")})


def _window(node, inputs, attrs, coefficients):
    """sum_i (-1)^i a_i cos(2 pi i n / N), n < size; N = size (periodic) or size - 1 (symmetric)."""
    import tensorflow as tf

    size = tf.cast(tf.reshape(inputs[0], []), tf.float64)
    denominator = size if attrs.get("periodic", 1) else size - 1.0
    n = tf.range(size, dtype=tf.float64)
    result = tf.zeros_like(n)
    for i, a in enumerate(coefficients):
        result += (-1.0) ** i * a * tf.cos(2.0 * math.pi * i * n / denominator)
    return tf.cast(result, ONNX_TO_TF_DTYPE[attrs.get("output_datatype", 1)])


@converter("HannWindow", since=17, unsupported=_window_dtype_check)
def hann_window(node, inputs, attrs, ctx):
    return _window(node, inputs, attrs, (0.5, 0.5))


@converter("HammingWindow", since=17, unsupported=_window_dtype_check)
def hamming_window(node, inputs, attrs, ctx):
    return _window(node, inputs, attrs, (25.0 / 46.0, 21.0 / 46.0))


@converter("BlackmanWindow", since=17, unsupported=_window_dtype_check)
def blackman_window(node, inputs, attrs, ctx):
    return _window(node, inputs, attrs, (0.42, 0.5, 0.08))


# -- linear algebra / sequences ----------------------------------------------------------------------
@converter("Det", since=11)
def det(node, inputs, attrs, ctx):
    import tensorflow as tf

    return tf.linalg.det(inputs[0])


@converter("ReverseSequence", since=10)
def reverse_sequence(node, inputs, attrs, ctx):
    import tensorflow as tf

    return tf.reverse_sequence(inputs[0], tf.cast(inputs[1], tf.int64), seq_axis=attrs.get("time_axis", 0),
                               batch_axis=attrs.get("batch_axis", 1))


# -- Unique ------------------------------------------------------------------------------------------
def _unique_rows(rows):
    """Unique rows of a 2-D tensor in order of first occurrence: (unique, inverse), like tf.unique."""
    import tensorflow as tf

    if rows.shape[1] == 1:
        values, inverse = tf.unique(rows[:, 0], out_idx=tf.int64)
        return values[:, None], inverse
    result = tf.raw_ops.UniqueV2(x=rows, axis=tf.constant([0], tf.int64), out_idx=tf.int64)
    return tf.reshape(result.y, [-1, rows.shape[1]]), result.idx


def _lexicographic_order(rows):
    """Permutation sorting the rows of a 2-D tensor lexicographically (stable argsorts, last key first)."""
    import tensorflow as tf

    order = tf.range(tf.shape(rows, out_type=tf.int64)[0])
    for column in reversed(range(rows.shape[1])):
        keys = tf.gather(rows[:, column], order)
        order = tf.gather(order, tf.argsort(keys, stable=True))
    return order


@converter("Unique", since=11)
def unique(node, inputs, attrs, ctx):
    """Y, indices (first occurrences), inverse_indices, counts; sorted ascending unless sorted=0.

    With ``axis`` the unique elements are slices along it (sorted lexicographically); the slice
    length must be static.
    """
    import tensorflow as tf

    x = inputs[0]
    axis = attrs.get("axis")
    if axis is None:
        moved, rest = tf.reshape(x, [-1, 1]), None
    else:
        axis = normalise_axis(axis, x.shape.rank)
        perm = [axis, *(i for i in range(x.shape.rank) if i != axis)]
        moved = tf.transpose(x, perm)
        rest = moved.shape[1:]
        if not rest.is_fully_defined():
            raise UnsupportedModelError(f"node '{node.name}': Unique along an axis needs static slice shapes")
        moved = tf.reshape(moved, [-1, int(np.prod(rest.as_list()))])
    values, inverse = _unique_rows(moved)
    count = tf.shape(values, out_type=tf.int64)[0]
    positions = tf.range(tf.shape(moved, out_type=tf.int64)[0])
    first = tf.math.unsorted_segment_min(positions, inverse, count)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(inverse), inverse, count)
    if attrs.get("sorted", 1):
        order = _lexicographic_order(values)
        values, first, counts = (tf.gather(t, order) for t in (values, first, counts))
        inverse = tf.gather(tf.math.invert_permutation(order), inverse)
    if axis is None:
        y = values[:, 0]
    else:
        y = tf.reshape(values, tf.concat([[-1], rest.as_list()], 0))
        inverse_perm = [0] * x.shape.rank
        for i, p in enumerate(perm):
            inverse_perm[p] = i
        y = tf.transpose(y, inverse_perm)
    return [y, first, inverse, counts]
