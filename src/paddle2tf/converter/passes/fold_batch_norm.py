"""Fold an inference BatchNormalization into the Conv that feeds it.

BN(conv(x, W) + B) = conv(x, W * a) + (B - mean) * a + beta, with a = scale / sqrt(var + epsilon) per
output channel. The folded weights are computed in float64 and stored in the Conv's dtype; the Conv
then writes the BN's output. Applies when the Conv's output feeds only that BN, the Conv's W (and B)
and the BN's four parameters are constants, and the BN computes inference statistics only.
"""

from __future__ import annotations

import numpy as np
import onnx

from paddle2tf.converter.passes.rewrite import GraphIndex, any_match
from paddle2tf.onnxutil.graph import STANDARD_DOMAINS, delete_positions, remove_unused_constants


def find(model: onnx.ModelProto) -> bool:
    return any_match(model, _foldable_conv)


def rewrite(model: onnx.ModelProto) -> int:
    index = GraphIndex(model.graph)
    folded: set[int] = set()
    for position, bn in enumerate(model.graph.node):
        conv = _foldable_conv(index, position, bn)
        if conv is None:
            continue
        w = index.constant(conv.input[1])
        scale, bias, mean, var = (np.asarray(index.constant(n), np.float64) for n in bn.input[1:5])
        epsilon = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        # epsilon is a float32 attribute: add it as float32, as every runtime does.
        a = scale / np.sqrt(var + np.float64(np.float32(epsilon)))
        conv_bias = index.constant(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else 0.0
        new_w = (w.astype(np.float64) * a.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype)
        new_b = ((np.asarray(conv_bias, np.float64) - mean) * a + bias).astype(w.dtype)
        w_name = index.unique_name(f"{conv.name or conv.output[0]}_bn_folded_w")
        index.add_initializer(w_name, new_w)
        b_name = index.unique_name(f"{conv.name or conv.output[0]}_bn_folded_b")
        index.add_initializer(b_name, new_b)
        del conv.input[1:]
        conv.input.extend([w_name, b_name])
        conv.output[0] = bn.output[0]
        folded.add(position)
    if folded:
        delete_positions(model.graph.node, folded)
        remove_unused_constants(model.graph)
    return len(folded)


def _foldable_conv(index: GraphIndex, position: int, bn: onnx.NodeProto) -> onnx.NodeProto | None:
    if bn.op_type != "BatchNormalization" or bn.domain not in STANDARD_DOMAINS:
        return None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in bn.attribute}
    if attrs.get("training_mode", 0) or not attrs.get("spatial", 1) or any(bn.output[1:]):
        return None
    if len(bn.input) < 5 or any(name not in index.constants for name in bn.input[1:5]):
        return None
    if bn.input[0] not in index.producer:
        return None
    conv = index.graph.node[index.producer[bn.input[0]]]
    if conv.op_type != "Conv" or conv.domain not in STANDARD_DOMAINS:
        return None
    if index.only_consumer(conv.output[0]) != position or conv.input[1] not in index.constants:
        return None
    if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in index.constants:
        return None
    w = index.constants[conv.input[1]]
    channels = w.dims[0] if w.dims else None
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)
    if w.data_type not in floats or any(list(index.constants[n].dims) != [channels] for n in bn.input[1:5]):
        return None
    return conv
