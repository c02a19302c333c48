import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from paddle2tf.frontend.fixes.repair import repair_model

from helpers.onnx_graphs import constant_dtype_model, run_ort, sloppy_model


def scalar_concat_model(opset: int = 13, all_scalar: bool = False) -> onnx.ModelProto:
    """Reshape target built as Concat(rank-0 batch size, rank-1 [-1]): the legacy-Paddle defect 6. ``all_scalar``:
    Concat(rank-0 batch size, rank-0 12), as paddle2onnx joins Paddle's 0-d size tensors."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"], name="shape"),
             helper.make_node("Gather", ["shape", "zero"], ["batch"], name="batch_dim", axis=0),
             helper.make_node("Concat", ["batch", "twelve" if all_scalar else "minus_one"], ["target"],
                              name="bad_concat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten")]
    graph = helper.make_graph(
        nodes, "defect6", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 12])],
        [numpy_helper.from_array(np.array(0, np.int64), "zero"),
         numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
         numpy_helper.from_array(np.array(12, np.int64), "twelve")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("all_scalar", [False, True])
def test_defective_model_is_really_invalid_for_ort(all_scalar):
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime raises its own exception types
        run_ort(scalar_concat_model(all_scalar=all_scalar), {"x": np.zeros((2, 3, 4), np.float32)})


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("all_scalar", [False, True])
def test_scalar_concat_inputs_unsqueezed(opset, all_scalar):
    model = scalar_concat_model(opset, all_scalar)
    fixes = repair_model(model)
    unsqueezed = 2 if all_scalar else 1  # (one record per input)
    assert [(f.pass_name, f.target) for f in fixes] == [("unsqueeze_scalar_concat_inputs", "bad_concat")] * unsqueezed
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_ort(model, {"x": x})["y"], x.reshape(2, -1))


def test_valid_model_is_untouched():
    model = scalar_concat_model()
    repair_model(model)
    before = model.SerializeToString()
    assert repair_model(model) == []
    assert model.SerializeToString() == before


def stacked_lstm_model(defective: bool) -> onnx.ModelProto:
    """Two bidirectional LSTM layers; Y_h declared [4, N, H] as Paddle returns it.

    The defective form wires the output to the last layer's Y_h only (paddle2onnx 2.1.0, defect 5);
    the reference form concatenates both layers' Y_h explicitly."""
    rng = np.random.default_rng(1)
    hidden, inputs = 3, 2
    inits = {}
    for layer, size in ((0, inputs), (1, 2 * hidden)):
        inits[f"W{layer}"] = rng.standard_normal((2, 4 * hidden, size)).astype(np.float32) * 0.5
        inits[f"R{layer}"] = rng.standard_normal((2, 4 * hidden, hidden)).astype(np.float32) * 0.5
    inits["shape"] = np.array([0, 0, -1], np.int64)
    nodes = [
        helper.make_node("LSTM", ["x", "W0", "R0"], ["y0", "h0"], hidden_size=hidden, direction="bidirectional",
                         name="lstm0"),
        helper.make_node("Transpose", ["y0"], ["y0t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["y0t", "shape"], ["x1"]),
        helper.make_node("LSTM", ["x1", "W1", "R1"], ["y1", "h1"], hidden_size=hidden, direction="bidirectional",
                         name="lstm1"),
    ]
    if defective:
        nodes.append(helper.make_node("Identity", ["h1"], ["final_h"]))
    else:
        nodes.append(helper.make_node("Concat", ["h0", "h1"], ["final_h"], axis=0))
    graph = helper.make_graph(
        nodes, "stacked", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["t", "n", inputs])],
        [helper.make_tensor_value_info("final_h", onnx.TensorProto.FLOAT, [4, "n", hidden])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_stacked_rnn_final_states_concatenated():
    x = np.random.default_rng(2).standard_normal((5, 2, 2)).astype(np.float32)
    defective = stacked_lstm_model(defective=True)
    assert run_ort(defective, {"x": x})["final_h"].shape == (2, 2, 3)  # the defect, as ONNX Runtime runs it
    fixes = repair_model(defective)
    assert [(f.pass_name, f.target) for f in fixes] == [("concat_stacked_rnn_final_states", "final_h")]
    onnx.checker.check_model(defective, full_check=True)
    expected = run_ort(stacked_lstm_model(defective=False), {"x": x})["final_h"]
    np.testing.assert_allclose(run_ort(defective, {"x": x})["final_h"], expected, rtol=1e-6, atol=1e-6)
    assert repair_model(stacked_lstm_model(defective=False)) == []


# -- drop_contradicting_shapes: declared shapes that contradict inference (issue #15) ----------------------

def test_sloppy_model_is_refused_by_the_checker_and_run_by_onnxruntime():
    model = sloppy_model()
    with pytest.raises(Exception, match="differ in rank"):  # noqa: B017 - onnx raises InferenceError here
        onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    assert run_ort(model, {"x": x})["y"].shape == (1,)  # ONNX Runtime ignores the declared rank 0


def test_contradicting_shapes_dropped():
    model = sloppy_model()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    before = run_ort(model, {"x": x})
    fixes = repair_model(model)
    changed = {f.target: f.change for f in fixes if f.pass_name == "drop_contradicting_shapes"}
    assert set(changed) == {"total", "flat", "doubled", "negated", "y", "z"}, changed
    assert changed["y"] == "output computed [1] reshaped to its declared []"
    assert changed["z"] == "output declared [n, 3] now [n, ?] (inferred [n, 4])"
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    after = run_ort(model, {"x": x})
    assert after["y"].shape == ()  # the declared (Paddle's) shape, the same value
    np.testing.assert_array_equal(after["y"], before["y"].reshape(()))
    np.testing.assert_array_equal(after["z"], before["z"])
    assert repair_model(model) == []  # idempotent


def test_constant_dtype_annotation_dropped():
    """A value_info stating another element type than its node computes is an annotation only (ONNX Runtime runs
    the file): removed, the result is ONNX Runtime's on the original."""
    model = constant_dtype_model()
    with pytest.raises(Exception, match="elem type"):  # noqa: B017 - onnx raises InferenceError here
        onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    before = run_ort(model, {"x": x})["y"]
    fixes = repair_model(model)
    assert [(f.target, f.change) for f in fixes] == [
        ("half", "graph value_info of type float removed (its node computes double)")]
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(run_ort(model, {"x": x})["y"], before)


def test_type_error_is_not_repaired():
    """A graph output declared int64 whose node computes float is a genuine type error: left to the check."""
    model = sloppy_model(type_error=True)
    repair_model(model)
    assert next(o for o in model.graph.output if o.name == "z").type.tensor_type.elem_type == onnx.TensorProto.INT64
    with pytest.raises(Exception, match="type"):  # noqa: B017 - onnx raises InferenceError here
        onnx.checker.check_model(model, full_check=True)


def shape_element_squeeze_model(opset: int) -> onnx.ModelProto:
    """What paddle2onnx's yolo_box mapper writes: the width of x, a Squeeze without axes of one element of x's
    Shape (Split with Constant sizes, Cast to float), feeding a Range: grid x-coordinates 0..W-1."""
    split_sizes = helper.make_tensor("sizes", onnx.TensorProto.INT64, [4], [1, 1, 1, 1])
    split = (helper.make_node("Split", ["shape", "sizes"], ["n", "c", "h", "w"], name="split", axis=0)
             if opset >= 13 else helper.make_node("Split", ["shape"], ["n", "c", "h", "w"], name="split", axis=0,
                                                  split=[1, 1, 1, 1]))
    nodes = [helper.make_node("Shape", ["x"], ["shape"], name="shape"),
             helper.make_node("Constant", [], ["sizes"], name="sizes", value=split_sizes), split,
             helper.make_node("Cast", ["w"], ["w_float"], name="cast", to=onnx.TensorProto.FLOAT),
             helper.make_node("Squeeze", ["w_float"], ["width"], name="squeeze_w"),
             helper.make_node("Range", ["zero", "width", "one"], ["grid"], name="range")]
    graph = helper.make_graph(
        nodes, "yolo_box_grid", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("grid", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0, np.float32), "zero"), numpy_helper.from_array(np.array(1, np.float32),
                                                                                           "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("opset", [11, 13])
def test_shape_element_squeeze_gets_axis_0(opset):
    """Reference: ONNX Runtime on the model as paddle2onnx wrote it (it runs; only the rank is not static)."""
    x = np.zeros((1, 3, 5, 7), np.float32)
    expected = run_ort(shape_element_squeeze_model(opset), {"x": x})["grid"]
    model = shape_element_squeeze_model(opset)
    fixes = repair_model(model)
    assert [(f.pass_name, f.target) for f in fixes] == [("squeeze_shape_elements_on_axis_0", "squeeze_w")]
    inferred = onnx.shape_inference.infer_shapes(model)
    width = next(v for v in inferred.graph.value_info if v.name == "width")
    assert len(width.type.tensor_type.shape.dim) == 0  # a scalar, known statically now
    np.testing.assert_array_equal(run_ort(model, {"x": x})["grid"], expected)
    np.testing.assert_array_equal(expected, np.arange(7, dtype=np.float32))


def test_squeeze_of_other_values_is_left_alone():
    model = shape_element_squeeze_model(13)
    model.graph.node[2].input[1] = "other_sizes"  # a split of sizes not known: the element's shape is not [1]
    assert [f for f in repair_model(model) if f.pass_name == "squeeze_shape_elements_on_axis_0"] == []


def deform_conv_model(offset_group: int | None) -> onnx.ModelProto:
    """DeformConv (opset 19) with 2 offset groups, as paddle2onnx writes it (offset_group None: not written)."""
    rng = np.random.default_rng(0)
    attrs = {"group": 2, "pads": [1, 1, 1, 1], **({"offset_group": offset_group} if offset_group else {})}
    nodes = [helper.make_node("Conv", ["x", "offset_w"], ["offset"], name="offset_conv", pads=[1, 1, 1, 1]),
             helper.make_node("DeformConv", ["x", "w", "offset"], ["y"], name="deform", **attrs)]
    graph = helper.make_graph(
        nodes, "deform", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 4, 6, 6])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((2 * 2 * 9, 4, 3, 3)).astype(np.float32) * 0.3, "offset_w"),
         numpy_helper.from_array(rng.standard_normal((6, 2, 3, 3)).astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model


def test_deform_conv_offset_group_from_the_offset_channels():
    """Reference: ONNX Runtime on the same DeformConv written with offset_group=2 (ORT refuses the model
    paddle2onnx writes)."""
    x = np.random.default_rng(1).standard_normal((2, 4, 6, 6)).astype(np.float32)
    with pytest.raises(Exception, match="offset_group"):  # noqa: B017 - onnxruntime raises its own exception types
        run_ort(deform_conv_model(None), {"x": x})
    model = deform_conv_model(None)
    fixes = repair_model(model)
    assert [(f.pass_name, f.target) for f in fixes] == [("deform_conv_offset_group", "deform")]
    np.testing.assert_allclose(run_ort(model, {"x": x})["y"], run_ort(deform_conv_model(2), {"x": x})["y"],
                               rtol=0, atol=0)
    assert repair_model(deform_conv_model(2)) == []  # an offset_group written is left alone


def test_nodes_out_of_order_are_sorted():
    """A shipped ONNX listed nodes before their producers: the checker refuses it, ONNX Runtime sorts it itself."""
    w = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    nodes = [helper.make_node("Relu", ["h"], ["y"], name="relu"),  # reads h, made two nodes later
             helper.make_node("Neg", ["x"], ["n"], name="neg"),
             helper.make_node("MatMul", ["n", "w"], ["h"], name="matmul"),
             helper.make_node("Sigmoid", ["x"], ["z"], name="sigmoid")]
    graph = helper.make_graph(nodes, "unsorted", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 4]),
                               helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [2, 4])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with pytest.raises(onnx.checker.ValidationError, match="topologically sorted"):
        onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    expected = run_ort(model, {"x": x})
    fixes = repair_model(model)
    assert [(f.pass_name, f.change) for f in fixes] == [
        ("sort_nodes_topologically", "3 of 4 nodes moved after the producers of their inputs")]
    assert [n.name for n in model.graph.node] == ["neg", "matmul", "relu", "sigmoid"]
    onnx.checker.check_model(model, full_check=True)
    for name, value in run_ort(model, {"x": x}).items():
        np.testing.assert_array_equal(value, expected[name])


def bool_where_model(in_loop: bool) -> onnx.ModelProto:
    """Where(c, x, y) on bool x, y with three-way broadcasting; ``in_loop``: inside a Loop body run twice (where
    paddle2onnx puts a legacy select_input of bools), the result an output of the body's scan."""
    B = onnx.TensorProto.BOOL
    where = helper.make_node("Where", ["c", "x", "y"], ["z"], name="select_bool")
    inputs = [helper.make_tensor_value_info("c", B, [2, 1, 3]), helper.make_tensor_value_info("x", B, [1, 4, 3]),
              helper.make_tensor_value_info("y", B, [2, 4, 1])]
    if not in_loop:
        graph = helper.make_graph([where], "bool_where", inputs, [helper.make_tensor_value_info("z", B, [2, 4, 3])])
    else:
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]), where],
            "body", [helper.make_tensor_value_info("i", onnx.TensorProto.INT64, []),
                     helper.make_tensor_value_info("cond_in", B, [])],
            [helper.make_tensor_value_info("cond_out", B, []), helper.make_tensor_value_info("z", B, [2, 4, 3])])
        loop = helper.make_node("Loop", ["trips", ""], ["zs"], name="loop", body=body)
        graph = helper.make_graph([loop], "bool_where_loop", inputs,
                                  [helper.make_tensor_value_info("zs", B, [2, 2, 4, 3])],
                                  [numpy_helper.from_array(np.array(2, np.int64), "trips")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("in_loop", [False, True])
def test_bool_where_rewritten_as_logic(in_loop):
    """ONNX Runtime has no bool Where kernel (SLANet-plus's decoder could not be checked); the rewrite must give
    numpy's where for every element, broadcasting included."""
    rng = np.random.default_rng(0)
    feeds = {"c": rng.random((2, 1, 3)) < 0.5, "x": rng.random((1, 4, 3)) < 0.5, "y": rng.random((2, 4, 1)) < 0.5}
    model = bool_where_model(in_loop)
    with pytest.raises(Exception, match="implementation for Where"):  # noqa: B017 - onnxruntime's own types
        run_ort(model, feeds)
    fixes = repair_model(model)
    assert [(f.pass_name, f.target) for f in fixes] == [("bool_where_as_logic", "select_bool")]
    onnx.checker.check_model(model, full_check=True)
    expected = np.where(feeds["c"], feeds["x"], feeds["y"])
    got = run_ort(model, feeds)["zs" if in_loop else "z"]
    np.testing.assert_array_equal(got, np.stack([expected] * 2) if in_loop else expected)


def test_float_where_is_left_alone():
    model = bool_where_model(False)
    for value in [*model.graph.input[1:], model.graph.output[0]]:
        value.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    assert repair_model(model) == []


def test_dims_declared_minus_one_become_unknown():
    """An opset-10 paddle2onnx recogniser declares its dynamic dims as -1: ONNX Runtime runs it, the checker's
    shape inference takes -1 literally and refuses it (pp-ocr 1.3's pprec_v2.onnx: exit 2 -> pass, 3.9e-6)."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten")], "minus_one",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [-1, 3, -1, -1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [-1, -1, -1])],
        [numpy_helper.from_array(np.array([0, 0, -1], np.int64), "target")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)])
    model.ir_version = 5
    with pytest.raises(Exception, match="differ in dimension"):  # noqa: B017 - onnx raises InferenceError here
        onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    expected = run_ort(model, {"x": x})["y"]
    fixes = repair_model(model)
    assert [(f.pass_name, f.target, f.change) for f in fixes] == [
        ("negative_dims_as_unknown", "x", "dim(s) 0, 2, 3 declared -1 made unknown"),
        ("negative_dims_as_unknown", "y", "dim(s) 0, 1, 2 declared -1 made unknown")]
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(run_ort(model, {"x": x})["y"], expected)
    assert expected.shape == (2, 3, 20)
