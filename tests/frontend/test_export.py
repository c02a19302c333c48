"""Known paddle2onnx 2.1.0 defects (docs/known-exporter-defects.md), reproduced through the CLI.

With fixes on, `convert` exits 0 and Paddle↔TF passes; with --no-fixes, paddle2tf must not exit 0 with
a wrong model: exit 1 from the three-way check or exit 2 with a clear message.
"""

from __future__ import annotations

import json

import pytest
from fixes.test_repair import scalar_concat_model

from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARITY

from helpers.cli import run_cli


def convert_report(source: str, out, *extra: str) -> dict:
    proc = run_cli("convert", source, "-o", str(out), *extra)
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    for output in report["verification"]["outputs"]:
        assert output["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= 1e-4
        assert output["pairs"]["paddle_vs_tensorflow"]["verdict"] in ("pass", "warn")
    return report


@pytest.mark.parametrize(
    "name,legacy", [("interpolate_scale", False), ("interpolate_scale_bilinear", False), ("interpolate_scale", True)]
)
def test_defect1_interpolate_scale_factor(paddle_model, tmp_path, name, legacy):
    source = paddle_model(name, legacy=legacy)
    report = convert_report(source, tmp_path / "fixed")
    assert any(f["pass_name"] == "float_attributes_as_f32" and "interp" in f["target"] for f in report["fixes"])
    proc = run_cli("convert", source, "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert "paddle2onnx could not export" in proc.stderr.strip().splitlines()[-1]


def test_defect2_pad_value_silently_corrupted(paddle_model, tmp_path):
    source = paddle_model("pad1d")
    report = convert_report(source, tmp_path / "fixed")
    assert any(f["target"] == "pd_op.pad3d" for f in report["fixes"])
    # Without the fix the export "succeeds" and ONNX Runtime runs it: only the three-way check sees it.
    proc = run_cli("convert", source, "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_PARITY, proc.stderr[-2000:]
    report = json.loads((tmp_path / "unfixed" / "report.json").read_text())
    pairs = report["verification"]["outputs"][0]["pairs"]
    assert pairs["paddle_vs_onnxruntime"]["verdict"] == "fail"
    assert pairs["onnxruntime_vs_tensorflow"]["verdict"] == "pass"  # our converter is faithful to the bad ONNX


def test_defect6_scalar_concat_repaired(tmp_path):
    import onnx

    path = tmp_path / "legacy_concat.onnx"
    onnx.save(scalar_concat_model(), str(path))
    proc = run_cli("convert", str(path), "-o", str(tmp_path / "fixed"))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    report = json.loads((tmp_path / "fixed" / "report.json").read_text())
    assert [f["pass_name"] for f in report["fixes"]] == ["unsqueeze_scalar_concat_inputs"]
    proc = run_cli("convert", str(path), "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT
    assert "legacy_concat.onnx" in proc.stderr.strip().splitlines()[-1]


def test_defect3_control_flow_and_reduce_all(paddle_model, tmp_path):
    """`paddle.mean(x)` (empty axis list) made paddle2onnx abort; the model also has If and Loop."""
    source = paddle_model("control_flow")
    report = convert_report(source, tmp_path / "fixed")
    assert any(f["pass_name"] == "explicit_reduce_all_axes" for f in report["fixes"])
    import onnx

    ops = {node.op_type for node in onnx.load(str(tmp_path / "fixed" / "model.onnx")).graph.node}
    assert {"If", "Loop"} <= ops
    proc = run_cli("convert", source, "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT
    last = proc.stderr.strip().splitlines()[-1]
    assert "paddle2onnx could not export" in last and "SIGABRT" in last, last


def test_defect4_simple_rnn_exported_by_paddle2tf(paddle_model, tmp_path):
    """paddle2onnx drops pd_op.rnn in RNN_TANH mode (nn.SimpleRNN); paddle2tf's Paddle-op exporter emits an ONNX
    RNN for it in the export child. Without fixes the graph reads the dangling value and the check refuses it."""
    source = paddle_model("gru_simple_rnn")
    report = convert_report(source, tmp_path / "fixed")
    assert [(f["stage"], f["pass_name"]) for f in report["fixes"]] == [("export", "export_simple_rnn")]
    assert "p2o.pd_op.rnn.1.0" in report["fixes"][0]["change"]
    import onnx

    ops = [node.op_type for node in onnx.load(str(tmp_path / "fixed" / "model.onnx")).graph.node]
    assert ops.count("GRU") == 1 and ops.count("RNN") == 1
    proc = run_cli("convert", source, "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT
    assert "p2o.pd_op.rnn" in proc.stderr.strip().splitlines()[-1]


def test_defect10_multiclass_nms3_any_batch(paddle_model, tmp_path):
    """paddle2onnx exports multiclass_nms3 for one image; verification feeds batch 2 (the input's batch is dynamic).
    Fixed: paddle2tf's export for any batch (tests/models/test_detection_heads.py checks it against Paddle).
    Unfixed: ONNX Runtime fails on the batch, exit 2."""
    proc = run_cli("convert", paddle_model("picodet_like"), "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert "Non concat axis dimensions must match" in proc.stderr.strip().splitlines()[-1]


def test_defect5_stacked_lstm_final_states(paddle_model, tmp_path):
    source = paddle_model("lstm_stacked_states")
    report = convert_report(source, tmp_path / "fixed")
    assert [f["pass_name"] for f in report["fixes"]].count("concat_stacked_rnn_final_states") == 2
    assert [o["shape"][0] for o in report["verification"]["outputs"][1:]] == [4, 4]
    proc = run_cli("convert", source, "-o", str(tmp_path / "unfixed"), "--no-fixes")
    assert proc.returncode in (EXIT_BAD_INPUT, EXIT_PARITY)


def test_doctor_lists_the_defects_a_model_triggers(paddle_model):
    proc = run_cli("doctor", paddle_model("lstm_stacked_states"))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    assert "2 fix(es)" in proc.stdout and proc.stdout.count("[repair/concat_stacked_rnn_final_states]") == 2
    proc = run_cli("doctor", paddle_model("pad1d"))
    assert "[sanitise/float_attributes_as_f32] pd_op.pad3d" in proc.stdout
    proc = run_cli("doctor", paddle_model("mlp"))
    assert "no known exporter defect is triggered" in proc.stdout
