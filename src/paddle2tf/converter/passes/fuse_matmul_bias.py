"""Fuse a MatMul by a constant weight, the Add of a constant bias and a following Relu or Gelu into one node.

``Add(MatMul(A, W), bias)`` with W a constant [K, N] float matrix and bias a constant [N] vector (a Linear layer)
becomes ``paddle2tf.Linear(A, W, bias)``, converted as one 2-D MatMul (A's leading axes folded into its rows), a
BiasAdd and the activation, reshaped back: the form TF's grappler remapper turns into one ``_FusedMatMul``
(bias and activation applied in the MatMul kernel's output loop). Without this the bias is added after the
reshape back to A's rank, which the remapper cannot fuse.

A Relu, or a Gelu without the tanh approximation (ONNX's, or ``paddle2tf.Gelu`` from ``fuse_gelu``, which
runs first), reading the biased value, possibly through Identity nodes, is absorbed as the ``activation``
attribute ("Relu" | "Gelu"). The MatMul's output (and every value absorbed but the last) must have no other
reader. Measured on bert_like (768 -> 3072 -> 768 FFN, seq 128): bias and GELU in the MatMul are ~10% faster
than the MatMul alone followed by the reshape, the bias Add and the GELU.
"""

from __future__ import annotations

import onnx
from onnx import helper

from paddle2tf.converter.passes.rewrite import GraphIndex, any_match, replace_nodes
from paddle2tf.onnxutil.graph import FLOAT_TYPES, INTERNAL_DOMAIN, STANDARD_DOMAINS


def find(model: onnx.ModelProto) -> bool:
    return any_match(model, _match)


def rewrite(model: onnx.ModelProto) -> int:
    index = GraphIndex(model.graph)
    fused: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for position, node in enumerate(model.graph.node):
        match = _match(index, position, node)
        if match is None or removed.intersection(match[0]):
            continue
        nodes, inputs, output, activation = match
        matmul = index.graph.node[nodes[0]]
        fused[max(nodes)] = helper.make_node("Linear", inputs, [output], name=matmul.name, domain=INTERNAL_DOMAIN,
                                             activation=activation)
        removed.update(nodes)
    if fused:
        replace_nodes(model, fused, removed)
    return len(fused)


def _match(index: GraphIndex, add_at: int, add: onnx.NodeProto):
    """([MatMul, Add, absorbed...] positions, [A, W, bias], output, activation) for the Add of a Linear layer."""
    if add.op_type != "Add" or add.domain not in STANDARD_DOMAINS or len(add.input) != 2:
        return None
    for product, bias in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
        matmul_at, matmul = index.node(product, "MatMul")
        if matmul is not None and index.only_consumer(product) == add_at and _weights(index, matmul.input[1], bias):
            break
    else:
        return None
    nodes, output, activation = [matmul_at, add_at], add.output[0], ""
    chain, value = [], output
    while True:  # Identity nodes between the Add and an activation go with it
        position = index.only_consumer(value)
        node = index.graph.node[position] if position is not None else None
        if node is None:
            break
        kind = _activation(node)
        if kind:
            nodes += [*chain, position]
            output, activation = node.output[0], kind
            break
        if node.op_type != "Identity" or node.domain not in STANDARD_DOMAINS:
            break
        chain.append(position)
        value = node.output[0]
    return nodes, [matmul.input[0], matmul.input[1], bias], output, activation


def _weights(index: GraphIndex, w: str, bias: str) -> bool:
    """W a constant float [K, N], bias a constant [N] of the same type."""
    w_tensor, b_tensor = index.constants.get(w), index.constants.get(bias)
    if w_tensor is None or b_tensor is None or w_tensor.data_type not in FLOAT_TYPES:
        return False
    return (len(w_tensor.dims) == 2 and list(b_tensor.dims) == [w_tensor.dims[1]]
            and b_tensor.data_type == w_tensor.data_type)


def _activation(node: onnx.NodeProto) -> str:
    if node.op_type == "Relu" and node.domain in STANDARD_DOMAINS:
        return "Relu"
    if node.op_type == "Gelu" and node.domain in (*STANDARD_DOMAINS, INTERNAL_DOMAIN):
        approximate = next((a.s for a in node.attribute if a.name == "approximate"), b"none")
        return "Gelu" if approximate == b"none" else ""
    return ""
