"""Declared dims: a negative size (what some exporters write for a dynamic dim) reads as dynamic everywhere."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.onnxutil.graph import declared_dims

from helpers.cli import run_cli


def test_declared_dims_reads_negative_and_symbolic_sizes_as_dynamic():
    value = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [-1, 3, "h", 0])
    assert declared_dims(value.type.tensor_type) == [None, 3, None, 0]


def test_a_model_declaring_batch_minus_one_converts_and_verifies(tmp_path):
    # rapidocr 3.10.0's ch_ppocr_mobile_v2.0_cls_mobile.onnx declares its input [-1, 3, ?, ?]: the SavedModel's
    # TensorSpec raised "Dimension -1 must be >= 0" (exit 1 with a traceback) before.
    weight = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], "minus_one",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [-1, 8])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [-1, 4])],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "minus_one.onnx"))
    # (the repair negative_dims_as_unknown rewrites the -1s; --no-fixes reads them as they are)
    for extra in ([], ["--no-fixes"]):
        proc = run_cli("convert", str(tmp_path / "minus_one.onnx"), "-o", str(tmp_path / "out"), "--force", *extra)
        assert proc.returncode == 0 and "verdict: PASS" in proc.stdout, proc.stderr[-2000:]
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["signature"]["inputs"][0]["shape"] == [None, 8]
        # ONNX Runtime ↔ TF at the generated batch of 2, the suite's default float32 tolerance
        assert report["verification"]["feeds"][0]["shape"] == [2, 8]
