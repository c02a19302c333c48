import numpy as np
import pytest

from helpers.onnx_graphs import check_op, rng


@pytest.mark.parametrize("inverse,onesided", [(0, 0), (1, 0), (0, 1)])
@pytest.mark.parametrize("axis", [1, 2])
def test_dft_17(inverse, onesided, axis):
    x = rng().standard_normal((2, 8, 6, 1 if onesided else 2)).astype(np.float32)
    check_op("DFT", {"x": x}, {"axis": axis, "inverse": inverse, "onesided": onesided}, opset=17, atol=1e-4)


def test_dft_20_length_and_axis_inputs():
    x = rng().standard_normal((2, 8, 6, 2)).astype(np.float32)
    check_op("DFT", {"x": x}, initializers={"n": np.array(10, np.int64), "axis": np.array(-2, np.int64)},
             opset=20, atol=1e-4)


@pytest.mark.parametrize("with_window", [False, True])
def test_stft(with_window):
    signal = rng().standard_normal((2, 64, 1)).astype(np.float32)
    if with_window:
        inits = {"step": np.array(8, np.int64), "window": np.hanning(16).astype(np.float32)}
    else:
        inits = {"step": np.array(8, np.int64), "": None}
        inits = {"step": np.array(8, np.int64), "length": np.array(16, np.int64)}
    names = ["signal", "step", "window"] if with_window else ["signal", "step", "", "length"]
    check_op("STFT", {"signal": signal}, initializers=inits, input_names=names, opset=17, atol=1e-4)


def test_mel_weight_matrix():
    inits = {"bins": np.array(8, np.int32), "dft": np.array(32, np.int32), "rate": np.array(16000, np.int32),
             "low": np.array(0.0, np.float32), "high": np.array(8000.0, np.float32)}
    check_op("MelWeightMatrix", {}, initializers=inits, opset=17)


def test_inverse_dft_keeps_float32_round_off_like_the_onnx_reference():
    # Exact zeros of the inverse come out as float32 round-off (~2e-7) in the ONNX reference, which the
    # node tests compare with atol=1e-7: the inverse runs in the input's precision, not in double.
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    from helpers.onnx_graphs import make_model, run_converted

    x = np.stack([np.arange(100, dtype=np.float32).reshape(1, 10, 10), np.zeros((1, 10, 10), np.float32)], -1)
    node = helper.make_node("DFT", ["x"], ["y"], axis=1, inverse=1)
    model = make_model([node], {"x": x}, ["y"], opset=17)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(run_converted(model, {"x": x})["y"], want, rtol=1e-3, atol=1e-7)
