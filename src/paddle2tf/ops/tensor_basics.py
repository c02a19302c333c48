"""Identity, Constant, Shape: the ops that only move or describe tensors."""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from paddle2tf.converter.registry import converter


@converter("Identity", since=1, elementwise=True)
def identity(node, inputs, attrs, ctx):
    """The input itself, no TF op: paddle2onnx writes an Identity after every Add, and a tf.identity between a
    Conv2D's BiasAdd and its Relu6 keeps grappler's remapper (which runs before Identity nodes are removed) from
    fusing the activation into the convolution (MobileNetV2: 35 separate Relu6 ops)."""
    return inputs[0]


def _constant_check(node, attrs):
    """sparse_value (sparse constants)."""
    return "sparse_value" if any(a.name == "sparse_value" for a in node.attribute) else None


@converter("Constant", since=1, unsupported=_constant_check)
def constant(node, inputs, attrs, ctx):
    for attr in node.attribute:
        if attr.name == "value":
            value = numpy_helper.to_array(attr.t)
        elif attr.name == "sparse_value":
            raise NotImplementedError("sparse Constant")
        elif attr.name in ("value_float", "value_int"):
            value = np.array(attrs[attr.name], dtype=np.float32 if attr.name == "value_float" else np.int64)
        elif attr.name in ("value_floats", "value_ints"):
            value = np.array(attrs[attr.name], dtype=np.float32 if attr.name == "value_floats" else np.int64)
        elif attr.name in ("value_string", "value_strings"):
            value = np.array(attrs[attr.name], dtype=object)
        else:
            continue
        # Keyed by the output name, so a weight too large to fold (paddle2onnx stores weights in Constant nodes)
        # becomes a variable, not a constant inside the serving graph (saved_model.pb would hold it).
        return ctx.constant(value, key=node.output[0])
    raise ValueError(f"node '{node.name}': Constant without a value")


@converter("Shape", since=1)
def shape(node, inputs, attrs, ctx):
    import tensorflow as tf

    x = inputs[0]
    rank = x.shape.rank
    start = attrs.get("start", 0)
    end = attrs.get("end", rank)
    start, end = (max(0, min(rank, v + rank if v < 0 else v)) for v in (start, end))
    if x.shape[start:end].is_fully_defined():
        return tf.constant(np.array(x.shape[start:end].as_list(), dtype=np.int64))
    return tf.shape(x, out_type=tf.int64)[start:end]
