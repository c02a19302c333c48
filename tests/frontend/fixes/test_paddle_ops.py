"""The Paddle-op exporter (paddle2tf.frontend.fixes.paddle_ops) on graphs shaped like paddle2onnx 2.1.0's output.

The graphs reproduce what paddle2onnx writes for a batch-first ``paddle.nn.SimpleRNN`` (defect 4): the
transpose to time-major, the zero initial state, Identity copies of the weights, and consumers of
``p2o.pd_op.rnn.0.0`` / ``p2o.pd_op.rnn.0.2_0`` with no ``RNN`` node producing them. The reference is a
numpy SimpleRNN with Paddle's weight layout; the end-to-end check against Paddle itself is in
tests/test_front_end.py and tests/models/test_sequence.py.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes.paddle_ops import EXPORTERS, PaddleOp, PaddleOpError, export_paddle_ops, may_need_export

from helpers.onnx_graphs import run_ort

INPUT, HIDDEN = 3, 4
OUT, STATE = "p2o.pd_op.rnn.0.0", "p2o.pd_op.rnn.0.2_0"


def paddle_weights(layers: int, dirs: int, seed: int = 0) -> list[np.ndarray]:
    """Paddle's flattened weight list: every cell's [weight_ih, weight_hh], then every cell's [bias_ih, bias_hh]."""
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for layer in range(layers):
        for _ in range(dirs):
            size = INPUT if layer == 0 else dirs * HIDDEN
            weights += [rng.uniform(-0.5, 0.5, (HIDDEN, size)), rng.uniform(-0.5, 0.5, (HIDDEN, HIDDEN))]
            biases += [rng.uniform(-0.5, 0.5, HIDDEN), rng.uniform(-0.5, 0.5, HIDDEN)]
    return [w.astype(np.float32) for w in weights + biases]


def reference(x, weights, layers, dirs, act, h0=None):
    """numpy SimpleRNN, batch-first x [N, T, I]: (out [N, T, D*H], final state [L*D, N, H])."""
    f = np.tanh if act == "RNN_TANH" else (lambda v: np.maximum(v, 0))
    cells = layers * dirs
    seq, states = x.astype(np.float64), []
    for layer in range(layers):
        outs = []
        for d in range(dirs):
            c = layer * dirs + d
            w_ih, w_hh = weights[2 * c], weights[2 * c + 1]
            b = weights[2 * cells + 2 * c] + weights[2 * cells + 2 * c + 1]
            h = np.zeros((x.shape[0], HIDDEN)) if h0 is None else h0[c].astype(np.float64)
            steps = range(seq.shape[1]) if d == 0 else reversed(range(seq.shape[1]))
            ys = [None] * seq.shape[1]
            for t in steps:
                h = f(seq[:, t] @ w_ih.T + h @ w_hh.T + b)
                ys[t] = h
            outs.append(np.stack(ys, 1))
            states.append(h)
        seq = np.concatenate(outs, -1)
    return seq, np.stack(states)


def dropped_rnn_graph(layers: int, dirs: int, with_state_input: bool = False) -> onnx.ModelProto:
    """What paddle2onnx writes for a SimpleRNN it cannot convert (names as in a real export)."""
    cells = layers * dirs
    nodes = [helper.make_node("Transpose", ["x"], ["p2o.pd_op.transpose.0.0"], perm=[1, 0, 2])]
    inputs = [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", "T", INPUT])]
    if with_state_input:
        inputs.append(helper.make_tensor_value_info("h0", onnx.TensorProto.FLOAT, [cells, "N", HIDDEN]))
        nodes.append(helper.make_node("Identity", ["h0"], ["p2o.builtin.combine.1.0_0"]))
    else:  # zeros [L*D, N, H] built from the batch size, as Paddle's RNNBase does
        nodes += [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
            helper.make_node("Concat", ["cells", "batch", "hidden"], ["state_shape"], axis=0),
            helper.make_node("ConstantOfShape", ["state_shape"], ["p2o.pd_op.full_with_tensor.0.0"]),
            helper.make_node("Identity", ["p2o.pd_op.full_with_tensor.0.0"], ["p2o.builtin.combine.1.0_0"]),
        ]
    for j in range(4 * cells):  # paddle2onnx's copies of the weights, read by nothing once the op is dropped
        zeros = numpy_helper.from_array(np.zeros(1, np.float32))
        nodes += [
            helper.make_node("Constant", [], [f"param_{j}"], value=zeros),
            helper.make_node("Identity", [f"param_{j}"], [f"p2o.builtin.combine.2.0_{j}"]),
        ]
    nodes += [helper.make_node("Identity", [STATE], ["h"]), helper.make_node("Transpose", [OUT], ["y"], perm=[1, 0, 2])]
    graph = helper.make_graph(
        nodes,
        "dropped_rnn",
        inputs,
        [
            helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", "T", dirs * HIDDEN]),
            helper.make_tensor_value_info("h", onnx.TensorProto.FLOAT, [cells, "N", HIDDEN]),
        ],
        [
            numpy_helper.from_array(np.array([0], np.int64), "zero"),
            numpy_helper.from_array(np.array([cells], np.int64), "cells"),
            numpy_helper.from_array(np.array([HIDDEN], np.int64), "hidden"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def simple_rnn_op(layers: int, dirs: int, mode: str = "RNN_TANH", seed: int = 0) -> PaddleOp:
    cells = layers * dirs
    weight_names = [f"p2o.builtin.combine.2.0_{j}" for j in range(4 * cells)]
    attrs = {
        "mode": mode,
        "num_layers": layers,
        "hidden_size": HIDDEN,
        "input_size": INPUT,
        "is_bidirec": dirs == 2,
        "is_test": True,
        "dropout_prob": 0.0,
        "struct_name": "/SimpleRNN/",
    }
    return PaddleOp(
        "pd_op.rnn",
        attrs,
        inputs=[
            ["p2o.pd_op.transpose.0.0"],
            ["p2o.builtin.combine.1.0_0"],
            weight_names,
            [],
            ["simple_rnn_0.dropout_state"],
        ],
        outputs=[[OUT], ["p2o.pd_op.rnn.0.1"], [STATE], ["p2o.pd_op.rnn.0.3"]],
        params=dict(zip(weight_names, paddle_weights(layers, dirs, seed), strict=True)),
    )


def test_dropped_op_graph_is_really_invalid():
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(dropped_rnn_graph(1, 1), full_check=True)


@pytest.mark.parametrize(
    "layers,dirs,mode", [(1, 1, "RNN_TANH"), (2, 2, "RNN_TANH"), (1, 2, "RNN_RELU"), (3, 1, "RNN_RELU")]
)
def test_simple_rnn_exported_as_onnx_rnn(layers, dirs, mode):
    model, op = dropped_rnn_graph(layers, dirs), simple_rnn_op(layers, dirs, mode)
    fixes = export_paddle_ops(model, [op])
    assert [(f.stage, f.pass_name, f.target) for f in fixes] == [
        ("export", "export_simple_rnn", f"pd_op.rnn /SimpleRNN/ (mode {mode})")
    ]
    assert f"{layers} ONNX RNN node(s)" in fixes[0].change and OUT in fixes[0].change and STATE in fixes[0].change
    onnx.checker.check_model(model, full_check=True)
    rnns = [node for node in model.graph.node if node.op_type == "RNN"]
    assert len(rnns) == layers
    attrs = {a.name: helper.get_attribute_value(a) for a in rnns[0].attribute}
    assert attrs["direction"] == (b"bidirectional" if dirs == 2 else b"forward")
    assert attrs["activations"] == [b"Tanh" if mode == "RNN_TANH" else b"Relu"] * dirs
    # paddle2onnx's unused weight copies are gone; the zero initial state is kept and wired in.
    assert not [n for n in model.graph.node if n.output[0].startswith(("param_", "p2o.builtin.combine.2"))]
    x = np.random.default_rng(1).uniform(-1, 1, (2, 5, INPUT)).astype(np.float32)
    got = run_ort(model, {"x": x})
    want_y, want_h = reference(x, list(op.params.values()), layers, dirs, mode)
    np.testing.assert_allclose(got["y"], want_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["h"], want_h, rtol=1e-5, atol=1e-5)


def test_initial_state_is_sliced_per_layer():
    model, op = dropped_rnn_graph(2, 2, with_state_input=True), simple_rnn_op(2, 2)
    export_paddle_ops(model, [op])
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (3, 4, INPUT)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (4, 3, HIDDEN)).astype(np.float32)
    got = run_ort(model, {"x": x, "h0": h0})
    want_y, want_h = reference(x, list(op.params.values()), 2, 2, "RNN_TANH", h0)
    np.testing.assert_allclose(got["y"], want_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["h"], want_h, rtol=1e-5, atol=1e-5)


def test_only_read_outputs_are_produced():
    model, op = dropped_rnn_graph(1, 1), simple_rnn_op(1, 1)
    model.graph.node.remove(next(n for n in model.graph.node if n.output[0] == "h"))
    model.graph.output.remove(next(o for o in model.graph.output if o.name == "h"))
    fixes = export_paddle_ops(model, [op])
    assert STATE not in fixes[0].change
    produced = {out for node in model.graph.node for out in node.output}
    assert OUT in produced and STATE not in produced
    onnx.checker.check_model(model, full_check=True)


def test_converted_or_unregistered_ops_are_left_alone():
    model = dropped_rnn_graph(1, 1)
    model.graph.node.insert(1, helper.make_node("Identity", ["p2o.pd_op.transpose.0.0"], [OUT]))
    before = model.SerializeToString()
    assert export_paddle_ops(model, [simple_rnn_op(1, 1)]) == []  # its outputs are produced: converted
    lstm = simple_rnn_op(1, 1, mode="LSTM")
    assert export_paddle_ops(dropped_rnn_graph(1, 1), [lstm]) == []  # paddle2onnx converts LSTM itself
    assert model.SerializeToString() == before


def test_missing_input_or_wrong_weight_count_is_a_clear_error():
    op = simple_rnn_op(1, 1)
    op.inputs[0] = ["p2o.pd_op.transpose.7.0"]
    with pytest.raises(PaddleOpError, match=r"pd_op.rnn /SimpleRNN/ \(mode RNN_TANH\).*transpose.7.0"):
        export_paddle_ops(dropped_rnn_graph(1, 1), [op])
    op = simple_rnn_op(1, 1)
    op.inputs[2] = op.inputs[2][:3]
    with pytest.raises(PaddleOpError, match="3 weights, expected 4"):
        export_paddle_ops(dropped_rnn_graph(1, 1), [op])


def test_registry_and_cheap_precheck():
    assert {key: registration.replaces for key, registration in EXPORTERS.items()} == {
        ("pd_op.rnn", "RNN_TANH"): False,
        ("pd_op.rnn", "RNN_RELU"): False,
        ("pd_op.multiclass_nms3", None): True,
    }
    assert may_need_export('{"#":"1.multiclass_nms3","A":[]}')
    assert may_need_export('{"#":"1.rnn","A":[{"AT":{"#":"0.a_str","D":"RNN_RELU"},"N":"mode"}]}')
    assert not may_need_export('{"#":"1.rnn","A":[{"AT":{"#":"0.a_str","D":"LSTM"},"N":"mode"}]}')
    assert not may_need_export('{"#":"1.conv2d"}')
