"""End to end from Paddle: recurrent layers (LSTM, GRU, SimpleRNN) exported, converted and verified three ways.

The models (tests/helpers/paddle_models.py) are batch-first with input spec [None, None, 16]: batch and sequence
length are both dynamic. Thresholds as in test_zoo: Paddle↔TF max relative error <= 1e-4, ONNX↔TF <= 1e-5.
SimpleRNN, which paddle2onnx 2.1.0 drops, is exported by paddle2tf itself (defect 4).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from paddle2tf.app import api
from paddle2tf.app.options import ConvertOptions, VerifyOptions

from helpers.parity import assert_parity

RECURRENT_OP = {"lstm_bidirect_2layers": "LSTM", "lstm_bidirect": "LSTM", "gru_bidirect": "GRU",
                "gru_2layers": "GRU"}
# Stacked layers need the repair of paddle2onnx's final states (docs/known-exporter-defects.md, defect 5).
STACKED = {"lstm_bidirect_2layers", "gru_2layers"}
# (batch, steps) pairs re-verified through the same SavedModel: both dimensions are dynamic.
OTHER_SIZES = ((1, 3), (4, 17))


@pytest.mark.parametrize("name", list(RECURRENT_OP))
def test_recurrent_model(name, paddle_model, tmp_path):
    out = tmp_path / "out"
    report = api.convert(paddle_model(name), str(out), progress=lambda _: None)
    assert_parity(report)
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert RECURRENT_OP[name] in ops, ops  # the model really exercises the recurrent converter
    assert report.signature["inputs"][0]["shape"] == [None, None, 16]
    if name in STACKED:
        assert any(fix["pass_name"] == "concat_stacked_rnn_final_states" for fix in report.fixes), report.fixes
    if name == "lstm_bidirect_2layers":
        rng = np.random.default_rng(11)
        for batch, steps in OTHER_SIZES:
            feeds_file = tmp_path / f"x_{batch}_{steps}.npz"
            np.savez(feeds_file, x=rng.uniform(-1, 1, (batch, steps, 16)).astype(np.float32))
            assert_parity(api.verify_output(str(out), VerifyOptions(feeds=str(feeds_file)), progress=lambda _: None))


# paddle.nn.SimpleRNN (pd_op.rnn, RNN_TANH / RNN_RELU) is dropped by paddle2onnx 2.1.0 (defect 4) and exported
# by paddle2tf's Paddle-op exporter (paddle2tf.frontend.fixes.paddle_ops): one ONNX RNN node per layer.
# ReLU (RNN_RELU) is exercised by test_simple_rnn_relu_initial_state_and_lengths.
SIMPLE_RNN_LAYERS = {"simple_rnn_bidirect_2layers": 2, "gru_then_simple_rnn": 1}


def _assert_simple_rnn_exported(report, out, layers: int) -> None:
    assert_parity(report)
    assert [f["pass_name"] for f in report.fixes if f["stage"] == "export"] == ["export_simple_rnn"], report.fixes
    ops = [node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node]
    assert ops.count("RNN") == layers, ops


@pytest.mark.parametrize("name", list(SIMPLE_RNN_LAYERS))
def test_simple_rnn(name, paddle_model, tmp_path):
    out = tmp_path / "out"
    report = api.convert(paddle_model(name), str(out), progress=lambda _: None)
    _assert_simple_rnn_exported(report, out, SIMPLE_RNN_LAYERS[name])


def test_simple_rnn_relu_initial_state_and_lengths(paddle_model, tmp_path):
    """2-layer bidirectional SimpleRNN(activation='relu') given h0 [4, N, 32] and sequence lengths."""
    rng = np.random.default_rng(3)
    feeds_file = tmp_path / "feeds.npz"
    np.savez(feeds_file, x=rng.uniform(-1, 1, (3, 12, 16)).astype(np.float32),
             h0=rng.uniform(-1, 1, (4, 3, 32)).astype(np.float32), lengths=np.array([12, 5, 1], np.int64))
    out = tmp_path / "out"
    report = api.convert(paddle_model("simple_rnn_with_state"), str(out), ConvertOptions(feeds=str(feeds_file)),
                         progress=lambda _: None)
    _assert_simple_rnn_exported(report, out, 2)
    assert "mode RNN_RELU" in report.fixes[0]["target"]
    assert "Relu, hidden 32, initial state, sequence lengths" in report.fixes[0]["change"]
