"""Repair passes on the exported ONNX model, run before the check stage."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.fixes import Fix


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


PASSES: list[Callable[[onnx.ModelProto], list[Fix]]] = [unsqueeze_scalar_concat_inputs]


def repair_model(model: onnx.ModelProto) -> list[Fix]:
    """Apply every repair pass to ``model`` in place; returns what was changed."""
    return [fix for run_pass in PASSES for fix in run_pass(model)]
