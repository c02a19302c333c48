"""Run an ONNX graph as TensorFlow ops, node by node, inside a tf.function trace.

Values whose inputs are all constant are evaluated at conversion time (constant folding with the
converters themselves, so folding and run time share one semantics). Large float constants become
tf.Variables owned by a ``WeightStore`` so they land in the SavedModel's ``variables/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.converter import registry
from paddle2tf.converter.context import NodeContext, NodeInputs
from paddle2tf.errors import UnsupportedModelError

# Float constants at least this large are stored as variables, not embedded in the GraphDef.
VARIABLE_MIN_BYTES = 4096
# Folded values larger than this are not materialised at conversion time (keeps memory linear).
FOLD_MAX_ELEMENTS = 1 << 24


def sanitise_name(name: str, prefix: str = "v") -> str:
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not clean or not clean[0].isalpha():
        clean = f"{prefix}_{clean}"
    return clean


def attributes(node: onnx.NodeProto) -> dict:
    values = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8") for v in value]
        values[attr.name] = value
    return values


def graph_opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {registry.normalise_domain(o.domain): o.version for o in model.opset_import}


def iter_nodes(graph: onnx.GraphProto):
    """Every node of the graph and of its subgraphs (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from iter_nodes(sub)


# Element types TF has no usable dtype for (no Cast kernels): a graph input or output of these types
# cannot be part of the SavedModel signature. 4-bit inputs are held exactly in int8/uint8 (their
# numpy storage type), but an output would have to be packed.
UNSUPPORTED_IO_TYPES = {
    "input": {onnx.TensorProto.FLOAT8E4M3FNUZ, onnx.TensorProto.FLOAT8E5M2FNUZ},
    "output": {onnx.TensorProto.FLOAT8E4M3FNUZ, onnx.TensorProto.FLOAT8E5M2FNUZ, onnx.TensorProto.INT4,
               onnx.TensorProto.UINT4},
}


def find_unsupported(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Map 'op (reason)' -> names of nodes using it, for every node the converter cannot handle.

    Graph inputs/outputs of element types TF cannot represent are reported as 'input/output dtype X'.
    """
    opsets = graph_opsets(model)
    problems: dict[str, list[str]] = {}
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for value in values:
            elem_type = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else 0
            if elem_type in UNSUPPORTED_IO_TYPES[kind]:
                label = f"{kind} dtype {onnx.TensorProto.DataType.Name(elem_type)}"
                problems.setdefault(label, []).append(value.name)
    for node in iter_nodes(model.graph):
        domain = registry.normalise_domain(node.domain)
        opset = opsets.get(domain)
        entry = registry.lookup(node.op_type, opset, domain) if opset is not None else None
        if entry is None:
            label = node.op_type if not domain else f"{domain}.{node.op_type}"
            if opset is not None and registry.lookup(node.op_type, 10**6, domain) is not None:
                label += f" (opset {opset})"
            problems.setdefault(label, []).append(node.name or f"<{node.op_type}>")
            continue
        reason = entry.unsupported(node, attributes(node)) if entry.unsupported else None
        if reason:
            problems.setdefault(f"{node.op_type} ({reason})", []).append(node.name or f"<{node.op_type}>")
    return problems


def check_supported(model: onnx.ModelProto) -> None:
    problems = find_unsupported(model)
    if problems:
        listing = "; ".join(f"{op}: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"
                            for op, names in sorted(problems.items()))
        raise UnsupportedModelError(f"unsupported ONNX ops: {listing}")


class WeightStore:
    """Owns every tf.Variable and cached constant of a conversion, across tf.function traces."""

    def __init__(self):
        self.variables: dict[str, object] = {}

    def get(self, key: str, make: Callable[[], np.ndarray]):
        import tensorflow as tf

        if key not in self.variables:
            # Created eagerly (init_scope) and not reported to tf.function's variable-creation scope
            # (no lifting): a function whose first trace creates variables is traced a second time,
            # doubling conversion time. The store owns the variables; the trace captures them.
            with tf.init_scope():
                self.variables[key] = tf.Variable(make(), trainable=False, name=sanitise_name(key, "w")[:200],
                                                  experimental_enable_variable_lifting=False)
        return self.variables[key]


class GraphRunner:
    """Converts one ONNX graph (or subgraph) to TF ops given TF tensors for its inputs."""

    def __init__(self, model_opsets: Mapping[str, int], graph: onnx.GraphProto, weights: WeightStore,
                 parent: GraphRunner | None = None, value_hook: Callable[[str, object], None] | None = None,
                 static: dict[str, np.ndarray] | None = None):
        self._opsets = dict(model_opsets)
        self.graph = graph
        self._weights = weights
        self._parent = parent
        self._value_hook = value_hook
        # Constant values by name. Passing the same dict to every trace of one graph means
        # initializers are decoded and constants folded once, not once per trace.
        self._static = static if static is not None else {}
        if not self._static:
            self._static.update((init.name, numpy_helper.to_array(init)) for init in graph.initializer)
        self._tensors: dict[str, object] = {}
        self.folding = False

    # -- values -------------------------------------------------------------------------------
    def opset(self, domain: str = "") -> int:
        return self._opsets.get(registry.normalise_domain(domain), 1)

    def static_value(self, name: str) -> np.ndarray | None:
        if name in self._static:
            return self._static[name]
        if name in self._tensors:
            return None
        return self._parent.static_value(name) if self._parent else None

    def tensor(self, name: str):
        import tensorflow as tf

        if self.folding:
            # Folding runs eagerly (init_scope): a constant already materialised in the graph being
            # traced (cached in _tensors by an earlier, non-folded consumer) is out of scope here.
            value = self.static_value(name)
            if value is not None:
                return tf.constant(value)
        if name in self._tensors:
            return self._tensors[name]
        value = self.static_value(name)
        if value is not None:
            # Made and cached in this graph, also for an outer constant used in a subgraph: the parent would
            # cache a tensor of this (If branch / loop body) graph and later use it outside that graph.
            tensor = self.constant_tensor(f"const::{name}", lambda: value)
            self._tensors[name] = tensor
            return tensor
        if self._parent is not None:
            return self._parent.tensor(name)
        raise KeyError(f"value '{name}' is used before any node produces it")

    def make_constant(self, array: np.ndarray):
        import tensorflow as tf

        return tf.constant(array)

    def constant_tensor(self, key: str, make: Callable[[], np.ndarray]):
        """A constant by key: a variable for large floats (so weights go to variables/), else tf.constant."""
        import tensorflow as tf

        if self.folding:
            return tf.constant(make())
        array = make()
        if array.dtype.kind in "fc" and array.nbytes >= VARIABLE_MIN_BYTES:
            return self._weights.get(key, lambda: array)
        return tf.constant(array)

    # -- execution ----------------------------------------------------------------------------
    def run(self, feeds: Mapping[str, object], outputs: Sequence[str]) -> list:
        for name, tensor in feeds.items():
            self._tensors[name] = tensor
        for node in self.graph.node:
            self._run_node(node)
        return [self.tensor(name) for name in outputs]

    def run_subgraph(self, graph: onnx.GraphProto, inputs: Sequence[object]) -> list:
        child = GraphRunner(self._opsets, graph, self._weights, parent=self, value_hook=self._value_hook)
        feeds = {vi.name: t for vi, t in zip(graph.input, inputs, strict=False) if t is not None}
        return child.run(feeds, [o.name for o in graph.output])

    def _run_node(self, node: onnx.NodeProto) -> None:
        import tensorflow as tf

        domain = registry.normalise_domain(node.domain)
        entry = registry.lookup(node.op_type, self.opset(domain), domain)
        if entry is None:
            raise UnsupportedModelError(f"node '{node.name}': unsupported op {node.op_type}")
        attrs = attributes(node)
        ctx = NodeContext(self, node)
        inputs = NodeInputs(self, node.input)
        wanted = [name for name in node.output if name]
        if all(name in self._static for name in wanted):  # folded by an earlier trace
            for name in wanted:
                self._emit_hook(name)
            return

        if entry.foldable and self._all_inputs_static(node) and not _has_subgraph(node):
            folded = self._fold(entry, node, inputs, attrs, ctx)
            if folded is not None:
                for name, value in zip(node.output, folded, strict=False):
                    if name:
                        self._static[name] = value
                        self._emit_hook(name)
                return

        with tf.name_scope(sanitise_name(node.name or node.op_type, "node")):
            results = _as_list(entry.fn(node, inputs, attrs, ctx))
        if len(results) < len(wanted):
            raise UnsupportedModelError(
                f"node '{node.name}' ({node.op_type}): converter returned {len(results)} outputs, "
                f"{len(wanted)} expected")
        for name, tensor in zip(node.output, results, strict=False):
            if not name:
                continue
            static = _static_int_value(tensor)
            if static is not None:
                self._static[name] = static
            self._tensors[name] = tensor
            self._emit_hook(name)

    def _emit_hook(self, name: str) -> None:
        if self._value_hook is not None and self._parent is None:
            self._value_hook(name, self.tensor(name))

    def _all_inputs_static(self, node: onnx.NodeProto) -> bool:
        return all(name == "" or self.static_value(name) is not None for name in node.input)

    def _fold(self, entry, node, inputs, attrs, ctx) -> list[np.ndarray] | None:
        import tensorflow as tf

        with tf.init_scope():
            self.folding = True
            try:
                results = _as_list(entry.fn(node, inputs, attrs, ctx))
            finally:
                self.folding = False
            values = [np.asarray(r.numpy()) if r is not None else None for r in results]
        if any(v is not None and v.size > FOLD_MAX_ELEMENTS for v in values):
            return None
        return values


def _has_subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _as_list(result) -> list:
    if isinstance(result, list | tuple):
        return list(result)
    return [result]


def _static_int_value(tensor) -> np.ndarray | None:
    """The value of a small integer tensor TF can evaluate statically (e.g. Shape of a static shape)."""
    import tensorflow as tf

    if tensor is None or not hasattr(tensor, "dtype") or not (tensor.dtype.is_integer):
        return None
    if tensor.shape.rank is None or tensor.shape.num_elements() is None or tensor.shape.num_elements() > 64:
        return None
    value = tf.get_static_value(tensor)
    return None if value is None else np.asarray(value)
