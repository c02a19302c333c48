"""Fold a per-channel constant Add after a Conv into the Conv's bias.

paddle2onnx exports a Paddle conv2d with bias as Conv (no bias) → Add(Reshape(bias, [1, M, 1, 1])). Converted as
written that is Conv2D then AddV2, which TF's grappler does not fuse; a Conv with its bias input is converted to
Conv2D + BiasAdd, which it fuses with the activation after it into one oneDNN kernel (VGG-16, batch 8: the
unfused form measured 1.48 x native Keras). Conv(x, W, B) + C = Conv(x, W, B + C) when C broadcasts over the
Conv output along the channel axis only ([M, 1, 1], [1, M, 1, 1], a scalar...); the sum is computed in float64 and
stored in the Conv's dtype. Applies when the Conv's output feeds only the Add and W, B and C are constants (C
possibly behind Identity / Reshape nodes).
"""

from __future__ import annotations

import numpy as np
import onnx

from paddle2tf.converter.passes.rewrite import GraphIndex, any_match
from paddle2tf.onnxutil.graph import FLOAT_TYPES, STANDARD_DOMAINS, delete_positions, remove_unused_constants


def find(model: onnx.ModelProto) -> bool:
    return any_match(model, _match)


def rewrite(model: onnx.ModelProto) -> int:
    index = GraphIndex(model.graph)
    folded: set[int] = set()
    for position, add in enumerate(model.graph.node):
        match = _match(index, position, add)
        if match is None:
            continue
        conv, channel_bias = match
        w = index.constant(conv.input[1])
        old = index.constant(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else 0.0
        bias = (np.asarray(old, np.float64) + channel_bias).astype(w.dtype)
        name = index.unique_name(f"{conv.name or conv.output[0]}_bias")
        index.add_initializer(name, bias)
        del conv.input[2:]
        conv.input.append(name)
        conv.output[0] = add.output[0]
        folded.add(position)
    if folded:
        delete_positions(model.graph.node, folded)
        remove_unused_constants(model.graph)
    return len(folded)


def _match(index: GraphIndex, position: int, add: onnx.NodeProto) -> tuple[onnx.NodeProto, np.ndarray] | None:
    """(the Conv, the Add's constant as one value per output channel, float64) for a foldable Add."""
    if add.op_type != "Add" or add.domain not in STANDARD_DOMAINS or len(add.input) != 2:
        return None
    for conv_out, other in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):  # noqa: B007 (used after)
        _, conv = index.node(conv_out, "Conv")
        if conv is not None and index.only_consumer(conv_out) == position:
            break
    else:
        return None
    w = index.constants.get(conv.input[1])
    has_bias = len(conv.input) > 2 and conv.input[2]
    if w is None or w.data_type not in FLOAT_TYPES or (has_bias and conv.input[2] not in index.constants):
        return None
    value = index.resolved(other)
    if value is None or value.dtype != onnx.helper.tensor_dtype_to_np_dtype(w.data_type):
        return None
    channels, rank = w.dims[0], len(w.dims)  # the Conv output has W's rank: [N, M, spatial...]
    if value.ndim > rank:
        return None
    shape = (1,) * (rank - value.ndim) + value.shape  # as it broadcasts against the Conv output
    if shape[0] != 1 or shape[1] not in (1, channels) or any(d != 1 for d in shape[2:]):
        return None  # varies along the batch or a spatial axis: not a bias
    return conv, np.broadcast_to(value.reshape(-1).astype(np.float64), (channels,))
