import numpy as np
import pytest
from onnx import helper, numpy_helper

from helpers.onnx_graphs import assert_matches_ort, check_op, make_model, rng

I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min


def f32(*shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


# -- Reshape ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("shape", [(0, -1), (6, 4), (-1,), (2, 0, 2, 2), (0, 0, 4), (4, 3, 2)])
def test_reshape_constant_shape(shape, dynamic):
    check_op("Reshape", {"x": f32(2, 3, 4)}, initializers={"shape": i64(*shape)}, dynamic_inputs=dynamic)


def test_reshape_to_scalar():
    check_op("Reshape", {"x": f32(1, 1)}, initializers={"shape": np.zeros((0,), np.int64)})


def test_reshape_attribute_opset1():
    check_op("Reshape", {"x": f32(2, 3, 4)}, {"shape": [0, -1]}, opset=1)


def test_reshape_allowzero():
    x = np.zeros((0, 3), np.float32)
    check_op("Reshape", {"x": x}, {"allowzero": 1}, initializers={"shape": i64(3, 0)}, opset=14)
    check_op("Reshape", {"x": f32(2, 3)}, {"allowzero": 1}, initializers={"shape": i64(3, 2)}, opset=14)


@pytest.mark.parametrize("shape", [(0, -1), (-1, 0, 2), (0, 3, 2, 2), (24,)])
def test_reshape_runtime_shape(shape):
    check_op("Reshape", {"x": f32(2, 3, 4), "s": i64(*shape)}, dynamic_inputs=True)


def test_reshape_runtime_shape_allowzero():
    check_op("Reshape", {"x": np.zeros((2, 0), np.float32), "s": i64(0, 5)}, {"allowzero": 1},
             dynamic_inputs=True, opset=14)


@pytest.mark.parametrize("shape", [(0, -1), (0, 0, -1), (-1, 0), (0, 2, -1), (2, 0, -1)])
def test_reshape_dynamic_batch_only(shape):
    x = f32(2, 3, 4)
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    model = make_model([node], {"x": x}, ["y"], {"shape": i64(*shape)})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    assert_matches_ort(model, {"x": x})


def test_reshape_shape_computed_from_dynamic_batch():
    # Shape(x)[0:1] ++ [-1]: the target is only known at run time.
    x = f32(3, 2, 4)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "one"], ["b"]),
             helper.make_node("Concat", ["b", "minus1"], ["t"], axis=0),
             helper.make_node("Reshape", ["x", "t"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], {"zero": i64(0), "one": i64(1), "minus1": i64(-1)},
                       dynamic_inputs=True)
    assert assert_matches_ort(model, {"x": x})["y"].shape == (3, 8)


# -- Flatten / Transpose ------------------------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("axis", [0, 1, 2, 4, -1, -3])
def test_flatten(axis, dynamic):
    check_op("Flatten", {"x": f32(2, 3, 4, 5)}, {"axis": axis}, dynamic_inputs=dynamic)


def test_flatten_default_axis_opset9():
    check_op("Flatten", {"x": f32(2, 3, 4)}, opset=9)


@pytest.mark.parametrize("perm", [None, [0, 2, 3, 1], [3, 1, 0, 2]])
def test_transpose(perm):
    attrs = {"perm": perm} if perm else {}
    check_op("Transpose", {"x": f32(2, 3, 4, 5)}, attrs, dynamic_inputs=perm is None)


def test_transpose_int64():
    x = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    check_op("Transpose", {"x": x}, {"perm": [1, 2, 0]}, outputs={"y": np.int64})


# -- Squeeze / Unsqueeze ------------------------------------------------------------------------
@pytest.mark.parametrize("axes", [None, [0], [-1], [0, 3]])
def test_squeeze_attribute(axes):
    check_op("Squeeze", {"x": f32(1, 3, 4, 1)}, {"axes": axes} if axes else {}, opset=11)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("axes", [None, [0], [-1, 0], [2]])
def test_squeeze_input(axes, dynamic):
    inits = {"axes": i64(*axes)} if axes else {}
    check_op("Squeeze", {"x": f32(1, 3, 1, 1)}, initializers=inits, dynamic_inputs=dynamic)


def test_squeeze_runtime_axes():
    check_op("Squeeze", {"x": f32(1, 3, 1, 2), "axes": i64(-2, 0)}, dynamic_inputs=True)


@pytest.mark.parametrize("dynamic,axes,consumed,rejected", [
    (True, None, True, True),  # which dims are 1, so the rank of what Relu gets, is only known at run time
    (False, None, True, False),
    (True, [0, 2], True, False),
    (True, None, False, False),  # a model output may have an unknown rank
])
def test_squeeze_without_axes_of_unknown_shape_feeding_nodes_is_rejected(dynamic, axes, consumed, rejected):
    from paddle2tf.converter.prescan import find_unsupported

    inits = {"axes": i64(*axes)} if axes else {}
    nodes = [helper.make_node("Squeeze", ["x", *inits], ["s" if consumed else "y"], name="squeeze")]
    if consumed:
        nodes.append(helper.make_node("Relu", ["s"], ["y"]))
    model = make_model(nodes, {"x": f32(1, 3, 1, 2)}, ["y"], inits, dynamic_inputs=dynamic)
    expected = {"Squeeze (no axes on an input of unknown shape, feeding other nodes: the result's rank is only "
                "known at run time)": ["squeeze"]}
    assert find_unsupported(model) == (expected if rejected else {})
    if not rejected:
        assert_matches_ort(model, {"x": f32(1, 3, 1, 2)})


@pytest.mark.parametrize("axes", [[0], [-1], [0, 3], [1, 4]])
def test_unsqueeze_attribute(axes):
    check_op("Unsqueeze", {"x": f32(3, 4, 5)}, {"axes": axes}, opset=11)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("axes", [[0], [-1], [3, 0], [-1, 1, -5]])
def test_unsqueeze_input(axes, dynamic):
    check_op("Unsqueeze", {"x": f32(3, 4)}, initializers={"axes": i64(*axes)}, dynamic_inputs=dynamic)


def test_unsqueeze_runtime_axes():
    check_op("Unsqueeze", {"x": f32(3, 4), "axes": i64(3, -5, 1)}, dynamic_inputs=True)


def test_unsqueeze_scalar():
    check_op("Unsqueeze", {"x": np.array(2.5, np.float32)}, initializers={"axes": i64(0, 1)})


# -- Concat / Split -----------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    shapes = {0: [(1, 3, 2), (2, 3, 2), (3, 3, 2)], 1: [(2, 1, 2), (2, 2, 2), (2, 4, 2)],
              -1: [(2, 3, 1), (2, 3, 2), (2, 3, 3)]}[axis]
    inputs = {f"x{i}": f32(*s, seed=i) for i, s in enumerate(shapes)}
    check_op("Concat", inputs, {"axis": axis}, dynamic_inputs=axis == 1)


def test_concat_int64_with_empty():
    inputs = {"a": i64(1, 2), "b": np.zeros((0,), np.int64), "c": i64(3)}
    check_op("Concat", inputs, {"axis": 0}, outputs={"y": np.int64})


@pytest.mark.parametrize("attrs,n", [({"axis": 1, "split": [1, 3, 2]}, 3), ({"axis": -1}, 2), ({}, 2)])
def test_split_attribute(attrs, n):
    check_op("Split", {"x": f32(4, 6, 4)}, attrs, outputs=[f"y{i}" for i in range(n)], opset=11)


@pytest.mark.parametrize("dynamic", [False, True])
def test_split_input(dynamic):
    check_op("Split", {"x": f32(4, 6)}, {"axis": 1}, outputs=["a", "b", "c"],
             initializers={"split": i64(1, 0, 5)}, dynamic_inputs=dynamic)


def test_split_runtime_sizes():
    check_op("Split", {"x": f32(5, 3), "split": i64(2, 3)}, outputs=["a", "b"], dynamic_inputs=True)


@pytest.mark.parametrize("dynamic", [False, True])
def test_split_equal_opset13(dynamic):
    check_op("Split", {"x": f32(2, 9)}, {"axis": -1}, outputs=["a", "b", "c"], dynamic_inputs=dynamic)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("length,n", [(7, 3), (8, 4), (10, 4)])
def test_split_num_outputs(length, n, dynamic):
    check_op("Split", {"x": f32(2, length)}, {"axis": 1, "num_outputs": n}, outputs=[f"y{i}" for i in range(n)],
             opset=18, dynamic_inputs=dynamic)


# -- Slice --------------------------------------------------------------------------------------
SLICE_CASES = [
    # starts, ends, axes, steps
    ([1, 0], [2, 3], [0, 1], [1, 2]),
    ([0, 1], [-1, 1000], None, None),
    ([-3], [I64_MAX], [1], None),
    ([I64_MIN], [I64_MAX], [-1], None),
    ([-1], [I64_MIN], [2], [-1]),
    ([I64_MAX], [I64_MIN], [1], [-2]),
    ([-100], [I64_MIN], [1], [-1]),           # start below -dim with a negative step -> index 0
    ([4, -2], [0, -100], [1, 2], [-1, -3]),
    ([2, 10], [1, 20], [0, 1], [1, 1]),        # empty results
    ([0], [-1], [2], [1]),
    ([5, 3], [-7, -6], [2, 1], [-2, -1]),
]


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("starts,ends,axes,steps", SLICE_CASES)
def test_slice_constant_inputs(starts, ends, axes, steps, dynamic):
    inits = {"starts": i64(*starts), "ends": i64(*ends)}
    names = ["x", "starts", "ends"]
    if axes is not None:
        inits["axes"] = i64(*axes)
        names.append("axes")
    if steps is not None:
        if axes is None:
            names.append("")
        inits["steps"] = i64(*steps)
        names.append("steps")
    x = f32(3, 5, 6)
    check_op("Slice", {"x": x}, initializers=inits, input_names=names, dynamic_inputs=dynamic)


@pytest.mark.parametrize("starts,ends,axes,steps", SLICE_CASES)
def test_slice_runtime_starts_ends(starts, ends, axes, steps):
    inputs = {"x": f32(3, 5, 6), "starts": i64(*starts), "ends": i64(*ends)}
    inits, names = {}, ["x", "starts", "ends"]
    if axes is not None:
        inits["axes"] = i64(*axes)
        names.append("axes")
    if steps is not None:
        if axes is None:
            names.append("")
        inits["steps"] = i64(*steps)
        names.append("steps")
    check_op("Slice", inputs, initializers=inits, input_names=names, dynamic_inputs=True)


def test_slice_runtime_axes():
    inputs = {"x": f32(3, 5, 6), "axes": i64(-1, 0)}
    check_op("Slice", inputs, initializers={"starts": i64(-2, 1), "ends": i64(I64_MIN, 3)},
             input_names=["x", "starts", "ends", "axes"], dynamic_inputs=True)
    check_op("Slice", {"x": f32(3, 5, 6), "axes": i64(-1, 0)},
             initializers={"starts": i64(-2, 1), "ends": i64(I64_MIN, 3), "steps": i64(-1, 1)},
             input_names=["x", "starts", "ends", "axes", "steps"])


def test_slice_runtime_steps_int32():
    inputs = {"x": f32(4, 7), "starts": np.array([-1, 1], np.int32), "ends": np.array([-9, 6], np.int32),
              "axes": np.array([0, 1], np.int32), "steps": np.array([-1, 2], np.int32)}
    check_op("Slice", inputs, dynamic_inputs=True)


@pytest.mark.parametrize("attrs", [{"starts": [1, 0], "ends": [2, 3], "axes": [0, 1]},
                                   {"starts": [0, -3], "ends": [-1, 1000]},
                                   {"starts": [-2], "ends": [I64_MAX], "axes": [2]}])
def test_slice_attribute_opset9(attrs):
    check_op("Slice", {"x": f32(3, 5, 6)}, attrs, opset=9)


def test_slice_int64_data():
    x = np.arange(20, dtype=np.int64).reshape(4, 5)
    check_op("Slice", {"x": x}, outputs={"y": np.int64},
             initializers={"starts": i64(-1), "ends": i64(I64_MIN), "axes": i64(1), "steps": i64(-2)})


# -- Expand / Tile ------------------------------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("xshape,shape", [((3, 1), (2, 3, 4)), ((2, 3, 4), (1, 4)), ((1, 4), (3, 1)),
                                          ((2, 1, 5), (1, 3, 1)), ((3,), ())])
def test_expand(xshape, shape, dynamic):
    check_op("Expand", {"x": f32(*xshape)}, initializers={"shape": np.array(shape, np.int64).reshape(-1)},
             dynamic_inputs=dynamic)


def test_expand_dynamic_batch_only():
    x = f32(2, 1, 4)
    node = helper.make_node("Expand", ["x", "shape"], ["y"])
    model = make_model([node], {"x": x}, ["y"], {"shape": i64(5, 1, 3, 1)})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    assert assert_matches_ort(model, {"x": x})["y"].shape == (5, 2, 3, 4)


def test_expand_runtime_shape_int64():
    x = np.arange(3, dtype=np.int64).reshape(3, 1)
    check_op("Expand", {"x": x, "shape": i64(2, 1, 4)}, outputs={"y": np.int64}, dynamic_inputs=True)


@pytest.mark.parametrize("dynamic", [False, True])
def test_tile(dynamic):
    check_op("Tile", {"x": f32(2, 3)}, initializers={"repeats": i64(3, 2)}, dynamic_inputs=dynamic)


def test_tile_runtime_repeats():
    check_op("Tile", {"x": f32(2, 1, 3), "repeats": i64(1, 4, 2)}, dynamic_inputs=True)


# -- Pad ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_attribute_opset10(mode):
    attrs = {"mode": mode, "pads": [0, 2, 1, 1, 1, 0]}
    if mode == "constant":
        attrs["value"] = 1.5
    check_op("Pad", {"x": f32(2, 4, 3)}, attrs, opset=10)


PAD_CASES = [[0, 2, 1, 1, 1, 0], [1, 0, 0, 0, 2, 3], [0, 0, 0, 0, 0, 0], [0, -1, 2, 1, 0, -1],
             [-1, 1, -2, 0, 0, 0]]


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", PAD_CASES)
def test_pad_inputs(mode, pads, dynamic):
    check_op("Pad", {"x": f32(3, 4, 5)}, {"mode": mode}, initializers={"pads": i64(*pads)}, dynamic_inputs=dynamic)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", PAD_CASES)
def test_pad_runtime_pads(mode, pads):
    check_op("Pad", {"x": f32(3, 4, 5), "pads": i64(*pads)}, {"mode": mode}, dynamic_inputs=True)


def test_pad_constant_value():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    check_op("Pad", {"x": x}, initializers={"pads": i64(1, 0, 0, 2), "value": np.array(-7, np.int64)},
             outputs={"y": np.int64})
    check_op("Pad", {"x": f32(3, 4), "value": np.array(2.5, np.float32)}, initializers={"pads": i64(1, 1, 2, 0)},
             input_names=["x", "pads", "value"], dynamic_inputs=True)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("axes", [[1], [-1, 0]])
def test_pad_axes_opset18(mode, axes):
    pads = {1: [1, 2], 2: [2, 0, 1, 1]}[len(axes)]
    check_op("Pad", {"x": f32(3, 4, 5)}, {"mode": mode},
             initializers={"pads": i64(*pads), "value": np.array(0.5, np.float32), "axes": i64(*axes)},
             input_names=["x", "pads", "value" if mode == "constant" else "", "axes"], opset=18)


@pytest.mark.parametrize("mode", ["constant", "edge"])
def test_pad_runtime_axes_opset18(mode):
    check_op("Pad", {"x": f32(3, 4, 5), "pads": i64(2, 0, 1, 1), "axes": i64(-1, 0)}, {"mode": mode},
             input_names=["x", "pads", "", "axes"], opset=18, dynamic_inputs=True)


@pytest.mark.parametrize("dynamic", [False, True])
def test_pad_wrap_opset19(dynamic):
    check_op("Pad", {"x": f32(3, 2)}, {"mode": "wrap"}, initializers={"pads": i64(2, 1, 1, 1)},
             opset=19, dynamic_inputs=dynamic)


# -- ConstantOfShape / Range / Size -------------------------------------------------------------
def test_constant_of_shape_default_value():
    check_op("ConstantOfShape", {"s": i64(2, 3)}, dynamic_inputs=True)


def test_constant_of_shape_int64_value_constant_shape():
    value = numpy_helper.from_array(np.array([7], np.int64), "value")
    check_op("ConstantOfShape", {}, {"value": value}, initializers={"s": i64(3, 1, 2)},
             outputs={"y": np.int64})


def test_constant_of_shape_scalar_and_empty():
    value = numpy_helper.from_array(np.array([1.25], np.float32), "value")
    check_op("ConstantOfShape", {"s": np.zeros((0,), np.int64)}, {"value": value}, dynamic_inputs=True)
    check_op("ConstantOfShape", {"s": i64(2, 0)}, {"value": value}, dynamic_inputs=True)


@pytest.mark.parametrize("dtype,values", [(np.int64, (3, 9, 3)), (np.int64, (10, 4, -2)), (np.int32, (0, 0, 1)),
                                          (np.float32, (1.0, 2.3, 0.25)), (np.float32, (5.0, -1.0, -1.5))])
def test_range(dtype, values):
    inputs = {n: np.array(v, dtype) for n, v in zip(("start", "limit", "delta"), values, strict=True)}
    check_op("Range", inputs, outputs={"y": dtype}, opset=11)


def test_range_constant():
    check_op("Range", {}, initializers={"a": np.array(2, np.int64), "b": np.array(11, np.int64),
                                        "c": np.array(4, np.int64)}, outputs={"y": np.int64})


@pytest.mark.parametrize("dynamic", [False, True])
def test_size(dynamic):
    check_op("Size", {"x": f32(2, 3, 4)}, outputs={"y": np.int64}, dynamic_inputs=dynamic)


# -- DepthToSpace / SpaceToDepth / Trilu --------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode, dynamic):
    check_op("DepthToSpace", {"x": f32(2, 8, 3, 4)}, {"blocksize": 2, "mode": mode}, dynamic_inputs=dynamic)


def test_depth_to_space_opset1_blocksize3():
    check_op("DepthToSpace", {"x": f32(1, 18, 2, 3)}, {"blocksize": 3}, opset=1)


@pytest.mark.parametrize("dynamic", [False, True])
def test_space_to_depth(dynamic):
    check_op("SpaceToDepth", {"x": f32(2, 3, 4, 6)}, {"blocksize": 2}, dynamic_inputs=dynamic)


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 2, -1, -7, 9])
def test_trilu(upper, k):
    inits = {} if k is None else {"k": np.array(k, np.int64)}
    check_op("Trilu", {"x": f32(2, 4, 5)}, {"upper": upper}, initializers=inits, opset=14, dynamic_inputs=k == 2)


def test_trilu_runtime_k_int64_data():
    x = np.arange(1, 13, dtype=np.int64).reshape(3, 4)
    check_op("Trilu", {"x": x, "k": np.array(1, np.int64)}, {"upper": 0}, outputs={"y": np.int64}, opset=14,
             dynamic_inputs=True)
