"""Preprocessing compiled into the serving signature (convert --preprocess), checked against Paddle.

The acceptance test normalises the raw images itself (the formula written out here, not paddle2tf's reference)
and compares Paddle's logits on them with the SavedModel's logits on the raw uint8 NHWC images.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions
from paddle2tf.converter.preprocess import Preprocess, apply_reference, apply_tf, parse_preprocess, resolve
from paddle2tf.errors import BadInputError
from paddle2tf.verify.metrics import Tolerance, compare
from paddle2tf.verify.runners import run_paddle, run_savedmodel

from helpers.cli import run_cli

MEAN = (123.675, 116.28, 103.53)  # ImageNet mean/std in 0..255 units, as PaddleClas configures them
STD = (58.395, 57.12, 57.375)


def test_parse_full_spec_and_resolve():
    spec = parse_preprocess("x:layout=NHWC,dtype=uint8,resize=224x200,scale=1/255,mean=0.485/0.456/0.406,"
                            "std=0.229/0.224/0.225,input_channels=bgr,model_channels=rgb")
    assert spec == Preprocess("x", "nhwc", "uint8", (224, 200), 1 / 255, (0.485, 0.456, 0.406),
                              (0.229, 0.224, 0.225), "bgr", "rgb")
    assert spec.raw_shape((None, 3, 224, 200)) == (None, None, None, 3)
    assert Preprocess.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    unnamed = parse_preprocess("mean=1/2/3")
    assert unnamed.input == "" and unnamed.mean == (1.0, 2.0, 3.0)
    assert resolve(unnamed, {"ids": ("int64", (None, 8)), "img": ("float32", (None, 3, 32, 32))}).input == "img"


@pytest.mark.parametrize("text, message", [
    ("x:layout=nhwc,bogus=1", "unknown key 'bogus'"),
    ("x:mean=1/2", "expected 3 values"),
    ("x:std=1/0/1", "std must not be 0"),
    ("x:resize=224", "expected HxW"),
    ("x:dtype=int16", "expected one of uint8, float32"),
    ("x:layout", "is not key=value"),
    ("x:scale=1/0", "scale=1/0: a division by 0"),  # (was: unexpected ZeroDivisionError)
    ("x:scale=inf", "scale=inf: not a finite number"),
])
def test_parse_rejects_bad_specs(text, message):
    with pytest.raises(BadInputError, match=message):
        parse_preprocess(text)


def test_resolve_rejects_wrong_inputs():
    inputs = {"x": ("float32", (None, 3, 224, 224)), "y": ("float32", (None, 1, 8, 8))}
    with pytest.raises(BadInputError, match="name the image input"):
        resolve(parse_preprocess("mean=1/2/3"), {**inputs, "z": ("float32", (None, 3, 4, 4))})
    with pytest.raises(BadInputError, match="no input 'q'"):
        resolve(parse_preprocess("q:mean=1/2/3"), inputs)
    with pytest.raises(BadInputError, match="3 channels"):
        resolve(parse_preprocess("y:mean=1/2/3"), inputs)
    with pytest.raises(BadInputError, match="input x is 224x224"):
        resolve(parse_preprocess("x:resize=200x200"), inputs)


@pytest.mark.parametrize("text, raw_shape", [
    ("x:layout=nhwc,dtype=uint8,mean=123.675/116.28/103.53,std=58.395/57.12/57.375", (2, 16, 12, 3)),
    ("x:layout=nchw,dtype=float32,scale=1/255,input_channels=bgr", (2, 3, 16, 12)),
    ("x:layout=nhwc,resize=20x9,scale=1/255,mean=0.5/0.4/0.3,std=0.2/0.3/0.4", (1, 32, 7, 3)),  # up and down
    ("x:layout=nhwc,resize=16x12", (3, 16, 12, 3)),  # same size: identity resize
])
def test_tf_matches_the_numpy_reference(text, raw_shape):
    """The TF ops traced into the signature vs the float64 numpy reference, max_rel ≤ 1e-5 (scaled atol 1e-5)."""
    spec = parse_preprocess(text)
    raw = np.random.default_rng(0).integers(0, 256, size=raw_shape).astype(spec.dtype)
    expected = apply_reference(spec, raw)
    assert expected.dtype == np.float32 and expected.shape[1] == 3
    actual = apply_tf(spec, raw).numpy()
    metrics = compare(expected, actual, Tolerance(1e-5, 1e-5))
    assert metrics.verdict == "pass", metrics


def test_reference_by_hand():
    """The numpy reference on a case computed by hand: BGR uint8 NHWC → RGB, scaled, normalised, NCHW."""
    spec = parse_preprocess("layout=nhwc,scale=1/255,mean=0.5/0.25/0.125,std=0.5/0.5/0.25,input_channels=bgr")
    raw = np.array([[[[255, 0, 51]]]], np.uint8)  # one pixel: B=255, G=0, R=51
    rgb = np.array([51, 0, 255]) / 255
    want = ((rgb - [0.5, 0.25, 0.125]) / [0.5, 0.5, 0.25]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(apply_reference(spec, raw), want, rtol=1e-6)


@pytest.fixture(scope="module")
def resnet18_uint8(paddle_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("preprocess") / "out"
    spec = parse_preprocess(f"x:layout=nhwc,dtype=uint8,mean={'/'.join(map(str, MEAN))},std={'/'.join(map(str, STD))}")
    report = api.convert(paddle_model("resnet18"), str(out), ConvertOptions(preprocess=spec), progress=lambda _: None)
    return out, report


def test_uint8_nhwc_signature_matches_paddle_on_normalised_nchw(resnet18_uint8):
    out, report = resnet18_uint8
    assert report.verdict == "pass", report.verification
    (signature_input,) = report.signature["inputs"]
    assert (signature_input["dtype"], signature_input["shape"]) == ("uint8", [None, 224, 224, 3])
    assert tuple(report.signature["preprocess"]["mean"]) == MEAN

    raw = np.random.default_rng(7).integers(0, 256, size=(3, 224, 224, 3), dtype=np.uint8)
    normalised = ((raw.astype(np.float64) - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32)
    paddle_logits = run_paddle(str(out / "paddle" / "model.json"), str(out / "paddle" / "model.pdiparams"),
                               {"x": normalised}, ["out"])["out"]
    tf_logits = run_savedmodel(str(out / "saved_model"), {"x": raw}, {"x": signature_input["tf_name"]},
                               {"out": report.signature["outputs"][0]["tf_name"]})["out"]
    metrics = compare(paddle_logits, tf_logits, Tolerance(1e-4, 1e-4))
    assert metrics.verdict == "pass" and metrics.max_rel <= 1e-4, metrics
    assert (paddle_logits.argmax(-1) == tf_logits.argmax(-1)).all()

    # `verify` re-runs the check from the stored raw images
    again = api.verify_output(str(out), progress=lambda _: None)
    assert again.verdict == "pass"
    assert [f.dtype for f in again.verification.feeds] == ["uint8"]


def test_resize_and_bgr_pass_the_three_way_check(paddle_model, tmp_path):
    """Raw BGR images of 256x256 resized in the signature; Paddle and ONNX Runtime get the reference's output."""
    out = tmp_path / "out"
    proc = run_cli("convert", paddle_model("resnet18"), "-o", str(out), "--preprocess",
                   "x:resize=224x224,scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,input_channels=bgr")
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "report.json").read_text())
    assert data["signature"]["inputs"][0]["shape"] == [None, None, None, 3]
    assert data["verification"]["feeds"][0]["shape"][1:] == [256, 256, 3]
    assert all(o["verdict"] == "pass" for o in data["verification"]["outputs"])


def test_bad_preprocess_is_exit_2(paddle_model, tmp_path):
    proc = run_cli("convert", paddle_model("resnet18"), "-o", str(tmp_path / "out"), "--preprocess", "x:mean=1/2")
    assert proc.returncode == 2 and "expected 3 values" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()
