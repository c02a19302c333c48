"""End to end: quantized models (int8 QuantizeLinear / DequantizeLinear with the model's own scales).

Paddle: post-training-quantized CNN and MLP (paddle.quantization PTQ with abs-max observers, tests/helpers/
paddle_models.py), saved as legacy .pdmodel; paddle2onnx 2.1.0 aborts on their int8 quantize_linear (defect 15),
paddle2tf exports them through stand-ins (paddle2tf.frontend.fixes.quantize_ops). Verified three ways against Paddle
with the core thresholds (Paddle↔TF max_rel <= 1e-4, ONNX↔TF <= 1e-5): a rounding step that differs anywhere
would show as an error of one quantization step (~1e-2 relative), far above them.
"""

from __future__ import annotations

import onnx
import pytest

from paddle2tf.app import api

from helpers.cli import run_cli
from helpers.parity import assert_parity

# layers quantized by the PTQ config: every Conv2D / Linear (weight + input) and, in the MLP, the ReLU inputs
QUANTIZED = {"quantized_cnn": {"weight": 4, "activation": 4}, "quantized_mlp": {"weight": 3, "activation": 5}}
WEIGHT_READERS = {"quantized_cnn": ["Conv", "Conv", "Conv", "MatMul"], "quantized_mlp": ["MatMul"] * 3}


@pytest.mark.parametrize("name", list(QUANTIZED))
def test_post_training_quantized_paddle_model(name, paddle_model, tmp_path):
    out = tmp_path / "out"
    report = api.convert(paddle_model(name, legacy=True), str(out), progress=lambda _: None)
    assert_parity(report)
    graph = onnx.load(str(out / "model.onnx")).graph
    ops = [node.op_type for node in graph.node]
    quantized = report.model_summary["quantized"]
    kinds = {kind: sum(t["kind"] == kind for t in quantized) for kind in ("weight", "activation")}
    assert kinds == QUANTIZED[name], quantized
    assert ops.count("QuantizeLinear") == kinds["activation"]
    assert ops.count("DequantizeLinear") == len(quantized)
    assert all(t["dtype"] == "int8" and t["granularity"] == "per-tensor" and t["zero_points"] == [0]
               for t in quantized), quantized
    weights = [t for t in quantized if t["kind"] == "weight"]
    assert [t["layers"][0].split()[0] for t in weights] == WEIGHT_READERS[name]
    int8 = {init.name: init for init in graph.initializer if init.data_type == onnx.TensorProto.INT8}
    assert {t["tensor"] for t in weights} <= set(int8), sorted(int8)  # weights stored as int8, not float
    restored = [fix for fix in report.fixes if fix["pass_name"] == "restore_int8_quantize_ops"]
    assert len(restored) == len(quantized) + kinds["activation"]  # one per Paddle quantize / dequantize op


def test_cli_lists_quantized_tensors(paddle_model, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("quantized_mlp", legacy=True), "-o", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "quantized: 8 tensors (5 activations int8 per-tensor, 3 weights int8 per-tensor)" in proc.stdout
    html = (out / "report.html").read_text()
    assert "Quantized tensors" in html and "linear_0.w_0.int8" in html
