"""Sanitise passes on a Paddle PIR program (its JSON form), run before paddle2onnx sees it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from paddle2tf.fixes import Fix

# Ops whose float attributes Paddle declares as double (paddle2onnx reads them as double correctly).
DOUBLE_ATTRIBUTE_OPS = frozenset({"full", "full_", "full_like", "full_with_tensor", "assign_value", "assign_value_",
                                  "set_value", "set_value_", "set_value_with_tensor", "set_value_with_tensor_"})


def _ops(node) -> Iterator[dict]:
    """Every operation dict of the program, in nested blocks too (an op has a '#' like '1.conv2d')."""
    if isinstance(node, dict):
        tag = node.get("#")
        if isinstance(tag, str) and tag[:1].isdigit() and "." in tag and not tag.split(".", 1)[1].startswith(
                ("a_", "t_")) and "A" in node:
            yield node
        for value in node.values():
            yield from _ops(value)
    elif isinstance(node, list):
        for value in node:
            yield from _ops(value)


def _op_name(op: dict) -> str:
    return op["#"].split(".", 1)[1]


def _retag_f64(value) -> int:
    """Rewrite f64 scalars (also inside arrays) to f32 in place; returns how many changed."""
    if isinstance(value, dict):
        if value.get("#") == "0.a_f64":
            value["#"] = "0.a_f32"
            return 1
        return sum(_retag_f64(v) for v in value.values())
    if isinstance(value, list):
        return sum(_retag_f64(v) for v in value)
    return 0


def float_attributes_as_f32(program: dict) -> list[Fix]:
    """paddle2onnx reads float attributes stored as f64 as garbage or aborts (Paddle2ONNX #1646, #1618).

    Paddle 3.3 writes attributes such as interpolate ``scale``, pad ``pad_value`` and norm ``epsilon``
    as f64 in the PIR JSON; paddle2onnx 2.1.0 expects f32 there. Retagging keeps the value (these are
    float attributes, declared float by Paddle, so nothing is lost) and the exporter reads it right.
    """
    fixes = []
    for op in _ops(program):
        name = _op_name(op)
        if name in DOUBLE_ATTRIBUTE_OPS:
            continue
        for attr in op.get("A", []):
            if _retag_f64(attr.get("AT")):
                fixes.append(Fix("sanitise", "float_attributes_as_f32", f"pd_op.{name}",
                                 f"attribute '{attr.get('N')}' retagged f64 -> f32",
                                 "paddle2onnx 2.1.0 misreads f64 float attributes (aborts or reads garbage)"))
    return fixes


PASSES: list[Callable[[dict], list[Fix]]] = [float_attributes_as_f32]


def sanitise_program(json_path: str, out_path: str) -> list[Fix]:
    """Apply every pass to the PIR JSON at ``json_path``; write the result to ``out_path``."""
    with open(json_path) as handle:
        program = json.load(handle)
    fixes = [fix for run_pass in PASSES for fix in run_pass(program)]
    with open(out_path, "w") as handle:
        json.dump(program, handle, separators=(",", ":"))
    return fixes
