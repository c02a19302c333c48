"""Deploy-check stage: is a converted SavedModel ready for accelerator and static-shape runtimes?

For the ``serving_default`` signature of OUT_DIR/saved_model, a fresh process that imports only TensorFlow
(``deploy_check_child.py``) walks the signature's graph and every function it calls (If/While branches included):
op types, ops outside TensorFlow's standard op set (``tf.raw_ops``), control-flow ops, shape ops, the dtypes
computed and every tensor whose shape is not fully static. It then runs the signature on the conversion's
verification inputs as is and under ``tf.function(jit_compile=True)`` (XLA) and the outputs are compared with the
verification rule. ``require`` turns properties into requirements; each unmet one is a failure line naming the
blocking input, node or op.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from paddle2tf.common.childio import read_outputs, write_job
from paddle2tf.common.subprocesses import run_child
from paddle2tf.errors import BadInputError
from paddle2tf.verify.metrics import PASS, PairMetrics, Tolerance, compare, worst
from paddle2tf.verify.runners import RunnerError

REQUIREMENTS = ("static", "xla", "no-control-flow", "standard-ops")
NOT_COMPILED = "not_compiled"
_SCRIPT = os.path.join(os.path.dirname(__file__), "deploy_check_child.py")

Progress = Callable[[str], None]


@dataclass
class NodeRef:
    """A node of the serving graph or of a function it calls (``function`` names which)."""

    node: str
    op: str
    function: str = ""
    shape: list[int | None] | None = None  # output shape, for tensors with dynamic dims (None = unknown rank)

    def describe(self) -> str:
        where = f" in {self.function}" if self.function and self.function != "serving_default" else ""
        return f"node '{self.node}' ({self.op}){where}" if self.node else f"op {self.op}"


@dataclass
class SignatureTensor:
    name: str
    dtype: str
    shape: list[int | None] | None


@dataclass
class XlaCheck:
    """The signature under ``jit_compile=True`` against the plain run (reference) on the same inputs."""

    compiled: bool
    verdict: str  # pass | warn | fail (outputs vs the plain run) | not_compiled
    tolerance: Tolerance
    error: str = ""  # first line of the compile error
    blocking: list[NodeRef] = field(default_factory=list)  # what the compile error names
    outputs: dict[str, PairMetrics] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # median, "tensorflow" and "xla", when timed


@dataclass
class DeployCheck:
    saved_model: str
    feeds_origin: str
    inputs: list[SignatureTensor]
    outputs: list[SignatureTensor]
    ops: dict[str, int]  # op type -> nodes, most frequent first (function-call plumbing not counted)
    nodes: int
    functions: int  # functions the signature calls, nested ones included
    dtypes: list[str]  # of every value computed (variable handles excluded)
    nonstandard_ops: list[NodeRef]
    control_flow: list[NodeRef]
    shape_ops: list[NodeRef]  # Shape/Size/Rank left: runtime shape arithmetic
    dynamic: list[NodeRef]  # computed tensors whose shape is not fully static
    counts: dict[str, int]  # totals of the lists above (each list holds at most the first 50)
    xla: XlaCheck | None
    required: list[str]
    failures: list[str]  # one line per unmet requirement, naming the blocking input / node / op
    load_error: str = ""  # the SavedModel does not load in plain TensorFlow (then nothing else was checked)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def parse_requirements(text: str | Sequence[str]) -> list[str]:
    """``static,xla`` (or a list of such strings) -> names, checked against REQUIREMENTS."""
    items = [text] if isinstance(text, str) else list(text)
    names = [name.strip() for item in items for name in item.split(",") if name.strip()]
    unknown = [name for name in names if name not in REQUIREMENTS]
    if unknown:
        raise BadInputError(f"--require {unknown[0]}: unknown requirement (one of {', '.join(REQUIREMENTS)})")
    return list(dict.fromkeys(names))


def shape_text(shape: list[int | None] | None) -> str:
    return "unknown rank" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def is_dynamic(shape: list[int | None] | None) -> bool:
    return shape is None or None in shape


def _failures(check: DeployCheck) -> list[str]:
    lines = []
    if check.load_error:
        missing = re.search(r"Op type not registered '([^']+)'", check.load_error)
        for name in check.required:
            if name == "standard-ops" and missing:
                lines.append(f"standard-ops: op {missing.group(1)} is not registered in plain TensorFlow")
            else:
                lines.append(f"{name}: not checked, the SavedModel does not load in plain TensorFlow: "
                             f"{check.load_error}")
        return lines
    if "static" in check.required:
        for kind, tensors in (("input", check.inputs), ("output", check.outputs)):
            lines += [f"static: {kind} '{t.name}' has dynamic dims {shape_text(t.shape)}"
                      for t in tensors if is_dynamic(t.shape)]
        if check.dynamic:
            first = check.dynamic[0]
            lines.append(f"static: {first.describe()} has shape {shape_text(first.shape)} "
                         f"(the first of {check.counts['dynamic']} tensors with dynamic dims)")
    if "xla" in check.required and check.xla is not None:
        if not check.xla.compiled:
            where = ", ".join(ref.describe() for ref in check.xla.blocking)
            lines.append(f"xla: does not compile{' at ' + where if where else ''}: {check.xla.error}")
        else:
            tol = check.xla.tolerance
            lines += [f"xla: output '{name}' differs from the non-XLA run: max_rel {m.max_rel:.2e}, "
                      f"{m.out_of_tolerance}/{m.elements} elements beyond rtol {tol.rtol:g} atol {tol.atol:g}"
                      for name, m in check.xla.outputs.items() if m.verdict != PASS]
    if "no-control-flow" in check.required:
        lines += [f"no-control-flow: {ref.describe()}" for ref in check.control_flow]
        if check.counts["control_flow"] > len(check.control_flow):
            lines.append(f"no-control-flow: ... {check.counts['control_flow'] - len(check.control_flow)} more")
    if "standard-ops" in check.required:
        first_use: dict[str, NodeRef] = {}
        for ref in check.nonstandard_ops:
            first_use.setdefault(ref.op, ref)
        lines += [f"standard-ops: op {op} is not in tf.raw_ops ({ref.describe()})" for op, ref in first_use.items()]
    return lines


def _xla_check(facts: dict, plain: dict[str, np.ndarray], compiled: dict[str, np.ndarray] | None,
               tolerance: Tolerance) -> XlaCheck:
    latency = facts.get("latency_ms", {})
    if compiled is None:
        blocking = [NodeRef(**ref) for ref in facts.get("xla_blocking", [])]
        return XlaCheck(False, NOT_COMPILED, tolerance, facts["xla_error"], blocking, latency_ms=latency)
    outputs = {name: compare(plain[name], compiled[name], tolerance) for name in plain}
    return XlaCheck(True, worst(m.verdict for m in outputs.values()), tolerance, outputs=outputs, latency_ms=latency)


def _signature_tensors(found: dict[str, dict], declared: list[dict]) -> list[SignatureTensor]:
    """The SavedModel's own specs, in report.json's signature order (the ONNX graph's)."""
    order = {t["tf_name"]: i for i, t in enumerate(declared)}
    return [SignatureTensor(name, **found[name]) for name in sorted(found, key=lambda n: order.get(n, len(order)))]


def _outputs(path: str, names: list[str]) -> dict[str, np.ndarray] | None:
    if not os.path.isfile(path):
        return None
    return read_outputs(path, names)


def deploy_check(saved_model: str, signature: dict, feeds: dict[str, np.ndarray], feeds_origin: str, *,
                 require: Sequence[str] = (), tolerance: Tolerance = Tolerance(), timing_runs: int = 0,
                 log_file: str | None = None, progress: Progress = lambda _: None) -> DeployCheck:
    """Check a SavedModel (see the module docstring) on ``feeds`` (by ONNX input name); ``signature`` is
    report.json's (``inputs``/``outputs`` with ``onnx_name``/``tf_name``). ``timing_runs`` > 0 also measures the
    median latency of that many runs, plain and XLA, after a warm-up."""

    required = parse_requirements(list(require))
    output_names = [t["onnx_name"] for t in signature["outputs"]]
    start = time.perf_counter()
    progress("inspecting the serving signature and compiling it with XLA (fresh TensorFlow process)")
    with tempfile.TemporaryDirectory(prefix="paddle2tf-deploy-") as tmp:
        feeds_file, mapping_file = write_job(tmp, feeds, {t["onnx_name"]: t["tf_name"] for t in signature["inputs"]},
                                             {t["onnx_name"]: t["tf_name"] for t in signature["outputs"]})
        run_child([_SCRIPT, saved_model, feeds_file, mapping_file, tmp, str(timing_runs)],
                  f"{saved_model}: TensorFlow could not run the SavedModel", RunnerError, log_file)
        with open(os.path.join(tmp, "facts.json")) as handle:
            facts = json.load(handle)
        plain = _outputs(os.path.join(tmp, "plain.npz"), output_names)
        compiled = _outputs(os.path.join(tmp, "xla.npz"), output_names)
    refs = {key: [NodeRef(**item) for item in facts.get(key, [])]
            for key in ("nonstandard_ops", "control_flow", "shape_ops", "dynamic")}
    check = DeployCheck(
        saved_model=saved_model, feeds_origin=feeds_origin,
        inputs=_signature_tensors(facts.get("inputs", {}), signature["inputs"]),
        outputs=_signature_tensors(facts.get("outputs", {}), signature["outputs"]),
        ops=facts.get("ops", {}), nodes=facts.get("nodes", 0), functions=facts.get("functions", 0),
        dtypes=facts.get("dtypes", []), nonstandard_ops=refs["nonstandard_ops"], control_flow=refs["control_flow"],
        shape_ops=refs["shape_ops"], dynamic=refs["dynamic"],
        counts=facts.get("counts", {key: 0 for key in refs}),
        xla=None if plain is None else _xla_check(facts, plain, compiled, tolerance),
        required=required, failures=[], load_error=facts.get("load_error", ""))
    check.failures = _failures(check)
    check.seconds = round(time.perf_counter() - start, 3)
    return check
