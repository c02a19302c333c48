import numpy as np
import pytest

from helpers.onnx_graphs import check_op, rng


# bicubic + border is declared unsupported (test_grid_sample_bicubic_border_is_rejected)
@pytest.mark.parametrize("mode,padding_mode", [(m, p) for m in ("bilinear", "nearest", "bicubic")
                                               for p in ("zeros", "border", "reflection")
                                               if (m, p) != ("bicubic", "border")])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample_2d(mode, padding_mode, align_corners):
    x = rng().standard_normal((2, 3, 5, 4)).astype(np.float32)
    grid = (rng(1).random((2, 6, 7, 2)) * 3 - 1.5).astype(np.float32)  # also outside [-1, 1]
    check_op("GridSample", {"x": x, "grid": grid},
             {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}, opset=16, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_grid_sample_opset20_names(mode):
    x = rng().standard_normal((1, 2, 4, 4)).astype(np.float32)
    grid = (rng(1).random((1, 3, 5, 2)) * 2.4 - 1.2).astype(np.float32)
    check_op("GridSample", {"x": x, "grid": grid}, {"mode": mode, "padding_mode": "border"}, opset=20)


@pytest.mark.parametrize("align_corners", [0, 1])
def test_affine_grid_2d(align_corners):
    theta = rng().standard_normal((2, 2, 3)).astype(np.float32)
    check_op("AffineGrid", {"theta": theta}, {"align_corners": align_corners},
             initializers={"size": np.array([2, 3, 5, 4], np.int64)}, opset=20)


def test_grid_sample_bicubic_border_is_rejected():
    from onnx import helper

    from paddle2tf.converter.prescan import find_unsupported

    from helpers.onnx_graphs import make_model

    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode="bicubic", padding_mode="border")
    model = make_model([node], {"x": (np.float32, (1, 1, 2, 2)), "grid": (np.float32, (1, 2, 2, 2))}, ["y"],
                       opset=16)
    assert any("disagree" in problem for problem in find_unsupported(model))
