"""Locate stage: which hop, and which ONNX node, makes the converted model diverge.

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

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from paddle2tf.converter.graph import node_input_names
from paddle2tf.report.model import Verification, pair_key
from paddle2tf.verify.locate.paddle_values import PaddleComparison, compare_paddle_values, describe_region
from paddle2tf.verify.metrics import FAIL, PASS, PairMetrics, Tolerance, compare, worst

DEFAULT_CHUNK_SIZE = 200
NOT_COMPARED = "not_compared"
NOT_CHECKED = "not_checked"
HOPS = {"paddle_to_onnx": ("paddle", "onnxruntime"), "onnx_to_tensorflow": ("onnxruntime", "tensorflow")}
HOP_LABELS = {"paddle_to_onnx": "Paddle → ONNX", "onnx_to_tensorflow": "ONNX → TensorFlow"}

Progress = Callable[[str], None]


# -- report data ------------------------------------------------------------------------------------
@dataclass
class ValueCheck:
    """One ONNX value: ONNX Runtime (reference) vs the converted TF graph."""

    name: str
    verdict: str  # pass | warn | fail | not_compared
    shape: list[int] | None = None  # ONNX Runtime's
    dtype: str | None = None
    tf_shape: list[int] | None = None  # only when it differs from ``shape``
    tf_dtype: str | None = None  # only when it differs from ``dtype``
    max_abs: float | None = None
    max_rel: float | None = None
    out_of_tolerance: int | None = None
    elements: int | None = None
    constant: bool = False  # folded at conversion time: compared as the constant the converter computed
    reason: str = ""  # why it was not compared


@dataclass
class NodeCheck:
    index: int  # position in graph.node (topological order)
    name: str
    op_type: str
    verdict: str  # worst of its compared outputs; not_compared when none was
    max_rel: float | None
    outputs: list[ValueCheck]


@dataclass
class Culprit:
    index: int
    name: str
    op_type: str
    domain: str
    attributes: dict
    inputs: list[dict]  # name, kind (graph input | initializer | node output | absent), shape, dtype, verdict
    outputs: list[dict]  # name, shape, dtype (+ tf_shape/tf_dtype), verdict
    metrics: dict[str, PairMetrics]  # per output
    unverified_inputs: list[str]  # inputs that could not be compared (not judged within tolerance)
    descendants: list[int]  # indices of the nodes that consume its outputs, directly or not


@dataclass
class NodewiseResult:
    ran: bool
    reason: str = ""  # why it did not run
    # the graph compared: [] the ONNX graph as written; else the passes (converter/passes) that rewrote it, the
    # graph the SavedModel is built from, whose fused nodes have no ONNX Runtime value of their own
    passes: list[str] = field(default_factory=list)
    nodes: list[NodeCheck] = field(default_factory=list)
    culprit: Culprit | None = None
    other_sources: list[str] = field(default_factory=list)  # later failing nodes whose inputs are all within
    compared_values: int = 0
    not_compared_values: int = 0
    chunks: int = 0
    seconds: float = 0.0


@dataclass
class HopResult:
    reference: str
    candidate: str
    verdict: str  # pass | warn | fail | not_checked
    max_rel: float | None = None  # worst over the outputs
    outputs: dict[str, float] = field(default_factory=dict)  # output -> max_rel
    basis: str = ""  # where the figures come from


@dataclass
class LocateReport:
    hops: dict[str, HopResult]
    diverging_hop: str | None  # paddle_to_onnx | onnx_to_tensorflow | both | None
    summary: str
    tolerance: Tolerance
    feeds_origin: str
    nodewise: NodewiseResult
    seconds: float = 0.0
    # inside the Paddle → ONNX hop: Paddle's intermediate values vs ONNX Runtime's (locate_paddle)
    paddle_values: PaddleComparison = field(default_factory=lambda: PaddleComparison(False, "not run"))

    def to_dict(self) -> dict:
        return asdict(self)


# -- graph helpers ----------------------------------------------------------------------------------
def _chunks(nodes, chunk_size: int) -> list[tuple[int, int]]:
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


def _is_tf_tensor(value) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor | tf.Variable)


# -- ONNX Runtime side ------------------------------------------------------------------------------
class _OrtChunks:
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


# -- TensorFlow side --------------------------------------------------------------------------------
class _TfChunks:
    """Runs chunks of the converted graph: the chunk's nodes only, fed with earlier chunks' TF values."""

    def __init__(self, model: onnx.ModelProto):
        import tensorflow as tf

        from paddle2tf.converter.graph import WeightStore, check_supported, graph_opsets
        from paddle2tf.converter.module import _value_info, graph_inputs

        check_supported(model)
        self._tf = tf
        self.model = model
        self.opsets = graph_opsets(model)
        self.weights = WeightStore()
        self.static: dict[str, np.ndarray] = {init.name: numpy_helper.to_array(init)
                                              for init in model.graph.initializer}
        self.specs: dict[str, object] = {}
        for vi in graph_inputs(model):
            dtype, shape = _value_info(vi)
            self.specs[vi.name] = tf.TensorSpec(shape, tf.as_dtype(dtype))

    def run(self, start: int, end: int, held: Mapping[str, object]) -> tuple[dict[str, object], dict[str, str]]:
        """TF values of the values produced by nodes[start:end] (numpy arrays, or constants when folded)
        and, for values without one, the reason. Values of earlier nodes come from ``held``; when one
        cannot be fed (not a tensor), the chunk is traced from the graph inputs instead."""
        tf = self._tf
        from paddle2tf.converter.graph import GraphRunner

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


# -- node-wise comparison ---------------------------------------------------------------------------
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
        from paddle2tf.converter import passes

        result = passes.optimize(model)
        model, applied = result.model, [name for name, count in result.rewrites.items() if count]
    reference_position = {name: i for i, node in enumerate(reference_model.graph.node) for name in node.output}
    nodes = model.graph.node
    graph_outputs = {o.name for o in model.graph.output}
    last_use: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node_input_names(node):
            last_use[name] = i
    tf_side = _TfChunks(model)
    held: dict[str, object] = {name: np.asarray(value) for name, value in feeds.items()}
    checks: dict[str, ValueCheck] = {}
    metrics: dict[str, PairMetrics] = {}
    ranges = _chunks(nodes, chunk_size)
    with tempfile.TemporaryDirectory(prefix="paddle2tf-locate-") as tmp:
        ort_side = _OrtChunks(reference_model, tmp)
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
    from paddle2tf.converter.graph import attributes

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


# -- hops and the whole stage -----------------------------------------------------------------------
def _hop_from_pairs(hop: str, outputs: Mapping[str, PairMetrics], basis: str) -> HopResult:
    reference, candidate = HOPS[hop]
    if not outputs:
        return HopResult(reference, candidate, NOT_CHECKED, basis=basis)
    rels = {name: m.max_rel for name, m in outputs.items()}
    worst_rel = max(rels.values(), key=lambda r: math.inf if r != r else r)
    return HopResult(reference, candidate, worst(m.verdict for m in outputs.values()), worst_rel, rels, basis)


def _hops_from_verification(verification: Verification) -> dict[str, HopResult]:
    hops = {}
    for hop, (a, b) in HOPS.items():
        key = pair_key(a, b)
        pairs = {o.name: o.pairs[key] for o in verification.outputs if key in o.pairs}
        hops[hop] = _hop_from_pairs(hop, pairs, "three-way verification")
    return hops


def _diverging(hops: dict[str, HopResult]) -> str | None:
    failing = [hop for hop, result in hops.items() if result.verdict == FAIL]
    return None if not failing else failing[0] if len(failing) == 1 else "both"


def _summary(hops: dict[str, HopResult], diverging: str | None, nodewise: NodewiseResult,
             paddle_values: PaddleComparison) -> str:
    def rel(hop):
        value = hops[hop].max_rel
        return "n/a" if value is None else f"{value:.2e}"

    culprit = nodewise.culprit
    graph = f" of the graph after the passes {', '.join(nodewise.passes)}" if nodewise.passes else ""
    where = (f"first diverging ONNX node: '{culprit.name}' ({culprit.op_type}, node {culprit.index}{graph}), "
             f"max_rel {nodewise.nodes[culprit.index].max_rel:.2e} with its inputs within tolerance"
             if culprit else None)
    if diverging is None:
        text = "every hop is within tolerance end to end"
        if culprit:
            text += f"; but an intermediate value exceeds it: {where}"
        elif nodewise.ran:
            text += "; every compared ONNX value is within tolerance"
        return text
    region = (f"; {describe_region(asdict(paddle_values.region))}" if paddle_values.region else
              f"; Paddle's intermediate values not compared ({paddle_values.reason})" if not paddle_values.ran else
              "; no single Paddle value with an ONNX counterpart drifts on its own")
    if diverging == "paddle_to_onnx":
        return (f"the Paddle → ONNX hop diverges (paddle↔onnx max_rel {rel('paddle_to_onnx')}) while ONNX → "
                f"TensorFlow is within tolerance (onnx↔tf max_rel {rel('onnx_to_tensorflow')}): the ONNX model "
                "does not compute what the Paddle model does (an exporter defect, or the ONNX file was edited)"
                + region)
    prefix = ("both hops diverge" if diverging == "both" else "the ONNX → TensorFlow hop diverges")
    if diverging == "both":
        where = f"{where}{region}" if where else region[2:]
    checked = [h for h in ("paddle_to_onnx", "onnx_to_tensorflow") if hops[h].verdict != NOT_CHECKED]
    labels = {"paddle_to_onnx": "paddle↔onnx", "onnx_to_tensorflow": "onnx↔tf"}
    prefix += " (" + ", ".join(f"{labels[h]} max_rel {rel(h)}" for h in checked) + ")"
    if where:
        return f"{prefix}; {where}"
    if not nodewise.ran:
        return f"{prefix}; node-level search not run ({nodewise.reason})"
    return (f"{prefix}; no single ONNX value of the re-converted graph exceeds tolerance "
            "(the SavedModel may come from another paddle2tf version, or the divergence is inside a subgraph)")


def run_locate(onnx_path: str, feeds: Mapping[str, np.ndarray], feeds_origin: str, *,
               tolerance: Tolerance = Tolerance(), per_output: Mapping[str, Tolerance] | None = None,
               verification: Verification | None = None, paddle_model=None, nodewise: bool | None = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE, log_file: str | None = None,
               run_saved_model: Callable[[], dict[str, np.ndarray]] | None = None,
               progress: Progress = lambda _: None) -> LocateReport:
    """The locate stage on a model and feeds. ``verification`` (the three-way check on the same feeds)
    gives the hop verdicts; without it Paddle (when ``paddle_model`` is given), ONNX Runtime and the SavedModel
    (``run_saved_model``: its outputs by ONNX name) are run here.
    ``nodewise=None`` runs the node-level search only when the ONNX → TF hop is not within tolerance."""
    from paddle2tf.onnxutil.checker import load_model

    start = time.perf_counter()
    model = load_model(onnx_path)
    hops: dict[str, HopResult]
    if verification is not None:
        hops = _hops_from_verification(verification)
    else:
        hops = {"paddle_to_onnx": _hop_from_pairs("paddle_to_onnx", {}, "no Paddle model"),
                "onnx_to_tensorflow": _hop_from_pairs("onnx_to_tensorflow", {}, "")}
        from paddle2tf.verify.runners import run_onnxruntime, run_paddle

        names = [o.name for o in model.graph.output]
        ort_out = run_onnxruntime(onnx_path, dict(feeds)) if paddle_model or run_saved_model else {}
        if paddle_model is not None:
            progress("running Paddle and ONNX Runtime (Paddle → ONNX hop)")
            paddle_out = run_paddle(paddle_model.model_file, paddle_model.params_file, dict(feeds), names, log_file)
            pairs = {n: compare(paddle_out[n], ort_out[n], (per_output or {}).get(n, tolerance)) for n in names}
            hops["paddle_to_onnx"] = _hop_from_pairs("paddle_to_onnx", pairs, "Paddle and ONNX Runtime run by locate")
        if run_saved_model is not None:
            progress("running the SavedModel (ONNX → TensorFlow hop)")
            tf_out = run_saved_model()
            pairs = {n: compare(ort_out[n], tf_out[n], (per_output or {}).get(n, tolerance)) for n in names}
            hops["onnx_to_tensorflow"] = _hop_from_pairs("onnx_to_tensorflow", pairs,
                                                         "ONNX Runtime and the SavedModel run by locate")
    run_nodes = nodewise if nodewise is not None else hops["onnx_to_tensorflow"].verdict != PASS
    if run_nodes:
        progress(f"comparing every ONNX value: ONNX Runtime vs TensorFlow ({len(model.graph.node)} nodes)")
        result = compare_graph(model, feeds, tolerance, per_output, chunk_size, progress)
        if result.culprit is None and hops["onnx_to_tensorflow"].verdict == FAIL:
            # The SavedModel diverges but no node of the graph as written does: look inside the fused nodes the
            # optimisation passes made, converted as the SavedModel was.
            progress("no culprit in the graph as written: comparing the graph after the optimisation passes")
            fused = compare_graph(model, feeds, tolerance, per_output, chunk_size, progress, optimized=True)
            if fused.culprit is not None:
                result = fused
        if verification is None and run_saved_model is None:  # judged on the re-converted graph's outputs
            by_name = {c.name: c for n in result.nodes for c in n.outputs}
            pairs = {}
            for out in model.graph.output:
                check = by_name.get(out.name)
                if check is not None and check.verdict != NOT_COMPARED:
                    pairs[out.name] = PairMetrics(check.max_abs, check.max_rel, math.nan, math.nan, math.nan,
                                                  check.out_of_tolerance, 0, check.elements, check.verdict)
            hops["onnx_to_tensorflow"] = _hop_from_pairs("onnx_to_tensorflow", pairs,
                                                         "graph outputs of the node-level comparison")
    else:
        result = NodewiseResult(False, reason="the ONNX → TensorFlow hop is within tolerance end to end")
    paddle_values = _compare_paddle(model, paddle_model, feeds, hops["paddle_to_onnx"], tolerance, chunk_size,
                                    log_file, progress)
    diverging = _diverging(hops)
    return LocateReport(hops, diverging, _summary(hops, diverging, result, paddle_values), tolerance, feeds_origin,
                        result, round(time.perf_counter() - start, 3), paddle_values)


def _compare_paddle(model, paddle_model, feeds, hop: HopResult, tolerance: Tolerance, chunk_size: int,
                    log_file: str | None, progress: Progress) -> PaddleComparison:
    """Paddle's intermediate values vs ONNX Runtime's, when the Paddle → ONNX hop fails."""
    if hop.verdict != FAIL:
        return PaddleComparison(False, "the Paddle → ONNX hop is within tolerance end to end"
                                if hop.verdict != NOT_CHECKED else "no Paddle model")
    if paddle_model is None:
        return PaddleComparison(False, "no Paddle model")
    try:
        return compare_paddle_values(model, paddle_model, feeds, tolerance, chunk_size, log_file, progress)
    except Exception as exc:  # the hop is attributed already; the finer search failing must not hide that
        return PaddleComparison(False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")


def locate(out_dir: str, *, feeds_file: str | None = None, tolerance: Tolerance = Tolerance(),
           per_output: Mapping[str, Tolerance] | None = None, nodewise: bool | None = True,
           chunk_size: int = DEFAULT_CHUNK_SIZE, update_report: bool = True, plugins: Sequence[str] = (),
           progress: Progress = lambda _: None) -> LocateReport:
    """Locate the divergence of a paddle2tf output directory (model.onnx, report.json, the stored inputs).

    The Paddle → ONNX hop is judged by running Paddle (when the directory holds the Paddle model) and ONNX
    Runtime, the ONNX → TensorFlow hop by running the SavedModel, then node by node. ``feeds_file`` holds the
    serving signature's inputs (raw images for a ``--preprocess`` input). The converter plugins report.json records and
    ``plugins`` are loaded first (the model is converted again). With ``update_report`` the result is stored
    in report.json (``locate``) and report.html is re-rendered."""
    from paddle2tf.app import api
    from paddle2tf.converter import plugins as converter_plugins
    from paddle2tf.errors import BadInputError
    from paddle2tf.verify.three_way import run_signature

    report_path = os.path.join(out_dir, api.REPORT_FILE)
    onnx_path = os.path.join(out_dir, api.ONNX_FILE)
    if not os.path.isfile(report_path) or not os.path.isfile(onnx_path):
        raise BadInputError(f"{out_dir}: not a paddle2tf output (no {api.REPORT_FILE} or {api.ONNX_FILE})")
    with open(report_path) as handle:
        data = json.load(handle)
    from paddle2tf.onnxutil.checker import load_model

    model = load_model(onnx_path)
    skipped = converter_plugins.onnxruntime_skip_reason(model)
    if skipped:
        raise BadInputError(f"{out_dir}: locate compares against ONNX Runtime, and {skipped}")
    converter_plugins.load(plugins)
    converter_plugins.load_recorded(data.get("plugins", []), progress)
    signature, serving_feeds, feeds, origin = api.stored_inputs(out_dir, data, feeds_file)

    def run_saved_model() -> dict[str, np.ndarray]:
        return run_signature(os.path.join(out_dir, api.SAVED_MODEL_DIR), signature, serving_feeds,
                             os.path.join(out_dir, api.LOG_FILE))

    paddle_model = api.stored_paddle_model(out_dir, data)
    result = run_locate(onnx_path, feeds, origin, tolerance=tolerance, per_output=per_output,
                        paddle_model=paddle_model, nodewise=nodewise, chunk_size=chunk_size,
                        log_file=os.path.join(out_dir, api.LOG_FILE), run_saved_model=run_saved_model,
                        progress=progress)
    if update_report:
        from paddle2tf.report.html import write_html
        from paddle2tf.report.model import _json_default

        data["locate"] = result.to_dict()
        with open(report_path, "w") as handle:
            json.dump(data, handle, indent=2, default=_json_default)
            handle.write("\n")
        write_html(data, os.path.join(out_dir, api.HTML_FILE))
    return result


# -- terminal rendering -----------------------------------------------------------------------------
def _fmt(value) -> str:
    return "-" if value is None else (f"{value:.2e}" if value == value else "nan")


def render_locate(data: LocateReport | dict, growth_rows: int = 8) -> str:
    """A short terminal account: hop verdicts, the culprit, how the error grows after it."""
    data = data.to_dict() if isinstance(data, LocateReport) else data
    lines = ["locate: " + data["summary"]]
    for hop, result in data["hops"].items():
        lines.append(f"  {HOP_LABELS[hop]:<20} {result['verdict'].upper():<12} max_rel {_fmt(result['max_rel'])}"
                     f"{'  (' + result['basis'] + ')' if result['basis'] else ''}")
    paddle_values = data.get("paddle_values") or {}
    if paddle_values.get("ran"):
        lines.append(f"  Paddle values: {paddle_values['compared_values']} compared with ONNX Runtime, "
                     f"{paddle_values['not_compared_values']} not compared, {paddle_values['seconds']:.1f} s")
    nodewise = data["nodewise"]
    if not nodewise["ran"]:
        return "\n".join(lines)
    lines.append(f"  node-level: {nodewise['compared_values']} values compared, {nodewise['not_compared_values']} "
                 f"not compared, {len(nodewise['nodes'])} nodes, {nodewise['chunks']} chunks, "
                 f"{nodewise['seconds']:.1f} s")
    culprit = nodewise["culprit"]
    if culprit is None:
        return "\n".join(lines)
    attrs = ", ".join(f"{k}={v}" for k, v in culprit["attributes"].items())
    lines.append(f"  culprit: node {culprit['index']} '{culprit['name']}' {culprit['op_type']}"
                 f"{'(' + attrs + ')' if attrs else ''}")
    for info in culprit["inputs"]:
        lines.append(f"    in  {info['name']}: {info['dtype']}{info['shape']} [{info['kind']}] {info['verdict']}")
    for info in culprit["outputs"]:
        check = next(c for c in nodewise["nodes"][culprit["index"]]["outputs"] if c["name"] == info["name"])
        lines.append(f"    out {info['name']}: {info['dtype']}{info['shape']} {check['verdict'].upper()} "
                     f"max_rel {_fmt(check['max_rel'])} max_abs {_fmt(check['max_abs'])} "
                     f"({check['out_of_tolerance']}/{check['elements']} elements out of tolerance)")
    desc = culprit["descendants"]
    if desc:
        step = max(1, len(desc) // growth_rows)
        picked = desc[::step][:growth_rows]
        if desc[-1] not in picked:
            picked.append(desc[-1])
        lines.append(f"  error after it ({len(desc)} downstream nodes, max_rel): " + ", ".join(
            f"{nodewise['nodes'][i]['op_type']}#{i} {_fmt(nodewise['nodes'][i]['max_rel'])}" for i in picked))
    return "\n".join(lines)
