"""`convert --tflite`: TFLite files from the SavedModel, verified against Paddle (an independent reference).

Tolerances: fp32 TFLite within 1e-4 relative (max|a-b| / max|a|) of Paddle (the verdict itself uses the conversion's
1e-5 rule); quantised variants are not held to a tolerance, their top-1 agreement over 64 seeded inputs is reported
and must be a rate in [0, 1].
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from paddle2tf.errors import EXIT_BAD_INPUT, BadInputError
from paddle2tf.frontend.sources import InputSpec
from paddle2tf.targets.tflite import (
    AGREEMENT_SAMPLES,
    NOT_CONVERTED,
    NOT_JUDGED,
    agreement_inputs,
    load_calibration,
    parse_variants,
)
from paddle2tf.verify.metrics import FAIL, PASS

from helpers.cli import run_cli

FP32_MAX_REL = 1e-4


def _quiet(_):
    pass


@pytest.fixture(scope="module")
def resnet18_out(paddle_model, tmp_path_factory):
    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    out = tmp_path_factory.mktemp("tflite_resnet18") / "out"
    report = api.convert(paddle_model("resnet18"), str(out), ConvertOptions(tflite=("fp32,int8-dynamic", "int8")),
                         progress=_quiet)
    return out, report


@pytest.fixture(scope="module")
def mlp_out(paddle_model, tmp_path_factory):
    """Full int8 with a calibration file and a top-1 threshold: the MLP has no padding, so int8 converts."""
    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    folder = tmp_path_factory.mktemp("tflite_mlp")
    calibration = folder / "calibration.npz"
    np.savez(calibration, x=np.random.default_rng(7).uniform(-1, 1, (32, 64)).astype(np.float32))
    options = ConvertOptions(tflite=("fp32", "int8"), calibration=str(calibration), tflite_min_top1=0.5)
    report = api.convert(paddle_model("mlp"), str(folder / "out"), options, progress=_quiet)
    return folder / "out", report


def _by_variant(report) -> dict:
    return {item.variant: item for item in report.tflite}


def test_resnet18_fp32_matches_paddle(resnet18_out):
    out, report = resnet18_out
    fp32 = _by_variant(report)["fp32"]
    assert fp32.converted and fp32.path == "tflite/model_fp32.tflite"
    assert fp32.size_bytes == os.path.getsize(out / fp32.path) > 40e6  # 11.7 M float32 weights
    assert fp32.reference == "paddle"
    for name, metrics in fp32.metrics.items():
        assert metrics.max_rel <= FP32_MAX_REL, (name, metrics)
    assert fp32.verdict == PASS and report.verdict == PASS
    assert fp32.samples == AGREEMENT_SAMPLES and fp32.top1_agreement == {"fetch_name_0": 1.0}
    stored = json.loads((out / "report.json").read_text())
    assert [item["variant"] for item in stored["tflite"]] == ["fp32", "int8-dynamic", "int8"]
    assert "tflite" in [stage["stage"] for stage in stored["stages"]]
    assert "TFLite files" in (out / "report.html").read_text()


def test_resnet18_quantised_variants_report_top1(resnet18_out):
    out, report = resnet18_out
    variants = _by_variant(report)
    dynamic = variants["int8-dynamic"]
    assert dynamic.converted and dynamic.samples >= 64 and dynamic.samples_reference == "paddle"
    assert 0.0 <= dynamic.top1 <= 1.0
    assert dynamic.size_bytes == os.path.getsize(out / dynamic.path) < variants["fp32"].size_bytes / 3
    assert dynamic.verdict == NOT_JUDGED  # no --tflite-min-top1
    full = variants["int8"]  # converts: the stem's MaxPool pads with edge copies, not -inf (ops/pool.py)
    assert full.converted, full.reason
    assert full.samples >= 64 and full.top1 >= 0.9  # measured 1.000 (64/64) on seeded random weights
    assert full.size_bytes < variants["fp32"].size_bytes / 3


def test_unbounded_range_is_not_converted_to_int8(tmp_path):
    """A MaxPool padded with -inf (pads of 2, not TF's SAME: edge copies would not be exact) gives calibration an
    infinite range: full int8 is refused with a one-line reason naming the int8 scale, and no file is left."""
    import onnx
    from onnx import TensorProto, helper

    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    pool = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[5, 5], strides=[2, 2], pads=[2, 2, 2, 2])
    graph = helper.make_graph([pool], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 6, 6])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "pool.onnx"))
    out = tmp_path / "out"
    report = api.convert(str(tmp_path / "pool.onnx"), str(out), ConvertOptions(tflite=("int8",)), progress=_quiet)
    (full,) = report.tflite
    assert full.verdict == NOT_CONVERTED and "int8 scale" in full.reason and "\n" not in full.reason
    assert os.listdir(out / "tflite") == []


def test_bert_small_fp32_matches_paddle(paddle_model, tmp_path):
    """The encoder converts to TFLite: its exact GELU is written in the order TFLite's converter recognises as its
    GELU kernel (TFLite has no Erf); fp32 within 1e-4 of Paddle (measured 1.2e-6)."""
    from paddle2tf.app import api
    from paddle2tf.app.options import ConvertOptions

    report = api.convert(paddle_model("bert_small"), str(tmp_path / "out"), ConvertOptions(tflite=("fp32",)),
                         progress=_quiet)
    (fp32,) = report.tflite
    assert fp32.converted, fp32.reason
    assert all(m.max_rel <= FP32_MAX_REL for m in fp32.metrics.values()), fp32.metrics
    assert fp32.verdict == PASS and report.verdict == PASS


def test_full_int8_with_calibration_and_threshold(mlp_out):
    out, report = mlp_out
    full = _by_variant(report)["int8"]
    assert full.converted, full.reason
    assert full.samples == AGREEMENT_SAMPLES and 0.0 <= full.top1 <= 1.0
    assert full.min_top1 == 0.5 and full.verdict == (PASS if full.top1 >= 0.5 else FAIL)
    assert report.verdict == (FAIL if full.verdict == FAIL else PASS)
    assert full.size_bytes == os.path.getsize(out / full.path) < _by_variant(report)["fp32"].size_bytes


def test_verify_reruns_the_tflite_files(mlp_out):
    from paddle2tf.app import api

    out, report = mlp_out
    again = api.verify_output(str(out), progress=_quiet)
    before, after = _by_variant(report), _by_variant(again)
    assert set(after) == {"fp32", "int8"}
    for variant in after:
        assert after[variant].top1_agreement == before[variant].top1_agreement
        assert after[variant].verdict == before[variant].verdict
    assert "tflite-verify" in [stage.stage for stage in again.stages]


def test_bad_tflite_value_exits_2_with_one_line(tmp_path):
    proc = run_cli("convert", "paddle_models:build_mlp", "--input-spec", "x:float32:-1x64", "-o",
                   str(tmp_path / "out"), "--tflite", "fp32,fp8")
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr.strip().splitlines() == [
        "paddle2tf: error: --tflite fp8: unknown variant (one of fp32, fp16, int8-dynamic, int8)"]
    assert not (tmp_path / "out").exists()
    proc = run_cli("convert", "paddle_models:build_mlp", "--input-spec", "x:float32:-1x64", "-o",
                   str(tmp_path / "out"), "--tflite", "fp16", "--calibration", "feeds.npz")
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr.strip().splitlines()[-1].endswith("--calibration feeds.npz: only used by --tflite int8")


def test_parse_variants():
    assert parse_variants(["fp32,fp16", "int8", "fp32"]) == ["fp32", "fp16", "int8"]
    with pytest.raises(BadInputError, match="--tflite int4: unknown variant"):
        parse_variants("int4")


def test_calibration_rows_are_samples(tmp_path):
    path = tmp_path / "calibration.npz"
    specs = [InputSpec("x", "float32", (None, 3)), InputSpec("n", "int64", ())]
    np.savez(path, x=np.ones((5, 3), np.float32), n=np.array(4, np.int64))
    samples = load_calibration(str(path), specs)
    assert len(samples) == 5 and samples[0]["x"].shape == (1, 3) and samples[0]["n"] == 4
    np.savez(path, x=np.ones((5, 4), np.float32), n=np.array(4, np.int64))
    with pytest.raises(BadInputError, match="input 'x' has shape \\[5, 4\\], the model expects \\['N', 3\\]"):
        load_calibration(str(path), specs)


def test_agreement_inputs_expand_a_dynamic_batch_or_loop_a_fixed_one():
    (batch,), samples = agreement_inputs([InputSpec("x", "float32", (None, 3, 8, 8))], seed=1)
    assert samples == 64 and batch["x"].shape == (64, 3, 8, 8)
    chunks, samples = agreement_inputs([InputSpec("x", "float32", (5, 3))], seed=1)
    assert len(chunks) == 13 and samples == 65 and not np.array_equal(chunks[0]["x"], chunks[1]["x"])


def test_calibration_with_nan_is_refused(tmp_path):
    """All-NaN calibration samples give no ranges: TFLite then silently kept every op float in a file named int8."""
    path = tmp_path / "calibration.npz"
    x = np.ones((4, 3), np.float32)
    x[1, 2] = np.nan
    np.savez(path, x=x)
    with pytest.raises(BadInputError, match="input 'x' holds 1 NaN / Inf values"):
        load_calibration(str(path), [InputSpec("x", "float32", (None, 3))])


def test_an_int8_file_without_int8_tensors_is_not_written():
    import tensorflow as tf

    from paddle2tf.targets.tflite_child import _broken_quantisation

    @tf.function(input_signature=[tf.TensorSpec([1, 3], tf.float32)])
    def scaled(x):
        return x * 2.0

    float_file = tf.lite.TFLiteConverter.from_concrete_functions([scaled.get_concrete_function()], scaled).convert()
    assert "TFLite wrote no int8 tensor" in _broken_quantisation(float_file)
