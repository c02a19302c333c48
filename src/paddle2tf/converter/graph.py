"""Run an ONNX graph as TensorFlow ops, node by node, inside a tf.function trace.

Values whose inputs are all constant are evaluated at conversion time (constant folding with the
converters themselves, so folding and run time share one semantics). Large float constants become
tf.Variables owned by a ``WeightStore`` so they land in the SavedModel's ``variables/``.

Layout: a value may exist in the ONNX layout, in channels-last layout (N, spatial..., C, what TF's CPU
kernels want), or both. Conv/pool-like converters return ``ChannelsLast`` results; elementwise converters
run in whichever layout avoids a transpose; any other consumer gets the ONNX layout, transposed back
once and cached. Graph inputs and outputs are always in the ONNX layout.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from paddle2tf.converter import registry
from paddle2tf.converter.context import ChannelsLast, NodeContext, NodeInputs
from paddle2tf.converter.layout import channels_last_perm, to_channels_first, to_channels_last
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


def node_subgraphs(node: onnx.NodeProto):
    """The node's own subgraphs (If branches, Loop/Scan bodies), not recursively."""
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def iter_nodes(graph: onnx.GraphProto):
    """Every node of the graph and of its subgraphs (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for sub in node_subgraphs(node):
            yield from iter_nodes(sub)


def node_input_names(node: onnx.NodeProto) -> list[str]:
    """Values the node reads: explicit inputs, then the values its subgraphs read from enclosing scopes."""
    names = [n for n in node.input if n]
    names += sorted(_outer_names_read_by_subgraphs(node) - set(names))
    return names


def _outer_names_read_by_subgraphs(node: onnx.NodeProto) -> set[str]:
    names: set[str] = set()
    for sub in node_subgraphs(node):
        defined = {vi.name for vi in sub.input} | {init.name for init in sub.initializer}
        used: set[str] = set()
        for inner in sub.node:
            used.update(node_input_names(inner))
            defined.update(n for n in inner.output if n)
        names |= used - defined
    return names


# Element types TF has no usable dtype for (no Cast kernels): a graph input or output of these types
# cannot be part of the SavedModel signature. 4-bit inputs are held exactly in int8/uint8 (their
# numpy storage type), but an output would have to be packed.
UNSUPPORTED_IO_TYPES = {
    "input": {onnx.TensorProto.FLOAT8E4M3FNUZ, onnx.TensorProto.FLOAT8E5M2FNUZ},
    "output": {onnx.TensorProto.FLOAT8E4M3FNUZ, onnx.TensorProto.FLOAT8E5M2FNUZ, onnx.TensorProto.INT4,
               onnx.TensorProto.UINT4},
}


def iter_graphs(graph: onnx.GraphProto):
    """The graph and its subgraphs (If/Loop/Scan bodies), recursively."""
    yield graph
    for node in graph.node:
        for sub in node_subgraphs(node):
            yield from iter_graphs(sub)


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in ("value_float", "value_floats"):
            return np.array(helper.get_attribute_value(attr), np.float32)
        if attr.name in ("value_int", "value_ints"):
            return np.array(helper.get_attribute_value(attr), np.int64)
    return None


_WEIGHT_MIN_ELEMENTS = 1024  # shape inference reads small constants' values (shapes, axes), never larger ones
FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16)


def without_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the model for shape inference, its large constants reduced to their type and dims: inference
    serialises the model it is given and parses a copy back, three copies of every weight at once."""
    def stub(tensor: onnx.TensorProto) -> onnx.TensorProto | None:
        if tensor.data_type not in FLOAT_TYPES or int(np.prod(tensor.dims)) < _WEIGHT_MIN_ELEMENTS:
            return None  # data propagation may read it (int64 shapes)
        return onnx.TensorProto(name=tensor.name, data_type=tensor.data_type, dims=tensor.dims)

    light = onnx.ModelProto()
    light.CopyFrom(onnx.ModelProto(ir_version=model.ir_version, opset_import=model.opset_import,
                                   functions=model.functions))
    graph = model.graph
    light.graph.CopyFrom(onnx.GraphProto(name=graph.name, input=graph.input, output=graph.output,
                                         value_info=graph.value_info))
    for init in graph.initializer:
        light.graph.initializer.append(stub(init) or init)
    for node in graph.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        light_node = light.graph.node.add()
        if value is not None and stub(value) is not None:
            light_node.CopyFrom(helper.make_node("Constant", [], list(node.output), name=node.name,
                                                 value=stub(value)))
        else:
            light_node.CopyFrom(node)
    return light


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
        return tuple(d.dim_value if d.HasField("dim_value") else None for d in value_type.tensor_type.shape.dim)

    def constant(self, name: str) -> np.ndarray | None:
        """The value when it is an initializer or a Constant node's output; else None."""
        if self._producers is None:
            self._producers = {}
            for graph in iter_graphs(self._model.graph):
                self._producers.update((init.name, init) for init in graph.initializer)
                self._producers.update((node.output[0], node) for node in graph.node
                                       if node.op_type == "Constant" and node.domain in ("", "ai.onnx"))
        producer = self._producers.get(name)
        if isinstance(producer, onnx.TensorProto):
            return numpy_helper.to_array(producer)
        return _constant_node_value(producer) if producer is not None else None

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
        domain = registry.normalise_domain(node.domain)
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
                 static: dict[str, np.ndarray] | None = None, release_constants: bool = False):
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
        # Drop a large float constant's decoded value after its last reader: by then it lives in a variable, and
        # holding every weight decoded until the end would keep a second copy of the model (locate keeps them).
        self._release_constants = release_constants
        self._tensors: dict[str, object] = {}  # ONNX layout
        self._channels_last: dict[str, object] = {}  # the same values, channels-last
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
        """The value in the ONNX layout."""
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
        found = self._parent._find(name, channels_last=False) if self._parent is not None else None
        if found is not None:
            return found
        channels_last = self._find(name, channels_last=True)
        if channels_last is None:
            raise KeyError(f"value '{name}' is used before any node produces it")
        # Cached here, not where the channels-last tensor lives: this may be a subgraph's graph.
        self._tensors[name] = to_channels_first(channels_last)
        return self._tensors[name]

    def _find(self, name: str, channels_last: bool):
        """The tensor already made for ``name`` in that layout, here or in an enclosing graph; no new ops."""
        table = self._channels_last if channels_last else self._tensors
        if name in table:
            return table[name]
        return self._parent._find(name, channels_last) if self._parent is not None else None

    def has_channels_last(self, name: str) -> bool:
        return self._find(name, channels_last=True) is not None

    def channels_last_tensor(self, name: str):
        """The value (rank >= 3) in channels-last layout; a transpose is made at most once per value."""
        if self.folding:  # eager values: nothing to cache for the graph being traced
            return to_channels_last(self.tensor(name))
        found = self._find(name, channels_last=True)
        if found is not None:
            return found
        value = self.static_value(name)
        if value is not None:
            array = np.ascontiguousarray(np.transpose(value, channels_last_perm(value.ndim)))
            tensor = self.constant_tensor(f"const_channels_last::{name}", lambda: array)
        else:
            tensor = to_channels_last(self.tensor(name))
        self._channels_last[name] = tensor
        return tensor

    def channels_last_operand(self, name: str, rank: int):
        """An elementwise operand for a channels-last computation of ``rank``: lower-rank operands are
        aligned to the right (numpy broadcasting in the ONNX layout) before the transpose."""
        import tensorflow as tf

        value = self.static_value(name)
        if value is not None and value.ndim < rank:
            if value.size == 1:  # broadcasts the same in every layout
                return self.tensor(name)
            array = np.transpose(value.reshape((1,) * (rank - value.ndim) + value.shape), channels_last_perm(rank))
            return self.constant_tensor(f"const_channels_last::{name}", lambda: np.ascontiguousarray(array))
        if value is None and self._find(name, channels_last=True) is None:
            tensor = self.tensor(name)
            missing = rank - tensor.shape.rank
            if missing > 0:
                shape = tf.concat([tf.ones([missing], tf.int32), tf.shape(tensor)], 0)
                return to_channels_last(tf.reshape(tensor, shape))
        return self.channels_last_tensor(name)

    def make_constant(self, array: np.ndarray):
        import tensorflow as tf

        return tf.constant(array)

    def constant_tensor(self, key: str, make: Callable[[], np.ndarray]):
        """A constant by key: a variable for large floats (so weights go to variables/), else tf.constant."""
        import tensorflow as tf

        if self.folding:
            return tf.constant(make())
        array = make()
        if _is_weight(array):
            return self._weights.get(key, lambda: array)
        return tf.constant(array)

    # -- execution ----------------------------------------------------------------------------
    def run(self, feeds: Mapping[str, object], outputs: Sequence[str], channels_last: bool = False) -> list:
        """The outputs for these feeds. ``channels_last``: feeds of rank >= 3 are given, and outputs of rank >= 3
        returned, channels-last (N...C), so a conv region reaching the boundary pays no transpose there."""
        for name, tensor in feeds.items():
            layout = self._channels_last if channels_last and (tensor.shape.rank or 0) >= 3 else self._tensors
            layout[name] = tensor
        released_after: dict[int, list[str]] = defaultdict(list)  # node position -> values it reads last
        if self._release_constants:
            last_reader = {name: position for position, node in enumerate(self.graph.node)
                           for name in node_input_names(node)}
            for name in set(last_reader) - set(outputs):
                released_after[last_reader[name]].append(name)
        for position, node in enumerate(self.graph.node):
            self._run_node(node)
            for name in released_after.get(position, ()):
                if _is_weight(self._static.get(name)):
                    del self._static[name]
        return [self._output(name, channels_last) for name in outputs]

    def _output(self, name: str, channels_last: bool):
        found = self._find(name, channels_last=True) if channels_last else None
        if found is not None:
            return found
        tensor = self.tensor(name)
        return to_channels_last(tensor) if channels_last and (tensor.shape.rank or 0) >= 3 else tensor

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

        if entry.foldable and self._all_inputs_static(node) and next(node_subgraphs(node), None) is None:
            folded = self._fold(entry, node, inputs, attrs, ctx)
            if folded is not None:
                for name, value in zip(node.output, folded, strict=False):
                    if name:
                        self._static[name] = value
                        self._emit_hook(name)
                return

        rank = self._channels_last_rank(node) if entry.elementwise else None
        if rank is not None:
            inputs = NodeInputs(self, node.input, channels_last_rank=rank)
        with tf.name_scope(sanitise_name(node.name or node.op_type, "node")):
            results = _as_list(entry.fn(node, inputs, attrs, ctx))
        if rank is not None:
            results = [ChannelsLast(r) for r in results]
        if len(results) < len(wanted):
            raise UnsupportedModelError(
                f"node '{node.name}' ({node.op_type}): converter returned {len(results)} outputs, "
                f"{len(wanted)} expected")
        for name, result in zip(node.output, results, strict=False):
            if not name:
                continue
            if isinstance(result, ChannelsLast):
                self._channels_last[name] = result.tensor
            else:
                static = _static_int_value(result)
                if static is not None:
                    self._static[name] = static
                self._tensors[name] = result
            self._emit_hook(name)

    def _channels_last_rank(self, node: onnx.NodeProto) -> int | None:
        """The rank to run an elementwise node at in channels-last layout, or None for the ONNX layout.

        Channels-last when some input exists only in that layout and no more inputs would need a transpose
        into it than out of it; every input must have at most that rank (the output keeps the rank).
        """
        if any(attr.name == "axis" for attr in node.attribute):
            return None  # opset < 7 binary ops align the right operand at an ONNX axis
        names = [name for name in node.input if name]
        channels_last = {name: self._find(name, channels_last=True) for name in names}
        ranks = {t.shape.rank for t in channels_last.values() if t is not None}
        if len(ranks) != 1:
            return None
        rank = ranks.pop()
        to_onnx = sum(1 for name, t in channels_last.items() if t is not None and self._find(name, False) is None)
        to_channels_last = 0
        for name, found in channels_last.items():
            if found is not None:
                continue
            value = self.static_value(name)
            input_rank = value.ndim if value is not None else self.tensor(name).shape.rank
            if input_rank is None or input_rank > rank:
                return None
            to_channels_last += int(value is None and input_rank == rank)
        return rank if to_onnx > 0 and to_onnx >= to_channels_last else None

    def _emit_hook(self, name: str) -> None:
        if self._value_hook is None or self._parent is not None:
            return
        if name not in self._tensors and name in self._channels_last:
            # Not cached: the hook (locate) must not change which layout later nodes run in.
            self._value_hook(name, to_channels_first(self._channels_last[name]))
            return
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
            results = [to_channels_first(r.tensor) if isinstance(r, ChannelsLast) else r for r in results]
            values = [np.asarray(r.numpy()) if r is not None else None for r in results]
        if any(v is not None and v.size > FOLD_MAX_ELEMENTS for v in values):
            return None
        return values


def _is_weight(array: np.ndarray | None) -> bool:
    """A float array large enough to live in a variable (not a constant of the graph)."""
    return (array is not None and (array.dtype.kind in "fc" or array.dtype.name == "bfloat16")
            and array.nbytes >= VARIABLE_MIN_BYTES)


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
