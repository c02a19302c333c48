"""ONNX-only helpers every stage shares: the domain rule, opsets, node attributes, the one walk over a graph and
its subgraphs, graph inputs and value types. Imports neither TensorFlow nor Paddle."""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.onnxutil.dtypes import element_dtype

STANDARD_DOMAINS = ("", "ai.onnx")  # the standard operator set, under either name
# Every domain the ONNX standard defines (a node of any other domain is a custom op: a plugin's).
ONNX_DOMAINS = frozenset({*STANDARD_DOMAINS, "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.training"})
# Domain of the fused ops the converter's passes emit where the model's opset has no standard op for them
# (LayerNormalization before opset 17, Gelu before 20, MatMul + bias + activation in any opset). Only paddle2tf's
# converters know these ops: a rewritten model is converted, never given to ONNX Runtime or saved.
INTERNAL_DOMAIN = "paddle2tf"
FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16)


def normalise_domain(domain: str) -> str:
    """"" for the standard domain however spelled; any other domain as is."""
    return "" if domain in STANDARD_DOMAINS else domain


def sanitise_name(name: str, prefix: str = "v") -> str:
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not clean or not clean[0].isalpha():
        clean = f"{prefix}_{clean}"
    return clean


def attributes(node: onnx.NodeProto) -> dict:
    values = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8") for v in value]
        values[attr.name] = value
    return values


def graph_opsets(model: onnx.ModelProto) -> dict[str, int]:
    """Opset version per domain ("" for the standard ONNX domain, however the model spells it)."""
    return {normalise_domain(o.domain): o.version for o in model.opset_import}


def model_opset(model: onnx.ModelProto, domain: str = "") -> int:
    """The model's opset for ``domain`` (the standard ONNX domain by default); 1 when it imports none."""
    return graph_opsets(model).get(normalise_domain(domain), 1)


def node_subgraphs(node: onnx.NodeProto):
    """The node's own subgraphs (If branches, Loop/Scan bodies), not recursively."""
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def iter_nodes(graph: onnx.GraphProto):
    """Every node of the graph and of its subgraphs (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for sub in node_subgraphs(node):
            yield from iter_nodes(sub)


def node_input_names(node: onnx.NodeProto) -> list[str]:
    """Values the node reads: explicit inputs, then the values its subgraphs read from enclosing scopes."""
    names = [n for n in node.input if n]
    names += sorted(_outer_names_read_by_subgraphs(node) - set(names))
    return names


def _outer_names_read_by_subgraphs(node: onnx.NodeProto) -> set[str]:
    names: set[str] = set()
    for sub in node_subgraphs(node):
        defined = {vi.name for vi in sub.input} | {init.name for init in sub.initializer}
        used: set[str] = set()
        for inner in sub.node:
            used.update(node_input_names(inner))
            defined.update(n for n in inner.output if n)
        names |= used - defined
    return names


def iter_graphs(graph: onnx.GraphProto):
    """The graph and its subgraphs (If/Loop/Scan bodies), recursively."""
    yield graph
    for node in graph.node:
        for sub in node_subgraphs(node):
            yield from iter_graphs(sub)


def constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    """A Constant node's value (any of its value attributes); None when it has none."""
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in ("value_float", "value_floats"):
            return np.array(helper.get_attribute_value(attr), np.float32)
        if attr.name in ("value_int", "value_ints"):
            return np.array(helper.get_attribute_value(attr), np.int64)
    return None


def constant_tensors(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """The graph's initializers and standard Constant nodes' ``value`` tensors by name, not decoded (a caller reads
    a few, not every weight). paddle2onnx writes a model's parameters as Constant nodes."""
    tensors = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            value = next((attr for attr in node.attribute if attr.name == "value"), None)
            if value is not None:
                tensors[node.output[0]] = value.t
    return tensors


def delete_positions(repeated, positions) -> None:
    """Delete elements of a protobuf repeated field in place. Rebuilding the field instead (clear, extend)
    copies every element: every weight of a model whose weights are Constant nodes (paddle2onnx's)."""
    for position in sorted(positions, reverse=True):
        del repeated[position]


# What a constant reaches its reader through (the converter passes' GraphIndex.resolved follows the same chain).
_PLUMBING = ("Constant", "Identity", "Reshape")


def remove_unused_constants(graph: onnx.GraphProto) -> None:
    """Drop what a rewrite leaves unread (a folded weight's old copy, a dequantized weight's float original):
    Constant, Identity and Reshape nodes nothing reads any more (repeatedly: a Reshape's shape Constant is unread
    once the Reshape is gone), and unread initializers. Subgraph reads count (node_input_names)."""
    while True:
        read = {o.name for o in graph.output} | {i.name for i in graph.input}  # an initializer may be an input
        for node in graph.node:
            read.update(node_input_names(node))
        dead = [i for i, n in enumerate(graph.node) if n.op_type in _PLUMBING and n.domain in STANDARD_DOMAINS
                and not any(name in read for name in n.output)]
        if not dead:
            break
        delete_positions(graph.node, dead)
    delete_positions(graph.initializer, [i for i, init in enumerate(graph.initializer) if init.name not in read])


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph inputs a caller must feed (initializers listed as inputs are constants, not feeds)."""
    initializers = {init.name for init in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in initializers]


def value_type(value: onnx.ValueInfoProto) -> tuple[np.dtype, list[int | None]]:
    """A declared value's numpy dtype and dims (None for a dim without a static size)."""
    tensor_type = value.type.tensor_type
    return element_dtype(tensor_type.elem_type), declared_dims(tensor_type)


def declared_dims(tensor_type: onnx.TypeProto.Tensor) -> list[int | None]:
    """The dims a tensor type declares, None where it sets no static size. A negative size counts as dynamic:
    some exporters write -1 for a dynamic dim (onnx.checker lets it through) where the spec wants dim_param."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else None for d in tensor_type.shape.dim]


_WEIGHT_MIN_ELEMENTS = 1024  # shape inference reads small constants' values (shapes, axes), never larger ones


def without_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the model for shape inference, its large constants reduced to their type and dims: inference
    serialises the model it is given and parses a copy back, three copies of every weight at once."""
    def stub(tensor: onnx.TensorProto) -> onnx.TensorProto | None:
        if tensor.data_type not in FLOAT_TYPES or int(np.prod(tensor.dims)) < _WEIGHT_MIN_ELEMENTS:
            return None  # data propagation may read it (int64 shapes)
        return onnx.TensorProto(name=tensor.name, data_type=tensor.data_type, dims=tensor.dims)

    light = onnx.ModelProto()
    light.CopyFrom(onnx.ModelProto(ir_version=model.ir_version, opset_import=model.opset_import,
                                   functions=model.functions))
    graph = model.graph
    light.graph.CopyFrom(onnx.GraphProto(name=graph.name, input=graph.input, output=graph.output,
                                         value_info=graph.value_info))
    for init in graph.initializer:
        light.graph.initializer.append(stub(init) or init)
    for node in graph.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        light_node = light.graph.node.add()
        if value is not None and stub(value) is not None:
            light_node.CopyFrom(helper.make_node("Constant", [], list(node.output), name=node.name,
                                                 value=stub(value)))
        else:
            light_node.CopyFrom(node)
    return light
