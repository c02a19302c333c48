"""QDQ ONNX models as paddle2onnx-style exporters write quantized networks: int8 weights with per-channel scales
dequantized by DequantizeLinear, every layer input a QuantizeLinear -> DequantizeLinear pair (per tensor,
symmetric: zero point 0), the logits left in float. Seeded random weights; the activation scales are the abs max
/ 127 of a numpy float forward pass over seeded calibration inputs (as an abs-max post-training quantizer finds
them), the weight scales each output channel's abs max / 127.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 7


class _Builder:
    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def qdq(self, x: str, scale: float) -> str:
        """QuantizeLinear -> DequantizeLinear of an activation, per tensor."""
        s = self.constant(f"{x}.scale", np.float32(scale))
        zp = self.constant(f"{x}.zero_point", np.int8(0))
        quantized = self.node("QuantizeLinear", [x, s, zp], f"{x}.quantized")
        return self.node("DequantizeLinear", [quantized, s, zp], f"{x}.dequantized")

    def weight(self, name: str, value: np.ndarray, axis: int) -> str:
        """An int8 weight with one scale per index of ``axis`` (its abs max / 127), dequantized."""
        other = tuple(i for i in range(value.ndim) if i != axis)
        scale = (np.abs(value).max(axis=other) / 127).astype(np.float32)
        shape = [-1 if i == axis else 1 for i in range(value.ndim)]
        q = np.clip(np.round(value / scale.reshape(shape)), -127, 127).astype(np.int8)
        inputs = [
            self.constant(f"{name}.int8", q),
            self.constant(f"{name}.scale", scale),
            self.constant(f"{name}.zero_point", np.zeros(scale.size, np.int8)),
        ]
        return self.node("DequantizeLinear", inputs, f"{name}.dequantized", axis=axis)

    def model(self, name: str, x_shape: list, y: str, y_shape: list) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, y_shape)],
            initializer=self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="qdq_models")
        onnx.checker.check_model(model, full_check=True)
        return model


def _abs_max_scale(values: np.ndarray) -> float:
    return float(np.abs(values).max() / 127)


def qdq_mlp(features: int = 32, hidden: int = 64, classes: int = 10) -> onnx.ModelProto:
    """x [N, 32] -> QDQ -> MatMul (per-column int8 weight) + bias -> Relu -> QDQ -> MatMul + bias -> logits."""
    rng = np.random.default_rng(SEED)
    w1 = rng.standard_normal((features, hidden)).astype(np.float32) * 0.3
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.3
    w2 = rng.standard_normal((hidden, classes)).astype(np.float32) * 0.3
    b2 = rng.standard_normal(classes).astype(np.float32) * 0.3
    calibration = rng.uniform(-1, 1, (64, features)).astype(np.float32)
    hidden_values = np.maximum(calibration @ w1 + b1, 0)
    m = _Builder()
    h = m.node("MatMul", [m.qdq("x", _abs_max_scale(calibration)), m.weight("w1", w1, axis=1)], "h")
    h = m.node("Relu", [m.node("Add", [h, m.constant("b1", b1)], "h_biased")], "relu")
    y = m.node("MatMul", [m.qdq("relu", _abs_max_scale(hidden_values)), m.weight("w2", w2, axis=1)], "logits_raw")
    m.node("Add", [y, m.constant("b2", b2)], "logits")
    return m.model("qdq_mlp", ["N", features], "logits", ["N", classes])


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """numpy Conv, stride 2, pad 1, 3x3, NCHW (for the calibration forward pass only)."""
    n, c, h, width = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = (h - 1) // 2 + 1, (width - 1) // 2 + 1
    patches = np.stack(
        [padded[:, :, i : i + 2 * oh : 2, j : j + 2 * ow : 2] for i in range(3) for j in range(3)], axis=2
    )
    out = np.einsum("nckhw,ock->nohw", patches, w.reshape(w.shape[0], c, 9))
    return out + b.reshape(1, -1, 1, 1)


def qdq_cnn(classes: int = 10) -> onnx.ModelProto:
    """x [N, 3, 32, 32] -> QDQ -> Conv 3x3/2 (per-channel int8 weight) -> Relu -> QDQ -> Conv 3x3/2 -> Relu ->
    GlobalAveragePool -> Flatten -> QDQ -> MatMul (per-column int8 weight) + bias -> logits."""
    rng = np.random.default_rng(SEED + 1)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3
    b1 = rng.standard_normal(8).astype(np.float32) * 0.2
    w2 = rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.2
    b2 = rng.standard_normal(16).astype(np.float32) * 0.2
    w3 = rng.standard_normal((16, classes)).astype(np.float32) * 0.5
    b3 = rng.standard_normal(classes).astype(np.float32) * 0.2
    calibration = rng.uniform(-1, 1, (16, 3, 32, 32)).astype(np.float32)
    a1 = np.maximum(_conv(calibration, w1, b1), 0)
    a2 = np.maximum(_conv(a1, w2, b2), 0).mean(axis=(2, 3))
    m = _Builder()
    conv = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
    y = m.node(
        "Conv",
        [m.qdq("x", _abs_max_scale(calibration)), m.weight("w1", w1, axis=0), m.constant("b1", b1)],
        "conv1",
        **conv,
    )
    y = m.node("Relu", [y], "relu1")
    y = m.node(
        "Conv", [m.qdq(y, _abs_max_scale(a1)), m.weight("w2", w2, axis=0), m.constant("b2", b2)], "conv2", **conv
    )
    y = m.node("Flatten", [m.node("GlobalAveragePool", [m.node("Relu", [y], "relu2")], "pool")], "features")
    y = m.node("MatMul", [m.qdq(y, _abs_max_scale(a2)), m.weight("w3", w3, axis=1)], "logits_raw")
    m.node("Add", [y, m.constant("b3", b3)], "logits")
    return m.model("qdq_cnn", ["N", 3, 32, 32], "logits", ["N", classes])
