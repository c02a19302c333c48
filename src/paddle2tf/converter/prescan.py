"""The pre-scan: every node (and subgraph node) checked against the registry and its converter's ``unsupported``
predicate before anything is built, so ``paddle2tf check`` and ``convert`` refuse the same models."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.converter import registry
from paddle2tf.errors import UnsupportedModelError
from paddle2tf.onnxutil.graph import (
    STANDARD_DOMAINS,
    attributes,
    constant_node_value,
    declared_dims,
    graph_opsets,
    iter_graphs,
    iter_nodes,
    normalise_domain,
    without_weights,
)

# Element types TF has no usable dtype for (no Cast kernels): a graph input or output of these types
# cannot be part of the SavedModel signature. 4-bit inputs are held exactly in int8/uint8 (their
# numpy storage type), but an output would have to be packed.
UNSUPPORTED_IO_TYPES = {
    "input": {onnx.TensorProto.FLOAT8E4M3FNUZ, onnx.TensorProto.FLOAT8E5M2FNUZ},
    "output": {onnx.TensorProto.FLOAT8E4M3FNUZ, onnx.TensorProto.FLOAT8E5M2FNUZ, onnx.TensorProto.INT4,
               onnx.TensorProto.UINT4},
}


class ValueFacts:
    """What the pre-scan knows about a model's values, for checks that need more than a node's attributes.

    Element types and shapes come from the declared types completed by ONNX shape inference, which runs
    on first use only (most models never need it); constants are initializers and Constant nodes.
    """

    def __init__(self, model: onnx.ModelProto):
        self._model = model
        self._types: dict[str, onnx.TypeProto] | None = None
        self._producers: dict[str, onnx.TensorProto | onnx.NodeProto] | None = None
        self._consumed: set[str] | None = None

    def _type(self, name: str) -> onnx.TypeProto | None:
        if self._types is None:
            try:
                # data_prop: shapes computed with Shape/Gather/Concat chains become static dims too.
                model = onnx.shape_inference.infer_shapes(without_weights(self._model), data_prop=True)
            except Exception:  # the declared types are all there is
                model = self._model
            self._types = {}
            for graph in iter_graphs(model.graph):
                for value in [*graph.input, *graph.output, *graph.value_info]:
                    if value.type.WhichOneof("value"):  # subgraph outputs are often declared without a type
                        self._types[value.name] = value.type
                for init in graph.initializer:
                    self._types[init.name] = helper.make_tensor_type_proto(init.data_type, list(init.dims))
        return self._types.get(name)

    def elem_type(self, name: str) -> int:
        """The value's TensorProto element type; 0 when unknown."""
        value_type = self._type(name)
        return value_type.tensor_type.elem_type if value_type is not None and value_type.HasField(
            "tensor_type") else 0

    def shape(self, name: str) -> tuple[int | None, ...] | None:
        """The value's dims (None for a dim without a static size); None when even the rank is unknown."""
        value_type = self._type(name)
        if value_type is None or not value_type.tensor_type.HasField("shape"):
            return None
        return tuple(declared_dims(value_type.tensor_type))

    def constant(self, name: str) -> np.ndarray | None:
        """The value when it is an initializer or a Constant node's output; else None."""
        if self._producers is None:
            self._producers = {}
            for graph in iter_graphs(self._model.graph):
                self._producers.update((init.name, init) for init in graph.initializer)
                self._producers.update((node.output[0], node) for node in graph.node
                                       if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS)
        producer = self._producers.get(name)
        if isinstance(producer, onnx.TensorProto):
            return numpy_helper.to_array(producer)
        return constant_node_value(producer) if producer is not None else None

    def is_graph_input(self, name: str) -> bool:
        """Whether the value is fed at run time: an input of the model's graph that no initializer backs."""
        graph = self._model.graph
        return (any(value.name == name for value in graph.input)
                and not any(init.name == name for init in graph.initializer))

    def consumed(self, name: str) -> bool:
        """Whether a node reads the value (or a subgraph returns it to its node); False for values that
        are only outputs of the model."""
        if self._consumed is None:
            self._consumed = {used for node in iter_nodes(self._model.graph) for used in node.input}
            for graph in list(iter_graphs(self._model.graph))[1:]:
                self._consumed.update(value.name for value in graph.output)
        return name in self._consumed


@functools.cache
def _check_takes_values(check: Callable) -> bool:
    return len(inspect.signature(check).parameters) > 2


def find_unsupported(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Map 'op (reason)' -> names of nodes using it, for every node the converter cannot handle.

    Graph inputs/outputs of element types TF cannot represent are reported as 'input/output dtype X'.
    A converter's ``unsupported`` check is called as ``check(node, attrs)``, or as
    ``check(node, attrs, values)`` with the model's ``ValueFacts`` when it takes a third parameter.
    """
    opsets = graph_opsets(model)
    facts = ValueFacts(model)
    problems: dict[str, list[str]] = {}
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for value in values:
            elem_type = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else 0
            if elem_type in UNSUPPORTED_IO_TYPES[kind]:
                label = f"{kind} dtype {onnx.TensorProto.DataType.Name(elem_type)}"
                problems.setdefault(label, []).append(value.name)
    for node in iter_nodes(model.graph):
        domain = normalise_domain(node.domain)
        opset = opsets.get(domain)
        entry = registry.lookup(node.op_type, opset, domain) if opset is not None else None
        if entry is None:
            label = node.op_type if not domain else f"{domain}.{node.op_type}"
            if opset is not None and registry.lookup(node.op_type, 10**6, domain) is not None:
                label += f" (opset {opset})"
            problems.setdefault(label, []).append(node.name or f"<{node.op_type}>")
            continue
        check = entry.unsupported
        if check is None:
            reason = None
        elif _check_takes_values(check):
            reason = check(node, attributes(node), facts)
        else:
            reason = check(node, attributes(node))
        if reason:
            problems.setdefault(f"{node.op_type} ({reason})", []).append(node.name or f"<{node.op_type}>")
    return problems


def describe_unsupported(problems: Mapping[str, list[str]]) -> str:
    """``find_unsupported``'s result as one line: each op (reason) with the first nodes using it."""
    return "; ".join(f"{op}: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"
                     for op, names in sorted(problems.items()))


def check_supported(model: onnx.ModelProto) -> None:
    problems = find_unsupported(model)
    if problems:
        raise UnsupportedModelError(f"unsupported ONNX ops: {describe_unsupported(problems)}")
