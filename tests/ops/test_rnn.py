import numpy as np
import pytest
from onnx import helper

from helpers.onnx_graphs import assert_matches_ort, make_model, rng, run_converted, run_ort

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
OPS = list(GATES)


def _f(*shape, seed=0, scale=0.5):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _build(op, *, seq=5, batch=3, size=4, hidden=6, direction="forward", attrs=None, bias=True, init=True,
          seq_lens=None, peephole=False, opset=14, layout=0, outputs=("y", "y_h", "y_c"), weights_as_inputs=False,
          dynamic=False, dtype=np.float32):
    """A one-node model and its feeds. ``outputs`` may contain "" for an omitted output."""
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    outputs = list(outputs) if op == "LSTM" else [o for o in outputs if o != "y_c"]
    x_shape = (batch, seq, size) if layout else (seq, batch, size)
    state_shape = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    feeds = {"x": _f(*x_shape, seed=1, scale=1.0).astype(dtype)}
    consts = {"w": _f(dirs, g * hidden, size, seed=2), "r": _f(dirs, g * hidden, hidden, seed=3)}
    names = ["x", "w", "r"]
    optional = []
    if bias:
        consts["b"] = _f(dirs, 2 * g * hidden, seed=4)
    optional.append("b" if bias else "")
    if seq_lens is not None:
        feeds["lens"] = np.asarray(seq_lens, np.int32)
    optional.append("lens" if seq_lens is not None else "")
    if init:
        feeds["h0"] = _f(*state_shape, seed=5).astype(dtype)
    optional.append("h0" if init else "")
    if op == "LSTM":
        if init:
            feeds["c0"] = _f(*state_shape, seed=6).astype(dtype)
        optional.append("c0" if init else "")
        if peephole:
            consts["p"] = _f(dirs, 3 * hidden, seed=7)
        optional.append("p" if peephole else "")
    names += optional
    while names[-1] == "":
        names.pop()
    consts = {k: v.astype(dtype) for k, v in consts.items()}
    if weights_as_inputs:  # not constant at conversion time: the converter transposes in TF
        feeds.update(consts)
        consts = {}
    node_attrs = {"hidden_size": hidden, "direction": direction, **(attrs or {})}
    if opset >= 14:
        node_attrs["layout"] = layout
    node = helper.make_node(op, names, outputs, name=f"{op.lower()}_node", **node_attrs)
    ordered_feeds = {n: feeds[n] for n in names if n in feeds}
    return make_model([node], ordered_feeds, {o: dtype for o in outputs if o}, consts, opset, dynamic), ordered_feeds


def _case(op, rtol=1e-5, atol=1e-5, **kwargs):
    """One recurrent node against onnxruntime."""
    model, feeds = _build(op, **kwargs)
    return assert_matches_ort(model, feeds, rtol=rtol, atol=atol)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op", OPS)
def test_directions(op, direction):
    _case(op, direction=direction)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op", OPS)
def test_sequence_lens_unequal(op, direction):
    # Y past each length is zero; Y_h/Y_c are the states at each sequence's own last valid step, and the
    # reverse direction starts there.
    out = _case(op, seq=6, batch=4, direction=direction, seq_lens=[6, 2, 4, 1])
    assert np.all(out["y"][2:, :, 1] == 0) and np.all(out["y"][1:, :, 3] == 0)


@pytest.mark.parametrize("op", OPS)
def test_sequence_lens_with_empty_sequence(op):
    # A length-0 sequence: Y is zero and so are its final states (not the initial ones), as onnxruntime.
    out = _case(op, direction="bidirectional", seq_lens=[5, 0, 3])
    assert np.all(out["y_h"][:, 1] == 0)


@pytest.mark.parametrize("op", OPS)
def test_no_optional_inputs(op):
    _case(op, bias=False, init=False, opset=7)


@pytest.mark.parametrize("op", OPS)
def test_layout_batch_major(op):
    # onnxruntime's CPU kernels refuse layout=1: the reference is the layout=0 model on transposed data.
    kwargs = {"direction": "bidirectional", "seq_lens": [5, 3, 4]}
    model, feeds = _build(op, layout=1, **kwargs)
    ref_model, _ = _build(op, layout=0, **kwargs)
    ref_feeds = {k: (np.swapaxes(v, 0, 1) if k in ("x", "h0", "c0") else v) for k, v in feeds.items()}
    expected = run_ort(ref_model, ref_feeds)
    actual = run_converted(model, feeds)
    np.testing.assert_allclose(actual["y"], np.transpose(expected["y"], (2, 0, 1, 3)), rtol=1e-5, atol=1e-5)
    for name in ("y_h", "y_c") if op == "LSTM" else ("y_h",):
        np.testing.assert_allclose(actual[name], np.swapaxes(expected[name], 0, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", OPS)
def test_dynamic_sequence_length(op):
    _case(op, direction="bidirectional", seq_lens=[5, 2, 3], dynamic=True)


@pytest.mark.parametrize("op", OPS)
def test_weights_as_inputs(op):
    _case(op, direction="bidirectional", weights_as_inputs=True, dynamic=True)


@pytest.mark.parametrize("op", OPS)
def test_only_final_state(op):
    _case(op, direction="reverse", outputs=("", "y_h", "y_c"))


def test_only_sequence_output():
    _case("LSTM", direction="bidirectional", outputs=("y",), seq_lens=[3, 5, 4])


@pytest.mark.parametrize("lbr", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_gru_linear_before_reset(lbr, direction):
    _case("GRU", direction=direction, attrs={"linear_before_reset": lbr}, seq_lens=[5, 3, 1])


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_lstm_peepholes(direction):
    _case("LSTM", direction=direction, peephole=True, seq_lens=[2, 5, 4])


def test_lstm_input_forget():
    _case("LSTM", attrs={"input_forget": 1}, peephole=True)


@pytest.mark.parametrize("op", OPS)
def test_clip(op):
    _case(op, direction="bidirectional", attrs={"clip": 0.7}, peephole=True)


@pytest.mark.parametrize("op,activations,alpha,beta", [
    ("RNN", ["Relu"], [], []),
    ("RNN", ["LeakyRelu", "Affine"], [0.2, 0.5], [0.1]),  # bidirectional: one per direction
    ("RNN", ["ThresholdedRelu"], [0.3], []),
    ("RNN", ["Elu"], [0.7], []),
    ("GRU", ["HardSigmoid", "Softsign"], [0.3], [0.4]),
    ("GRU", ["Sigmoid", "ScaledTanh"], [0.9], [1.3]),
    ("LSTM", ["HardSigmoid", "Tanh", "Softplus"], [], []),  # HardSigmoid defaults alpha 0.2, beta 0.5
    ("LSTM", ["Sigmoid", "Elu", "LeakyRelu"], [], []),  # default alphas 1.0 and 0.01
])
def test_activations(op, activations, alpha, beta):
    attrs = {"activations": activations}
    if alpha:
        attrs["activation_alpha"] = alpha
    if beta:
        attrs["activation_beta"] = beta
    direction = "bidirectional" if len(activations) == 2 and op == "RNN" else "forward"
    _case(op, direction=direction, attrs=attrs, peephole=True)


@pytest.mark.parametrize("op", OPS)
def test_float64(op):
    # onnxruntime has no double RNN kernels: the reference is the float32 model on the same values.
    kwargs = {"direction": "bidirectional", "seq_lens": [5, 4, 2]}
    model, feeds = _build(op, dtype=np.float64, **kwargs)
    ref_model, ref_feeds = _build(op, **kwargs)
    expected = run_ort(ref_model, ref_feeds)
    actual = run_converted(model, feeds)
    for name, want in expected.items():
        assert actual[name].dtype == np.float64
        np.testing.assert_allclose(actual[name], want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("op", OPS)
def test_long_sequence(op):
    # 64 steps of recurrence accumulate float32 rounding differences: 1e-4.
    _case(op, seq=64, batch=2, hidden=8, direction="bidirectional", seq_lens=[64, 37], rtol=1e-4, atol=1e-4)


def test_unsupported_activation_rejected():
    from paddle2tf.converter.prescan import find_unsupported

    node = helper.make_node("RNN", ["x", "w", "r"], ["y"], hidden_size=2, activations=["Gelu"])
    model = make_model([node], {"x": (np.float32, (1, 1, 2))}, ["y"],
                       {"w": _f(1, 2, 2), "r": _f(1, 2, 2)}, opset=14)
    assert any("activations" in key for key in find_unsupported(model))
