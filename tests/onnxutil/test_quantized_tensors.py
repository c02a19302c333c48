"""The quantized-tensor listing (report.json ``model_summary.quantized``) of a QDQ model built in the test."""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from paddle2tf.onnxutil.quantization import quantized_tensors

from helpers.qdq_models import qdq_mlp


def test_activations_and_per_axis_weights_listed():
    model = qdq_mlp()
    scales = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    listed = quantized_tensors(model)
    assert [(t.tensor, t.kind, t.granularity, t.axis, t.layers) for t in listed] == [
        ("x", "activation", "per-tensor", None, ["MatMul h"]),
        ("w1.int8", "weight", "per-axis", 1, ["MatMul h"]),
        ("relu", "activation", "per-tensor", None, ["MatMul logits_raw"]),
        ("w2.int8", "weight", "per-axis", 1, ["MatMul logits_raw"]),
    ]
    assert all(t.dtype == "int8" and t.zero_points == [0] for t in listed)
    w1 = listed[1]
    assert w1.scale_shape == [64]
    assert w1.scale_min == np.float32(scales["w1.scale"].min()) and w1.scale_max == np.float32(scales["w1.scale"].max())
    assert listed[0].scale_shape == [] and listed[0].scale_min == listed[0].scale_max == np.float32(scales["x.scale"])
