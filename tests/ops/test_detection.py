import numpy as np
import pytest

from helpers.onnx_graphs import check_op, rng


def _boxes(batches: int, n: int, seed: int = 0) -> np.ndarray:
    corners = rng(seed).random((batches, n, 2)).astype(np.float32) * 10
    sizes = rng(seed + 1).random((batches, n, 2)).astype(np.float32) * 4 + 0.5
    return np.concatenate([corners, corners + sizes], axis=-1)


@pytest.mark.parametrize("center_point_box", [0, 1])
@pytest.mark.parametrize("max_out,score_threshold", [(3, 0.2), (100, 0.0), (0, 0.0)])
def test_non_max_suppression(center_point_box, max_out, score_threshold):
    boxes = _boxes(2, 12)
    scores = rng(2).random((2, 3, 12)).astype(np.float32)
    scores[0, 0, :4] = 0.5  # ties keep the lower box index first
    check_op("NonMaxSuppression", {"boxes": boxes, "scores": scores}, {"center_point_box": center_point_box},
             initializers={"m": np.array([max_out], np.int64), "iou": np.array([0.3], np.float32),
                           "st": np.array([score_threshold], np.float32)},
             outputs={"y": np.int64}, opset=11)


def test_non_max_suppression_without_optional_inputs_selects_nothing():
    check_op("NonMaxSuppression", {"boxes": _boxes(1, 5), "scores": rng().random((1, 1, 5)).astype(np.float32)},
             outputs={"y": np.int64}, opset=11)
