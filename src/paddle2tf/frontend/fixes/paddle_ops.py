"""Paddle-op exporter: ONNX for Paddle ops that paddle2onnx 2.1.0 drops (docs/known-exporter-defects.md).

paddle2onnx 2.1.0 has no conversion for some Paddle ops (``pd_op.rnn`` in mode RNN_TANH / RNN_RELU, i.e.
``paddle.nn.SimpleRNN``): it drops the op and still writes the graph, whose later nodes read the op's
outputs under the names paddle2onnx would have given them (``p2o.pd_op.rnn.K.0``, ``p2o.pd_op.rnn.K.2_0``)
though nothing produces them. This stage runs in the Paddle child process right after paddle2onnx: the worker
describes each such op as a ``PaddleOp`` (attributes, the ONNX names of its operands and results, the values
of its parameters read from the Paddle scope) and the exporter registered for it in ``EXPORTERS`` emits
standard ONNX nodes producing exactly the dangling names, so the rest of the graph connects.

This module imports neither Paddle nor TensorFlow: the worker (``_paddle_worker export``) does the Paddle
side and the emitters are plain ONNX, unit-testable on their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes import Fix
from paddle2tf.onnxutil.graph import model_opset

STAGE = "export"


@dataclass
class PaddleOp:
    """One Paddle op as the exporter sees it.

    ``inputs`` / ``outputs``: per operand / result, the ONNX names paddle2onnx gives it (one name per element
    for a vector such as a ``builtin.combine`` result; an empty list for an absent optional operand).
    ``params``: values of the operand elements that are Paddle parameters, by their ONNX element name."""

    name: str  # "pd_op.rnn"
    attrs: dict[str, Any]
    inputs: list[list[str]]
    outputs: list[list[str]]
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return str(self.attrs.get("struct_name") or "")

    def describe(self) -> str:
        mode = self.attrs.get("mode")
        return f"{self.name}{' ' + self.where if self.where else ''}{f' (mode {mode})' if mode else ''}"


class Emitter:
    """Collects the nodes and initializers an exporter emits; names new values under one prefix."""

    def __init__(self, prefix: str, opset: int):
        self.prefix = prefix
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    def constant(self, suffix: str, value: np.ndarray) -> str:
        name = self.name(suffix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs) -> list[str]:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.name(f"{op_type}_{len(self.nodes)}"),
                                           **attrs))
        return outputs


class PaddleOpError(Exception):
    """The op cannot be exported (an unsupported variant, or the graph is not what paddle2onnx usually writes)."""


# -- pd_op.rnn, SimpleRNN modes ----------------------------------------------------------------------------------

SIMPLE_RNN_ACTIVATIONS = {"RNN_TANH": "Tanh", "RNN_RELU": "Relu"}


def export_simple_rnn(op: PaddleOp, emit: Emitter) -> str:
    """``pd_op.rnn`` in RNN_TANH / RNN_RELU mode -> one ONNX ``RNN`` node per layer.

    Paddle's op is time-major: x [T, N, I], out [T, N, D*H] (directions joined on the last axis), final
    state [L*D, N, H] (layer-major, direction-minor), optional initial state of the same shape. The weight
    list (``RNNBase.flatten_parameters``) holds first every (layer, direction)'s [weight_ih [H, I],
    weight_hh [H, H]], then every (layer, direction)'s [bias_ih [H], bias_hh [H]]. Paddle's cell is
    h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), which is ONNX RNN with W = weight_ih, R = weight_hh,
    B = bias_ih ++ bias_hh."""
    attrs = op.attrs
    activation = SIMPLE_RNN_ACTIVATIONS[attrs["mode"]]
    layers, hidden = int(attrs["num_layers"]), int(attrs["hidden_size"])
    dirs = 2 if attrs.get("is_bidirec") else 1
    x = _single(op, op.inputs[0], "x")
    init_state = _single(op, op.inputs[1], "initial state") if len(op.inputs) > 1 and op.inputs[1] else ""
    weight_names = op.inputs[2] if len(op.inputs) > 2 else []
    seq_lens = _single(op, op.inputs[3], "sequence_length") if len(op.inputs) > 3 and op.inputs[3] else ""
    cells = layers * dirs
    if len(weight_names) != 4 * cells:
        raise PaddleOpError(f"{op.describe()}: {len(weight_names)} weights, expected {4 * cells}")
    missing = [name for name in weight_names if name not in op.params]
    if missing:
        raise PaddleOpError(f"{op.describe()}: weights {', '.join(missing)} are not Paddle parameters")
    weights = [op.params[name] for name in weight_names]
    if seq_lens:
        seq_lens = emit.node("Cast", [seq_lens], [emit.name("seq_lens_i32")], to=onnx.TensorProto.INT32)[0]
    join_shape = emit.constant("join_directions_shape", np.array([0, 0, -1], np.int64))
    layer_input, states = x, []
    for layer in range(layers):
        cell = [layer * dirs + d for d in range(dirs)]
        w = emit.constant(f"l{layer}.W", np.stack([weights[2 * c] for c in cell]))
        r = emit.constant(f"l{layer}.R", np.stack([weights[2 * c + 1] for c in cell]))
        b = emit.constant(f"l{layer}.B", np.stack([np.concatenate([weights[2 * cells + 2 * c],
                                                                   weights[2 * cells + 2 * c + 1]]) for c in cell]))
        h0 = ""
        if init_state:
            if layers == 1:
                h0 = init_state
            else:
                bounds = [emit.constant(f"l{layer}.h0_{what}", np.array([v], np.int64))
                          for what, v in (("start", layer * dirs), ("end", (layer + 1) * dirs), ("axis", 0))]
                h0 = emit.node("Slice", [init_state, *bounds], [emit.name(f"l{layer}.h0")])[0]
        y, y_h = emit.node("RNN", [layer_input, w, r, b, seq_lens, h0], [emit.name(f"l{layer}.Y"),
                                                                         emit.name(f"l{layer}.Y_h")],
                           hidden_size=hidden, activations=[activation] * dirs,
                           direction="bidirectional" if dirs == 2 else "forward")
        states.append(y_h)
        # Y [T, D, N, H] -> [T, N, D*H]: the next layer's input and the op's output.
        y_t = emit.node("Transpose", [y], [emit.name(f"l{layer}.Y_time_batch_dir")], perm=[0, 2, 1, 3])[0]
        last = layer == layers - 1
        out = (_result(op, 0) if last else "") or emit.name(f"l{layer}.out")
        layer_input = emit.node("Reshape", [y_t, join_shape], [out])[0]
    state = _result(op, 2)
    if state:
        if len(states) == 1:
            emit.node("Identity", states, [state])
        else:
            emit.node("Concat", states, [state], axis=0)
    return (f"exported as {layers} ONNX RNN node(s) ({'bidirectional' if dirs == 2 else 'forward'}, {activation}, "
            f"hidden {hidden}{', initial state' if init_state else ''}{', sequence lengths' if seq_lens else ''})")


def _result(op: PaddleOp, index: int) -> str:
    """The ONNX name wanted for result ``index`` ("" when nothing reads it)."""
    return op.outputs[index][0] if len(op.outputs) > index and op.outputs[index] else ""


def _single(op: PaddleOp, names: list[str], what: str) -> str:
    if len(names) != 1:
        raise PaddleOpError(f"{op.describe()}: {what} has {len(names)} values, expected 1")
    return names[0]


# -- registry ----------------------------------------------------------------------------------------------------

Exporter = Callable[[PaddleOp, Emitter], str]
# (Paddle op name, value of its "mode" attribute or None) -> exporter, with why paddle2onnx needs it.
EXPORTERS: dict[tuple[str, str | None], tuple[Exporter, str]] = {
    ("pd_op.rnn", mode): (export_simple_rnn, f"paddle2onnx 2.1.0 has no conversion for pd_op.rnn mode {mode} "
                                             "(paddle.nn.SimpleRNN): it drops the op and leaves its outputs dangling")
    for mode in SIMPLE_RNN_ACTIVATIONS}


def registered(name: str, attrs: dict[str, Any]) -> tuple[Exporter, str] | None:
    return EXPORTERS.get((name, attrs.get("mode"))) or EXPORTERS.get((name, None))


def may_need_export(program_text: str) -> bool:
    """Cheap pre-check on the PIR JSON text: could the program hold a registered op? (False: skip this stage.)"""
    for name, mode in EXPORTERS:
        short = name.split(".", 1)[1]
        if f".{short}\"" in program_text and (mode is None or f"\"{mode}\"" in program_text):
            return True
    return False


# -- applying the exporters to the ONNX graph --------------------------------------------------------------------

def _subgraph_inputs(graph: onnx.GraphProto) -> Iterator[str]:
    for node in graph.node:
        yield from (name for name in node.input if name)
        for attr in node.attribute:
            for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                yield from _subgraph_inputs(sub)


def _consumers(graph: onnx.GraphProto) -> Counter:
    used = Counter(_subgraph_inputs(graph))
    used.update(output.name for output in graph.output)
    return used


def _available(graph: onnx.GraphProto) -> set[str]:
    names = {value.name for value in graph.input} | {init.name for init in graph.initializer}
    names.update(out for node in graph.node for out in node.output if out)
    return names


def export_paddle_ops(model: onnx.ModelProto, ops: list[PaddleOp]) -> list[Fix]:
    """Emit ONNX for every op of ``ops`` that has a registered exporter and whose outputs paddle2onnx left
    dangling (read by the graph, produced by nothing); edits ``model`` in place and returns the fixes.

    An op paddle2onnx did convert (its outputs are produced) or whose outputs nobody reads is left alone.
    Raises ``PaddleOpError`` when a dangling op cannot be exported."""
    graph = model.graph
    fixes: list[Fix] = []
    for op in ops:
        entry = registered(op.name, op.attrs)
        if entry is None:
            continue
        exporter, reason = entry
        available, used = _available(graph), _consumers(graph)
        results = [name for names in op.outputs for name in names]
        dangling = [name for name in results if name in used and name not in available]
        if not dangling or any(name in available for name in results):
            continue
        # Only the outputs the graph reads are produced.
        prefix = f"paddle2tf.{results[0].rsplit('.', 1)[0] if results else op.name}"
        wanted = [[name if name in used else "" for name in names] for names in op.outputs]
        emit = Emitter(prefix, model_opset(model))
        change = exporter(PaddleOp(op.name, op.attrs, op.inputs, wanted, op.params), emit)
        produced = {out for node in emit.nodes for out in node.output}
        known = available | produced | {init.name for init in emit.initializers} | {""}
        unknown = list(dict.fromkeys(name for node in emit.nodes for name in node.input if name not in known))
        if unknown:
            raise PaddleOpError(f"{op.describe()}: its inputs {', '.join(unknown)} are not in the exported graph")
        if not set(dangling) <= produced:
            raise PaddleOpError(f"{op.describe()}: the exporter does not produce {sorted(set(dangling) - produced)}")
        _insert(graph, emit.nodes, set(dangling))
        graph.initializer.extend(emit.initializers)
        removed = _prune_unused(graph, [name for name in op.params])
        fixes.append(Fix(STAGE, exporter.__name__, op.describe(),
                         f"{change}; produces {', '.join(dangling)}"
                         + (f"; {removed} unused weight copies removed" if removed else ""), reason))
    return fixes


def _insert(graph: onnx.GraphProto, nodes: list[onnx.NodeProto], outputs: set[str]) -> None:
    """Insert ``nodes`` before the first node reading one of ``outputs`` (their inputs precede it in
    paddle2onnx's program order); topologically re-sort if that does not hold."""
    existing = list(graph.node)
    first = next((i for i, node in enumerate(existing) if outputs & set(_node_reads(node))), len(existing))
    needed = {name for node in nodes for name in node.input if name}
    late = {out for node in existing[first:] for out in node.output}
    del graph.node[:]
    graph.node.extend(existing[:first] + nodes + existing[first:])
    if needed & late:
        _topological_sort(graph)


def _node_reads(node: onnx.NodeProto) -> Iterator[str]:
    yield from (name for name in node.input if name)
    for attr in node.attribute:
        for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
            yield from _subgraph_inputs(sub)


def _topological_sort(graph: onnx.GraphProto) -> None:
    nodes = list(graph.node)
    ready = {value.name for value in graph.input} | {init.name for init in graph.initializer}
    produced_by_graph = {out for node in nodes for out in node.output if out}
    ordered, pending = [], nodes
    while pending:
        remaining = []
        for node in pending:
            if all(name in ready or name not in produced_by_graph for name in _node_reads(node)):
                ordered.append(node)
                ready.update(node.output)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):
            raise PaddleOpError("the graph has a cycle after exporting Paddle ops")
        pending = remaining
    del graph.node[:]
    graph.node.extend(ordered)


def _prune_unused(graph: onnx.GraphProto, names: list[str]) -> int:
    """Remove the Identity/Constant chains that fed ``names`` (paddle2onnx's copies of the dropped op's
    weights) when nothing reads them any more. Returns how many nodes were removed."""
    used = _consumers(graph)
    producers = {out: node for node in graph.node for out in node.output if out}
    removed, pending = 0, list(names)
    while pending:
        name = pending.pop()
        node = producers.get(name)
        if node is None or node.op_type not in ("Identity", "Constant") or any(used[out] for out in node.output):
            continue
        graph.node.remove(node)
        removed += 1
        for source in node.input:
            used[source] -= 1
            pending.append(source)
        for out in node.output:
            producers.pop(out, None)
    return removed
