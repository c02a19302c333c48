import numpy as np
from onnx import helper

from helpers.onnx_graphs import assert_matches_ort, make_model, rng


def _ml_model(node, inputs, outputs):
    model = make_model([node], inputs, outputs)
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    return model


def test_binarizer():
    x = rng().standard_normal((3, 4)).astype(np.float32)
    node = helper.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=0.25)
    assert_matches_ort(_ml_model(node, {"x": x}, ["y"]), {"x": x})


def test_array_feature_extractor():
    x = rng().standard_normal((2, 3, 5)).astype(np.float32)
    node = helper.make_node("ArrayFeatureExtractor", ["x", "i"], ["y"], domain="ai.onnx.ml")
    model = _ml_model(node, {"x": x, "i": np.array([4, 0, 4], np.int64)}, ["y"])
    assert_matches_ort(model, {"x": x, "i": np.array([4, 0, 4], np.int64)})
