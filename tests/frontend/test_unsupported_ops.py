"""The refusal scan (frontend/unsupported_ops.py) on hand-made PIR programs (JSON form); the mapper names are a
literal subset of what paddle2onnx 2.1.0 lists (``get_all_supported_operators_pir``: importing paddle2onnx
imports Paddle, which must not share the test process with TensorFlow).
End to end: tests/models/test_detection_ops.py."""

from __future__ import annotations

from paddle2tf.frontend.unsupported_ops import mapper_name, refusal_line, refusals

MAPPERS = {
    "deformable_conv",
    "conv2d",
    "elementwise_add",
    "reduce_mean",
    "matmul_v2",
    "yolo_box",
    "roi_align",
    "rnn",
    "full",
}


def _attr(value) -> dict:
    tag = {bool: "0.a_bool", int: "0.a_i32", float: "0.a_f32", str: "0.a_str"}[type(value)]
    return {"#": tag, "D": value}


def _op(op: str, inputs=(), outputs=(), dialect: str = "1", **attrs) -> dict:
    return {
        "#": f"{dialect}.{op}",
        "A": [{"AT": _attr(v), "N": k} for k, v in attrs.items()],
        "I": [{"%": i} for i in inputs],
        "O": [
            {"%": value, "TT": {"#": "0.t_dtensor", "D": [{"#": "0.t_f32"}, shape, "NCHW", [], 0]}}
            for value, shape in outputs
        ],
    }


def _program(*ops: dict) -> dict:
    return {"base_code": {}, "program": {"regions": [{"blocks": [{"ops": list(ops)}]}]}}


def test_paddle_names_are_looked_up_as_paddle2onnx_does():
    assert [mapper_name(n) for n in ("add", "mean", "matmul", "conv2d", "matrix_nms")] == [
        "elementwise_add",
        "reduce_mean",
        "matmul_v2",
        "conv2d",
        "matrix_nms",
    ]


def test_a_program_paddle2onnx_converts_is_not_refused():
    program = _program(
        _op("data", outputs=[(1, [-1, 3, 8, 8])], name="x"),
        _op("conv2d", [1], [(2, [-1, 4, 8, 8])]),
        _op("add", [2, 2], [(3, [-1, 4, 8, 8])]),
        _op("mean", [3], [(4, [])]),
        _op("combine", [3, 4], dialect="0"),
        _op("fetch", [4], name="y"),
    )
    assert refusals(program, MAPPERS, 13) == []


def test_ops_without_a_mapper_are_named_with_their_layer_and_a_way_out():
    nested = {
        "#": "1.if",
        "A": [],
        "I": [],
        "O": [],
        "regions": [{"blocks": [{"ops": [_op("box_coder", [1], [(5, [4, 4])])]}]}],
    }
    program = _program(
        _op("data", outputs=[(1, [-1, 3, 8, 8])], name="x"),
        _op("matrix_nms", [1], [(2, [-1, 6])], struct_name="/Head/"),
        _op("matrix_nms", [1], [(3, [-1, 6])]),
        nested,
    )
    found = refusals(program, MAPPERS, 13)
    assert [(r.op, r.layer) for r in found] == [("pd_op.matrix_nms", "Head"), ("pd_op.box_coder", "")]
    line = refusal_line(found)
    assert line.startswith("pd_op.matrix_nms (in Head): paddle2onnx 2.1.0 has no conversion for it; way out: ")
    assert line.endswith("(also: pd_op.box_coder)")
    assert "\n" not in line


def test_ops_paddle2tf_exports_itself_are_not_refused():
    # pd_op.rnn has a mapper; a registered Paddle-op exporter covers the mode it drops (fixes/paddle_ops.py)
    program = _program(_op("rnn", [1], [(2, [-1, 4, 8])], mode="RNN_TANH"))
    assert refusals(program, MAPPERS, 13) == []


def _roi_align(batch: int, sampling_ratio: int = 2, aligned: bool = False) -> dict:
    return _program(
        _op("data", outputs=[(1, [batch, 8, 16, 16])], name="x"),
        _op(
            "roi_align",
            [1, 2, 3],
            [(4, [3, 8, 4, 4])],
            pooled_height=4,
            pooled_width=4,
            spatial_scale=1.0,
            sampling_ratio=sampling_ratio,
            aligned=aligned,
        ),
    )


def test_roi_align_variants_paddle2onnx_maps_wrongly_are_refused():
    assert refusals(_roi_align(1), MAPPERS, 13) == []
    assert refusals(_roi_align(1, aligned=True), MAPPERS, 16) == []
    reasons = {
        case: refusals(program, MAPPERS, 13)[0].reason
        for case, program in {
            "several images": _roi_align(2),
            "unknown batch": _roi_align(-1),
            "adaptive": _roi_align(1, sampling_ratio=-1),
            "aligned": _roi_align(1, aligned=True),
        }.items()
    }
    assert "boxes from several images" in reasons["several images"]
    assert "unknown size" in reasons["unknown batch"]
    assert "sampling_ratio <= 0" in reasons["adaptive"]
    assert "aligned=True at opset 13" in reasons["aligned"]
    [refusal] = refusals(_roi_align(1, aligned=False), MAPPERS, 16)  # RoiAlign-16 defaults to half_pixel
    assert "aligned=False at opset 16" in refusal.reason


def test_yolo_box_iou_aware_is_refused():
    def yolo(iou_aware: bool) -> dict:
        return _program(_op("yolo_box", [1, 2], [(3, [-1, 8, 4]), (4, [-1, 8, 3])], class_num=3, iou_aware=iou_aware))

    assert refusals(yolo(False), MAPPERS, 13) == []
    [refusal] = refusals(yolo(True), MAPPERS, 13)
    assert refusal.op == "pd_op.yolo_box" and "iou_aware=True" in refusal.reason


def test_deformable_conv_without_mask_is_refused():
    """(The sanitise pass deform_conv_mask_of_ones feeds a mask first when the offset's channels are known.)"""

    def deform(mask: int) -> dict:
        return _program(_op("deformable_conv", [1, 2, 3, mask], [(5, [-1, 6, 8, 8])], deformable_groups=2))

    assert refusals(deform(4), MAPPERS, 13) == []
    [refusal] = refusals(deform(0), MAPPERS, 13)
    assert refusal.op == "pd_op.deformable_conv" and "no mask" in refusal.reason
