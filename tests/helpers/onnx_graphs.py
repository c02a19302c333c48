"""Build small ONNX graphs and compare the converter with ONNX Runtime (the independent reference)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-5


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Mapping[str, np.ndarray | tuple],
               outputs: Sequence[str] | Mapping[str, np.dtype], initializers: Mapping[str, np.ndarray] = (),
               opset: int = 13, dynamic_inputs: bool = False) -> onnx.ModelProto:
    """A model from nodes. ``inputs`` maps names to example arrays or (dtype, shape) tuples.

    Output dtypes default to float32; pass a mapping to give others. ``dynamic_inputs`` declares every
    input dimension as symbolic, so converters are also exercised without static shapes.
    """
    input_infos = []
    for name, spec in inputs.items():
        dtype, shape = (spec.dtype, spec.shape) if isinstance(spec, np.ndarray) else spec
        dims = [f"{name}_d{i}" for i in range(len(shape))] if dynamic_inputs else list(shape)
        input_infos.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                                         dims))
    if not isinstance(outputs, Mapping):
        outputs = {name: np.float32 for name in outputs}
    output_infos = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), None)
                    for name, dtype in outputs.items()]
    inits = [numpy_helper.from_array(np.asarray(value), name) for name, value in dict(initializers).items()]
    graph = helper.make_graph(list(nodes), "test_graph", input_infos, output_infos, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 8)  # onnxruntime accepts IR <= 10; keep it conservative
    return model


def run_ort(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, dict(feeds)), strict=True))


def run_converted(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    from paddle2tf.converter.module import ConvertedModule

    return ConvertedModule(model)(dict(feeds))


def assert_matches_ort(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], rtol: float = DEFAULT_RTOL,
                       atol: float = DEFAULT_ATOL) -> dict[str, np.ndarray]:
    """Converted model vs ONNX Runtime: same dtypes, shapes and values within tolerance."""
    expected = run_ort(model, feeds)
    actual = run_converted(model, feeds)
    assert set(actual) == set(expected)
    for name, want in expected.items():
        got = actual[name]
        assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
    return actual


def check_op(op_type: str, inputs: Mapping[str, np.ndarray], attrs: Mapping | None = None,
             outputs: Sequence[str] | Mapping[str, np.dtype] = ("y",), initializers: Mapping[str, np.ndarray] = (),
             opset: int = 13, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
             input_names: Sequence[str] | None = None, dynamic_inputs: bool = False) -> dict[str, np.ndarray]:
    """One-node graph: feeds are ``inputs``; ``initializers`` become constant inputs (after the feeds,
    unless ``input_names`` gives the node's input order, with "" for an absent optional input)."""
    names = list(input_names) if input_names is not None else [*inputs, *dict(initializers)]
    out_names = list(outputs) if not isinstance(outputs, Mapping) else list(outputs.keys())
    node = helper.make_node(op_type, names, out_names, name=f"{op_type.lower()}_node", **dict(attrs or {}))
    model = make_model([node], inputs, outputs, initializers, opset, dynamic_inputs)
    return assert_matches_ort(model, inputs, rtol=rtol, atol=atol)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def sloppy_model(type_error: bool = False) -> onnx.ModelProto:
    """What paddle2onnx writes for Paddle's 0-d results, by hand: ReduceSum(keepdims=0) of [N, 4] over axis 1
    reshaped to [N] then summed to [1] (computed rank 1) but declared rank 0 in value_info, in an If branch's
    output and at the graph output; a second output declared [N, 3] computed [N, 4]; and a value_info declared
    [N, 1] where inference computes rank 1. ``type_error``: the graph output ``z`` declared int64 (its node computes
    float) as well."""
    one = numpy_helper.from_array(np.array([1], np.int64), "one")
    minus_one = numpy_helper.from_array(np.array([-1], np.int64), "minus_one")
    zero = numpy_helper.from_array(np.array([0], np.int64), "zero")
    then_graph = helper.make_graph(
        [helper.make_node("Mul", ["total", "two"], ["doubled"], name="then_mul")], "then", [],
        [helper.make_tensor_value_info("doubled", onnx.TensorProto.FLOAT, [])])  # computed [1]
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["total"], ["negated"], name="else_neg")], "else", [],
        [helper.make_tensor_value_info("negated", onnx.TensorProto.FLOAT, [])])
    nodes = [helper.make_node("ReduceSum", ["x", "one"], ["rows"], keepdims=0, name="rows_sum"),
             helper.make_node("Reshape", ["rows", "minus_one"], ["flat"], name="flat"),
             helper.make_node("ReduceSum", ["flat", "zero"], ["total"], keepdims=1, name="total_sum"),
             helper.make_node("Greater", ["total", "zero_f"], ["positive"], name="positive"),
             helper.make_node("If", ["positive"], ["branch"], then_branch=then_graph, else_branch=else_graph,
                              name="branch_if"),
             helper.make_node("Sigmoid", ["branch"], ["y"], name="sigmoid"),
             helper.make_node("Relu", ["x"], ["z"], name="relu")]
    value_info = [helper.make_tensor_value_info("total", onnx.TensorProto.FLOAT, []),
                  helper.make_tensor_value_info("flat", onnx.TensorProto.FLOAT, ["n", 1])]
    graph = helper.make_graph(
        nodes, "sloppy", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, []),
         helper.make_tensor_value_info("z", onnx.TensorProto.INT64 if type_error else onnx.TensorProto.FLOAT,
                                       ["n", 3])],
        [one, minus_one, zero, numpy_helper.from_array(np.array(2.0, np.float32), "two"),
         numpy_helper.from_array(np.array(0.0, np.float32), "zero_f")], value_info=value_info)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def constant_dtype_model() -> onnx.ModelProto:
    """x + Cast(Constant float64 0.5): the Constant's value declared float in value_info. The checker's inference
    refuses it ("Inferred elem type differs from existing elem type"); ONNX Runtime runs it."""
    nodes = [helper.make_node("Constant", [], ["half"], name="half",
                              value=numpy_helper.from_array(np.array([0.5], np.float64))),
             helper.make_node("Cast", ["half"], ["half_f"], to=onnx.TensorProto.FLOAT, name="half_cast"),
             helper.make_node("Add", ["x", "half_f"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "constant_dtype", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                                      ["n", 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 4])],
                              value_info=[helper.make_tensor_value_info("half", onnx.TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model
