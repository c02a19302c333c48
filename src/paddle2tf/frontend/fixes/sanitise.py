"""Sanitise passes on a Paddle PIR program (its JSON form), run before paddle2onnx sees it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import numpy as np

from paddle2tf.frontend.fixes import Fix

# Ops whose float attributes Paddle declares as double (paddle2onnx reads them as double correctly).
DOUBLE_ATTRIBUTE_OPS = frozenset({"full", "full_", "full_like", "full_with_tensor", "assign_value", "assign_value_",
                                  "set_value", "set_value_", "set_value_with_tensor", "set_value_with_tensor_"})


# Keys of an op (attributes, operands, results, their types) that never hold nested ops: not walked.
_NO_OPS_INSIDE = frozenset({"A", "I", "O", "OA", "DA", "QA", "TT"})


def program_ops(node) -> Iterator[dict]:
    """Every operation dict of the program, in nested blocks too (an op has a '#' like '1.conv2d')."""
    if isinstance(node, dict):
        tag = node.get("#")
        if isinstance(tag, str) and tag[:1].isdigit() and "." in tag and not tag.split(".", 1)[1].startswith(
                ("a_", "t_")) and "A" in node:
            yield node
        for key, value in node.items():
            if key not in _NO_OPS_INSIDE:
                yield from program_ops(value)
    elif isinstance(node, list):
        for value in node:
            yield from program_ops(value)


def op_name(op: dict) -> str:
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
    for op in program_ops(program):
        name = op_name(op)
        if name in DOUBLE_ATTRIBUTE_OPS:
            continue
        for attr in op.get("A", []):
            if _retag_f64(attr.get("AT")):
                fixes.append(Fix("sanitise", "float_attributes_as_f32", f"pd_op.{name}",
                                 f"attribute '{attr.get('N')}' retagged f64 -> f32",
                                 "paddle2onnx 2.1.0 misreads f64 float attributes (aborts or reads garbage)"))
    return fixes


REDUCE_OPS = frozenset({"mean", "sum", "max", "min", "prod", "amax", "amin", "logsumexp", "all", "any"})


def value_shapes(program: dict) -> dict[int, list[int]]:
    """Shape of every op result, by value id (the '%' numbers of the PIR JSON)."""
    shapes = {}
    for op in program_ops(program):
        for result in op.get("O", []):
            data = result.get("TT", {}).get("D")
            if isinstance(data, list) and len(data) > 1 and isinstance(data[1], list):
                shapes[result["%"]] = data[1]
    return shapes


def explicit_reduce_all_axes(program: dict) -> list[Fix]:
    """A reduction over all axes (``paddle.mean(x)``) carries an empty axis list, which paddle2onnx 2.1.0
    cannot read: it aborts the process with "Can not get input 'axis(dim)' value". The empty list is
    replaced by every axis of the reduced input, which means the same thing."""
    ops = list(program_ops(program))
    producers = {result["%"]: op for op in ops for result in op.get("O", []) if op_name(op) == "full_int_array"}
    consumers: dict[int, list[dict]] = {}
    for op in ops:
        for operand in op.get("I", []):
            consumers.setdefault(operand.get("%"), []).append(op)
    shapes = value_shapes(program)
    fixes = []
    for value_id, producer in producers.items():
        value_attr = next((a for a in producer["A"] if a.get("N") == "value"), None)
        if value_attr is None or value_attr["AT"].get("D") != []:
            continue
        users = consumers.get(value_id, [])
        if not users or any(op_name(u) not in REDUCE_OPS or u["I"][1].get("%") != value_id for u in users):
            continue
        input_shapes = [shapes.get(user["I"][0].get("%")) for user in users]
        if any(shape is None for shape in input_shapes) or len({len(shape) for shape in input_shapes}) != 1:
            continue
        rank = len(input_shapes[0])
        if rank == 0:
            continue
        value_attr["AT"]["D"] = [{"#": "0.a_i64", "D": axis} for axis in range(rank)]
        for result in producer.get("O", []):
            data = result.get("TT", {}).get("D")
            if isinstance(data, list) and len(data) > 1 and isinstance(data[1], list):
                data[1] = [rank]
        fixes.append(Fix("sanitise", "explicit_reduce_all_axes", ", ".join(f"pd_op.{op_name(u)}" for u in users),
                         f"empty axis list replaced by {list(range(rank))}",
                         "paddle2onnx 2.1.0 aborts on a reduction with an empty axis list"))
    return fixes


def _op_lists(node) -> Iterator[list]:
    """Every block's op list (``"ops": [...]``), nested blocks too."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ops" and isinstance(value, list):
                yield value
            if key not in _NO_OPS_INSIDE:
                yield from _op_lists(value)
    elif isinstance(node, list):
        for value in node:
            yield from _op_lists(value)


def _max_value_id(node) -> int:
    if isinstance(node, dict):
        own = node.get("%") if isinstance(node.get("%"), int) else -1
        return max([own, *(_max_value_id(v) for v in node.values())])
    if isinstance(node, list):
        return max((_max_value_id(v) for v in node), default=-1)
    return -1


def op_attr(op: dict, name: str):
    return next((a["AT"].get("D") for a in op.get("A", []) if a.get("N") == name), None)


def _ops_backwards(program: dict):
    """Every op with its list and index, the last first in each list: a pass may insert ops before the one it is
    at without disturbing the walk."""
    for ops in _op_lists(program):
        for index in reversed(range(len(ops))):
            yield ops, index, ops[index]


def flatten_vector_norms(program: dict) -> list[Fix]:
    """``paddle.linalg.norm(x)`` without an axis is ``p_norm`` with ``asvector=true``: the norm of all elements.
    paddle2onnx 2.1.0 ignores ``asvector`` and reduces the last axis only ([N] where Paddle returns a 0-d value).
    A ``flatten`` of the input is inserted before it, so the last axis is every element (what asvector means)."""
    fixes = []
    shapes = value_shapes(program)
    next_id = _max_value_id(program) + 1
    for ops, index, op in _ops_backwards(program):
        if not (isinstance(op, dict) and isinstance(op.get("#"), str) and op["#"].endswith(".p_norm")):
            continue
        if op_attr(op, "asvector") is not True or op_attr(op, "keepdim") is not False or not op.get("I"):
            continue
        source = op["I"][0].get("%")
        shape = shapes.get(source)
        if shape is None or len(shape) < 2:
            continue  # rank 0/1: the last axis already is every element
        tensor_type = json.loads(json.dumps(op["O"][0]["TT"]))
        tensor_type["D"][1] = [-1 if any(d < 0 for d in shape) else int(np.prod(shape))]
        flatten = {"#": "1.flatten",
                   "A": [{"AT": {"#": "0.a_i32", "D": 0}, "N": "start_axis"},
                         {"AT": {"#": "0.a_i32", "D": len(shape) - 1}, "N": "stop_axis"}],
                   "I": [{"%": source}], "O": [{"%": next_id, "TT": tensor_type}],
                   "OA": _stop_gradient(False)}
        op["I"][0]["%"] = next_id
        ops.insert(index, flatten)
        next_id += 1
        fixes.append(Fix("sanitise", "flatten_vector_norms", "pd_op.p_norm",
                         f"input of rank {len(shape)} flattened first (asvector=true: the norm of every element)",
                         "paddle2onnx 2.1.0 ignores asvector and reduces the last axis only"))
    return fixes


def _stop_gradient(value: bool) -> list[dict]:
    """The output attributes of an inserted op (a new list each time: the program is edited in place)."""
    return [{"AT": {"#": "0.a_array", "D": [{"#": "0.a_bool", "D": value}]}, "N": "stop_gradient"}]


def _int_array(value_id: int, values: list[int]) -> dict:
    return {"#": "1.full_int_array",
            "A": [{"AT": {"#": "0.a_array", "D": [{"#": "0.a_i64", "D": v} for v in values]}, "N": "value"},
                  {"AT": {"#": "1.a_dtype", "D": "int64"}, "N": "dtype"},
                  {"AT": {"#": "1.a_place", "D": [1, 0, ""]}, "N": "place"}],
            "I": [], "O": [{"%": value_id, "TT": {"#": "0.t_dtensor", "D": [{"#": "0.t_i64"}, [len(values)], "NCHW",
                                                                            [], 0]}}],
            "OA": _stop_gradient(True)}


def _float_result(value_id: int, shape: list[int]) -> list[dict]:
    return [{"%": value_id, "TT": {"#": "0.t_dtensor", "D": [{"#": "0.t_f32"}, shape, "NCHW", [], 0]}}]


def deform_conv_mask_of_ones(program: dict) -> list[Fix]:
    """``deform_conv2d`` without a mask (deform conv v1) is ``deformable_conv`` with its mask operand absent;
    paddle2onnx 2.1.0 reads the mask regardless and ends the process ("impl_ pointer is null", exit 255). v1 is
    v2 with every mask value 1 (Paddle's kernel multiplies each sample by the mask), so a mask of ones is fed:
    ``pow(offset[:, :C/2], 0)``, shape [N, deformable_groups * kh * kw, Ho, Wo] like the mask v2 takes."""
    fixes = []
    shapes = value_shapes(program)
    next_id = _max_value_id(program) + 1
    for ops, index, op in _ops_backwards(program):
        if not (isinstance(op, dict) and op.get("#") == "1.deformable_conv") or len(op.get("I", [])) < 4:
            continue
        if op["I"][3].get("%"):  # a mask is given (value id 0: the absent optional operand)
            continue
        offset_shape = shapes.get(op["I"][1].get("%"))
        if not offset_shape or len(offset_shape) != 4 or offset_shape[1] <= 0 or offset_shape[1] % 2:
            continue
        channels = offset_shape[1] // 2
        mask_shape = [offset_shape[0], channels, *offset_shape[2:]]
        starts, ends, sliced, ones = next_id, next_id + 1, next_id + 2, next_id + 3
        next_id += 4
        slice_op = {"#": "1.slice",
                    "A": [{"AT": {"#": "0.a_array", "D": [{"#": "0.a_i64", "D": 1}]}, "N": "axes"},
                          {"AT": {"#": "0.a_array", "D": [{"#": "0.a_i64", "D": 1}]}, "N": "infer_flags"},
                          {"AT": {"#": "0.a_array", "D": []}, "N": "decrease_axis"}],
                    "I": [{"%": op["I"][1]["%"]}, {"%": starts}, {"%": ends}],
                    "O": _float_result(sliced, mask_shape), "OA": _stop_gradient(False)}
        pow_op = {"#": "1.pow", "A": [{"AT": {"#": "0.a_f32", "D": 0.0}, "N": "y"}], "I": [{"%": sliced}],
                  "O": _float_result(ones, mask_shape), "OA": _stop_gradient(False)}
        ops[index:index] = [_int_array(starts, [0]), _int_array(ends, [channels]), slice_op, pow_op]
        op["I"][3] = {"%": ones}
        layer = str(op_attr(op, "struct_name") or "").strip("/")
        target = f"pd_op.deformable_conv{' ' + layer if layer else ''}"
        fixes.append(Fix("sanitise", "deform_conv_mask_of_ones", target,
                         f"mask of ones [{channels} channels] fed (deform conv v1 = v2 with mask 1)",
                         "paddle2onnx 2.1.0 aborts on deformable_conv without a mask"))
    return fixes


def _expanded_aspect_ratios(ratios: list[float], flip: bool) -> list[float]:
    """Paddle's ExpandAspectRatios: 1 first, then each new ratio (and its inverse with ``flip``)."""
    expanded = [1.0]
    for ratio in ratios:
        if all(abs(ratio - known) >= 1e-6 for known in expanded):
            expanded += [ratio, 1.0 / ratio] if flip else [ratio]
    return expanded


def prior_boxes(feature_hw: tuple[int, int], image_hw: tuple[int, int], attrs: dict) -> tuple[np.ndarray, np.ndarray]:
    """Paddle's prior_box (phi PriorBoxKernel, float32) for static sizes: boxes and variances, each
    [H, W, num_priors, 4]. The priors depend on the sizes only, never on the values."""
    (height, width), (image_h, image_w) = feature_hw, image_hw
    ratios = _expanded_aspect_ratios(attrs["aspect_ratios"], attrs["flip"])
    f32 = np.float32
    if attrs["step_w"] == 0 or attrs["step_h"] == 0:
        step_w, step_h = f32(image_w) / f32(width), f32(image_h) / f32(height)
    else:
        step_w, step_h = f32(attrs["step_w"]), f32(attrs["step_h"])
    half_sizes = []  # (half width, half height) of each prior at a position, in the kernel's order
    for s, min_size in enumerate(attrs["min_sizes"]):
        by_ratio = [(min_size * np.sqrt(r) / 2.0, min_size / np.sqrt(r) / 2.0) for r in ratios]
        square = [(np.sqrt(min_size * attrs["max_sizes"][s]) / 2.0,) * 2] if attrs["max_sizes"] else []
        if attrs["min_max_aspect_ratios_order"]:
            half_sizes += [by_ratio[0], *square, *(size for r, size in zip(ratios, by_ratio, strict=True)
                                                    if abs(r - 1.0) >= 1e-6)]
        else:
            half_sizes += [*by_ratio, *square]
    half = np.array(half_sizes, np.float64).astype(f32)  # [P, 2]
    offset = f32(attrs["offset"])
    center_x = (np.arange(width, dtype=f32) + offset) * step_w  # [W]
    center_y = (np.arange(height, dtype=f32) + offset) * step_h  # [H]
    grid = (height, width, len(half))
    cx, cy = np.broadcast_to(center_x[None, :, None], grid), np.broadcast_to(center_y[:, None, None], grid)
    half_w, half_h = half[None, None, :, 0], half[None, None, :, 1]
    boxes = np.stack([(cx - half_w) / f32(image_w), (cy - half_h) / f32(image_h),
                      (cx + half_w) / f32(image_w), (cy + half_h) / f32(image_h)], axis=-1).astype(f32)
    if attrs["clip"]:
        boxes = np.clip(boxes, f32(0), f32(1))
    variances = np.broadcast_to(np.array(attrs["variances"], f32), boxes.shape).copy()
    return boxes, variances


def _constant_ops(value_id: int, placeholder_id: int, values: np.ndarray) -> list[dict]:
    """``paddle.to_tensor(values)`` as Paddle writes it: a float32 ``full`` written over by ``assign_value_``."""
    shape = list(values.shape)
    result = _float_result(value_id, shape)
    full = {"#": "1.full", "A": [{"AT": {"#": "1.a_intarray", "D": shape}, "N": "shape"},
                                 {"AT": {"#": "0.a_f64", "D": 0.0}, "N": "value"},
                                 {"AT": {"#": "1.a_dtype", "D": "float32"}, "N": "dtype"},
                                 {"AT": {"#": "1.a_place", "D": [0, 0, ""]}, "N": "place"}],
            "I": [], "O": _float_result(placeholder_id, shape), "OA": _stop_gradient(True)}
    assign = {"#": "1.assign_value_",
              "A": [{"AT": {"#": "0.a_array", "D": [{"#": "0.a_i32", "D": d} for d in shape]}, "N": "shape"},
                    {"AT": {"#": "1.a_dtype", "D": "float32"}, "N": "dtype"},
                    {"AT": {"#": "0.a_array", "D": [{"#": "0.a_f64", "D": float(v)} for v in values.ravel()]},
                     "N": "values"},
                    {"AT": {"#": "1.a_place", "D": [0, 0, ""]}, "N": "place"}],
              "I": [{"%": placeholder_id}], "O": result, "OA": _stop_gradient(True)}
    return [full, assign]


_PRIOR_BOX_ATTRS = ("min_sizes", "max_sizes", "aspect_ratios", "variances", "flip", "clip", "step_w", "step_h",
                    "offset", "min_max_aspect_ratios_order")


def _plain(value):
    """An attribute's value without its type tags (arrays of tagged scalars -> lists)."""
    return [_plain(v) for v in value] if isinstance(value, list) else value.get("D") if isinstance(value, dict) \
        else value


def fold_static_prior_box(program: dict) -> list[Fix]:
    """paddle2onnx 2.1.0 has no conversion for ``prior_box`` (SSD anchors) and aborts the export. Its outputs
    depend only on the feature map's and the image's H and W: when both are static they are computed here
    (Paddle's kernel, float32) and the op is replaced by the two constants. Dynamic sizes: refused by name
    (frontend/unsupported_ops.py)."""
    fixes = []
    shapes = value_shapes(program)
    next_id = _max_value_id(program) + 1
    for ops, index, op in _ops_backwards(program):
        if not (isinstance(op, dict) and op.get("#") == "1.prior_box") or len(op.get("O", [])) != 2:
            continue
        feature, image = (shapes.get(operand.get("%")) for operand in op["I"][:2])
        if not feature or not image or any(d <= 0 for d in (*feature[2:], *image[2:])):
            continue
        attrs = {name: _plain(op_attr(op, name)) for name in _PRIOR_BOX_ATTRS}
        boxes, variances = prior_boxes(tuple(feature[2:]), tuple(image[2:]), attrs)
        replacement = []
        for result, values in zip(op["O"], (boxes, variances), strict=True):
            replacement += _constant_ops(result["%"], next_id, values)
            next_id += 1
        ops[index:index + 1] = replacement
        fixes.append(Fix("sanitise", "fold_static_prior_box", "pd_op.prior_box",
                         f"replaced by constants: {boxes.shape[2]} priors on a {feature[2]}x{feature[3]} map "
                         f"of a {image[2]}x{image[3]} image",
                         "paddle2onnx 2.1.0 has no conversion for prior_box; with static sizes it is constant"))
    return fixes


PASSES: list[Callable[[dict], list[Fix]]] = [float_attributes_as_f32, explicit_reduce_all_axes, flatten_vector_norms,
                                                deform_conv_mask_of_ones, fold_static_prior_box]


def sanitise_program(json_path: str, out_path: str) -> list[Fix]:
    """Apply every pass to the PIR JSON at ``json_path``; write the result to ``out_path``."""
    with open(json_path) as handle:
        program = json.load(handle)
    fixes = [fix for run_pass in PASSES for fix in run_pass(program)]
    with open(out_path, "w") as handle:  # dumps, not dump: the C encoder (json.dump streams in Python, 10x slower)
        handle.write(json.dumps(program, separators=(",", ":")))
    return fixes
