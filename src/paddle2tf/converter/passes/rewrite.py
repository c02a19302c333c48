"""What the passes need to know about a graph: constant values, producers and consumers of values."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

from paddle2tf.onnxutil.graph import (
    FLOAT_TYPES,
    INTERNAL_DOMAIN,
    STANDARD_DOMAINS,
    constant_tensors,
    delete_positions,
    node_input_names,
)


class GraphIndex:
    """Constant values (initializers, Constant nodes) and the consumers of each value of one graph.

    Subgraph inputs count as consumers too, so a value an If/Loop body reads is never fused away.
    """

    def __init__(self, graph: onnx.GraphProto):
        self.graph = graph
        # TensorProtos, decoded on demand: a pass reads a few weights, not all of them.
        self.constants: dict[str, onnx.TensorProto] = constant_tensors(graph)
        # Nodes by position in graph.node (protobuf wrappers are not stable identities).
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        self.outputs = {o.name for o in graph.output}
        for position, node in enumerate(graph.node):
            for name in node.output:
                self.producer[name] = position
            for name in set(node_input_names(node)):
                self.consumers[name].append(position)

    def only_consumer(self, name: str) -> int | None:
        """The position of the single node reading ``name`` when nothing else (no graph output) does."""
        readers = self.consumers.get(name, [])
        if len(readers) != 1 or name in self.outputs:
            return None
        return readers[0]

    def constant(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.constants[name])

    def node(self, name: str, op_type: str) -> tuple[int, onnx.NodeProto] | tuple[None, None]:
        """(position, node) of the standard-domain ``op_type`` node producing ``name``, else (None, None)."""
        return self._standard_at(self.producer.get(name), op_type)

    def consumer(self, name: str, op_type: str) -> tuple[int, onnx.NodeProto] | tuple[None, None]:
        """(position, node) of the standard-domain ``op_type`` node that is the only reader of ``name``."""
        return self._standard_at(self.only_consumer(name), op_type)

    def _standard_at(self, position: int | None, op_type: str) -> tuple[int, onnx.NodeProto] | tuple[None, None]:
        node = self.graph.node[position] if position is not None else None
        if node is None or node.op_type != op_type or node.domain not in STANDARD_DOMAINS:
            return None, None
        return position, node

    def scalar(self, name: str) -> float | None:
        """The value of a one-element float constant (shape [] or [1]: broadcasts like a scalar), else None."""
        tensor = self.constants.get(name)
        if tensor is None or len(tensor.dims) > 1 or tensor.data_type not in FLOAT_TYPES:
            return None
        value = self.constant(name)
        return float(value.reshape(-1)[0]) if value.size == 1 else None

    def resolved(self, name: str) -> np.ndarray | None:
        """The value of ``name`` when it is a constant, possibly behind Identity and Reshape nodes (the way
        paddle2onnx feeds a LayerNorm's weights); None when it depends on anything else."""
        if name in self.constants:
            return self.constant(name)
        position = self.producer.get(name)
        node = self.graph.node[position] if position is not None else None
        if node is None or node.domain not in STANDARD_DOMAINS or node.op_type not in ("Identity", "Reshape"):
            return None
        value = self.resolved(node.input[0])
        if value is None or node.op_type == "Identity":
            return value
        shape = self.resolved(node.input[1]) if len(node.input) > 1 else None
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        if shape is None or allowzero:
            return None
        dims = [value.shape[i] if d == 0 and i < value.ndim else int(d) for i, d in enumerate(shape)]
        try:
            return value.reshape(dims)
        except ValueError:
            return None

    def add_initializer(self, name: str, value: np.ndarray) -> None:
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        self.constants[name] = self.graph.initializer[-1]

    def unique_name(self, base: str) -> str:
        taken = set(self.constants) | set(self.producer) | {i.name for i in self.graph.input}
        name, suffix = base, 1
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        return name


def any_match(model: onnx.ModelProto, match) -> bool:
    """Whether ``match(index, position, node)`` finds its pattern at some node: a per-node pass's ``find``."""
    index = GraphIndex(model.graph)
    return any(match(index, position, node) is not None for position, node in enumerate(model.graph.node))


def close_to(value: float | None, target: float, tensor: onnx.TensorProto | None) -> bool:
    """``value`` is ``target`` rounded to the constant's float type (a few ulps of slack)."""
    if value is None or tensor is None:
        return False
    eps = float(np.finfo(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).eps)
    return abs(value - target) <= 4 * eps * abs(target)


def replace_nodes(model: onnx.ModelProto, fused: dict[int, onnx.NodeProto], removed: set[int]) -> None:
    """Put each fused node at its position (the pattern's last node, after every value it reads), drop the
    other removed positions, and declare the internal domain when a fused node uses it."""
    graph = model.graph
    for position, node in fused.items():
        graph.node[position].CopyFrom(node)
    delete_positions(graph.node, removed - fused.keys())
    domains = {o.domain for o in model.opset_import}
    if INTERNAL_DOMAIN not in domains and any(n.domain == INTERNAL_DOMAIN for n in fused.values()):
        model.opset_import.append(onnx.helper.make_opsetid(INTERNAL_DOMAIN, 1))
