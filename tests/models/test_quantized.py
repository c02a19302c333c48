"""End to end: quantized models (int8 QuantizeLinear / DequantizeLinear with the model's own scales).

Paddle: post-training-quantized CNN and MLP (paddle.quantization PTQ with abs-max observers, tests/helpers/
paddle_models.py), saved as legacy .pdmodel; paddle2onnx 2.1.0 aborts on their int8 quantize_linear (defect 15),
paddle2tf exports them through stand-ins (paddle2tf.frontend.fixes.quantize_ops). Verified three ways against Paddle
with the core thresholds (Paddle↔TF max_rel <= 1e-4, ONNX↔TF <= 1e-5): a rounding step that differs anywhere
would show as an error of one quantization step (~1e-2 relative), far above them.

ONNX: paddle2onnx-style QDQ graphs of a small CNN and MLP (tests/helpers/qdq_models.py: per-channel int8 weights,
per-tensor activations), verified ONNX Runtime↔TF.

``--tflite int8`` without --calibration takes the model's own scales (converter pass qdq_as_fake_quant): its top-1
agreement with the reference (Paddle, or ONNX Runtime for an ONNX source) over 64 seeded inputs must be at least
MIN_TOP1 (measured: 1.000 for both CNNs and the QDQ MLP, 0.984 for the Paddle MLP, whose ReLU inputs and outputs are
quantized with two scales TFLite fuses into one; calibrated on generated inputs instead, the QDQ MLP agrees 0.891).
"""

from __future__ import annotations

import onnx
import pytest

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions

from helpers.cli import assert_clean_failure, run_cli
from helpers.parity import assert_parity
from helpers.qdq_models import qdq_cnn, qdq_mlp

MIN_TOP1 = 0.95  # 3 disagreements in 64 inputs
INT8_MODEL_SCALES = ConvertOptions(tflite=("int8",), tflite_min_top1=MIN_TOP1)

# layers quantized by the PTQ config: every Conv2D / Linear (weight + input) and, in the MLP, the ReLU inputs
QUANTIZED = {"quantized_cnn": {"weight": 4, "activation": 4}, "quantized_mlp": {"weight": 3, "activation": 5}}
WEIGHT_READERS = {"quantized_cnn": ["Conv", "Conv", "Conv", "MatMul"], "quantized_mlp": ["MatMul"] * 3}


@pytest.mark.parametrize("name", list(QUANTIZED))
def test_post_training_quantized_paddle_model(name, paddle_model, tmp_path):
    out = tmp_path / "out"
    report = api.convert(paddle_model(name, legacy=True), str(out), INT8_MODEL_SCALES, progress=lambda _: None)
    assert_parity(report)
    assert_int8_from_model_scales(report, "paddle")
    graph = onnx.load(str(out / "model.onnx")).graph
    ops = [node.op_type for node in graph.node]
    quantized = report.model_summary["quantized"]
    kinds = {kind: sum(t["kind"] == kind for t in quantized) for kind in ("weight", "activation")}
    assert kinds == QUANTIZED[name], quantized
    assert ops.count("QuantizeLinear") == kinds["activation"]
    assert ops.count("DequantizeLinear") == len(quantized)
    assert all(
        t["dtype"] == "int8" and t["granularity"] == "per-tensor" and t["zero_points"] == [0] for t in quantized
    ), quantized
    weights = [t for t in quantized if t["kind"] == "weight"]
    assert [t["layers"][0].split()[0] for t in weights] == WEIGHT_READERS[name]
    int8 = {init.name: init for init in graph.initializer if init.data_type == onnx.TensorProto.INT8}
    assert {t["tensor"] for t in weights} <= set(int8), sorted(int8)  # weights stored as int8, not float
    restored = [fix for fix in report.fixes if fix["pass_name"] == "restore_int8_quantize_ops"]
    assert len(restored) == len(quantized) + kinds["activation"]  # one per Paddle quantize / dequantize op


def test_cli_lists_quantized_tensors_and_no_fixes_shows_the_defect(paddle_model, tmp_path):
    model = paddle_model("quantized_mlp", legacy=True)
    unfixed = tmp_path / "unfixed"
    proc = run_cli("convert", model, "-o", str(unfixed), "--no-fixes")  # defect 15 as paddle2onnx 2.1.0 has it
    assert_clean_failure(proc, unfixed, "model.pdmodel", "Only support e4m3 or e5m2")
    out = tmp_path / "out"
    proc = run_cli("convert", model, "-o", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "quantized: 8 tensors (5 activations int8 per-tensor, 3 weights int8 per-tensor)" in proc.stdout
    html = (out / "report.html").read_text()
    assert "Quantized tensors" in html and "linear_0.w_0.int8" in html


def assert_int8_from_model_scales(report, reference: str) -> None:
    (tflite,) = report.tflite
    assert tflite.converted and tflite.scales == "model", tflite
    assert tflite.samples_reference == reference and tflite.samples == 64
    assert tflite.top1 >= MIN_TOP1 and tflite.verdict == "pass", tflite.top1_agreement


QDQ_MODELS = {"qdq_cnn": (qdq_cnn, {"Conv": 2, "MatMul": 1}), "qdq_mlp": (qdq_mlp, {"MatMul": 2})}


@pytest.mark.parametrize("name", list(QDQ_MODELS))
def test_qdq_onnx_model(name, tmp_path):
    build, weight_readers = QDQ_MODELS[name]
    path = tmp_path / f"{name}.onnx"
    onnx.save(build(), str(path))
    report = api.convert(str(path), str(tmp_path / "out"), INT8_MODEL_SCALES, progress=lambda _: None)
    assert_parity(report, paddle=False)
    quantized = report.model_summary["quantized"]
    weights = [t for t in quantized if t["kind"] == "weight"]
    assert all(t["granularity"] == "per-axis" and len(t["scale_shape"]) == 1 for t in weights), weights
    readers = [t["layers"][0].split()[0] for t in weights]
    assert {op: readers.count(op) for op in set(readers)} == weight_readers
    assert sum(t["kind"] == "activation" for t in quantized) == len(weights)
    assert_int8_from_model_scales(report, "onnxruntime")
