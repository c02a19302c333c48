"""The locate stage: real faults injected into one converter, found node by node; hop attribution.

Each fault perturbs exactly one node of a model exported from Paddle (tests/helpers/locate_faults.py); locate must
name exactly that node. Faults go through the in-process API (``compare_graph`` on the ONNX model) and
once through ``api.convert`` on an ONNX source; the Paddle → ONNX drift case goes through ``verify`` and the CLI.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions
from paddle2tf.frontend.sources import InputSpec, model_input_specs
from paddle2tf.onnxutil.checker import load_checked
from paddle2tf.report.terminal import render_locate
from paddle2tf.verify.feeds import make_feeds
from paddle2tf.verify.locate.model import NOT_COMPARED
from paddle2tf.verify.locate.nodewise import compare_graph
from paddle2tf.verify.metrics import FAIL

from helpers.cli import run_cli
from helpers.locate_faults import attribute, first_node, perturb, scaled_output, slice_off_by_one, swapped_trans_b
from helpers.onnx_graphs import make_model
from helpers.paddle_fixtures import HELPERS_DIR


def _feeds(model, batch: int = 2):
    specs = model_input_specs(model)
    return make_feeds([InputSpec(s.name, s.dtype, (batch, *s.shape[1:])) for s in specs], seed=0)


def _assert_culprit(result, node_name: str, op_type: str) -> None:
    culprit = result.culprit
    assert culprit is not None, "no culprit found"
    assert (culprit.name, culprit.op_type) == (node_name, op_type)
    nodes = result.nodes
    assert nodes[culprit.index].verdict == FAIL
    assert all(n.verdict != FAIL for n in nodes[:culprit.index]), "a node before the culprit fails"
    assert all(i["verdict"] != FAIL for i in culprit.inputs)
    assert culprit.metrics and all(m.verdict == FAIL for m in culprit.metrics.values())
    assert culprit.descendants and culprit.descendants == sorted(culprit.descendants)
    # the error reaches the graph outputs through its descendants
    last = {n.name for n in nodes[-1:]}
    assert any(nodes[i].name in last for i in culprit.descendants) or culprit.index == len(nodes) - 1


def _assert_clean(result) -> None:
    assert result.culprit is None
    assert result.not_compared_values == 0
    assert all(n.verdict in ("pass", "warn") for n in result.nodes), \
        [(n.name, n.verdict, n.max_rel) for n in result.nodes if n.verdict not in ("pass", "warn")]
    assert result.compared_values == sum(len([o for o in n.outputs]) for n in result.nodes)


@pytest.fixture(scope="module")
def resnet18(resnet18_onnx):
    model = load_checked(resnet18_onnx)
    return model, _feeds(model, batch=1)


@pytest.fixture(scope="module")
def bert(bert_small_out):
    model = load_checked(str(bert_small_out / "model.onnx"))
    return model, _feeds(model)


def test_resnet18_clean_and_scaled_conv(resnet18):
    model, feeds = resnet18
    _assert_clean(compare_graph(model, feeds))
    # a conv deep in the network, scaled by 1 %: found although every value after it also fails
    target = [n.name for n in model.graph.node if n.op_type == "Conv"][7]
    with perturb("Conv", target, scaled_output(1.01)):
        result = compare_graph(model, feeds)
    _assert_culprit(result, target, "Conv")
    node = model.graph.node[result.culprit.index]
    kernel = next(a.ints for a in node.attribute if a.name == "kernel_shape")
    assert result.culprit.attributes["kernel_shape"] == list(kernel)
    assert len(result.culprit.inputs[1]["shape"]) == 4 and result.culprit.inputs[1]["dtype"] == "float32"
    assert result.culprit.outputs[0]["shape"][0] == 1


def test_bert_clean(bert):
    model, feeds = bert
    _assert_clean(compare_graph(model, feeds))


def test_bert_layernorm_epsilon_in_chunks(bert):
    """Wrong epsilon in one LayerNormalization; small chunks exercise TF values fed from chunk to chunk."""
    model, feeds = bert
    target = [n.name for n in model.graph.node if n.op_type == "LayerNormalization"][2]
    with perturb("LayerNormalization", target, attribute("epsilon", 1e-1)):
        result = compare_graph(model, feeds, chunk_size=25)
    assert result.chunks >= 6
    _assert_culprit(result, target, "LayerNormalization")
    assert result.culprit.attributes["epsilon"] == pytest.approx(1e-5)  # the model's, not the fault's
    assert result.not_compared_values == 0


def test_bert_slice_off_by_one_through_api_convert(bert_small_out, tmp_path):
    """Off-by-one starts/ends in the Slice taking the first token: convert → verify fails → locate runs."""
    model = load_checked(str(bert_small_out / "model.onnx"))
    target = first_node(model, "Slice", lambda n: n.input[0].startswith("fetch_name"))
    out = tmp_path / "out"
    with perturb("Slice", target, slice_off_by_one):
        report = api.convert(str(bert_small_out / "model.onnx"), str(out), progress=lambda _: None)
    assert report.verdict == FAIL
    located = report.locate
    assert located.diverging_hop == "onnx_to_tensorflow"
    assert located.hops["paddle_to_onnx"].verdict == "not_checked"
    _assert_culprit(located.nodewise, target, "Slice")
    assert target in located.summary and target in render_locate(located)
    data = json.loads((out / "report.json").read_text())
    assert data["locate"]["nodewise"]["culprit"]["name"] == target
    assert [s["stage"] for s in data["stages"]][-2:] == ["verify", "locate"]
    assert target in (out / "report.html").read_text()
    # --no-locate (locate_on_failure=False) skips it
    with perturb("Slice", target, slice_off_by_one):
        report = api.convert(str(bert_small_out / "model.onnx"), str(out), ConvertOptions(force=True, locate=False),
                             progress=lambda _: None)
    assert report.verdict == FAIL and report.locate is None


def test_fault_inside_a_fused_node(bert_small_out, tmp_path):
    """A fault in the converter of a node the optimisation passes made (MatMul + bias Add + GELU → one
    paddle2tf.Linear): no node of the graph as written diverges, so locate compares the graph after the passes
    and names the fused node (it keeps the MatMul's name). Through convert and through `locate OUT_DIR`, which
    judges the ONNX → TF hop by running the SavedModel."""
    from paddle2tf.app.api import locate_output
    from paddle2tf.converter import passes
    from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN

    model = load_checked(str(bert_small_out / "model.onnx"))
    fused = [n for n in passes.optimize(model).model.graph.node if n.op_type == "Linear"]
    target = fused[3].name
    assert target in {n.name for n in model.graph.node if n.op_type == "MatMul"}
    out = tmp_path / "out"
    with perturb("Linear", target, scaled_output(1.01), domain=INTERNAL_DOMAIN):
        report = api.convert(str(bert_small_out / "model.onnx"), str(out), progress=lambda _: None)
        assert report.verdict == FAIL and report.locate.diverging_hop == "onnx_to_tensorflow"
        _assert_culprit(report.locate.nodewise, target, "Linear")
        assert "fuse_matmul_bias" in report.locate.nodewise.passes
        assert "after the passes" in report.locate.summary and target in report.locate.summary

        result = locate_output(str(out))
    assert result.hops["onnx_to_tensorflow"].verdict == FAIL
    assert result.hops["onnx_to_tensorflow"].basis == "ONNX Runtime and the SavedModel run by locate"
    _assert_culprit(result.nodewise, target, "Linear")


def _gemm_mlp(layers: int = 4, width: int = 16) -> onnx.ModelProto:
    """x → (Gemm transB=1 with a square weight → Relu) x layers: what Linear layers export as (no Paddle model
    exported by paddle2onnx here has a Gemm)."""
    rng = np.random.default_rng(3)
    nodes, weights, value = [], {}, "x"
    for i in range(layers):
        weights[f"w{i}"] = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        weights[f"b{i}"] = rng.standard_normal(width).astype(np.float32) * 0.1
        nodes.append(helper.make_node("Gemm", [value, f"w{i}", f"b{i}"], [f"g{i}"], name=f"gemm_{i}", transB=1))
        nodes.append(helper.make_node("Relu", [f"g{i}"], [f"h{i}"], name=f"relu_{i}"))
        value = f"h{i}"
    return make_model(nodes, {"x": (np.float32, (2, width))}, [value], weights)


def test_gemm_swapped_trans_b():
    """transB flipped in one Gemm of an MLP: located at exactly that Gemm, not the one before or after."""
    model = _gemm_mlp()
    feeds = _feeds(model)
    _assert_clean(compare_graph(model, feeds))
    gemms = [n.name for n in model.graph.node if n.op_type == "Gemm"]
    target = gemms[1]
    with perturb("Gemm", target, swapped_trans_b):
        result = compare_graph(model, feeds)
    _assert_culprit(result, target, "Gemm")
    assert result.culprit.attributes["transB"] == 1  # the model's, not the fault's
    assert [n.verdict for n in result.nodes if n.name == gemms[0]] == ["pass"]
    assert result.other_sources == []


def _edit_one_weight(model: onnx.ModelProto, skip: int = 0) -> str:
    """Scale one float weight (an initializer, or the value of a Constant node) by 1.1, the ``skip``-th one in
    graph order after leaving out ``skip`` others; returns its name."""
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32 and array.size > 1000:
            if skip:
                skip -= 1
                continue
            init.CopyFrom(numpy_helper.from_array(array * np.float32(1.1), init.name))
            return init.name
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = node.attribute[0]
            array = numpy_helper.to_array(value.t) if value.name == "value" else None
            if array is not None and array.dtype == np.float32 and array.size > 1000:
                if skip:
                    skip -= 1
                    continue
                value.t.CopyFrom(numpy_helper.from_array(array * np.float32(1.1), value.t.name))
                return node.output[0]
    raise AssertionError("no float weight to edit")


def _drifted_copy(source_out, out, skip: int = 0) -> str:
    """A copy of a paddle2tf output whose model.onnx has one weight scaled after export (an exporter bug's
    effect), converted again: Paddle↔ONNX fails, ONNX↔TF passes. Returns the weight's name."""
    from paddle2tf.converter.module import ConvertedModule

    shutil.copytree(source_out, out)
    model = onnx.load(str(out / "model.onnx"))
    edited = _edit_one_weight(model, skip)
    onnx.save(model, str(out / "model.onnx"))
    shutil.rmtree(out / "saved_model")
    ConvertedModule(model).save(str(out / "saved_model"))
    return edited


def _assert_region_reads(region, model: onnx.ModelProto, weight: str) -> None:
    """The region names the Paddle op reading ``weight`` and the ONNX node(s) reading it, and starts inside."""
    assert region is not None
    assert any(weight in op["params"] for op in region.paddle_ops), region.paddle_ops
    readers = {n.name for n in model.graph.node if weight in n.input}
    assert readers and readers <= {n["name"] for n in region.onnx_nodes}, (readers, region.onnx_nodes)
    assert weight in region.constants
    assert region.max_rel > 1e-2


def test_paddle_to_onnx_drift(bert_small_out, tmp_path):
    """The ONNX model edited after export: Paddle↔ONNX fails, ONNX↔TF passes → the Paddle → ONNX hop, and the
    region where Paddle's and ONNX Runtime's intermediate values part: the op reading the edited weight."""
    out = tmp_path / "drift"
    weight = _drifted_copy(bert_small_out, out, skip=3)  # a weight inside the encoder, not the first one
    model = onnx.load(str(out / "model.onnx"))

    report = api.verify_output(str(out), progress=lambda _: None)
    assert report.verdict == FAIL
    hops = report.locate.hops
    assert hops["paddle_to_onnx"].verdict == FAIL and hops["onnx_to_tensorflow"].verdict == "pass"
    assert report.locate.diverging_hop == "paddle_to_onnx"
    assert not report.locate.nodewise.ran  # a node search only applies to ONNX → TF
    assert "Paddle → ONNX hop diverges" in report.locate.summary
    paddle_values = report.locate.paddle_values
    assert paddle_values.ran and paddle_values.compared_values > 50
    region = paddle_values.region
    _assert_region_reads(region, model, weight)
    assert "first drifting region" in report.locate.summary and region.first_value in report.locate.summary
    # every value computed before the region is within tolerance (Paddle vs ONNX Runtime, default 1e-5)
    first_op = min(op["index"] for op in region.paddle_ops)
    before = [v for v in paddle_values.values if v.op_index < first_op and v.verdict != "not_compared"]
    assert before and all(v.verdict in ("pass", "warn") for v in before)
    data = json.loads((out / "report.json").read_text())["locate"]
    assert data["diverging_hop"] == "paddle_to_onnx" and data["paddle_values"]["region"]["first_value"]
    html = (out / "report.html").read_text()
    assert 'id="paddle-curve"' in html and "id='paddle-region'" in html

    # the CLI: locate re-runs Paddle and ONNX Runtime, searches node by node, finds nothing in ONNX → TF
    proc = run_cli("locate", str(out))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Paddle → ONNX hop diverges" in proc.stdout and "first drifting region" in proc.stdout
    data = json.loads((out / "report.json").read_text())["locate"]
    assert data["diverging_hop"] == "paddle_to_onnx"
    assert data["paddle_values"]["region"]["first_value"] == region.first_value
    assert data["hops"]["paddle_to_onnx"]["basis"].startswith("Paddle and ONNX Runtime run by locate")
    assert data["nodewise"]["ran"] and data["nodewise"]["culprit"] is None
    assert all(n["verdict"] in ("pass", "warn") for n in data["nodewise"]["nodes"])


def test_paddle_to_onnx_region_names_the_sublayer(tmp_path, monkeypatch):
    """A Layer source (Linear, ReLU, Linear, ReLU, Linear, Softmax) with its second Linear's weight edited in the
    ONNX model: the region is that Linear's matmul, its sublayer named '2'; Paddle's values are fetched two at a
    time (chunks) and match ONNX Runtime's (1e-5) up to it."""
    from paddle2tf.app.api import locate_output
    from paddle2tf.app.options import LocateOptions

    monkeypatch.setenv("PYTHONPATH", HELPERS_DIR)  # the export child imports paddle_models
    source_out = tmp_path / "mlp"
    api.convert("paddle_models:build_mlp", str(source_out),
                ConvertOptions(input_specs=(InputSpec("x", "float32", (None, 64)),)), progress=lambda _: None)
    out = tmp_path / "drift"
    weight = _drifted_copy(source_out, out, skip=1)
    result = locate_output(str(out), LocateOptions(chunk_size=2))
    assert result.diverging_hop == "paddle_to_onnx"
    region = result.paddle_values.region
    _assert_region_reads(region, onnx.load(str(out / "model.onnx")), weight)
    assert region.sublayers == ["2"]
    assert [op["op"] for op in region.paddle_ops] == ["pd_op.matmul"]
    ops = [v.paddle_op for v in result.paddle_values.values]
    assert ops[:2] == ["pd_op.matmul", "pd_op.add"] and "pd_op.softmax" in ops
    first = [v.verdict for v in result.paddle_values.values if v.op_index < region.paddle_ops[0]["index"]]
    assert first == ["pass"] * 3  # matmul, add, relu of the first Linear
    assert "sublayer(s) 2" in result.summary


def test_locate_cli_clean_and_bad_input(tmp_path):
    from helpers.cli import tiny_onnx

    out = tmp_path / "out"
    assert run_cli("convert", tiny_onnx(tmp_path / "m.onnx"), "-o", str(out)).returncode == 0
    proc = run_cli("locate", str(out), "--chunk-size", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "every hop is within tolerance" in proc.stdout
    data = json.loads((out / "report.json").read_text())["locate"]
    assert data["nodewise"]["chunks"] == 3 and data["hops"]["paddle_to_onnx"]["verdict"] == "not_checked"
    assert [n["verdict"] for n in data["nodewise"]["nodes"]] == ["pass"] * 3
    assert NOT_COMPARED not in {n["verdict"] for n in data["nodewise"]["nodes"]}
    proc = run_cli("locate", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "not a paddle2tf output" in proc.stderr
