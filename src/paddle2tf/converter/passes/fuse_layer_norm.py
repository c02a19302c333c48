"""Fuse a layer normalisation written out in elementwise ops into one LayerNormalization node.

paddle2onnx below opset 17 (and other exporters) write ``LayerNorm(x) * gamma + beta`` over the last axis as::

    mean = ReduceMean(x, axes=[-1]); d = Sub(x, mean); var = ReduceMean(Pow(d, 2), axes=[-1])
    y = Add(Mul(Div(d, Sqrt(Add(var, eps))), gamma), beta)

with gamma and beta constants of shape [C], possibly behind Identity/Reshape nodes (the fused node reads the
value Mul and Add read). The Add of beta is optional. The node is ONNX's LayerNormalization (axis -1) from opset
17, else ``paddle2tf.LayerNormalization`` (the same op, converted by the same converter). Its statistics are
computed in the pattern's own float type (``stash_type``), as the decomposition computes them. Every value
between x and y must have no reader outside the pattern; eps (and the exponent 2) must be constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import helper

from paddle2tf.converter.passes.rewrite import GraphIndex, close_to, replace_nodes
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN, STANDARD_DOMAINS, model_opset


@dataclass
class _Match:
    nodes: list[int]  # positions of the pattern's nodes
    x: str
    gamma: str
    beta: str | None
    epsilon: float
    dtype: int  # TensorProto element type of the pattern (eps's)
    output: str
    name: str


def find(model: onnx.ModelProto) -> bool:
    return next(_matches(GraphIndex(model.graph)), None) is not None


def rewrite(model: onnx.ModelProto) -> int:
    index = GraphIndex(model.graph)
    standard = model_opset(model) >= 17
    fused: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for match in _matches(index):
        if removed.intersection(match.nodes):
            continue
        inputs = [match.x, match.gamma] + ([match.beta] if match.beta else [])
        attrs = {"axis": -1, "epsilon": match.epsilon}
        if match.dtype != onnx.TensorProto.FLOAT:
            attrs["stash_type"] = match.dtype  # statistics in the input's type, as the decomposition
        fused[max(match.nodes)] = helper.make_node("LayerNormalization", inputs, [match.output], name=match.name,
                                                  domain="" if standard else INTERNAL_DOMAIN, **attrs)
        removed.update(match.nodes)
    if fused:
        replace_nodes(model, fused, removed)
    return len(fused)


def _last_axis_mean(index: GraphIndex, node: onnx.NodeProto) -> bool:
    """A ReduceMean over the last axis only, keeping it (axes: an attribute, or from opset 18 an input)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if not attrs.get("keepdims", 1):
        return False
    if len(node.input) > 1 and node.input[1]:
        if node.input[1] not in index.constants:
            return False
        axes = index.constant(node.input[1]).reshape(-1).tolist()
    else:
        axes = attrs.get("axes")
    return axes == [-1]


def _other(node: onnx.NodeProto, name: str) -> str | None:
    """The other operand of a binary node that reads ``name`` once."""
    if len(node.input) != 2 or list(node.input).count(name) != 1:
        return None
    return node.input[1] if node.input[0] == name else node.input[0]


def _vector(index: GraphIndex, name: str | None) -> bool:
    value = index.resolved(name) if name else None
    return value is not None and value.ndim == 1 and value.dtype.kind == "f"


def _matches(index: GraphIndex):
    for position, mean in enumerate(index.graph.node):
        if mean.op_type != "ReduceMean" or mean.domain not in STANDARD_DOMAINS or not _last_axis_mean(index, mean):
            continue
        match = _match_from(index, position, mean)
        if match is not None:
            yield match


def _match_from(index: GraphIndex, mean_at: int, mean: onnx.NodeProto) -> _Match | None:
    x = mean.input[0]
    sub_at, sub = index.consumer(mean.output[0], "Sub")
    if sub is None or list(sub.input) != [x, mean.output[0]]:
        return None
    d = sub.output[0]
    readers = sorted(index.consumers.get(d, []))
    if len(readers) != 2 or d in index.outputs:
        return None
    by_type = {index.graph.node[i].op_type: i for i in readers}
    if set(by_type) != {"Pow", "Div"}:
        return None
    pow_at, div_at = by_type["Pow"], by_type["Div"]
    square, div = index.graph.node[pow_at], index.graph.node[div_at]
    if list(square.input[:1]) != [d] or not close_to(index.scalar(square.input[1]), 2.0,
                                                      index.constants.get(square.input[1])):
        return None
    var_at, var = index.consumer(square.output[0], "ReduceMean")
    if var is None or not _last_axis_mean(index, var):
        return None
    add_eps_at, add_eps = index.consumer(var.output[0], "Add")
    eps_name = _other(add_eps, var.output[0]) if add_eps is not None else None
    epsilon = index.scalar(eps_name) if eps_name else None
    if epsilon is None or epsilon < 0:
        return None
    sqrt_at, sqrt = index.consumer(add_eps.output[0], "Sqrt")
    if sqrt is None or index.only_consumer(sqrt.output[0]) != div_at or list(div.input) != [d, sqrt.output[0]]:
        return None
    mul_at, mul = index.consumer(div.output[0], "Mul")
    gamma = _other(mul, div.output[0]) if mul is not None else None
    if not _vector(index, gamma):
        return None
    nodes = [mean_at, sub_at, pow_at, var_at, add_eps_at, sqrt_at, div_at, mul_at]
    beta, output = None, mul.output[0]
    add_at, add = index.consumer(mul.output[0], "Add")
    if add is not None and _vector(index, _other(add, mul.output[0])):
        beta, output = _other(add, mul.output[0]), add.output[0]
        nodes.append(add_at)
    return _Match(nodes, x, gamma, beta, epsilon, index.constants[eps_name].data_type, output, mean.name)
