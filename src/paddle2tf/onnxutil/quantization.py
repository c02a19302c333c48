"""The quantized tensors of a QDQ ONNX model (QuantizeLinear / DequantizeLinear pairs, int8 weights dequantized).

A DequantizeLinear reads either a QuantizeLinear's output (an activation, quantized at run time) or a constant
(a weight stored as integers). Each is listed once with its scales, zero points and the nodes reading the
dequantized value: report.json (``model_summary.quantized``), the terminal summary and report.html show it, and
``--tflite int8`` uses these scales instead of a calibration (paddle2tf.converter.passes.qdq_as_fake_quant).
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import numpy_helper

from paddle2tf.onnxutil.graph import constant_tensors

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass
class QuantizedTensor:
    tensor: str  # the float value quantized: an activation (QuantizeLinear's input) or a weight (its constant)
    kind: str  # "activation" | "weight"
    dtype: str  # the integer type: int8, uint8, ...
    granularity: str  # "per-tensor" | "per-axis"
    axis: int | None  # the quantized axis (per-axis only)
    scale_shape: list[int]
    scale_min: float
    scale_max: float
    zero_points: list[int]  # the distinct zero points
    layers: list[str]  # the nodes reading the dequantized value, "OpType name"


def quantized_tensors(model: onnx.ModelProto) -> list[QuantizedTensor]:
    """Every DequantizeLinear of the main graph whose scale is a constant, in graph order."""
    graph = model.graph
    constants = constant_tensors(graph)
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[1] not in constants:
            continue
        source = producers.get(node.input[0])
        activation = source is not None and source.op_type == "QuantizeLinear"
        if not activation and node.input[0] not in constants:
            continue
        scale = numpy_helper.to_array(constants[node.input[1]])
        zero = (
            numpy_helper.to_array(constants[node.input[2]])
            if len(node.input) > 2 and node.input[2] in constants
            else None
        )
        dtype = _integer_type(constants, node, zero is not None, activation)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1) if scale.size > 1 or scale.ndim else None
        found.append(
            QuantizedTensor(
                tensor=source.input[0] if activation else node.input[0],
                kind="activation" if activation else "weight",
                dtype=dtype,
                granularity="per-axis" if axis is not None else "per-tensor",
                axis=axis,
                scale_shape=list(scale.shape),
                scale_min=float(scale.min()),
                scale_max=float(scale.max()),
                zero_points=sorted({int(v) for v in zero.ravel()}) if zero is not None else [0],
                layers=[f"{c.op_type} {c.name or c.output[0]}" for c in consumers.get(node.output[0], [])],
            )
        )
    return found


def _integer_type(constants: dict, node: onnx.NodeProto, has_zero_point: bool, activation: bool) -> str:
    """The zero point's type, else a weight's own type; an activation without a zero point is uint8 (ONNX)."""
    if has_zero_point:
        return onnx.helper.tensor_dtype_to_np_dtype(constants[node.input[2]].data_type).name
    if not activation:
        return onnx.helper.tensor_dtype_to_np_dtype(constants[node.input[0]].data_type).name
    return "uint8"
