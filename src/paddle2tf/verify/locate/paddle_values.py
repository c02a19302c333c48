"""Locate inside the Paddle → ONNX hop: Paddle's own intermediate values against ONNX Runtime's.

paddle2onnx names the ONNX value of a Paddle result after the op that made it (``p2o.pd_op.conv2d.3.0``: the
fourth ``pd_op.conv2d`` of the main block, result 0; ``_paddle_worker.onnx_value_names`` reproduces the scheme).
So every ONNX value that kept such a name has an exact Paddle counterpart: Paddle runs the program with those
values fetched (in a child process, a chunk at a time, each value written to disk), ONNX Runtime runs the
ONNX model with them exposed (``chunks.OrtChunks``), and each pair is judged by the verification rule.

The drifting region is found like the ONNX → TF culprit: the first Paddle op, in program order, with a result
out of tolerance whose way in is within tolerance. Walking back from that result through values with no ONNX
counterpart (a Paddle value paddle2onnx did not keep, an ONNX value Paddle does not have) to the nearest
compared values gives the region on both sides: the Paddle ops (with the parameters they read and, for a model
saved from a Layer by paddle2tf, the sublayers owning them) and the ONNX nodes (with the constants they read).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx

from paddle2tf.common.subprocesses import run_child
from paddle2tf.onnxutil.graph import node_input_names
from paddle2tf.verify.locate.chunks import OrtChunks
from paddle2tf.verify.metrics import FAIL, Tolerance, compare
from paddle2tf.verify.runners import RunnerError

SUBLAYERS_SUFFIX = ".sublayers.json"  # _paddle_worker.SUBLAYERS_SUFFIX (that module imports Paddle's helpers)

Progress = Callable[[str], None]


@dataclass
class PaddleValueCheck:
    """One ONNX value named after a Paddle result: Paddle (reference) vs ONNX Runtime."""

    name: str
    paddle_op: str  # e.g. pd_op.conv2d
    op_index: int  # position among the main block's ops (parameters, feeds and fetches left out)
    verdict: str  # pass | warn | fail | not_compared
    max_rel: float | None = None
    max_abs: float | None = None
    shape: list[int] | None = None
    reason: str = ""  # why it was not compared


@dataclass
class DriftRegion:
    first_value: str  # the first value out of tolerance whose inputs are within tolerance
    max_rel: float | None
    entry_values: list[str]  # the values, within tolerance, the region reads (compared values and feeds)
    paddle_ops: list[dict]  # index, op, results, params, sublayers: in program order
    onnx_nodes: list[dict]  # index, name, op_type: in graph order (Constant nodes listed as constants)
    constants: list[str]  # initializers and Constant-node values the ONNX nodes read
    sublayers: list[str]  # structured names of the sublayers owning the region's parameters (Layer sources)


@dataclass
class PaddleComparison:
    ran: bool
    reason: str = ""  # why it did not run
    values: list[PaddleValueCheck] = field(default_factory=list)
    region: DriftRegion | None = None
    compared_values: int = 0
    not_compared_values: int = 0
    seconds: float = 0.0


def _named_values(model: onnx.ModelProto) -> list[str]:
    """Top-level ONNX values worth asking Paddle for: node outputs, constants left out."""
    return [name for node in model.graph.node if node.op_type != "Constant" for name in node.output if name]


def _paddle_values(paddle_model, feeds: Mapping[str, np.ndarray], names: list[str], folder: str,
                   chunk_size: int, log_file: str | None) -> dict:
    feeds_file, names_file = os.path.join(folder, "feeds.npz"), os.path.join(folder, "names.json")
    np.savez(feeds_file, **feeds)
    with open(names_file, "w") as handle:
        json.dump(names, handle)
    run_child(["-m", "paddle2tf.frontend.paddle_worker", "values", paddle_model.model_file, paddle_model.params_file,
               feeds_file, names_file, folder, "--chunk-size", str(chunk_size)],
              f"{paddle_model.model_file}: Paddle could not compute its intermediate values", RunnerError, log_file)
    with open(os.path.join(folder, "index.json")) as handle:
        return json.load(handle)


def compare_paddle_values(model: onnx.ModelProto, paddle_model, feeds: Mapping[str, np.ndarray],
                          tolerance: Tolerance = Tolerance(), chunk_size: int = 200, log_file: str | None = None,
                          progress: Progress = lambda _: None) -> PaddleComparison:
    """Compare every ONNX value with a Paddle counterpart and find the first drifting region."""

    start_time = time.perf_counter()
    nodes = model.graph.node
    with tempfile.TemporaryDirectory(prefix="paddle2tf-locate-paddle-") as tmp:
        paddle_dir, ort_dir = os.path.join(tmp, "paddle"), os.path.join(tmp, "onnx")
        os.makedirs(paddle_dir)
        os.makedirs(ort_dir)
        progress("running Paddle with its intermediate values fetched")
        index = _paddle_values(paddle_model, feeds, _named_values(model), paddle_dir, chunk_size, log_file)
        files = index["files"]
        producer_op = {name: i for i, op in enumerate(index["ops"]) for name in op["results"] if name}
        checks: dict[str, PaddleValueCheck] = {}
        ort = OrtChunks(model, ort_dir)
        pending: list[str] = []
        ranges = []
        for position, node in enumerate(nodes):
            pending += [name for name in node.output if name in files]
            if pending and (len(pending) >= chunk_size or position == len(nodes) - 1):
                ranges.append((position + 1, pending))
                pending = []
        for k, (end, names) in enumerate(ranges):
            progress(f"Paddle vs ONNX Runtime, chunk {k + 1}/{len(ranges)}")
            reference = ort.run(end, names, feeds)
            for name in names:
                op = index["ops"][producer_op[name]]
                paddle_value = np.load(os.path.join(paddle_dir, files[name]), mmap_mode="r")
                checks[name] = _check(name, op["op"], producer_op[name], np.asarray(paddle_value),
                                      reference[name], tolerance)
            del reference
    result = PaddleComparison(True, values=sorted(checks.values(), key=lambda c: c.op_index),
                              compared_values=sum(c.verdict != "not_compared" for c in checks.values()),
                              not_compared_values=sum(c.verdict == "not_compared" for c in checks.values()))
    result.region = _first_region(model, index["ops"], checks, _sublayer_names(paddle_model.model_file))
    result.seconds = round(time.perf_counter() - start_time, 3)
    return result


def _check(name: str, op: str, op_index: int, paddle_value: np.ndarray, onnx_value, tol: Tolerance
           ) -> PaddleValueCheck:
    if not isinstance(onnx_value, np.ndarray) or onnx_value.shape != paddle_value.shape:
        shape = getattr(onnx_value, "shape", None)
        return PaddleValueCheck(name, op, op_index, "not_compared", shape=list(paddle_value.shape),
                                reason=f"shapes differ (Paddle {list(paddle_value.shape)}, ONNX "
                                       f"{list(shape) if shape is not None else type(onnx_value).__name__})")
    metrics = compare(paddle_value, onnx_value, tol)
    return PaddleValueCheck(name, op, op_index, metrics.verdict, metrics.max_rel, metrics.max_abs,
                            list(paddle_value.shape))


def _sublayer_names(model_file: str) -> dict[str, str]:
    """Parameter name -> owning sublayer, when paddle2tf saved the model from a Layer (else empty)."""
    path = os.path.splitext(model_file)[0] + SUBLAYERS_SUFFIX
    if not os.path.isfile(path):
        return {}
    with open(path) as handle:
        return {param: structured.rpartition(".")[0] or structured for param, structured in json.load(handle).items()}


def _within(check: PaddleValueCheck | None) -> bool:
    return check is not None and check.verdict not in (FAIL, "not_compared")


def _first_region(model: onnx.ModelProto, ops: list[dict], checks: dict[str, PaddleValueCheck],
                  sublayers: dict[str, str]) -> DriftRegion | None:
    producer = {name: i for i, op in enumerate(ops) for name in op["results"] if name}
    for i, op in enumerate(ops):
        failing = [checks[name] for name in op["results"] if name in checks and checks[name].verdict == FAIL]
        if not failing:
            continue
        region_ops, entries = _walk_back(i, ops, producer, checks)
        if any(name in checks and checks[name].verdict == FAIL for name in entries):
            continue  # drift that entered earlier: not where it starts
        first = failing[0]
        onnx_nodes, constants = _onnx_region(model, first.name, checks)
        params = [p for j in region_ops for p in ops[j]["params"]]
        owners = list(dict.fromkeys(sublayers[p] for p in params if p in sublayers))
        return DriftRegion(first.name, first.max_rel, sorted(entries),
                           [{"index": j, "op": ops[j]["op"], "results": [r for r in ops[j]["results"] if r],
                             "params": ops[j]["params"],
                             "sublayers": list(dict.fromkeys(sublayers[p] for p in ops[j]["params"]
                                                             if p in sublayers))} for j in sorted(region_ops)],
                           onnx_nodes, constants, owners)
    return None


def _walk_back(index: int, ops: list[dict], producer: dict[str, int], checks: dict[str, PaddleValueCheck]
               ) -> tuple[set[int], set[str]]:
    """The ops from ``index`` back to the nearest compared values (returned as entries), through values that
    have no ONNX counterpart."""
    region, entries, stack = set(), set(), [index]
    while stack:
        i = stack.pop()
        if i in region:
            continue
        region.add(i)
        for name in ops[i]["operands"]:
            if name in ops[i]["params"] or not name:
                continue
            if (name in checks and checks[name].verdict != "not_compared") or name not in producer:
                entries.add(name)  # a compared value, or a feed
            else:
                stack.append(producer[name])
    return region, entries


def _onnx_region(model: onnx.ModelProto, value: str, checks: dict[str, PaddleValueCheck]
                 ) -> tuple[list[dict], list[str]]:
    """The ONNX nodes from the producer of ``value`` back to values judged within tolerance, initializers and
    graph inputs; Constant nodes are listed as constants read."""
    nodes = model.graph.node
    producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
    initializers = {init.name for init in model.graph.initializer}
    found, constants, stack = set(), [], [value]
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name != value and _within(checks.get(name)):
            continue
        if name in initializers:
            constants.append(name)
            continue
        if name not in producer:  # a graph input
            continue
        i = producer[name]
        if nodes[i].op_type == "Constant":
            constants.append(name)
            continue
        found.add(i)
        stack.extend(node_input_names(nodes[i]))
    return ([{"index": i, "name": nodes[i].name, "op_type": nodes[i].op_type} for i in sorted(found)],
            sorted(constants))


def describe_region(region: dict) -> str:
    """One phrase naming the region's Paddle ops (and sublayers) and ONNX nodes."""
    paddle_ops = ", ".join(f"op {op['index']} {op['op']}" + (f" [{', '.join(op['params'])}]" if op["params"] else "")
                           for op in region["paddle_ops"][:6])
    onnx_nodes = ", ".join(f"'{n['name']}' ({n['op_type']})" for n in region["onnx_nodes"][:6])
    more = " …" if len(region["onnx_nodes"]) > 6 else ""
    text = (f"first drifting region: Paddle {paddle_ops} → ONNX {onnx_nodes}{more}, value '{region['first_value']}' "
            f"max_rel {region['max_rel']:.2e} with its inputs within tolerance")
    if region["sublayers"]:
        text += f"; sublayer(s) {', '.join(region['sublayers'][:6])}"
    return text

