"""Op variants a converter refuses: `check` and `convert` reject them alike, as one exit-2 line naming the node, its
op type and the reason; a converter failing while tracing (a refusal the pre-scan cannot see, or a bug) is the same
clear line, not a traceback. The accepted neighbours of each refused variant still convert (against ONNX Runtime)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from paddle2tf.converter.prescan import find_unsupported
from paddle2tf.errors import EXIT_OK

from helpers.cli import assert_clean_failure, run_cli, tiny_onnx
from helpers.onnx_graphs import assert_matches_ort


def _model(nodes, inputs, outputs, initializers=(), opset=13) -> onnx.ModelProto:
    """``inputs``/``outputs``: (name, TensorProto type, dims) with every output typed (the full checker wants it)."""
    graph = helper.make_graph(nodes, "refusal", [helper.make_tensor_value_info(*i) for i in inputs],
                              [helper.make_tensor_value_info(*o) for o in outputs],
                              [numpy_helper.from_array(np.asarray(v), n) for n, v in dict(initializers).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def resize_linear(dtype: int) -> onnx.ModelProto:
    return _model([helper.make_node("Resize", ["x", "", "scales"], ["y"], name="upscale", mode="linear")],
                  [("x", dtype, [1, 1, 4, 4])], [("y", dtype, [1, 1, 8, 8])],
                  {"scales": np.array([1, 1, 2, 2], np.float32)})


def conv_with_weight_input(kernel_dims) -> onnx.ModelProto:
    return _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")],
                  [("x", TensorProto.FLOAT, [1, 3, 8, 8]), ("w", TensorProto.FLOAT, [4, 3, *kernel_dims])],
                  [("y", TensorProto.FLOAT, [1, 4, "h", "w"])])


def dft(axis: int) -> onnx.ModelProto:
    return _model([helper.make_node("DFT", ["x"], ["y"], name="dft", axis=axis)],
                  [("x", TensorProto.FLOAT, [4, 8, 2])], [("y", TensorProto.FLOAT, [4, 8, 2])], opset=17)


def stft(frame_length: int | None) -> onnx.ModelProto:
    inputs = ["signal", "step"] + (["", "frame_length"] if frame_length else [])
    constants = {"step": np.array(8, np.int64)}
    if frame_length:
        constants["frame_length"] = np.array(frame_length, np.int64)
    return _model([helper.make_node("STFT", inputs, ["y"], name="stft")],
                  [("signal", TensorProto.FLOAT, [1, 64, 1])], [("y", TensorProto.FLOAT, [1, "f", "b", 2])],
                  constants, opset=17)


REFUSED = {
    "resize_linear_uint8": (lambda: resize_linear(TensorProto.UINT8), "node", "upscale",
                            "Resize (mode=linear on a UINT8 input"),
    "conv_weight_input": (lambda: conv_with_weight_input(["kh", "kw"]), "node", "conv",
                          "Conv (no kernel_shape attribute and W is the graph input 'w' of shape 4x3x?x?)"),
    "dft_axis0": (lambda: dft(0), "node", "dft", "DFT (axis=0 on a rank-3 input"),
    "stft_no_frame_length": (lambda: stft(None), "node", "stft", "STFT (neither a window nor a frame_length"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_check_and_convert_refuse_alike(tmp_path, case):
    make, _, node, reason = REFUSED[case]
    path = tmp_path / f"{case}.onnx"
    onnx.save(make(), str(path))
    check = run_cli("check", str(path))
    assert f"unsupported: {reason}" in check.stdout and check.stdout.rstrip().endswith(f": {node}"), check.stdout
    out = tmp_path / "out"
    assert_clean_failure(check, out, str(path), reason, node)
    assert_clean_failure(run_cli("convert", str(path), "-o", str(out)), out, "unsupported ONNX ops", reason, node)


@pytest.mark.parametrize("model,feeds", [
    (resize_linear(TensorProto.FLOAT), {"x": np.random.default_rng(0).standard_normal((1, 1, 4, 4), np.float32)}),
    (conv_with_weight_input([3, 3]), {"x": np.random.default_rng(1).standard_normal((1, 3, 8, 8), np.float32),
                                      "w": np.random.default_rng(2).standard_normal((4, 3, 3, 3), np.float32)}),
    (dft(1), {"x": np.random.default_rng(3).standard_normal((4, 8, 2), np.float32)}),
    (stft(16), {"signal": np.random.default_rng(4).standard_normal((1, 64, 1), np.float32)}),
], ids=["resize_linear_float", "conv_weight_input_static", "dft_axis1", "stft_frame_length"])
def test_accepted_neighbours_still_convert(model, feeds):
    """The checks refuse only the variants: the same ops otherwise pass the pre-scan and match ONNX Runtime."""
    assert find_unsupported(model) == {}
    assert_matches_ort(model, feeds, rtol=1e-5, atol=1e-5)


def conv_with_computed_weight(path) -> str:
    """W is an Identity of a graph input with unknown kernel dims: the pre-scan lets computed weights pass (TF may
    know their shape), the Conv converter then refuses while tracing."""
    model = _model([helper.make_node("Identity", ["w"], ["w_copy"], name="copy_w"),
                    helper.make_node("Conv", ["x", "w_copy"], ["y"], name="conv")],
                   [("x", TensorProto.FLOAT, [1, 3, 8, 8]), ("w", TensorProto.FLOAT, [4, 3, "kh", "kw"])],
                   [("y", TensorProto.FLOAT, [1, 4, "h", "w"])])
    onnx.save(model, str(path))
    return str(path)


BUGGY_SIGMOID = textwrap.dedent("""\
    from paddle2tf.converter import registry


    @registry.converter("Sigmoid", since=1)
    def sigmoid(node, inputs, attrs, ctx):
        raise RuntimeError("a bug in this converter")
    """)


def test_a_refusal_while_tracing_is_one_line_naming_the_node(tmp_path):
    path = conv_with_computed_weight(tmp_path / "computed_w.onnx")
    assert run_cli("check", path).returncode == EXIT_OK  # what the pre-scan cannot see
    out = tmp_path / "out"
    assert_clean_failure(run_cli("convert", path, "-o", str(out)), out,
                         "node 'conv' (Conv): no kernel_shape attribute and W's spatial dims are not static")


def test_a_converter_bug_is_one_line_naming_the_node(tmp_path):
    plugin = tmp_path / "buggy_sigmoid.py"
    plugin.write_text(BUGGY_SIGMOID)
    out = tmp_path / "out"
    proc = run_cli("convert", tiny_onnx(tmp_path / "tiny.onnx", "Sigmoid"), "-o", str(out), "--plugin", str(plugin))
    assert_clean_failure(proc, out, "node 'act' (Sigmoid): converter failed: RuntimeError: a bug in this converter")


def test_pipeline_alerts_a_refusal_while_tracing_at_stage_convert(tmp_path):
    """Exit 2 from the worker: the model is failed (not crashed) in stage convert, the alert names the node."""
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(textwrap.dedent(f"""\
        repository: {tmp_path / 'repo'}
        work_dir: {tmp_path / 'work'}
        alerts:
          alerts_file: {tmp_path / 'alerts.jsonl'}
        models:
          - name: computed_w
            source: {conv_with_computed_weight(tmp_path / 'computed_w.onnx')}
        """))
    proc = run_cli("pipeline", "run", str(pipeline))
    assert "Traceback" not in proc.stdout + proc.stderr
    [alert] = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert alert["stage"] == "convert", alert
    assert alert["error"].startswith("node 'conv' (Conv): no kernel_shape attribute"), alert
    assert "FAILED in stage convert" in proc.stdout and "crashed" not in proc.stdout, proc.stdout
