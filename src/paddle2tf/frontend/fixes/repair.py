"""Repair passes on the exported ONNX model, run before the check stage."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes import Fix


def _known_ranks(model: onnx.ModelProto) -> dict[str, int]:
    """Rank of every value ONNX shape inference (lenient) or the graph itself can tell."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a model this broken still gets the ranks its graph declares
        inferred = model
    ranks: dict[str, int] = {}
    graph = inferred.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape"):
            ranks[value.name] = len(tensor_type.shape.dim)
    for init in graph.initializer:
        ranks[init.name] = len(init.dims)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    ranks[node.output[0]] = len(attr.t.dims)
    return ranks


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def unsqueeze_scalar_concat_inputs(model: onnx.ModelProto) -> list[Fix]:
    """Concat joining rank-0 and rank-1 pieces (reshape targets built from sliced shapes) is invalid ONNX.

    Legacy Paddle 2.x programs export such Concats; onnxruntime refuses to load the model. Each rank-0
    input is unsqueezed to shape [1], which is what the program meant.
    """
    ranks = _known_ranks(model)
    fixes: list[Fix] = []
    new_nodes: list[onnx.NodeProto] = []
    axes_name = None
    for node in model.graph.node:
        if node.op_type == "Concat":
            input_ranks = [ranks.get(name) for name in node.input]
            if 0 in input_ranks and 1 in input_ranks:
                for i, (name, rank) in enumerate(zip(node.input, input_ranks, strict=True)):
                    if rank != 0:
                        continue
                    unsqueezed = f"{name}__unsqueezed_for_{node.name or 'concat'}_{i}"
                    if _opset(model) >= 13:
                        if axes_name is None:
                            axes_name = "paddle2tf_repair_axes_0"
                            model.graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64),
                                                                                   axes_name))
                        new_nodes.append(helper.make_node("Unsqueeze", [name, axes_name], [unsqueezed],
                                                          name=f"{unsqueezed}_node"))
                    else:
                        new_nodes.append(helper.make_node("Unsqueeze", [name], [unsqueezed], axes=[0],
                                                          name=f"{unsqueezed}_node"))
                    node.input[i] = unsqueezed
                    fixes.append(Fix("repair", "unsqueeze_scalar_concat_inputs", node.name or "Concat",
                                     f"input {i} '{name}' unsqueezed from rank 0 to [1]",
                                     "Concat inputs must share a rank; paddle2onnx mixed rank 0 and rank 1"))
        new_nodes.append(node)
    if fixes:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return fixes


RECURRENT_OPS = ("LSTM", "GRU", "RNN")
_PASS_THROUGH = ("Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Cast")


def _num_directions(node: onnx.NodeProto) -> int:
    direction = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "direction"), b"forward")
    return 2 if direction == b"bidirectional" else 1


def _declared_dim0(value: onnx.ValueInfoProto) -> int | None:
    dims = value.type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") else None


def _recurrent_chain(last: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> list[onnx.NodeProto]:
    """The stacked layers ending at ``last``: follow X back through layout ops to the previous layer's Y."""
    chain = [last]
    while True:
        node = producers.get(chain[0].input[0])
        while node is not None and node.op_type in _PASS_THROUGH:
            node = producers.get(node.input[0])
        if node is None or node.op_type != last.op_type:
            return chain
        chain.insert(0, node)


def concat_stacked_rnn_final_states(model: onnx.ModelProto) -> list[Fix]:
    """Stacked LSTM/GRU final states: Paddle returns [layers*directions, N, H]; paddle2onnx 2.1.0 wires the
    graph output to the last layer's Y_h/Y_c alone ([directions, N, H]) while declaring the full shape.

    The output is rewired to Concat(axis 0) of every layer's state, in layer order, which is Paddle's
    layout (layer-major, direction-minor) and the declared shape.
    """
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output if out}
    fixes: list[Fix] = []
    for output in graph.output:
        declared = _declared_dim0(output)
        node, via = producers.get(output.name), []
        while node is not None and node.op_type == "Identity":
            via.append(node)
            node = producers.get(node.input[0])
        if node is None or node.op_type not in RECURRENT_OPS or declared is None:
            continue
        index = list(node.output).index(via[-1].input[0] if via else output.name)
        if index not in (1, 2):
            continue
        chain = _recurrent_chain(node, producers)
        if len(chain) < 2 or declared != sum(_num_directions(n) for n in chain) or declared == _num_directions(node):
            continue
        states = []
        for layer, rnn in enumerate(chain):
            while len(rnn.output) <= index:
                rnn.output.append("")
            if not rnn.output[index]:
                rnn.output[index] = f"{rnn.name or rnn.op_type}_state{index}_layer{layer}"
            states.append(rnn.output[index])
        joined = f"{output.name}__all_layers"
        concat = helper.make_node("Concat", states, [joined], axis=0, name=f"{joined}_concat")
        consumer = via[-1] if via else None
        if consumer is not None:
            consumer.input[0] = joined
        else:
            graph.node.append(helper.make_node("Identity", [joined], [output.name]))
            node.output[index] = states[-1] = f"{output.name}__last_layer"
            concat.input[-1] = states[-1]
        graph.node.insert(list(graph.node).index(chain[-1]) + 1, concat)
        fixes.append(Fix("repair", "concat_stacked_rnn_final_states", output.name,
                         f"output now joins the final states of {len(chain)} {node.op_type} layers "
                         f"({', '.join(n.name for n in chain)})",
                         f"paddle2onnx wired only the last layer's state; Paddle returns all {declared}"))
    return fixes


PASSES: list[Callable[[onnx.ModelProto], list[Fix]]] = [unsqueeze_scalar_concat_inputs,
                                                        concat_stacked_rnn_final_states]


def repair_model(model: onnx.ModelProto) -> list[Fix]:
    """Apply every repair pass to ``model`` in place; returns what was changed."""
    return [fix for run_pass in PASSES for fix in run_pass(model)]
