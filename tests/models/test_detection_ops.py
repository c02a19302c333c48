"""Issue #15 part 3b: the deploy-time detection ops of paddle.vision.ops, end to end through the CLI.

Each either converts and verifies three ways (exit 0, Paddle↔TF max_rel <= MAX_REL: float32, small graphs), or is
refused before export with one line naming the Paddle op (exit 2): paddle2onnx 2.1.0 has no conversion for it, or
maps the variant wrongly (frontend/unsupported_ops.py; docs/known-exporter-defects.md rows 11-14).
Models: tests/helpers/paddle_models.py ``build_detection_op`` (seeded; boxes are constants of the program).
"""

from __future__ import annotations

import json

import pytest

from paddle2tf.errors import EXIT_OK

from helpers.cli import assert_clean_failure, run_cli

MAX_REL = 1e-5

CONVERTED = {  # case -> the fix that makes it convert
    "yolo_box": "squeeze_shape_elements_on_axis_0",
    "yolo_box_noclip": "squeeze_shape_elements_on_axis_0",
    "prior_box": "fold_static_prior_box",
    "roi_align": None,
    "deform_conv": "deform_conv_mask_of_ones",
    "deform_conv_groups": "deform_conv_offset_group",  # v2 (a mask), groups=2, deformable_groups=2
    "deform_conv_stride": "deform_conv_mask_of_ones",  # v1 with stride 2 and dilation 2
}
REFUSED = {  # case -> fragments of the refusal line
    "yolo_box_iou_aware": ("pd_op.yolo_box", "iou_aware=True"),
    "prior_box_dynamic": ("pd_op.prior_box", "has no conversion"),
    "box_coder": ("pd_op.box_coder", "has no conversion", "way out: "),
    "matrix_nms": ("pd_op.matrix_nms", "has no conversion", "way out: "),
    "nms": ("pd_op.nms", "has no conversion"),
    "distribute_fpn_proposals": ("pd_op.distribute_fpn_proposals", "has no conversion"),
    "generate_proposals": ("pd_op.generate_proposals", "has no conversion"),
    "roi_align_multi": ("pd_op.roi_align", "boxes from several images"),
    "roi_align_adaptive": ("pd_op.roi_align", "sampling_ratio <= 0"),
    "roi_align_aligned": ("pd_op.roi_align", "aligned=True at opset 13"),
}


@pytest.mark.parametrize("case", sorted(CONVERTED))
def test_converts_and_verifies(paddle_model, tmp_path, case):
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model(case), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "pass"
    for output in report["verification"]["outputs"]:
        assert output["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= MAX_REL, output
    if CONVERTED[case]:
        assert any(f["pass_name"] == CONVERTED[case] for f in report["fixes"]), report["fixes"]


def test_roi_align_aligned_verifies_at_opset_16_and_not_aligned_is_refused_there(paddle_model, tmp_path):
    """ONNX RoiAlign's coordinate_transformation_mode (default half_pixel: Paddle's aligned=True) exists from
    opset 16; paddle2onnx writes none, so there aligned=False would be silently wrong (Paddle↔ONNX max_rel 0.69)."""
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("roi_align_aligned"), "-o", str(out), "--opset", "16")
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert max(o["pairs"]["paddle_vs_tensorflow"]["max_rel"] for o in report["verification"]["outputs"]) <= MAX_REL
    refused = tmp_path / "refused"
    proc = run_cli("convert", paddle_model("roi_align"), "-o", str(refused), "--opset", "16")
    assert_clean_failure(proc, refused, "pd_op.roi_align", "aligned=False at opset 16")


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_before_export_naming_the_op(paddle_model, tmp_path, case):
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model(case), "-o", str(out))
    last = assert_clean_failure(proc, out, *REFUSED[case])
    assert "paddle2onnx could not export" not in last  # refused by the scan, not by the exporter aborting
