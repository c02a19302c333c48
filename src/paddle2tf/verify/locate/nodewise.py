"""Node-level search inside the ONNX → TensorFlow hop: every top-level ONNX value compared.

Two hops: Paddle → ONNX (the exporter) and ONNX → TensorFlow (paddle2tf's converter).

- The hop is attributed from end-to-end errors: Paddle↔ONNX Runtime judges the Paddle → ONNX hop,
  ONNX Runtime↔TF the ONNX → TF hop (the three-way verification when it is given, else re-run here).
- Inside the ONNX → TF hop, every top-level ONNX value is compared: ONNX Runtime runs the model with the
  values exposed as graph outputs, the converter's ``GraphRunner`` produces the TF tensor of each value
  (``value_hook``), both judged by the verification rule (``metrics.compare`` with the ``Tolerance``).
  The culprit is the first node in topological order whose output fails while its inputs do not.

Memory stays bounded by comparing in chunks of consecutive nodes (``chunk_size`` values): ONNX Runtime runs
the graph prefix up to the chunk with the chunk's values exposed; TensorFlow runs only the chunk's nodes, fed
with its own values of the earlier chunks (kept until their last use). Values folded at conversion time are
compared as the constants the converter computed. Values inside subgraphs (If/Loop bodies) are out of scope.

``locate`` re-converts ``model.onnx`` with the converters of this process: it analyses what paddle2tf
builds now, which is the SavedModel on disk when both come from the same paddle2tf.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from paddle2tf.converter import passes
from paddle2tf.onnxutil.graph import attributes, node_input_names
from paddle2tf.verify.locate.chunks import OrtChunks, TfChunks, chunk_ranges
from paddle2tf.verify.locate.model import (
    DEFAULT_CHUNK_SIZE,
    NOT_COMPARED,
    Culprit,
    NodeCheck,
    NodewiseResult,
    ValueCheck,
)
from paddle2tf.verify.metrics import FAIL, PASS, PairMetrics, Tolerance, compare, worst

Progress = Callable[[str], None]


def _json_attr(value):
    if isinstance(value, onnx.TensorProto):
        array = numpy_helper.to_array(value)
        if array.size <= 16:
            return array.tolist()
        return f"tensor {array.dtype}{list(array.shape)}"
    if isinstance(value, onnx.GraphProto):
        return f"graph '{value.name}' ({len(value.node)} nodes)"
    if isinstance(value, list):
        return [_json_attr(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def compare_graph(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], tolerance: Tolerance = Tolerance(),
                  per_output: Mapping[str, Tolerance] | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                  progress: Progress = lambda _: None, optimized: bool = False) -> NodewiseResult:
    """Compare every top-level ONNX value between ONNX Runtime and the converted TF graph (in-process).

    ``optimized``: convert the graph after the optimisation passes, as the SavedModel is (ONNX Runtime still runs
    the model as written: a fused node is compared through the value it produces, which keeps its name)."""
    start_time = time.perf_counter()
    applied: list[str] = []
    reference_model = model
    if optimized:
        result = passes.optimize(model)
        model, applied = result.model, [name for name, count in result.rewrites.items() if count]
    reference_position = {name: i for i, node in enumerate(reference_model.graph.node) for name in node.output}
    nodes = model.graph.node
    graph_outputs = {o.name for o in model.graph.output}
    last_use: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node_input_names(node):
            last_use[name] = i
    tf_side = TfChunks(model)
    held: dict[str, object] = {name: np.asarray(value) for name, value in feeds.items()}
    checks: dict[str, ValueCheck] = {}
    metrics: dict[str, PairMetrics] = {}
    ranges = chunk_ranges(nodes, chunk_size)
    with tempfile.TemporaryDirectory(prefix="paddle2tf-locate-") as tmp:
        ort_side = OrtChunks(reference_model, tmp)
        for k, (start, end) in enumerate(ranges):
            progress(f"chunk {k + 1}/{len(ranges)}: nodes {start}..{end - 1}")
            names = [n for node in nodes[start:end] for n in node.output if n]
            exposed = [n for n in names if n in reference_position]  # a pass's new values have no ORT value
            try:
                reference = (ort_side.run(max(reference_position[n] for n in exposed) + 1, exposed, feeds)
                             if exposed else {})
            except Exception as exc:
                reference, ort_error = {}, f"ONNX Runtime could not expose it ({str(exc).splitlines()[0][:200]})"
            else:
                ort_error = ""
            try:
                candidate, reasons = tf_side.run(start, end, held)
            except Exception as exc:
                candidate = {}
                reasons = dict.fromkeys(names, f"TensorFlow chunk failed ({type(exc).__name__}: "
                                               f"{str(exc).splitlines()[0][:200] if str(exc) else ''})")
            for name in names:
                tol = (per_output or {}).get(name, tolerance) if name in graph_outputs else tolerance
                checks[name], pair = _check_value(name, reference.get(name), candidate.get(name), ort_error,
                                                  reasons.get(name, ""), name in tf_side.static, tol)
                if pair is not None:
                    metrics[name] = pair
                if name in candidate and last_use.get(name, -1) >= end:
                    held[name] = candidate[name]
            for name in [n for n in held if last_use.get(n, -1) < end and n not in feeds]:
                del held[name]
            del reference, candidate
    result = _summarise(model, feeds, tf_side.static, checks, metrics)
    result.passes = applied
    result.chunks = len(ranges)
    result.seconds = round(time.perf_counter() - start_time, 3)
    return result


def _shape_dtype(value) -> tuple[list[int] | None, str | None]:
    if isinstance(value, np.ndarray | np.generic):
        return list(np.shape(value)), str(value.dtype)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return list(value.shape), getattr(value.dtype, "name", str(value.dtype))
    return None, None


def _check_value(name, reference, candidate, ort_reason, tf_reason, constant,
                 tol) -> tuple[ValueCheck, PairMetrics | None]:
    if reference is None or not isinstance(reference, np.ndarray | np.generic):
        reason = ort_reason or ("non-tensor ONNX value" if reference is not None else "no ONNX Runtime value")
        shape, dtype = _shape_dtype(candidate)
        return ValueCheck(name, NOT_COMPARED, shape, dtype, reason=reason, constant=constant), None
    shape, dtype = _shape_dtype(reference)
    if candidate is None:
        return ValueCheck(name, NOT_COMPARED, shape, dtype, reason=tf_reason or "no TensorFlow value"), None
    candidate = np.asarray(candidate.numpy() if hasattr(candidate, "numpy") else candidate)
    tf_shape, tf_dtype = _shape_dtype(candidate)
    metrics = compare(reference, candidate, tol)
    return ValueCheck(name, metrics.verdict, shape, dtype, tf_shape if tf_shape != shape else None,
                      tf_dtype if tf_dtype != dtype else None, metrics.max_abs, metrics.max_rel,
                      metrics.out_of_tolerance, metrics.elements, constant), metrics


def _summarise(model, feeds, static, checks: dict[str, ValueCheck],
               metrics: dict[str, PairMetrics]) -> NodewiseResult:
    nodes = model.graph.node
    node_checks: list[NodeCheck] = []
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        outs = [checks[n] for n in node.output if n in checks]
        compared = [c for c in outs if c.verdict != NOT_COMPARED]
        verdict = worst(c.verdict for c in compared) if compared else NOT_COMPARED
        rels = [c.max_rel for c in compared if c.max_rel is not None]
        max_rel = max(rels, key=lambda r: math.inf if r != r else r) if rels else None
        node_checks.append(NodeCheck(i, node.name, node.op_type, verdict, max_rel, outs))
        producer.update((n, i) for n in node.output if n)
    result = NodewiseResult(True, nodes=node_checks,
                            compared_values=sum(c.verdict != NOT_COMPARED for c in checks.values()),
                            not_compared_values=sum(c.verdict == NOT_COMPARED for c in checks.values()))
    initializers = {init.name for init in model.graph.initializer}

    def input_info(name: str) -> dict:
        if name in feeds:
            array = feeds[name]
            return {"name": name, "kind": "graph input", "shape": list(array.shape), "dtype": str(array.dtype),
                    "verdict": PASS}
        if name in initializers:
            array = static.get(name)
            shape, dtype = _shape_dtype(array) if array is not None else (None, None)
            return {"name": name, "kind": "initializer", "shape": shape, "dtype": dtype, "verdict": PASS}
        check = checks.get(name)
        if check is None:
            return {"name": name, "kind": "unknown", "shape": None, "dtype": None, "verdict": NOT_COMPARED}
        return {"name": name, "kind": f"output of node {producer[name]}", "shape": check.shape,
                "dtype": check.dtype, "verdict": check.verdict}

    sources = []
    for i, node in enumerate(nodes):
        if node_checks[i].verdict != FAIL:
            continue
        inputs = [input_info(n) for n in node_input_names(node)]
        if any(info["verdict"] == FAIL for info in inputs):
            continue
        sources.append((i, inputs))
    if not sources:
        return result
    index, inputs = sources[0]
    node = nodes[index]
    outs = node_checks[index].outputs
    result.other_sources = [nodes[i].name for i, _ in sources[1:]]
    result.culprit = Culprit(
        index=index, name=node.name, op_type=node.op_type, domain=node.domain,
        attributes={k: _json_attr(v) for k, v in attributes(node).items()},
        inputs=inputs,
        outputs=[{"name": c.name, "shape": c.shape, "dtype": c.dtype, "tf_shape": c.tf_shape,
                  "tf_dtype": c.tf_dtype, "verdict": c.verdict} for c in outs],
        metrics={c.name: metrics[c.name] for c in outs if c.name in metrics},
        unverified_inputs=[info["name"] for info in inputs if info["verdict"] == NOT_COMPARED],
        descendants=_descendants(nodes, index))
    return result


def _descendants(nodes, index: int) -> list[int]:
    tainted = {n for n in nodes[index].output if n}
    found = []
    for i in range(index + 1, len(nodes)):
        if tainted.intersection(node_input_names(nodes[i])):
            found.append(i)
            tainted.update(n for n in nodes[i].output if n)
    return found
