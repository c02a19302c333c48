"""Fuse the erf form of GELU written out in elementwise ops into one Gelu node.

paddle2onnx (and other exporters) write ``gelu(x) = x * 0.5 * (1 + erf(x / sqrt 2))`` as::

    Mul(Mul(x, Add(Erf(Div(x, sqrt2)), 1)), 0.5)

Also matched: ``Mul(x, 1/sqrt2)`` for the Div, and the two last Muls associated either other way
(``Mul(x, Mul(a, 0.5))``, ``Mul(Mul(x, 0.5), a)``); Add and Mul operands in either order. The constants must
be one-element floats equal to sqrt 2 (or its inverse), 1 and 0.5 to a few ulps of their type; values
between x and the output must have no reader outside the pattern. The node is ONNX's Gelu from opset 20,
else ``paddle2tf.Gelu`` (the same op, converted by the same converter).
"""

from __future__ import annotations

import math

import onnx
from onnx import helper

from paddle2tf.converter.passes.rewrite import GraphIndex, close_to, replace_nodes
from paddle2tf.onnxutil.graph import INTERNAL_DOMAIN, STANDARD_DOMAINS, model_opset


def find(model: onnx.ModelProto) -> bool:
    return next(_matches(GraphIndex(model.graph)), None) is not None


def rewrite(model: onnx.ModelProto) -> int:
    index = GraphIndex(model.graph)
    standard = model_opset(model) >= 20
    fused: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for nodes, x, output in _matches(index):
        if removed.intersection(nodes):
            continue
        first = index.graph.node[min(nodes)]
        fused[max(nodes)] = helper.make_node("Gelu", [x], [output], name=first.name,
                                             domain="" if standard else INTERNAL_DOMAIN)
        removed.update(nodes)
    if fused:
        replace_nodes(model, fused, removed)
    return len(fused)


def _is(index: GraphIndex, name: str | None, value: float) -> bool:
    return name is not None and close_to(index.scalar(name), value, index.constants.get(name))


def _other(node: onnx.NodeProto | None, name: str) -> str | None:
    if node is None or len(node.input) != 2 or list(node.input).count(name) != 1:
        return None
    return node.input[1] if node.input[0] == name else node.input[0]


def _matches(index: GraphIndex):
    """(pattern node positions, x, output) of every match, anchored at the Erf."""
    for erf_at, erf in enumerate(index.graph.node):
        if erf.op_type != "Erf" or erf.domain not in STANDARD_DOMAINS:
            continue
        found = _match_from(index, erf_at, erf)
        if found is not None:
            yield found


def _scaled_input(index: GraphIndex, name: str) -> tuple[int, str] | None:
    """(position, x) of the node computing ``name`` = x / sqrt 2 or x * (1 / sqrt 2)."""
    position, div = index.node(name, "Div")
    if div is not None and _is(index, div.input[1], math.sqrt(2)):
        return position, div.input[0]
    position, mul = index.node(name, "Mul")
    if mul is not None:
        for x, c in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
            if _is(index, c, math.sqrt(0.5)):
                return position, x
    return None


def _match_from(index: GraphIndex, erf_at: int, erf: onnx.NodeProto) -> tuple[list[int], str, str] | None:
    scaled = _scaled_input(index, erf.input[0])
    if scaled is None or index.only_consumer(erf.input[0]) != erf_at:
        return None
    scale_at, x = scaled
    add_at, add = index.consumer(erf.output[0], "Add")
    if not _is(index, _other(add, erf.output[0]), 1.0):
        return None
    a = add.output[0]
    mul_at, mul = index.consumer(a, "Mul")
    other = _other(mul, a)
    if other is None:
        return None
    nodes = [scale_at, erf_at, add_at, mul_at]
    if other == x or _is(index, other, 0.5):
        last_at, last = index.consumer(mul.output[0], "Mul")
        # (x * a) * 0.5 needs the 0.5 now, x * (a * 0.5) needs x
        if not (_is(index, _other(last, mul.output[0]), 0.5) if other == x else _other(last, mul.output[0]) == x):
            return None
        return [*nodes, last_at], x, last.output[0]
    half_at, half = index.node(other, "Mul")  # (x * 0.5) * a
    if half is None or index.only_consumer(other) != mul_at or not _is(index, _other(half, x), 0.5):
        return None
    return [half_at, *nodes], x, mul.output[0]
