"""Run an ONNX graph as TensorFlow ops, node by node, inside a tf.function trace.

Values whose inputs are all constant are evaluated at conversion time (constant folding with the
converters themselves, so folding and run time share one semantics). Large float constants become
tf.Variables owned by a ``WeightStore`` (converter/weights.py) so they land in the SavedModel's ``variables/``.

Layout: a value may exist in the ONNX layout, in channels-last layout (N, spatial..., C, what TF's CPU
kernels want), or both. Conv/pool-like converters return ``ChannelsLast`` results; elementwise converters
run in whichever layout avoids a transpose; any other consumer gets the ONNX layout, transposed back
once and cached. Graph inputs and outputs are always in the ONNX layout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import onnx
from onnx import numpy_helper

from paddle2tf.converter import registry
from paddle2tf.converter.context import ChannelsLast, NodeContext, NodeInputs
from paddle2tf.converter.layout import channels_last_perm, to_channels_first, to_channels_last
from paddle2tf.converter.weights import WeightStore
from paddle2tf.errors import Paddle2TFError, UnsupportedModelError
from paddle2tf.onnxutil.graph import STANDARD_DOMAINS, attributes, node_input_names, node_subgraphs, sanitise_name

# Float constants at least this large are stored as variables, not embedded in the GraphDef.
VARIABLE_MIN_BYTES = 4096
# Folded values larger than this are not materialised at conversion time (keeps memory linear).
FOLD_MAX_ELEMENTS = 1 << 24


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
        with tf.name_scope(sanitise_name(node.name or node.op_type, "node")), converter_boundary(node):
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
                with converter_boundary(node):
                    results = _as_list(entry.fn(node, inputs, attrs, ctx))
            finally:
                self.folding = False
            results = [to_channels_first(r.tensor) if isinstance(r, ChannelsLast) else r for r in results]
            values = [np.asarray(r.numpy()) if r is not None else None for r in results]
        if any(v is not None and v.size > FOLD_MAX_ELEMENTS for v in values):
            return None
        return values


def node_label(node: onnx.NodeProto) -> str:
    """How errors name a node: its name and op type (the op type alone for an unnamed node)."""
    op = node.op_type if node.domain in STANDARD_DOMAINS else f"{node.domain}.{node.op_type}"
    return f"node '{node.name}' ({op})" if node.name else f"a {op} node"


@contextmanager
def converter_boundary(node: onnx.NodeProto):
    """Any exception of a converter call becomes one ``UnsupportedModelError`` naming the node, its op type and the
    reason: converters refuse variants the pre-scan could not see (``NotImplementedError``), and a converter bug on
    an unusual graph must still be one clear line, not a traceback. An error already naming a node (a subgraph's,
    raised through its If/Loop converter) passes as it is; so does running out of memory, which says nothing about
    the model's support."""
    try:
        yield
    except (Paddle2TFError, MemoryError):
        raise
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0][:300] if lines else ""
        if not isinstance(exc, NotImplementedError):  # a converter failure, not a declared refusal
            reason = f"converter failed: {type(exc).__name__}{': ' + reason if reason else ''}"
        raise UnsupportedModelError(f"{node_label(node)}: {reason or 'not supported'}") from exc


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
