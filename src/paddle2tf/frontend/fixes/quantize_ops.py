"""int8 ``quantize_linear`` / ``dequantize_linear`` (Paddle's post-training and QAT quantization) through paddle2onnx.

paddle2onnx 2.1.0 maps these ops to float8 only and aborts on int8 ones ("Only support e4m3 or e5m2",
docs/known-exporter-defects.md row 15). The export child therefore exports a stand-in program: each quantize op of
the main block becomes a unary placeholder op (one ONNX node reading the op's input, ``stand_in``); after
paddle2onnx, ``restore`` replaces each placeholder node by ONNX ``QuantizeLinear`` / ``DequantizeLinear`` with the
model's own scales, under the output name paddle2onnx gives the Paddle op (``p2o.pd_op.quantize_linear.K.0``), so
every other name is the one a direct export would give.

Paddle's kernels (int8, ``bit_length`` 8, ``qmax`` 127): quantize y = clip(round_half_even(x * 127 / s), -128, 127)
as float values; dequantize y = x * s / 127; ``quant_axis`` -1 is one scale for the tensor, else one per index of
that axis. That is ONNX QuantizeLinear / DequantizeLinear with scale s / 127, an int8 zero point 0 and ``axis``.
A dequantized weight holds those integers as float32: it is stored as an int8 initializer ``<param>.int8``.

This module imports neither Paddle nor TensorFlow: the worker reads the ops (``PaddleOp``) and exports.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes import Fix
from paddle2tf.frontend.fixes.paddle_ops import PaddleOp, PaddleOpError
from paddle2tf.frontend.fixes.sanitise import program_ops
from paddle2tf.onnxutil.graph import constant_tensors, model_opset, remove_unused_constants

QUANTIZE_OPS = ("pd_op.quantize_linear", "pd_op.dequantize_linear")
# Unary Paddle ops paddle2onnx exports as one ONNX node reading the op's input; the first one the program does not
# use stands in (so the K of its outputs p2o.pd_op.NAME.K.0 counts the stand-ins alone).
PLACEHOLDERS = {"sign": "Sign", "erf": "Erf", "reciprocal": "Reciprocal", "floor": "Floor"}
INT8_RANGE = (-128, 127)
REASON = "paddle2onnx 2.1.0 exports quantize_linear / dequantize_linear as float8 only and aborts on int8 ones"


def is_quantize_op(name: str, attrs: dict) -> bool:
    return name in QUANTIZE_OPS


def mentions_quantize_ops(program_text: str) -> bool:
    """Whether the PIR JSON text may hold a quantize op (cheap: the worker then reads the program)."""
    return '"1.quantize_linear"' in program_text or '"1.dequantize_linear"' in program_text


def _main_block_ops(program: dict) -> list[dict]:
    return program["program"]["regions"][0]["blocks"][0]["ops"]


def stand_in(program: dict) -> str:
    """Replace each main-block quantize op of the PIR JSON ``program`` (in place) by a placeholder unary op on its
    first operand and first result (the others are training state, unused at inference); returns the placeholder's
    Paddle name. Raises PaddleOpError when every placeholder is already used by the program."""
    used = {op["#"] for op in program_ops(program)}
    placeholder = next((name for name in PLACEHOLDERS if f"1.{name}" not in used), None)
    if placeholder is None:
        raise PaddleOpError(f"quantize ops: the program uses every placeholder op ({', '.join(PLACEHOLDERS)})")
    for op in _main_block_ops(program):
        # (a main block also holds entries whose '#' names no op, such as parameters: compare the whole tag)
        if "pd_op." + op.get("#", "").removeprefix("1.") not in QUANTIZE_OPS:
            continue
        op["#"] = f"1.{placeholder}"
        op["A"] = []
        op["I"] = op["I"][:1]
        op["O"] = op["O"][:1]
        for attr in op.get("OA", []):
            attr["AT"]["D"] = attr["AT"]["D"][:1]
    return placeholder


def _attr(op: PaddleOp, name: str) -> int:
    return int(op.attrs.get(name, 0))


def _check(op: PaddleOp) -> None:
    """The int8 variant with ties-to-even rounding (what ONNX computes), else a clear refusal."""
    bits, qmin, qmax = _attr(op, "bit_length"), _attr(op, "qmin"), _attr(op, "qmax")
    if (bits, qmin, qmax) != (8, -128, 127):
        raise PaddleOpError(f"{op.name}: bit_length {bits}, range [{qmin}, {qmax}]; only int8 [-128, 127] is supported")
    if _attr(op, "round_type") != 0:
        raise PaddleOpError(
            f"{op.name}: round_type {_attr(op, 'round_type')} (ties away from zero); ONNX rounds "
            "ties to even (round_type 0)"
        )


def _param(op: PaddleOp, index: int, what: str) -> np.ndarray:
    names = op.inputs[index] if len(op.inputs) > index else []
    if len(names) != 1 or names[0] not in op.params:
        raise PaddleOpError(f"{op.name}: the {what} is not a parameter of the model")
    return np.asarray(op.params[names[0]], np.float32)


def _onnx_scale(op: PaddleOp) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(ONNX scale, int8 zero point, axis or None for per tensor) of a Paddle quantize op."""
    _check(op)
    scale = _param(op, 1, "scale")
    zero_point = _param(op, 2, "zero point") if len(op.inputs) > 2 and op.inputs[2] else np.zeros_like(scale)
    if np.any(zero_point != 0):
        raise PaddleOpError(f"{op.name}: non-zero zero point (Paddle's int8 kernels are symmetric)")
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise PaddleOpError(f"{op.name}: scale {scale.ravel()[:4]} is not positive")
    axis = _attr(op, "quant_axis")
    if axis == -1:
        return (scale.reshape(()) / np.float32(127)).astype(np.float32), np.zeros((), np.int8), None
    return (scale.reshape(-1) / np.float32(127)).astype(np.float32), np.zeros(scale.size, np.int8), axis


def restore(model: onnx.ModelProto, placeholder: str, ops: list[PaddleOp]) -> list[Fix]:
    """Replace the placeholder nodes paddle2onnx exported for ``ops`` (the program's quantize ops, in program order)
    by QuantizeLinear / DequantizeLinear. Raises PaddleOpError when the graph is not what the stand-in gives."""
    graph = model.graph
    _rename_stand_ins(graph, placeholder, ops)
    producers = {out: node for node in graph.node for out in node.output}
    constants = constant_tensors(graph)
    restored: dict[str, str] = {}  # output name -> "quantize" | "dequantize"
    fixes, new_nodes, weights = [], {}, set()
    for op in ops:
        y = op.outputs[0][0]
        node = producers[y]
        x = op.inputs[0][0] if op.inputs and op.inputs[0] else ""
        if node.op_type != PLACEHOLDERS[placeholder] or list(node.input) != [x]:
            raise PaddleOpError(f"{op.name} {y}: paddle2onnx did not export its stand-in as expected")
        scale, zero_point, axis = _onnx_scale(op)
        if axis is not None and model_opset(model) < 13:
            raise PaddleOpError(f"{op.name} {y}: per-axis scales (quant_axis {axis}) need opset 13 or later")
        scale_name, zero_name = f"{y}.scale", f"{y}.zero_point"
        graph.initializer.extend(
            [numpy_helper.from_array(scale, scale_name), numpy_helper.from_array(zero_point, zero_name)]
        )
        attrs = {} if axis is None else {"axis": axis}
        if op.name == "pd_op.quantize_linear":
            new_nodes[id(node)] = helper.make_node(
                "QuantizeLinear", [x, scale_name, zero_name], [y], name=f"{y}.QuantizeLinear", **attrs
            )
            restored[y] = "quantize"
        else:
            source = _int8_input(op, x, constants, restored, graph)
            if source != x:
                weights.add(x)
            new_nodes[id(node)] = helper.make_node(
                "DequantizeLinear", [source, scale_name, zero_name], [y], name=f"{y}.DequantizeLinear", **attrs
            )
            restored[y] = "dequantize"
        kind = "per tensor" if axis is None else f"per axis {axis} ({scale.size} scales)"
        verb = "QuantizeLinear" if op.name == "pd_op.quantize_linear" else "DequantizeLinear"
        fixes.append(
            Fix(
                "export",
                "restore_int8_quantize_ops",
                f"{op.name} {x}",
                f"int8 {verb} {kind} restored with the model's scales",
                REASON,
            )
        )
    rebuilt = [new_nodes.get(id(node), node) for node in graph.node]
    del graph.node[:]
    graph.node.extend(rebuilt)
    _check_quantized_consumers(graph, restored)
    remove_unused_constants(graph)  # the Paddle scale / zero-point parameters, the weights now stored as int8
    # paddle2onnx typed the placeholder outputs as float; the restored quantize outputs are int8
    kept = [info for info in graph.value_info if info.name not in restored]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return fixes


def _rename_stand_ins(graph: onnx.GraphProto, placeholder: str, ops: list[PaddleOp]) -> None:
    """The stand-ins' outputs p2o.pd_op.PLACEHOLDER.K.0 -> the quantize ops' own names (K counts them in order)."""
    names = {f"p2o.pd_op.{placeholder}.{index}.0": op.outputs[0][0] for index, op in enumerate(ops)}
    found = {out for node in graph.node for out in node.output if out.startswith(f"p2o.pd_op.{placeholder}.")}
    if found != set(names):
        raise PaddleOpError(f"paddle2onnx exported {len(found)} stand-ins for the {len(ops)} quantize ops")
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
        node.output[:] = [names.get(name, name) for name in node.output]
    for info in graph.value_info:
        info.name = names.get(info.name, info.name)


def _int8_input(op: PaddleOp, x: str, constants: dict, restored: dict, graph: onnx.GraphProto) -> str:
    """The int8 tensor a DequantizeLinear reads: a restored QuantizeLinear's output, or the dequantized weight's
    integers as an int8 initializer ``<param>.int8``."""
    if restored.get(x) == "quantize":
        return x
    if x in constants:
        values = numpy_helper.to_array(constants[x])
        if not np.all(values == np.round(values)) or values.min() < INT8_RANGE[0] or values.max() > INT8_RANGE[1]:
            raise PaddleOpError(f"{op.name} {x}: the weight holds values that are not int8 integers")
        name = f"{x}.int8"
        if name not in {init.name for init in graph.initializer}:
            graph.initializer.append(numpy_helper.from_array(values.astype(np.int8), name))
        return name
    raise PaddleOpError(f"{op.name} {x}: dequantizes a computed float tensor (not a quantize op's output or a weight)")


def _check_quantized_consumers(graph: onnx.GraphProto, restored: dict) -> None:
    """A Paddle quantize op's output is float (integer values); restored it is int8, read only by a DequantizeLinear."""
    quantized = {name for name, kind in restored.items() if kind == "quantize"}
    outputs = {out.name for out in graph.output}
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            continue
        for name in node.input:
            if name in quantized:
                raise PaddleOpError(
                    f"quantize_linear {name}: read by {node.op_type} {node.name}, not by a dequantize_linear"
                )
    if quantized & outputs:
        raise PaddleOpError(f"quantize_linear {sorted(quantized & outputs)[0]}: a model output")
