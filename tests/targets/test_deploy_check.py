"""`convert --static-shape` and `deploy-check`: static signatures, XLA parity, control flow, exit codes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARITY, BadInputError
from paddle2tf.frontend.static_shape import StaticShape, apply_to_specs, fix_onnx_inputs, parse_static_shape
from paddle2tf.verify.metrics import PASS

from helpers.cli import run_cli

NORM_ZOO = "paddle_models:build_norm_zoo"  # conv, group/instance/layer norm, GELU, resizes: shape arithmetic


@pytest.fixture(scope="module")
def static_out(tmp_path_factory):
    """norm_zoo converted (and verified) with a static batch: the Layer is saved by Paddle with it too."""
    out = tmp_path_factory.mktemp("static") / "out"
    proc = run_cli("convert", NORM_ZOO, "--input-spec", "x:float32:-1x3x24x24", "--static-shape", "x:2x3x24x24",
                   "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-2000:]
    return out


def test_static_shape_conversion_passes_static_and_xla(static_out):
    report = json.loads((static_out / "report.json").read_text())
    assert report["source"]["static_shapes"] == ["x:2x3x24x24"]
    assert report["signature"]["inputs"][0]["shape"] == [2, 3, 24, 24]
    assert report["signature"]["outputs"][0]["shape"] == [2, 8, 48, 40]
    assert report["verification"]["feeds"][0]["shape"] == [2, 3, 24, 24]
    assert report["verdict"] == PASS

    proc = run_cli("deploy-check", str(static_out), "--require", "static,xla", "--json")
    assert proc.returncode == EXIT_OK, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["ok"] and result["failures"] == []
    assert result["dynamic"] == [] and result["counts"]["dynamic"] == 0
    assert result["shape_ops"] == []  # the resize/reshape shape arithmetic folded to constants
    assert result["control_flow"] == [] and result["nonstandard_ops"] == []
    assert "Conv2D" in result["ops"] and "float32" in result["dtypes"]
    xla = result["xla"]
    assert xla["compiled"] and xla["verdict"] == PASS
    metrics = xla["outputs"]["fetch_name_0"]
    assert metrics["out_of_tolerance"] == 0 and metrics["max_rel"] < 1e-5
    assert xla["tolerance"] == {"rtol": 1e-5, "atol": 1e-5, "scale_atol": True}
    stored = json.loads((static_out / "report.json").read_text())["deploy_check"]
    assert stored["required"] == ["static", "xla"] and stored["ok"]
    assert "deploy-check" in (static_out / "report.html").read_text()


def test_dynamic_conversion_fails_static_naming_the_input(paddle_model, tmp_path):
    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    out = tmp_path / "out"
    api.convert(paddle_model("norm_zoo"), str(out), ConvertOptions(verify=False), progress=lambda _: None)
    proc = run_cli("deploy-check", str(out), "--require", "static")
    assert proc.returncode == EXIT_PARITY, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "requirements: static: NOT MET" in proc.stdout
    failures = [line.strip() for line in proc.stdout.splitlines() if line.startswith("  static:")]
    assert failures[0] == "static: input 'x' has dynamic dims [?, 3, 24, 24]"
    assert any(line.startswith("static: node '") and "tensors with dynamic dims" in line for line in failures)


def _control_flow_onnx(path) -> str:
    """y = If(c, x + w, x * w), then a Loop running n times: acc += y."""
    F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
    then_g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", F, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", F, [2, 3])])
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "y"], ["acc_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond_in", B, []),
                 helper.make_tensor_value_info("acc_in", F, [2, 3])],
        [helper.make_tensor_value_info("cond_out", B, []), helper.make_tensor_value_info("acc_out", F, [2, 3])])
    nodes = [helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g, else_branch=else_g),
             helper.make_node("Loop", ["n", "", "x"], ["acc"], name="repeat", body=body)]
    graph = helper.make_graph(
        nodes, "control_flow",
        [helper.make_tensor_value_info("x", F, [2, 3]), helper.make_tensor_value_info("c", B, []),
         helper.make_tensor_value_info("n", I64, [])],
        [helper.make_tensor_value_info("acc", F, [2, 3])],
        [numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_control_flow_is_reported(tmp_path):
    from paddle2tf.app import api
    from paddle2tf.app.api import deploy_check_output
    from paddle2tf.app.options import ConvertOptions, DeployCheckOptions

    out = tmp_path / "out"
    api.convert(_control_flow_onnx(tmp_path / "cf.onnx"), str(out), ConvertOptions(verify=False),
                progress=lambda _: None)
    result = deploy_check_output(str(out), DeployCheckOptions(("no-control-flow", "static"), update_report=False))
    ops = {ref.op for ref in result.control_flow}
    assert ops & {"If", "StatelessIf"} and ops & {"While", "StatelessWhile"}, result.control_flow
    assert result.functions >= 3  # the serving function, both If branches, the loop's cond and body
    cf_failures = [line for line in result.failures if line.startswith("no-control-flow: node '")]
    assert len(cf_failures) == result.counts["control_flow"] >= 2
    assert not [line for line in result.failures if line.startswith("static")]  # every dim static, loop too
    assert result.xla.compiled and result.xla.verdict == PASS


def _string_roundtrip_out_dir(folder) -> str:
    """A hand-made OUT_DIR whose SavedModel runs in TF but has string ops, which XLA cannot compile."""
    import tensorflow as tf

    def serve(x):
        return {"y": tf.strings.to_number(tf.strings.as_string(x * 2.0, precision=3), name="parse")}

    function = tf.function(serve, input_signature=[tf.TensorSpec([2, 3], tf.float32, name="x")], autograph=False)
    tf.saved_model.save(tf.Module(), str(folder / "saved_model"),
                        signatures={"serving_default": function.get_concrete_function()})
    signature = {"inputs": [{"onnx_name": "x", "tf_name": "x", "dtype": "float32", "shape": [2, 3]}],
                 "outputs": [{"onnx_name": "y", "tf_name": "y", "dtype": "float32", "shape": [2, 3]}]}
    (folder / "report.json").write_text(json.dumps({"source": {"path": "hand-made"}, "signature": signature}))
    np.savez(folder / "verification_inputs.npz", x=np.full((2, 3), 0.25, np.float32))
    return str(folder)


def test_xla_compile_failure_names_the_op(tmp_path):
    proc = run_cli("deploy-check", _string_roundtrip_out_dir(tmp_path), "--require", "xla,static,standard-ops")
    assert proc.returncode == EXIT_PARITY, proc.stdout[-3000:] + proc.stderr[-2000:]
    failures = [line.strip() for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert len(failures) == 1 and failures[0].startswith("xla: does not compile at node '"), failures
    assert "(AsString)" in failures[0] or "(StringToNumber)" in failures[0], failures
    assert "dtypes        float32, string" in proc.stdout


def test_bad_out_dir_exits_2_with_one_line(tmp_path):
    proc = run_cli("deploy-check", str(tmp_path / "missing"))
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr.strip().splitlines() == [f"paddle2tf: error: {tmp_path / 'missing'}: not a paddle2tf "
                                                "output (no report.json)"]
    proc = run_cli("deploy-check", str(tmp_path), "--require", "static,fast")
    assert proc.returncode == EXIT_BAD_INPUT and "--require fast: unknown requirement" in proc.stderr


def test_a_damaged_saved_model_exits_2(static_out, tmp_path):
    """A SavedModel that does not load because its files are damaged is bad input (it used to print "loads: NO"
    and exit 0); an op plain TF lacks stays a finding (test_plugins)."""
    out = tmp_path / "out"
    shutil.copytree(static_out, out)
    (variables,) = (out / "saved_model" / "variables").glob("variables.data-*")
    variables.write_bytes(b"")
    proc = run_cli("deploy-check", str(out))
    assert proc.returncode == EXIT_BAD_INPUT, proc.stdout[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"paddle2tf: error: {out / 'saved_model'}: the SavedModel does not load in TensorFlow")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("text, message", [
    ("x", "expected NAME:DIMS"), ("x:1x0x3", "expected NAME:DIMS"), (":1x3", "expected NAME:DIMS"),
    ("x:-1x3", "expected NAME:DIMS")])
def test_parse_static_shape_rejects(text, message):
    with pytest.raises(BadInputError, match=message):
        parse_static_shape(text)


def test_parse_static_shape():
    assert parse_static_shape("input:ids:1x128") == StaticShape("input:ids", (1, 128))
    assert str(parse_static_shape("x:1x3x224x224")) == "x:1x3x224x224"


def test_fix_onnx_inputs_checks_name_rank_and_fixed_dims():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph)
    for shapes, message in (([StaticShape("z", (1, 3))], "has no input 'z'"),
                            ([StaticShape("x", (1, 3, 1))], "has rank 2"),
                            ([StaticShape("x", (1, 4))], r"has shape \?x3"),
                            ([StaticShape("x", (1, 3)), StaticShape("x", (2, 3))], "given twice")):
        with pytest.raises(BadInputError, match=message):
            fix_onnx_inputs(model, shapes, "m.onnx")
    fix_onnx_inputs(model, [StaticShape("x", (4, 3))], "m.onnx")
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert [d.dim_value for d in inferred.graph.input[0].type.tensor_type.shape.dim] == [4, 3]
    assert [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim] == [4, 3]


def test_apply_to_specs():
    from paddle2tf.frontend.sources import parse_input_spec

    specs = [parse_input_spec("x:float32:-1x3"), parse_input_spec("n:int64:1")]
    assert [str(s) for s in apply_to_specs(specs, [StaticShape("x", (8, 3))])] == ["x:float32:8x3", "n:int64:1"]
    with pytest.raises(BadInputError, match="has shape"):
        apply_to_specs(specs, [StaticShape("x", (8, 4))])
