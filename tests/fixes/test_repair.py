import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx_graphs import run_ort

from paddle2tf.fixes.repair import repair_model


def scalar_concat_model(opset: int = 13) -> onnx.ModelProto:
    """Reshape target built as Concat(rank-0 batch size, rank-1 [-1]): the legacy-Paddle defect 6."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"], name="shape"),
             helper.make_node("Gather", ["shape", "zero"], ["batch"], name="batch_dim", axis=0),
             helper.make_node("Concat", ["batch", "minus_one"], ["target"], name="bad_concat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten")]
    graph = helper.make_graph(
        nodes, "defect6", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 12])],
        [numpy_helper.from_array(np.array(0, np.int64), "zero"),
         numpy_helper.from_array(np.array([-1], np.int64), "minus_one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def test_defective_model_is_really_invalid():
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime raises its own exception types
        run_ort(scalar_concat_model(), {"x": np.zeros((2, 3, 4), np.float32)})


@pytest.mark.parametrize("opset", [11, 13])
def test_scalar_concat_inputs_unsqueezed(opset):
    model = scalar_concat_model(opset)
    fixes = repair_model(model)
    assert [(f.pass_name, f.target) for f in fixes] == [("unsqueeze_scalar_concat_inputs", "bad_concat")]
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_ort(model, {"x": x})["y"], x.reshape(2, -1))


def test_valid_model_is_untouched():
    model = scalar_concat_model()
    repair_model(model)
    before = model.SerializeToString()
    assert repair_model(model) == []
    assert model.SerializeToString() == before
