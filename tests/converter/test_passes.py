"""Graph optimisation passes: each rewritten model must compute what the original computes.

Reference: ONNX Runtime on the original model. The rewritten model is run in ONNX Runtime (the pass
alone) and converted (pass + converter); tolerances rtol = atol = 1e-5 (float32 re-association of the
folded weights).
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper
from onnx_graphs import assert_matches_ort, make_model, rng, run_ort

from paddle2tf.converter.passes import fold_batch_norm, optimize


def assert_pass_keeps_outputs(original, rewritten, feeds, rtol=1e-5, atol=1e-5):
    want, got = run_ort(original, feeds), run_ort(rewritten, feeds)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=rtol, atol=atol, err_msg=name)
    assert_matches_ort(rewritten, feeds, rtol=rtol, atol=atol)


def bn_params(r, channels: int) -> dict[str, np.ndarray]:
    return {"scale": r.standard_normal(channels).astype(np.float32),
            "beta": r.standard_normal(channels).astype(np.float32),
            "mean": r.standard_normal(channels).astype(np.float32),
            "var": r.uniform(0.1, 3.0, channels).astype(np.float32)}


def conv_bn_model(with_bias: bool, extra_reader: bool = False, dynamic_bn_input: bool = False):
    r = rng(7)
    conv_inputs = ["x", "w", "b"] if with_bias else ["x", "w"]
    nodes = [helper.make_node("Conv", conv_inputs, ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "beta", "mean", "var"], ["y"], name="bn",
                              epsilon=1e-3),
             helper.make_node("Relu", ["y"], ["out"], name="relu")]
    outputs = ["out"]
    if extra_reader:
        nodes.append(helper.make_node("Sigmoid", ["c"], ["side"], name="side"))
        outputs.append("side")
    inits = {"w": r.standard_normal((6, 3, 3, 3)).astype(np.float32),
             "b": r.standard_normal(6).astype(np.float32), **bn_params(r, 6)}
    feeds = {"x": r.standard_normal((2, 3, 7, 7)).astype(np.float32)}
    if dynamic_bn_input:
        feeds["scale"] = inits.pop("scale")
    if not with_bias:
        inits.pop("b")
    return make_model(nodes, feeds, outputs, inits), feeds


def test_fold_batch_norm_into_conv_with_and_without_bias():
    for with_bias in (True, False):
        model, feeds = conv_bn_model(with_bias)
        result = optimize(model, {"fold_batch_norm": fold_batch_norm})
        assert result.rewrites == {"fold_batch_norm": 1}
        ops = [n.op_type for n in result.model.graph.node]
        assert ops == ["Conv", "Relu"]
        conv = result.model.graph.node[0]
        assert conv.name == "conv" and list(conv.output) == ["y"]
        # the original weights are no longer in the graph (not stored twice)
        assert {i.name for i in result.model.graph.initializer} == set(conv.input[1:])
        assert [n.op_type for n in model.graph.node][:2] == ["Conv", "BatchNormalization"]  # input untouched
        assert_pass_keeps_outputs(model, result.model, feeds)


def test_fold_batch_norm_skips_shared_conv_output_and_runtime_parameters():
    for kwargs in ({"extra_reader": True}, {"dynamic_bn_input": True}):
        model, feeds = conv_bn_model(True, **kwargs)
        copy = optimize(model, {"fold_batch_norm": fold_batch_norm})
        assert copy.rewrites == {"fold_batch_norm": 0}, kwargs
        assert_pass_keeps_outputs(model, copy.model, feeds)


def test_fold_batch_norm_reads_constant_nodes_like_paddle2onnx_writes():
    """paddle2onnx stores weights in Constant nodes, not initializers; the old Constants are removed."""
    model, feeds = conv_bn_model(True)
    graph = model.graph
    constants = [helper.make_node("Constant", [], [init.name], value=init) for init in graph.initializer]
    for node, init in zip(constants, graph.initializer, strict=True):
        node.attribute[0].t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init), init.name))
    nodes = constants + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    result = optimize(model, {"fold_batch_norm": fold_batch_norm})
    assert result.rewrites == {"fold_batch_norm": 1}
    assert [n.op_type for n in result.model.graph.node] == ["Conv", "Relu"]
    assert_pass_keeps_outputs(model, result.model, feeds)
