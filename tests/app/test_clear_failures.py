"""Failures outside the model's ops: each is one exit-2 line naming what the user gave (output folder, source,
input), never a temporary path; a wrong feeds file fails before the conversion; a reference output of another shape
is reported as the two shapes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_PARITY

from helpers.cli import assert_clean_failure, cli_env, run_cli, tiny_onnx


def test_output_under_a_file(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    for out in (tmp_path / "a_file" / "sub", tmp_path / "a_file" / "sub" / "deeper"):
        proc = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", str(out))
        assert_clean_failure(proc, out, f"{out}: cannot write the output there",
                             f"{tmp_path / 'a_file'} is a file, not a folder")


def test_output_where_no_folder_can_be_made(tmp_path):
    out = "/proc/paddle2tf_out"
    proc = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx"), "-o", out)
    last = assert_clean_failure(proc, out, f"{out}: cannot write the output there", "cannot create files in /proc")
    assert ".partial-" not in last


def ids_onnx(path) -> str:
    """Gather from a 5-row table: the generated ids (0..9) go out of its range."""
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["y"], name="embed")], "ids",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 6, 4])],
        [numpy_helper.from_array(np.arange(20, dtype=np.float32).reshape(5, 4), "table")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


HINT = "the integer input(s) {} were generated in [0, 10): give values in the model's range with --inputs FEEDS.npz"


def test_generated_ids_out_of_an_onnx_model_s_range(tmp_path):
    source, out = ids_onnx(tmp_path / "ids.onnx"), tmp_path / "out"
    last = assert_clean_failure(run_cli("convert", source, "-o", str(out)), out,
                                f"{source}: ONNX Runtime failed on the inputs", "out of data bounds",
                                HINT.format("ids"))
    assert ".partial-" not in last
    feeds = tmp_path / "ids.npz"  # ids in range: the same model passes
    np.savez(feeds, ids=np.random.default_rng(0).integers(0, 5, (2, 6)).astype(np.int64))
    proc = run_cli("convert", source, "-o", str(out), "--inputs", str(feeds))
    assert proc.returncode == 0 and "verdict: PASS" in proc.stdout, proc.stderr[-2000:]


def test_a_dataset_sample_a_framework_cannot_run_names_the_user_s_model(tmp_path):
    """A failure in the dataset stage named the unfinished OUT_DIR's copy (.out.partial-NNN/model.onnx)."""
    source, out = ids_onnx(tmp_path / "ids.onnx"), tmp_path / "out"
    feeds, dataset = tmp_path / "ids.npz", tmp_path / "dataset.npz"
    np.savez(feeds, ids=np.random.default_rng(0).integers(0, 5, (2, 6)).astype(np.int64))
    np.savez(dataset, ids=np.full((3, 6), 7, np.int64))  # out of the 5-row table
    proc = run_cli("convert", source, "-o", str(out), "--inputs", str(feeds), "--dataset", str(dataset))
    last = assert_clean_failure(proc, out, f"{source}: ONNX Runtime failed on the inputs")
    assert ".partial-" not in last


def test_generated_ids_out_of_a_paddle_model_s_range(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", "paddle_models:build_small_vocab", "--input-spec", "ids:int64:-1x6", "-o", str(out))
    last = assert_clean_failure(proc, out, "paddle_models:build_small_vocab: Paddle could not run the model",
                                HINT.format("ids"))
    assert ".partial-" not in last


@pytest.mark.parametrize("args,feeds,fragment", [
    ([], {"x": np.zeros((2, 5), np.float32)}, "input 'x' has shape [2, 5], the model expects ['?', 8]"),
    ([], {"wrong": np.zeros((2, 8), np.float32)}, "(missing: x) (unexpected: wrong)"),
    (["--io-layout", "nhwc"], {"x": np.zeros((2, 3, 6, 6), np.float32)},
     "input 'x' has shape [2, 3, 6, 6], the model expects ['?', 6, 6, 3]"),
], ids=["shape", "name", "nhwc_layout"])
def test_feeds_are_checked_before_the_conversion(tmp_path, args, feeds, fragment):
    source = tiny_onnx(tmp_path / "tiny.onnx") if not args else conv_onnx(tmp_path / "conv.onnx")
    feeds_file, out = tmp_path / "feeds.npz", tmp_path / "out"
    np.savez(feeds_file, **feeds)
    proc = run_cli("convert", source, "-o", str(out), "--inputs", str(feeds_file), *args)
    assert_clean_failure(proc, out, str(feeds_file), fragment)
    assert "paddle2tf: convert " not in proc.stderr  # rejected in the check stage, before any conversion work


def conv_onnx(path) -> str:
    """x (N, 3, 6, 6) → Conv (4 filters, 3x3, pads 1) → y (N, 4, 6, 6)."""
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 6, 6])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_a_reference_output_of_another_shape_is_reported_as_the_shapes(paddle_model, tmp_path):
    """The mlp's Paddle reference returns (2, 10); this ONNX model of the same input returns (2, 1000)."""
    w = np.random.default_rng(0).standard_normal((64, 1000)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="wide")], "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1000])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "wide.onnx"))
    out = tmp_path / "out"
    proc = run_cli("convert", str(tmp_path / "wide.onnx"), "-o", str(out), "--paddle-reference",
                   paddle_model("mlp"), "--no-locate")
    assert proc.returncode == EXIT_PARITY, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("y "))
    assert row.count("shape (2, 10) vs (2, 1000)") == 2 and "nan" not in row, row  # paddle↔onnx and paddle↔tf
    pairs = json.loads((out / "report.json").read_text())["verification"]["outputs"][0]["pairs"]
    assert pairs["paddle_vs_tensorflow"]["mismatch"] == "shape (2, 10) vs (2, 1000)"
    assert pairs["onnxruntime_vs_tensorflow"]["mismatch"] == "" and pairs["onnxruntime_vs_tensorflow"]["verdict"] \
        == "pass"
    assert "shape (2, 10) vs (2, 1000)" in (out / "report.html").read_text()


# A bug reached inside a stage (here the model summary of the convert stage raises): in a child process, since the
# fault has to be planted in the module the command runs.
PLANTED_FAULT = """
import sys
import paddle2tf.app.api as api
def fault(model):
    raise ValueError("planted fault")
api.model_summary = fault
from paddle2tf.app.cli import main
main(sys.argv[1:])
"""


def test_an_unexpected_error_inside_a_stage_is_one_line_naming_the_stage(tmp_path):
    source, out = tiny_onnx(tmp_path / "tiny.onnx"), tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", PLANTED_FAULT, "convert", source, "-o", str(out)],
                          capture_output=True, text=True, env=cli_env(), timeout=600)
    assert_clean_failure(proc, out, "convert stage failed unexpectedly: ValueError: planted fault",
                         "--debug shows the traceback")
    debug = subprocess.run([sys.executable, "-c", PLANTED_FAULT, "convert", source, "-o", str(out), "--debug"],
                           capture_output=True, text=True, env=cli_env(), timeout=600)
    assert debug.returncode == EXIT_BAD_INPUT and "Traceback" in debug.stderr and "planted fault" in debug.stderr
