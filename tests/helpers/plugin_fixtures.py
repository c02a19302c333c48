"""A plugin overriding a standard converter (fault injection) and the small two-Conv model it targets."""

from __future__ import annotations

import textwrap

import numpy as np
import onnx
from onnx import helper, numpy_helper

CONV_FAULT = textwrap.dedent("""\
    \"\"\"Fault injection: paddle2tf's own Conv converter, with the output of node TARGET scaled by 1 %.\"\"\"
    from paddle2tf.converter import registry

    TARGET = "conv_a"


    def _scaled(y):
        if hasattr(y, "tensor"):  # a result kept channels-last (paddle2tf.converter.context.ChannelsLast)
            return type(y)(y.tensor * 1.01)
        return y * 1.01


    def _perturbed(fn):
        def conv(node, inputs, attrs, ctx):
            y = fn(node, inputs, attrs, ctx)
            return _scaled(y) if node.name == TARGET else y

        return conv


    for entry in registry.all_converters()[("", "Conv")]:
        registry.converter("Conv", since=entry.since, unsupported=entry.unsupported,
                           foldable=entry.foldable)(_perturbed(entry.fn))
    """)


def conv_onnx(path) -> str:
    """x (N, 3, 8, 8) → Conv conv_a → Relu → Conv conv_b → Relu → GlobalAveragePool → Flatten."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "wa", "ba"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["ra"], name="relu_a"),
             helper.make_node("Conv", ["ra", "wb", "bb"], ["b"], name="conv_b", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["b"], ["rb"], name="relu_b"),
             helper.make_node("GlobalAveragePool", ["rb"], ["pool"], name="pool"),
             helper.make_node("Flatten", ["pool"], ["y"], name="flatten")]
    weights = {"wa": (4, 3, 3, 3), "ba": (4,), "wb": (6, 4, 3, 3), "bb": (6,)}
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 6])],
        [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
         for name, shape in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)
