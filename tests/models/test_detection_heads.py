"""End to end from Paddle: PaddleDetection-style detection heads ending in multiclass_nms3, converted at a dynamic
batch and verified three ways at batch 2 (then batch 1 through the same SavedModel).

paddle2onnx 2.1.0 exports multiclass_nms3 for one image only (defect 10): before paddle2tf's own export, batch 2
failed in ONNX Runtime (exit 2). The models (tests/helpers/paddle_models.py) decode anchor-free boxes that are valid
(x2 > x1, y2 > y1) as real detectors' are; PP-YOLOE-like divides them by a positive scale_factor, given as feeds.
Thresholds: the counts per image (bbox_num) equal Paddle's exactly, the rows [K, 6] the suite's Paddle↔TF max
relative error 1e-4 and ONNX↔TF 1e-5 (helpers.parity), with the same K (a shape mismatch fails verification).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions, VerifyOptions

from helpers.cli import assert_clean_failure, run_cli
from helpers.images import render_images
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


INFER_CFG = """Preprocess:
- type: Resize
  target_size: [64, 64]
  keep_ratio: false
  interp: 2
- type: NormalizeImage
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
  is_scale: true
- type: Permute
"""


def test_ppyoloe_like_verifies_on_generated_inputs_and_on_images(paddle_model, tmp_path):
    """No feeds: scale_factor is generated as 1 (an image at its own size, helpers of verify.feeds), not uniform
    [-1, 1], which inverted the boxes and failed parity (exit 1) on a correct conversion before. On a folder of
    images, the preprocessing comes from PaddleDetection's infer_cfg.yml beside the model (it was not read) and
    scale_factor from each image's resize (an image folder was refused: "inputs besides the image")."""
    source = paddle_model("ppyoloe_like")
    folder = tmp_path / "model"
    folder.mkdir()
    for suffix in (".json", ".pdiparams"):
        shutil.copyfile(os.path.splitext(source)[0] + suffix, folder / f"model{suffix}")
    (folder / "infer_cfg.yml").write_text(INFER_CFG)
    for i, size in enumerate([(48, 80), (64, 64), (100, 30), (70, 90)]):
        render_images(str(tmp_path / "images" / f"size{i}"), 1, size=size, seed=i)
    out = tmp_path / "out"
    proc = run_cli("convert", str(folder / "model.json"), "-o", str(out), "--dataset", str(tmp_path / "images"))
    assert proc.returncode == 0 and "verdict: PASS" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "scale_factor = 1 (PaddleDetection's inputs)" in proc.stdout
    dataset = json.loads((out / "report.json").read_text())["dataset"]
    assert dataset["samples"] == 4 and dataset["verdict"] == "pass", dataset
    assert "infer_cfg.yml" in dataset["preprocess"], dataset["preprocess"]
    assert (out / "paddle" / "infer_cfg.yml").read_text() == INFER_CFG  # `verify OUT_DIR --dataset` reads it there
    boxes = [a for a in dataset["agreements"] if a["metric"] == "boxes" and a["pair"] == "paddle_vs_tensorflow"]
    assert len(boxes) == 1 and boxes[0]["total"] > 0 and boxes[0]["agree"] == boxes[0]["total"], boxes


def test_adaptive_nms_is_refused(paddle_model, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("nms_adaptive_eta"), "-o", str(out))
    assert_clean_failure(proc, out, "pd_op.multiclass_nms3", "nms_eta 0.9 < 1 (adaptive NMS threshold)")
