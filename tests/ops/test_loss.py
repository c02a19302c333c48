import numpy as np
import pytest

from helpers.onnx_graphs import check_op, rng


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 1])
def test_nll_loss(reduction, with_weight, ignore_index):
    x = rng().standard_normal((3, 4, 2)).astype(np.float32)
    target = np.array([[0, 1], [3, 1], [2, 0]], np.int64)
    attrs = {"reduction": reduction, **({"ignore_index": ignore_index} if ignore_index is not None else {})}
    inits = {"w": rng(1).random(4).astype(np.float32)} if with_weight else {}
    check_op("NegativeLogLikelihoodLoss", {"x": x, "t": target}, attrs, initializers=inits)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_softmax_cross_entropy_loss(reduction):
    x = rng().standard_normal((2, 5, 3)).astype(np.float32)
    target = np.array([[0, 4, 2], [1, 1, 3]], np.int64)
    check_op("SoftmaxCrossEntropyLoss", {"x": x, "t": target}, {"reduction": reduction, "ignore_index": 2},
             outputs=("loss", "log_prob"))
