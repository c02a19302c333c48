"""End to end from Paddle: PaddleDetection-style detection heads ending in multiclass_nms3, converted at a dynamic
batch and verified three ways at batch 2 (then batch 1 through the same SavedModel).

paddle2onnx 2.1.0 exports multiclass_nms3 for one image only (defect 10): before paddle2tf's own export, batch 2
failed in ONNX Runtime (exit 2). The models (tests/helpers/paddle_models.py) decode anchor-free boxes that are valid
(x2 > x1, y2 > y1) as real detectors' are; PP-YOLOE-like divides them by a positive scale_factor, given as feeds.
Thresholds: the counts per image (bbox_num) equal Paddle's exactly, the rows [K, 6] the suite's Paddle↔TF max
relative error 1e-4 and ONNX↔TF 1e-5 (helpers.parity), with the same K (a shape mismatch fails verification).
"""

from __future__ import annotations

import numpy as np
import pytest

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions, VerifyOptions

from helpers.cli import assert_clean_failure, run_cli
from helpers.parity import assert_parity

SCALE_FACTORS = np.array([[1.0, 1.0], [0.5, 0.8]], np.float32)  # (scale_y, scale_x) per image


def _feeds(path, name: str, batch: int, seed: int = 7) -> str:
    rng = np.random.default_rng(seed)
    feeds = {"image": rng.uniform(-1, 1, (batch, 3, 64, 64)).astype(np.float32)}
    if name == "ppyoloe_like":
        feeds["scale_factor"] = SCALE_FACTORS[:batch]
    np.savez(path, **feeds)
    return str(path)


def _assert_detections_as_paddle(report, batch: int) -> None:
    assert_parity(report)
    rows, counts = report.verification.outputs
    assert rows.shape[1:] == [6] and rows.shape[0] > 0, rows.shape
    assert counts.shape == [batch] and counts.dtype == "int32", (counts.shape, counts.dtype)
    for pair in ("paddle_vs_tensorflow", "paddle_vs_onnxruntime"):
        assert counts.pairs[pair].max_abs == 0, (pair, counts.pairs[pair])


# (model, re-verified at batch 1 through the same SavedModel): one head is enough for batch 1 (test time).
@pytest.mark.parametrize("name,batch_1", [("picodet_like", True), ("ppyoloe_like", False)])
def test_detection_head_any_batch(name, batch_1, paddle_model, tmp_path):
    out = tmp_path / "out"
    options = ConvertOptions(feeds=_feeds(tmp_path / "batch2.npz", name, 2))
    report = api.convert(paddle_model(name), str(out), options, progress=lambda _: None)
    _assert_detections_as_paddle(report, 2)
    assert report.signature["inputs"][0]["shape"] == [None, 3, 64, 64]
    assert [(f["stage"], f["pass_name"]) for f in report.fixes if f["stage"] == "export"] == [
        ("export", "export_multiclass_nms3")
    ], report.fixes
    if batch_1:
        feeds = _feeds(tmp_path / "batch1.npz", name, 1, seed=8)
        _assert_detections_as_paddle(
            api.verify_output(str(out), VerifyOptions(feeds=feeds), progress=lambda _: None), 1
        )


def test_adaptive_nms_is_refused(paddle_model, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("nms_adaptive_eta"), "-o", str(out))
    assert_clean_failure(proc, out, "pd_op.multiclass_nms3", "nms_eta 0.9 < 1 (adaptive NMS threshold)")
