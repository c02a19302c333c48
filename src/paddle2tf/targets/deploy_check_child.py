"""Inspect a SavedModel's serving signature for deployment, with plain TensorFlow only.

Executed as a script in a fresh process (``python deploy_check_child.py SAVED_MODEL FEEDS.npz MAPPING.json WORKDIR
TIMING_RUNS``); like ``savedmodel_child.py`` it imports neither paddle2tf nor Paddle. MAPPING.json:
{"inputs": {onnx_name: signature_name}, "outputs": {onnx_name: signature_name}}. Writes to WORKDIR:
facts.json (ops, dtypes, shapes, XLA compile outcome, latencies), plain.npz and xla.npz (the outputs of the
signature run as is and under ``jit_compile=True``, keys ``out_<i>`` in mapping order).

Files: the protocol of paddle2tf/common/childio.py (spelled out here: this script imports nothing of paddle2tf).
"""

import json
import os
import re
import statistics
import sys
import time

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def
from tensorflow.python.ops import handle_data_util

# Python callbacks: registered in TF, but they run the Python interpreter and are not serialisable for serving.
PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
STANDARD_OPS = {name for name in dir(tf.raw_ops) if not name.startswith("_")} - PYTHON_OPS
CONTROL_FLOW_OPS = {"If", "StatelessIf", "_If", "While", "StatelessWhile", "_While", "Case", "StatelessCase",
                    "For", "Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "RefSwitch", "RefMerge",
                    "RefEnter", "RefExit", "RefNextIteration"}
SHAPE_OPS = {"Shape", "ShapeN", "Size", "Rank", "TensorListLength", "TensorArraySizeV3"}
# Function-call ops are plumbing between functions, not computation; their callees are walked instead.
CALL_OPS = {"PartitionedCall", "StatefulPartitionedCall"}
MAX_LISTED = 50  # per kind of finding: enough to act on, bounded for huge graphs
WARMUP_RUNS = 3


def _called_functions(node_def) -> list[str]:
    names = []
    for value in node_def.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        names.extend(f.name for f in value.list.func)
    return names


def _shape(shape: tf.TensorShape):
    return None if shape.rank is None else shape.as_list()


class Walker:
    """Every op reachable from the serving graph, through called functions, with its output shapes."""

    def __init__(self, library):
        self.library_proto = library
        self.library = {f.signature.name: f for f in library.function}
        self.ops: dict[str, int] = {}
        self.dtypes: set[str] = set()
        self.found: dict[str, list] = {"nonstandard_ops": [], "control_flow": [], "shape_ops": [], "dynamic": []}
        self.counts = {key: 0 for key in self.found}
        self.nodes = 0
        self.functions: set[str] = set()

    def _add(self, kind: str, item: dict) -> None:
        self.counts[kind] += 1
        if len(self.found[kind]) < MAX_LISTED:
            self.found[kind].append(item)

    def walk(self, graph, function: str) -> None:
        for op in graph.get_operations():
            if op.type in ("Placeholder", "VarHandleOp", "NoOp"):  # arguments, captured variables, plumbing
                continue
            where = {"node": op.name, "op": op.type, "function": function}
            if op.type not in CALL_OPS and op.type not in self.library:  # a library name as op: a direct call
                self.nodes += 1
                self.ops[op.type] = self.ops.get(op.type, 0) + 1
                if op.type not in STANDARD_OPS:
                    self._add("nonstandard_ops", where)
                if op.type in CONTROL_FLOW_OPS:
                    self._add("control_flow", where)
                if op.type in SHAPE_OPS:
                    self._add("shape_ops", where)
                for tensor in op.outputs:
                    if tensor.dtype != tf.resource:
                        self.dtypes.add(tensor.dtype.name)
                    if tensor.shape.rank is None or None in tensor.shape.as_list():
                        self._add("dynamic", {**where, "shape": _shape(tensor.shape)})
            for name in _called_functions(op.node_def) + ([op.type] if op.type in self.library else []):
                self._walk_function(name, op)

    def _walk_function(self, name: str, caller) -> None:
        if name in self.functions or name not in self.library:
            return
        self.functions.add(name)
        fdef = self.library[name]
        # A callee's arguments are the caller's last inputs (If/Case take a condition or index first).
        arguments = list(caller.inputs)[len(caller.inputs) - len(fdef.signature.input_arg):]
        graph_def, _ = function_def_to_graph_def(fdef, [t.shape for t in arguments])
        placeholders = {node.name: node for node in graph_def.node}
        for arg, tensor in zip(fdef.signature.input_arg, arguments, strict=True):
            handle = handle_data_util.get_resource_handle_data(tensor) if tensor.dtype == tf.resource else None
            if handle is not None and handle.is_set and handle.shape_and_type:
                # A variable arrives as a resource placeholder, whose variable shape shape inference does not
                # see: as a VarHandleOp (same dtype and shape) every value computed from it gets its shape.
                node = placeholders[arg.name]
                node.op = "VarHandleOp"
                node.ClearField("attr")
                node.attr["dtype"].type = handle.shape_and_type[0].dtype
                node.attr["shape"].shape.CopyFrom(handle.shape_and_type[0].shape)
                node.attr["shared_name"].s = arg.name.encode()
        graph_def.library.CopyFrom(self.library_proto)  # If/While/call nodes must resolve their functions
        graph = tf.Graph()
        with graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
        self.walk(graph, name)


_NODE_TAG = r"(?:\{\{function_node ([^}\s]+)\}\})?\{\{node ([^}\s]+)\}\}"


def _first_line(exc: Exception) -> str:
    """The error's first meaningful line, without the compile options XLA appends to function names and the
    {{node}} tags (``_blocking`` reads those)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and line.strip() != "in user code:"]
    if not lines:
        return type(exc).__name__
    line = re.sub(r"\[_XlaMustCompile[^\]]*\]", "", lines[0])
    line = re.sub(r" compatible with node\s*\)", ")", re.sub(_NODE_TAG, "", line))
    return line[:600]


def _blocking(message: str) -> list[dict]:
    """The nodes an XLA compile error names: 'on XLA_CPU_JIT: Op (...{{function_node F}}{{node N}})' or
    'node `N` with op Op'."""
    found = [{"node": node, "op": op} for node, op in re.findall(r"node `([^`]+)` with op (\w+)", message)]
    ops = re.findall(r"on XLA_\w+: (\w+) \(", message)
    tagged = dict.fromkeys(re.findall(_NODE_TAG, message))
    found += [{"node": node, "op": ops[0] if ops else "", "function": function} for function, node in tagged]
    return found or [{"node": "", "op": op} for op in ops]


def _timed(fn, kwargs: dict, runs: int) -> float:
    for _ in range(WARMUP_RUNS):
        [t.numpy() for t in fn(**kwargs).values()]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        [t.numpy() for t in fn(**kwargs).values()]
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main(saved_model: str, feeds_file: str, mapping_file: str, workdir: str, timing_runs: str) -> None:
    with open(mapping_file) as handle:
        mapping = json.load(handle)
    try:
        loaded = tf.saved_model.load(saved_model)  # held: the signature's variables live as long as this object
    except Exception as exc:  # e.g. an op plain TensorFlow does not register: a finding, not a crash
        with open(os.path.join(workdir, "facts.json"), "w") as handle:
            json.dump({"load_error": _first_line(exc)}, handle)
        return
    serving = loaded.signatures["serving_default"]
    graph_def = serving.graph.as_graph_def()
    walker = Walker(graph_def.library)
    walker.walk(serving.graph, "serving_default")
    _, input_specs = serving.structured_input_signature
    facts = {"inputs": {name: {"dtype": spec.dtype.name, "shape": _shape(spec.shape)}
                        for name, spec in input_specs.items()},
             "outputs": {name: {"dtype": spec.dtype.name, "shape": _shape(spec.shape)}
                         for name, spec in serving.structured_outputs.items()},
             "ops": dict(sorted(walker.ops.items(), key=lambda kv: (-kv[1], kv[0]))), "nodes": walker.nodes,
             "functions": len(walker.functions), "dtypes": sorted(walker.dtypes), **walker.found,
             "counts": walker.counts}
    with np.load(feeds_file) as feeds:
        kwargs = {tf_name: tf.constant(feeds[onnx_name]) for onnx_name, tf_name in mapping["inputs"].items()}
    plain = serving(**kwargs)
    np.savez(os.path.join(workdir, "plain.npz"), **{f"out_{i}": plain[tf_name].numpy()
                                                     for i, tf_name in enumerate(mapping["outputs"].values())})
    xla = tf.function(serving, jit_compile=True)
    try:
        compiled = xla(**kwargs)
    except Exception as exc:  # the compile error is the finding: which op/node XLA cannot handle
        facts["xla_error"] = _first_line(exc)
        facts["xla_blocking"] = _blocking(str(exc))
    else:
        facts["xla_error"] = None
        np.savez(os.path.join(workdir, "xla.npz"), **{f"out_{i}": compiled[tf_name].numpy()
                                                       for i, tf_name in enumerate(mapping["outputs"].values())})
    runs = int(timing_runs)
    if runs > 0:
        facts["latency_ms"] = {"tensorflow": _timed(serving, kwargs, runs)}
        if facts["xla_error"] is None:
            facts["latency_ms"]["xla"] = _timed(xla, kwargs, runs)
    with open(os.path.join(workdir, "facts.json"), "w") as handle:
        json.dump(facts, handle)


if __name__ == "__main__":
    main(*sys.argv[1:6])
