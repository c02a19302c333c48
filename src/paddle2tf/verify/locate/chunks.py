"""Running a graph in chunks of consecutive nodes, each value exposed: ONNX Runtime (graph prefixes with the
chunk's values as outputs) and TensorFlow (the chunk's nodes only, fed with earlier chunks' values). Memory stays
bounded by the chunk size whatever the graph's length."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from paddle2tf.converter.prescan import check_supported
from paddle2tf.converter.runner import GraphRunner
from paddle2tf.converter.weights import WeightStore
from paddle2tf.onnxutil.graph import graph_inputs, graph_opsets, node_input_names, value_type


def chunk_ranges(nodes, chunk_size: int) -> list[tuple[int, int]]:
    """Consecutive node ranges [start, end) exposing at most ``chunk_size`` values (one node is never split)."""
    ranges, start, count = [], 0, 0
    for i, node in enumerate(nodes):
        outputs = sum(1 for n in node.output if n)
        if count and count + outputs > chunk_size:
            ranges.append((start, i))
            start, count = i, 0
        count += outputs
    if start < len(nodes):
        ranges.append((start, len(nodes)))
    return ranges


def _is_tf_tensor(value) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor | tf.Variable)


class OrtChunks:
    """Runs graph prefixes in ONNX Runtime with chosen values exposed as outputs.

    The weights are written once as external data; each chunk's model file is then small."""

    def __init__(self, model: onnx.ModelProto, workdir: str):
        import onnxruntime as ort

        self._ort = ort
        skeleton = onnx.ModelProto()
        skeleton.CopyFrom(model)
        base = os.path.join(workdir, "base.onnx")
        onnx.save_model(skeleton, base, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=1024, convert_attribute=True)
        self._skeleton = onnx.load(base, load_external_data=False)
        self._path = os.path.join(workdir, "chunk.onnx")
        try:
            inferred = onnx.shape_inference.infer_shapes(self._skeleton)
            self._types = {vi.name: vi for vi in inferred.graph.value_info}
        except Exception:  # shape inference is a convenience here: outputs without a type still run
            self._types = {}
        self._types.update((vi.name, vi) for vi in model.graph.output)

    def run(self, end: int, names: list[str], feeds: Mapping[str, np.ndarray]) -> dict[str, object]:
        chunk = onnx.ModelProto()
        chunk.CopyFrom(self._skeleton)
        del chunk.graph.node[end:]
        del chunk.graph.output[:]
        for name in names:
            vi = self._types.get(name)
            chunk.graph.output.append(vi if vi is not None else onnx.ValueInfoProto(name=name))
        onnx.save_model(chunk, self._path)
        options = self._ort.SessionOptions()
        options.log_severity_level = 3
        # Basic optimisations only: fusions would replace the nodes whose values are compared.
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = self._ort.InferenceSession(self._path, options, providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        values = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
        return dict(zip(names, values, strict=True))


class TfChunks:
    """Runs chunks of the converted graph: the chunk's nodes only, fed with earlier chunks' TF values."""

    def __init__(self, model: onnx.ModelProto):
        import tensorflow as tf


        check_supported(model)
        self._tf = tf
        self.model = model
        self.opsets = graph_opsets(model)
        self.weights = WeightStore()
        self.static: dict[str, np.ndarray] = {init.name: numpy_helper.to_array(init)
                                              for init in model.graph.initializer}
        self.specs: dict[str, object] = {}
        for vi in graph_inputs(model):
            dtype, shape = value_type(vi)
            self.specs[vi.name] = tf.TensorSpec(shape, tf.as_dtype(dtype))

    def run(self, start: int, end: int, held: Mapping[str, object]) -> tuple[dict[str, object], dict[str, str]]:
        """TF values of the values produced by nodes[start:end] (numpy arrays, or constants when folded)
        and, for values without one, the reason. Values of earlier nodes come from ``held``; when one
        cannot be fed (not a tensor), the chunk is traced from the graph inputs instead."""
        tf = self._tf

        nodes = self.model.graph.node
        needed = self._needed(start, end)
        if any(name not in held for name in needed):
            start = 0
            needed = self._needed(0, end)
        sub = onnx.GraphProto()
        sub.node.extend(nodes[start:end])
        wanted = {n for node in nodes[start:end] for n in node.output if n}
        returned: list[str] = []
        seen: dict[str, object] = {}

        def hook(name, tensor):
            if name not in wanted or name in seen:
                return
            seen[name] = tensor
            if name not in self.static and _is_tf_tensor(tensor):
                returned.append(name)
                self.specs[name] = tf.TensorSpec(tensor.shape, tensor.dtype)

        def chunk_fn(*args):
            runner = GraphRunner(self.opsets, sub, self.weights, static=self.static, value_hook=hook)
            runner.run(dict(zip(needed, args, strict=True)), [])
            return [tf.identity(seen[name]) for name in returned]

        function = tf.function(chunk_fn, input_signature=[self.specs[n] for n in needed], autograph=False)
        concrete = function.get_concrete_function()
        results = concrete(*[held[n] for n in needed]) if returned else []
        values: dict[str, object] = dict(zip(returned, results, strict=True))
        reasons: dict[str, str] = {}
        for name in wanted - set(values):
            if name in self.static:
                values[name] = self.static[name]
            elif name in seen:
                reasons[name] = f"non-tensor TF value ({type(seen[name]).__name__})"
            else:
                reasons[name] = "no TensorFlow counterpart (the converter produced no tensor for it)"
        return values, reasons

    def _needed(self, start: int, end: int) -> list[str]:
        produced: set[str] = set()
        needed: list[str] = []
        for node in self.model.graph.node[start:end]:
            for name in node_input_names(node):
                if name not in produced and name not in self.static and name not in needed:
                    needed.append(name)
            produced.update(n for n in node.output if n)
        return needed
