"""Indexing ops: Gather*, Scatter*, NonZero, TopK, ArgMax/ArgMin, CumSum, OneHot.

ONNX indices may be negative (counted from the end); TF's CPU kernels reject them, so they are wrapped
first. Index outputs are int64.
"""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.registry import converter
from paddle2tf.ops.shared import normalise_axis


# -- helpers ------------------------------------------------------------------------------------
def _rank(x) -> int:
    if x.shape.rank is None:
        raise NotImplementedError("input of unknown rank")
    return x.shape.rank


def _wrap(ctx, index: int, indices, dims):
    """``indices + dims`` where negative (``dims`` broadcasts against indices' last axes), as int64."""
    import tensorflow as tf

    static = ctx.static(index)
    if static is not None:
        static = np.asarray(static, dtype=np.int64)
        if not (static < 0).any():
            return ctx.constant(static)
        dims_value = tf.get_static_value(dims)
        if dims_value is not None:
            return ctx.constant(np.where(static < 0, static + np.asarray(dims_value, np.int64), static))
    indices = tf.cast(indices, tf.int64)
    return tf.where(indices < 0, indices + dims, indices)


def _dim(x, axis: int):
    import tensorflow as tf

    d = x.shape[axis]
    return tf.constant(np.int64(d)) if d is not None else tf.shape(x, out_type=tf.int64)[axis]


def _coordinates(indices, axis: int):
    """Full coordinates [..., rank] of every element of ``indices``, with ``axis`` taken from its values."""
    import tensorflow as tf

    rank = _rank(indices)
    shape = tf.shape(indices, out_type=tf.int64)
    grids = tf.meshgrid(*[tf.range(shape[i]) for i in range(rank)], indexing="ij")
    grids[axis] = indices
    return tf.stack(grids, axis=-1)


def _scatter_mul(data, coords, updates):
    """data with updates multiplied in at coords[..., k] (duplicates multiply), via segment products."""
    import tensorflow as tf

    k = coords.shape[-1] if coords.shape[-1] is not None else tf.shape(coords, out_type=tf.int64)[-1]
    data_shape = tf.shape(data, out_type=tf.int64)
    lead, rest = data_shape[:k], data_shape[k:]
    strides = tf.math.cumprod(lead, exclusive=True, reverse=True)
    linear = tf.reshape(tf.reduce_sum(coords * strides, axis=-1), [-1])
    segments = tf.reduce_prod(lead)
    flat_updates = tf.reshape(updates, tf.concat([[-1], rest], 0))
    factors = tf.math.unsorted_segment_prod(flat_updates, linear, segments)
    flat_data = tf.reshape(data, tf.concat([[segments], rest], 0))
    return tf.reshape(flat_data * factors, data_shape)


def _scatter(data, coords, updates, reduction: str):
    import tensorflow as tf

    if reduction == "mul":
        return _scatter_mul(data, coords, updates)
    fn = {"none": tf.tensor_scatter_nd_update, "add": tf.tensor_scatter_nd_add,
          "max": tf.tensor_scatter_nd_max, "min": tf.tensor_scatter_nd_min}[reduction]
    return fn(data, coords, updates)


def _reduction_check(allowed):
    def check(node, attrs):
        reduction = attrs.get("reduction", "none")
        return None if reduction in allowed else f"reduction={reduction!r}"

    return check


# -- Gather -------------------------------------------------------------------------------------
@converter("Gather", since=1)
def gather(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    axis = normalise_axis(attrs.get("axis", 0), _rank(x))
    indices = _wrap(ctx, 1, inputs[1], _dim(x, axis))
    return tf.gather(x, indices, axis=axis)


@converter("GatherElements", since=11)
def gather_elements(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    axis = normalise_axis(attrs.get("axis", 0), _rank(x))
    indices = _wrap(ctx, 1, inputs[1], _dim(x, axis))
    return tf.gather_nd(x, _coordinates(indices, axis))


def _nd_dims(x, indices, batch_dims: int):
    """The data dims the last axis of ``indices`` indexes into."""
    import tensorflow as tf

    depth = indices.shape[-1]
    shape = tf.shape(x, out_type=tf.int64)
    if depth is None:
        return shape[batch_dims:batch_dims + tf.shape(indices, out_type=tf.int64)[-1]]
    return shape[batch_dims:batch_dims + depth]


@converter("GatherND", since=11)
def gather_nd(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    batch_dims = attrs.get("batch_dims", 0)
    indices = _wrap(ctx, 1, inputs[1], _nd_dims(x, inputs[1], batch_dims))
    return tf.gather_nd(x, indices, batch_dims=batch_dims)


# -- Scatter ------------------------------------------------------------------------------------
@converter("ScatterND", since=11, unsupported=_reduction_check(("none", "add", "mul", "max", "min")))
def scatter_nd(node, inputs, attrs, ctx):
    data, updates = inputs[0], inputs[2]
    indices = _wrap(ctx, 1, inputs[1], _nd_dims(data, inputs[1], 0))
    return _scatter(data, indices, updates, attrs.get("reduction", "none"))


@converter("ScatterElements", since=11, unsupported=_reduction_check(("none", "add", "mul", "max", "min")))
def scatter_elements(node, inputs, attrs, ctx):
    data, updates = inputs[0], inputs[2]
    axis = normalise_axis(attrs.get("axis", 0), _rank(data))
    indices = _wrap(ctx, 1, inputs[1], _dim(data, axis))
    return _scatter(data, _coordinates(indices, axis), updates, attrs.get("reduction", "none"))


@converter("Scatter", since=9)
def scatter(node, inputs, attrs, ctx):
    return scatter_elements(node, inputs, attrs, ctx)


# -- NonZero / TopK / ArgMax / ArgMin -----------------------------------------------------------
@converter("NonZero", since=9)
def non_zero(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    if x.shape.rank == 0:
        # The spec text says (0, N) for a scalar; ONNX Runtime and the reference implementation
        # (np.nonzero) give (1, N): follow them, as a 1-element vector.
        x = tf.reshape(x, [1])
    mask = x if x.dtype == tf.bool else tf.not_equal(x, tf.zeros([], x.dtype))
    return tf.transpose(tf.where(mask))  # [nnz, rank] row-major -> [rank, nnz]; int64


def _move_last(x, axis: int):
    import tensorflow as tf

    rank = _rank(x)
    if axis == rank - 1:
        return x, None
    perm = [*range(axis), *range(axis + 1, rank), axis]
    return tf.transpose(x, perm), list(np.argsort(perm))


def _topk(x, k, axis: int, largest: bool):
    import tensorflow as tf

    axis = normalise_axis(axis, _rank(x))
    moved, back = _move_last(x, axis)
    if largest:
        keys = moved
    elif moved.dtype.is_integer:
        keys = tf.bitwise.invert(moved)  # order-reversing without overflow, also for unsigned types
    else:
        keys = -moved
    # top_k is stable: equal keys keep the lower index first, as ONNX requires.
    _, indices = tf.math.top_k(keys, k, sorted=True)
    values = tf.gather(moved, indices, batch_dims=moved.shape.rank - 1)
    indices = tf.cast(indices, tf.int64)
    if back is not None:
        values, indices = tf.transpose(values, back), tf.transpose(indices, back)
    return [values, indices]


@converter("TopK", since=1)
def top_k_v1(node, inputs, attrs, ctx):
    return _topk(inputs[0], int(attrs["k"]), attrs.get("axis", -1), True)


@converter("TopK", since=10)
def top_k(node, inputs, attrs, ctx):
    import tensorflow as tf

    k = ctx.static(1)
    k = int(np.asarray(k).reshape(-1)[0]) if k is not None else tf.cast(tf.reshape(inputs[1], []), tf.int32)
    return _topk(inputs[0], k, attrs.get("axis", -1), bool(attrs.get("largest", 1)))


def _arg(x, attrs, largest: bool):
    import tensorflow as tf

    axis = normalise_axis(attrs.get("axis", 0), _rank(x))
    fn = tf.math.argmax if largest else tf.math.argmin
    if attrs.get("select_last_index", 0):
        index = fn(tf.reverse(x, [axis]), axis=axis, output_type=tf.int64)
        index = _dim(x, axis) - 1 - index
    else:
        index = fn(x, axis=axis, output_type=tf.int64)  # the first extreme on ties
    return tf.expand_dims(index, axis) if attrs.get("keepdims", 1) else index


@converter("ArgMax", since=1)
def arg_max(node, inputs, attrs, ctx):
    return _arg(inputs[0], attrs, True)


@converter("ArgMin", since=1)
def arg_min(node, inputs, attrs, ctx):
    return _arg(inputs[0], attrs, False)


# -- CumSum / OneHot ----------------------------------------------------------------------------
@converter("CumSum", since=11)
def cum_sum(node, inputs, attrs, ctx):
    import tensorflow as tf

    axis = ctx.static(1)
    axis = int(np.asarray(axis).reshape(-1)[0]) if axis is not None else tf.reshape(inputs[1], [])
    return tf.math.cumsum(inputs[0], axis=axis, exclusive=bool(attrs.get("exclusive", 0)),
                          reverse=bool(attrs.get("reverse", 0)))


@converter("OneHot", since=9)
def one_hot(node, inputs, attrs, ctx):
    import tensorflow as tf

    indices, values = inputs[0], inputs[2]
    depth = ctx.static(1)
    if depth is not None:
        depth = int(np.asarray(depth).reshape(-1)[0])
        depth_t = tf.constant(np.int64(depth))
    else:
        depth_t = tf.cast(tf.reshape(inputs[1], []), tf.int64)
        depth = tf.cast(depth_t, tf.int32)
    indices = tf.cast(indices, tf.int64)  # float indices truncate, as in ONNX Runtime
    indices = tf.where(indices < 0, indices + depth_t, indices)
    rank = _rank(inputs[0])
    axis = attrs.get("axis", -1)
    axis = normalise_axis(axis, rank + 1)
    values = tf.reshape(values, [2])
    return tf.one_hot(indices, depth, on_value=values[1], off_value=values[0],
                      axis=-1 if axis == rank else axis, dtype=values.dtype)
