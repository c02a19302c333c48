"""Recurrent layers: RNN, GRU, LSTM (opset 7 and 14 forms).

Each direction is one ``tf.while_loop`` over time, so the sequence length may be dynamic. The input
projection X·Wᵀ (+ the biases that are plain additions) is computed for all steps with one matmul
before the loop; the loop only does the recurrent H·Rᵀ part.

``sequence_lens``: a step t >= len(b) leaves batch entry b's state unchanged and writes zeros to Y, so
the final state is the state at b's last valid step (zero for a sequence of length 0, as onnxruntime).
The reverse direction reverses each sequence within its own length (``tf.reverse_sequence``), runs
forward, and reverses Y back, which makes it start at each sequence's own last valid step.

onnxruntime's CPU kernels (the reference) have no layout=1 and no double: those are tested against the
equivalent layout=0 / float32 model.
"""

from __future__ import annotations

import numpy as np

from paddle2tf.converter.registry import converter

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_DIRECTIONS = ("forward", "reverse", "bidirectional")


# -- activations ----------------------------------------------------------------------------------
# name -> (fn(x, alpha, beta), default alpha, default beta, uses alpha, uses beta). Defaults are those of
# the ONNX operators of the same name; activation_alpha / activation_beta are consumed in order only by
# the functions that take them (as onnxruntime does).

def _affine(x, a, b):
    return a * x + b


def _leaky_relu(x, a, b):
    import tensorflow as tf

    return tf.where(x >= 0, x, a * x)


def _thresholded_relu(x, a, b):
    import tensorflow as tf

    return tf.where(x > a, x, tf.zeros_like(x))


def _scaled_tanh(x, a, b):
    import tensorflow as tf

    return a * tf.tanh(b * x)


def _hard_sigmoid(x, a, b):
    import tensorflow as tf

    return tf.clip_by_value(a * x + b, 0.0, 1.0)


def _elu(x, a, b):
    import tensorflow as tf

    return tf.where(x >= 0, x, a * tf.math.expm1(x))


def _plain(name):
    def apply(x, a, b):
        import tensorflow as tf

        return {"sigmoid": tf.sigmoid, "tanh": tf.tanh, "relu": tf.nn.relu, "softsign": tf.nn.softsign,
                "softplus": tf.math.softplus}[name](x)

    return apply


_ACTIVATIONS = {
    "sigmoid": (_plain("sigmoid"), 0.0, 0.0, False, False),
    "tanh": (_plain("tanh"), 0.0, 0.0, False, False),
    "relu": (_plain("relu"), 0.0, 0.0, False, False),
    "softsign": (_plain("softsign"), 0.0, 0.0, False, False),
    "softplus": (_plain("softplus"), 0.0, 0.0, False, False),
    "affine": (_affine, 1.0, 0.0, True, True),
    "leakyrelu": (_leaky_relu, 0.01, 0.0, True, False),
    "thresholdedrelu": (_thresholded_relu, 1.0, 0.0, True, False),
    "scaledtanh": (_scaled_tanh, 1.0, 1.0, True, True),
    "hardsigmoid": (_hard_sigmoid, 0.2, 0.5, True, True),
    "elu": (_elu, 1.0, 0.0, True, False),
}


def _activation_names(op_type: str, attrs: dict) -> list[str]:
    """One name per activation slot and direction (forward slots first, as ONNX lists them)."""
    per_direction = len(_DEFAULT_ACTIVATIONS[op_type])
    num_dirs = 2 if attrs.get("direction", "forward") == "bidirectional" else 1
    names = list(attrs.get("activations") or _DEFAULT_ACTIVATIONS[op_type])
    if len(names) == per_direction and num_dirs == 2:
        names = names * 2  # one set given for a bidirectional layer: both directions use it
    return names


def _activations(op_type: str, attrs: dict) -> list[list]:
    """Per direction, the list of activation callables x -> y with their alpha/beta bound."""
    alphas = iter(attrs.get("activation_alpha", []))
    betas = iter(attrs.get("activation_beta", []))
    bound = []
    for name in _activation_names(op_type, attrs):
        fn, alpha, beta, uses_alpha, uses_beta = _ACTIVATIONS[name.lower()]
        alpha = next(alphas, alpha) if uses_alpha else alpha
        beta = next(betas, beta) if uses_beta else beta
        bound.append(lambda x, fn=fn, alpha=alpha, beta=beta: fn(x, alpha, beta))
    per_direction = len(_DEFAULT_ACTIVATIONS[op_type])
    return [bound[i:i + per_direction] for i in range(0, len(bound), per_direction)]


def _unsupported(op_type: str):
    def check(node, attrs) -> str | None:
        direction = attrs.get("direction", "forward")
        if direction not in _DIRECTIONS:
            return f"direction={direction!r}"
        names = _activation_names(op_type, attrs)
        unknown = [n for n in names if n.lower() not in _ACTIVATIONS]
        if unknown:
            return f"activations {unknown}"
        num_dirs = 2 if direction == "bidirectional" else 1
        if len(names) != len(_DEFAULT_ACTIVATIONS[op_type]) * num_dirs:
            return f"{len(names)} activations for {num_dirs} direction(s)"
        return None

    return check


# -- cells: (projected input at t, states) -> new states; states[0] is the hidden state ----------------

def _clipper(attrs):
    import tensorflow as tf

    clip = attrs.get("clip")
    if clip is None:
        return lambda x: x
    return lambda x: tf.clip_by_value(x, -clip, clip)  # clip is applied to every activation's input


def _rnn_cell(r_t, acts, clip):
    import tensorflow as tf

    (f,) = acts

    def cell(x_t, states):
        (h,) = states
        return (f(clip(x_t + tf.linalg.matmul(h, r_t))),)

    return cell


def _gru_cell(r_t, rb_h, acts, clip, linear_before_reset, hidden):
    """r_t: Rᵀ [H, 3H] (z, r, h columns). rb_h: the h gate's recurrence bias, added here only when
    linear_before_reset (otherwise it is folded into the input projection)."""
    import tensorflow as tf

    f, g = acts
    r_zr, r_h = r_t[:, :2 * hidden], r_t[:, 2 * hidden:]

    def cell(x_t, states):
        (h,) = states
        x_z, x_r, x_h = x_t[:, :hidden], x_t[:, hidden:2 * hidden], x_t[:, 2 * hidden:]
        if linear_before_reset:
            h_r = tf.linalg.matmul(h, r_t)
            h_z, h_rr, h_h = h_r[:, :hidden], h_r[:, hidden:2 * hidden], h_r[:, 2 * hidden:]
            z = f(clip(x_z + h_z))
            r = f(clip(x_r + h_rr))
            candidate = g(clip(x_h + r * (h_h + rb_h)))
        else:
            h_zr = tf.linalg.matmul(h, r_zr)
            z = f(clip(x_z + h_zr[:, :hidden]))
            r = f(clip(x_r + h_zr[:, hidden:]))
            candidate = g(clip(x_h + tf.linalg.matmul(r * h, r_h)))
        return ((1 - z) * candidate + z * h,)

    return cell


def _lstm_cell(r_t, peephole, acts, clip, input_forget, hidden):
    """Gate columns i, o, f, c; peephole is (Pi, Po, Pf) or None."""
    import tensorflow as tf

    f, g, h_act = acts

    def cell(x_t, states):
        h, c = states
        gates = x_t + tf.linalg.matmul(h, r_t)
        g_i, g_o, g_f, g_c = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
        if peephole is not None:
            p_i, p_o, p_f = peephole
            g_i, g_f = g_i + p_i * c, g_f + p_f * c
        i = f(clip(g_i))
        forget = 1 - i if input_forget else f(clip(g_f))  # input_forget couples f to i
        c_new = forget * c + i * g(clip(g_c))
        if peephole is not None:
            g_o = g_o + p_o * c_new  # the output gate's peephole sees the new cell state
        o = f(clip(g_o))
        return o * h_act(c_new), c_new

    return cell


# -- the time loop -----------------------------------------------------------------------------------

def _reverse_time(x, seq_lens):
    """Reverse axis 0; with lengths, each batch entry (axis 1) only within its own length."""
    import tensorflow as tf

    if seq_lens is None:
        return tf.reverse(x, axis=[0])
    return tf.reverse_sequence(x, seq_lens, seq_axis=0, batch_axis=1)


def _run_direction(cell, xw, states, seq_lens, reverse):
    """xw: [S, B, G·H] projected inputs. Returns Y [S, B, H] and the final states."""
    import tensorflow as tf

    if reverse:
        xw = _reverse_time(xw, seq_lens)
    # A static length keeps the stacked output's shape static (what --static-shape promises).
    steps = xw.shape[0] if xw.shape[0] is not None else tf.shape(xw)[0]
    ys = tf.TensorArray(xw.dtype, size=steps, element_shape=states[0].shape)

    def body(t, ys, *states):
        new = cell(xw[t], states)
        y = new[0]
        if seq_lens is not None:
            valid = tf.expand_dims(t < seq_lens, 1)  # [B, 1]: past its length a sequence keeps its state
            y = tf.where(valid, y, tf.zeros_like(y))
            new = tuple(tf.where(valid, n, s) for n, s in zip(new, states, strict=True))
        return (t + 1, ys.write(t, y), *new)

    _, ys, *final = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), ys, *states))
    y = ys.stack()
    y.set_shape(xw.shape[:2].concatenate(states[0].shape[1:]))
    if reverse:
        y = _reverse_time(y, seq_lens)
    if seq_lens is not None:
        # A sequence of length 0 has zero final states, not its initial ones (as onnxruntime does).
        nonempty = tf.expand_dims(seq_lens > 0, 1)
        final = [tf.where(nonempty, f, tf.zeros_like(f)) for f in final]
    return y, final


def _transposed_weights(ctx, index, tensor):
    """W or R [D, G·H, K] as [D, K, G·H], pre-transposed once when constant."""
    import tensorflow as tf

    if ctx.static(index) is not None:
        return ctx.weight(index, lambda w: np.transpose(w, (0, 2, 1)), tag="rnn_T")
    return tf.transpose(tensor, [0, 2, 1])


def _recurrent(op_type, inputs, attrs, ctx):
    import tensorflow as tf

    x, w, r = inputs[0], inputs[1], inputs[2]
    bias, seq_lens, init_h = inputs[3], inputs[4], inputs[5]
    init_c = inputs[6] if op_type == "LSTM" else None
    peepholes = inputs[7] if op_type == "LSTM" else None
    layout = attrs.get("layout", 0)
    direction = attrs.get("direction", "forward")
    gates = _GATES[op_type]
    hidden = attrs.get("hidden_size") or int(r.shape[-1])
    num_dirs = 2 if direction == "bidirectional" else 1
    if layout == 1:  # batch-major [B, S, I] and [B, D, H]: compute time-major
        x = tf.transpose(x, [1, 0, 2])
        init_h = tf.transpose(init_h, [1, 0, 2]) if init_h is not None else None
        init_c = tf.transpose(init_c, [1, 0, 2]) if init_c is not None else None
    if seq_lens is not None:
        seq_lens = tf.cast(seq_lens, tf.int32)
    w_t = _transposed_weights(ctx, 1, w)
    r_t = _transposed_weights(ctx, 2, r)
    acts = _activations(op_type, attrs)
    clip = _clipper(attrs)
    zeros = tf.zeros(tf.stack([tf.shape(x)[1], hidden]), x.dtype)
    zeros.set_shape([x.shape[1], hidden])

    ys, finals = [], []
    for d in range(num_dirs):
        if bias is not None:
            w_b, r_b = bias[d, :gates * hidden], bias[d, gates * hidden:]
        else:
            w_b = r_b = tf.zeros([gates * hidden], x.dtype)
        lbr = op_type == "GRU" and attrs.get("linear_before_reset", 0) != 0
        if lbr:  # Rbh stays inside r ⊙ (H·Rhᵀ + Rbh); the other recurrence biases are plain additions
            in_bias = w_b + tf.concat([r_b[:2 * hidden], tf.zeros([hidden], x.dtype)], 0)
        else:
            in_bias = w_b + r_b
        xw = tf.tensordot(x, w_t[d], axes=1) + in_bias
        if op_type == "RNN":
            cell = _rnn_cell(r_t[d], acts[d], clip)
        elif op_type == "GRU":
            cell = _gru_cell(r_t[d], r_b[2 * hidden:], acts[d], clip, lbr, hidden)
        else:
            peep = None
            if peepholes is not None:
                peep = tuple(peepholes[d, k * hidden:(k + 1) * hidden] for k in range(3))
            cell = _lstm_cell(r_t[d], peep, acts[d], clip, attrs.get("input_forget", 0) != 0, hidden)
        states = [init_h[d] if init_h is not None else zeros]
        if op_type == "LSTM":
            states.append(init_c[d] if init_c is not None else zeros)
        reverse = direction == "reverse" or d == 1
        y, final = _run_direction(cell, xw, tuple(states), seq_lens, reverse)
        ys.append(y)
        finals.append(final)

    y = tf.stack(ys, axis=1)  # [S, D, B, H]
    states = [tf.stack([f[k] for f in finals], axis=0) for k in range(len(finals[0]))]  # [D, B, H] each
    if layout == 1:
        y = tf.transpose(y, [2, 0, 1, 3])  # [B, S, D, H]
        states = [tf.transpose(s, [1, 0, 2]) for s in states]  # [B, D, H]
    return [y, *states]


def _register(op_type: str) -> None:
    check = _unsupported(op_type)

    def convert(node, inputs, attrs, ctx):
        return _recurrent(op_type, inputs, attrs, ctx)

    convert.__name__ = op_type.lower()
    converter(op_type, since=7, unsupported=check)(convert)  # opset 7: no layout attribute (always 0)
    converter(op_type, since=14, unsupported=check)(convert)  # opset 14 adds layout (batch-major when 1)


for _op in _GATES:
    _register(_op)
