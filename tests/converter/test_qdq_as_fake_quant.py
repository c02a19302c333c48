"""The qdq_as_fake_quant pass (``--tflite int8`` with the model's scales) against ONNX Runtime on the original model.

The rewritten model computes the same grid with TF's fake-quant op, but TF rounds (x - min) / step where ONNX rounds
x / scale (and ties up, not to even): a value within float32 rounding of a half step may land one level apart
(measured: 1 of 16 MLP rows). So: every row's top-1 class as ONNX Runtime's, at least 90 % of the logits within
rtol 1e-5, and none more than a few quantization steps off (atol 0.05 on logits of order 1); a wrong scale, zero
point or range would move nearly every logit.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from paddle2tf.converter.module import ConvertedModule
from paddle2tf.converter.passes import qdq_as_fake_quant
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN

from helpers.onnx_graphs import run_ort
from helpers.qdq_models import qdq_cnn, qdq_mlp

MODELS = {"mlp": (qdq_mlp, (16, 32)), "cnn": (qdq_cnn, (4, 3, 32, 32))}


def _ops(model: onnx.ModelProto) -> list[str]:
    return [f"{node.domain}.{node.op_type}" if node.domain else node.op_type for node in model.graph.node]


@pytest.mark.parametrize("name", list(MODELS))
def test_fake_quant_model_matches_onnxruntime(name):
    build, shape = MODELS[name]
    model = build()
    x = np.random.default_rng(3).uniform(-1, 1, shape).astype(np.float32)
    expected = run_ort(model, {"x": x})["logits"]
    converted = ConvertedModule(model, fake_quant=True)
    assert converted.rewrites["qdq_as_fake_quant"] == 3 if name == "cnn" else 2  # the activations' pairs
    assert_close_to_quantization_steps(converted({"x": x})["logits"], expected)


def assert_close_to_quantization_steps(got: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))
    assert np.mean(np.isclose(got, expected, rtol=1e-5, atol=1e-6)) >= 0.9
    np.testing.assert_allclose(got, expected, rtol=0, atol=0.05)


def test_rewrite_keeps_per_axis_weights_and_names():
    model = qdq_mlp()
    assert qdq_as_fake_quant.find(model)
    assert qdq_as_fake_quant.rewrite(model) == 2
    ops = _ops(model)
    assert ops.count(f"{INTERNAL_DOMAIN}.FakeQuant") == 2 and "QuantizeLinear" not in ops
    assert ops.count("DequantizeLinear") == 2  # per-column weights: TFLite quantizes them per channel itself
    fake = next(node for node in model.graph.node if node.op_type == "FakeQuant")
    assert list(fake.input) == ["x"] and list(fake.output) == ["x.dequantized"]  # the DequantizeLinear's name
    scale = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "x.scale"))
    attrs = {a.name: a.f for a in fake.attribute}
    assert attrs == pytest.approx({"min": -128 * float(scale), "max": 127 * float(scale)})


def _per_tensor_weight_model(zero_point: int, dtype) -> onnx.ModelProto:
    """x -> QDQ (uint8 or int8, with a zero point) -> MatMul with a per-tensor int8 weight."""
    rng = np.random.default_rng(5)
    w = rng.integers(-127, 128, (8, 4)).astype(np.int8)
    inits = [
        numpy_helper.from_array(np.float32(0.02), "s"),
        numpy_helper.from_array(dtype(zero_point), "zp"),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.float32(0.01), "ws"),
        numpy_helper.from_array(np.int8(3), "wzp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wzp"], ["wdq"]),
        helper.make_node("MatMul", ["dq", "wdq"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("zero_point, dtype", [(128, np.uint8), (-5, np.int8)])
def test_per_tensor_weight_and_zero_points(zero_point, dtype):
    model = _per_tensor_weight_model(zero_point, dtype)
    x = np.random.default_rng(6).uniform(-3, 3, (3, 8)).astype(np.float32)  # beyond the range: saturates
    expected = run_ort(model, {"x": x})["y"]
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    assert qdq_as_fake_quant.rewrite(rewritten) == 2
    assert _ops(rewritten) == [f"{INTERNAL_DOMAIN}.FakeQuant"] * 2 + ["MatMul"]
    got = ConvertedModule(model, fake_quant=True)({"x": x})["y"]
    assert_close_to_quantization_steps(got, expected)


def test_pair_with_other_scales_is_left_alone():
    model = _per_tensor_weight_model(0, np.int8)
    model.graph.initializer.append(numpy_helper.from_array(np.float32(0.05), "s2"))
    model.graph.node[1].input[1] = "s2"  # requantized: not one fake-quant
    assert qdq_as_fake_quant.rewrite(model) == 1  # the weight only
    assert "QuantizeLinear" in _ops(model)
