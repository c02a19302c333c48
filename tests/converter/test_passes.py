"""Graph optimisation passes: each rewritten model must compute what the original computes.

Reference: ONNX Runtime on the original model. The rewritten model is run in ONNX Runtime (the pass
alone) and converted (pass + converter); tolerances rtol = atol = 1e-5 (float32 re-association of the
folded weights).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from paddle2tf.converter.passes import fold_batch_norm, fold_conv_bias, fuse_gelu, fuse_layer_norm, optimize
from paddle2tf.converter.prescan import find_unsupported
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN

from helpers.onnx_graphs import assert_matches_ort, make_model, rng, run_ort


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


def conv_add_model(bias_shape: tuple, with_bias: bool = False, extra_reader: bool = False,
                   shape_behind_reshape: bool = False):
    """Conv (3 -> 6 channels) then Add of a constant, the way paddle2onnx writes a conv2d bias: Add(conv,
    Reshape(b, [1, 6, 1, 1])) with ``shape_behind_reshape``, else the constant as an initializer."""
    r = rng(11)
    inits = {"w": r.standard_normal((6, 3, 3, 3)).astype(np.float32),
             "c": r.standard_normal(bias_shape).astype(np.float32)}
    conv_inputs = ["x", "w"]
    if with_bias:
        inits["b"] = r.standard_normal(6).astype(np.float32)
        conv_inputs.append("b")
    nodes = [helper.make_node("Conv", conv_inputs, ["conv_out"], name="conv", pads=[1, 1, 1, 1])]
    added = "c"
    if shape_behind_reshape:
        inits["shape"] = np.array(bias_shape, np.int64)
        inits["c"] = inits["c"].reshape(-1)
        nodes.append(helper.make_node("Reshape", ["c", "shape"], ["c_reshaped"]))
        added = "c_reshaped"
    nodes += [helper.make_node("Add", ["conv_out", added], ["y"], name="add"),
              helper.make_node("Relu", ["y"], ["out"], name="relu")]
    outputs = ["out"]
    if extra_reader:
        nodes.append(helper.make_node("Sigmoid", ["conv_out"], ["side"], name="side"))
        outputs.append("side")
    feeds = {"x": r.standard_normal((2, 3, 7, 7)).astype(np.float32)}
    return make_model(nodes, feeds, outputs, inits), feeds


@pytest.mark.parametrize("bias_shape, with_bias, behind_reshape", [
    ((1, 6, 1, 1), False, True),  # paddle2onnx's conv2d + bias
    ((6, 1, 1), True, False),  # added to an existing bias
    ((1,), False, False),  # a scalar broadcasts over every channel
])
def test_fold_conv_bias(bias_shape, with_bias, behind_reshape):
    model, feeds = conv_add_model(bias_shape, with_bias, shape_behind_reshape=behind_reshape)
    result = optimize(model, {"fold_conv_bias": fold_conv_bias})
    assert result.rewrites == {"fold_conv_bias": 1}
    assert [n.op_type for n in result.model.graph.node] == ["Conv", "Relu"]
    conv = result.model.graph.node[0]
    assert conv.name == "conv" and list(conv.output) == ["y"] and len(conv.input) == 3
    assert_pass_keeps_outputs(model, result.model, feeds)


@pytest.mark.parametrize("bias_shape, kwargs", [
    ((1, 6, 7, 1), {}),  # varies along a spatial axis
    ((2, 6, 1, 1), {}),  # along the batch axis
    ((1, 1, 6, 1, 1), {}),  # a higher rank changes the output's shape
    ((1, 6, 1, 1), {"extra_reader": True}),  # the Conv's output is read elsewhere too
])
def test_fold_conv_bias_skips_non_biases(bias_shape, kwargs):
    model, feeds = conv_add_model(bias_shape, **kwargs)
    result = optimize(model, {"fold_conv_bias": fold_conv_bias})
    assert result.rewrites == {"fold_conv_bias": 0}


# -- fusions: the rewritten model converts to what ONNX Runtime computes on the original ------------------------
# Below opset 17 (LayerNormalization) / 20 (Gelu) and for Linear the fused nodes are in paddle2tf's internal
# domain, which ONNX Runtime cannot run: the rewritten model's conversion is compared with ONNX Runtime on the
# original (rtol = atol = 1e-5: rsqrt for 1 / sqrt and the MatMul's summation order). With the standard op
# available, ONNX Runtime runs the rewritten model too.

def assert_converts_like_original(original, rewritten, feeds, rtol=1e-5, atol=1e-5):
    from paddle2tf.converter.module import ConvertedModule

    from helpers.onnx_graphs import run_converted

    want = run_ort(original, feeds)
    got = ConvertedModule(rewritten, optimize=False)(feeds)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=rtol, atol=atol, err_msg=name)
    via_module = run_converted(original, feeds)  # the passes as ConvertedModule runs them
    for name, value in want.items():
        np.testing.assert_allclose(via_module[name], value, rtol=rtol, atol=atol, err_msg=name)


def ops_of(model):
    return [(n.domain, n.op_type) for n in model.graph.node if n.op_type != "Constant"]


def layer_norm_model(opset=13, beta=True, mean_axes=(-1,), eps_input=False, extra_reader=False):
    """paddle2onnx's decomposition: weights behind Identity + Reshape, eps a Constant node."""
    r = rng(3)
    c = 16
    consts = {"gamma": r.standard_normal(c).astype(np.float32), "beta": r.standard_normal(c).astype(np.float32),
              "two": np.array(2.0, np.float32), "flat": np.array([-1], np.int64)}
    nodes = [helper.make_node("ReduceMean", ["x"], ["mean"], name="mean", axes=list(mean_axes)),
             helper.make_node("Sub", ["x", "mean"], ["d"], name="sub"),
             helper.make_node("Pow", ["d", "two"], ["sq"], name="pow"),
             helper.make_node("ReduceMean", ["sq"], ["var"], name="var", axes=list(mean_axes)),
             helper.make_node("Add", ["var", "eps"], ["var_eps"], name="add_eps"),
             helper.make_node("Sqrt", ["var_eps"], ["std"], name="sqrt"),
             helper.make_node("Identity", ["gamma"], ["gamma_id"], name="gamma_id"),
             helper.make_node("Reshape", ["gamma_id", "flat"], ["gamma_flat"], name="gamma_flat"),
             helper.make_node("Div", ["d", "std"], ["normed"], name="div"),
             helper.make_node("Mul", ["normed", "gamma_flat"], ["scaled"], name="mul")]
    output = "scaled"
    if beta:
        nodes += [helper.make_node("Identity", ["beta"], ["beta_id"], name="beta_id"),
                  helper.make_node("Add", ["beta_id", "scaled"], ["y"], name="add_beta")]
        output = "y"
    feeds = {"x": (r.standard_normal((2, 5, c)) * 3 + 1).astype(np.float32)}
    if eps_input:
        feeds["eps"] = np.array(1e-5, np.float32)
    else:
        nodes.insert(0, helper.make_node("Constant", [], ["eps"], value=numpy_helper.from_array(
            np.array(1e-5, np.float32))))
    outputs = [output, "d"] if extra_reader else [output]
    if opset >= 18:  # ReduceMean's axes became an input
        consts["axes"] = np.array(mean_axes, np.int64)
        for node in nodes:
            if node.op_type == "ReduceMean":
                del node.attribute[:]
                node.input.append("axes")
    return make_model(nodes, feeds, outputs, consts, opset=opset, dynamic_inputs=True), feeds, output


def test_fuse_layer_norm_below_opset_17_uses_the_internal_op():
    for beta in (True, False):
        model, feeds, output = layer_norm_model(beta=beta)
        result = optimize(model, {"fuse_layer_norm": fuse_layer_norm})
        assert result.rewrites == {"fuse_layer_norm": 1}
        fused = [n for n in result.model.graph.node if n.op_type == "LayerNormalization"]
        assert len(fused) == 1 and fused[0].domain == INTERNAL_DOMAIN
        assert fused[0].name == "mean" and list(fused[0].output) == [output]
        assert list(fused[0].input) == ["x", "gamma_flat", *(["beta_id"] if beta else [])]
        assert not {"ReduceMean", "Sub", "Pow", "Sqrt", "Div"} & {op for _, op in ops_of(result.model)}
        assert (INTERNAL_DOMAIN, 1) in {(o.domain, o.version) for o in result.model.opset_import}
        assert find_unsupported(result.model) == {}  # not an unknown custom op
        assert_converts_like_original(model, result.model, feeds)


def test_fuse_layer_norm_from_opset_17_uses_onnx_layer_normalization():
    for opset in (17, 18):
        model, feeds, _ = layer_norm_model(opset=opset)
        result = optimize(model, {"fuse_layer_norm": fuse_layer_norm})
        assert result.rewrites == {"fuse_layer_norm": 1}
        assert ("", "LayerNormalization") in ops_of(result.model)
        assert_pass_keeps_outputs(model, result.model, feeds)


def test_fuse_layer_norm_skips_near_patterns():
    """Mean over another axis, eps fed at run time, an intermediate value read outside the pattern."""
    for kwargs in ({"mean_axes": (1,)}, {"eps_input": True}, {"extra_reader": True}):
        model, feeds, _ = layer_norm_model(**kwargs)
        result = optimize(model, {"fuse_layer_norm": fuse_layer_norm})
        assert result.rewrites == {"fuse_layer_norm": 0}, kwargs
        assert result.model is model


SQRT2 = float(np.sqrt(2.0))


def gelu_model(opset=13, form="paddle", sqrt2=SQRT2, one=1.0):
    consts = {"sqrt2": np.array(sqrt2, np.float32), "one": np.array(one, np.float32),
              "half": np.array(0.5, np.float32), "rsqrt2": np.array(np.sqrt(0.5), np.float32)}
    if form == "paddle":  # Mul(Mul(x, Add(Erf(Div(x, sqrt2)), 1)), 0.5)
        nodes = [helper.make_node("Div", ["x", "sqrt2"], ["s"], name="div"),
                 helper.make_node("Erf", ["s"], ["e"], name="erf"),
                 helper.make_node("Add", ["e", "one"], ["a"], name="add"),
                 helper.make_node("Mul", ["x", "a"], ["m"], name="mul"),
                 helper.make_node("Mul", ["m", "half"], ["y"], name="half")]
    else:  # Mul(Mul(x, 0.5), Add(1, Erf(Mul(x, 1/sqrt2))))
        nodes = [helper.make_node("Mul", ["x", "half"], ["h"], name="half"),
                 helper.make_node("Mul", ["rsqrt2", "x"], ["s"], name="scale"),
                 helper.make_node("Erf", ["s"], ["e"], name="erf"),
                 helper.make_node("Add", ["one", "e"], ["a"], name="add"),
                 helper.make_node("Mul", ["h", "a"], ["y"], name="mul")]
    nodes.append(helper.make_node("Identity", ["y"], ["out"], name="out"))
    feeds = {"x": (rng(5).standard_normal((3, 7, 11)) * 3).astype(np.float32)}
    return make_model(nodes, feeds, ["out"], consts, opset=opset, dynamic_inputs=True), feeds


def test_fuse_gelu_below_opset_20_uses_the_internal_op():
    for form, first in (("paddle", "div"), ("half_first", "half")):
        model, feeds = gelu_model(form=form)
        result = optimize(model, {"fuse_gelu": fuse_gelu})
        assert result.rewrites == {"fuse_gelu": 1}, form
        assert ops_of(result.model) == [(INTERNAL_DOMAIN, "Gelu"), ("", "Identity")], form
        gelu = result.model.graph.node[0]
        assert gelu.name == first and list(gelu.input) == ["x"] and list(gelu.output) == ["y"]
        assert_converts_like_original(model, result.model, feeds)


def test_fuse_gelu_from_opset_20_uses_onnx_gelu():
    model, feeds = gelu_model(opset=20)
    result = optimize(model, {"fuse_gelu": fuse_gelu})
    assert result.rewrites == {"fuse_gelu": 1}
    assert ops_of(result.model) == [("", "Gelu"), ("", "Identity")]
    assert_pass_keeps_outputs(model, result.model, feeds)


def test_fuse_gelu_skips_other_constants():
    for kwargs in ({"sqrt2": 2.0}, {"one": 2.0}):
        model, _ = gelu_model(**kwargs)
        assert optimize(model, {"fuse_gelu": fuse_gelu}).rewrites == {"fuse_gelu": 0}, kwargs


def linear_model(activation="gelu", a_shape=(2, 3, 8), bias_shape=(6,), extra_reader=False, weight_input=False):
    r = rng(11)
    consts = {"w": (r.standard_normal((8, 6)) * 0.5).astype(np.float32),
              "b": r.standard_normal(bias_shape).astype(np.float32),
              "sqrt2": np.array(np.sqrt(2.0), np.float32), "one": np.array(1.0, np.float32),
              "half": np.array(0.5, np.float32)}
    nodes = [helper.make_node("MatMul", ["a", "w"], ["mm"], name="matmul"),
             helper.make_node("Add", ["mm", "b"], ["biased"], name="bias"),
             helper.make_node("Identity", ["biased"], ["biased_id"], name="biased_id")]
    if activation == "gelu":
        nodes += [helper.make_node("Div", ["biased_id", "sqrt2"], ["s"], name="div"),
                  helper.make_node("Erf", ["s"], ["e"], name="erf"),
                  helper.make_node("Add", ["e", "one"], ["g"], name="add"),
                  helper.make_node("Mul", ["biased_id", "g"], ["m"], name="mul"),
                  helper.make_node("Mul", ["m", "half"], ["y"], name="mul_half")]
    elif activation == "relu":
        nodes.append(helper.make_node("Relu", ["biased_id"], ["y"], name="relu"))
    else:
        nodes.append(helper.make_node("Neg", ["biased_id"], ["y"], name="neg"))
    feeds = {"a": r.standard_normal(a_shape).astype(np.float32)}
    if weight_input:
        feeds["w"] = consts.pop("w")
    outputs = ["y", "mm"] if extra_reader else ["y"]
    return make_model(nodes, feeds, outputs, consts, dynamic_inputs=True), feeds


def test_fuse_matmul_bias_absorbs_gelu_and_relu():
    expected = {"gelu": ("Gelu", []), "relu": ("Relu", []), "none": ("", [("", "Identity"), ("", "Neg")])}
    for activation, (attr, rest) in expected.items():
        for a_shape in ((2, 3, 8), (4, 8), (8,)):
            model, feeds = linear_model(activation, a_shape)
            result = optimize(model)
            assert result.rewrites["fuse_matmul_bias"] == 1, (activation, a_shape)
            assert ops_of(result.model) == [(INTERNAL_DOMAIN, "Linear"), *rest], (activation, a_shape)
            linear = result.model.graph.node[0]
            assert linear.name == "matmul" and list(linear.input) == ["a", "w", "b"]
            assert list(linear.output) == (["biased"] if activation == "none" else ["y"])
            assert helper.get_attribute_value(linear.attribute[0]) == attr.encode()
            assert_converts_like_original(model, result.model, feeds)


def test_fuse_matmul_bias_skips_non_vector_bias_shared_product_and_runtime_weights():
    for kwargs in ({"bias_shape": (1, 6)}, {"extra_reader": True}, {"weight_input": True}):
        model, feeds = linear_model(**kwargs)
        result = optimize(model)
        assert result.rewrites["fuse_matmul_bias"] == 0, kwargs
        assert_converts_like_original(model, result.model, feeds)


@pytest.fixture(scope="module")
def bert_small_onnx(paddle_model, tmp_path_factory):
    """bert_small exported by paddle2onnx at its default opset (13: LayerNorm and GELU written out)."""
    from paddle2tf.frontend.export import export_paddle
    from paddle2tf.frontend.sources import resolve_source

    folder = tmp_path_factory.mktemp("bert_small_onnx")
    return export_paddle(resolve_source(paddle_model("bert_small"), ()), str(folder)).onnx_path


def test_fusions_find_every_pattern_of_a_paddle2onnx_bert(bert_small_onnx):
    import onnx

    from paddle2tf.converter.module import ConvertedModule
    from paddle2tf.converter.plugins import onnxruntime_skip_reason

    model = onnx.load(bert_small_onnx)
    assert {o.domain: o.version for o in model.opset_import}[""] < 17
    # 2 layers: 2 LayerNorms, 1 GELU and 6 Linear layers each; the embeddings' LayerNorm; the pooler
    expected = {"fold_conv_bias": 0, "fold_batch_norm": 0, "fuse_layer_norm": 5, "fuse_gelu": 2, "fuse_matmul_bias": 13}
    result = optimize(model)
    assert result.rewrites == expected
    left = {op for _, op in ops_of(result.model)}
    assert not {"ReduceMean", "Pow", "Sqrt", "Erf", "Div"} & left
    assert sum(n.op_type == "Linear" and helper.get_attribute_value(n.attribute[0]) == b"Gelu"
               for n in result.model.graph.node) == 2
    assert find_unsupported(result.model) == {}
    assert onnxruntime_skip_reason(model) == ""  # verification's model.onnx is the original
    ids = rng(2).integers(0, 1000, size=(2, 16), dtype=np.int64)
    feeds = {model.graph.input[0].name: ids}
    converted = ConvertedModule(model)
    assert converted.rewrites == expected
    want, got = run_ort(model, feeds), converted(feeds)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5, err_msg=name)
