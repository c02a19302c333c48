"""Paddle-op exporter: ONNX for Paddle ops that paddle2onnx 2.1.0 drops or exports wrongly
(docs/known-exporter-defects.md).

paddle2onnx 2.1.0 has no conversion for some Paddle ops (``pd_op.rnn`` in mode RNN_TANH / RNN_RELU, i.e.
``paddle.nn.SimpleRNN``): it drops the op and still writes the graph, whose later nodes read the op's
outputs under the names paddle2onnx would have given them (``p2o.pd_op.rnn.K.0``, ``p2o.pd_op.rnn.K.2_0``)
though nothing produces them. For others its conversion is wrong (``pd_op.multiclass_nms3`` handles one image
only): a ``Registration`` with ``replaces=True`` removes the nodes paddle2onnx wrote for the op first. This
stage runs in the Paddle child process right after paddle2onnx: the worker describes each such op as a
``PaddleOp`` (attributes, the ONNX names and Paddle shapes of its operands, the names of its results, the
values of its parameters read from the Paddle scope) and the exporter registered for it in ``EXPORTERS``
emits standard ONNX nodes producing exactly the names the graph reads, so the rest of the graph connects.

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
    ``params``: values of the operand elements that are Paddle parameters, by their ONNX element name.
    ``input_shapes``: per operand, its shape in the Paddle program (-1 for a dynamic dim; [] for an absent
    operand or a vector)."""

    name: str  # "pd_op.rnn"
    attrs: dict[str, Any]
    inputs: list[list[str]]
    outputs: list[list[str]]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    input_shapes: list[list[int]] = field(default_factory=list)

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
        self.initializers.append(numpy_helper.from_array(np.array(value, order="C"), name))  # 0-d stays 0-d
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs) -> list[str]:
        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, name=self.name(f"{op_type}_{len(self.nodes)}"), **attrs)
        )
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
        b = emit.constant(
            f"l{layer}.B",
            np.stack([np.concatenate([weights[2 * cells + 2 * c], weights[2 * cells + 2 * c + 1]]) for c in cell]),
        )
        h0 = ""
        if init_state:
            if layers == 1:
                h0 = init_state
            else:
                bounds = [
                    emit.constant(f"l{layer}.h0_{what}", np.array([v], np.int64))
                    for what, v in (("start", layer * dirs), ("end", (layer + 1) * dirs), ("axis", 0))
                ]
                h0 = emit.node("Slice", [init_state, *bounds], [emit.name(f"l{layer}.h0")])[0]
        y, y_h = emit.node(
            "RNN",
            [layer_input, w, r, b, seq_lens, h0],
            [emit.name(f"l{layer}.Y"), emit.name(f"l{layer}.Y_h")],
            hidden_size=hidden,
            activations=[activation] * dirs,
            direction="bidirectional" if dirs == 2 else "forward",
        )
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
    return (
        f"exported as {layers} ONNX RNN node(s) ({'bidirectional' if dirs == 2 else 'forward'}, {activation}, "
        f"hidden {hidden}{', initial state' if init_state else ''}{', sequence lengths' if seq_lens else ''})"
    )


def _result(op: PaddleOp, index: int) -> str:
    """The ONNX name wanted for result ``index`` ("" when nothing reads it)."""
    return op.outputs[index][0] if len(op.outputs) > index and op.outputs[index] else ""


def _single(op: PaddleOp, names: list[str], what: str) -> str:
    if len(names) != 1:
        raise PaddleOpError(f"{op.describe()}: {what} has {len(names)} values, expected 1")
    return names[0]


# -- pd_op.multiclass_nms3 ----------------------------------------------------------------------------------------


def _int64(values) -> np.ndarray:
    return np.array(values, np.int64)


def _reduce_sum_rows(emit: Emitter, x: str, out: str) -> str:
    """Sum over axis 0 (ReduceSum takes its axes as an attribute before opset 13, as an input from 13)."""
    if emit.opset < 13:
        return emit.node("ReduceSum", [x], [out], axes=[0], keepdims=0)[0]
    return emit.node("ReduceSum", [x, emit.constant(f"{out}_axes", _int64([0]))], [out], keepdims=0)[0]


def _per_image_counts(emit: Emitter, batch: str, images: str, what: str) -> str:
    """counts[n] = how many entries of ``batch`` [K] equal n, for n in ``images`` [N] (int64 [N])."""
    column = emit.node(
        "Reshape", [batch, emit.constant(f"{what}_column_shape", _int64([-1, 1]))], [emit.name(f"{what}_column")]
    )[0]
    hits = emit.node("Equal", [column, images], [emit.name(f"{what}_hits")])[0]
    hits = emit.node("Cast", [hits], [emit.name(f"{what}_hits_i64")], to=onnx.TensorProto.INT64)[0]
    return _reduce_sum_rows(emit, hits, emit.name(f"{what}_counts"))


def _keep_top_k_per_image(emit: Emitter, batch: str, score: str, images: str, keep_top_k: int) -> str:
    """The rows [K] (image-major, as NonMaxSuppression lists them) among their image's ``keep_top_k`` best by
    score, ties to the earlier row: Paddle stable-sorts each image's detections by score and keeps the first
    ``keep_top_k``. Two stable sorts (ONNX TopK puts the lower index first among equal values) order the rows
    by image, then by score; a row's rank is its position minus where its image starts."""
    rows = emit.node("Shape", [score], [emit.name("rows")])[0]
    by_score = emit.node("TopK", [score, rows], [emit.name("by_score_values"), emit.name("by_score")], axis=0)[1]
    image_f = emit.node("Cast", [batch], [emit.name("image_f")], to=onnx.TensorProto.FLOAT)[0]
    image_by_score = emit.node("Gather", [image_f, by_score], [emit.name("image_by_score")])[0]
    minus_image = emit.node("Neg", [image_by_score], [emit.name("minus_image")])[0]
    by_image = emit.node("TopK", [minus_image, rows], [emit.name("by_image_values"), emit.name("by_image")], axis=0)[1]
    order = emit.node("Gather", [by_score, by_image], [emit.name("order")])[0]
    sorted_image = emit.node("Gather", [batch, order], [emit.name("sorted_image")])[0]
    counts = _per_image_counts(emit, batch, images, "candidates")
    ends = emit.node("CumSum", [counts, emit.constant("axis0", _int64(0))], [emit.name("image_ends")])[0]
    starts = emit.node("Sub", [ends, counts], [emit.name("image_starts")])[0]
    row_start = emit.node("Gather", [starts, sorted_image], [emit.name("row_start")])[0]
    count = (
        emit.node("Squeeze", [rows], [emit.name("row_count")], axes=[0])[0]
        if emit.opset < 13
        else emit.node("Squeeze", [rows, emit.constant("squeeze_axes", _int64([0]))], [emit.name("row_count")])[0]
    )
    positions = emit.node(
        "Range", [emit.constant("zero", _int64(0)), count, emit.constant("one", _int64(1))], [emit.name("positions")]
    )[0]
    rank = emit.node("Sub", [positions, row_start], [emit.name("rank")])[0]
    kept_sorted = emit.node(
        "Less", [rank, emit.constant("keep_top_k", _int64(keep_top_k))], [emit.name("kept_sorted")]
    )[0]
    kept_sorted = emit.node("Cast", [kept_sorted], [emit.name("kept_sorted_i64")], to=onnx.TensorProto.INT64)[0]
    nothing = emit.node(
        "ConstantOfShape", [rows], [emit.name("nothing_kept")], value=numpy_helper.from_array(_int64([0]))
    )[0]
    order_column = emit.node(
        "Reshape", [order, emit.constant("order_column_shape", _int64([-1, 1]))], [emit.name("order_column")]
    )[0]
    kept = emit.node("ScatterND", [nothing, order_column, kept_sorted], [emit.name("kept_i64")])[0]
    return emit.node("Cast", [kept], [emit.name("kept")], to=onnx.TensorProto.BOOL)[0]


def _nms3_unsupported(op: PaddleOp, opset: int) -> str:
    """Why this multiclass_nms3 cannot be exported ("" when it can)."""
    attrs, shapes = op.attrs, op.input_shapes
    if opset < 11:
        return f"needs ONNX opset >= 11 (NonMaxSuppression, ScatterND), the export uses opset {opset}"
    if len(op.inputs) > 2 and op.inputs[2]:
        return (
            "rois_num is given (boxes per class [M, C, 4] grouped by image): paddle2tf exports only boxes "
            "[N, M, 4] with scores [N, C, M]"
        )
    if len(shapes) < 2 or len(shapes[0]) != 3 or shapes[0][-1] != 4 or len(shapes[1]) != 3:
        return (
            f"boxes {shapes[0] if shapes else '?'} and scores {shapes[1] if len(shapes) > 1 else '?'}: paddle2tf "
            "exports only boxes [N, M, 4] with scores [N, C, M] (not LoD scores [M, C] or polygon boxes)"
        )
    if float(attrs.get("nms_eta", 1.0)) < 1.0:
        return f"nms_eta {float(attrs['nms_eta']):g} < 1 (adaptive NMS threshold) has no ONNX equivalent"
    if int(attrs.get("nms_top_k", -1)) == 0:
        return "nms_top_k 0 keeps no candidate"
    return ""


def export_multiclass_nms3(op: PaddleOp, emit: Emitter) -> str:
    """``pd_op.multiclass_nms3`` (Paddle's CPU kernel semantics, scores [N, C, M], boxes [N, M, 4]) for any batch.

    Per image and class (but ``background_label``): the boxes scoring > score_threshold, at most ``nms_top_k`` of
    them by score (-1: all), greedy NMS at ``nms_threshold``; then per image the ``keep_top_k`` best over all
    classes (-1: all). out [K, 6] = (label, score, x1, y1, x2, y2), images one after the other, each class by
    class in ascending order, each class by descending score (ties: lower box index first); index [K, 1] =
    n * M + m; nms_rois_num [N] = rows per image.

    ONNX NonMaxSuppression does this per (image, class) natively: the candidates beyond ``nms_top_k`` and the
    background class get the score threshold itself as score (candidates need a score above it), and with
    ``normalized`` False the boxes go to NMS grown by 1 on x2/y2, which gives Paddle's IoU ((w + 1)(h + 1)
    areas, +1 on the intersection) for boxes that overlap or touch."""
    attrs = op.attrs
    boxes, scores = _single(op, op.inputs[0], "bboxes"), _single(op, op.inputs[1], "scores")
    score_threshold = float(attrs["score_threshold"])
    nms_top_k, keep_top_k = int(attrs["nms_top_k"]), int(attrs["keep_top_k"])
    background, normalized = int(attrs["background_label"]), bool(attrs["normalized"])
    threshold = emit.constant("score_threshold", np.array(score_threshold, np.float32))
    scores_shape = emit.node("Shape", [scores], [emit.name("scores_shape")])[0]
    num_boxes = emit.node("Gather", [scores_shape, emit.constant("box_axis", _int64([2]))], [emit.name("num_boxes")])[0]
    candidates = scores
    if nms_top_k > 0:
        k = emit.node("Min", [num_boxes, emit.constant("nms_top_k", _int64([nms_top_k]))], [emit.name("top_k")])[0]
        top_scores, top_boxes = emit.node(
            "TopK", [scores, k], [emit.name("top_scores"), emit.name("top_boxes")], axis=2
        )
        floor = emit.node("Expand", [threshold, scores_shape], [emit.name("below_threshold")])[0]
        candidates = emit.node("ScatterElements", [floor, top_boxes, top_scores], [emit.name("top_k_scores")], axis=2)[
            0
        ]
    if background >= 0:
        num_classes = emit.node(
            "Gather", [scores_shape, emit.constant("class_axis", _int64(1))], [emit.name("num_classes")]
        )[0]
        classes = emit.node(
            "Range",
            [emit.constant("class_start", _int64(0)), num_classes, emit.constant("class_step", _int64(1))],
            [emit.name("classes")],
        )[0]
        is_background = emit.node(
            "Equal", [classes, emit.constant("background", _int64(background))], [emit.name("is_background")]
        )[0]
        is_background = emit.node(
            "Reshape",
            [is_background, emit.constant("class_shape", _int64([1, -1, 1]))],
            [emit.name("is_background_3d")],
        )[0]
        candidates = emit.node("Where", [is_background, threshold, candidates], [emit.name("candidates")])[0]
    nms_boxes = (
        boxes
        if normalized
        else emit.node(
            "Add",
            [boxes, emit.constant("pixel_extent", np.array([0, 0, 1, 1], np.float32))],
            [emit.name("pixel_boxes")],
        )[0]
    )
    iou = emit.constant("nms_threshold", np.array([attrs["nms_threshold"]], np.float32))
    selected = emit.node(
        "NonMaxSuppression",
        [
            nms_boxes,
            candidates,
            num_boxes,
            iou,
            emit.node("Reshape", [threshold, emit.constant("one_d", _int64([1]))], [emit.name("score_threshold_1d")])[
                0
            ],
        ],
        [emit.name("selected")],
    )[0]
    batch, label, box = (
        emit.node("Gather", [selected, emit.constant(f"{what}_position", _int64(j))], [emit.name(what)], axis=1)[0]
        for j, what in enumerate(("image", "label", "box"))
    )
    score = emit.node("GatherND", [scores, selected], [emit.name("score")])[0]
    image_box = emit.node(
        "Gather", [selected, emit.constant("image_box_columns", _int64([0, 2]))], [emit.name("image_box")], axis=1
    )[0]
    coords = emit.node("GatherND", [boxes, image_box], [emit.name("coords")])[0]
    num_images = emit.node("Gather", [scores_shape, emit.constant("image_axis", _int64(0))], [emit.name("num_images")])[
        0
    ]
    images = emit.node(
        "Range",
        [emit.constant("image_start", _int64(0)), num_images, emit.constant("image_step", _int64(1))],
        [emit.name("images")],
    )[0]
    if keep_top_k >= 0:
        kept = _keep_top_k_per_image(emit, batch, score, images, keep_top_k)
        batch, label, box, score, coords = [
            emit.node("Compress", [value, kept], [emit.name(f"kept_{what}")], axis=0)[0]
            for what, value in (("image", batch), ("label", label), ("box", box), ("score", score), ("coords", coords))
        ]
    out, index, rois_num = (_result(op, j) for j in range(3))
    if out:
        label_f = emit.node("Cast", [label], [emit.name("label_f")], to=onnx.TensorProto.FLOAT)[0]
        column = emit.constant("column_shape", _int64([-1, 1]))
        emit.node(
            "Concat",
            [
                emit.node("Reshape", [label_f, column], [emit.name("label_column")])[0],
                emit.node("Reshape", [score, column], [emit.name("score_column")])[0],
                coords,
            ],
            [out],
            axis=1,
        )
    if index:
        flat = emit.node(
            "Add",
            [emit.node("Mul", [batch, num_boxes], [emit.name("image_offset")])[0], box],
            [emit.name("flat_index")],
        )[0]
        flat = emit.node(
            "Reshape", [flat, emit.constant("index_column_shape", _int64([-1, 1]))], [emit.name("index_column")]
        )[0]
        emit.node("Cast", [flat], [index], to=onnx.TensorProto.INT32)
    if rois_num:
        counts = _per_image_counts(emit, batch, images, "kept")
        emit.node("Cast", [counts], [rois_num], to=onnx.TensorProto.INT32)
    return (
        f"exported for any batch as ONNX NonMaxSuppression per (image, class) (score > {score_threshold:g}, "
        f"IoU > {float(attrs['nms_threshold']):g} suppressed{'' if normalized else ', pixel boxes (+1)'}"
        f"{f', nms_top_k {nms_top_k}' if nms_top_k > 0 else ''}"
        f"{f', background {background}' if background >= 0 else ''}"
        f"{f', keep_top_k {keep_top_k} per image' if keep_top_k >= 0 else ''})"
    )


# -- registry ----------------------------------------------------------------------------------------------------

Exporter = Callable[[PaddleOp, Emitter], str]


@dataclass(frozen=True)
class Registration:
    """An exporter and why paddle2onnx needs it. ``replaces``: paddle2onnx does convert the op, wrongly; its nodes
    for the op are removed before ours are emitted (otherwise only outputs paddle2onnx left dangling are filled).
    ``unsupported`` names a variant the exporter cannot emit, checked before the graph is touched."""

    export: Exporter
    reason: str
    replaces: bool = False
    unsupported: Callable[[PaddleOp, int], str] | None = None  # (op, opset) -> why it cannot be exported, or ""


# (Paddle op name, value of its "mode" attribute or None) -> registration.
EXPORTERS: dict[tuple[str, str | None], Registration] = {
    **{
        ("pd_op.rnn", mode): Registration(
            export_simple_rnn,
            f"paddle2onnx 2.1.0 has no conversion for pd_op.rnn mode "
            f"{mode} (paddle.nn.SimpleRNN): it drops the op and leaves its outputs "
            "dangling",
        )
        for mode in SIMPLE_RNN_ACTIVATIONS
    },
    ("pd_op.multiclass_nms3", None): Registration(
        export_multiclass_nms3,
        "paddle2onnx 2.1.0 exports pd_op.multiclass_nms3 for one image only (ONNX Runtime "
        "fails on a batch of 2 or more)",
        replaces=True,
        unsupported=_nms3_unsupported,
    ),
}


def registered(name: str, attrs: dict[str, Any]) -> Registration | None:
    return EXPORTERS.get((name, attrs.get("mode"))) or EXPORTERS.get((name, None))


def may_need_export(program_text: str) -> bool:
    """Cheap pre-check on the PIR JSON text: could the program hold a registered op? (False: skip this stage.)"""
    for name, mode in EXPORTERS:
        short = name.split(".", 1)[1]
        if f'.{short}"' in program_text and (mode is None or f'"{mode}"' in program_text):
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
    dangling (read by the graph, produced by nothing), or whose registration ``replaces`` paddle2onnx's nodes
    (removed first: see ``_remove_exported``); edits ``model`` in place and returns the fixes.

    Otherwise an op paddle2onnx did convert (its outputs are produced) or whose outputs nobody reads is left
    alone. Raises ``PaddleOpError`` when an op cannot be exported."""
    graph = model.graph
    fixes: list[Fix] = []
    for op in ops:
        registration = registered(op.name, op.attrs)
        if registration is None:
            continue
        exporter, reason = registration.export, registration.reason
        results = [name for names in op.outputs for name in names]
        why = registration.unsupported(op, model_opset(model)) if registration.unsupported else ""
        if why:  # before anything is removed
            raise PaddleOpError(f"{op.describe()}: {why}")
        replaced = _remove_exported(graph, op, results) if registration.replaces else 0
        available, used = _available(graph), _consumers(graph)
        dangling = [name for name in results if name in used and name not in available]
        if not dangling or any(name in available for name in results):
            continue
        # Only the outputs the graph reads are produced.
        prefix = f"paddle2tf.{results[0].rsplit('.', 1)[0] if results else op.name}"
        wanted = [[name if name in used else "" for name in names] for names in op.outputs]
        emit = Emitter(prefix, model_opset(model))
        change = exporter(PaddleOp(op.name, op.attrs, op.inputs, wanted, op.params, op.input_shapes), emit)
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
        fixes.append(
            Fix(
                STAGE,
                exporter.__name__,
                op.describe(),
                f"{change}; produces {', '.join(dangling)}"
                + (f"; replaces the {replaced} nodes paddle2onnx wrote for it" if replaced else "")
                + (f"; {removed} unused weight copies removed" if removed else ""),
                reason,
            )
        )
    return fixes


def _remove_exported(graph: onnx.GraphProto, op: PaddleOp, results: list[str]) -> int:
    """Remove the nodes paddle2onnx wrote for ``op``: the backward slice from its results (the names in
    ``results`` that nodes produce) to its operands, except nodes whose other values something outside the
    slice still reads (and what they read). Initializers only the removed nodes read, and the value_info of the
    values removed, go too. Returns how many
    nodes were removed (0 when paddle2onnx wrote nothing for the op)."""
    operands = {name for names in op.inputs for name in names}
    available = _available(graph)
    missing = sorted(name for name in operands if name not in available)
    if missing:  # a slice not bounded by the operands could reach the model's inputs
        raise PaddleOpError(f"{op.describe()}: its inputs {', '.join(missing)} are not in the exported graph")
    producers = {out: node for node in graph.node for out in node.output if out}
    in_slice: dict[int, onnx.NodeProto] = {}
    pending = [name for name in results if name in producers]
    while pending:
        node = producers.get(pending.pop())
        if node is None or id(node) in in_slice:
            continue
        in_slice[id(node)] = node
        pending += [name for name in _node_reads(node) if name not in operands]
    outputs = set(results)
    read_outside = Counter(name for node in graph.node if id(node) not in in_slice for name in _node_reads(node))
    read_outside.update(value.name for value in graph.output if value.name not in outputs)
    kept: set[int] = set()
    changed = True
    while changed:
        changed = False
        for key, node in in_slice.items():
            if key not in kept and any(read_outside[out] for out in node.output if out not in outputs):
                kept.add(key)
                read_outside.update(_node_reads(node))
                changed = True
    shared = [out for key in kept for out in in_slice[key].output if out in outputs]
    if shared:
        raise PaddleOpError(
            f"{op.describe()}: the nodes paddle2onnx wrote for {', '.join(shared)} feed other nodes too"
        )
    removed = [node for key, node in in_slice.items() if key not in kept]
    read_by_removed = {name for node in removed for name in _node_reads(node)}
    for node in removed:
        graph.node.remove(node)
    still_read = _consumers(graph)
    unused = [init for init in graph.initializer if init.name in read_by_removed and not still_read[init.name]]
    for init in unused:
        graph.initializer.remove(init)
    # paddle2onnx's annotations of the values it computed: ours are inferred again from our nodes
    gone = {out for node in removed for out in node.output}
    annotations = [value for value in graph.value_info if value.name not in gone]
    del graph.value_info[:]
    graph.value_info.extend(annotations)
    return len(removed)


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
