"""pd_op.multiclass_nms3 for any batch (defect 10): paddle2onnx 2.1.0's one-image nodes replaced by
export_multiclass_nms3, run in ONNX Runtime and converted to TensorFlow, both against Paddle's own kernel
(tests/helpers/paddle_nms.py, one Paddle child for every case).

Counts (nms_rois_num), labels and indices must be equal; scores and boxes are copies of the inputs, compared
within 1e-5 relative.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes.paddle_ops import PaddleOp, PaddleOpError, export_paddle_ops

from helpers.onnx_graphs import run_converted, run_ort
from helpers.paddle_nms import NmsAttrs, detection_case, paddle_multiclass_nms3

OUT, INDEX, ROIS_NUM = "fetch_name_0", "fetch_name_1", "fetch_name_2"
BOX_RTOL = 1e-5


def one_image_graph(opset: int = 13, shared: bool = False) -> onnx.ModelProto:
    """What paddle2onnx 2.1.0 writes for multiclass_nms3 (abridged): NonMaxSuppression over the whole batch,
    rows gathered as if there were one image, counts from the rows' shape. With ``shared`` another node reads
    one of its intermediate values (so that node's producers must stay)."""
    const = numpy_helper.from_array
    nodes = [
        helper.make_node("Constant", [], ["helper.constant.0"], value=const(np.array([100], np.int64))),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", "helper.constant.0"], ["nms.selected"]),
        helper.make_node("Constant", [], ["helper.constant.1"], value=const(np.array(2, np.int64))),
        helper.make_node("Gather", ["nms.selected", "helper.constant.1"], ["Gather.1"], axis=1),
        helper.make_node("Cast", ["nms.selected"], ["Cast.0"], to=onnx.TensorProto.FLOAT),
        helper.make_node("MatMul", ["Cast.0", "to_rows"], [OUT]),
        helper.make_node("Unsqueeze", ["Gather.1", "axes"], ["Unsqueeze.0"]),
        helper.make_node("Cast", ["Unsqueeze.0"], [INDEX], to=onnx.TensorProto.INT32),
        helper.make_node("Shape", [OUT], ["Shape.0"]),
        helper.make_node("Slice", ["Shape.0", "start", "end"], ["Slice.0"]),
        helper.make_node("Cast", ["Slice.0"], [ROIS_NUM], to=onnx.TensorProto.INT32),
        helper.make_node("Identity", [OUT], ["dets"]),
    ]
    outputs = [
        helper.make_tensor_value_info("dets", onnx.TensorProto.FLOAT, [None, 6]),
        helper.make_tensor_value_info(INDEX, onnx.TensorProto.INT32, [None, 1]),
        helper.make_tensor_value_info(ROIS_NUM, onnx.TensorProto.INT32, [None]),
    ]
    if shared:
        nodes.append(helper.make_node("Identity", ["Gather.1"], ["box_ids"]))
        outputs.append(helper.make_tensor_value_info("box_ids", onnx.TensorProto.INT64, [None]))
    graph = helper.make_graph(
        nodes,
        "paddle2onnx_nms",
        [
            helper.make_tensor_value_info("boxes", onnx.TensorProto.FLOAT, ["N", "M", 4]),
            helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["N", "C", "M"]),
        ],
        outputs,
        [
            const(np.ones((3, 6), np.float32), "to_rows"),
            const(np.array([1], np.int64), "axes"),
            const(np.array([0], np.int64), "start"),
            const(np.array([1], np.int64), "end"),
        ],
    )
    graph.value_info.append(helper.make_tensor_value_info("Gather.1", onnx.TensorProto.INT64, [None]))
    graph.value_info.append(helper.make_tensor_value_info(OUT, onnx.TensorProto.FLOAT, [None, 6]))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def nms_op(attrs: NmsAttrs, rois_num: bool = False, shapes=([-1, -1, 4], [-1, 3, -1])) -> PaddleOp:
    values = {
        "score_threshold": attrs.score_threshold,
        "nms_top_k": attrs.nms_top_k,
        "keep_top_k": attrs.keep_top_k,
        "nms_threshold": attrs.nms_threshold,
        "normalized": attrs.normalized,
        "nms_eta": attrs.nms_eta,
        "background_label": attrs.background_label,
    }
    return PaddleOp(
        "pd_op.multiclass_nms3",
        values,
        inputs=[["boxes"], ["scores"], ["rois"] if rois_num else []],
        outputs=[[OUT], [INDEX], [ROIS_NUM]],
        input_shapes=[*map(list, shapes), [-1] if rois_num else []],
    )


def _ties(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores from three values only: equal scores within a class and across classes."""
    bboxes, scores = detection_case(seed, 2, 24, 3)
    return bboxes, np.random.default_rng(seed).choice(np.array([0.4, 0.6, 0.8], np.float32), scores.shape)


def _one_empty_image() -> tuple[np.ndarray, np.ndarray]:
    bboxes, scores = detection_case(5, 3, 20, 3)
    scores[1] *= 0.25  # every score of image 1 below the threshold 0.3
    return bboxes, scores


CASES = {  # name -> (bboxes, scores, attrs)
    "batch1": (*detection_case(1, 1, 30, 3), NmsAttrs()),
    "batch2_background_keep_top_k": (*detection_case(2, 2, 40, 4), NmsAttrs(keep_top_k=5, background_label=0)),
    "batch4_nms_top_k": (*detection_case(3, 4, 30, 3), NmsAttrs(nms_top_k=4, nms_threshold=0.3)),
    "nms_top_k_above_boxes_background_1": (
        *detection_case(4, 2, 10, 3),
        NmsAttrs(nms_top_k=50, background_label=1, keep_top_k=100),
    ),
    "pixel_boxes": (
        *detection_case(6, 2, 40, 2, extent=12.0, size=(0.5, 4.0)),
        NmsAttrs(normalized=False, nms_threshold=0.4, keep_top_k=12),
    ),
    "one_empty_image": (*_one_empty_image(), NmsAttrs(keep_top_k=6)),
    "all_empty": (
        *detection_case(7, 2, 20, 3),
        NmsAttrs(score_threshold=1.0),
    ),
    "score_ties": (*_ties(8), NmsAttrs(keep_top_k=7, nms_threshold=0.45)),
    "keep_top_k_0": (*detection_case(9, 2, 10, 3), NmsAttrs(keep_top_k=0)),
}


@pytest.fixture(scope="module")
def paddle_results():
    return dict(zip(CASES, paddle_multiclass_nms3(list(CASES.values())), strict=True))


def _assert_as_paddle(got: dict, want: tuple, framework: str) -> None:
    out, index, rois_num = want
    assert got[ROIS_NUM].dtype == np.int32 and got[INDEX].dtype == np.int32, framework
    np.testing.assert_array_equal(got[ROIS_NUM], rois_num, err_msg=f"{framework}: counts per image")
    assert got["dets"].shape == out.shape, (framework, got["dets"].shape, out.shape)
    np.testing.assert_array_equal(got["dets"][:, 0], out[:, 0], err_msg=f"{framework}: labels")
    np.testing.assert_allclose(got["dets"][:, 1:], out[:, 1:], rtol=BOX_RTOL, atol=0, err_msg=f"{framework}: rows")
    np.testing.assert_array_equal(got[INDEX], index, err_msg=f"{framework}: index")


@pytest.mark.parametrize("name", list(CASES))
def test_any_batch_as_paddle(name, paddle_results):
    bboxes, scores, attrs = CASES[name]
    want = paddle_results[name]
    counts = want[2]
    if name == "all_empty":
        assert want[0].shape == (0, 6)
    elif name == "one_empty_image":
        assert counts[1] == 0 and counts.sum() > 0
    elif name == "keep_top_k_0":
        assert not counts.any()
    elif attrs.keep_top_k > 0 and name != "nms_top_k_above_boxes_background_1":  # keep_top_k caps an image
        assert (counts == attrs.keep_top_k).any(), counts
    model = one_image_graph()
    fixes = export_paddle_ops(model, [nms_op(attrs)])
    assert [(f.stage, f.pass_name, f.target) for f in fixes] == [
        ("export", "export_multiclass_nms3", "pd_op.multiclass_nms3")
    ]
    assert "replaces the 11 nodes paddle2onnx wrote for it" in fixes[0].change, fixes[0].change
    assert not model.graph.value_info  # paddle2onnx's annotations of the values it computed are gone
    assert not {"to_rows", "axes", "start", "end"} & {init.name for init in model.graph.initializer}
    onnx.checker.check_model(model, full_check=True)
    feeds = {"boxes": bboxes, "scores": scores}
    _assert_as_paddle(run_ort(model, feeds), want, "onnxruntime")
    _assert_as_paddle(run_converted(model, feeds), want, "tensorflow")


def test_opset_11_and_a_node_read_elsewhere_is_kept(paddle_results):
    """At opset 11 (ReduceSum / Squeeze axes as attributes); the intermediate value another node reads keeps its
    producers (the Gather, NonMaxSuppression and its Constant), the rest of paddle2onnx's nodes go."""
    model = one_image_graph(opset=11, shared=True)
    model.graph.node[6].CopyFrom(helper.make_node("Unsqueeze", ["Gather.1"], ["Unsqueeze.0"], axes=[1]))
    bboxes, scores, attrs = CASES["batch2_background_keep_top_k"]
    fixes = export_paddle_ops(model, [nms_op(attrs)])
    assert "replaces the 7 nodes" in fixes[0].change, fixes[0].change
    assert [n.output[0] for n in model.graph.node if not n.name.startswith("paddle2tf.")] == [
        "helper.constant.0",
        "nms.selected",
        "helper.constant.1",
        "Gather.1",
        "dets",
        "box_ids",
    ]
    assert [value.name for value in model.graph.value_info] == ["Gather.1"]
    onnx.checker.check_model(model, full_check=True)
    got = run_ort(model, {"boxes": bboxes, "scores": scores})
    _assert_as_paddle(got, paddle_results["batch2_background_keep_top_k"], "onnxruntime")


@pytest.mark.parametrize(
    "op,opset,message",
    [
        (nms_op(NmsAttrs(), rois_num=True), 13, "rois_num is given"),
        (nms_op(NmsAttrs(nms_eta=0.9)), 13, "nms_eta 0.9 < 1 (adaptive NMS threshold)"),
        (nms_op(NmsAttrs(nms_top_k=0)), 13, "nms_top_k 0 keeps no candidate"),
        (nms_op(NmsAttrs(), shapes=([-1, -1, 8], [-1, 3, -1])), 13, "not LoD scores [M, C] or polygon boxes"),
        (nms_op(NmsAttrs(), shapes=([-1, 3, 4], [-1, 3])), 13, "not LoD scores [M, C] or polygon boxes"),
        (nms_op(NmsAttrs()), 10, "needs ONNX opset >= 11"),
    ],
)
def test_unsupported_variants_are_refused(op, opset, message):
    model = one_image_graph(opset=opset)
    before = model.SerializeToString()
    with pytest.raises(PaddleOpError, match=r"^pd_op\.multiclass_nms3: ") as error:
        export_paddle_ops(model, [op])
    assert message in str(error.value)
    assert model.SerializeToString() == before  # refused before anything is removed
