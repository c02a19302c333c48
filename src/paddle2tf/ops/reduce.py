"""Reduce* ops: axes as an attribute (up to opset 12 for ReduceSum, 17 for the rest), then as an input.

Attribute form: absent axes reduce every axis. Input form: absent or empty axes reduce every axis
unless ``noop_with_empty_axes=1``, in which case nothing is reduced and only the op's element-wise
part is applied (ReduceSumSquare -> x², ReduceL1 -> |x|, ... as the ONNX reference implementation does).
"""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.registry import converter


def _reduce_sum(x, axes, keepdims):
    import tensorflow as tf

    if x.dtype == tf.bool:
        return tf.reduce_any(x, axes, keepdims)
    return tf.reduce_sum(x, axes, keepdims)


def _reduce_max(x, axes, keepdims):
    import tensorflow as tf

    if x.dtype == tf.bool:
        return tf.reduce_any(x, axes, keepdims)
    return tf.reduce_max(x, axes, keepdims)


def _reduce_min(x, axes, keepdims):
    import tensorflow as tf

    if x.dtype == tf.bool:
        return tf.reduce_all(x, axes, keepdims)
    return tf.reduce_min(x, axes, keepdims)


def _reduce_mean(x, axes, keepdims):
    import tensorflow as tf

    return tf.reduce_mean(x, axes, keepdims)


def _reduce_prod(x, axes, keepdims):
    import tensorflow as tf

    return tf.reduce_prod(x, axes, keepdims)


def _reduce_l1(x, axes, keepdims):
    import tensorflow as tf

    return tf.reduce_sum(tf.abs(x), axes, keepdims)


def _reduce_l2(x, axes, keepdims):
    import tensorflow as tf

    if x.dtype.is_integer:  # ONNX computes sqrt in the element type: cast the (truncated) root back
        return tf.cast(tf.sqrt(tf.cast(tf.reduce_sum(x * x, axes, keepdims), tf.float64)), x.dtype)
    return tf.sqrt(tf.reduce_sum(tf.square(x), axes, keepdims))


def _reduce_log_sum(x, axes, keepdims):
    import tensorflow as tf

    return tf.math.log(tf.reduce_sum(x, axes, keepdims))


def _reduce_log_sum_exp(x, axes, keepdims):
    import tensorflow as tf

    return tf.reduce_logsumexp(x, axes, keepdims)


def _reduce_sum_square(x, axes, keepdims):
    import tensorflow as tf

    return tf.reduce_sum(tf.square(x), axes, keepdims)


# The element-wise part of each reduction: what "reduce over no axes" leaves of it.
def _noop(op_type: str, x):
    import tensorflow as tf

    if op_type == "ReduceSumSquare":
        return tf.square(x)
    if op_type in ("ReduceL1", "ReduceL2"):
        return tf.abs(x)
    if op_type == "ReduceLogSum":
        return tf.math.log(x)
    return tf.identity(x)


_REDUCERS = {
    "ReduceSum": _reduce_sum, "ReduceMean": _reduce_mean, "ReduceMax": _reduce_max, "ReduceMin": _reduce_min,
    "ReduceProd": _reduce_prod, "ReduceL1": _reduce_l1, "ReduceL2": _reduce_l2,
    "ReduceLogSum": _reduce_log_sum, "ReduceLogSumExp": _reduce_log_sum_exp,
    "ReduceSumSquare": _reduce_sum_square,
}


def _static_axes(axes, rank: int) -> list[int]:
    return sorted({int(a) + rank if int(a) < 0 else int(a) for a in axes})


def _reduce_attr_axes(node, inputs, attrs, ctx):
    x = inputs[0]
    keepdims = bool(attrs.get("keepdims", 1))
    axes = attrs.get("axes")
    rank = x.shape.rank
    axes = list(range(rank)) if not axes else _static_axes(axes, rank)
    return _REDUCERS[node.op_type](x, axes, keepdims)


def _reduce_input_axes(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    keepdims = bool(attrs.get("keepdims", 1))
    noop = bool(attrs.get("noop_with_empty_axes", 0))
    reducer = _REDUCERS[node.op_type]
    rank = x.shape.rank
    if inputs[1] is None:
        return _noop(node.op_type, x) if noop else reducer(x, list(range(rank)), keepdims)
    axes = ctx.static(1)
    if axes is not None:
        axes = np.asarray(axes).reshape(-1)
        if axes.size == 0:
            return _noop(node.op_type, x) if noop else reducer(x, list(range(rank)), keepdims)
        return reducer(x, _static_axes(axes, rank), keepdims)
    # Axes known only at run time: TF reduces nothing for an empty axis tensor, ONNX everything.
    axes = tf.reshape(tf.cast(inputs[1], tf.int32), [-1])
    if noop:
        return tf.cond(tf.size(axes) > 0, lambda: reducer(x, axes, keepdims), lambda: _noop(node.op_type, x))
    axes = tf.cond(tf.size(axes) > 0, lambda: axes, lambda: tf.range(tf.rank(x)))
    return reducer(x, axes, keepdims)


def _register(op_type: str, input_since: int) -> None:
    converter(op_type, since=1)(_reduce_attr_axes)
    converter(op_type, since=input_since)(_reduce_input_axes)


for _op in _REDUCERS:
    _register(_op, 13 if _op == "ReduceSum" else 18)
