"""int8 quantize ops through paddle2onnx (paddle2tf.frontend.fixes.quantize_ops), on graphs shaped like its output.

The stand-in graphs are what paddle2onnx 2.1.0 writes for the stand-in program: a ``Sign`` node per Paddle
quantize op, named ``p2o.pd_op.sign.K.0``, and parameters as Constant nodes. After ``restore`` ONNX Runtime runs the
graph; the reference is numpy written from Paddle's int8 kernels: quantize clip(round_half_even(x * 127 / s), -128,
127), dequantize q * s / 127, per tensor or per ``quant_axis``. The check against Paddle itself is in
tests/models/test_quantized.py.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes.paddle_ops import PaddleOp, PaddleOpError
from paddle2tf.frontend.fixes.quantize_ops import mentions_quantize_ops, restore, stand_in

from helpers.onnx_graphs import run_ort

INT8 = {"bit_length": 8, "qmin": -128, "qmax": 127, "round_type": 0, "quant_axis": -1, "is_test": True}
Q_OUT, DQ_OUT, W_OUT = (
    "p2o.pd_op.quantize_linear.0.0",
    "p2o.pd_op.dequantize_linear.0.0",
    "p2o.pd_op.dequantize_linear.1.0",
)


def paddle_quantize(x, scale):
    return np.clip(np.round(x * 127 / scale), -128, 127)  # numpy rounds half to even, like Paddle's kernel


def _op(name: str, x: str, y: str, scale, attrs=None, zero_point=None) -> PaddleOp:
    scale = np.asarray(scale, np.float32)
    zero_point = np.zeros_like(scale) if zero_point is None else np.asarray(zero_point, np.float32)
    return PaddleOp(
        f"pd_op.{name}",
        {**INT8, **(attrs or {})},
        [[x], [f"{y}.s"], [f"{y}.zp"], [], []],
        [[y], [f"{y}.1"], [f"{y}.2"], [f"{y}.3"]],
        {f"{y}.s": scale, f"{y}.zp": zero_point},
    )


def _constant(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def stand_in_graph(weight: np.ndarray, extra_nodes=()) -> onnx.ModelProto:
    """x -> Sign (quantize stand-in) -> Sign (dequantize) -> MatMul with Sign(weight) (the weight's dequantize)."""
    nodes = [
        _constant("linear_0.w_0", weight),
        helper.make_node("Sign", ["x"], ["p2o.pd_op.sign.0.0"]),
        helper.make_node("Sign", ["p2o.pd_op.sign.0.0"], ["p2o.pd_op.sign.1.0"]),
        helper.make_node("Sign", ["linear_0.w_0"], ["p2o.pd_op.sign.2.0"]),
        helper.make_node("MatMul", ["p2o.pd_op.sign.1.0", "p2o.pd_op.sign.2.0"], ["y"]),
        *extra_nodes,
    ]
    graph = helper.make_graph(
        nodes,
        "stand_in",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def quantize_ops(x_scale, w_scale, w_attrs=None, **q_attrs) -> list[PaddleOp]:
    return [
        _op("quantize_linear", "x", Q_OUT, x_scale, q_attrs),
        _op("dequantize_linear", Q_OUT, DQ_OUT, x_scale),
        _op("dequantize_linear", "linear_0.w_0", W_OUT, w_scale, w_attrs),
    ]


def weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (4, 3)).astype(np.float32)  # Paddle stores int values


def test_restore_per_tensor_matches_paddle_kernels():
    x = np.array([[0.5, 1.5, 2.5, -0.5], [-2.5, 300.0, -300.0, 3.2]], np.float32)  # ties, saturation
    w, x_scale, w_scale = weights(), 127.0, 0.9  # x_scale 127: x * 127 / s is x itself, ties stay exact
    model = stand_in_graph(w)
    fixes = restore(model, "sign", quantize_ops(x_scale, w_scale))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["QuantizeLinear", "DequantizeLinear", "DequantizeLinear", "MatMul"]
    assert {i.name: i.data_type for i in model.graph.initializer}["linear_0.w_0.int8"] == onnx.TensorProto.INT8
    got = run_ort(model, {"x": x})["y"]
    expected = (paddle_quantize(x, x_scale) * x_scale / 127) @ (w * w_scale / 127)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert [f.target for f in fixes] == [
        "pd_op.quantize_linear x",
        f"pd_op.dequantize_linear {Q_OUT}",
        "pd_op.dequantize_linear linear_0.w_0",
    ]


def test_restore_per_channel_weight():
    """quant_axis 1 of a Linear weight [in, out]: one scale per output column."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    w, w_scale = weights(2), np.array([0.5, 1.0, 2.0], np.float32)
    model = stand_in_graph(w)
    restore(model, "sign", quantize_ops(3.0, w_scale, {"quant_axis": 1}))
    dequantize = model.graph.node[2]
    assert dequantize.op_type == "DequantizeLinear" and dequantize.attribute[0].i == 1
    expected = (paddle_quantize(x, 3.0) * 3.0 / 127) @ (w * w_scale / 127)
    np.testing.assert_allclose(run_ort(model, {"x": x})["y"], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "case, fragment",
    [
        ({"round_type": 1}, "round_type 1"),
        ({"bit_length": 4, "qmin": -8, "qmax": 7}, "only int8"),
        ("zero_point", "non-zero zero point"),
        ("float_weight", "not int8 integers"),
        ("read_by_relu", "read by Relu"),
    ],
)
def test_refused_variants(case, fragment):
    w = weights()
    extra = [helper.make_node("Relu", ["p2o.pd_op.sign.0.0"], ["r"])] if case == "read_by_relu" else []
    model = stand_in_graph(w + 0.25 if case == "float_weight" else w, extra)
    ops = quantize_ops(2.0, 1.0, **(case if isinstance(case, dict) else {}))
    if case == "zero_point":
        ops[0] = _op("quantize_linear", "x", Q_OUT, 2.0, zero_point=3.0)
    with pytest.raises(PaddleOpError, match=fragment):
        restore(model, "sign", ops)


def test_restore_refuses_a_graph_without_the_stand_ins():
    model = stand_in_graph(weights())
    with pytest.raises(PaddleOpError, match="3 stand-ins for the 2 quantize ops"):
        restore(model, "sign", quantize_ops(2.0, 1.0)[:2])


def _pir_op(name: str, operands: list[int], results: list[int]) -> dict:
    flags = {"#": "0.a_array", "D": [{"#": "0.a_bool", "D": False}] * len(results)}
    return {
        "#": f"1.{name}",
        "A": [{"AT": {"#": "0.a_i32", "D": 8}, "N": "bit_length"}],
        "I": [{"%": i} for i in operands],
        "O": [{"%": r, "TT": {}} for r in results],
        "OA": [{"AT": copy.deepcopy(flags), "N": "stop_gradient"}],
    }


def test_stand_in_replaces_main_block_quantize_ops():
    parameter = {"#": "p", "A": [0, 1, 1, "linear_0.w_0"], "O": {"%": 9, "TT": {}}}  # as Paddle saves one
    ops = [
        parameter,
        _pir_op("quantize_linear", [1, 2, 3, 0, 0], [4, 5, 6, 7]),
        _pir_op("dequantize_linear", [4, 8, 9, 0, 0], [10, 11, 12, 13]),
        _pir_op("sign", [10], [14]),
    ]
    program = {"program": {"regions": [{"blocks": [{"ops": ops}]}]}}
    assert mentions_quantize_ops(json.dumps(program))
    assert stand_in(program) == "erf"  # the program uses sign itself: the next placeholder stands in
    assert [op["#"] for op in ops] == ["p", "1.erf", "1.erf", "1.sign"]
    assert ops[1]["I"] == [{"%": 1}] and ops[1]["O"] == [{"%": 4, "TT": {}}] and ops[1]["A"] == []
    assert len(ops[2]["OA"][0]["AT"]["D"]) == 1


def test_per_axis_scales_below_opset_13_are_refused():
    model = stand_in_graph(weights())
    model.opset_import[0].version = 11  # QuantizeLinear / DequantizeLinear have no axis before 13
    with pytest.raises(PaddleOpError, match="need opset 13"):
        restore(model, "sign", quantize_ops(2.0, np.ones(3, np.float32), {"quant_axis": 1}))
