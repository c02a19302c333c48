"""Legacy Paddle 2.x-era programs (ProgramDesc, ``.pdmodel``), built op by op in static mode.

Usage: ``python legacy_programs.py NAME PREFIX`` saves NAME as PREFIX.pdmodel / PREFIX.pdiparams and prints its
input specs as JSON (re-executes itself with ``FLAGS_enable_pir_api=0``, which the format needs).

Paddle 3.3.1 can no longer trace many layers into the legacy format (``paddle.tanh`` and friends reject a
legacy ``Variable``), so the ops such programs hold are appended with ``LayerHelper`` as Paddle 2.x did.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

SEED = 2024
DECODER_END, DECODER_MAXLEN, DECODER_THRESHOLD = 0, 20, 0.4


def decoder_weights(hidden: int = 8, vocab: int = 5) -> dict[str, np.ndarray]:
    """The clock-driven weights of paddle_models.build_greedy_decoder ([in, out] layout), seeded by numpy."""
    rng = np.random.default_rng(SEED)
    w = (rng.standard_normal((hidden, hidden)) * 0.5).astype(np.float32)
    w[0, :] = 0.0
    w[:, 0] = 0.0
    w[0, 0] = 1.0
    b = (rng.standard_normal(hidden) * 0.1).astype(np.float32)
    b[0] = 0.05
    v = (rng.standard_normal((hidden, vocab)) * 0.02).astype(np.float32)
    v[0, :] = 0.0
    v[0, DECODER_END] = 100.0
    c = np.array([-100.0 * DECODER_THRESHOLD, 0.0, -1.0, -1.0, -1.0], np.float32)
    return {"cell_w": w, "cell_b": b, "out_w": v, "out_b": c}


def _op(kind: str, inputs: dict, out_dtype=None, **attrs):
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper(kind)
    out = helper.create_variable_for_type_inference(out_dtype or next(iter(inputs.values())).dtype)
    helper.append_op(type=kind, inputs={k: [v] for k, v in inputs.items()}, outputs={"Out": [out]}, attrs=attrs)
    return out


def _matmul(x, y):
    return _op("matmul_v2", {"X": x, "Y": y}, trans_x=False, trans_y=False)


def build_greedy_decoder(prefix: str) -> list[dict]:
    """The greedy decoder in Paddle 2.x form: ``while`` (growing output), ``conditional_block`` +
    ``select_input`` (an ``if`` in the loop body: the first two steps' emitted probabilities are halved) and
    ``set_value`` (hidden unit 7 of the first state zeroed)."""
    import paddle
    import paddle.nn.functional as F
    from paddle.static.nn import control_flow

    paddle.enable_static()
    logical_not = paddle.logical_not  # paddle.static.nn.cond calls it; in legacy mode it rejects a Variable
    paddle.logical_not = lambda x: _op("logical_not", {"X": x})
    weights = decoder_weights()
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup):
        x = paddle.static.data("x", [-1, 8], "float32")
        cell_w = paddle.static.create_parameter([8, 8], "float32", name="cell_w")
        cell_b = paddle.static.create_parameter([8], "float32", name="cell_b")
        out_w = paddle.static.create_parameter([8, 5], "float32", name="out_w")
        out_b = paddle.static.create_parameter([5], "float32", name="out_b")

        def step(h):
            h = _op("tanh", {"X": _matmul(h, cell_w) + cell_b})
            return h, F.softmax(_matmul(h, out_w) + out_b)

        h, p = step(x)
        h = paddle.static.setitem(h, (slice(None), slice(7, 8)), 0.0)
        i = paddle.full([1], 0, "int64")
        maxlen = paddle.full([1], DECODER_MAXLEN, "int64")
        go = paddle.full([1], True, "bool")

        def keep_going(i, go, h, outs):
            return _op("logical_and", {"X": paddle.less_than(i, maxlen), "Y": go})

        def body(i, go, h, outs):
            h, p = step(h)
            emitted = control_flow.cond(paddle.less_than(i, paddle.full([1], 2, "int64")),
                                        lambda: p * 0.5, lambda: p)
            outs = paddle.concat([outs, paddle.unsqueeze(emitted, 1)], 1)
            token = _op("arg_max", {"X": p}, "int64", axis=-1, keepdims=False, flatten=False, dtype=3)
            done = _op("reduce_all", {"X": paddle.equal(token, paddle.full([1], DECODER_END, "int64"))},
                       reduce_all=True, dim=[0], keep_dim=False)
            return [i + 1, _op("logical_not", {"X": done}), h, outs]

        outs = paddle.unsqueeze(p, 1)
        _, _, _, outs = paddle.static.nn.while_loop(keep_going, body, [i, go, h, outs])
    paddle.logical_not = logical_not
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    scope = paddle.static.global_scope()
    for name, value in weights.items():
        scope.find_var(name).get_tensor().set(value, paddle.CPUPlace())
    paddle.static.save_inference_model(prefix, [x], [outs], exe, program=main)
    return [{"name": "x", "dtype": "float32", "shape": [None, 8]}]


PROGRAMS = {"greedy_decoder": build_greedy_decoder}

if __name__ == "__main__":
    if os.environ.get("FLAGS_enable_pir_api") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "FLAGS_enable_pir_api": "0"})
    print(json.dumps(PROGRAMS[sys.argv[1]](sys.argv[2])))
