"""`convert --precision fp16|bf16`: reduced-precision SavedModels, verified with the precision's tolerances."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from paddle2tf.converter.precision import reduce_precision
from paddle2tf.errors import EXIT_BAD_INPUT
from paddle2tf.verify.metrics import DEFAULT_TOLERANCES, PASS

from helpers.cli import run_cli

TF_TYPES = {"fp16": "DT_HALF", "bf16": "DT_BFLOAT16"}
CASES = [("resnet18", "fp16"), ("resnet18", "bf16"), ("bert_small", "fp16"), ("bert_small", "bf16")]


@pytest.fixture(scope="module")
def converted(paddle_model, tmp_path_factory):
    """One verified conversion per (model, precision), made on first use."""
    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    cache = {}

    def get(name: str, precision: str):
        if (name, precision) not in cache:
            out = tmp_path_factory.mktemp(f"{name}_{precision}") / "out"
            report = api.convert(paddle_model(name), str(out), ConvertOptions(precision=precision),
                                 progress=lambda _: None)
            cache[(name, precision)] = out, report
        return cache[(name, precision)]

    return get


def _op_dtypes(saved_model: str) -> dict[str, set[str]]:
    """op type -> its T (Cast: DstT) dtypes in the serving signature (nested functions included)."""
    import tensorflow as tf

    graph_def = tf.saved_model.load(saved_model).signatures["serving_default"].graph.as_graph_def()
    found: dict[str, set[str]] = {}
    for node in [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]:
        types = found.setdefault(node.op, set())
        for attr in ("T", "DstT"):
            if attr in node.attr:
                types.add(tf.dtypes.as_dtype(node.attr[attr].type).name)
    return found


@pytest.mark.parametrize("name,precision", CASES)
def test_reduced_precision_conversion_passes_with_its_tolerance(converted, name, precision):
    out, report = converted(name, precision)
    assert report.verdict == PASS, report.to_dict()["verification"]
    tolerance = DEFAULT_TOLERANCES[precision]
    data = json.loads((out / "report.json").read_text())
    assert data["verdict"] == PASS
    assert set(data["verification"]["frameworks"]) == {"paddle", "onnxruntime", "tensorflow"}
    for output in data["verification"]["outputs"]:
        assert output["tolerance"] == {"rtol": tolerance.rtol, "atol": tolerance.atol, "scale_atol": True}
        assert output["pairs"]["paddle_vs_onnxruntime"]["max_rel"] < 1e-5  # Paddle and ORT run the fp32 model
        assert 0 < output["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= tolerance.atol
    record = data["signature"]["precision"]
    assert record["compute"] == precision and record["io"] == "float32"
    assert record["default_tolerance"]["rtol"] == tolerance.rtol
    if name == "bert_small":
        assert record["fp32_islands"]["Softmax"] == 2
    html = (out / "report.html").read_text()
    assert "precision" in html and {"fp16": "float16", "bf16": "bfloat16"}[precision] in html


@pytest.mark.parametrize("name,precision", CASES)
def test_savedmodel_computes_in_reduced_precision_with_float32_signature(converted, name, precision):
    out, report = converted(name, precision)
    reduced = {"fp16": "float16", "bf16": "bfloat16"}[precision]
    signature = report.signature
    float_io = [t for t in signature["inputs"] + signature["outputs"] if t["dtype"].startswith(("float", "bfloat"))]
    assert float_io and all(t["dtype"] == "float32" for t in float_io)
    ops = _op_dtypes(str(out / "saved_model"))
    heavy = "Conv2D" if name == "resnet18" else "BatchMatMulV2"
    assert reduced in ops.get(heavy, set()) | ops.get("_FusedConv2D", set()), ops
    assert "float32" not in ops.get(heavy, set()), ops
    if name == "bert_small":
        assert reduced in ops["MatMul"] | ops.get("BatchMatMulV2", set()), ops
    assert {"float32", reduced} <= ops["Cast"], "the float32 signature is cast at the boundary"
    import tensorflow as tf

    variables = tf.saved_model.load(str(out / "saved_model")).weights
    big = [v for v in variables if v.shape.num_elements() >= 4096]
    assert big and all(v.dtype.name == reduced for v in big if v.dtype.is_floating)


def test_verify_reuses_the_recorded_precision_tolerance(converted):
    from paddle2tf.app import api

    out, _ = converted("resnet18", "fp16")
    report = api.verify_output(str(out), progress=lambda _: None)
    assert report.verdict == PASS
    assert report.verification.outputs[0].tolerance == DEFAULT_TOLERANCES["fp16"]
    assert json.loads((out / "report.json").read_text())["signature"]["precision"]["compute"] == "fp16"


def test_bad_precision_is_a_one_line_usage_error(tmp_path):
    proc = run_cli("convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "out"), "--precision", "fp8")
    assert proc.returncode == EXIT_BAD_INPUT
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paddle2tf: error:") and "--precision" in lines[0], proc.stderr
    proc = run_cli("convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "out"), "--precision-io")
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr.strip().splitlines()[-1] == ("paddle2tf: error: --precision-io: only with --precision fp16 "
                                                    "or bf16")


def _shape_math_onnx(path) -> str:
    """Conv → Relu → Resize(scales) → Softmax, and the pooled features times Cast(Shape(x)[2]) (shape math)."""
    F = TensorProto.FLOAT
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3, "w"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array(2, np.int64), "two"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Resize", ["r", "", "scales"], ["up"], mode="linear"),
             helper.make_node("Softmax", ["up"], ["y"], axis=1),
             helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "two"], ["h"]),
             helper.make_node("Cast", ["h"], ["hf"], to=F),
             helper.make_node("Mul", ["hf", "half"], ["factor"]),
             helper.make_node("GlobalAveragePool", ["r"], ["pooled"]),
             helper.make_node("Mul", ["pooled", "factor"], ["z"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [None, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", F, [None, 4, 16, 16]),
                               helper.make_tensor_value_info("z", F, [None, 4, 1, 1])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return str(path)


def test_rewrite_keeps_shape_math_and_spec_float32_inputs_in_float32(tmp_path):
    model = onnx.shape_inference.infer_shapes(onnx.load(_shape_math_onnx(tmp_path / "m.onnx")))
    reduced, record = reduce_precision(model, "fp16")
    nodes = {n.output[0]: n for n in reduced.graph.node}
    assert nodes["hf"].attribute[0].i == TensorProto.FLOAT  # Cast(Shape) stays exact
    assert nodes["factor"].input == ["hf", "half"]  # computed in float32 from the float32 constant
    assert nodes["up"].input[2] == "scales"  # float32 by the ONNX spec
    assert nodes["c"].input[0] == "x__fp16" and nodes["c"].input[1] == "w__fp16"
    assert nodes["y"].op_type == "Softmax" and record.fp32_islands == {"Softmax": 1, "GlobalAveragePool": 1}
    z = nodes["z"]  # the graph output keeps its name, cast back to float32
    assert z.op_type == "Cast" and z.attribute[0].i == TensorProto.FLOAT
    assert [o.type.tensor_type.elem_type for o in reduced.graph.output] == [TensorProto.FLOAT] * 2
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [TensorProto.FLOAT]  # the input is untouched


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_io_signature(tmp_path, precision):
    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    out = tmp_path / "out"
    report = api.convert(_shape_math_onnx(tmp_path / "m.onnx"), str(out),
                         ConvertOptions(precision=precision, precision_io=True), progress=lambda _: None)
    reduced = {"fp16": "float16", "bf16": "bfloat16"}[precision]
    assert [t["dtype"] for t in report.signature["inputs"] + report.signature["outputs"]] == [reduced] * 3
    assert report.signature["precision"]["io"] == reduced
    assert report.verdict == PASS, report.to_dict()["verification"]  # float32 feeds, cast in by the TF runner
    assert api.verify_output(str(out), progress=lambda _: None).verdict == PASS
