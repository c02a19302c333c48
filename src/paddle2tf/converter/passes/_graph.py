"""What the passes need to know about a graph: constant values, producers and consumers of values."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

from paddle2tf.converter.graph import node_input_names


class GraphIndex:
    """Constant values (initializers, Constant nodes) and the consumers of each value of one graph.

    Subgraph inputs count as consumers too, so a value an If/Loop body reads is never fused away.
    """

    def __init__(self, graph: onnx.GraphProto):
        self.graph = graph
        # TensorProtos, decoded on demand: a pass reads a few weights, not all of them.
        self.constants: dict[str, onnx.TensorProto] = {init.name: init for init in graph.initializer}
        # Nodes by position in graph.node (protobuf wrappers are not stable identities).
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        self.outputs = {o.name for o in graph.output}
        for position, node in enumerate(graph.node):
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                value = next((a for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self.constants[node.output[0]] = value.t
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

    def add_initializer(self, name: str, value: np.ndarray) -> None:
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        self.constants[name] = self.graph.initializer[-1]

    def unique_name(self, base: str) -> str:
        taken = set(self.constants) | set(self.producer) | {i.name for i in self.graph.input}
        name, suffix = base, 1
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        return name


def remove_unused_constants(graph: onnx.GraphProto) -> None:
    """Drop Constant nodes and initializers nothing reads any more (a folded weight's old copy)."""
    read = {o.name for o in graph.output} | {i.name for i in graph.input}  # an initializer may be an input
    for node in graph.node:
        read.update(node_input_names(node))
    keep = [n for n in graph.node if not (n.op_type == "Constant" and n.output[0] not in read)]
    if len(keep) != len(graph.node):
        del graph.node[:]
        graph.node.extend(keep)
    inits = [i for i in graph.initializer if i.name in read]
    if len(inits) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(inits)
