"""QuantizeLinear / DequantizeLinear with the model's scales -> ``paddle2tf.FakeQuant`` (TF's fake-quant op), for
TFLite full-integer conversion that keeps the model's own scales (``--tflite int8`` without ``--calibration``).

TF's TFLite converter takes a tensor's int8 range from a ``FakeQuantWithMinMaxVars`` op instead of calibrating it.
Rewritten, per tensor only (TFLite refuses per-channel fake-quant on a MatMul's weight):
- an activation's pair ``DequantizeLinear(QuantizeLinear(x, s, zp), s, zp)`` -> ``FakeQuant(x)``;
- a weight ``DequantizeLinear(w_int, s, zp)`` -> ``FakeQuant(w)``, w = (w_int - zp) * s stored as float (the
  fake-quant keeps the weight's int8 grid in the graph: the op is never folded).
The range is [(qmin - zp) * s, (qmax - zp) * s] with 2^8 levels: the same grid as ONNX's. TF rounds ties up where
ONNX rounds them to even, so a value exactly halfway between two levels may land one level apart. A per-axis
weight stays a float constant: TFLite quantizes it per channel itself, max |w| / 127 per channel, which is the
model's scale when the model's own scale is the channel's abs max (as Paddle's and ONNX Runtime's quantizers do).

Not in ``PASSES``: ``ConvertedModule(fake_quant=True)`` runs it first, for the SavedModel the int8 TFLite file is
converted from (the verified SavedModel keeps the exact QuantizeLinear / DequantizeLinear).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from paddle2tf.converter.passes.rewrite import GraphIndex, any_match, replace_nodes
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN, STANDARD_DOMAINS

LEVELS = {onnx.TensorProto.INT8: (-128, 127), onnx.TensorProto.UINT8: (0, 255)}


def find(model: onnx.ModelProto) -> bool:
    return any_match(model, _match)


def rewrite(model: onnx.ModelProto) -> int:
    index = GraphIndex(model.graph)
    fused: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for position, node in enumerate(model.graph.node):
        found = _match(index, position, node)
        if found is None:
            continue
        quantize_at, source, low, high = found
        if quantize_at is None:  # a weight: its dequantized values, kept on their grid by the fake-quant
            source = index.unique_name(f"{node.output[0]}.dequantized")
            index.add_initializer(source, _dequantized(index, node))
        else:
            removed.add(quantize_at)
        fused[position] = helper.make_node(
            "FakeQuant",
            [source],
            [node.output[0]],
            name=node.name or node.output[0],
            domain=INTERNAL_DOMAIN,
            min=low,
            max=high,
        )
        removed.add(position)
    if fused:
        replace_nodes(model, fused, removed)
    return len(fused)


def _per_tensor(index: GraphIndex, node: onnx.NodeProto) -> tuple[float, int, int, int] | None:
    """(scale, zero point, qmin, qmax) of a Quantize/DequantizeLinear with constant per-tensor parameters."""
    scale = index.scalar(node.input[1])
    if scale is None or not scale > 0 or index.constants[node.input[1]].data_type != onnx.TensorProto.FLOAT:
        return None
    if len(node.input) < 3 or not node.input[2]:
        return scale, 0, *LEVELS[onnx.TensorProto.UINT8]
    zero = index.constants.get(node.input[2])
    if zero is None or zero.data_type not in LEVELS or len(zero.dims) > 1 or index.constant(node.input[2]).size != 1:
        return None
    return scale, int(index.constant(node.input[2]).reshape(-1)[0]), *LEVELS[zero.data_type]


def _match(index: GraphIndex, position: int, node: onnx.NodeProto):
    """(QuantizeLinear position or None for a weight, fake-quant input, min, max) of a rewritable DequantizeLinear."""
    if node.op_type != "DequantizeLinear" or node.domain not in STANDARD_DOMAINS:
        return None
    params = _per_tensor(index, node)
    if params is None:
        return None
    scale, zero, qmin, qmax = params
    low, high = (qmin - zero) * scale, (qmax - zero) * scale
    if node.input[0] in index.constants:
        return None, node.input[0], low, high
    quantize_at, quantize = index.node(node.input[0], "QuantizeLinear")
    if quantize is None or index.only_consumer(node.input[0]) != position or _per_tensor(index, quantize) != params:
        return None
    return quantize_at, quantize.input[0], low, high


def _dequantized(index: GraphIndex, node: onnx.NodeProto) -> np.ndarray:
    scale, zero, _, _ = _per_tensor(index, node)
    return ((index.constant(node.input[0]).astype(np.float32) - np.float32(zero)) * np.float32(scale)).astype(
        np.float32
    )
